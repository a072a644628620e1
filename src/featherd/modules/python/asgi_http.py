"""The HTTP side of mod_asgi: the ``http`` scope and one request's receive() and send().

``build_scope`` makes the scope as the ASGI HTTP spec has it (version 3.0, spec_version
2.3: ``path`` decoded with ``root_path`` included, ``raw_path`` as the client sent it
unless a rewrite changed the path, headers as lower-cased latin-1 bytes). ``Cycle`` is
the channel of one request: ``receive()`` hands out the body as it arrives, then waits
for the client to go away (or the response to end) and says ``http.disconnect``;
``send()`` takes ``http.response.start``, ``http.response.body`` (streamed through the
output filters, waiting for a slow client) and ``http.response.pathsend`` (a file
bucket). websocket.py builds its scope from this one and uses a Cycle for the
``websocket.http.response`` extension. mod_asgi.py holds the module and the handler.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from featherd.errors import HTTPError
from featherd.filters.buckets import EOS, FileBucket
from featherd.filters.chain import pass_brigade
from featherd.http.status import STATUS_LINES
from featherd.modules.python.common import apply_headers, check_header

if TYPE_CHECKING:
    from featherd.core.request import Request


# --- the scope ---------------------------------------------------------------------------
def _text(s: str) -> str:
    """A path as the str ASGI wants: r.uri holds UTF-8 (undecodable bytes kept as
    surrogates); those become U+FFFD here."""
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def raw_path(r: Request) -> bytes:
    """What the client sent as the path, unless a rewrite changed the path since."""
    raw = r.unparsed_uri
    uri = r.uri
    if raw == uri:
        try:
            return raw.encode("latin-1")
        except UnicodeEncodeError:
            return raw.encode("latin-1", "replace")
    q = raw.find("?")
    if q >= 0:
        raw = raw[:q]
    if raw == uri or (raw.startswith("/") and "%" in raw and
                      unquote(raw, errors="surrogateescape") == uri):
        return raw.encode("latin-1", "replace")
    return quote(uri.encode("utf-8", "surrogateescape"), safe="/:@!$&'()*+,;=~").encode()


def scope_headers(r: Request) -> list[tuple[bytes, bytes]]:
    """The request's header fields as ASGI has them: lower-cased latin-1 bytes."""
    try:
        return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r.headers_in]
    except UnicodeEncodeError:              # a module put a non-latin-1 field there
        return [(k.lower().encode("latin-1", "replace"), v.encode("latin-1", "replace"))
                for k, v in r.headers_in]


def build_scope(r: Request, root_path: str, state: dict[str, Any],
                version: str = "3.0") -> dict[str, Any]:
    conn = r.connection
    uri = r.uri
    args = r.args
    return {
        "type": "http",
        "asgi": {"version": version, "spec_version": "2.3"},
        "http_version": "1.1" if r.proto_num >= 1001 else "1.0",
        "method": r.method,
        "scheme": "https" if conn.is_tls else "http",
        "path": uri if uri.isascii() else _text(uri),
        "raw_path": raw_path(r),
        "query_string": args.encode("latin-1", "replace") if args else b"",
        "root_path": root_path if root_path.isascii() else _text(root_path),
        "headers": scope_headers(r),
        "client": (conn.client_ip, conn.client_port),
        "server": (conn.local_ip, conn.local_port),
        "state": state.copy() if state else {},
        "extensions": {"http.response.pathsend": {},
                       "featherd": {"remote_user": r.user, "auth_type": r.ap_auth_type}},
    }


# --- receive() and send() ----------------------------------------------------------------
_NAMES: dict[bytes, str] = {}        # header names already checked, decoded


def _response_headers(raw: Any) -> list[tuple[str, str]]:
    """http.response.start's headers as str pairs; a field that would split the
    response (CR, LF, NUL, a bad name) is refused."""
    out = []
    names = _NAMES
    for k, v in raw:
        name = names.get(k)
        if name is None or b"\n" in v or b"\r" in v or b"\0" in v:
            name = k.decode("latin-1")
            val = v.decode("latin-1")
            check_header(name, val)
            if len(names) < 512 and k.__class__ is bytes:
                names[k] = name
            out.append((name, val))
        else:
            out.append((name, v.decode("latin-1")))
    return out


