"""Substitution strings and TestStrings: compiled at configuration time, expanded per
request (mod_rewrite's do_expand and lookup_variable).

A template is split once into parts: literal text, ``$N`` (RewriteRule back reference),
``%N`` (RewriteCond back reference), ``%{VARIABLE}`` and ``${map:key|default}`` (key and
default are templates themselves). Expansion is a single pass: what a variable, a
back reference or a map returns is never expanded again. ``\\x`` is ``x``.

Only ``%{LA-U:...}``, ``%{LA-F:...}`` (sub-requests) and map lookups (a ``prg:`` map
talks to a program) may wait; templates without them expand synchronously.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.modules.mappers.rewrite.util import escape_backref

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.mappers.rewrite.engine import RewriteCtx

#: MODULE_MAGIC_NUMBER of Apache 2.2 (major:minor), for %{API_VERSION}
API_VERSION = "20051115:43"

LIT, VAR, MAP, RR, RC = 0, 1, 2, 3, 4


class Template:
    """A compiled expansion string."""

    __slots__ = ("text", "parts", "literal", "single_var", "needs_async")

    def __init__(self, text: str, parts: tuple[Any, ...]) -> None:
        self.text = text
        self.parts = parts
        self.literal: str | None = None
        self.single_var: Any = None       # the getter when the template is one %{VAR}
        if not parts:
            self.literal = ""
        elif len(parts) == 1 and parts[0][0] == LIT:
            self.literal = parts[0][1]
        elif len(parts) == 1 and parts[0][0] == VAR and not parts[0][3]:
            self.single_var = parts[0][1]
        self.needs_async = any(_part_async(p) for p in parts)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


def _part_async(p: tuple[Any, ...]) -> bool:
    if p[0] == MAP:
        return True
    if p[0] == VAR:
        return p[3]
    return False


def _closing_curly(s: str, i: int) -> int:
    """find_closing_curly: index of the '}' closing the '{' before s[i], or -1."""
    depth = 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "}":
            depth -= 1
            if depth == 0:
                return i
        elif c == "{":
            depth += 1
        i += 1
    return -1


def _char_in_curlies(s: str, i: int, ch: str) -> int:
    """find_char_in_curlies: ``ch`` at brace depth 1 from s[i], before the closing '}'."""
    depth = 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == ch and depth == 1:
            return i
        if c == "}":
            depth -= 1
            if depth == 0:
                return -1
        elif c == "{":
            depth += 1
        i += 1
    return -1


def compile_template(s: str) -> Template:
    parts: list[tuple[Any, ...]] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            parts.append((LIT, "".join(buf)))
            buf.clear()

    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            if i + 1 >= n:
                buf.append("\\")
                i += 1
            else:
                buf.append(s[i + 1])
                i += 2
            continue
        if c in "$%" and i + 1 < n:
            nx = s[i + 1]
            if nx == "{":
                end = _closing_curly(s, i + 2)
                if end < 0:
                    buf.append(s[i:i + 2])
                    i += 2
                    continue
                if c == "%":
                    flush()
                    name = s[i + 2:end]
                    getter, is_async = compile_var(name)
                    parts.append((VAR, getter, name, is_async))
                    i = end + 1
                    continue
                colon = _char_in_curlies(s, i + 2, ":")
                if colon < 0:
                    buf.append(s[i:i + 2])
                    i += 2
                    continue
                flush()
                mapname = s[i + 2:colon]
                rest = s[colon + 1:end]
                bar = _char_in_curlies(rest, 0, "|")
                if bar >= 0:
                    key, dflt = rest[:bar], rest[bar + 1:]
                else:
                    key, dflt = rest, None
                parts.append((MAP, mapname, compile_template(key),
                              compile_template(dflt) if dflt else None))
                i = end + 1
                continue
            if nx.isdigit() and nx.isascii():
                flush()
                parts.append((RR if c == "$" else RC, ord(nx) - 48))
                i += 2
                continue
        buf.append(c)
        i += 1
    flush()
    return Template(s, tuple(parts))


# --- back references ---------------------------------------------------------------------
def _backref(m: Any, n: int) -> str:
    if m is None or n > m.re.groups:
        return ""
    g = m.group(n)
    return g or ""


def _backref_part(p: tuple[Any, ...], ctx: RewriteCtx, rule: Any) -> str:
    m = ctx.rr_m if p[0] == RR else ctx.rc_m
    v = _backref(m, p[1])
    if v and rule is not None and rule.escape_backrefs:
        esc = escape_backref(v, rule.escapes, rule.noplus)
        if ctx.loglevel >= 5:
            ctx.log(5, f"escaping backreference '{v}' to '{esc}'")
        return esc
    return v


# --- expansion ----------------------------------------------------------------------------
def expand_sync(tpl: Template, ctx: RewriteCtx, rule: Any = None) -> str:
    lit = tpl.literal
    if lit is not None:
        return lit
    if tpl.single_var is not None:
        return tpl.single_var(ctx)  # type: ignore[no-any-return]
    out = []
    for p in tpl.parts:
        k = p[0]
        if k == LIT:
            out.append(p[1])
        elif k == VAR:
            out.append(p[1](ctx))
        else:
            out.append(_backref_part(p, ctx, rule))
    return "".join(out)


async def expand(tpl: Template, ctx: RewriteCtx, rule: Any = None) -> str:
    if not tpl.needs_async:
        return expand_sync(tpl, ctx, rule)
    from featherd.modules.mappers.rewrite.maps import lookup_map

    out = []
    for p in tpl.parts:
        k = p[0]
        if k == LIT:
            out.append(p[1])
        elif k == VAR:
            v = p[1](ctx)
            if p[3]:
                v = await v
            out.append(v)
        elif k == MAP:
            key = await expand(p[2], ctx, rule)
            val = await lookup_map(ctx, p[1], key)
            if val is None and p[3] is not None:
                val = await expand(p[3], ctx, rule)
            if val:
                out.append(val)
        else:
            out.append(_backref_part(p, ctx, rule))
    return "".join(out)


# --- variables -----------------------------------------------------------------------------
def lookup_header(ctx: RewriteCtx, name: str) -> str:
    v = ctx.r.headers_in.get(name)
    if v is not None and name.lower() != "host":
        ctx.vary_this = f"{ctx.vary_this}, {name}" if ctx.vary_this else name
    return v if v is not None else ""


def _hdr(name: str) -> Callable[[RewriteCtx], str]:
    """lookup_header for one header name, bound at configuration time."""
    if name.lower() == "host":
        def get_host(ctx: RewriteCtx) -> str:
            v = ctx.r.headers_in.get(name)
            return v if v is not None else ""
        return get_host

    def get(ctx: RewriteCtx) -> str:
        v = ctx.r.headers_in.get(name)
        if v is None:
            return ""
        ctx.vary_this = f"{ctx.vary_this}, {name}" if ctx.vary_this else name
        return v
    return get


def _tm() -> time.struct_time:
    return time.localtime()


def _server_name(r: Request) -> str:
    from featherd.core.vhost import server_name

    n = server_name(r)
    if ":" in n and not n.startswith("["):
        return f"[{n}]"
    return n


def _server_port(r: Request) -> str:
    from featherd.core.vhost import server_port

    return str(server_port(r))


def scheme(r: Request) -> str:
    return r.server.server_scheme or ("https" if r.connection.is_tls else "http")


def _document_root(r: Request) -> str:
    from featherd.core.handlers import document_root

    return document_root(r)


def _owner(r: Request, group: bool) -> str:
    st = r.finfo
    if st is None:
        return "<unknown>"
    try:
        if group:
            import grp

            return grp.getgrgid(st.st_gid).gr_name
        import pwd

        return pwd.getpwuid(st.st_uid).pw_name
    except (KeyError, ImportError):
        return "<unknown>"


def _time_all(ctx: RewriteCtx) -> str:
    v = time.strftime("%Y%m%d%H%M%S", _tm())
    if ctx.loglevel >= 1:
        ctx.log(1, f"RESULT='{v}'")
    return v


def _remote_host(r: Request) -> str:
    c = r.connection
    return getattr(c, "remote_host", None) or c.client_ip


def _is_https(r: Request) -> str:
    fn = r.tree.extra.get("ssl_is_https")
    if fn is not None:
        return "on" if fn(r.connection) else "off"
    return "on" if r.connection.is_tls else "off"


def _s(v: Any) -> str:
    return "" if v is None or v is UNSET else str(v)


VARIABLES: dict[str, Callable[[RewriteCtx], str]] = {
    # HTTP headers
    "HTTP_ACCEPT": _hdr("Accept"),
    "HTTP_COOKIE": _hdr("Cookie"),
    "HTTP_FORWARDED": _hdr("Forwarded"),
    "HTTP_HOST": _hdr("Host"),
    "HTTP_PROXY_CONNECTION": _hdr("Proxy-Connection"),
    "HTTP_REFERER": _hdr("Referer"),
    "HTTP_USER_AGENT": _hdr("User-Agent"),
    # connection & request
    "AUTH_TYPE": lambda c: _s(c.r.ap_auth_type),
    "CONN_REMOTE_ADDR": lambda c: c.r.connection.client_ip,
    "CONTEXT_PREFIX": lambda c: _s(c.r.ctx.get("context_prefix")),
    "CONTEXT_DOCUMENT_ROOT": lambda c: _s(c.r.ctx.get("context_document_root")
                                          or _document_root(c.r)),
    "IPV6": lambda c: "on" if ":" in c.r.connection.client_ip else "off",
    "PATH_INFO": lambda c: _s(c.r.path_info),
    "QUERY_STRING": lambda c: _s(c.r.args),
    "REMOTE_ADDR": lambda c: c.r.connection.client_ip,
    "REMOTE_HOST": lambda c: _remote_host(c.r),
    "REMOTE_IDENT": lambda c: _s(getattr(c.r.connection, "remote_logname", None)),
    "REMOTE_PORT": lambda c: str(c.r.connection.client_port),
    "REMOTE_USER": lambda c: _s(c.r.user),
    "REQUEST_METHOD": lambda c: c.r.method,
    "SCRIPT_FILENAME": lambda c: _s(c.r.filename),
    # server internals
    "DOCUMENT_ROOT": lambda c: _document_root(c.r),
    "SCRIPT_GROUP": lambda c: _owner(c.r, True),
    "SCRIPT_USER": lambda c: _owner(c.r, False),
    "SERVER_ADDR": lambda c: c.r.connection.local_ip,
    "SERVER_ADMIN": lambda c: _s(c.r.server.server_admin),
    "SERVER_NAME": lambda c: _server_name(c.r),
    "SERVER_PORT": lambda c: _server_port(c.r),
    "SERVER_PROTOCOL": lambda c: c.r.protocol,
    "SERVER_SOFTWARE": lambda c: _s(getattr(c.r.connection, "server_banner", "")),
    # date and time
    "TIME_YEAR": lambda c: f"{_tm().tm_year:04d}",
    "TIME_MON": lambda c: f"{_tm().tm_mon:02d}",
    "TIME_DAY": lambda c: f"{_tm().tm_mday:02d}",
    "TIME_HOUR": lambda c: f"{_tm().tm_hour:02d}",
    "TIME_MIN": lambda c: f"{_tm().tm_min:02d}",
    "TIME_SEC": lambda c: f"{_tm().tm_sec:02d}",
    "TIME_WDAY": lambda c: str((_tm().tm_wday + 1) % 7),
    "TIME": _time_all,
    # specials
    "API_VERSION": lambda c: API_VERSION,
    "HTTPS": lambda c: _is_https(c.r),
    "IS_SUBREQ": lambda c: "true" if c.r.main is not None else "false",
    "REQUEST_FILENAME": lambda c: _s(c.r.filename),
    "REQUEST_SCHEME": lambda c: scheme(c.r),
    "REQUEST_URI": lambda c: _s(c.r.uri),
    "THE_REQUEST": lambda c: c.r.the_request,
}


def _empty(ctx: RewriteCtx) -> str:
    return ""


def _env(name: str) -> Callable[[RewriteCtx], str]:
    def get(ctx: RewriteCtx) -> str:
        r = ctx.r
        v = r.notes.get(name)
        if v is None:
            v = r.subprocess_env.get(name)
        if v is None:
            v = os.environ.get(name)
        return v if v is not None else ""
    return get


def _ssl(name: str) -> Callable[[RewriteCtx], str]:
    def get(ctx: RewriteCtx) -> str:
        fn = ctx.r.tree.extra.get("ssl_var_lookup")
        if fn is None:
            return ""
        v = fn(ctx.r, name)
        return "" if v is None else str(v)
    return get


def subreq_ok(r: Request) -> bool:
    """A sub-request is fine unless it would look up the main request's own URI."""
    return r.main is None or (bool(r.main.uri) and bool(r.uri) and r.main.uri != r.uri)


