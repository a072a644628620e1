"""featherd-rewrite: explain what the configuration does with one URL, step by step.

    featherd-rewrite -f CONF [-d ROOT] [-D NAME] [-H 'Header: value']... [-m METHOD]
                     [-a CLIENT-IP] [-v] URL

URL is a URL-path (``/a/b?q``, the Host then comes from ``-H 'Host: ...'``) or an
absolute URL (``http://www.example.com:8080/a``, which gives the Host header and the
port). Nothing is served: the configuration is loaded as ``featherd -t`` would, the
request is run through the real request phases (virtual host selection, <Location>
sections, mod_rewrite in server context, mod_alias, the directory walk and
.htaccess files, mod_rewrite in per-directory context and its internal redirects),
with the real rewriting engine reporting each step to a tracing callback, and the
content handler is not called. Printed: the virtual host, the sections, each
RewriteRule and RewriteCond tried with its input, its result and the captures, and the
outcome: a filename, a redirect, a proxy target or a status. ``-v`` adds mod_rewrite's
own log lines (RewriteLogLevel 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

USAGE = """Usage: featherd-rewrite -f CONF [-d ROOT] [-D NAME] [-C "directive"] [-c "directive"]
                        [-H 'Header: value']... [-m METHOD] [-a CLIENT-IP] [-v] URL
