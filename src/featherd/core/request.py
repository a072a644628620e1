"""The Request (request_rec) and the phase runner.

``process_request`` takes a parsed request through Apache's phases in order; internal
redirects (ErrorDocument, DirectoryIndex, mod_rewrite [PT] in .htaccess) and
sub-requests re-enter the same runner with a new Request linked by prev/next/main.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from featherd.core.access import check_access
from featherd.core.hooks import (
    DECLINED,
    DONE,
    OK,
    call_all,
    call_first,
)
from featherd.filters.chain import insert_filters
from featherd.http.headers import Headers

if TYPE_CHECKING:
    from featherd.core.config import ServerConfigTree
    from featherd.core.server import ServerRec

M_GET_HEAD = ("GET", "HEAD")

#: Methods the core knows (others get 501 unless a module registers them)
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                 "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
                 "UNLOCK", "VERSION-CONTROL", "REPORT", "CHECKOUT", "CHECKIN",
                 "UNCHECKOUT", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE",
                 "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH", "ACL", "SEARCH"}


class Request:
    """One request: request_rec's fields, snake-cased."""

    # Immutable defaults live on the class: a new request sets only what differs or is
    # mutable (a static request makes one Request; ~60 assignments were a measurable part
    # of its cost).
    the_request = ""
    method = "GET"
    protocol = "HTTP/1.1"
    proto_num = 1001
    unparsed_uri = ""
    uri = ""
    args: str | None = None
    path_info = ""
    filename: str | None = None
    canonical_filename: str | None = None
    hostname: str | None = None
    user: str | None = None
    ap_auth_type: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    content_languages: list[str] | None = None
    handler: str | None = None
    status = 200
    status_line: str | None = None
    main: Request | None = None
    prev: Request | None = None
    next: Request | None = None
    finfo: os.stat_result | None = None
    bytes_sent = 0
    header_only = False
    sent_headers = False
    chunked = False
    no_local_copy = False
    used_path_info: bool | None = None
    mtime: float | None = None
    clength: int | None = None
    eos_sent = False
    log_id: str | None = None
    body: Any = None              # the connection's body reader
    read_length = 0
    expecting_100 = False
    vlist_validator: str | None = None
    no_cache = False
    parsed_host: str | None = None
    parsed_port: int | None = None
    assbackwards = False           # HTTP/0.9: no headers
    location_sections: tuple[Any, ...] = ()
    redirect_depth = 0
    etag: str | None = None
    sent_body = False
    keepalive_ok = True
    range_header: str | None = None
    is_subrequest = False

    def __init__(self, connection: Any, server: ServerRec, tree: ServerConfigTree,
                 headers_in: Headers | None = None, request_time: float = 0.0) -> None:
        self.connection = connection
        self.server = server
        self.tree = tree
        self.headers_in = Headers() if headers_in is None else headers_in
        self.headers_out = Headers()
        self.err_headers_out = Headers()
        self.subprocess_env: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        self.request_time = request_time or time.time()
        self.per_dir_config: list[Any] = server.lookup_defaults
        self.output_filters: list[Any] = []
        self.allowed_methods: set[str] = set()
        self.ctx: dict[Any, Any] = {}
        self.input_filters: list[Any] = []    # featherd.filters.input

    # -- helpers modules use -----------------------------------------------------------
    def dconf(self, module: Any) -> Any:
        return self.per_dir_config[module.index]

    def sconf(self, module: Any) -> Any:
        return self.server.module_config[module.index]

    @property
    def initial(self) -> Request:
        r = self
        while r.prev is not None:
            r = r.prev
        while r.main is not None:
            r = r.main
        return r

    @property
    def final(self) -> Request:
        r = self
        while r.next is not None:
            r = r.next
        return r

    def log_error(self, level: int, msg: str) -> None:
        log = self.server.error_log or self.tree.main.error_log
        if log is not None:
            log.log(level, msg, client=self.connection.client_ip)

    async def read_body(self, limit: int = -1) -> bytes:
        """Read (part of) the request body; b"" at its end. 100-continue goes out here."""
        if self.body is None:
            return b""
        if self.input_filters:
            from featherd.filters.input import read_filtered

            return await read_filtered(self, limit)
        return await self.body.read(self, limit)

    async def read_all_body(self) -> bytes:
        chunks = []
        while True:
            c = await self.read_body()
            if not c:
                return b"".join(chunks)
            chunks.append(c)

    def construct_url(self, path: str) -> str:
        from featherd.core.vhost import construct_url

        return construct_url(self, path)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


# --- URI handling ----------------------------------------------------------------------
def _to_fs_str(b: bytes) -> str:
    """URI bytes as the str the filesystem functions take (UTF-8, surrogateescape), so
    that /d%C3%A9 maps to the file named "dé" and any other bytes still round-trip."""
    return b.decode("utf-8", "surrogateescape")


class BadURI(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def getparents(path: str) -> str:
    """ap_getparents: remove ./ and ../ segments (the URI has been decoded)."""
    if "/." not in path and not path.startswith("."):
        return path
    segs = path.split("/")
    out: list[str] = []
    for i, s in enumerate(segs):
        if s == ".":
            if i == len(segs) - 1:
                out.append("")
            continue
        if s == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segs) - 1:
                out.append("")
            continue
        out.append(s)
    res = "/".join(out)
    return res if res.startswith("/") or not path.startswith("/") else "/" + res


