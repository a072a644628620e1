"""A connection's output side (core_output_filter): responses written at the end of
the event loop's pass, batched; small files read inline with the head; big ones queued
and sent with ``os.sendfile`` on plain sockets, from the writer callback, the socket's
unsent queue bounded (TCP_NOTSENT_LOWAT); pread + write on TLS or where sendfile is not
usable. :class:`ConnectionOutput` is a part of :class:`~featherd.core.connection.Connection`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TYPE_CHECKING, Any

from featherd.filters.buckets import FileBucket

if TYPE_CHECKING:
    from featherd.core.connection import Connection
    from featherd.core.request import Request

ERROR = 3
INLINE_FILE_MAX = 256 * 1024       # files up to this size are read and sent with the head
READ_CHUNK = 256 * 1024            # pread/write path for bigger files
#: unsent bytes a socket may hold while a file is sent (TCP_NOTSENT_LOWAT): enough to keep
#: the link busy (bytes in flight are not counted, so fast, distant clients are not held
#: back), small enough that the data is still in the CPU caches when the kernel copies it
#: (megabytes queued per connection halve the loopback throughput)
SENDFILE_UNSENT = 128 * 1024
_TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", None)
SENDFILE_CHUNK = 8 * 1024 * 1024   # at most this much per os.sendfile call
#: FEATHERD_NO_SENDFILE=1 forces the pread/write path (for measuring, or odd kernels)
USE_SENDFILE = hasattr(os, "sendfile") and os.environ.get("FEATHERD_NO_SENDFILE") != "1"


class ConnectionOutput:
    """The writing half of a Connection (its attributes are the Connection's)."""

    # (set by Connection.__init__ / connection_made; declared for the type checker)
    transport: Any
    transport_closed: bool
    paused_writing: bool
    pending: list[Any]
    write_waiter: Any
    worker: Any
    loop: Any
    timeout: float
    sock_fd: int
    unsent_limited: bool
    bytes_out: int
    _wq: list[bytes] | None

    # -- writing ------------------------------------------------------------------------
    def send(self, r: Request, buckets: list[Any], done: bool) -> None:
        """Write buckets (the head first); small files are read inline, big ones are
        queued for :meth:`drain_response` (sendfile)."""
        if self.transport_closed:
            for b in buckets:
                if isinstance(b, FileBucket):
                    b.close()
            return
        out: list[Any] = []
        n = 0
        pending = self.pending
        for b in buckets:
            if isinstance(b, FileBucket):
                if b.length <= INLINE_FILE_MAX and not pending:
                    try:
                        data = b.pread(b.length, b.offset) if b.length else b""
                    finally:
                        b.close()
                    if len(data) != b.length:
                        # the file shrank under us: what was promised can't be sent
                        self._log(ERROR, f"File {b.path} changed while it was being sent")
                        self.abort()
                        return
                    out.append(data)
                    n += len(data)
                else:
                    if out:
                        self.write_now(b"".join(out))
                        out = []
                    pending.append(b)
                    n += b.length
            elif pending:
                pending.append(b)
                n += len(b)
            else:
                out.append(b)
                n += len(b)
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            if done and not pending:
                # A finished response goes out at the end of this pass of the event loop,
                # with whatever else this connection (pipelining) and the worker's other
                # connections finish in the same pass: the client side is woken once for
                # a batch, not once per response (Netty's flush consolidation). It costs
                # no latency on an idle server: the pass ends right after this request.
                wq = self._wq
                if wq is None:
                    self._wq = [data]
                    self.worker.flush_later(self)
                else:
                    wq.append(data)
            else:
                self.write_now(data)
        self.bytes_out += n

    def write_now(self, data: bytes) -> None:
        """Write to the transport now, after any response waiting for the loop pass."""
        if self._wq is not None:
            self.flush()
        self.transport.write(data)

    def flush(self) -> None:
        """Hand the waiting responses to the transport (the worker calls this at the end
        of the loop pass; anything that writes, closes or switches protocols first)."""
        wq = self._wq
        if wq is None:
            return
        self._wq = None
        if not self.transport_closed:
            self.transport.write(wq[0] if len(wq) == 1 else b"".join(wq))

    async def drain_response(self, r: Request) -> None:
        """Wait until every queued file has gone out and the socket has room."""
        while self.pending and not self.transport_closed:
            b = self.pending.pop(0)
            if isinstance(b, FileBucket):
                try:
                    await self._send_file(b)
                finally:
                    b.close()
            else:
                self.write_now(b)
                if self.paused_writing:
                    await self._wait_writable()
        for b in self.pending:
            if isinstance(b, FileBucket):
                b.close()
        self.pending = []
        if self.paused_writing and not self.transport_closed:
            await self._wait_writable()

    async def _wait_writable(self) -> None:
        """Wait (up to TimeOut) until the transport's buffer went below its low mark."""
        while self.paused_writing and not self.transport_closed:
            self.write_waiter = self.loop.create_future()
            self._set_timer(self.timeout)
            try:
                await self.write_waiter
            finally:
                self.write_waiter = None
                self._cancel_timer()

    async def _send_file(self, b: FileBucket) -> None:
        self.flush()
        off, left = b.offset, b.length
        if self.sock_fd >= 0 and left > INLINE_FILE_MAX and USE_SENDFILE and b.fd >= 0:
            sent = await self._sendfile(b.fd, off, left)
            off += sent
            left -= sent
        while left > 0 and not self.transport_closed:
            data = b.pread(min(READ_CHUNK, left), off)
            if not data:
                self._log(ERROR, f"File {b.path} changed while it was being sent")
                self.abort()
                return
            self.transport.write(data)
            off += len(data)
            left -= len(data)
            if self.paused_writing:
                await self._wait_writable()

    async def _sendfile(self, fd: int, off: int, left: int) -> int:
        """os.sendfile straight to the socket once the transport's own buffer is empty;
        returns the bytes sent (the caller writes any rest with pread/write)."""
        transport = self.transport
        if transport.get_write_buffer_size():
            transport.set_write_buffer_limits(high=0, low=0)
            try:
                self.paused_writing = bool(transport.get_write_buffer_size())
                await self._wait_writable()
            finally:
                transport.set_write_buffer_limits()
            if self.transport_closed or transport.get_write_buffer_size():
                return 0
        try:
            wfd = os.dup(self.sock_fd)   # the loop refuses add_writer on a transport's fd
        except OSError:
            self.sock_fd = -1
            return 0
        if not self.unsent_limited:
            self.unsent_limited = True
            limit_unsent(self.transport.get_extra_info("socket"))
        pump = _SendfilePump(self, wfd, fd, off, left)
        try:
            if pump.run():
                return pump.sent
            # the socket is full: the rest is sent from the writer callback itself, each
            # time the socket has room (no task switch per wake-up); TimeOut counts from
            # the last progress
            fut = pump.fut = self.write_waiter = self.loop.create_future()
            self.loop.add_writer(wfd, pump.on_writable)
            self._set_timer(self.timeout)
            try:
                await fut
            finally:
                self.loop.remove_writer(wfd)
                self.write_waiter = None
                self._cancel_timer()
            return pump.sent
        finally:
            os.close(wfd)


def limit_unsent(sock: Any, limit: int = SENDFILE_UNSENT) -> bool:
    """TCP_NOTSENT_LOWAT on a connection's socket (where the platform has it)."""
    if _TCP_NOTSENT_LOWAT is None or sock is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, limit)
    except (OSError, AttributeError):
        return False
    return True


