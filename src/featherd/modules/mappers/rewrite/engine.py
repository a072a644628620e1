"""The rewriting engine and its hooks (mod_rewrite.c's apply_rewrite_list,
apply_rewrite_rule, hook_uri2file, hook_fixup, hook_mimetype, handler_redirect).

Server context: the rules run in ``translate_name`` (before mod_alias) on the URL-path.
The result is a redirect (``[R]`` or an absolute URL), a proxy request (``[P]``), a
status (``[F]``, ``[G]``, ``[R=4xx]``), a URL-path handed on to the next translators
(``[PT]``), or a filename (a path whose first segment does not exist on disk gets the
DocumentRoot in front).

Per-directory context (<Directory>, .htaccess): the rules run in ``fixups``, after the
directory walk, on the filename with the directory prefix stripped (and re-added to a
relative result). A changed result becomes an internal redirect: the directory prefix
is replaced by RewriteBase (or the DocumentRoot is stripped), and the request restarts
with the new URL-path, bounded by LimitInternalRecursion.

Tracing: when ``r.connection.notes["rewrite_tracer"]`` holds a callable, every step
(rule tried, conditions, captures, result) is reported to it; featherd-rewrite uses this
to explain a request with the real engine.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from featherd.core.hooks import DECLINED, FIRST, OK, REALLY_LAST
from featherd.modules.mappers.rewrite.conditions import apply_cond, apply_cond_sync
from featherd.modules.mappers.rewrite.expand import expand, expand_sync, scheme
from featherd.modules.mappers.rewrite.module import (
    OPTION_ANYURI,
    OPTION_NOSLASH,
    RewriteDirConfig,
    RewriteServerConfig,
    rewrite,
)
from featherd.modules.mappers.rewrite.rules import RuleEntry
from featherd.modules.mappers.rewrite.util import escape_uri

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR, DEBUG = 3, 7

ACTION_NONE, ACTION_NORMAL, ACTION_NOESCAPE, ACTION_STATUS = 0, 1, 2, 4
FORCED_MIMETYPE = "rewrite-forced-mimetype"
FORCED_HANDLER = "rewrite-forced-handler"
REDIRECT_HANDLER = "redirect-handler"
PROXYREQ_REVERSE = 2

#: schemes mod_rewrite recognises as absolute URLs: (prefix, length, supports query)
_SCHEMES = (
    ("ajp://", True), ("balancer://", True), ("fcgi://", True), ("ftp://", False),
    ("gopher://", False), ("h2://", True), ("h2c://", True), ("http://", True),
    ("https://", True), ("ldap://", False), ("mailto:", True), ("news:", False),
    ("nntp://", False), ("scgi://", True), ("ws://", True), ("wss://", True),
)


def is_absolute_uri(uri: str) -> tuple[int, bool]:
    """(length of the scheme part incl. '://', whether it takes a query); (0, False)
    for anything else."""
    if not uri or uri[0] == "/" or len(uri) <= 5:
        return 0, False
    low = uri[:12].lower()
    for prefix, sqs in _SCHEMES:
        if low.startswith(prefix):
            return len(prefix), sqs
    return 0, False


# --- logging and tracing -------------------------------------------------------------------
def _logtime() -> str:
    t = time.time()
    lt = time.localtime(t)
    off = lt.tm_gmtoff // 60
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return time.strftime("%d/%b/%Y:%H:%M:%S", lt) + f" {sign}{off // 60:02d}{off % 60:02d}"


class RewriteCtx:
    """rewrite_ctx: the state of one run over a rule list."""

    __slots__ = ("r", "uri", "vary_this", "vary", "perdir", "rr_m", "rc_m", "loglevel",
                 "file_level", "err_level", "tracer", "log_target")

    def __init__(self, r: Request, perdir: str | None) -> None:
        self.r = r
        self.uri = ""
        self.vary_this: str | None = None
        self.vary: str | None = None
        self.perdir = perdir
        self.rr_m: Any = None
        self.rc_m: Any = None
        sc: RewriteServerConfig = r.server.module_config[rewrite.index]
        self.log_target = sc.log_target
        self.file_level = sc.log_level if sc.log_target is not None else 0
        ml = r.tree.extra.get("rewrite_module_loglevel")
        if ml is None:
            ml = r.server.loglevel if r.server.loglevel is not None else 4
        self.err_level = ml - 7
        conn = r.connection
        self.tracer = conn.notes.get("rewrite_tracer") if conn is not None else None
        lvl = max(self.file_level, self.err_level)
        if self.tracer is not None:
            lvl = max(lvl, getattr(self.tracer, "loglevel", 0))
        self.loglevel = lvl

    def log(self, level: int, text: str, perdir: bool = True) -> None:
        """rewritelog(): one line in the RewriteLog and/or, for ``LogLevel
        rewrite:traceN``, in the error log."""
        r = self.r
        pd = self.perdir if perdir else None
        if self.tracer is not None and getattr(self.tracer, "loglevel", 0) >= level:
            self.tracer(r, "log", level=level, text=text, perdir=pd)
        if level > self.file_level and level > self.err_level:
            return
        conn = r.connection
        redir = 0
        q = r
        while q.prev is not None:
            redir += 1
            q = q.prev
        rhost = getattr(conn, "remote_host", None) or conn.client_ip or "UNKNOWN-HOST"
        rname = getattr(conn, "remote_logname", None) or "-"
        ruser = "-" if r.user is None else (r.user or '""')
        from featherd.core.vhost import server_name

        where = (f"[{server_name(r)}/sid#{id(r.server):x}][rid#{id(r):x}/"
                 f"{'subreq' if r.main is not None else 'initial'}"
                 f"{f'/redir#{redir}' if redir else ''}]")
        pdtxt = f"[perdir {pd}] " if pd else ""
        if level <= self.file_level and self.log_target is not None:
            line = (f"{rhost} {rname} {ruser} [{_logtime()}] {where} ({level}) "
                    f"{pdtxt}{text}\n")
            self.log_target.write(line)
        if level <= self.err_level:
            _errlog_trace(r, level, f"{rhost} {rname} {ruser} {where} {pdtxt}{text}")

    def trace(self, event: str, **info: Any) -> None:
        if self.tracer is not None:
            self.tracer(self.r, event, perdir=self.perdir, **info)


def _errlog_trace(r: Request, level: int, msg: str) -> None:
    from featherd.log import ctime

    log = r.server.error_log or r.tree.main.error_log
    fp = getattr(log, "fp", None) if log is not None else None
    if fp is None:
        return
    line = f"[{ctime()}] [rewrite:trace{level}] [client {r.connection.client_ip}] {msg}"
    try:
        fp.write(line.replace("\n", "\\n") + "\n")
    except (OSError, ValueError):
        pass


# --- URL helpers ---------------------------------------------------------------------------
def escape_absolute_uri(uri: str, skip: int) -> str:
    """Escape the path (and for ldap: the ?-separated parts) of an absolute URL."""
    if not skip or len(uri) < skip:
        return uri
    cp = skip
    if uri[skip - 1] == "/":
        while cp < len(uri) and uri[cp] != "/":
            cp += 1
        if cp >= len(uri) or cp + 1 >= len(uri):
            return uri
        cp += 1
        if uri[:4].lower() == "ldap":
            tokens = uri[cp:].split("?", 4)
            return uri[:cp] + "?".join(escape_uri(t) for t in tokens)
    return uri[:cp] + escape_uri(uri[cp:])


def _bad_query(args: str) -> bool:
    """ap_scan_vchar_obstext: a control character or a blank in the query string."""
    return any(c <= " " or c == "\x7f" for c in args)


def splitout_queryargs(r: Request, rule: RuleEntry, ctx: RewriteCtx) -> bool:
    """Move a '?query' of the substitution into r.args ([QSA], [QSD], [QSL]); False when
    the query string would carry control characters or blanks (CVE-2023-25690)."""
    fn = r.filename or ""
    skip, sqs = is_absolute_uri(fn)
    if skip and not sqs:
        r.args = None
        return True
    if rule.qsdiscard:
        r.args = None
        if ctx.loglevel >= 2:
            ctx.log(2, "discarding query string", perdir=False)
    q = fn.rfind("?") if rule.qslast else fn.find("?")
    if q >= 0:
        old = fn
        r.filename = fn[:q]
        qs = fn[q + 1:]
        if rule.qsappend:
            if qs:
                r.args = f"{qs}&{r.args or ''}"
        else:
            r.args = qs
        if r.args is not None:
            if not r.args:
                r.args = None
            elif r.args.endswith("&"):
                r.args = r.args[:-1]
        if ctx.loglevel >= 3:
            ctx.log(3, f"split uri={old} -> uri={r.filename}, args="
                       f"{r.args if r.args is not None else '<none>'}", perdir=False)
        if r.args is not None and _bad_query(r.args):
            r.log_error(ERROR, "Rewritten query string contains control characters or "
                               "spaces")
            return False
    return True


def _matches_request_vhost(r: Request, host: str, port: int) -> bool:
    """ap_matches_request_vhost: the host (and port) name this server."""
    from featherd.core.vhost import server_port

    s = r.server
    h = host.lower()
    for vh, vp in s.addrs:
        if (vp == 0 or vp == port) and vh.lower() == h:
            return True
    sport = s.port or server_port(r)
    if port != sport:
        return False
    if s.server_hostname and s.server_hostname.lower() == h:
        return True
    if h in s.names:
        return True
    from featherd.core.walk import fn_match

    return any(fn_match(w, h, pathname=False) for w in s.wild_names)


def _default_port(r: Request) -> int:
    return 443 if scheme(r) == "https" else 80


def reduce_uri(r: Request, ctx: RewriteCtx) -> None:
    """Strip ``http[s]://ourhost[:port]`` from an absolute URL naming this server."""
    fn = r.filename or ""
    sch = scheme(r)
    n = len(sch)
    if len(fn) > n + 3 and fn[:n].lower() == sch and fn[n:n + 3] == "://":
        rest = fn[n + 3:]
        i = 0
        while i < len(rest) and rest[i] not in "/:":
            i += 1
        host = rest[:i]
        if i < len(rest) and rest[i] == ":":
            j = i + 1
            while j < len(rest) and rest[j] != "/":
                j += 1
            digits = ""
            for ch in rest[i + 1:j]:
                if not ch.isdigit():
                    break
                digits += ch
            port = int(digits) if digits else 0
            url = rest[j:] or "/"
        elif i < len(rest):
            port = _default_port(r)
            url = rest[i:]
        else:
            port = _default_port(r)
            url = "/"
        if _matches_request_vhost(r, host, port):
            if ctx.loglevel >= 3:
                ctx.log(3, f"reduce {fn} -> {url}", perdir=False)
            r.filename = url


