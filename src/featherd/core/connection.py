"""One client connection: an asyncio Protocol that parses requests (sans-IO), runs
them one at a time (pipelined requests wait their turn), enforces TimeOut and
KeepAliveTimeout, and writes responses with one write per brigade."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import TYPE_CHECKING, Any

from featherd.filters.buckets import FileBucket
from featherd.http.parser import (
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    ParseError,
    RequestHead,
    RequestParser,
)

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.core.worker import Worker

INLINE_FILE_MAX = 256 * 1024
_conn_ids = itertools.count(1)
ERROR, INFO, DEBUG = 3, 6, 7


class BodyReader:
    """Reads the request body from the parser for the request being served."""

    __slots__ = ("conn", "done", "limit", "received", "sent_100")

    def __init__(self, conn: Connection, limit: int) -> None:
        self.conn = conn
        self.done = False
        self.limit = limit
        self.received = 0
        self.sent_100 = False

    async def read(self, r: Request, want: int = -1) -> bytes:
        if self.done:
            return b""
        conn = self.conn
        if r.expecting_100 and not self.sent_100 and not conn.transport_closed:
            self.sent_100 = True
            if r.proto_num >= 1001:
                conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while True:
            try:
                ev = conn.parser.next_event()
            except ParseError as e:
                conn.body_error = e
                self.done = True
                from featherd.errors import HTTPError

                raise HTTPError(e.status, e.log or "error reading the request body") from None
            if isinstance(ev, Data):
                self.received += len(ev.data)
                if self.limit and self.received > self.limit:
                    self.done = True
                    conn.body_error = True
                    from featherd.errors import HTTPError

                    raise HTTPError(413, f"Requested content-length of {self.received} is "
                                         f"larger than the configured limit of {self.limit}")
                return ev.data
            if isinstance(ev, EndOfMessage) or ev is PAUSED:
                self.done = True
                return b""
            if ev is NEED_DATA:
                if conn.parser.eof or conn.transport_closed:
                    self.done = True
                    conn.aborted = True
                    from featherd.errors import HTTPError

                    raise HTTPError(400, "client closed the connection while sending the body")
                await conn.wait_data()
                continue
            self.done = True
            return b""


class Connection(asyncio.Protocol):
    """conn_rec plus the HTTP/1.1 engine for one socket."""

    def __init__(self, worker: Worker, listener: Any) -> None:
        self.worker = worker
        self.tree = worker.tree
        self.listener = listener
        self.id = next(_conn_ids)
        self.transport: Any = None
        self.transport_closed = False
        self.client_ip = ""
        self.client_port = 0
        self.local_ip = ""
        self.local_port = 0
        self.remote_host: str | None = None
        self.remote_logname: str | None = None
        self.is_tls = False
        self.keepalives = 0
        self.keepalive = False
        self.client_keepalive = False
        self.aborted = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.parser: RequestParser = None  # type: ignore[assignment]
        self.busy = False
        self.timer: asyncio.TimerHandle | None = None
        self.data_waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.paused_writing = False
        self.pending: list[Any] = []
        self.body_error: Any = None
        self.addr_group: Any = None
        self.notes: dict[str, Any] = {}
        self.server_header = worker.server_header
        self.server_banner = worker.server_banner
        self.date = worker.dates.now
        self.keepalive_ok_after = True

    # -- life cycle --------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        sock = transport.get_extra_info("sockname") or ("", 0)
        self.client_ip, self.client_port = peer[0], peer[1]
        self.local_ip, self.local_port = sock[0], sock[1]
        if self.client_ip.startswith("::ffff:"):
            self.client_ip = self.client_ip[7:]
        if self.local_ip.startswith("::ffff:"):
            self.local_ip = self.local_ip[7:]
        if transport.get_extra_info("sslcontext") is not None:
            self.is_tls = True
        self.addr_group = self.worker.vhosts.by_addr(self.local_ip, self.local_port)
        base = self.addr_default_server()
        self.parser = RequestParser(
            limit_request_line=_v(base.limit_req_line, self.tree.main.limit_req_line, 8190),
            limit_request_fieldsize=_v(base.limit_req_fieldsize,
                                       self.tree.main.limit_req_fieldsize, 8190),
            limit_request_fields=_v(base.limit_req_fields, self.tree.main.limit_req_fields,
                                    100))
        self.worker.connections.add(self)
        self._set_timer(self._timeout_value())
        hook = self.tree.hooks["pre_connection"]
        for fn, _ in hook.funcs:
            fn(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport_closed = True
        if self.busy:
            self.aborted = True
        self._cancel_timer()
        self.worker.connections.discard(self)
        self._wake_data()
        w = self.write_waiter
        if w is not None and not w.done():
            w.set_result(None)
        for b in self.pending:
            if isinstance(b, FileBucket):
                b.close()
        self.pending = []

    def eof_received(self) -> bool:
        self.parser.feed(b"")
        self._wake_data()
        if not self.busy:
            self._pump()
        return True  # keep the transport open so a response can still go out

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self.parser.feed(data)
        if self.busy:
            self._wake_data()
            return
        self._pump()

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        w = self.write_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- timers -------------------------------------------------------------------------
    def _timeout_value(self) -> float:
        s = self.addr_default_server()
        return _v(s.timeout, self.tree.main.timeout, 300)

    def _set_timer(self, secs: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.worker.loop.call_later(secs, self._on_timeout)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timeout(self) -> None:
        self.timer = None
        if self.busy:
            # a handler waiting on the client for TimeOut seconds
            self.aborted = True
            self._wake_data()
            self.abort()
            return
        self.close()

    # -- reading ------------------------------------------------------------------------
    def _wake_data(self) -> None:
        w = self.data_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_data(self) -> None:
        if self.transport_closed:
            return
        self.data_waiter = self.worker.loop.create_future()
        self._set_timer(self._timeout_value())
        await self.data_waiter
        self.data_waiter = None

    def _pump(self) -> None:
        if self.busy or self.transport_closed:
            return
        try:
            ev = self.parser.next_event()
        except ParseError as e:
            self._parse_error(e)
            return
        if ev is NEED_DATA:
            if self.parser.eof:
                self.close()
            return
        if isinstance(ev, RequestHead):
            self._cancel_timer()
            self.busy = True
            self.client_keepalive = ev.keep_alive
            t = self.worker.loop.create_task(self._serve(ev))
            t.add_done_callback(_ignore)
            return
        # stray body events can't happen here; close to be safe
        self.close()

    def _parse_error(self, e: ParseError) -> None:
        """A request we cannot parse: Apache's error page, then close."""
        self.busy = True
        self.client_keepalive = False
        t = self.worker.loop.create_task(self._serve_error(e))
        t.add_done_callback(_ignore)

    async def _serve_error(self, e: ParseError) -> None:
        from featherd.core.http_request import log_request, send_error_response
        from featherd.core.request import Request

        r = Request(self, self.addr_default_server(), self.tree)
        r.the_request = getattr(e, "the_request", "") or ""
        r.protocol = "HTTP/1.0"
        r.proto_num = 1000
        r.method = r.the_request.split(" ", 1)[0] if r.the_request else "GET"
        r.uri = r.the_request.split(" ")[1] if r.the_request.count(" ") >= 1 else ""
        r.keepalive_ok = False
        if e.log:
            r.log_error(INFO if e.status == 400 else ERROR, e.log)
        if e.notes:
            r.notes["error-notes"] = e.notes
        try:
            send_error_response(r, e.status)
        except Exception:
            pass
        await self.drain_response(r)
        self.bytes_in = 0
        await log_request(r)
        self.close()

    async def _serve(self, head: RequestHead) -> None:
        from featherd.core.http_request import handle, log_request

        base = self.addr_default_server()
        limit = 0
        self.current_body = (BodyReader(self, limit)
                             if head.content_length is not None or head.chunked else None)
        r = None
        try:
            from featherd.core.http_request import new_request  # noqa: F401

            r = await handle(self, head)
        finally:
            del base
        await log_request(r)
        self.bytes_in = 0
        self.bytes_out = 0
        self.worker.count_request()
        self._after_request(r)

    def _after_request(self, r: Request) -> None:
        keep = self.keepalive and not self.aborted and not self.transport_closed
        # discard an unread body (or give up on it)
        if keep:
            while True:
                try:
                    ev = self.parser.next_event()
                except ParseError:
                    keep = False
                    break
                if ev is PAUSED:
                    break
                if ev is NEED_DATA:
                    if r.expecting_100 and not (r.body and r.body.sent_100):
                        keep = False
                        break
                    # body still arriving: read and drop it before the next request
                    self.busy = True
                    t = self.worker.loop.create_task(self._discard_then_continue())
                    t.add_done_callback(_ignore)
                    return
                # Data / EndOfMessage: keep draining
        if not keep:
            self.close()
            return
        self._next_request()

    async def _discard_then_continue(self) -> None:
        total = 0
        while True:
            try:
                ev = self.parser.next_event()
            except ParseError:
                self.close()
                return
            if ev is PAUSED:
                break
            if ev is NEED_DATA:
                if self.parser.eof or self.transport_closed:
                    self.close()
                    return
                await self.wait_data()
                continue
            if isinstance(ev, Data):
                total += len(ev.data)
                if total > 1 << 24:
                    self.close()
                    return
        self._next_request()

    def _next_request(self) -> None:
        self.keepalives += 1
        self.busy = False
        self.parser.start_next()
        s = self.addr_default_server()
        self._set_timer(_v(s.keep_alive_timeout, self.tree.main.keep_alive_timeout, 5))
        # During a graceful stop the connection stays open: the next request is answered
        # with "Connection: close" (server_state_ok) rather than reset under the client.
        self._pump()

    # -- vhost -------------------------------------------------------------------------
    def addr_default_server(self) -> Any:
        g = self.addr_group
        if g is None:
            return self.tree.main
        return g.servers[0] if g.servers else self.tree.main

    def select_server(self, r: Request, host: str | None) -> None:
        s = self.worker.vhosts.select(self.addr_group, host, r.uri)
        r.server = s
        r.per_dir_config = s.lookup_defaults

    def server_state_ok(self) -> bool:
        return not self.worker.stopping

    # -- writing ------------------------------------------------------------------------
    def send(self, r: Request, buckets: list[Any], done: bool) -> None:
        """Write buckets; small files are read inline, big ones queued for sendfile."""
        if self.transport_closed:
            for b in buckets:
                if isinstance(b, FileBucket):
                    b.close()
            return
        out: list[Any] = []
        n = 0
        for b in buckets:
            if isinstance(b, FileBucket):
                if b.length <= INLINE_FILE_MAX and not self.pending:
                    data = os.pread(b.fd, b.length, b.offset)
                    b.close()
                    out.append(data)
                    n += len(data)
                else:
                    if out and not self.pending:
                        self.transport.writelines(out)
                        out = []
                    self.pending.append(b)
                    n += b.length
            else:
                if self.pending:
                    self.pending.append(b)
                else:
                    out.append(b)
                n += len(b)
        if out:
            if len(out) == 1:
                self.transport.write(out[0])
            else:
                self.transport.writelines(out)
        self.bytes_out += n
        r.bytes_sent += n  # adjusted for headers by the log module via bytes_out

    async def drain_response(self, r: Request) -> None:
        """Wait until every queued file has gone out and the socket has room."""
        loop = self.worker.loop
        while self.pending and not self.transport_closed:
            b = self.pending.pop(0)
            if isinstance(b, FileBucket):
                try:
                    await self._send_file(b)
                finally:
                    b.close()
            else:
                self.transport.write(b)
                await self._wait_writable()
        self.pending = []
        if self.paused_writing and not self.transport_closed:
            await self._wait_writable()
        del loop

    async def _wait_writable(self) -> None:
        while self.paused_writing and not self.transport_closed:
            self.write_waiter = self.worker.loop.create_future()
            self._set_timer(self._timeout_value())
            await self.write_waiter
            self.write_waiter = None
        if self.busy:
            self._cancel_timer()

    async def _send_file(self, b: FileBucket) -> None:
        off, left = b.offset, b.length
        chunk = 256 * 1024
        while left > 0 and not self.transport_closed:
            data = os.pread(b.fd, min(chunk, left), off)
            if not data:
                break
            self.transport.write(data)
            off += len(data)
            left -= len(data)
            if self.paused_writing:
                await self._wait_writable()

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        self._cancel_timer()
        if not self.transport_closed and self.transport is not None:
            self.transport.close()
            self.transport_closed = True

    def abort(self) -> None:
        self._cancel_timer()
        self.aborted = True
        if self.transport is not None and not self.transport_closed:
            self.transport.abort()
            self.transport_closed = True


def _v(a: Any, b: Any, default: Any) -> Any:
    if a is not None:
        return a
    if b is not None:
        return b
    return default


def _ignore(t: asyncio.Task[Any]) -> None:
    if not t.cancelled():
        t.exception()
