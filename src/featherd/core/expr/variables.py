"""ap_expr's variables (%{NAME}): request headers, request_rec fields, the
connection, the time, and those that modules register (util_expr_eval.c's
request_var_names, conn_var_names, misc_var_names; mod_ssl's SSL_*)."""

from __future__ import annotations

import grp
import pwd
import time
from collections.abc import Callable
from typing import Any

from featherd.core.expr.base import API_VERSION, Ctx

_HEADER_VARS = {"HTTP_USER_AGENT": "User-Agent", "HTTP_PROXY_CONNECTION": "Proxy-Connection",
                "HTTP_REFERER": "Referer", "HTTP_COOKIE": "Cookie",
                "HTTP_FORWARDED": "Forwarded", "HTTP_HOST": "Host", "HTTP_ACCEPT": "Accept"}


def _header_var(header: str) -> Callable[[Ctx], str | None]:
    def get(ctx: Ctx) -> str | None:
        r = ctx.r
        if r is None:
            return ""
        if header != "Host":
            ctx.add_vary(header)
        return r.headers_in.get(header)
    return get


def _scheme(r: Any) -> str:
    if r.server is not None and getattr(r.server, "server_scheme", None):
        return str(r.server.server_scheme)
    return "https" if _is_https(r.connection) else "http"


def _is_https(c: Any) -> bool:
    if c is None:
        return False
    from featherd.modules.ssl.vars import is_https

    return is_https(c) or bool(getattr(c, "is_tls", False))


def _server_name(r: Any) -> str:
    from featherd.core.vhost import server_name

    return server_name(r)


def _server_port(r: Any) -> str:
    from featherd.core.vhost import server_port

    return str(server_port(r))


def _document_root(r: Any) -> str:
    from featherd.core.handlers import document_root

    return document_root(r)


def _owner(r: Any, group: bool) -> str:
    st = r.finfo
    if st is None:
        return ""
    try:
        return grp.getgrgid(st.st_gid).gr_name if group else pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return ""


def _stamp(t: float | None) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.localtime(t or 0))


def _ipv6(c: Any) -> str:
    ip = getattr(c, "client_ip", "") or ""
    return "on" if ":" in ip and not ip.lower().startswith("::ffff:") else "off"


def _banner(r: Any) -> str:
    from featherd.core.worker import server_banner

    return server_banner(r.tree) if r is not None else ""


_R = Callable[[Any], Any]
_REQUEST_VARS: dict[str, _R] = {
    "REQUEST_METHOD": lambda r: r.method,
    "REQUEST_SCHEME": _scheme,
    "REQUEST_URI": lambda r: r.uri,
    "REQUEST_FILENAME": lambda r: r.filename,
    "REMOTE_HOST": lambda r: r.connection.remote_host or r.connection.client_ip,
    "REMOTE_IDENT": lambda r: r.connection.remote_logname,
    "REMOTE_USER": lambda r: r.user,
    "SERVER_ADMIN": lambda r: r.server.server_admin,
    "SERVER_NAME": _server_name,
    "SERVER_PORT": _server_port,
    "SERVER_PROTOCOL": lambda r: r.protocol,
    "SCRIPT_FILENAME": lambda r: r.filename,
    "PATH_INFO": lambda r: r.path_info,
    "QUERY_STRING": lambda r: r.args,
    "IS_SUBREQ": lambda r: "true" if r.main is not None else "false",
    "DOCUMENT_ROOT": _document_root,
    "AUTH_TYPE": lambda r: r.ap_auth_type,
    "THE_REQUEST": lambda r: r.the_request,
    "CONTENT_TYPE": lambda r: r.content_type,
    "HANDLER": lambda r: r.handler,
    "REQUEST_LOG_ID": lambda r: r.log_id,
    "SCRIPT_USER": lambda r: _owner(r, False),
    "SCRIPT_GROUP": lambda r: _owner(r, True),
    "DOCUMENT_URI": lambda r: r.uri,
    "LAST_MODIFIED": lambda r: _stamp(r.mtime),
    "CONTEXT_PREFIX": lambda r: "",
    "CONTEXT_DOCUMENT_ROOT": _document_root,
    "REQUEST_STATUS": lambda r: str(r.status) if r.status else "",
    "REMOTE_ADDR": lambda r: r.connection.client_ip,
    "REMOTE_PORT": lambda r: str(r.connection.client_port),
}
_CONN_VARS: dict[str, _R] = {
    "HTTPS": lambda c: "on" if _is_https(c) else "off",
    "IPV6": _ipv6,
    "CONN_LOG_ID": lambda c: getattr(c, "log_id", None),
    "CONN_REMOTE_ADDR": lambda c: c.client_ip,
    "HTTP2": lambda c: "off",
}
_TIME_VARS: dict[str, Callable[[time.struct_time], str]] = {
    "TIME_YEAR": lambda t: f"{t.tm_year:04d}", "TIME_MON": lambda t: f"{t.tm_mon:02d}",
    "TIME_DAY": lambda t: f"{t.tm_mday:02d}", "TIME_HOUR": lambda t: f"{t.tm_hour:02d}",
    "TIME_MIN": lambda t: f"{t.tm_min:02d}", "TIME_SEC": lambda t: f"{t.tm_sec:02d}",
    "TIME_WDAY": lambda t: str((t.tm_wday + 1) % 7),
    "TIME": lambda t: time.strftime("%Y%m%d%H%M%S", t),
}
VARIABLES = (*_HEADER_VARS, *_REQUEST_VARS, *_TIME_VARS, "SERVER_SOFTWARE", "API_VERSION",
             *_CONN_VARS)

#: variables added by modules (register("var", ...))
_EXT_VARS: dict[str, Callable[[Ctx], str | None]] = {}


def _lookup_var(name: str) -> Callable[[Ctx], str | None] | None:
    u = name.upper()
    if u in _HEADER_VARS:
        return _header_var(_HEADER_VARS[u])
    f = _REQUEST_VARS.get(u)
    if f is not None:
        rf = f
        return lambda ctx: "" if ctx.r is None else rf(ctx.r)
    t = _TIME_VARS.get(u)
    if t is not None:
        tf = t
        return lambda ctx: tf(time.localtime())
    if u == "SERVER_SOFTWARE":
        return lambda ctx: _banner(ctx.r)
    if u == "API_VERSION":
        return lambda ctx: API_VERSION
    cf = _CONN_VARS.get(u)
    if cf is not None:
        cff = cf
        return lambda ctx: "" if ctx.c is None else cff(ctx.c)
    ext = _EXT_VARS.get(u)
    if ext is not None:
        return ext
    if name.startswith("SSL_"):           # mod_ssl's ssl_expr_lookup (case-sensitive)
        var = name[4:]

        def ssl_var(ctx: Ctx) -> str | None:
            from featherd.modules.ssl.vars import _ssl_var, sslconn_of

            t = sslconn_of(ctx.c) if ctx.c is not None else None
            return _ssl_var(t, var) if t is not None and t.sslobj is not None else None
        return ssl_var
    return None
