"""permessage-deflate (RFC 7692) for mod_asgi's WebSocket: Sec-WebSocket-Extensions
parsing, the negotiation of an offer (websockets' server settings: 12-bit windows,
memLevel 5), and the per-connection compressor and inflater. The frame reader and the
ASGI side are in websocket.py."""

from __future__ import annotations

import re
import zlib
from typing import Any

DEFLATE_WINDOW_BITS = 12                    # websockets' server defaults, both directions
DEFLATE_MEM_LEVEL = 5
DEFLATE_TAIL = b"\x00\x00\xff\xff"


class PerMessageDeflate:
    """The negotiated extension: our compressor and the client's inflater."""

    __slots__ = ("client_bits", "client_nct", "decoder", "encoder", "response",
                 "server_bits", "server_nct")

    def __init__(self, server_nct: bool = False, client_nct: bool = False,
                 server_bits: int = DEFLATE_WINDOW_BITS, client_bits: int = 15,
                 response: str = "permessage-deflate") -> None:
        self.server_nct = server_nct          # we start each message with a fresh window
        self.client_nct = client_nct          # the client does: so does our inflater
        self.server_bits = server_bits
        self.client_bits = client_bits
        self.response = response              # the Sec-WebSocket-Extensions we answer
        self.encoder: Any = None
        self.decoder: Any = None

    def compress(self, data: bytes) -> bytes:
        """One whole message, as its frame's payload (the sync-flush tail removed)."""
        c = self.encoder
        if c is None:
            c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                 -self.server_bits, DEFLATE_MEM_LEVEL)
            if not self.server_nct:
                self.encoder = c
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(DEFLATE_TAIL) else out

    def inflater(self) -> Any:
        d = self.decoder
        if d is None:
            # a bigger window than the client's always inflates its data; 9 at least
            # because zlib's deflate quietly turns a window of 8 into 9
            d = self.decoder = zlib.decompressobj(-max(self.client_bits, 9))
        return d

    def end_message(self) -> None:
        """An incoming compressed message is complete."""
        d = self.decoder
        if self.client_nct or (d is not None and d.eof):
            self.decoder = None               # (a final block ends the stream: start anew)


def deflate_bound(n: int) -> int:
    """The most raw deflate makes of ``n`` bytes, whatever the client's memLevel and
    window (zlib's conservative deflateBound: small stored blocks cost 5 bytes each)."""
    return n + ((n + 7) >> 3) + ((n + 63) >> 6) + 5


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_ELEM_RE = re.compile(rf'\s*({_TOKEN})\s*(?:=\s*({_TOKEN}|"(?:[^"\\]|\\.)*")\s*)?')
_WINDOW_BITS = {str(b): b for b in range(8, 16)}


def parse_extensions(values: list[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Sec-WebSocket-Extensions (RFC 6455 9.1) as [(name, [(param, value|None)])];
    an element that does not parse is left out."""
    out: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        for elem in _split(value, ","):
            parts = _split(elem, ";")
            if not parts[0].strip():
                continue
            name_m = re.fullmatch(rf"\s*({_TOKEN})\s*", parts[0])
            if name_m is None:
                continue
            params: list[tuple[str, str | None]] = []
            ok = True
            for part in parts[1:]:
                m = _ELEM_RE.fullmatch(part)
                if m is None:
                    ok = False
                    break
                v = m.group(2)
                if v is not None and v.startswith('"'):
                    v = re.sub(r"\\(.)", r"\1", v[1:-1])
                params.append((m.group(1).lower(), v))
            if ok:
                out.append((name_m.group(1).lower(), params))
    return out


def _split(s: str, sep: str) -> list[str]:
    """``s`` cut at ``sep`` outside quoted strings."""
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in s:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def negotiate_deflate(values: list[str]) -> PerMessageDeflate | None:
    """The first permessage-deflate offer we can honour, or None (no compression)."""
    for name, params in parse_extensions(values):
        if name == "permessage-deflate":
            pmd = _accept_offer(params)
            if pmd is not None:
                return pmd
    return None


def _accept_offer(params: list[tuple[str, str | None]]) -> PerMessageDeflate | None:
    seen: set[str] = set()
    server_nct = client_nct = False
    server_bits: int | None = None
    client_offered = False                    # client_max_window_bits, with or without value
    client_bits = 15
    for name, value in params:
        if name in seen:
            return None                       # duplicated: declined (RFC 7692 7)
        seen.add(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
            if name[0] == "s":
                server_nct = True
            else:
                client_nct = True
        elif name == "server_max_window_bits":
            if value not in _WINDOW_BITS:
                return None
            server_bits = _WINDOW_BITS[value]
        elif name == "client_max_window_bits":
            client_offered = True
            if value is None:                 # supported, no limit of the client's own
                client_bits = DEFLATE_WINDOW_BITS
            elif value in _WINDOW_BITS:
                client_bits = min(_WINDOW_BITS[value], DEFLATE_WINDOW_BITS)
            else:
                return None
        else:
            return None                       # unknown parameter: declined
    if server_bits == 8:
        return None                           # zlib can't deflate with a 256-byte window
    sbits = DEFLATE_WINDOW_BITS if server_bits is None else min(server_bits,
                                                                 DEFLATE_WINDOW_BITS)
    resp = ["permessage-deflate"]
    if server_nct:
        resp.append("server_no_context_takeover")
    if client_nct:
        resp.append("client_no_context_takeover")
    resp.append(f"server_max_window_bits={sbits}")
    if client_offered:
        resp.append(f"client_max_window_bits={client_bits}")
    return PerMessageDeflate(server_nct, client_nct, sbits, client_bits, "; ".join(resp))


__all__ = ["DEFLATE_TAIL", "DEFLATE_WINDOW_BITS", "PerMessageDeflate", "deflate_bound",
           "negotiate_deflate", "parse_extensions"]