def fully_qualify_uri(r: Request) -> None:
    if r.method == "CONNECT":
        return
    fn = r.filename or ""
    if not is_absolute_uri(fn)[0]:
        from featherd.core.vhost import server_name, server_port

        host = server_name(r)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        port = server_port(r)
        p = "" if port == _default_port(r) else f":{port}"
        r.filename = f"{scheme(r)}://{host}{p}{'' if fn.startswith('/') else '/'}{fn}"


def subst_prefix_path(r: Request, inp: str, match: str, subst: str,
                      ctx: RewriteCtx | None = None) -> str:
    """Replace the prefix ``match`` of ``inp`` with ``subst`` (RewriteBase)."""
    n = len(match)
    if n and match[-1] == "/":
        n -= 1
    if inp[:n] == match[:n] and len(inp) > n and inp[n] == "/":
        n += 1
        if ctx is not None and ctx.loglevel >= 5:
            ctx.log(5, f"strip matching prefix: {inp} -> {inp[n:]}", perdir=False)
        s = subst if subst.endswith("/") or not subst else subst + "/"
        out = s + inp[n:]
        if ctx is not None and ctx.loglevel >= 4:
            ctx.log(4, f"add subst prefix: {inp[n:]} -> {out}", perdir=False)
        return out
    return inp


