"""mod_deflate's content codings: the streaming coders for gzip (zlib), br (the
``brotli`` package) and zstd (``zstandard``), Accept-Encoding negotiation, and
check_gzip's removal of a coding we can decode from Content-Encoding."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, Any

try:
    import brotli
except ImportError:   # pragma: no cover - optional dependency ("compression" extra)
    brotli = None
try:
    import zstandard
except ImportError:   # pragma: no cover
    zstandard = None

if TYPE_CHECKING:
    from featherd.core.request import Request

GZIP_HEADER = bytes((0x1F, 0x8B, zlib.DEFLATED, 0, 0, 0, 0, 0, 0, 3))   # OS_CODE unix
DEFAULT_LEVELS = {"br": 5, "zstd": 3}
ALGORITHMS = ("gzip", "br", "zstd")


def available(name: str) -> bool:
    return name == "gzip" or (name == "br" and brotli is not None) or \
        (name == "zstd" and zstandard is not None)


# --- Accept-Encoding and Content-Encoding ---------------------------------------------
def parse_accept_encoding(value: str) -> dict[str, float]:
    """Accept-Encoding as {coding: q}; the first mention of a coding counts."""
    out: dict[str, float] = {}
    for part in value.split(","):
        tok, *params = part.split(";")
        tok = tok.strip(" \t").lower()
        if not tok:
            continue
        q = 1.0
        for p in params:
            k, _, v = p.strip(" \t").partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v.strip(" \t\""))
                except ValueError:
                    q = 0.0
                q = min(max(q, 0.0), 1.0)
        out.setdefault(tok, q)
    return out


def choose_coding(accept: str, algos: tuple[tuple[str, int | None], ...]) -> str | None:
    """The configured coding the client takes with the highest q (None: identity)."""
    acc = parse_accept_encoding(accept)
    best: str | None = None
    best_q = 0.0
    for name, _ in algos:
        q = acc.get(name, 0.0)
        if q > best_q:
            best, best_q = name, q
    return best


def merge_vary(r: Request, token: str) -> None:
    """apr_table_mergen(headers_out, "Vary", token), without repeating the token."""
    cur = r.headers_out.get("Vary")
    if cur is None:
        r.headers_out.set("Vary", token)
        return
    if token.lower() not in {t.strip().lower() for t in cur.split(",")}:
        r.headers_out.set("Vary", f"{cur}, {token}")


def _tokens(enc: str) -> list[str]:
    return [t.strip(" \t") for t in enc.split(",")]


def outer_coding(r: Request, hdrs: Any, hdrs2: Any) -> str | None:
    """check_gzip: if the outermost (last non-identity) content coding is one we can
    decode, remove it from where it was set and return it (gzip, br or zstd)."""
    enc = hdrs.get("Content-Encoding")
    where = hdrs
    if not enc and hdrs2 is not None:
        enc = hdrs2.get("Content-Encoding")
        where = hdrs2
        if not enc:
            enc = r.content_encoding
            where = None
    if not enc:
        return None
    toks = [t for t in _tokens(enc)]
    while toks and (not toks[-1] or toks[-1].lower() == "identity"):
        toks.pop()
    if not toks:
        return None
    last = toks[-1].lower()
    coding = "gzip" if last in ("gzip", "x-gzip") else last
    if coding not in ALGORITHMS or not available(coding):
        return None
    rest = ",".join(toks[:-1]) or None
    if where is None:
        r.content_encoding = rest
    else:
        if rest is None:
            where.unset("Content-Encoding")
        else:
            where.set("Content-Encoding", rest)
        if r.content_encoding:
            r.content_encoding = None
    return coding


class Compressor:
    """One content coding's streaming compressor: compress / flush / finish."""

    def __init__(self, coding: str, level: int, wbits: int, memlevel: int) -> None:
        self.coding = coding
        self.total_in = 0
        self.total_out = 0                 # the coded stream, without gzip's framing
        self.crc = 0
        if coding == "gzip":
            self.z: Any = zlib.compressobj(level, zlib.DEFLATED, -wbits, memlevel)
            self.head = GZIP_HEADER
        elif coding == "br":
            self.z = brotli.Compressor(quality=level)
            self.head = b""
        else:
            self.z = zstandard.ZstdCompressor(level=level).compressobj()
            self.head = b""

    def compress(self, data: bytes) -> bytes:
        self.total_in += len(data)
        if self.coding == "gzip":
            self.crc = zlib.crc32(data, self.crc)
            out = self.z.compress(data)
        elif self.coding == "br":
            out = self.z.process(data)
        else:
            out = self.z.compress(data)
        self.total_out += len(out)
        return out  # type: ignore[no-any-return]

    def flush(self) -> bytes:
        if self.coding == "gzip":
            out = self.z.flush(zlib.Z_SYNC_FLUSH)
        elif self.coding == "br":
            out = self.z.flush()
        else:
            out = self.z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        self.total_out += len(out)
        return out  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        if self.coding == "gzip":
            out = self.z.flush(zlib.Z_FINISH)
            self.total_out += len(out)
            return out + struct.pack("<II", self.crc & 0xFFFFFFFF,   # type: ignore[no-any-return]
                                     self.total_in & 0xFFFFFFFF)
        out = self.z.finish() if self.coding == "br" else self.z.flush()
        self.total_out += len(out)
        return out  # type: ignore[no-any-return]


class Decompressor:
    """Streaming decoder for gzip, br or zstd."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        if coding == "gzip":
            self.z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "br":
            self.z = brotli.Decompressor()
        else:
            self.z = zstandard.ZstdDecompressor().decompressobj()

    def decompress(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            if self.z.eof:
                return b""                # data after the gzip member is ignored
            return self.z.decompress(data)  # type: ignore[no-any-return]
        if self.coding == "br":
            return self.z.process(data)  # type: ignore[no-any-return]
        if self.z.eof:
            return b""                    # data after the zstd frame is ignored
        return self.z.decompress(data)  # type: ignore[no-any-return]

    @property
    def complete(self) -> bool:
        if self.coding == "gzip":
            return bool(self.z.eof)
        if self.coding == "br":
            return bool(self.z.is_finished())
        return bool(self.z.eof)


def _errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [zlib.error, ValueError]
    if brotli is not None:
        errs.append(brotli.error)
    if zstandard is not None:
        errs.append(zstandard.ZstdError)
    return tuple(errs)


DECODE_ERRORS = _errors()
