"""HTTP/1.1 Upgrade: a handler takes the connection over after ``101 Switching Protocols``.

The core knows no upgraded protocol by name. A handler that accepts an ``Upgrade``
request calls :func:`switch_protocols`, which writes the 101 head (Date and Server first,
``Upgrade`` and ``Connection: Upgrade``, the handler's fields), marks the request as
answered (status 101, nothing else goes out through the filters) and swaps the
transport's protocol for an :class:`UpgradedStream`: from then on the bytes of the
connection (including any the client sent after its request head) go to the handler
through ``read()`` or a consumer callback, and ``write()`` puts bytes on the wire.

The handler keeps running while the upgraded protocol lasts; when it returns, the
request is logged once (status 101) and the connection is closed. So the connection
counts as busy in the scoreboard (mod_status) while it is open, and the access log has
its line when it ends. When the worker begins a graceful stop or restart, each stream's
``on_stop`` callback is called once (the handler says goodbye in its protocol and
closes); a hard stop aborts the connection as any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featherd.core.request import Request

READ_PAUSE = 1024 * 1024          # stop reading while this much input waits unconsumed
LINGER_SECS = 2.0                 # SECONDS_TO_LINGER
STOP_POLL = 0.2                   # how often a worker with upgraded streams checks stopping
_HOP = frozenset(("connection", "upgrade", "content-length", "transfer-encoding",
                  "keep-alive", "date", "server"))


class UpgradeError(Exception):
    """The request can't be switched to another protocol (head already sent, ...)."""


class UpgradedStream(asyncio.Protocol):
    """The connection after 101: the transport's protocol, and the handler's byte pipe."""

    def __init__(self, conn: Any, r: Request) -> None:
        self.conn = conn
        self.r = r
        self.transport = conn.transport
        self.loop: asyncio.AbstractEventLoop = conn.loop
        self.buf = bytearray()
        self.eof = False
        self.lost = False
        self.closed = False               # we closed (or aborted) the transport
        self.paused_reading = False
        self.waiter: asyncio.Future[None] | None = None
        self.lost_waiter: asyncio.Future[None] | None = None
        self.consumer: Callable[[bytes], None] | None = None
        self.on_stop: Callable[[], None] | None = None
        self.stop_signalled = False
        self.lingering = False
        self.linger_timer: asyncio.TimerHandle | None = None

    # -- the transport's side ---------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.conn.bytes_in += len(data)
        if self.lingering:
            return                        # read and dropped (ap_lingering_close)
        if self.consumer is not None:
            self.consumer(data)
            return
        self.buf += data
        self._wake()
        if not self.paused_reading and len(self.buf) > READ_PAUSE:
            self.pause_reading()

    def eof_received(self) -> bool:
        if self.lingering:
            return False                  # the client is done too: close now
        self.eof = True
        if self.consumer is not None:
            self.consumer(b"")
        self._wake()
        return True                       # keep our side open: a goodbye may still go out

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        if self.linger_timer is not None:
            self.linger_timer.cancel()
            self.linger_timer = None
        _unregister(self)
        conn = self.conn
        aborted = conn.aborted
        conn.connection_lost(exc)
        if self.closed:
            conn.aborted = aborted        # a close of ours is no client abort (%X)
        if self.consumer is not None and not self.closed:
            self.consumer(b"")
        self._wake()
        w = self.lost_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def pause_writing(self) -> None:
        self.conn.pause_writing()

    def resume_writing(self) -> None:
        self.conn.resume_writing()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- the handler's side -------------------------------------------------------------------
    def set_consumer(self, fn: Callable[[bytes], None] | None) -> None:
        """Push mode: ``fn(data)`` for each piece received (``fn(b"")`` at the end of
        input or when the connection is lost); what was buffered is delivered now."""
        self.consumer = fn
        if fn is not None:
            if self.buf:
                data = bytes(self.buf)
                self.buf.clear()
                fn(data)
            if self.eof:
                fn(b"")
            if self.paused_reading:
                self.resume_reading()

    async def read(self, n: int = -1) -> bytes:
        """The next bytes received (at most ``n`` when > 0); b"" at the end of input."""
        while not self.buf:
            if self.eof or self.lost:
                return b""
            if self.paused_reading:
                self.resume_reading()
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        buf = self.buf
        if 0 < n < len(buf):
            data = bytes(buf[:n])
            del buf[:n]
        else:
            data = bytes(buf)
            buf.clear()
        if self.paused_reading and len(buf) <= READ_PAUSE // 2:
            self.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        if self.closed or self.lost or self.conn.transport_closed:
            return
        self.transport.write(data)
        self.conn.bytes_out += len(data)

    def writelines(self, parts: list[bytes]) -> None:
        self.write(b"".join(parts))

    @property
    def writing_paused(self) -> bool:
        return bool(self.conn.paused_writing)

    async def drain(self) -> None:
        """Wait (up to TimeOut) until the client took enough of our output; a client
        that takes nothing for that long is dropped."""
        conn = self.conn
        if conn.paused_writing and not self.lost:
            await conn._wait_writable()

    def pause_reading(self) -> None:
        if not self.paused_reading and not self.lost:
            self.paused_reading = True
            try:
                self.transport.pause_reading()
            except (RuntimeError, AttributeError):
                pass

    def resume_reading(self) -> None:
        if self.paused_reading and not self.lost:
            self.paused_reading = False
            try:
                self.transport.resume_reading()
            except (RuntimeError, AttributeError):
                pass

    def close(self) -> None:
        """Close the connection after what was written: our side is shut down, then
        what the client still sends is read and dropped for up to LINGER_SECS (so that
        it gets our last bytes instead of a reset), as the core's lingering close."""
        if self.closed or self.lost:
            return
        self.closed = True
        conn = self.conn
        conn.transport_closed = True
        conn.must_close = True
        t = self.transport
        if conn.is_tls or self.eof or not t.can_write_eof():
            t.close()
            return
        try:
            t.write_eof()
        except (OSError, RuntimeError, AttributeError):
            t.close()
            return
        self.lingering = True
        self.resume_reading()
        self.linger_timer = self.loop.call_later(LINGER_SECS, t.close)

    def abort(self) -> None:
        if self.lost:
            return
        self.closed = True
        self.conn.abort()

    async def wait_closed(self) -> None:
        """Until the transport is gone."""
        if self.lost:
            return
        if self.lost_waiter is None:
            self.lost_waiter = self.loop.create_future()
        await self.lost_waiter

    @property
    def stopping(self) -> bool:
        """The worker is stopping (gracefully or not)."""
        return bool(self.conn.worker.stopping)