def _sanitize(loc: str) -> str:
    # CVE-2016-4975: no CR, LF or NUL from a URI in a response header
    if "\r" in loc or "\n" in loc or "\x00" in loc:
        loc = loc.replace("\r", "%0d").replace("\n", "%0a").replace("\x00", "%00")
    return loc


# --- the engine ------------------------------------------------------------------------------
async def _expand(tpl: Any, ctx: RewriteCtx, rule: Any = None) -> str:
    if tpl.needs_async:
        return await expand(tpl, ctx, rule)
    return expand_sync(tpl, ctx, rule)


async def _do_env(rule: RuleEntry, ctx: RewriteCtx) -> None:
    r = ctx.r
    for tpl in rule.env:
        name = await _expand(tpl, ctx)
        if name.startswith("!"):
            name = name[1:]
            r.subprocess_env.pop(name, None)
            if ctx.loglevel >= 5:
                ctx.log(5, f"unsetting env variable '{name}'", perdir=False)
        else:
            name, _, val = name.partition(":")
            r.subprocess_env[name] = val
            if ctx.loglevel >= 5:
                ctx.log(5, f"setting env variable '{name}' to '{val}'", perdir=False)


def _cookie_time(ts: float) -> str:
    t = time.gmtime(ts)
    return time.strftime("%a, %d-%b-%Y %H:%M:%S GMT", t)


def _add_cookie(r: Request, s: str, ctx: RewriteCtx) -> None:
    sep = ":"
    if s.startswith(";"):
        sep = ";"
        s = s[1:]
    parts = [p for p in s.split(sep) if p]   # apr_strtok skips empty tokens
    if len(parts) < 3:
        return
    var, val, domain = parts[0], parts[1], parts[2]
    rmain = r
    while rmain.main is not None:
        rmain = rmain.main
    first = rmain
    while first.prev is not None:
        first = first.prev
    done: set[str] = first.ctx.setdefault("rewrite_cookies", set())
    if var in done:
        if ctx.loglevel >= 5:
            ctx.log(5, f"skipping already set cookie '{var}'", perdir=False)
        return
    expires = parts[3] if len(parts) > 3 else None
    path = parts[4] if len(parts) > 4 else None
    secure = parts[5] if len(parts) > 5 else None
    httponly = parts[6] if len(parts) > 6 else None
    samesite = parts[7] if len(parts) > 7 else None
    cookie = f"{var}={val}; path={path or '/'}; domain={domain}"
    if expires is not None:
        from featherd.modules.mappers.rewrite.conditions import atoi

        mins = atoi(expires)
        if mins:
            cookie += "; expires=" + _cookie_time(r.request_time + 60 * mins)
    if secure is not None and secure.lower() in ("true", "1", "secure"):
        cookie += "; secure"
    if httponly is not None and httponly.lower() in ("true", "1", "httponly"):
        cookie += "; HttpOnly"
    if samesite and samesite != "0" and samesite.lower() != "false":
        cookie += f"; SameSite={samesite}"
    rmain.err_headers_out.add("Set-Cookie", _sanitize(cookie))
    done.add(var)
    if ctx.loglevel >= 5:
        ctx.log(5, f"setting cookie '{cookie}'", perdir=False)


async def _force_type_handler(rule: RuleEntry, ctx: RewriteCtx) -> None:
    r = ctx.r
    if rule.forced_type is not None:
        t = (await _expand(rule.forced_type, ctx, rule)).lower()
        if t:
            if ctx.loglevel >= 2:
                ctx.log(2, f"remember {r.filename} to have MIME-type '{t}'")
            r.notes[FORCED_MIMETYPE] = t
    if rule.forced_handler is not None:
        h = (await _expand(rule.forced_handler, ctx, rule)).lower()
        if h:
            if ctx.loglevel >= 2:
                ctx.log(2, f"remember {r.filename} to have Content-handler '{h}'")
            r.notes[FORCED_HANDLER] = h


