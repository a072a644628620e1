"""mod_asgi WebSocket extras end to end: permessage-deflate (RFC 7692) with the `websockets`
client and with a raw client that checks RSV1 and inflates what the server sends
(context takeover or not, fragments, declined offers, ASGIWebSocketCompression Off, a
zip bomb closed with 1009 by ASGIWebSocketMaxSize), and the keep-alive pings
(ASGIWebSocketPingInterval / ASGIWebSocketPingTimeout: pings arrive, a client that
answers stays, one that does not is closed with 1011, 0 turns them off or never closes)."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import pytest

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402
from ws_testlib import RawWS as BaseWS  # noqa: E402

APP = r'''
import os

HERE = os.path.dirname(__file__)

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"http"})
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            with open(os.path.join(HERE, "disconnect"), "w") as f:
                f.write(str(m["code"]))
            return
        t = m.get("text")
        if t is not None and t.startswith("big:"):
            await send({"type": "websocket.send", "text": "abc" * int(t[4:])})
        elif t is not None:
            await send({"type": "websocket.send", "text": t})
        else:
            await send({"type": "websocket.send", "bytes": m["bytes"]})
'''

TAIL = b"\x00\x00\xff\xff"


def start(make_server, extra: str = ""):  # type: ignore[no-untyped-def]
    return make_server(f"ASGIScriptAlias /ws @ROOT@/apps/ws.py\n{extra}\n",
                       files={"apps/ws.py": APP})


def wait_file(path: Path, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


class RawWS(BaseWS):
    """The shared client on /ws/x with an extension offer; the head parsed, frames as
    (opcode, fin, rsv1, payload)."""

    def __init__(self, port: int, extensions: str | None = None) -> None:
        ext = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
        super().__init__(port, "/ws/x", ext, timeout=3)
        self.head = self.head.decode("latin-1")  # type: ignore[assignment]
        assert self.head.startswith("HTTP/1.1 101 "), self.head
        self.headers = {k.strip().lower(): v.strip() for k, v in
                        (line.split(":", 1) for line in self.head.split("\r\n")[1:])}

    def send_frame(self, op: int, payload: bytes, fin: bool = True,  # type: ignore[override]
                   rsv1: bool = False) -> None:
        super().send_frame(op, payload, fin, rsv=0x40 if rsv1 else 0)

    def recv_frame(self) -> tuple[int, bool, bool, bytes]:  # type: ignore[override]
        op, fin, rsv, payload = self.recv_raw()
        assert not rsv & 0x30, "RSV2/RSV3 are never set"
        return op, fin, bool(rsv & 0x40), payload


# --- permessage-deflate ----------------------------------------------------------------
def test_websockets_client_negotiates_and_exchanges(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server)
    with connect(f"ws://127.0.0.1:{srv.port}/ws/x", max_size=None) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == \
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        for i in range(30):                       # context takeover across messages
            ws.send(f"héllo {i} " * (i + 1))
            assert ws.recv() == f"héllo {i} " * (i + 1)
        blob = os.urandom(300_000) + b"\x00" * 300_000
        ws.send(blob)
        assert ws.recv() == blob
        ws.send("big:400000")
        assert ws.recv() == "abc" * 400000
        ws.send("")
        assert ws.recv() == ""
    assert wait_file(srv.root / "apps" / "disconnect") == "1000"


def test_raw_frames_have_rsv1_and_inflate(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server)
    ws = RawWS(srv.port, "permessage-deflate; client_max_window_bits")
    assert ws.headers["sec-websocket-extensions"] == \
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    comp = zlib.compressobj(9, zlib.DEFLATED, -12)
    inflate = zlib.decompressobj(-12)            # the server keeps its context too

    def send_text(text: str) -> None:
        data = comp.compress(text.encode()) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TAIL)
        ws.send_frame(1, data[:-4], rsv1=True)

    def recv_text() -> tuple[str, int]:
        op, fin, rsv1, p = ws.recv_frame()
        assert (op, fin, rsv1) == (1, True, True)
        return inflate.decompress(p + TAIL).decode(), len(p)

    send_text("compressed hello " * 50)
    text, wire = recv_text()
    assert text == "compressed hello " * 50 and wire < 100
    send_text("compressed hello " * 50)           # the second time: a back-reference
    text, wire = recv_text()
    assert text == "compressed hello " * 50 and wire < 20
    ws.send_frame(1, b"big:100000")                # an uncompressed message is fine too
    text, wire = recv_text()
    assert text == "abc" * 100000 and wire < 2000
    # a compressed message in three fragments (RSV1 on the first only), a ping between
    data = comp.compress(("fragmenté " * 200).encode()) + comp.flush(zlib.Z_SYNC_FLUSH)
    body = data[:-4]
    ws.send_frame(1, body[:5], fin=False, rsv1=True)
    ws.send_frame(9, b"hi")
    ws.send_frame(0, body[5:12], fin=False)
    ws.send_frame(0, body[12:])
    assert ws.recv_frame() == (10, True, False, b"hi")   # control frames: never RSV1
    assert recv_text()[0] == "fragmenté " * 200
    # RSV1 on a continuation frame is a protocol error
    ws.send_frame(1, b"", fin=False, rsv1=True)
    ws.send_frame(0, b"x", rsv1=True)
    assert ws.recv_close()[0] == 1002
    assert ws.closed_by_server()
    assert wait_file(srv.root / "apps" / "disconnect") == "1002"


def test_no_context_takeover_and_window_bits(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server)
    ws = RawWS(srv.port, "permessage-deflate; server_no_context_takeover; "
                         'client_no_context_takeover; server_max_window_bits=9; '
                         'client_max_window_bits="10"')
    assert ws.headers["sec-websocket-extensions"] == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=10")
    msg = ("no context " * 40).encode()
    frames = []
    for _ in range(2):
        comp = zlib.compressobj(6, zlib.DEFLATED, -10)   # a fresh window each message
        data = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
        ws.send_frame(2, data[:-4], rsv1=True)
        op, fin, rsv1, p = ws.recv_frame()
        assert (op, fin, rsv1) == (2, True, True)
        # each message inflates on its own, with a 512-byte window
        assert zlib.decompressobj(-9).decompress(p + TAIL) == msg
        frames.append(p)
    assert frames[0] == frames[1]
    ws.send_frame(8, struct.pack("!H", 1000))
    assert ws.recv_close()[0] == 1000


OFFERS = [
    ("permessage-deflate; server_max_window_bits=8", None),           # zlib can't
    ("permessage-deflate; unknown_param", None),
    ("permessage-deflate; client_max_window_bits=16", None),
    ("permessage-deflate; client_max_window_bits=x", None),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
    ("permessage-deflate; server_no_context_takeover=1", None),
    ("x-webkit-deflate-frame", None),
    ("permessage-deflate; server_max_window_bits=8, permessage-deflate; "
     "server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"),
    ("x-webkit-deflate-frame; no_context_takeover, permessage-deflate",
     "permessage-deflate; server_max_window_bits=12"),
    ("permessage-deflate; server_max_window_bits=15; client_max_window_bits=8",
     "permessage-deflate; server_max_window_bits=12; client_max_window_bits=8"),
]


def test_offers_declined_or_accepted(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server)
    for offer, answer in OFFERS:
        ws = RawWS(srv.port, offer)
        assert ws.headers.get("sec-websocket-extensions") == answer, offer
        ws.send_frame(1, b"plain")
        op, fin, rsv1, p = ws.recv_frame()
        assert (op, fin, rsv1) == (1, True, answer is not None)
        if answer is None:                             # not negotiated: RSV1 is an error
            assert p == b"plain"
            ws.send_frame(1, b"\x2a\x00", rsv1=True)
            assert ws.recv_close()[0] == 1002
        else:
            assert zlib.decompressobj(-15).decompress(p + TAIL) == b"plain"
            c = zlib.compressobj(6, zlib.DEFLATED, -9)
            ws.send_frame(1, (c.compress(b"back") + c.flush(zlib.Z_SYNC_FLUSH))[:-4],
                          rsv1=True)
            op, _, rsv1, p = ws.recv_frame()
            assert (op, rsv1) == (1, True)
            ws.send_frame(8, struct.pack("!H", 1000))
            assert ws.recv_close()[0] == 1000
        ws.sock.close()


def test_compression_off(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server, "ASGIWebSocketCompression Off")
    with connect(f"ws://127.0.0.1:{srv.port}/ws/x") as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []
        ws.send("abc" * 1000)
        assert ws.recv() == "abc" * 1000
    ws2 = RawWS(srv.port, "permessage-deflate")
    assert "sec-websocket-extensions" not in ws2.headers
    ws2.send_frame(1, b"big:10")
    assert ws2.recv_frame() == (1, True, False, b"abc" * 10)
    ws2.send_frame(1, b"\x2a\x00", rsv1=True)
    assert ws2.recv_close()[0] == 1002


def test_zip_bomb_and_max_size_apply_inflated(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server, "ASGIWebSocketMaxSize 65536")

    def deflated(data: bytes) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]

    ws = RawWS(srv.port, "permessage-deflate")
    ws.send_frame(2, deflated(b"\x00" * 65536), rsv1=True)      # exactly the maximum: fine
    op, _, rsv1, p = ws.recv_frame()
    assert op == 2 and rsv1 and len(p) < 1000
    bomb = deflated(b"\x00" * 50_000_000)                       # ~50 KB on the wire
    assert len(bomb) < 65536
    t0 = time.monotonic()
    ws.send_frame(2, bomb, rsv1=True)
    assert ws.recv_close() == (1009, "message too big (inflated)")
    assert time.monotonic() - t0 < 1.0
    assert ws.closed_by_server()
    assert wait_file(srv.root / "apps" / "disconnect") == "1009"
    # the same across fragments: each inflated as it comes
    (srv.root / "apps" / "disconnect").unlink()
    ws = RawWS(srv.port, "permessage-deflate")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = c.compress(b"\x00" * 40000) + c.flush(zlib.Z_SYNC_FLUSH)
    two = c.compress(b"\x00" * 40000) + c.flush(zlib.Z_SYNC_FLUSH)
    ws.send_frame(2, one, fin=False, rsv1=True)
    ws.send_frame(0, two[:-4])
    assert ws.recv_close()[0] == 1009
    assert wait_file(srv.root / "apps" / "disconnect") == "1009"
    # garbage that does not inflate
    ws = RawWS(srv.port, "permessage-deflate")
    ws.send_frame(1, b"\xff\xff\xff\xff", rsv1=True)
    assert ws.recv_close()[0] == 1002


# --- keep-alive pings ------------------------------------------------------------------
PINGS = "ASGIWebSocketPingInterval 0.2\nASGIWebSocketPingTimeout 0.3\n"


def test_pings_arrive_and_an_answering_client_stays(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server, PINGS)
    ws = RawWS(srv.port)
    t0 = time.monotonic()
    payloads = []
    while time.monotonic() - t0 < 0.7:
        op, fin, rsv1, p = ws.recv_frame()
        assert (op, fin, rsv1) == (9, True, False)
        payloads.append(p)
        ws.send_frame(10, p)                      # the pong
    assert len(payloads) >= 2 and len(set(payloads)) == len(payloads)
    ws.send_frame(1, b"still here")
    while (f := ws.recv_frame())[0] == 9:
        ws.send_frame(10, f[3])
    assert f == (1, True, False, b"still here")
    # the websockets client answers pings itself: idle for a while, then talk
    with connect(f"ws://127.0.0.1:{srv.port}/ws/x", ping_interval=None) as c:
        time.sleep(0.6)
        c.send("after idle")
        assert c.recv() == "after idle"


def test_silent_client_closed_with_1011(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server, PINGS)
    ws = RawWS(srv.port)
    t0 = time.monotonic()
    assert ws.recv_frame()[0] == 9                # a ping we never answer
    assert ws.recv_close() == (1011, "keepalive ping timeout")
    assert 0.4 < time.monotonic() - t0 < 2.0      # after the interval and the timeout
    assert ws.closed_by_server()
    assert wait_file(srv.root / "apps" / "disconnect") == "1011"
    deadline = time.monotonic() + 2
    while "did not answer a ping" not in srv.error_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "WebSocket client did not answer a ping within 0.3 seconds (closing with 1011)" \
        in srv.error_log()


def test_any_frame_counts_as_an_answer(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server, PINGS)
    ws = RawWS(srv.port)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.8:            # data instead of pongs
        op, _, _, p = ws.recv_frame()
        if op == 9:
            ws.send_frame(1, b"alive")
        else:
            assert (op, p) == (1, b"alive")
    ws.send_frame(8, struct.pack("!H", 1000))
    assert ws.recv_close()[0] == 1000


def test_pings_off_and_timeout_off(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = start(make_server, "ASGIWebSocketPingInterval 0\n")
    ws = RawWS(srv.port)
    ws.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):             # nothing at all comes
        ws.recv_frame()
    ws.sock.settimeout(3)
    ws.send_frame(1, b"ok")
    assert ws.recv_frame() == (1, True, False, b"ok")
    srv.stop()
    srv2 = start(make_server, "ASGIWebSocketPingInterval 0.15\nASGIWebSocketPingTimeout 0\n")
    ws = RawWS(srv2.port)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 0.65:           # never answered, never closed
        assert ws.recv_frame()[0] == 9
        n += 1
    assert n >= 2
    ws.send_frame(1, b"ok")
    while (f := ws.recv_frame())[0] == 9:
        pass
    assert f == (1, True, False, b"ok")