def is_upgrade(r: Request, token: str) -> bool:
    """The request asks to switch to ``token`` (Upgrade lists it and Connection names
    ``upgrade``), on HTTP/1.1, and is no sub-request."""
    if r.proto_num < 1001 or r.main is not None:
        return False
    up = r.headers_in.get("Upgrade")
    if not up or token.lower() not in _tokens(up):
        return False
    return "upgrade" in _tokens(", ".join(r.headers_in.get_all("Connection")))


def _tokens(v: str) -> set[str]:
    return {t.strip(" \t").lower() for t in v.split(",")}


def switch_protocols(r: Request, protocol: str,
                     headers: list[tuple[str, str]] | None = None) -> UpgradedStream:
    """Answer ``101 Switching Protocols`` (``Upgrade: protocol``) and hand the connection
    to the caller: the returned stream carries its bytes from now on."""
    conn = r.connection
    if r.sent_headers or r.eos_sent or conn.transport_closed or r.main is not None:
        raise UpgradeError("the response has already begun")
    if r.proto_num < 1001:
        raise UpgradeError("HTTP/1.1 is needed to switch protocols")
    body = conn.current_body
    if body is not None and body.pending:
        raise UpgradeError("the request body has not been read")
    if conn.pending:
        raise UpgradeError("output is still queued")
    parts = [f"HTTP/1.1 101 Switching Protocols\r\nDate: {conn.date()}\r\n"]
    if conn.server_header:
        parts.append(f"Server: {conn.server_header}\r\n")
    parts.append(f"Upgrade: {protocol}\r\nConnection: Upgrade\r\n")
    for src in (r.err_headers_out, r.headers_out):
        for k, v in src:
            if k.lower() not in _HOP:
                parts.append(f"{k}: {v}\r\n")
    for k, v in headers or ():
        if k.lower() not in _HOP:
            parts.append(f"{k}: {v}\r\n")
    parts.append("\r\n")
    head = "".join(parts).encode("latin-1", "replace")
    r.status = 101
    r.status_line = "101 Switching Protocols"
    r.sent_headers = True
    r.eos_sent = True
    conn.keepalive = False
    conn.must_close = True
    conn._cancel_timer()
    stream = UpgradedStream(conn, r)
    rest = conn.parser.trailing_data
    if rest:
        stream.buf += rest
    conn.write_now(head)
    conn.bytes_out += len(head)
    conn.transport.set_protocol(stream)
    if conn.reading_paused:
        conn.reading_paused = False
        conn.transport.resume_reading()
    _register(stream)
    return stream


# --- graceful stops: each worker with upgraded streams looks at its stopping flag -------
_live: dict[Any, set[UpgradedStream]] = {}


def _register(s: UpgradedStream) -> None:
    w = s.conn.worker
    live = _live.get(w)
    if live is None:
        live = _live[w] = set()
        s.loop.call_later(STOP_POLL, _poll, w, s.loop)
    live.add(s)


def _unregister(s: UpgradedStream) -> None:
    live = _live.get(s.conn.worker)
    if live is not None:
        live.discard(s)


def _poll(worker: Any, loop: asyncio.AbstractEventLoop) -> None:
    live = _live.get(worker)
    if not live:
        _live.pop(worker, None)
        return
    if worker.stopping:
        for s in list(live):
            if not s.stop_signalled:
                s.stop_signalled = True
                cb = s.on_stop
                if cb is not None:
                    try:
                        cb()
                    except Exception:   # noqa: BLE001 - one stream never stops the others
                        s.abort()
                else:
                    s.close()
    loop.call_later(STOP_POLL, _poll, worker, loop)


__all__ = ["UpgradeError", "UpgradedStream", "is_upgrade", "switch_protocols"]