def _groups(m: Any) -> list[str] | None:
    if m is None:
        return None
    return [m.group(i) or "" for i in range(min(m.re.groups, 9) + 1)]


async def apply_rewrite_rule(rule: RuleEntry, ctx: RewriteCtx) -> int:
    """0: no match; 1: matched and changed; 2: matched, no substitution."""
    r = ctx.r
    uri = r.filename or ""
    perdir = ctx.perdir
    is_proxyreq = False
    if perdir:
        is_proxyreq = bool(r.ctx.get("proxyreq")) and uri.startswith("proxy:")
        if r.path_info:
            if ctx.loglevel >= 3:
                ctx.log(3, f"add path info postfix: {uri} -> {uri}{r.path_info}")
            uri = uri + r.path_info
        if not is_proxyreq and uri.startswith(perdir):
            if ctx.loglevel >= 3:
                ctx.log(3, f"strip per-dir prefix: {uri} -> {uri[len(perdir):]}")
            uri = uri[len(perdir):]
    ctx.uri = uri
    if ctx.loglevel >= 3:
        ctx.log(3, f"applying pattern '{rule.pattern}' to uri '{uri}'")
    m = rule.regex.search(uri)
    matched = (m is not None) != rule.notmatch
    if ctx.tracer is not None:
        ctx.trace("rule", rule=rule, input=uri, matched=matched,
                  groups=_groups(m) if matched and not rule.notmatch else None)
    if not matched:
        return 0
    ctx.vary_this = None
    ctx.rc_m = None
    ctx.rr_m = None if rule.notmatch else m
    conds = rule.conds
    i = 0
    nconds = len(conds)
    while i < nconds:
        c = conds[i]
        rc = await apply_cond(c, ctx) if c.is_async else apply_cond_sync(c, ctx)
        if c.novary:
            ctx.vary_this = None
        if c.ornext:
            if not rc:
                ctx.vary_this = None
                i += 1
                continue
            while i < nconds and conds[i].ornext:
                i += 1
        elif not rc:
            if ctx.tracer is not None:
                ctx.trace("rule-conds-failed", rule=rule)
            return 0
        if ctx.vary_this:
            ctx.vary = f"{ctx.vary}, {ctx.vary_this}" if ctx.vary else ctx.vary_this
            ctx.vary_this = None
        i += 1
    newuri = None
    if not rule.nosub:
        newuri = await _expand(rule.output, ctx, rule)
        if ctx.loglevel >= 2:
            ctx.log(2, f"rewrite '{ctx.uri}' -> '{newuri}'")
        if ctx.tracer is not None:
            ctx.trace("subst", rule=rule, before=ctx.uri, after=newuri)
        if ("?" in newuri and not rule.unsafe_allow3f and r.unparsed_uri
                and "%3f" in r.unparsed_uri.lower() and _qmark_from_backref(rule, ctx)):
            # CVE-2024-38474 (Apache 2.4.60): a decoded %3F must not start a query
            r.log_error(ERROR, "Unsafe URL with %3f URL rewritten without UnsafeAllow3F")
            r.status = 403
            return 3
    if rule.env:
        await _do_env(rule, ctx)
    for tpl in rule.cookies:
        _add_cookie(r, await _expand(tpl, ctx), ctx)
    if rule.nosub:
        await _force_type_handler(rule, ctx)
        if rule.status_rule:
            if ctx.loglevel >= 2:
                ctx.log(2, f"forcing responsecode {rule.forced_status} for {r.filename}")
            r.status = rule.forced_status
        return 2
    assert newuri is not None
    r.filename = newuri
    if perdir and rule.discardpathinfo:
        r.path_info = ""
    if not splitout_queryargs(r, rule, ctx):
        r.status = 403
        return 3
    fn = r.filename or ""
    if perdir and not is_proxyreq and not fn.startswith("/") and not is_absolute_uri(fn)[0]:
        if ctx.loglevel >= 3:
            ctx.log(3, f"add per-dir prefix: {fn} -> {perdir}{fn}")
        r.filename = perdir + fn
    if rule.proxy:
        if perdir and not rule.noescape:
            old = r.filename or ""
            r.filename = escape_uri(old)
            if ctx.loglevel >= 2:
                ctx.log(2, f"escaped URI in per-dir context for proxy, {old} -> {r.filename}")
        fully_qualify_uri(r)
        if ctx.loglevel >= 2:
            ctx.log(2, f"forcing proxy-throughput with {r.filename}")
        r.filename = "proxy:" + (r.filename or "")
        return 1
    if rule.redirect:
        fully_qualify_uri(r)
        if ctx.loglevel >= 2:
            ctx.log(2, f"explicitly forcing redirect with {r.filename}")
        r.status = rule.forced_status
        return 1
    reduce_uri(r, ctx)
    if is_absolute_uri(r.filename or "")[0]:
        if ctx.loglevel >= 2:
            ctx.log(2, f"implicitly forcing redirect (rc={rule.forced_status}) with "
                       f"{r.filename}")
        r.status = rule.forced_status
        return 1
    await _force_type_handler(rule, ctx)
    return 1