Explains how the configuration maps URL (a URL-path or an absolute URL), without
starting a server: virtual host, sections, RewriteRule/RewriteCond matches with their
captures, and the final filename, redirect or proxy target.
"""


class _FakeConn:
    """Just enough of a connection for the request phases (nothing is sent)."""

    def __init__(self, tree: Any, local_ip: str, local_port: int, client_ip: str,
                 tls: bool) -> None:
        from featherd.core.vhost import VhostMap

        self.tree = tree
        self.vhosts = VhostMap(tree)
        self.client_ip = client_ip
        self.client_port = 54321
        self.local_ip = local_ip
        self.local_port = local_port
        self.remote_host: str | None = None
        self.remote_logname: str | None = None
        self.is_tls = tls
        self.notes: dict[str, Any] = {}
        self.addr_group = self.vhosts.by_addr(local_ip, local_port)
        self.server_banner = "featherd"
        self.server_header = "featherd"
        self.keepalives = 0
        self.aborted = False
        self.keepalive_ok_after = True
        self.id = 0

    def addr_default_server(self) -> Any:
        g = self.addr_group
        if g is None or not g.servers:
            return self.tree.main
        return g.servers[0]

    def select_server(self, r: Any, host: str | None) -> None:
        s = self.vhosts.select(self.addr_group, host, r.uri)
        r.server = s
        r.per_dir_config = s.lookup_defaults

    def send(self, *a: Any, **k: Any) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True

    def __getattr__(self, name: str) -> Any:
        # anything else a module may look at on a connection: harmless defaults
        return None


class Explainer:
    """The tracing callback: turns engine events into readable lines."""

    def __init__(self, out: io.TextIOBase | Any, verbose: bool = False) -> None:
        self.out = out
        self.loglevel = 9 if verbose else 0
        self.rule_no: dict[int, int] = {}
        self.finals: list[Any] = []
        self.died: list[tuple[Any, int]] = []

    def p(self, text: str, indent: int = 0) -> None:
        self.out.write("  " * indent + text + "\n")

    @staticmethod
    def _src(entry: Any) -> str:
        fn = getattr(entry, "filename", "") or ""
        ln = getattr(entry, "line", 0)
        return f"  ({fn}:{ln})" if fn else ""

    @staticmethod
    def _groups(prefix: str, groups: list[str] | None) -> str:
        if not groups:
            return ""
        return "  " + " ".join(f"{prefix}{i}='{g}'" for i, g in enumerate(groups))

    def __call__(self, r: Any, event: str, **info: Any) -> None:
        sub = "  [sub-request] " if r.main is not None else ""
        ind = 2
        if event == "begin":
            rules = info.get("rules") or []
            for i, rule in enumerate(rules, 1):
                self.rule_no[id(rule)] = i
            if info["context"] == "server":
                self.p(f"{sub}mod_rewrite, server context ({len(rules)} rule"
                       f"{'s' if len(rules) != 1 else ''}), URL-path '{info['uri']}'", 1)
            else:
                fn = info.get("filename")
                pi = info.get("path_info")
                what = f", filename '{fn}{pi or ''}'" if fn else ""
                self.p(f"{sub}mod_rewrite, per-directory context {info['directory']} "
                       f"({len(rules)} rule{'s' if len(rules) != 1 else ''}){what}", 1)
        elif event == "rule":
            rule = info["rule"]
            n = self.rule_no.get(id(rule), "?")
            self.p(f"[{n}] {rule.describe()}{self._src(rule)}", ind)
            res = "matched" if info["matched"] else "no match"
            self.p(f"input '{info['input']}' -> {res}{self._groups('$', info['groups'])}",
                   ind + 2)
        elif event == "cond":
            c = info["cond"]
            res = "true" if info["matched"] else "false"
            self.p(f"{c.describe()}{self._src(c)}", ind + 2)
            self.p(f"TestString '{info['input']}' -> {res}"
                   f"{self._groups('%', info['groups'])}", ind + 3)
        elif event == "rule-conds-failed":
            self.p("conditions not met: rule skipped", ind + 2)
        elif event == "map":
            self.p(f"map {info['name']}: key '{info['key']}' -> "
                   f"{repr(info['value']) if info['value'] is not None else 'not found'}",
                   ind + 2)
        elif event == "subst":
            self.p(f"substitution: '{info['before']}' -> '{info['after']}'", ind + 2)
        elif event == "next-round":
            self.p(f"[N]: starting round {info['round']} from the first rule", ind + 2)
        elif event == "alias":
            e = info["entry"]
            self.p(f"{sub}mod_alias: {e.describe()} -> '{info['result']}'", 1)
        elif event == "log":
            pd = info.get("perdir")
            self.p(f"log ({info['level']}) {f'[perdir {pd}] ' if pd else ''}{info['text']}",
                   ind + 2)
        elif event == "result":
            self._result(info)

    def _result(self, info: dict[str, Any]) -> None:
        k = info["kind"]
        if k == "pass":
            self.p("=> no rule changed the URL (pass through)", 2)
        elif k == "status":
            self.p(f"=> response status {info['status']}", 2)
        elif k == "proxy":
            self.p(f"=> proxy to {info['target']}", 2)
        elif k == "redirect":
            self.p(f"=> external redirect {info['status']} to {info['location']}", 2)
        elif k == "passthrough":
            self.p(f"=> [PT] URL-path '{info['uri']}' passed on to the next translators", 2)
        elif k == "file":
            self.p(f"=> filename {info['filename']}", 2)
        elif k == "internal":
            args = f"?{info['args']}" if info.get("args") else ""
            self.p(f"=> internal redirect to {info['uri']}{args}", 2)
        elif k == "same":
            self.p(f"=> result equals the current filename {info['filename']}: "
                   "rewrite ignored", 2)


def _describe_server(s: Any, tree: Any) -> str:
    if not s.is_virtual:
        return f"main server {s.server_hostname or ''} ({s.defn_name or tree.config_file})"
    names = " ".join([*s.names, *s.wild_names])
    addrs = " ".join(f"{h}:{p or '*'}" for h, p in s.addrs)
    alias = f" alias {names}" if names else ""
    return (f"<VirtualHost {addrs}> {s.server_hostname or ''}{alias} "
            f"({s.defn_name}:{s.defn_line_number})")


def _dir_sections(r: Any) -> list[str]:
    """The <Directory> sections and .htaccess files the real walk used for r.filename
    (read from the walk's cache)."""
    fn = r.filename
    if not fn or not fn.startswith("/"):
        return []
    st = r.finfo
    import stat as stat_mod

    if st is not None and stat_mod.S_ISDIR(st.st_mode):
        dirpath = fn if fn.endswith("/") else fn + "/"
    else:
        dirpath = fn.rpartition("/")[0] + "/"
    plan = r.server.cache.get(("plan", dirpath))
    out: list[str] = []
    if plan is None:
        return out
    levels = plan[0]
    ht = r.tree.extra.get("htaccess_cache")
    parsed = {k[0] for k in ht.entries} if ht is not None else set()
    from featherd.config.merge import UNSET
    from featherd.core.core_module import core

    sc = r.server.module_config[core.index]
    names = sc.access_name if sc.access_name is not UNSET else [".htaccess"]
    for level, secs in levels:
        for sec in secs:
            out.append(f"{sec.describe()} ({sec.filename}:{sec.line})")
        for name in names:
            if level + name in parsed:
                out.append(f".htaccess {level + name}")
                break
    for sec in r.server.cache.get(("rx", dirpath), []):
        out.append(f"{sec.describe()} ({sec.filename}:{sec.line})")
    return out


@contextlib.contextmanager
def _dry_run(ex: Explainer) -> Iterator[None]:
    """Run the real phases but never a content handler (other than mod_rewrite's
    internal-redirect handler) and never send an error page."""
    import featherd.core.http_request as hr
    import featherd.core.request as rq
    from featherd.core.hooks import OK
    from featherd.modules.mappers.rewrite.hooks import REDIRECT_HANDLER, handler_redirect

    orig_invoke = rq.invoke_handler
    orig_die = hr.die
    orig_canned = hr._send_canned

    async def invoke(r: Any) -> int:
        if r.handler == REDIRECT_HANDLER and (r.filename or "").startswith("redirect:"):
            return await handler_redirect(r)
        ex.finals.append(r)
        return OK

    async def die(r: Any, status: int) -> None:
        ex.died.append((r, status))

    async def canned(r: Any, status: int, recursive: int) -> None:
        ex.died.append((r, status))

    rq.invoke_handler = invoke  # type: ignore[assignment]
    hr.die = die  # type: ignore[assignment]
    hr._send_canned = canned  # type: ignore[assignment]
    try:
        yield
    finally:
        rq.invoke_handler = orig_invoke  # type: ignore[assignment]
        hr.die = orig_die  # type: ignore[assignment]
        hr._send_canned = orig_canned  # type: ignore[assignment]


def _proxy_target(r: Any) -> str:
    t = r.filename[6:]
    if r.args is not None and "?" not in t:
        t += "?" + r.args
    return str(t)


def _pick_listen(tree: Any, port: int | None) -> tuple[str, int]:
    for ls in tree.listens:
        if port is None or ls.port == port:
            host = ls.host if ls.host not in (None, "*", "0.0.0.0", "::", "") else "127.0.0.1"
            return host, ls.port or (port or 80)
    return "127.0.0.1", port or 80


class Outcome:
    """What the configuration does with the request: ``kind`` is "file", "redirect",
    "proxy" or "status"; ``request`` the last request of the chain (after internal
    redirects)."""

    __slots__ = ("status", "kind", "request", "location", "target")

    def __init__(self, status: int, kind: str, request: Any, location: str | None = None,
                 target: str | None = None) -> None:
        self.status = status
        self.kind = kind
        self.request = request
        self.location = location
        self.target = target

    def __repr__(self) -> str:
        return f"<Outcome {self.kind} {self.status} {self.location or self.target or ''}>"


async def explain(tree: Any, url: str, headers: list[tuple[str, str]], method: str = "GET",
                  client_ip: str = "127.0.0.1", verbose: bool = False,
                  out: Any = None) -> Outcome:
    """Print the explanation of ``url``; returns what happened."""
    from featherd.core.hooks import DONE, OK
    from featherd.core.http_request import (
        new_request,
        process_request_internal,
        read_request_checks,
    )
    from featherd.errors import HTTPError
    from featherd.http.parser import ParseError, RequestParser
    from featherd.log import ErrorLog

    out = out or sys.stdout
    ex = Explainer(out, verbose)
    tls = False
    port: int | None = None
    target = url
    hdrs = list(headers)
    if "://" in url:
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "https"
        # an explicit port picks the Listen; otherwise the first Listen is used
        port = parts.port
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not any(k.lower() == "host" for k, _ in hdrs):
            hdrs.insert(0, ("Host", parts.netloc.rsplit("@", 1)[-1]))
    elif not any(k.lower() == "host" for k, _ in hdrs):
        hdrs.insert(0, ("Host", tree.main.server_hostname or "localhost"))
    target = "".join(f"%{ord(c):02x}" if ord(c) <= 32 or ord(c) == 127 else c
                     for c in target)
    local_ip, local_port = _pick_listen(tree, port)
    conn = _FakeConn(tree, local_ip, local_port, client_ip, tls)
    conn.notes["rewrite_tracer"] = ex
    errbuf = io.StringIO()
    elog = ErrorLog(errbuf, level=7)
    for s in tree.all_servers():
        s.error_log = elog
    raw = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs)
    parser = RequestParser()
    parser.feed((raw + "\r\n").encode("latin-1", "replace"))
    try:
        head = parser.next_event()
    except ParseError as e:
        ex.p(f"Bad request: {e}")
        return Outcome(400, "status", None)
    r = new_request(conn, head)  # type: ignore[arg-type]
    ex.p(f"Request: {r.the_request}")
    for k, v in hdrs:
        ex.p(f"{k}: {v}", 1)
    st = read_request_checks(r, head)  # type: ignore[arg-type]
    ex.p(f"Virtual host: {_describe_server(r.server, tree)}")
    if st:
        ex.p(f"Result: status {st} (the request itself is refused)")
        return Outcome(st, "status", r)
    with _dry_run(ex):
        try:
            rv = await process_request_internal(r)
        except HTTPError as e:
            rv = e.status
    final = ex.finals[-1] if ex.finals else r.final
    rounds = []
    q: Any = r
    while q is not None:
        rounds.append(q)
        q = q.next
    if len(rounds) > 1:
        ex.p("Internal redirects: " + " -> ".join(q.unparsed_uri or q.uri for q in rounds))
    if final.location_sections:
        ex.p("Location sections: " + ", ".join(
            f"{s.describe()} ({s.filename}:{s.line})" for s in final.location_sections))
    secs = _dir_sections(final)
    if secs:
        ex.p("Directory sections: " + ", ".join(secs))
    outcome = Outcome(200, "file", final)
    if ex.died:
        dr, status = ex.died[-1]
        loc = dr.headers_out.get("Location") or dr.err_headers_out.get("Location")
        outcome = Outcome(status, "status", dr)
        if 300 <= status <= 399 and loc:
            ex.p(f"Result: redirect {status} Location: {loc}")
            outcome.kind, outcome.location = "redirect", loc
        else:
            ex.p(f"Result: status {status}")
    elif rv not in (OK, DONE):
        loc = final.headers_out.get("Location") or final.err_headers_out.get("Location")
        outcome = Outcome(rv, "status", final)
        if 300 <= rv <= 399 and loc:
            ex.p(f"Result: redirect {rv} Location: {loc}")
            outcome.kind, outcome.location = "redirect", loc
        elif (final.filename or "").startswith("proxy:"):
            target = _proxy_target(final)
            ex.p(f"Result: proxy to {target} (status {rv} until mod_proxy is loaded)")
            outcome.kind, outcome.target = "proxy", target
        else:
            ex.p(f"Result: status {rv}")
    elif (final.filename or "").startswith("proxy:"):
        target = _proxy_target(final)
        ex.p(f"Result: proxy to {target}")
        outcome = Outcome(200, "proxy", final, target=target)
    else:
        fn = final.filename or ""
        pi = final.path_info or ""
        exists = "exists" if final.finfo is not None else "does not exist"
        ex.p(f"Result: filename {fn} ({exists})" + (f", path_info {pi}" if pi else ""))
        if final.args:
            ex.p(f"Query string: {final.args}", 1)
        if final.handler:
            ex.p(f"Handler: {final.handler}", 1)
        if final.content_type:
            ex.p(f"Content-Type: {final.content_type}", 1)
    env = {k: v for k, v in final.subprocess_env.items()
           if k not in ("SCRIPT_URL", "SCRIPT_URI") and not k.startswith("REDIRECT_")}
    if env:
        ex.p("Environment set: " + ", ".join(f"{k}={v}" for k, v in sorted(env.items())))
    cookies = final.err_headers_out.get_all("Set-Cookie")
    for c in cookies:
        ex.p(f"Set-Cookie: {c}", 1)
    vary = final.headers_out.get("Vary")
    if vary:
        ex.p(f"Vary: {vary}", 1)
    errors = errbuf.getvalue().strip()
    if errors:
        ex.p("Error log:")
        for line in errors.splitlines():
            ex.p(line, 1)
    return outcome


