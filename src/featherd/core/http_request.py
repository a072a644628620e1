"""From a parsed request head to a logged response: ap_read_request's checks,
ap_process_request_internal, ap_die (ErrorDocument) and internal redirects; sub-requests
are in :mod:`featherd.core.subrequest`."""

from __future__ import annotations

import traceback
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.core.hooks import DONE, OK, call_all
from featherd.core.request import (
    KNOWN_METHODS,
    BadURI,
    Request,
    parse_uri,
    run_phases,
)
from featherd.core.vhost import clean_host, server_name, server_port
from featherd.core.walk import WalkError, location_confs, location_walk
from featherd.errors import HTTPError
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade
from featherd.http.headers import Headers
from featherd.http.status import error_page, is_redirect, status_line

if TYPE_CHECKING:
    from featherd.http.parser import RequestHead

ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7


def new_request(conn: Any, head: RequestHead) -> Request:
    tree = conn.tree
    r = Request(conn, conn.addr_default_server(), tree)
    r.the_request = head.the_request
    r.method = head.method
    major, minor = head.version
    r.proto_num = major * 1000 + minor
    r.protocol = f"HTTP/{major}.{minor}" if r.proto_num >= 1000 else "HTTP/0.9"
    r.assbackwards = r.proto_num < 1000
    r.headers_in = Headers(head.headers)
    r.header_only = head.method == "HEAD"
    r.expecting_100 = head.expect_continue
    r.body = getattr(conn, "current_body", None)
    return r


def read_request_checks(r: Request, head: RequestHead) -> int:
    """The checks ap_read_request makes once the head is in; 0 when fine."""
    conn = r.connection
    env = r.subprocess_env
    try:
        parse_uri(r, head.target)
    except BadURI as e:
        conn.select_server(r, None)
        return e.status
    host = r.hostname
    hosts = r.headers_in.get_all("Host")
    hv = (hosts[0] if len(hosts) == 1 else ", ".join(hosts)) if hosts else None  # as apr
    if host is None and hv is not None:
        h = clean_host(hv)
        if h is None:
            conn.select_server(r, None)
            r.log_error(ERROR, f"Client sent malformed Host header: {hv}")
            return 400
        r.hostname = h or None
        p = _host_port(hv)
        if p is not None:
            r.ctx["host_port"] = p
    conn.select_server(r, r.hostname)
    if "downgrade-1.0" in env and r.proto_num > 1000:
        r.proto_num = 1000
    if (r.proto_num >= 1001 and r.hostname is None) or (r.proto_num == 1001 and hv is None):
        r.log_error(ERROR, "client sent HTTP/1.1 request without hostname (see RFC2616 "
                           "section 14.23): " + r.uri)
        return 400
    if r.uri == "*" and r.method != "OPTIONS":
        return 400
    if head.expect_continue is False:
        exp = r.headers_in.get("Expect")
        if exp and exp.strip().lower() != "100-continue":
            r.log_error(INFO, f"client sent an unrecognized expectation value of Expect: {exp}")
            return 417
    if r.method not in KNOWN_METHODS and r.method not in r.tree.extra.get("methods", ()):
        r.log_error(ERROR, f"Invalid method in request {r.the_request}")
        return 501
    return 0


@lru_cache(maxsize=1024)
def _host_port(hv: str) -> int | None:
    """The port a Host field names, if any."""
    if ":" in hv and not hv.strip().endswith("]"):
        p = hv.rsplit(":", 1)[1]
        if p.isdigit():
            return int(p)
    return None


async def process_request_internal(r: Request) -> int:
    """ap_process_request_internal, then the handler."""
    if not r.is_subrequest and r.prev is None:
        rv = call_all(r.tree.hooks.by_name["post_read_request"], r)
        if rv.__class__ is not int:
            rv = await rv
        if rv != OK:
            return rv
    locs = location_walk(r)
    r.location_sections = tuple(locs)
    r.per_dir_config = location_confs(r, locs)
    if r.method == "TRACE" and r.main is None and r.prev is None:
        return await trace(r)
    if r.uri == "*":
        return options_star(r)
    try:
        return await run_phases(r)
    except WalkError as e:
        if e.log:
            r.log_error(e.level, e.log)
        return e.status