def _qmark_from_backref(rule: RuleEntry, ctx: RewriteCtx) -> bool:
    """Does the first '?' of the substitution come from a back reference?"""
    from featherd.modules.mappers.rewrite.expand import LIT, RC, RR, _backref

    for part in rule.output.parts:
        k = part[0]
        if k == LIT:
            if "?" in part[1]:
                return False
        elif k in (RR, RC):
            if "?" in _backref(ctx.rr_m if k == RR else ctx.rc_m, part[1]):
                return True
    return False


def _limit_req_line(r: Request) -> int:
    v = r.server.limit_req_line
    if v is None:
        v = r.tree.main.limit_req_line
    return v if v is not None else 8190


async def apply_rewrite_list(r: Request, rules: list[RuleEntry], perdir: str | None,
                             ctx: RewriteCtx | None = None) -> int:
    ctx = ctx or RewriteCtx(r, perdir)
    changed = ACTION_NONE
    rounds = 1
    n = len(rules)
    is_sub = r.main is not None
    restart = True
    while restart:
        restart = False
        i = 0
        while i < n:
            p = rules[i]
            if is_sub and (p.nosubreq or p.redirect):
                i += 1
                continue
            ctx.vary = None
            rc = await apply_rewrite_rule(p, ctx)
            if rc:
                limit = _limit_req_line(r)
                if len(r.filename or "") > 2 * limit:
                    r.log_error(ERROR, f"RewriteRule '{p.pattern}' and URI '{r.uri}' "
                                       f"exceeded maximum length ({2 * limit})")
                    r.status = 500
                    return ACTION_STATUS
                if ctx.vary:
                    r.headers_out.merge("Vary", ctx.vary)
                if p.status_rule or rc == 3:
                    return ACTION_STATUS
                if rc != 2:
                    changed = ACTION_NOESCAPE if p.noescape else ACTION_NORMAL
                    r.ctx["rewrite_lastsub"] = p
                if p.passthrough:
                    if ctx.loglevel >= 2:
                        ctx.log(2, f"forcing '{r.filename}' to get passed through to next "
                                   "API URI-to-filename handler")
                    r.filename = "passthrough:" + (r.filename or "")
                    changed = ACTION_NORMAL
                    break
                if p.end:
                    if ctx.loglevel >= 8:
                        ctx.log(8, "Rule has END flag, no further rewriting for this "
                                   "request")
                    r.ctx["rewrite_end"] = True
                    break
                if p.proxy or p.last:
                    break
                if p.next_round:
                    rounds += 1
                    if rounds >= p.maxrounds:
                        r.log_error(ERROR, f"RewriteRule '{p.pattern}' and URI '{r.uri}' "
                                           f"exceeded maximum number of rounds "
                                           f"({p.maxrounds}) via the [N] flag")
                        r.status = 500
                        return ACTION_STATUS
                    if ctx.tracer is not None:
                        ctx.trace("next-round", round=rounds)
                    restart = True
                    break
                if p.skip > 0:
                    i += p.skip
            else:
                while i < n and rules[i].chain:
                    i += 1
            i += 1
    return changed


def _end_flag(r: Request) -> bool:
    q: Request | None = r
    while q is not None:
        if q.ctx.get("rewrite_end"):
            return True
        q = q.prev
    return False


# --- hooks ---------------------------------------------------------------------------------
def _proxy_available(r: Request) -> bool:
    return "proxy_module" in r.tree.loaded


def _go_proxy(r: Request, ctx: RewriteCtx, rulestatus: int, perdir: bool) -> int:
    """Hand a proxy: filename to mod_proxy (the hook point it will take over)."""
    fn = r.filename or ""
    if not perdir and r.path_info:
        fn += r.path_info
    if r.args is not None and (perdir or rulestatus == ACTION_NOESCAPE
                               or r.ctx.get("proxyreq") == 1):
        fn += "?" + r.args
    r.filename = fn
    if ctx.tracer is not None:
        shown = fn[6:]
        if r.args is not None and "?" not in shown:
            shown += "?" + r.args
        ctx.trace("result", kind="proxy", target=shown)
    if not _proxy_available(r):
        r.log_error(ERROR, "attempt to make remote request from mod_rewrite without proxy "
                           f"enabled (mod_proxy is not available): {fn}")
        return 502
    if rulestatus == ACTION_NOESCAPE and not perdir:
        r.notes["proxy-nocanon"] = "1"
    if not r.ctx.get("proxyreq"):
        r.ctx["proxyreq"] = PROXYREQ_REVERSE
    r.handler = "proxy-server"
    if ctx.loglevel >= 1:
        ctx.log(1, f"go-ahead with proxy request {fn} [OK]", perdir=perdir)
    return OK


def _external_redirect(r: Request, ctx: RewriteCtx, rulestatus: int, skip: int,
                       oargs: str | None, perdir: bool) -> int:
    if rulestatus != ACTION_NOESCAPE:
        if ctx.loglevel >= 1:
            ctx.log(1, f"escaping {r.filename} for redirect", perdir=perdir)
        r.filename = escape_absolute_uri(r.filename or "", skip)
    if r.args:
        noescape = rulestatus == ACTION_NOESCAPE or (oargs is not None and r.args == oargs)
        esc = r.args if noescape else escape_uri(r.args)
        r.filename = f"{r.filename}?{esc}"
        if ctx.loglevel >= 1:
            ctx.log(1, f"{'copying' if noescape else 'escaping'} {r.args} to query string "
                       f"for redirect {'' if noescape else esc}", perdir=perdir)
    if 300 <= r.status <= 399:
        n = r.status
        r.status = 200
    else:
        n = 302
    loc = _sanitize(r.filename or "")
    r.headers_out.set("Location", loc)
    if ctx.loglevel >= 1:
        ctx.log(1, f"redirect to {loc} [REDIRECT/{n}]", perdir=perdir)
    if ctx.tracer is not None:
        ctx.trace("result", kind="redirect", status=n, location=loc)
    return n