def main(argv: list[str] | None = None) -> int:
    from featherd.core.config import load_config
    from featherd.errors import ConfigError
    from featherd.modules import builtin_modules

    args = list(sys.argv[1:] if argv is None else argv)
    conf: str | None = None
    root: str | None = None
    defines: list[str] = []
    pre: list[str] = []
    post: list[str] = []
    headers: list[tuple[str, str]] = []
    method = "GET"
    client = "127.0.0.1"
    verbose = False
    url: str | None = None
    i = 0
    takes = {"-f", "-d", "-D", "-C", "-c", "-H", "-m", "-a"}
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            print(USAGE, end="")
            return 0
        if a == "-v":
            verbose = True
            i += 1
            continue
        if a.startswith("-D") and len(a) > 2:
            defines.append(a[2:])
            i += 1
            continue
        if a in takes:
            if i + 1 >= len(args):
                print(USAGE, end="", file=sys.stderr)
                return 1
            v = args[i + 1]
            i += 2
            if a == "-f":
                conf = v
            elif a == "-d":
                root = v
            elif a == "-D":
                defines.append(v)
            elif a == "-C":
                pre.append(v)
            elif a == "-c":
                post.append(v)
            elif a == "-m":
                method = v.upper()
            elif a == "-a":
                client = v
            else:
                name, sep, value = v.partition(":")
                if not sep:
                    print(f"featherd-rewrite: bad header '{v}' (use 'Name: value')",
                          file=sys.stderr)
                    return 1
                headers.append((name.strip(), value.strip()))
            continue
        if a.startswith("-") and a != "-":
            print(f"featherd-rewrite: unknown option {a}\n{USAGE}", end="", file=sys.stderr)
            return 1
        url = a
        i += 1
    if conf is None or url is None:
        print(USAGE, end="", file=sys.stderr)
        return 1
    if root is None:
        root = os.path.dirname(os.path.abspath(conf))
    elif not os.path.isabs(conf):
        conf = os.path.join(root, conf)
    try:
        tree = load_config(conf, builtin_modules(), server_root=root, defines=set(defines),
                           pre=pre, post=post)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print(str(e), file=sys.stderr)
        return 1
    for w in tree.warnings:
        print(w, file=sys.stderr)
    outcome = asyncio.run(explain(tree, url, headers, method, client, verbose))
    return 0 if outcome.status < 500 else 2


if __name__ == "__main__":
    raise SystemExit(main())
