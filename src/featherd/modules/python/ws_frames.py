"""The RFC 6455 wire format for mod_asgi's WebSockets: the opening handshake's key, server
frames, close payloads and codes, and the incremental reader of client frames.

The framing is ours: frames parsed as bytes arrive (no task per message), client frames
must be masked, RSV bits and unknown opcodes are protocol errors (1002), control frames
must be short and unfragmented, fragments are joined (a continuation without a start, or
a new message inside a fragmented one, is 1002), a message over the maximum size is 1009.
With permessage-deflate (ws_deflate.py) RSV1 on the first frame of a text or binary
message marks it compressed: it is inflated as its fragments arrive, the maximum size
applying to the inflated bytes (a zip bomb is 1009 before it grows past it); data that
does not inflate is 1002, RSV1 on a continuation or control frame (or without the
extension) is 1002. websocket.py is the connection: the ASGI events, the close
handshake, keep-alive pings.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

from featherd.modules.python.ws_deflate import DEFLATE_TAIL, PerMessageDeflate, deflate_bound

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
_DATA_OPS = (OP_CONT, OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + GUID).digest()).decode()


def valid_key(key: str | None) -> bool:
    if not key:
        return False
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (ValueError, TypeError):
        return False


def unmask(data: bytes | bytearray, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(m, "little")).to_bytes(n, "little")


def frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    """A server frame (unmasked) with its payload; ``rsv1`` marks a compressed message."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if n < 126:
        head = bytes((b0, n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    if code in (1005, 1006):
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def valid_close_code(code: int) -> bool:
    return (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.events: list[tuple[int, bytes]] = []    # complete ones before the error


class FrameReader:
    """Incremental RFC 6455 parser for client frames: ``feed(data)`` returns complete
    messages and control frames as (opcode, payload) pairs; raises ProtocolError.
    With ``deflate`` (permessage-deflate negotiated) a message whose first frame has
    RSV1 is inflated, fragment by fragment, up to ``max_size`` inflated bytes."""

    __slots__ = ("buf", "deflate", "frag_op", "frag_size", "frag_z", "frags", "inflated",
                 "max_size")

    def __init__(self, max_size: int, deflate: PerMessageDeflate | None = None) -> None:
        self.buf = bytearray()
        self.max_size = max_size
        self.deflate = deflate
        self.frag_op = 0
        self.frags: list[bytes] = []
        self.frag_size = 0
        self.frag_z = False                  # the fragmented message is compressed
        self.inflated = 0                    # inflated bytes of the current message

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        try:
            return self._feed(data, out)
        except ProtocolError as e:
            e.events = out
            raise

    def _feed(self, data: bytes, out: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            fin = b0 & 0x80
            op = b0 & 0x0F
            rsv = b0 & 0x70
            if rsv and (rsv != 0x40 or self.deflate is None
                        or op not in (OP_TEXT, OP_BINARY)):
                raise ProtocolError(1002, "reserved bits set")
            if not b1 & 0x80:
                raise ProtocolError(1002, "unmasked client frame")
            length = b1 & 0x7F
            hl = 6
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hl = 8
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                if length >> 63:
                    raise ProtocolError(1002, "bad frame length")
                hl = 14
            if op in _CONTROL_OPS:
                if not fin:
                    raise ProtocolError(1002, "fragmented control frame")
                if length > 125:
                    raise ProtocolError(1002, "control frame too long")
            elif op not in _DATA_OPS:
                raise ProtocolError(1002, f"unknown opcode {op}")
            elif length + self.frag_size > (
                    deflate_bound(self.max_size) if rsv or (op == OP_CONT and self.frag_z)
                    else self.max_size):
                # compressed: the limit is on the inflated size (below); on the wire it
                # may be what deflate makes of incompressible data of the maximum size
                raise ProtocolError(1009, "message too big")
            end = pos + hl + length
            if n < end:
                break
            mask = bytes(buf[pos + hl - 4:pos + hl])
            payload = unmask(buf[pos + hl:end], mask)
            pos = end
            if op in _CONTROL_OPS:
                out.append((op, payload))
                continue
            if op == OP_CONT:
                if not self.frag_op:
                    raise ProtocolError(1002, "continuation frame without a message")
                if self.frag_z:
                    payload = self._inflate(payload, bool(fin))
                self.frags.append(payload)
                self.frag_size += length
                if fin:
                    out.append((self.frag_op, b"".join(self.frags)))
                    self.frag_op = 0
                    self.frags = []
                    self.frag_size = 0
                    self.frag_z = False
                continue
            if self.frag_op:
                raise ProtocolError(1002, "new message inside a fragmented one")
            if rsv:
                self.inflated = 0
                payload = self._inflate(payload, bool(fin))
            if fin:
                out.append((op, payload))
            else:
                self.frag_op = op
                self.frags = [payload]
                self.frag_size = length
                self.frag_z = bool(rsv)
        if pos:
            del buf[:pos]
        return out

    def _inflate(self, data: bytes, fin: bool) -> bytes:
        """One fragment of a compressed message; never more than max_size in all."""
        pmd = self.deflate
        assert pmd is not None
        d = pmd.inflater()
        budget = self.max_size - self.inflated
        try:
            out = d.decompress(data, budget + 1) if data else b""
            if len(out) > budget or d.unconsumed_tail:
                raise ProtocolError(1009, "message too big (inflated)")
            if fin:
                budget -= len(out)
                more = d.decompress(DEFLATE_TAIL, budget + 1)
                if len(more) > budget or d.unconsumed_tail:
                    raise ProtocolError(1009, "message too big (inflated)")
                if more:
                    out += more
        except zlib.error as e:
            raise ProtocolError(1002, f"bad compressed data: {e}") from None
        self.inflated += len(out)
        if fin:
            pmd.end_message()
        return out


__all__ = ["GUID", "OP_BINARY", "OP_CLOSE", "OP_CONT", "OP_PING", "OP_PONG", "OP_TEXT",
           "FrameReader", "ProtocolError", "accept_key", "close_payload", "frame", "unmask",
           "valid_close_code", "valid_key"]