def _expand_tildepaths(path: str) -> str:
    if path.startswith("/~") and len(path) > 2:
        end = path.find("/", 2)
        user = path[2:] if end < 0 else path[2:end]
        if user:
            try:
                import pwd

                home = pwd.getpwnam(user).pw_dir
            except (KeyError, ImportError):
                return path
            if end < 0:
                return home
            return home.rstrip("/") + path[end:]
    return path


def _prefix_stat(path: str) -> bool:
    """Does the first segment of ``path`` exist on disk?"""
    seg = path[1:].split("/", 1)[0] if path.startswith("/") else path.split("/", 1)[0]
    try:
        os.stat("/" + seg)
        return True
    except (OSError, ValueError):
        return False


def _status_result(r: Request, ctx: RewriteCtx) -> int:
    n = r.status
    r.status = 200
    if ctx.tracer is not None:
        ctx.trace("result", kind="status", status=n)
    return n


@rewrite.hook("translate_name", order=FIRST - 1)
async def hook_uri2file(r: Request) -> int:
    dconf: RewriteDirConfig = r.per_dir_config[rewrite.index]
    if dconf is None or not dconf.state:
        return DECLINED
    conf: RewriteServerConfig = r.server.module_config[rewrite.index]
    if _end_flag(r):
        return DECLINED
    ctx = RewriteCtx(r, None)
    if not dconf.options & OPTION_ANYURI and (r.unparsed_uri == "*" or not r.uri
                                              or r.uri[0] != "/"):
        if ctx.loglevel >= 8:
            ctx.log(8, f"Declining, request-URI '{r.uri}' is not a URL-path. Consult the "
                       "manual entry for the RewriteOptions directive for options and "
                       "caveats about matching other strings.")
        return DECLINED
    oargs = r.args
    env = r.subprocess_env
    if r.main is None:
        env["SCRIPT_URL"] = env.get("REDIRECT_SCRIPT_URL") or r.uri
    else:
        v = r.main.subprocess_env.get("SCRIPT_URL")
        if v is not None:
            env["SCRIPT_URL"] = v
    from featherd.core.vhost import server_name, server_port

    host = server_name(r)
    port = server_port(r)
    tp = "" if port == _default_port(r) else f":{port}"
    env["SCRIPT_URI"] = f"{scheme(r)}://{host}{tp}{env.get('SCRIPT_URL', '')}"
    if ctx.tracer is not None:
        ctx.trace("begin", context="server", uri=r.uri, rules=conf.rules)
    saved = r.ctx.get("rewrite_status")
    if saved is None:
        if r.filename is None:
            r.filename = r.uri
            if ctx.loglevel >= 2:
                ctx.log(2, f"init rewrite engine with requested uri {r.filename}")
        elif ctx.loglevel >= 2:
            ctx.log(2, f"init rewrite engine with passed filename {r.filename}. Original "
                       f"uri = {r.uri}")
        rulestatus = await apply_rewrite_list(r, conf.rules, None, ctx)
        r.ctx["rewrite_status"] = rulestatus
    else:
        rulestatus = saved
        if ctx.loglevel >= 2:
            ctx.log(2, f"uri already rewritten. Status {saved}, Uri {r.uri}, r->filename "
                       f"{r.filename}")
    if not rulestatus:
        if ctx.loglevel >= 1:
            ctx.log(1, f"pass through {r.filename}")
        if ctx.tracer is not None:
            ctx.trace("result", kind="pass")
        return DECLINED
    if rulestatus == ACTION_STATUS:
        return _status_result(r, ctx)
    fn = r.filename or ""
    if len(fn) > 6 and fn.startswith("proxy:"):
        return _go_proxy(r, ctx, rulestatus, False)
    skip = is_absolute_uri(fn)[0]
    if skip:
        return _external_redirect(r, ctx, rulestatus, skip, oargs, False)
    if len(fn) > 12 and fn.startswith("passthrough:"):
        r.uri = fn[12:]
        from featherd.core.walk import location_walk

        r.location_sections = tuple(location_walk(r))
        if ctx.tracer is not None:
            ctx.trace("result", kind="passthrough", uri=r.uri)
        return DECLINED
    fn = _expand_tildepaths(fn)
    r.filename = fn
    if ctx.loglevel >= 2:
        ctx.log(2, f"local path result: {fn}")
    if not fn.startswith("/"):
        return 400
    ok = _prefix_stat(fn)
    lastsub = r.ctx.get("rewrite_lastsub")
    if ok and lastsub is not None and not lastsub.unsafe_prefix_stat and \
            lastsub.output.text[:1] in ("$", "%"):
        # CVE-2024-38475 (Apache 2.4.60): a substitution that starts with a variable or
        # back reference maps to the filesystem only inside the DocumentRoot
        from featherd.core.handlers import document_root

        root = document_root(r).rstrip("/")
        ok = fn == root or fn.startswith(root + "/")
        if ctx.loglevel >= 3:
            ctx.log(3, f"prefix_stat of {fn} from substitution {lastsub.output.text}: "
                       f"{'inside' if ok else 'outside'} the document root")
    if not ok:
        from featherd.core.handlers import core_translate

        tmp = r.uri
        r.uri = fn
        try:
            res = core_translate(r)
        finally:
            r.uri = tmp
        if res != OK:
            if ctx.loglevel >= 1:
                ctx.log(1, f"prefixing with document_root of {fn} FAILED")
            return res
        if ctx.loglevel >= 2:
            ctx.log(2, f"prefixed with document_root to {r.filename}")
    if ctx.loglevel >= 1:
        ctx.log(1, f"go-ahead with {r.filename} [OK]")
    if ctx.tracer is not None:
        ctx.trace("result", kind="file", filename=r.filename)
    return OK


