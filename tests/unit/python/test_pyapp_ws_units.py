"""Units without sockets: the RFC 6455 frame reader and writer, the handshake key, close
codes, ASGI 2/3 detection, and the thread pool giving up on a stuck call."""

from __future__ import annotations

import asyncio
import functools
import os
import struct
import threading

import pytest
from ws_testlib import client_frame

from featherd.modules.python.asgi_lifespan import ASGI2App, asgi_version
from featherd.modules.python.common import ThreadPool
from featherd.modules.python.ws_frames import (
    FrameReader,
    ProtocolError,
    accept_key,
    close_payload,
    frame,
    unmask,
    valid_close_code,
    valid_key,
)


def test_unmask_roundtrip_and_server_frames():
    key = b"\x01\x02\x03\x04"
    data = os.urandom(1001)
    assert unmask(unmask(data, key), key) == data
    assert unmask(b"", key) == b""
    assert frame(1, b"hi") == b"\x81\x02hi"
    assert frame(2, b"x" * 125)[:2] == b"\x82\x7d"
    assert frame(2, b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert frame(2, b"x" * 65536)[:10] == b"\x82\x7f" + struct.pack("!Q", 65536)
    assert frame(1, b"a", fin=False)[0] == 0x01


def test_reader_messages_fragments_and_byte_by_byte():
    data = (client_frame(1, "héllo".encode()) + client_frame(2, b"\x00" * 300)
            + client_frame(1, b"ab", fin=False) + client_frame(9, b"p")
            + client_frame(0, b"cd", fin=False) + client_frame(0, b"ef")
            + client_frame(2, b"y" * 70000))
    want = [(1, "héllo".encode()), (2, b"\x00" * 300), (9, b"p"), (1, b"abcdef"),
            (2, b"y" * 70000)]
    assert FrameReader(1 << 20).feed(data) == want
    r = FrameReader(1 << 20)
    got = []
    for i in range(len(data)):
        got += r.feed(data[i:i + 1])
    assert got == want
    assert not r.buf


@pytest.mark.parametrize("data,code", [
    (client_frame(1, b"x", mask=False), 1002),
    (client_frame(1, b"x", rsv=0x20), 1002),
    (client_frame(5, b"x"), 1002),
    (client_frame(0, b"x"), 1002),
    (client_frame(9, b"x", fin=False), 1002),
    (client_frame(9, b"x" * 126), 1002),
    (client_frame(1, b"a", fin=False) + client_frame(2, b"b"), 1002),
    (client_frame(2, b"x" * 101), 1009),
    (client_frame(2, b"x" * 60, fin=False) + client_frame(0, b"x" * 60), 1009),
])
def test_reader_errors(data, code):
    with pytest.raises(ProtocolError) as ei:
        FrameReader(100).feed(data)
    assert ei.value.code == code


def test_reader_keeps_the_messages_before_an_error():
    with pytest.raises(ProtocolError) as ei:
        FrameReader(100).feed(client_frame(1, b"ok") + client_frame(1, b"x", mask=False))
    assert (ei.value.code, ei.value.events) == (1002, [(1, b"ok")])


def test_handshake_key_and_close_codes():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert valid_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not valid_key("short") and not valid_key(None) and not valid_key("!!!!")
    assert close_payload(1000) == b"\x03\xe8"
    assert close_payload(4001, "bye") == b"\x0f\xa1bye"
    assert close_payload(1005) == b""
    for ok in (1000, 1001, 1003, 1007, 1011, 3000, 4999):
        assert valid_close_code(ok)
    for bad in (0, 999, 1004, 1005, 1006, 1015, 2000, 5000):
        assert not valid_close_code(bad)


def test_asgi_version_detection():
    async def three(scope, receive, send):
        pass

    def two(scope):
        return three

    class Two:
        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            pass

    class ThreeInstance:
        async def __call__(self, scope, receive, send):
            pass

    class Awaitable:
        def __await__(self):
            yield

    assert asgi_version(three) == "3.0"
    assert asgi_version(two) == "2.0"
    assert asgi_version(Two) == "2.0"
    assert asgi_version(ThreeInstance()) == "3.0"
    assert asgi_version(Awaitable) == "3.0"
    assert asgi_version(functools.partial(three)) == "2.0"   # as uvicorn

    seen = []

    async def recv():
        return {}

    async def send(m):
        seen.append(m)

    class App:
        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            await send({"type": self.scope["type"]})

    asyncio.run(ASGI2App(App)({"type": "http"}, recv, send))
    assert seen == [{"type": "http"}]


def test_thread_pool_abandons_a_stuck_call():
    class Gone(Exception):
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = ThreadPool(1, name="t-pool")
        release = threading.Event()
        stuck = pool.submit(loop, release.wait, 5)
        await asyncio.sleep(0.05)
        pool.abandon(stuck, Gone())
        with pytest.raises(Gone):
            await stuck
        assert (pool.busy, pool.stuck) == (0, 1)
        # the only thread is stuck: a new one serves the next call
        assert await pool.submit(loop, lambda: 42) == 42
        assert len(pool.threads) == 2
        release.set()
        for _ in range(100):
            if pool.stuck == 0:
                break
            await asyncio.sleep(0.01)
        assert (pool.busy, pool.stuck, pool.abandoned) == (0, 0, set())
        assert await pool.submit(loop, lambda: 7) == 7
        pool.shutdown()

    asyncio.run(main())