async def trace(r: Request) -> int:
    """ap_send_http_trace: echo the request as message/http, streamed (so chunked on
    HTTP/1.1: the brigade has no EOS). TraceEnable off: 405; a body is refused (413)
    unless TraceEnable extended, which echoes up to 64k of it."""
    sc = r.server.module_config[core.index]
    te = sc.trace_enable if sc.trace_enable is not UNSET else "on"
    if te == "off":
        r.notes["error-notes"] = "TRACE denied by server configuration"
        return 405
    body = b""
    if r.body is not None:
        if te != "extended":
            r.notes["error-notes"] = "TRACE with a request body is not allowed"
            r.log_error(ERROR, f"{r.method} with body is not allowed for {r.uri}")
            return 413
        cl = r.body.content_length
        if cl is not None and cl > 65536:
            r.notes["error-notes"] = "Extended TRACE request bodies cannot exceed 64k\n"
            return 413
        chunks: list[bytes] = []
        n = 0
        while True:
            c = await r.read_body()
            if not c:
                break
            n += len(c)
            if n > 65536:
                r.notes["error-notes"] = "Extended TRACE request bodies cannot exceed 64k\n"
                await r.body.discard(r)
                return 413
            chunks.append(c)
        body = b"".join(chunks)
    lines = [r.the_request]
    for k, v in r.headers_in:
        lines.append(f"{k}: {v}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    r.content_type = "message/http"
    pass_brigade(r, [head + body] if body else [head])
    return OK


def options_star(r: Request) -> int:
    """http_send_options: "OPTIONS *" is a ping, answered without an Allow header."""
    r.headers_out.set("Content-Length", "0")
    r.content_type = None
    pass_brigade(r, [EOS])
    return OK


def make_allow(r: Request) -> str:
    allowed = ["GET", "HEAD", "POST", "OPTIONS"]
    sc = r.server.module_config[core.index]
    te = sc.trace_enable if sc.trace_enable is not UNSET else "on"
    if te != "off":
        allowed.append("TRACE")
    elif r.method == "TRACE":
        # refused before any handler ran: httpd sends an empty Allow
        return ""
    for m in sorted(r.allowed_methods):
        if m not in allowed:
            allowed.append(m)
    return ",".join(allowed)


def signature(r: Request) -> str:
    c = r.per_dir_config[core.index]
    sig = c.server_signature
    if sig is UNSET or sig == "off":
        return ""
    host = server_name(r)
    port = server_port(r)
    ver = r.connection.server_banner
    if sig == "email" and r.server.server_admin:
        return (f'<hr>\n<address>{ver} Server at <a href="mailto:{r.server.server_admin}">'
                f"{host}</a> Port {port}</address>\n")
    return f"<hr>\n<address>{ver} Server at {host} Port {port}</address>\n"


def send_error_response(r: Request, status: int, recursive_error: int = 0) -> None:
    """ap_send_error_response: Apache's canned page (or an ErrorDocument text)."""
    location = r.headers_out.get("Location") or r.err_headers_out.get("Location")
    r.eos_sent = False
    r.output_filters = []
    for fn, _ in r.tree.hooks["insert_error_filter"].funcs:
        fn(r)
    if status in (204, 304):
        r.status = status
        pass_brigade(r, [EOS])
        return
    tmp = r.headers_out
    r.headers_out = r.err_headers_out
    r.err_headers_out = Headers()
    del tmp
    r.status = status
    if (is_redirect(status) or status == 201) and location:
        r.headers_out.set("Location", location)
    r.content_languages = None
    r.content_encoding = None
    if "suppress-error-charset" in r.subprocess_env:
        r.content_type = "text/html"
    else:
        r.content_type = "text/html; charset=iso-8859-1"
    if status in (405, 501):
        r.headers_out.set("Allow", make_allow(r))
    r.headers_out.unset("Content-Length")
    r.range_header = None
    if r.header_only:
        pass_brigade(r, [EOS])   # no body, hence no Content-Length either (as httpd)
        return
    custom = r.ctx.get("custom_text")
    if custom is not None:
        body = custom
    else:
        extra = ""
        if recursive_error:
            extra = (f"<p>Additionally, a {status_line(recursive_error)}\nerror was "
                     "encountered while trying to use an ErrorDocument to handle the "
                     "request.</p>\n")
        body = error_page(status, r, signature(r), extra)
    if "redirect-carefully" in r.subprocess_env:
        pass
    pass_brigade(r, [body.encode("latin-1", "replace"), EOS])


async def die(r: Request, status: int) -> None:
    """ap_die: ErrorDocument (text, local URL, external URL) or the canned page."""
    if status == DONE:
        return
    if r.sent_headers:
        # too late for an error page: the response is on its way
        r.connection.keepalive_ok_after = False
        r.keepalive_ok = False
        r.connection.abort()
        return
    recursive = 0
    if r.status != 200 and r.prev is not None and r.ctx.get("is_error_doc"):
        # the ErrorDocument itself failed: report the original error
        recursive = status
        orig = r
        while orig.prev is not None and orig.prev.status != 200:
            orig = orig.prev
        status = orig.status
        # the canned page names the URL the client asked for (ap_die sends it for orig)
        shown, r.uri = r.uri, orig.uri
        try:
            await _send_canned(r, status, recursive)
        finally:
            r.uri = shown
        return
    r.status = status
    docs = r.per_dir_config[core.index].error_documents
    doc = docs.get(status) if docs else None
    if doc is not None and not r.is_subrequest:
        kind, target = doc
        if kind == "text":
            r.ctx["custom_text"] = target
        elif kind == "local":
            if status != 200:
                r.subprocess_env["REDIRECT_STATUS"] = str(status)
            await internal_redirect(r, target, error_status=status)
            return
        elif kind == "external":
            if status == 401:
                r.log_error(ERROR, "cannot use a full URL in a 401 ErrorDocument directive "
                                   "--- ignoring!")
            else:
                r.headers_out.set("Location", target)
                status = 302
                r.status = 302
    await _send_canned(r, status, 0)


async def _send_canned(r: Request, status: int, recursive: int) -> None:
    send_error_response(r, status, recursive)


def _rename_env(env: dict[str, str]) -> dict[str, str]:
    return {f"REDIRECT_{k}": v for k, v in env.items()}


async def internal_redirect(r: Request, new_uri: str, error_status: int = 0) -> None:
    """ap_internal_redirect: run a new request for ``new_uri``; r.next links to it."""
    sc = r.server.module_config[core.index]
    limit = sc.redirect_limit if sc.redirect_limit is not UNSET else 10
    if r.redirect_depth + 1 > limit:
        r.log_error(ERROR, f"Request exceeded the limit of {limit} internal redirects due to "
                           "probable configuration error. Use 'LimitInternalRecursion' to "
                           "increase the limit if necessary. Use 'LogLevel debug' to get a "
                           "backtrace.")
        await _send_canned(r, 500, 0)
        return
    new = Request(r.connection, r.server, r.tree)
    new.prev = r
    r.next = new
    new.redirect_depth = r.redirect_depth + 1
    new.the_request = r.the_request
    new.method = r.method
    new.protocol = r.protocol
    new.proto_num = r.proto_num
    new.assbackwards = r.assbackwards
    new.header_only = r.header_only
    new.headers_in = r.headers_in
    new.hostname = r.hostname
    new.parsed_port = r.parsed_port
    new.request_time = r.request_time
    new.body = r.body
    new.expecting_100 = r.expecting_100
    new.notes = r.notes
    new.ctx["host_port"] = r.ctx.get("host_port")
    new.subprocess_env = _rename_env(r.subprocess_env)
    new.subprocess_env["REDIRECT_URL"] = r.uri
    if r.args:
        new.subprocess_env["REDIRECT_QUERY_STRING"] = r.args
    new.subprocess_env["REDIRECT_STATUS"] = str(r.status)   # always, as httpd
    new.user = r.user
    new.ap_auth_type = r.ap_auth_type
    new.err_headers_out = r.err_headers_out
    new.range_header = r.range_header
    new.no_cache = r.no_cache                  # as internal_internal_redirect does
    new.vlist_validator = r.vlist_validator
    if error_status:
        new.status = error_status
        new.ctx["is_error_doc"] = True
        new.range_header = None
        if r.method not in ("GET", "HEAD"):
            new.subprocess_env["REDIRECT_REQUEST_METHOD"] = r.method
            new.method = "GET"
        new.subprocess_env["REDIRECT_STATUS"] = str(error_status)
    try:
        parse_uri(new, new_uri)
    except BadURI as e:
        await die(new, e.status)
        return
    new.unparsed_uri = new_uri
    try:
        rv = await process_request_internal(new)
    except HTTPError as e:
        rv = e.status
    if rv not in (OK, DONE):
        await die(new, rv)
    elif not new.eos_sent and not new.sent_headers:
        pass


async def handle(conn: Any, head: RequestHead) -> Request:
    """Everything for one request on a connection; returns the (initial) request."""
    r = new_request(conn, head)
    r.range_header = r.headers_in.get("Range") if r.method == "GET" else None
    try:
        st = read_request_checks(r, head)
        if st:
            r.status = st
            if st in (400, 414, 501):
                r.keepalive_ok = st == 501 and False
            await die(r, st)
        else:
            try:
                rv = await process_request_internal(r)
            except HTTPError as e:
                if e.log:
                    r.log_error(ERROR, e.log)
                rv = e.status
            if rv not in (OK, DONE):
                await die(r, rv)
        final = r.final
        if not final.eos_sent:
            if not final.sent_headers and final.status >= 400 and not final.ctx.get("wrote"):
                pass
            pass_brigade(final, [EOS])
            waits = final.ctx.get("filter_waits")    # filters that work asynchronously
            while waits:
                await waits.pop(0)
    except Exception:
        r.log_error(ERROR, "internal error: " + traceback.format_exc().replace("\n", " | "))
        final = r.final
        if not final.sent_headers:
            try:
                final.status = 500
                final.ctx.pop("custom_text", None)
                send_error_response(final, 500)
            except Exception:
                conn.abort()
        else:
            conn.abort()
    if conn.pending or conn.paused_writing:
        await conn.drain_response(r)
    return r


def log_request(r: Request) -> Any:
    """The log_transaction hook; an awaitable only when a logger must wait (mod_ident):
    ``rv = log_request(r); if rv is not None: await rv``."""
    try:
        rv = call_all(r.tree.hooks.by_name["log_transaction"], r)
    except Exception:
        _log_failed(r)
        return None
    if rv.__class__ is not int and rv is not None:
        return _log_wait(r, rv)
    return None


def release_request(r: Request) -> None:
    """After the log: the requests' filters let go of them. A filter object keeps its
    request and the request its filters; without this, every filtered response would
    stay in memory until the cyclic garbage collector came by (it then runs more often,
    each time over all of them)."""
    rr: Request | None = r
    while rr is not None:
        if rr.output_filters:
            rr.output_filters = []
        if rr.input_filters:
            rr.input_filters = []
        rr = rr.next


async def _log_wait(r: Request, pending: Any) -> None:
    try:
        await pending
    except Exception:
        _log_failed(r)


def _log_failed(r: Request) -> None:
    r.log_error(ERROR, "log_transaction failed: " + traceback.format_exc().replace("\n", " | "))