def _symlinks_allowed(r: Request) -> bool:
    from featherd.core.core_module import core, options

    c = r.per_dir_config[core.index]
    opts = options(c)
    return "FollowSymLinks" in opts or "SymLinksIfOwnerMatch" in opts


@rewrite.hook("fixups", order=FIRST)
async def hook_fixup(r: Request) -> int:
    dconf: RewriteDirConfig = r.per_dir_config[rewrite.index]
    if dconf is None or not dconf.state or dconf.directory is None:
        return DECLINED
    directory = dconf.directory
    fn0 = r.filename
    is_proxyreq = bool(r.ctx.get("proxyreq")) and bool(fn0) and fn0.startswith("proxy:")
    if not is_proxyreq and not dconf.options & OPTION_NOSLASH:
        if fn0 is not None and fn0 == directory[:-1]:
            return DECLINED
    if _end_flag(r):
        return DECLINED
    ctx = RewriteCtx(r, directory)
    if not dconf.rules:
        if ctx.tracer is not None:
            ctx.trace("begin", context="dir", directory=directory, rules=[])
        return DECLINED
    if not _symlinks_allowed(r):
        r.log_error(ERROR, "Options FollowSymLinks or SymLinksIfOwnerMatch is off which "
                           "implies that RewriteRule directive is forbidden: "
                           f"{r.filename}")
        return 403
    ofilename = r.filename
    oargs = r.args
    if r.filename is None:
        r.filename = r.uri
        if ctx.loglevel >= 2:
            ctx.log(2, f"init rewrite engine with requested uri {r.filename}")
    if ctx.tracer is not None:
        ctx.trace("begin", context="dir", directory=directory, rules=dconf.rules,
                  filename=r.filename, path_info=r.path_info)
    rulestatus = await apply_rewrite_list(r, dconf.rules, directory, ctx)
    if not rulestatus:
        if ctx.loglevel >= 1:
            ctx.log(1, f"pass through {r.filename}")
        r.filename = ofilename
        if ctx.tracer is not None:
            ctx.trace("result", kind="pass")
        return DECLINED
    if rulestatus == ACTION_STATUS:
        return _status_result(r, ctx)
    fn = r.filename or ""
    if len(fn) > 6 and fn.startswith("proxy:"):
        return _go_proxy(r, ctx, rulestatus, True)
    skip = is_absolute_uri(fn)[0]
    if skip:
        if dconf.baseurl is not None:
            slash = fn.find("/", skip)
            if slash >= 0 and slash + 1 < len(fn):
                cp = slash + 1
                if ctx.loglevel >= 2:
                    ctx.log(2, f"trying to replace prefix {directory} with {dconf.baseurl}")
                tail = fn[cp:]
                new = subst_prefix_path(r, tail, directory[1:] if directory.startswith("/")
                                        else directory, dconf.baseurl[1:], ctx)
                if new != tail:
                    r.filename = fn[:cp] + new
        return _external_redirect(r, ctx, rulestatus, skip, oargs, True)
    if len(fn) > 12 and fn.startswith("passthrough:"):
        fn = fn[12:]
        r.filename = fn
    if ctx.loglevel >= 2:
        ctx.log(2, f"local path result: {fn}", perdir=False)
    if not fn.startswith("/"):
        return 400
    if ofilename is not None and fn == ofilename:
        if ctx.loglevel >= 1:
            ctx.log(1, f"initial URL equal rewritten URL: {fn} [IGNORING REWRITE]")
        if ctx.tracer is not None:
            ctx.trace("result", kind="same", filename=fn)
        return OK
    if dconf.baseurl is not None:
        if ctx.loglevel >= 2:
            ctx.log(2, f"trying to replace prefix {directory} with {dconf.baseurl}")
        fn = subst_prefix_path(r, fn, directory, dconf.baseurl, ctx)
    else:
        from featherd.core.handlers import document_root

        root = document_root(r)
        n = len(root)
        if root.endswith("/"):
            n -= 1
        if fn[:n] == root[:n] and len(fn) > n and fn[n] == "/":
            if ctx.loglevel >= 2:
                ctx.log(2, f"strip document_root prefix: {fn} -> {fn[n:]}")
            fn = fn[n:]
    r.notes["redirect-keeps-vary"] = ""
    # [T] and [H] do not survive the internal redirect (the manual: they have no effect
    # in per-directory context with a substitution)
    r.notes.pop(FORCED_MIMETYPE, None)
    r.notes.pop(FORCED_HANDLER, None)
    if ctx.loglevel >= 1:
        ctx.log(1, f"internal redirect with {fn} [INTERNAL REDIRECT]")
    if ctx.tracer is not None:
        ctx.trace("result", kind="internal", uri=fn, args=r.args)
    r.filename = "redirect:" + fn
    r.handler = REDIRECT_HANDLER
    r.ctx["rewrite_redirect"] = True
    return OK