def _lookahead(kind: str, inner: str) -> Callable[[RewriteCtx], Any]:
    getter, inner_async = compile_var(inner)

    async def get(ctx: RewriteCtx) -> str:
        from featherd.core.subrequest import lookup_file, lookup_uri

        r = ctx.r
        if not ctx.uri or not subreq_ok(r):
            return ""
        path = ctx.uri
        if kind == "U":
            if ctx.perdir and not path.startswith("/"):
                path = la_u(ctx)
            rr = await lookup_uri(r, path)
        elif ctx.perdir and path.startswith("/"):
            # a file lookup is impossible without the file path: behave like LA-U
            rr = await lookup_uri(r, path)
        else:
            if ctx.perdir:
                path = ctx.perdir + path
            rr = await lookup_file(r, path)
        ctx.r = rr
        try:
            v = getter(ctx)
            if inner_async:
                v = await v
        finally:
            ctx.r = r
        if ctx.loglevel >= 5:
            ctx.log(5, f"lookahead: path={path} var={inner} -> val={v}")
        return v
    return get


def la_u(ctx: RewriteCtx) -> str:
    """The URL-path of the current per-directory URI (RewriteBase or the directory)."""
    if ctx.uri.startswith("/"):
        return ctx.uri
    from featherd.modules.mappers.rewrite.module import rewrite

    d = ctx.r.per_dir_config[rewrite.index]
    base = d.baseurl if d is not None and d.baseurl else (d.directory if d else "") or ""
    return base + ctx.uri


def compile_var(name: str) -> tuple[Callable[[RewriteCtx], Any], bool]:
    """(getter, is_async) for ``%{name}``; unknown names expand to nothing."""
    n = len(name)
    if n < 4:
        return _empty, False
    if name[3] == ":":
        if n > 4:
            pre = name[:3].upper()
            if pre == "ENV":
                return _env(name[4:]), False
            if pre == "SSL":
                return _ssl(name[4:]), False
        return _empty, False
    if n > 4 and name[4] == ":":
        if n > 5:
            pre = name[:4].upper()
            if pre == "HTTP":
                return _hdr(name[5:]), False
            if pre == "LA-U":
                return _lookahead("U", name[5:]), True
            if pre == "LA-F":
                return _lookahead("F", name[5:]), True
        return _empty, False
    return VARIABLES.get(name.upper(), _empty), False


__all__ = ["API_VERSION", "VARIABLES", "Template", "compile_template", "compile_var",
           "expand", "expand_sync", "lookup_header", "scheme", "subreq_ok"]