class _SendfilePump:
    """os.sendfile of one file range to a non-blocking socket, a few calls at a time."""

    __slots__ = ("conn", "fd", "fut", "left", "off", "sent", "wfd")

    #: successful calls per turn, so that one big file does not hold the loop
    TURN = 8

    def __init__(self, conn: Connection, wfd: int, fd: int, off: int, left: int) -> None:
        self.conn = conn
        self.wfd = wfd
        self.fd = fd
        self.off = off
        self.left = left
        self.sent = 0
        self.fut: asyncio.Future[None] | None = None

    def run(self) -> bool:
        """Send until the socket is full (False: wait for room) or the range is done,
        the file ends early or the connection fails (True)."""
        conn = self.conn
        for _ in range(self.TURN):
            if self.left <= 0 or conn.transport_closed:
                return True
            try:
                n = os.sendfile(self.wfd, self.fd, self.off, min(self.left, SENDFILE_CHUNK))
            except BlockingIOError:
                return False
            except (BrokenPipeError, ConnectionResetError) as e:
                conn._log_lost(e)
                conn.abort()
                return True
            except OSError:
                conn.sock_fd = -1          # not usable here (e.g. odd fs): fall back
                return True
            if n == 0:
                return True                # file shorter than promised: caller decides
            self.sent += n
            self.off += n
            self.left -= n
        return self.left <= 0             # else: the turn is over, the writer calls again

    def on_writable(self) -> None:
        fut = self.fut
        if fut is None or fut.done():
            return
        if self.run():
            if not fut.done():
                fut.set_result(None)
        else:
            self.conn._set_timer(self.conn.timeout)
