"""SSLEngine optional: RFC 2817 Upgrade to TLS within HTTP/1.1 (2.2's ssl_hook_ReadReq
and upgrade_connection; SSLRequireSSL answers 426 Upgrade Required on such a vhost)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from tests_ssl_helpers import cert_lines, client_context, parse_response, wait_log

UPGRADE = ("GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: TLS/1.0\r\n"
           "Connection: Upgrade\r\n{extra}\r\n")


def _optional(tls_server: Any, pki: Any, more: str = "") -> Any:
    return tls_server(cert_lines(pki) + "SSLEngine optional\n" + more)


def _read_head(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _read_response(s: Any) -> bytes:
    """One response (Content-Length framed) from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _upgrade(port: int, path: str = "/", extra: str = "") -> tuple[bytes, ssl.SSLSocket]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(UPGRADE.format(path=path, extra=extra).encode())
    head = _read_head(raw)
    tls = client_context().wrap_socket(raw, server_hostname="localhost")
    return head, tls


def test_upgrade_to_tls_then_answer_over_tls(tls_server: Any, pki: Any) -> None:
    srv = _optional(tls_server, pki)
    head, tls = _upgrade(srv.port)
    try:
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Upgrade: TLS/1.0, HTTP/1.1\r\n" in head
        assert b"Connection: Upgrade\r\n" in head
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        r = parse_response(_read_response(tls), tls)
        assert r.status == 200 and r.body == b"hello\n"
        # the connection stays: a second request over the same TLS session
        tls.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r2 = parse_response(_read_response(tls), tls)
        assert r2.status == 200 and r2.body == b"hello\n"
    finally:
        tls.close()
    log = wait_log(srv, ('"GET / HTTP/1.1"', '"GET /index.html HTTP/1.1" 200'))
    lines = [ln for ln in log.splitlines() if '"GET / HTTP/1.1"' in ln]
    assert lines and " on" in lines[0] and "TLSv1." in lines[0], log
    assert "upgrading connection to TLS" in srv.error_log()


def test_optional_without_upgrade_serves_plain_http(tls_server: Any, pki: Any) -> None:
    srv = _optional(tls_server, pki)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    r = parse_response(data)
    assert r.status == 200 and r.body == b"hello\n"
    assert "upgrade" not in r.headers       # 2.2 offers nothing unasked
    # Upgrade to some other protocol is not ours: plain answer
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\n"
                  b"Connection: Upgrade, close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert parse_response(data).status == 200


def test_require_ssl_on_optional_vhost_answers_426(tls_server: Any, pki: Any) -> None:
    srv = _optional(tls_server, pki, "<Location /secure>\n    SSLRequireSSL\n</Location>\n")
    (srv.root / "htdocs" / "secure").mkdir()
    (srv.root / "htdocs" / "secure" / "index.html").write_text("secret\n")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /secure/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    r = parse_response(data)
    assert r.status == 426, data
    assert r.headers.get("upgrade") == "TLS/1.0, HTTP/1.1"
    assert "upgrade" in r.headers.get("connection", "").lower()
    head, tls = _upgrade(srv.port, "/secure/")
    try:
        assert b" 101 " in head
        r = parse_response(_read_response(tls), tls)
        assert r.status == 200 and r.body == b"secret\n"
    finally:
        tls.close()


ECHO_CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "HTTPS=$HTTPS SSL_PROTOCOL=$SSL_PROTOCOL"
cat
"""


def test_upgrade_with_request_body_reaches_cgi_over_tls(tls_server: Any, pki: Any) -> None:
    vhost = (cert_lines(pki) + "SSLEngine optional\n"
             "ScriptAlias /cgi-bin/ @ROOT@/cgi-bin/\n"
             "<Directory @ROOT@/cgi-bin>\n    SSLOptions +StdEnvVars\n</Directory>\n")
    srv = tls_server(vhost, start=False, files={"cgi-bin/echo.cgi": ECHO_CGI})
    conf = srv.srv.conf_path.read_text().replace("@ROOT@", str(srv.root))
    srv.srv.conf_path.write_text(conf)
    (srv.root / "cgi-bin" / "echo.cgi").chmod(0o755)
    srv.srv.start()
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    raw.sendall(b"POST /cgi-bin/echo.cgi HTTP/1.1\r\nHost: localhost\r\nUpgrade: TLS/1.0\r\n"
                b"Connection: Upgrade, close\r\nContent-Length: 5\r\n\r\nhello")
    head = _read_head(raw)
    assert b" 101 " in head
    tls = client_context().wrap_socket(raw, server_hostname="localhost")
    data = b""
    try:
        while True:
            try:
                chunk = tls.recv(4096)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    finally:
        tls.close()
    r = parse_response(data)
    assert r.status == 200, data
    assert b"HTTPS=on SSL_PROTOCOL=TLSv1." in r.body
    assert r.body.rstrip().endswith(b"hello")       # the body read before the switch


def test_failed_upgrade_handshake_closes(tls_server: Any, pki: Any) -> None:
    srv = _optional(tls_server, pki)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(UPGRADE.format(path="/", extra="").encode())
        assert b" 101 " in _read_head(s)
        s.sendall(b"this is no ClientHello\r\n\r\n")
        rest = b""
        try:
            while chunk := s.recv(4096):
                rest += chunk
        except ConnectionResetError:
            pass
    assert b"HTTP/1.1 200" not in rest
    log = wait_log(srv, "TLS upgrade handshake failed", name="error_log")
    assert "TLS upgrade handshake failed: not accepted by client!?" in log


def test_tls_hello_on_optional_port_fails_fast(tls_server: Any, pki: Any) -> None:
    srv = _optional(tls_server, pki)
    # a TLS ClientHello straight at the optional port is no HTTP request: a 400 at once
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        with client_context().wrap_socket(raw, server_hostname="localhost"):
            pass
        ok = True
    except (ssl.SSLError, OSError):
        ok = False
    finally:
        raw.close()
    assert not ok


WS_APP = r'''
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": scope["scheme"] + " " + m["text"]})
'''


def test_websocket_over_tls(tls_server: Any, pki: Any) -> None:
    """core.upgrade's switch (mod_asgi WebSocket) on a TLS connection: the TLS layer
    hands the decrypted stream to the upgraded protocol (wss://)."""
    import pytest

    websockets = pytest.importorskip("websockets")
    from websockets.sync.client import connect

    del websockets
    srv = tls_server(cert_lines(pki) + "ASGIScriptAlias /ws @ROOT@/apps/ws.py\n",
                     start=False, files={"apps/ws.py": WS_APP})
    conf = srv.srv.conf_path.read_text().replace("@ROOT@", str(srv.root))
    srv.srv.conf_path.write_text(conf)
    srv.srv.start()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    # Host and SNI both "localhost" (mod_ssl refuses a Host that differs from the SNI)
    with connect(f"wss://localhost:{srv.port}/ws", sock=sock, ssl=client_context(),
                 server_hostname="localhost", open_timeout=10) as ws:
        for i in range(3):
            ws.send(f"m{i}" * (1 + 5000 * i))
            assert ws.recv(timeout=10) == "wss " + f"m{i}" * (1 + 5000 * i)
    log = wait_log(srv, " 101 ")
    assert '"GET /ws HTTP/1.1" 101' in log and " on" in log.splitlines()[-1], log
