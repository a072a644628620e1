"""A minimal RFC 6455 client for the WebSocket tests: any frame (masked or not, any RSV
bits), frames read as they come."""

from __future__ import annotations

import base64
import os
import socket
import struct


def client_frame(op: int, payload: bytes, fin: bool = True, rsv: int = 0,
                 mask: bool = True) -> bytes:
    """One frame as a client sends it (masked with a random key unless ``mask`` is
    False; ``rsv`` the RSV bits, e.g. 0x40 for a compressed message)."""
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    if n:
        m = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(
            n, "big")
    return head + key + payload


class RawWS:
    def __init__(self, port: int, path: str = "/ws/echo", extra: str = "",
                 timeout: float = 5) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            c = self.sock.recv(65536)
            assert c, self.buf
            self.buf += c
        self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)

    def send_frame(self, op: int, payload: bytes, fin: bool = True, mask: bool = True,
                   rsv: int = 0) -> None:
        self.sock.sendall(client_frame(op, payload, fin, rsv, mask))

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            c = self.sock.recv(65536)
            if not c:
                raise EOFError
            self.buf += c
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_raw(self) -> tuple[int, bool, int, bytes]:
        """(opcode, fin, RSV bits, payload) of the next frame."""
        b0, b1 = self._need(2)
        assert not b1 & 0x80, "server frames are never masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        return b0 & 0x0F, bool(b0 & 0x80), b0 & 0x70, self._need(n)

    def recv_frame(self) -> tuple[int, bool, bytes]:
        op, fin, _, payload = self.recv_raw()
        return op, fin, payload

    def recv_close(self) -> tuple[int, str]:
        while True:
            op, _, _, p = self.recv_raw()
            if op == 8:
                return (struct.unpack("!H", p[:2])[0] if p else 1005), p[2:].decode()

    def closed_by_server(self) -> bool:
        """The server closes the connection (what it still sends first is skipped)."""
        self.sock.settimeout(3)
        try:
            while True:
                if self.sock.recv(65536) == b"":
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()
