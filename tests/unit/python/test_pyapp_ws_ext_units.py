"""Units without sockets for the WebSocket extras of mod_asgi: Sec-WebSocket-Extensions
parsing, permessage-deflate negotiation (RFC 7692 7.1), compression and inflation in the
frame reader (RSV1 rules, fragments, the inflated size limit, zip bombs), the
ASGIWebSocket* directives, and the keep-alive timers of a WebSocketCycle on a fake
stream."""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.python import mod_asgi
from featherd.modules.python.common import parse_seconds
from featherd.modules.python.websocket import (
    ACCEPTED,
    DEFAULT_MAX_SIZE,
    Settings,
    WebSocketCycle,
)
from featherd.modules.python.ws_deflate import (
    PerMessageDeflate,
    deflate_bound,
    negotiate_deflate,
    parse_extensions,
)
from featherd.modules.python.ws_frames import OP_CLOSE, OP_PING, FrameReader, ProtocolError, frame

TAIL = b"\x00\x00\xff\xff"


def client_frame(op: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    m = (key * (n // 4 + 1))[:n]
    return head + key + (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(
        n, "big")


def deflated(data: bytes, wbits: int = 15, comp: Any = None) -> bytes:
    c = comp or zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


# --- Sec-WebSocket-Extensions ------------------------------------------------------------
def test_parse_extensions() -> None:
    assert parse_extensions(['permessage-deflate; client_max_window_bits, '
                             'foo; a="x,y;\\"z"; B=2', "bar"]) == [
        ("permessage-deflate", [("client_max_window_bits", None)]),
        ("foo", [("a", 'x,y;"z'), ("b", "2")]),
        ("bar", []),
    ]
    # what does not parse is left out, the rest kept
    assert parse_extensions(["a; =1, b; c=, , d e, f"]) == [("f", [])]


@pytest.mark.parametrize("offer,response,state", [
    ("permessage-deflate",
     "permessage-deflate; server_max_window_bits=12", (False, False, 12, 15)),
    ("permessage-deflate; client_max_window_bits",
     "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
     (False, False, 12, 12)),
    ('permessage-deflate; client_max_window_bits="9"; server_max_window_bits=10',
     "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
     (False, False, 10, 9)),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=12", (True, True, 12, 15)),
    ("PerMessage-Deflate; Server_Max_Window_Bits=15",
     "permessage-deflate; server_max_window_bits=12", (False, False, 12, 15)),
    ("permessage-deflate; server_max_window_bits=8", None, None),
    ("permessage-deflate; server_max_window_bits=7", None, None),
    ("permessage-deflate; server_max_window_bits", None, None),
    ("permessage-deflate; client_max_window_bits=08", None, None),
    ("permessage-deflate; client_no_context_takeover=yes", None, None),
    ("permessage-deflate; client_max_window_bits; client_max_window_bits=10", None, None),
    ("permessage-deflate; mystery", None, None),
    ("deflate-frame", None, None),
    ("permessage-deflate; mystery, permessage-deflate; server_no_context_takeover",
     "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
     (True, False, 12, 15)),
])
def test_negotiation(offer: str, response: str | None, state: Any) -> None:
    pmd = negotiate_deflate([offer])
    if response is None:
        assert pmd is None
        return
    assert pmd is not None
    assert pmd.response == response
    assert (pmd.server_nct, pmd.client_nct, pmd.server_bits, pmd.client_bits) == state


def test_compress_with_and_without_context_takeover() -> None:
    msg = b"the same message, again and again " * 20
    pmd = PerMessageDeflate(server_bits=12)
    inflate = zlib.decompressobj(-12)
    first = pmd.compress(msg)
    second = pmd.compress(msg)
    assert len(second) < len(first) // 2          # the window remembers the first
    assert inflate.decompress(first + TAIL) == msg
    assert inflate.decompress(second + TAIL) == msg
    nct = PerMessageDeflate(server_nct=True, server_bits=9)
    a, b = nct.compress(msg), nct.compress(msg)
    assert a == b and nct.encoder is None
    assert zlib.decompressobj(-9).decompress(b + TAIL) == msg
    assert zlib.decompressobj(-15).decompress(pmd.compress(b"") + TAIL) == b""
    assert frame(1, b"x", rsv1=True)[0] == 0xC1


# --- the reader with permessage-deflate ----------------------------------------------------
def test_reader_inflates_messages_and_fragments() -> None:
    pmd = PerMessageDeflate(client_bits=12)
    r = FrameReader(1 << 20, pmd)
    comp = zlib.compressobj(6, zlib.DEFLATED, -12)
    one = deflated("héllo ".encode() * 100, comp=comp)
    two = deflated("héllo ".encode() * 100, comp=comp)      # refers back to one
    body = deflated(b"\x01\x02" * 5000, comp=comp)
    data = (client_frame(1, one, rsv=0x40) + client_frame(2, b"raw")
            + client_frame(1, two, rsv=0x40)
            + client_frame(2, body[:3], fin=False, rsv=0x40) + client_frame(9, b"p")
            + client_frame(0, body[3:10], fin=False) + client_frame(0, body[10:]))
    want = [(1, "héllo ".encode() * 100), (2, b"raw"), (1, "héllo ".encode() * 100),
            (9, b"p"), (2, b"\x01\x02" * 5000)]
    assert r.feed(data) == want
    # byte by byte too, with a fresh context on both sides
    r = FrameReader(1 << 20, PerMessageDeflate(client_bits=12))
    comp = zlib.compressobj(6, zlib.DEFLATED, -12)
    data = b"".join(client_frame(1, deflated(b"msg %d " % i * 30, comp=comp), rsv=0x40)
                    for i in range(5))
    got = []
    for i in range(len(data)):
        got += r.feed(data[i:i + 1])
    assert got == [(1, b"msg %d " % i * 30) for i in range(5)]


def test_client_no_context_takeover_and_final_blocks() -> None:
    pmd = PerMessageDeflate(client_nct=True)
    r = FrameReader(1 << 20, pmd)
    assert r.feed(client_frame(1, deflated(b"a" * 100), rsv=0x40)) == [(1, b"a" * 100)]
    assert pmd.decoder is None                    # let go between messages
    assert r.feed(client_frame(1, deflated(b"b" * 100), rsv=0x40)) == [(1, b"b" * 100)]
    # a message ended with a final block (RFC 7692 7.2.3.4): the next starts afresh
    pmd = PerMessageDeflate()
    r = FrameReader(1 << 20, pmd)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    fin = c.compress(b"last") + c.flush(zlib.Z_FINISH)
    assert r.feed(client_frame(1, fin, rsv=0x40)) == [(1, b"last")]
    assert r.feed(client_frame(1, deflated(b"next"), rsv=0x40)) == [(1, b"next")]


@pytest.mark.parametrize("data,code,deflate", [
    (client_frame(1, deflated(b"x"), rsv=0x40), 1002, False),        # not negotiated
    (client_frame(1, b"x", rsv=0x20), 1002, True),                   # RSV2
    (client_frame(1, b"x", rsv=0x60), 1002, True),
    (client_frame(9, b"x", rsv=0x40), 1002, True),                   # control frame
    (client_frame(1, b"", fin=False, rsv=0x40) + client_frame(0, b"x", rsv=0x40), 1002, True),
    (client_frame(2, b"\xff\xff\xff", rsv=0x40), 1002, True),        # not deflate data
    (client_frame(2, deflated(b"\x00" * 1001), rsv=0x40), 1009, True),
    (client_frame(2, deflated(b"\x00" * 10_000_000), rsv=0x40), 1009, True),   # a bomb
    (client_frame(2, deflated(b"\x00" * 600), fin=False, rsv=0x40)
     + client_frame(0, b"\xff\xff\xff"), 1002, True),             # bad in a fragment
])
def test_reader_errors_with_deflate(data: bytes, code: int, deflate: bool) -> None:
    r = FrameReader(1000, PerMessageDeflate() if deflate else None)
    with pytest.raises(ProtocolError) as ei:
        r.feed(data)
    assert ei.value.code == code


def test_inflated_limit_across_fragments_and_on_the_wire() -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    a = c.compress(b"\x00" * 600) + c.flush(zlib.Z_SYNC_FLUSH)
    b = deflated(b"\x00" * 600, comp=c)
    r = FrameReader(1000, PerMessageDeflate())
    with pytest.raises(ProtocolError) as ei:
        r.feed(client_frame(2, a, fin=False, rsv=0x40) + client_frame(0, b))
    assert (ei.value.code, ei.value.reason) == (1009, "message too big (inflated)")
    # exactly the maximum inflated is fine
    r = FrameReader(1000, PerMessageDeflate())
    assert r.feed(client_frame(2, deflated(b"\x00" * 1000), rsv=0x40)) == [(2, b"\x00" * 1000)]
    # incompressible data of the maximum size is a little bigger on the wire: accepted
    noise = os.urandom(1000)
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 1)          # memLevel 1: small blocks
    wire = deflated(noise, comp=c)
    assert 1000 < len(wire) <= deflate_bound(1000)
    r = FrameReader(1000, PerMessageDeflate())
    assert r.feed(client_frame(2, wire, rsv=0x40)) == [(2, noise)]
    # but not more than the bound, and never for an uncompressed message
    with pytest.raises(ProtocolError) as ei:
        FrameReader(1000, PerMessageDeflate()).feed(
            client_frame(2, b"\x00" * (deflate_bound(1000) + 1), rsv=0x40))
    assert ei.value.code == 1009
    with pytest.raises(ProtocolError):
        FrameReader(1000, PerMessageDeflate()).feed(client_frame(2, b"\x00" * 1001))


# --- directives and settings -----------------------------------------------------------
def tree(text: str) -> Any:
    return load_config(None, builtin_modules(), server_root="/srv", text="ServerName u\n" + text)


def test_directives_and_settings() -> None:
    t = tree("ASGIWebSocketPingInterval 0.25\nASGIWebSocketPingTimeout 3\n"
             "ASGIWebSocketCompression Off\nASGIWebSocketMaxSize 4096\n"
             "<VirtualHost *:80>\nServerName v\nASGIWebSocketPingInterval 0\n"
             "ASGIWebSocketCompression On\n</VirtualHost>\n")
    idx = mod_asgi.asgi.index
    assert Settings.from_conf(t.main.module_config[idx]) == Settings(4096, 0.25, 3.0, False)
    (v,) = t.vhosts
    assert Settings.from_conf(v.module_config[idx]) == Settings(4096, 0.0, 3.0, True)
    assert Settings.from_conf(tree("").main.module_config[idx]) == \
        Settings(DEFAULT_MAX_SIZE, 20.0, 20.0, True)
    assert [parse_seconds(x) for x in ("20", "0", "0.5", ".5", "1.", "-1", "x", "1e3", "")] \
        == [20.0, 0.0, 0.5, 0.5, 1.0, None, None, None, None]


@pytest.mark.parametrize("text,err", [
    ("ASGIWebSocketPingInterval soon", "ASGIWebSocketPingInterval must be a number of seconds"),
    ("ASGIWebSocketPingInterval -1", "ASGIWebSocketPingInterval must be a number of seconds"),
    ("ASGIWebSocketPingTimeout 1 2", "ASGIWebSocketPingTimeout takes one argument"),
    ("ASGIWebSocketPingTimeout inf", "ASGIWebSocketPingTimeout must be a number of seconds"),
    ("ASGIWebSocketCompression maybe", "ASGIWebSocketCompression must be On or Off"),
    ("<Location /x>\nASGIWebSocketCompression On\n</Location>", "not allowed here"),
    ("<Directory /x>\nASGIWebSocketPingInterval 1\n</Directory>", "not allowed here"),
])
def test_directive_errors(text: str, err: str) -> None:
    with pytest.raises(ConfigError) as e:
        tree(text)
    assert err in str(e.value)


# --- keep-alive timers on a fake stream ----------------------------------------------------
class FakeStream:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.paused_reading = False
        self.lost = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def close(self) -> None:
        self.closed = True

    def ops(self) -> list[int]:
        return [d[0] & 0x0F for d in self.out]


def cycle(interval: float, timeout: float) -> tuple[WebSocketCycle, FakeStream, list[str]]:
    logs: list[str] = []
    loop = asyncio.get_running_loop()
    r: Any = SimpleNamespace(connection=SimpleNamespace(loop=loop),
                             log_error=lambda level, msg: logs.append(msg))
    cyc = WebSocketCycle(r, Settings(1 << 20, interval, timeout, True))
    s = FakeStream()
    cyc.stream = s  # type: ignore[assignment]
    cyc.state = ACCEPTED
    cyc.connect_sent = True
    cyc._start_ka()
    return cyc, s, logs


def test_keepalive_timeout_closes_with_1011() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        cyc, s, logs = cycle(0.02, 0.05)
        while not s.out:
            await asyncio.sleep(0.005)
        t0 = loop.time()
        assert s.ops() == [OP_PING]
        while len(s.out) < 2:
            await asyncio.sleep(0.005)
        assert loop.time() - t0 >= 0.045
        assert s.ops() == [OP_PING, OP_CLOSE]
        assert s.out[1][2:] == struct.pack("!H", 1011) + b"keepalive ping timeout"
        assert s.closed and cyc.ka_timer is None
        assert await cyc.receive() == {"type": "websocket.disconnect", "code": 1011,
                                       "reason": "keepalive ping timeout"}
        assert "did not answer a ping within 0.05 seconds (closing with 1011)" in logs[0]

    asyncio.run(main())


def test_keepalive_answers_pause_and_off() -> None:
    async def main() -> None:
        # answered (a pong, or any bytes): pings go on, nothing is closed
        cyc, s, _ = cycle(0.02, 0.5)
        for _ in range(6):
            await asyncio.sleep(0.025)
            if cyc.ping_sent_at is not None:
                cyc.on_data(client_frame(10, s.out[-1][2:]))
        assert s.ops().count(OP_PING) >= 3 and OP_CLOSE not in s.ops()
        cyc._cancel_ka()
        # we stopped reading (the application lags): the timeout waits
        cyc, s, _ = cycle(0.01, 0.1)
        s.paused_reading = True
        await asyncio.sleep(0.25)
        assert s.ops() == [OP_PING] and not s.closed
        s.paused_reading = False
        cyc.on_data(client_frame(10, b""))
        # the round trip was longer than the interval: the next ping goes at once
        await asyncio.sleep(0.005)
        assert s.ops() == [OP_PING, OP_PING] and not s.closed
        cyc._cancel_ka()
        # timeout 0: pings, never a close
        cyc, s, _ = cycle(0.01, 0)
        await asyncio.sleep(0.08)
        assert s.ops().count(OP_PING) >= 3 and not s.closed
        cyc._cancel_ka()
        # interval 0: nothing at all; a close stops the pings
        cyc, s, _ = cycle(0, 1)
        assert cyc.ka_timer is None
        cyc, s, _ = cycle(0.01, 1)
        cyc.start_close(1000)
        await asyncio.sleep(0.03)
        assert s.ops() == [OP_CLOSE] and cyc.ka_timer is None
        cyc._close_transport()

    asyncio.run(main())
