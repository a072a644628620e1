"""mod_asgi WebSocket end to end: a real featherd, the `websockets` client library and a
minimal RFC 6455 client of our own (for what a well-behaved library never sends:
fragments, bare pings, bad close codes, unmasked frames, invalid UTF-8). Echo, binary,
subprotocols and handshake headers, denial (403, websocket.http.response), errors before
and after accepting, close codes both ways, big and too-big messages, many sockets at
once, the access log (101), mod_status (busy while open) and a graceful stop (1001)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import time

import pytest
import requests

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402
from ws_testlib import RawWS  # noqa: E402

APP = r'''
import json, os

HERE = os.path.dirname(__file__)

def note(name, value):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(str(value))

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    path = scope["path"]
    m = await receive()
    assert m["type"] == "websocket.connect", m
    if path == "/ws/deny":
        await send({"type": "websocket.close", "code": 1008})
        return
    if path == "/ws/httpdeny":
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"x-why", b"token")]})
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})
        return
    if path == "/ws/boom-before":
        raise RuntimeError("ws kaboom before accept")
    if path == "/ws/noaccept":
        return
    if path == "/ws/scope":
        await send({"type": "websocket.accept"})
        s = {k: v for k, v in scope.items() if k not in ("headers", "raw_path", "query_string",
                                                        "state", "extensions")}
        s["ext"] = sorted(scope["extensions"])
        s["query_string"] = scope["query_string"].decode()
        s["hdrs"] = {k.decode(): v.decode() for k, v in scope["headers"]}
        await send({"type": "websocket.send", "text": json.dumps(s)})
        await send({"type": "websocket.close"})
        return
    if path == "/ws/hello":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        return                      # returns without closing: 1000
    subs = scope["subprotocols"]
    await send({"type": "websocket.accept", "subprotocol": subs[0] if subs else None,
                "headers": [(b"x-ws", b"yes")]})
    note("accepted", 1)
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            note("disconnect", m["code"])
            return
        if "text" in m and m["text"] is not None:
            t = m["text"]
            if t.startswith("close:"):
                await send({"type": "websocket.close", "code": int(t[6:]), "reason": "asked"})
                m = await receive()
                note("disconnect", m["code"])
                return
            if t == "boom":
                raise ValueError("ws kaboom after accept")
            if t.startswith("len:"):
                await send({"type": "websocket.send", "bytes": b"x" * int(t[4:])})
                continue
            await send({"type": "websocket.send", "text": t})
        else:
            await send({"type": "websocket.send", "bytes": m["bytes"]})
'''

ASGI2_APP = r'''
class App:
    def __init__(self, scope):
        self.scope = scope
    async def __call__(self, receive, send):
        if self.scope["type"] == "lifespan":
            return
        ver = self.scope["asgi"]["version"].encode()
        if self.scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"asgi2 " + ver})
            return
        await receive()
        await send({"type": "websocket.accept"})
        m = await receive()
        await send({"type": "websocket.send", "text": "asgi2 %s %s" % (ver.decode(), m["text"])})
        await send({"type": "websocket.close"})

app = App
'''

CONF = """
LoadModule status_module modules/mod_status.so
ASGIScriptAlias /ws @ROOT@/apps/ws.py
ASGIScriptAlias /two @ROOT@/apps/two.py
ASGIWebSocketMaxSize 2097152
<Location /server-status>
    SetHandler server-status
