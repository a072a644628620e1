"""One client connection: the HTTP/1.1 engine (ap_process_http_connection).

An asyncio Protocol that feeds received bytes to the sans-IO parser and serves one
request at a time; pipelined requests wait in the parser's buffer and are answered in
order. Apache's connection rules:

* ``TimeOut`` while the rest of a request head, request body data or the client's
  reading of our output is awaited; like an APR socket timeout it restarts at every
  read. A half request line that stalls is closed silently, a stalled header block
  gets a 408, a stalled body makes the body read fail with 408;
* ``KeepAliveTimeout`` while idle between requests; ``KeepAlive``,
  ``MaxKeepAliveRequests`` and the Keep-Alive header are decided per response in
  :mod:`featherd.filters.protocol` (ap_set_keepalive);
* the request body (:class:`~featherd.core.body.BodyReader`, the HTTP_IN filter):
  ``100 Continue`` at the first read, ``LimitRequestBody`` (up front for a Content-Length, while reading for
  chunked bodies), and an unread body discarded before the next request;
* lingering close (ap_lingering_close): our side is shut down, then whatever the
  client still sends is read and dropped for up to 2 s, so it gets the response
  instead of a reset;
* output (:class:`~featherd.core.output.ConnectionOutput`): the head and small bodies in
  one write at the end of the loop's pass; files bigger than INLINE_FILE_MAX go out with
  ``os.sendfile`` on plain sockets (pread + write on TLS, or when sendfile is not usable).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct
import traceback
from typing import TYPE_CHECKING, Any

from featherd.core.body import BodyReader
from featherd.core.eager import start_eager
from featherd.core.hooks import DECLINED, run_first_sync
from featherd.core.http_request import handle, log_request, release_request
from featherd.core.output import ConnectionOutput
from featherd.filters.buckets import FileBucket
from featherd.http.parser import (
    NEED_DATA,
    ParseError,
    RequestHead,
    RequestParser,
)

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.core.worker import Worker

READ_PAUSE = 1024 * 1024           # stop reading while this much input waits unconsumed
LINGER_SECS = 2.0                  # SECONDS_TO_LINGER
LINGER_MAX = 30.0                  # MAX_SECS_TO_LINGER
_LINGER_RESET = struct.pack("ii", 1, 0)
_conn_ids = itertools.count(1)
ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7


class Connection(ConnectionOutput, asyncio.Protocol):
    """conn_rec plus the HTTP/1.1 engine for one socket."""

    #: a complete response waiting for the end of this event-loop pass (see send)
    _wq: list[bytes] | None = None

    def __init__(self, worker: Worker, listener: Any) -> None:
        self.worker = worker
        self.tree = worker.tree
        self.loop = worker.loop
        self.listener = listener
        self.id = next(_conn_ids)
        self.transport: Any = None
        self.transport_closed = False      # no more output: closing, lingering or lost
        self.lost = False                  # connection_lost was called
        self.lingering = False
        self.linger_deadline = 0.0
        self.client_ip = ""
        self.client_port = 0
        self.local_ip = ""
        self.local_port = 0
        self.remote_host: str | None = None
        self.remote_logname: str | None = None
        self.is_tls = False
        self.keepalives = 0
        self.keepalive = False             # this response keeps the connection (%X "+")
        self.client_keepalive = False
        self.must_close = False            # AP_CONN_CLOSE: an error made reuse unsafe
        self.aborted = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.parser: RequestParser = None  # type: ignore[assignment]
        self.busy = False
        self._eager = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when = 0.0               # when self.timer fires
        self.deadline: float | None = None  # when the current timeout expires
        self.data_waiter: asyncio.Future[bool] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.read_timed_out = False
        self.reading_paused = False
        self.paused_writing = False
        self.pending: list[Any] = []
        self.current_body: BodyReader | None = None
        self.body_error: Any = None
        self.addr_group: Any = None
        self.notes: dict[str, Any] = {}
        self.server_header = worker.server_header
        self.server_banner = worker.server_banner
        self.date = worker.dates.now
        self.keepalive_ok_after = True
        self.sock_fd = -1                  # for sendfile; -1 when not usable
        self.unsent_limited = False        # TCP_NOTSENT_LOWAT set (the first sendfile)
        self.base: Any = None
        self.timeout = 300.0
        self.keep_alive_timeout = 5.0

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
        else:
            s = transport.get_extra_info("socket")
            try:
                self.sock_fd = s.fileno() if s is not None else -1
            except (OSError, AttributeError):
                self.sock_fd = -1
        self.addr_group = self.worker.vhosts.by_addr(self.local_ip, self.local_port)
        base = self.base = self.addr_default_server()
        lim = _conn_limits(base, self.tree.main)
        self.timeout, self.keep_alive_timeout = lim[2], lim[3]
        self.parser = RequestParser(limit_request_line=lim[4], limit_request_fieldsize=lim[5],
                                    limit_request_fields=lim[6])
        self.worker.connections.add(self)
        self._set_timer(self.timeout)
        hook = self.tree.hooks["pre_connection"]
        for fn, _ in hook.funcs:
            fn(self)
        hook = self.tree.hooks["process_connection"]
        if hook.funcs and run_first_sync(hook, self) != DECLINED:
            self._cancel_timer()      # a protocol module (mod_echo) owns the connection now

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed = self.transport_closed
        self.transport_closed = True
        self.lost = True
        self.lingering = False
        if self.busy:
            self.aborted = True
            if not was_closed and (self.pending or self.write_waiter is not None):
                self._log_lost(exc)
        self._drop_timer()
        self._wq = None
        self.worker.connections.discard(self)
        self._wake_data(False)
        self._wake_write()
        for b in self.pending:
            if isinstance(b, FileBucket):
                b.close()
        self.pending = []

    def _log_lost(self, exc: Exception | None) -> None:
        """One line for a client that went away in the middle of a response."""
        if isinstance(exc, OSError) and exc.errno:
            msg = f"({exc.errno}){os.strerror(exc.errno)}: core_output_filter: writing data " \
                  "to the network"
        else:
            msg = "client closed the connection before the response was complete"
        self._log(INFO, msg)

    def _log(self, level: int, msg: str) -> None:
        log = (self.base.error_log if self.base is not None else None) or \
            self.tree.main.error_log
        if log is not None:
            log.log(level, msg, client=self.client_ip)

    def eof_received(self) -> bool:
        if self.lingering:
            return False                   # the client is done too: close now
        self.parser.feed(b"")
        self._wake_data(True)
        if not self.busy:
            self._pump()
        return True  # keep the transport open so that a response can still go out

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._linger_more()
            return
        self.bytes_in += len(data)
        self.parser.feed(data)
        if self.busy:
            self._wake_data(True)
            if not self.reading_paused and self.parser.buffered > READ_PAUSE:
                self.reading_paused = True
                self.transport.pause_reading()
            return
        self._pump()

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        self._wake_write()

    # -- timers -------------------------------------------------------------------------
    # One lazy timer per connection: setting or cancelling a timeout only moves
    # ``deadline`` (no TimerHandle per request on a keep-alive connection); the timer
    # that fires early re-arms itself for what is left.
    def _set_timer(self, secs: float) -> None:
        loop = self.loop
        deadline = self.deadline = loop.time() + secs
        t = self.timer
        if t is not None:
            if self.timer_when <= deadline:
                return
            t.cancel()
        self.timer_when = deadline
        self.timer = loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        self.deadline = None

    def _drop_timer(self) -> None:
        """The connection is gone: no timer keeps it referenced."""
        self.deadline = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None:
            return
        if deadline > self.loop.time():
            self.timer_when = deadline
            self.timer = self.loop.call_at(deadline, self._on_timer)
            return
        self.deadline = None
        self._on_timeout()

    def _on_timeout(self) -> None:
        if self.lingering:
            self._final_close()
            return
        if self.busy:
            if self.data_waiter is not None:
                # TimeOut waiting for request body data
                self.read_timed_out = True
                self._wake_data(False)
            elif self.write_waiter is not None:
                # TimeOut waiting for the client to take our output
                self._log(INFO, "(70007)The timeout specified has expired: "
                                "core_output_filter: writing data to the network")
                self.abort()
            return
        if self.parser.in_headers:
            # the request line came, the header block did not: 408 (as httpd 2.4)
            self._parse_error(ParseError(408, "", "AH00567: request failed: error reading "
                                                  "the headers (timeout)"))
            return
        self.close()   # idle keep-alive, or a half request line: no response

    # -- reading ------------------------------------------------------------------------
    def _wake_data(self, value: bool) -> None:
        w = self.data_waiter
        if w is not None and not w.done():
            w.set_result(value)

    def _wake_write(self) -> None:
        w = self.write_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_data(self) -> bool:
        """Wait (up to TimeOut) for more request data; False on timeout or loss."""
        if self.transport_closed or self.parser.eof:
            return False
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        self.data_waiter = self.loop.create_future()
        self._set_timer(self.timeout)
        try:
            await self.data_waiter
        finally:
            self.data_waiter = None
            self._cancel_timer()
        if self.read_timed_out:
            self.read_timed_out = False
            return False
        return not self.transport_closed

    def _pump(self) -> None:
        """Idle: look for the next request head in what has been received."""
        if self.busy or self.transport_closed:
            return
        try:
            ev = self.parser.next_event()
        except ParseError as e:
            self._parse_error(e)
            return
        if isinstance(ev, RequestHead):
            self._cancel_timer()
            self.busy = True
            self.client_keepalive = ev.keep_alive
            if self._eager:
                # a pipelined request found while finishing the previous one: a Task,
                # so that a long pipeline never nests calls
                t = self.loop.create_task(self._serve(ev))
                t.add_done_callback(_ignore)
                return
            # most requests never wait: run them now, without a Task (core/eager.py)
            self._eager = True
            try:
                start_eager(self.loop, self._serve(ev), self._eager_failed)
            finally:
                self._eager = False
            return
        if ev is NEED_DATA:
            if self.parser.eof:
                self.close()      # the client went away between requests
            elif self.parser.buffered:
                self._set_timer(self.timeout)   # part of a request: TimeOut per read
            return
        self.close()              # stray body events can't happen here; be safe

    def _eager_failed(self, exc: BaseException) -> None:
        self._log(ERROR, f"internal error: {exc!r}")
        self.abort()

    def _parse_error(self, e: ParseError) -> None:
        """A request we cannot parse: Apache's error page, then close."""
        self._cancel_timer()
        self.busy = True
        self.client_keepalive = False
        self.must_close = True
        t = self.loop.create_task(self._serve_error(e))
        t.add_done_callback(_ignore)

    async def _serve_error(self, e: ParseError) -> None:
        from featherd.core.http_request import log_request, send_error_response
        from featherd.core.request import Request

        r = Request(self, self.addr_default_server(), self.tree)
        # the request line (as far as it came) for the log and for HEAD's header_only
        first = self.parser.trailing_data[:self.parser.limit_request_line + 2]
        the_request = first.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        the_request = the_request[:self.parser.limit_request_line]
        r.the_request = the_request
        r.protocol = "HTTP/1.0"
        r.proto_num = 1000
        parts = the_request.split(" ")
        r.method = parts[0] if the_request else "GET"
        r.header_only = r.method == "HEAD"
        r.uri = parts[1] if len(parts) > 1 else ""
        r.keepalive_ok = False
        if e.log:
            if e.detail and e.detail != e.log:
                r.log_error(INFO, e.detail)
                r.log_error(DEBUG, e.log)
            else:
                r.log_error(INFO if e.status in (400, 408, 414) else ERROR, e.log)
        if e.notes:
            r.notes["error-notes"] = e.notes
        self.keepalive = False
        try:
            send_error_response(r, e.status)
        except Exception:
            r.log_error(ERROR, "error while sending the error response: "
                        + traceback.format_exc().replace("\n", " | "))
        await self.drain_response(r)
        lw = log_request(r)
        if lw is not None:
            await lw
        self.bytes_in = 0
        self.bytes_out = 0
        self.close()

    async def _serve(self, head: RequestHead) -> None:
        self.keepalive = False
        self.must_close = False
        self.bytes_in = head.header_bytes
        body = self.current_body = \
            BodyReader(self, head) if (head.content_length or head.chunked) else None
        try:
            r = await handle(self, head)
        except Exception:
            self._log(ERROR, "internal error: " + traceback.format_exc().replace("\n", " | "))
            self.current_body = None
            self.abort()
            return
        keep = self.keepalive and not self.aborted and not self.transport_closed \
            and not self.must_close and r.final.eos_sent
        if keep and body is not None and body.pending:
            # ap_discard_request_body: the body nobody read goes before the next request
            keep = await body.discard(r.final)
        self.current_body = None
        self.keepalive = keep
        lw = log_request(r)
        if lw is not None:
            await lw
        release_request(r)
        self.bytes_in = 0
        self.bytes_out = 0
        if not keep or self.transport_closed:
            self.close()
            return
        self._next_request()

    def _next_request(self) -> None:
        self.keepalives += 1
        self.busy = False
        try:
            if not self.parser.discard_body():   # consumes the EndOfMessage
                self.close()
                return
            self.parser.start_next()
        except (RuntimeError, ParseError):
            self.close()
            return
        if self.worker.stopping:
            self.close()
            return
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        self._set_timer(self.keep_alive_timeout)
        self._pump()

    def body_keepalive_ok(self, r: Request) -> bool:
        """Can the connection stay open as far as the request body goes?  Not when a
        client waiting for 100-continue never got it, nor when the Content-Length is
        over LimitRequestBody (nothing reads such a body)."""
        body = self.current_body
        if body is None or not body.pending:
            return not (body is not None and body.failed)
        if r.expecting_100 and not body.sent_100:
            return False
        if not body.started and body.too_large(r):
            return False
        return True

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

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        """End the connection after what was written: lingering close on plain TCP."""
        self._cancel_timer()
        if self.transport_closed or self.transport is None:
            return
        self.flush()
        self.transport_closed = True
        t = self.transport
        if self.is_tls or self.parser.eof or not t.can_write_eof():
            t.close()
            return
        try:
            t.write_eof()
        except (OSError, RuntimeError, AttributeError):
            t.close()
            return
        if self.reading_paused:
            self.reading_paused = False
            t.resume_reading()
        self.lingering = True
        self.linger_deadline = self.loop.time() + LINGER_MAX
        self._set_timer(LINGER_SECS)

    def _linger_more(self) -> None:
        if self.loop.time() >= self.linger_deadline:
            self._final_close()
        else:
            self._set_timer(LINGER_SECS)

    def _final_close(self) -> None:
        self._cancel_timer()
        self.lingering = False
        if self.transport is not None and not self.lost:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now: a reset, and what the kernel still holds for the
        client is thrown away (SO_LINGER 0)."""
        self._cancel_timer()
        self.aborted = True
        self.lingering = False
        self.flush()            # earlier responses of a pipeline go out before this
        if self.transport is not None and not self.lost:
            self.transport_closed = True
            if not self.is_tls:
                s = self.transport.get_extra_info("socket")
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                except (OSError, AttributeError):
                    pass
            self.transport.abort()


#: id(base server) -> (base, main, TimeOut, KeepAliveTimeout, LimitRequestLine,
#: LimitRequestFieldSize, LimitRequestFields): worked out once, not per connection
_LIMITS: dict[int, tuple[Any, ...]] = {}


def _conn_limits(base: Any, main: Any) -> tuple[Any, ...]:
    lim = _LIMITS.get(id(base))
    if lim is not None and lim[0] is base and lim[1] is main:
        return lim
    if len(_LIMITS) > 4096:
        _LIMITS.clear()
    lim = _LIMITS[id(base)] = (
        base, main, float(_v(base.timeout, main.timeout, 300)),
        float(_v(base.keep_alive_timeout, main.keep_alive_timeout, 5)),
        _v(base.limit_req_line, main.limit_req_line, 8190),
        _v(base.limit_req_fieldsize, main.limit_req_fieldsize, 8190),
        _v(base.limit_req_fields, main.limit_req_fields, 100))
    return lim


def _v(a: Any, b: Any, default: Any) -> Any:
    if a is not None:
        return a
    if b is not None:
        return b
    return default


def _ignore(t: asyncio.Task[Any]) -> None:
    if not t.cancelled():
        t.exception()