class Cycle:
    """receive() and send() of one request."""

    __slots__ = ("applied", "body_done", "body_error", "complete", "conn", "finished",
                 "headers", "r", "started", "status", "status_line", "waiter")

    def __init__(self, r: Request) -> None:
        self.r = r
        self.conn = r.connection
        self.body_done = False
        self.body_error = 0
        self.started = False
        self.applied = False
        self.complete = False
        self.finished = False
        self.status = 200
        self.status_line: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.waiter: asyncio.Future[None] | None = None

    async def receive(self) -> dict[str, Any]:
        if not self.body_done:
            r = self.r
            body = r.body
            if body is None:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                data = await r.read_body()
            except HTTPError as e:
                self.body_error = e.status
                self.body_done = True
                return {"type": "http.disconnect"}
            more = bool(data) and not body.done and not (
                body.content_length is not None and body.received >= body.content_length
                and not body.rest)
            if not more:
                self.body_done = True
            return {"type": "http.request", "body": data, "more_body": more}
        if not (self.complete or self.finished or self.conn.transport_closed):
            await self._wait_disconnect()
        return {"type": "http.disconnect"}

    async def _wait_disconnect(self) -> None:
        """Until the connection is lost or the client has closed its side, or the
        response is over (the connection's data waiter is woken by the loss, the end
        of input, and by any data: then we look again)."""
        conn = self.conn
        loop = conn.loop
        if self.waiter is None:
            self.waiter = loop.create_future()
        while not (self.complete or self.finished or conn.transport_closed
                   or conn.parser.eof):
            dw = conn.data_waiter
            if dw is None or dw.done():
                dw = conn.data_waiter = loop.create_future()
            try:
                await asyncio.wait((dw, self.waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if conn.data_waiter is dw and not dw.done():
                    conn.data_waiter = None

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def send(self, message: dict[str, Any]) -> None:
        t = message["type"]
        if t == "http.response.body":
            if not self.started:
                raise RuntimeError("Expected ASGI message 'http.response.start', but got "
                                   "'http.response.body'.")
            if self.complete:
                raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, "
                                   "after response already completed.")
            body = message.get("body", b"")
            if body.__class__ is not bytes:
                body = bytes(body)
            more = message.get("more_body", False)
            conn = self.conn
            r = self.r
            if conn.transport_closed:
                if not more:
                    self.complete = True
                # spec 2.3: a no-op (as uvicorn); but an app that streams on without
                # listening for http.disconnect must not hold the loop in a busy loop
                await asyncio.sleep(0)
                return
            if not self.applied:
                self.applied = True
                apply_headers(r, self.status, self.status_line, self.headers)
            if more:
                if body:
                    pass_brigade(r, [body])
                    if conn.pending or conn.paused_writing:
                        await conn.drain_response(r)
                return
            self.complete = True
            pass_brigade(r, [body, EOS] if body else [EOS])
            self._wake()
            return
        if t == "http.response.start":
            if self.started:
                raise RuntimeError("Expected ASGI message 'http.response.body', but got "
                                   "'http.response.start'.")
            status = message["status"]
            if status.__class__ is not int or not 100 <= status <= 999:
                raise TypeError(f"Invalid HTTP status code '{status!r}' in response.")
            raw = message.get("headers")
            self.status = status
            if raw:
                self.headers = _response_headers(raw)
            self.started = True
            if status not in STATUS_LINES:
                # a code Apache does not know keeps its number (not the class's first)
                self.status_line = f"{status} "
            return
        if t == "http.response.pathsend":
            await self._pathsend(message)
            return
        raise RuntimeError(f"Unexpected ASGI message '{t}' sent, after response already "
                           "started." if self.started else
                           f"Expected ASGI message 'http.response.start', but got '{t}'.")

    async def _pathsend(self, message: dict[str, Any]) -> None:
        if not self.started or self.complete:
            raise RuntimeError("Unexpected ASGI message 'http.response.pathsend' sent.")
        path = message["path"]
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(fd).st_size
        except OSError:
            os.close(fd)
            raise
        self.complete = True
        if self.conn.transport_closed:
            os.close(fd)
            return
        if not self.applied:
            self.applied = True
            apply_headers(self.r, self.status, self.status_line, self.headers)
        pass_brigade(self.r, [FileBucket(fd, 0, size, str(path)), EOS])
        self._wake()

    def done(self) -> None:
        self.finished = True
        self._wake()


__all__ = ["Cycle", "build_scope", "raw_path", "scope_headers"]