def _above_root(path: str) -> bool:
    depth = 0
    for seg in path.split("/")[1:]:
        if seg == "..":
            depth -= 1
            if depth < 0:
                return True
        elif seg not in ("", "."):
            depth += 1
    return False


def no2slash(path: str) -> str:
    while "//" in path:
        path = path.replace("//", "/")
    return path


def parse_uri(r: Request, target: str) -> None:
    """Split the request target into uri/args/hostname as ap_parse_uri does, decode it once
    and normalise it (no ``..`` escapes the root; %2F stays refused as in Apache)."""
    r.unparsed_uri = target
    if target == "*":
        r.uri = "*"
        return
    if not target.startswith("/"):
        # absolute-form: scheme://host[:port]/path
        low = target[:10].lower()
        if "://" in target and (low.startswith("http://") or low.startswith("https://")):
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            hostport = rest if slash < 0 else rest[:slash]
            path = "/" if slash < 0 else rest[slash:]
            if "@" in hostport:
                hostport = hostport.rsplit("@", 1)[1]
            host, _, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
            r.parsed_host = (host or hostport).lower()
            r.parsed_port = int(port) if port.isdigit() else None
            r.hostname = r.parsed_host
            target = path
        else:
            raise BadURI(400)
    q = target.find("?")
    if q >= 0:
        r.args = target[q + 1:]
        raw = target[:q]
    else:
        raw = target
    if "#" in raw:
        raw = raw.split("#", 1)[0]
    if "%" in raw:
        # ap_unescape_url: %00 and %2F are refused (400 and 404); bad escapes are 400
        low = raw.lower()
        if "%2f" in low:
            raise BadURI(404)
        if "%00" in low:
            raise BadURI(404)
        i = raw.find("%")
        while i >= 0:
            h = raw[i + 1:i + 3]
            if len(h) < 2 or any(c not in "0123456789abcdefABCDEF" for c in h):
                raise BadURI(400)
            i = raw.find("%", i + 3)
        uri = _to_fs_str(unquote_to_bytes(raw.encode("latin-1", "replace")))
    elif raw.isascii():
        uri = raw
    else:
        uri = _to_fs_str(raw.encode("latin-1", "replace"))
    if "\x00" in uri:
        raise BadURI(400)
    if "/." in uri and _above_root(uri):
        # httpd answers a path that climbs above the root with 400
        raise BadURI(400)
    uri = getparents(uri)
    if not uri.startswith("/"):
        raise BadURI(400)
    r.uri = uri


# --- the phase runner ------------------------------------------------------------------
async def run_phases(r: Request) -> int:
    """translate_name .. fixups, the handler. Returns OK/DONE or an HTTP status.

    The runners answer at once when no function of a phase has to wait (call_first /
    call_all; see core/hooks.py), so a request that never waits makes no coroutines
    for its phases."""
    hooks = r.tree.hooks.by_name
    rv = call_first(hooks["translate_name"], r)
    if rv.__class__ is not int:
        rv = await rv
    if rv == DECLINED:
        rv = 500
    if rv != OK:
        return rv
    rv = call_first(hooks["map_to_storage"], r)
    if rv.__class__ is not int:
        rv = await rv
    if rv != OK and rv != DECLINED and rv != DONE:
        return rv
    rv = call_all(hooks["header_parser"], r)
    if rv.__class__ is not int:
        rv = await rv
    if rv != OK:
        return rv
    rv = check_access(r)
    if rv.__class__ is not int:
        rv = await rv
    if rv != OK:
        return rv
    rv = call_first(hooks["type_checker"], r)
    if rv.__class__ is not int:
        rv = await rv
    if rv != OK and rv != DECLINED:
        return rv
    rv = call_all(hooks["fixups"], r)
    if rv.__class__ is not int:
        rv = await rv
    if rv != OK:
        return rv
    return await invoke_handler(r)


@lru_cache(maxsize=256)
def _type_handler_name(content_type: str) -> str:
    """The handler name a content type stands for (ap_invoke_handler's fallback)."""
    return content_type.split(";", 1)[0].strip().lower()


async def invoke_handler(r: Request) -> int:
    tree = r.tree
    for fn, is_async in tree.hooks.by_name["insert_filter"].funcs:
        x = fn(r)
        if is_async:
            await x
    insert_filters(r)
    handlers = tree.handlers
    name = r.handler or (_type_handler_name(r.content_type) if r.content_type else None)
    fn = handlers.get(name) if name else None
    if fn is None and name and "/" in name:
        fn = handlers.get(name.split("/", 1)[0] + "/*")
    rv: Any = DECLINED
    if fn is not None:
        rv = fn(r)
        if hasattr(rv, "__await__"):
            rv = await rv
    if rv == DECLINED:
        rv = call_first(r.tree.hooks.by_name["handler"], r)
        if rv.__class__ is not int:
            rv = await rv
    if rv == DECLINED:
        # no handler claimed it: the default handler (core)
        fn = handlers.get("default-handler")
        if fn is not None and (r.handler is None or r.handler in handlers or True):
            if r.handler and r.handler not in handlers and "/" not in r.handler:
                r.log_error(3, f"handler \"{r.handler}\" not found for: {r.filename}")
            rv = fn(r)
            if hasattr(rv, "__await__"):
                rv = await rv
    if rv == DECLINED:
        rv = 500
    # output filters that had to wait (SSI sub-requests, exec) finish before the handler
    # counts as done: they register their tasks here
    waits = r.ctx.get("filter_waits")
    while waits:
        await waits.pop(0)
    return rv
