"""The sendfile path for big files: the pump sends until the socket is full, resumes from
the writer callback, stops at the end of the range; the socket's unsent queue is bounded
(TCP_NOTSENT_LOWAT) so that a file's data is still cached when the kernel copies it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from featherd.core import output
from featherd.core.output import _SendfilePump, limit_unsent


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    cli = socket.create_connection(lst.getsockname())
    srv, _ = lst.accept()
    lst.close()
    srv.setblocking(False)
    yield srv, cli
    srv.close()
    cli.close()


class FakeConn:
    """What the pump uses of a Connection."""

    def __init__(self) -> None:
        self.transport_closed = False
        self.timeout = 300.0
        self.sock_fd = 0
        self.timer_sets = 0
        self.aborted = False

    def _set_timer(self, secs: float) -> None:
        self.timer_sets += 1

    def _log_lost(self, exc: Any) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True
        self.transport_closed = True


def test_unsent_bytes_are_bounded_on_tcp(tcp_pair: tuple[socket.socket, socket.socket]
                                         ) -> None:
    srv, _ = tcp_pair
    if output._TCP_NOTSENT_LOWAT is None:
        pytest.skip("no TCP_NOTSENT_LOWAT on this platform")
    assert limit_unsent(srv)
    assert srv.getsockopt(socket.IPPROTO_TCP, output._TCP_NOTSENT_LOWAT) == \
        output.SENDFILE_UNSENT


def test_no_socket_no_limit() -> None:
    assert limit_unsent(None) is False


def test_pump_sends_the_whole_range_through_a_full_socket(
        tcp_pair: tuple[socket.socket, socket.socket], tmp_path: Path) -> None:
    srv, cli = tcp_pair
    limit_unsent(srv, 64 * 1024)
    data = os.urandom(3 * 1024 * 1024 + 17)
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    off = 1000
    want = data[off:off + 2 * 1024 * 1024]
    fd = os.open(f, os.O_RDONLY)
    conn = FakeConn()
    loop = asyncio.new_event_loop()
    try:
        pump = _SendfilePump(conn, srv.fileno(), fd, off, len(want))  # type: ignore[arg-type]
        done = pump.run()
        assert not done                       # the socket filled up before the end
        assert 0 < pump.sent < len(want)
        pump.fut = loop.create_future()
        loop.add_writer(srv.fileno(), pump.on_writable)
        got = bytearray()
        cli.setblocking(False)

        async def drain() -> None:
            while not pump.fut.done() or len(got) < len(want):   # type: ignore[union-attr]
                try:
                    chunk = cli.recv(1 << 20)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                    continue
                got.extend(chunk)

        loop.run_until_complete(asyncio.wait_for(drain(), 20))
        loop.remove_writer(srv.fileno())
    finally:
        loop.close()
        os.close(fd)
    assert bytes(got) == want
    assert pump.sent == len(want) and pump.left == 0
    assert conn.timer_sets > 0                # TimeOut re-armed at each bit of progress
    assert not conn.aborted


def test_pump_stops_at_a_short_file(tcp_pair: tuple[socket.socket, socket.socket],
                                    tmp_path: Path) -> None:
    srv, cli = tcp_pair
    f = tmp_path / "small.bin"
    f.write_bytes(b"x" * 1000)
    fd = os.open(f, os.O_RDONLY)
    try:
        pump = _SendfilePump(FakeConn(), srv.fileno(), fd, 0, 5000)  # type: ignore[arg-type]
        assert pump.run() is True            # the file ended: the caller reports it
        assert pump.sent == 1000 and pump.left == 4000
    finally:
        os.close(fd)
    assert cli.recv(2000) == b"x" * 1000


def test_pump_aborts_when_the_client_is_gone(tcp_pair: tuple[socket.socket, socket.socket],
                                             tmp_path: Path) -> None:
    srv, cli = tcp_pair
    f = tmp_path / "big.bin"
    f.write_bytes(b"y" * (4 * 1024 * 1024))
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    cli.close()                                # a reset
    fd = os.open(f, os.O_RDONLY)
    conn = FakeConn()
    try:
        pump = _SendfilePump(conn, srv.fileno(), fd, 0, 4 * 1024 * 1024)  # type: ignore[arg-type]
        for _ in range(100):
            if pump.run():
                break
        assert conn.aborted
    finally:
        os.close(fd)