@rewrite.hook("fixups", order=REALLY_LAST)
def hook_mimetype(r: Request) -> int:
    """[T=...] and [H=...]: after every other fixup (the core's SetHandler included)."""
    if r.ctx.get("rewrite_redirect"):
        r.handler = REDIRECT_HANDLER
        return OK
    notes = r.notes
    if not notes:
        return OK
    t = notes.get(FORCED_MIMETYPE)
    if t:
        r.content_type = t
    h = notes.get(FORCED_HANDLER)
    if h:
        r.handler = h
    return OK


@rewrite.handler(REDIRECT_HANDLER)
async def handler_redirect(r: Request) -> int:
    fn = r.filename or ""
    if not fn.startswith("redirect:"):
        return DECLINED
    from featherd.core.http_request import internal_redirect

    target = fn[9:] + (f"?{r.args}" if r.args else "")
    vary = r.headers_out.get("Vary")
    if vary and "redirect-keeps-vary" in r.notes:
        # the new request answers with the Vary this one collected
        r.err_headers_out.merge("Vary", vary)
    await internal_redirect(r, target)
    return OK


# --- RewriteLog -------------------------------------------------------------------------------
class _LogFile:
    def __init__(self, target: str) -> None:
        import subprocess

        self.proc: Any = None
        if target.startswith("|"):
            self.proc = subprocess.Popen(target[1:].strip(), shell=True,
                                         stdin=subprocess.PIPE)
            self.fp: Any = open(self.proc.stdin.fileno(), "w", buffering=1,  # noqa: SIM115
                                closefd=False, encoding="latin-1", errors="replace")
        else:
            self.fp = open(target, "a", buffering=1, encoding="latin-1",  # noqa: SIM115
                           errors="backslashreplace")

    def write(self, line: str) -> None:
        try:
            self.fp.write(line)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        try:
            self.fp.close()
        except OSError:
            pass
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except Exception:
                self.proc.kill()


@rewrite.hook("post_config")
def post_config(tree: Any) -> int:
    levels = tree.extra.get("module_loglevels") or {}
    for key in ("rewrite", "rewrite_module", "mod_rewrite.c", "mod_rewrite"):
        if key in levels:
            tree.extra["rewrite_module_loglevel"] = levels[key]
            break
    return OK


def _start_programs(tree: Any) -> None:
    """run_rewritemap_programs: the prg: maps of servers with the engine on, started
    once before the workers are forked (they share the pipes)."""
    from featherd.modules.mappers.rewrite.maps import PrgMap

    err = None
    log = tree.main.error_log
    if log is not None and getattr(log, "fp", None) is not None:
        try:
            err = log.fp.fileno()
        except (OSError, ValueError, AttributeError):
            err = None
    main_sc: RewriteServerConfig = tree.main.module_config[rewrite.index]
    lock_file = main_sc.lock_file if main_sc is not None else None
    seen: set[int] = set()
    for s in tree.all_servers():
        sc: RewriteServerConfig = s.module_config[rewrite.index]
        if sc is None or not sc.state:
            continue
        for m in sc.maps.values():
            if isinstance(m, PrgMap) and id(m) not in seen:
                seen.add(id(m))
                m.stderr = err
                m.lock_file = lock_file
                if not m.start(err, lock_file) and log is not None:
                    log.log(ERROR, "mod_rewrite: could not start RewriteMap program "
                                   f"{m.checkfile}")


@rewrite.hook("open_logs")
def open_logs(tree: Any) -> int:
    _start_programs(tree)
    opened: dict[str, _LogFile] = tree.extra.setdefault("rewrite_logs", {})
    for s in tree.all_servers():
        sc: RewriteServerConfig = s.module_config[rewrite.index]
        if sc is None or not sc.log_file:
            continue
        target = sc.log_file if sc.log_file.startswith("|") else \
            tree.server_root_relative(sc.log_file)
        lf = opened.get(target)
        if lf is None:
            try:
                lf = _LogFile(target)
            except OSError as e:
                print(f"mod_rewrite: could not open reliable pipe to RewriteLog filter "
                      f"{target}" if target.startswith("|") else
                      f"({e.errno}){e.strerror}: mod_rewrite: could not open RewriteLog "
                      f"file {target}.", flush=True)
                return 500
            opened[target] = lf
        sc.log_target = lf
    return OK


@rewrite.hook("child_exit")
def child_exit(tree: Any) -> None:
    from featherd.modules.mappers.rewrite.maps import PrgMap

    for s in tree.all_servers():
        sc: RewriteServerConfig = s.module_config[rewrite.index]
        if sc is None:
            continue
        for m in sc.maps.values():
            if isinstance(m, PrgMap):
                m.stop()
    for lf in tree.extra.get("rewrite_logs", {}).values():
        lf.close()


__all__ = ["RewriteCtx", "apply_rewrite_list", "apply_rewrite_rule",
           "handler_redirect", "hook_fixup", "hook_mimetype", "hook_uri2file",
           "is_absolute_uri"]