</Location>
"""


@pytest.fixture
def srv(make_server):
    return make_server(CONF, files={"apps/ws.py": APP, "apps/two.py": ASGI2_APP})


def ws_url(srv, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


def wait_file(path, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def wait_log(srv, needle: str, count: int = 1, timeout: float = 5.0) -> str:
    """The access log once it holds ``count`` lines with ``needle`` (it is written in
    batches)."""
    deadline = time.monotonic() + timeout
    while srv.access_log().count(needle) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return srv.access_log()


def test_echo_text_binary_subprotocol_headers(srv):
    with connect(ws_url(srv, "/ws/echo"), subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-ws"] == "yes"
        assert ws.response.headers["Connection"].lower() == "upgrade"
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\x01\xff")
        assert ws.recv() == b"\x00\x01\xff"
        for i in range(20):
            ws.send(f"m{i}")
        assert [ws.recv() for _ in range(20)] == [f"m{i}" for i in range(20)]
    assert wait_file(srv.root / "apps" / "disconnect") == "1000"
    log = wait_log(srv, '"GET /ws/echo HTTP/1.1" 101 -')
    assert '"GET /ws/echo HTTP/1.1" 101 -' in log
    # plain HTTP on the same mount still works
    assert requests.get(srv.url("/ws/echo")).text == "plain http"


def test_scope(srv):
    with connect(ws_url(srv, "/ws/scope?a=1"), subprotocols=["p1"]) as ws:
        s = json.loads(ws.recv())
    assert s["type"] == "websocket"
    assert s["scheme"] == "ws"
    assert s["path"] == "/ws/scope"
    assert s["root_path"] == "/ws"
    assert s["query_string"] == "a=1"
    assert s["subprotocols"] == ["p1"]
    assert s["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert s["ext"] == ["featherd", "websocket.http.response"]
    assert s["hdrs"]["upgrade"] == "websocket"
    assert "method" not in s


def test_fragments_ping_and_client_close(srv):
    ws = RawWS(srv.port)
    assert ws.head.startswith(b"HTTP/1.1 101 Switching Protocols")
    ws.send_frame(1, b"frag", fin=False)
    ws.send_frame(9, b"ping-in-the-middle")          # control frames may interleave
    ws.send_frame(0, b"men", fin=False)
    ws.send_frame(0, "té".encode(), fin=True)
    assert ws.recv_frame() == (10, True, b"ping-in-the-middle")
    assert ws.recv_frame() == (1, True, "fragmenté".encode())
    ws.send_frame(2, b"\x01" * 70000)                 # 64-bit length form
    op, fin, p = ws.recv_frame()
    assert (op, fin, len(p), p[:1]) == (2, True, 70000, b"\x01")
    ws.send_frame(8, struct.pack("!H", 4000) + b"bye")
    assert ws.recv_close() == (4000, "")
    assert ws.closed_by_server()
    ws.close()
    assert wait_file(srv.root / "apps" / "disconnect") == "4000"


def test_server_close_code(srv):
    with connect(ws_url(srv, "/ws/echo")) as ws:
        ws.send("close:4001")
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv()
        assert ws.close_code == 4001
        assert ws.close_reason == "asked"
    assert wait_file(srv.root / "apps" / "disconnect") == "4001"


def test_return_without_close_is_1000(srv):
    with connect(ws_url(srv, "/ws/hello")) as ws:
        assert ws.recv() == "hello"
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv()
        assert ws.close_code == 1000


def test_denials_and_errors(srv):
    with pytest.raises(websockets.exceptions.InvalidStatus) as ei:
        connect(ws_url(srv, "/ws/deny"))
    assert ei.value.response.status_code == 403
    with pytest.raises(websockets.exceptions.InvalidStatus) as ei:
        connect(ws_url(srv, "/ws/httpdeny"))
    assert ei.value.response.status_code == 401
    assert ei.value.response.headers["x-why"] == "token"
    assert ei.value.response.body == b"no entry"
    with pytest.raises(websockets.exceptions.InvalidStatus) as ei:
        connect(ws_url(srv, "/ws/boom-before"))
    assert ei.value.response.status_code == 500
    with pytest.raises(websockets.exceptions.InvalidStatus) as ei:
        connect(ws_url(srv, "/ws/noaccept"))
    assert ei.value.response.status_code == 500
    with connect(ws_url(srv, "/ws/echo")) as ws:
        ws.send("boom")
        with pytest.raises(websockets.exceptions.ConnectionClosedError):
            ws.recv()
        assert ws.close_code == 1011
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(
            s in srv.error_log() for s in ("ws kaboom before accept", "ws kaboom after accept",
                                           "without accepting")):
        time.sleep(0.05)
    err = srv.error_log()
    assert "ws kaboom before accept" in err
    assert "ws kaboom after accept" in err
    assert "returned without accepting or closing the websocket" in err
    log = wait_log(srv, '"GET /ws/boom-before HTTP/1.1" 500')
    assert '"GET /ws/deny HTTP/1.1" 403' in log
    assert '"GET /ws/httpdeny HTTP/1.1" 401' in log
    assert '"GET /ws/boom-before HTTP/1.1" 500' in log


def test_bad_handshakes(srv):
    r = srv.raw(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 8\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13\r\n" in r
    r = srv.raw(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade, close\r\nSec-WebSocket-Key: short\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400 ")
    # the accept key of RFC 6455's example
    ws = RawWS(srv.port)
    assert b"Sec-WebSocket-Accept: " in ws.head
    ws.close()
    from featherd.modules.python.ws_frames import accept_key

    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("case,code", [
    ("unmasked", 1002), ("rsv", 1002), ("opcode", 1002), ("badutf8", 1007),
    ("cont-first", 1002), ("long-ping", 1002), ("bad-close-code", 1002),
    ("nested-message", 1002), ("too-big", 1009), ("too-big-fragments", 1009),
])
def test_protocol_errors(srv, case, code):
    ws = RawWS(srv.port)
    if case == "unmasked":
        ws.send_frame(1, b"hi", mask=False)
    elif case == "rsv":
        ws.send_frame(1, b"hi", rsv=0x40)
    elif case == "opcode":
        ws.send_frame(3, b"hi")
    elif case == "badutf8":
        ws.send_frame(1, b"\xff\xfe")
    elif case == "cont-first":
        ws.send_frame(0, b"hi")
    elif case == "long-ping":
        ws.send_frame(9, b"p" * 126)
    elif case == "bad-close-code":
        ws.send_frame(8, struct.pack("!H", 1005))
    elif case == "nested-message":
        ws.send_frame(1, b"a", fin=False)
        ws.send_frame(1, b"b")
    elif case == "too-big":
        ws.send_frame(2, b"x" * (2 * 1024 * 1024 + 1))
    elif case == "too-big-fragments":
        ws.send_frame(2, b"x" * (1024 * 1024), fin=False)
        ws.send_frame(0, b"x" * (1024 * 1024), fin=False)
        ws.send_frame(0, b"x", fin=True)
    assert ws.recv_close()[0] == code
    assert ws.closed_by_server()
    ws.close()
    assert wait_file(srv.root / "apps" / "disconnect") == str(code)


def test_large_messages(srv):
    big = os.urandom(2 * 1024 * 1024 - 10)
    with connect(ws_url(srv, "/ws/echo"), max_size=None) as ws:
        ws.send(big)
        assert ws.recv() == big
        ws.send("len:5000000")                       # server → client: any size
        assert len(ws.recv()) == 5000000


def test_many_concurrent_sockets(srv):
    async def one(i: int) -> list[str]:
        from websockets.asyncio.client import connect as aconnect

        async with aconnect(ws_url(srv, "/ws/echo")) as ws:
            out = []
            for j in range(5):
                await ws.send(f"{i}-{j}")
                out.append(await ws.recv())
            return out

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(one(i) for i in range(100)))

    res = asyncio.run(main())
    assert res == [[f"{i}-{j}" for j in range(5)] for i in range(100)]
    assert wait_log(srv, " 101 ", 100).count(" 101 ") == 100


def test_status_busy_while_open_and_graceful_stop(srv):
    base = requests.get(srv.url("/server-status?auto")).text
    busy0 = int(base.split("BusyWorkers: ")[1].split()[0])
    ws = RawWS(srv.port)
    ws2 = RawWS(srv.port)
    assert wait_file(srv.root / "apps" / "accepted")
    st = requests.get(srv.url("/server-status?auto")).text
    assert int(st.split("BusyWorkers: ")[1].split()[0]) >= busy0 + 2
    ws2.send_frame(8, struct.pack("!H", 1000))
    assert ws2.recv_close() == (1000, "")
    ws2.close()
    # a graceful stop: each open socket is told "going away"
    os.kill(srv.proc.pid, signal.SIGWINCH)
    assert ws.recv_close()[0] == 1001
    ws.send_frame(8, struct.pack("!H", 1001))
    assert ws.closed_by_server()
    ws.close()
    srv.proc.wait(timeout=10)
    assert wait_file(srv.root / "apps" / "disconnect") == "1001"
    assert srv.access_log().count('"GET /ws/echo HTTP/1.1" 101') == 2


def test_asgi2_application(srv):
    assert requests.get(srv.url("/two/x")).text == "asgi2 2.0"
    with connect(ws_url(srv, "/two/sock")) as ws:
        ws.send("hi")
        assert ws.recv() == "asgi2 2.0 hi"


def test_wss_over_mod_ssl(make_server, tmp_path):
    import shutil
    import ssl
    import subprocess

    from featherd_testlib import free_port

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    tport = free_port()
    srv = make_server(CONF + f"""
Listen 127.0.0.1:{tport} https
<VirtualHost 127.0.0.1:{tport}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
</VirtualHost>
""", files={"apps/ws.py": APP, "apps/two.py": ASGI2_APP})
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    with connect(f"wss://127.0.0.1:{tport}/ws/echo", ssl=ctx) as ws:
        ws.send("secure")
        assert ws.recv() == "secure"
        ws.send(b"\x00" * 200000)
        assert ws.recv() == b"\x00" * 200000
    with connect(f"wss://127.0.0.1:{tport}/ws/scope", ssl=ctx) as ws:
        assert json.loads(ws.recv())["scheme"] == "wss"
    assert wait_file(srv.root / "apps" / "disconnect") == "1000"
