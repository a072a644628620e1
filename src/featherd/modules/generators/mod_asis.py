"""mod_asis: send a file that carries its own HTTP headers, as in Apache 2.2.

A file handled by ``send-as-is`` (``AddHandler send-as-is asis``; the content type
``httpd/send-as-is`` also selects it) starts with header lines as a CGI script writes
them: ``Status: 301 Moved`` sets the status (and reason), ``Content-Type`` the type, the
rest become response headers; after the blank line comes the body, sent as it is (from
the file, without copying). A ``Location:`` with a local path (and status 200 or a
redirect) is an internal redirect, as a CGI script's would be. Only GET (and HEAD);
another method goes on to the next handler. A malformed header block is logged and the
response sent anyway, as Apache does (it ignores the scan's result).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.filters.buckets import EOS, FileBucket
from featherd.filters.chain import pass_brigade
from featherd.http.status import is_redirect

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
ASIS_MAGIC_TYPE = "httpd/send-as-is"
MAX_HEADER_LINE = 8190

asis = Module("asis_module", "mod_asis.c", description="Sends files that contain their "
                                                       "own HTTP headers")
asis_module = asis


class FileLines:
    """getsfunc_FILE: the header lines of a file's text, then where its body starts."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    async def getline(self, timeout: float) -> tuple[int, str]:
        data = self.data
        if self.pos >= len(data):
            return 0, ""
        nl = data.find(b"\n", self.pos, self.pos + MAX_HEADER_LINE)
        end = nl if nl >= 0 else min(len(data), self.pos + MAX_HEADER_LINE)
        raw = data[self.pos:end]
        self.pos = end + 1 if nl >= 0 else end
        return 1, raw.replace(b"\r", b"").decode("latin-1")


@asis.handler("send-as-is", ASIS_MAGIC_TYPE)
async def asis_handler(r: Request) -> int:
    from featherd.core.http_request import internal_redirect
    from featherd.modules.generators.cgi_script import scan_script_headers

    r.allowed_methods.add("GET")
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    if r.finfo is None:
        r.log_error(ERROR, f"File does not exist: {r.filename}")
        return 404
    try:
        fd = os.open(r.filename or "", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){e.strerror}: file permissions deny server "
                           f"access: {r.filename}")
        return 403
    size = os.fstat(fd).st_size
    head = os.pread(fd, min(size, 65536), 0)
    lines = FileLines(head)
    await scan_script_headers(r, lines, 0.0, [])      # its verdict is ignored (2.2)
    location = r.headers_out.get("Location")
    if location and location.startswith("/") and (r.status == 200
                                                  or is_redirect(r.status)):
        os.close(fd)
        r.status = 200
        r.status_line = None
        r.method = "GET"                  # the redirect is a GET whatever came in
        r.headers_out.unset("Location")
        await internal_redirect(r, location)
        return OK
    if r.header_only:
        os.close(fd)
        pass_brigade(r, [EOS])
        return OK
    pass_brigade(r, [FileBucket(fd, lines.pos, size - lines.pos, r.filename or ""), EOS])
    return OK


__all__ = ["asis", "asis_module"]
