"""mod_deflate without sockets: Accept-Encoding q-values, the coders, check_gzip's
Content-Encoding surgery and the directives' checks (mod_deflate.c's messages)."""

from __future__ import annotations

import gzip
import struct
import zlib
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.http.headers import Headers
from featherd.modules import builtin_modules
from featherd.modules.filters import mod_deflate as md
from featherd.modules.filters.mod_deflate.codings import (
    DEFAULT_LEVELS,
    Compressor,
    Decompressor,
    choose_coding,
    outer_coding,
    parse_accept_encoding,
)

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

ALL = (("gzip", None), ("br", None), ("zstd", None))


def test_accept_encoding_parsing() -> None:
    acc = parse_accept_encoding("gzip;q=0.5, br ;q=1.0,identity; q=0, zstd;q=bad, GZIP;q=1")
    assert acc == {"gzip": 0.5, "br": 1.0, "identity": 0.0, "zstd": 0.0}
    assert parse_accept_encoding(" , ,gzip") == {"gzip": 1.0}
    assert parse_accept_encoding("gzip;q=7") == {"gzip": 1.0}     # clamped to [0, 1]


@pytest.mark.parametrize("accept,algos,want", [
    ("gzip", (("gzip", None),), "gzip"),
    ("gzip;q=0", (("gzip", None),), None),                       # refused coding
    ("deflate, br", (("gzip", None),), None),                    # only gzip offered
    ("*", (("gzip", None),), None),                              # as Apache: named only
    ("x-gzip", (("gzip", None),), None),
    ("gzip, br, zstd", ALL, "gzip"),                             # tie: config order
    ("gzip, br, zstd", (("zstd", None), ("br", None), ("gzip", None)), "zstd"),
    ("gzip;q=0.8, br;q=0.9, zstd;q=0.1", ALL, "br"),             # highest q wins
    ("gzip;q=0.2, zstd", ALL, "zstd"),
    ("br;q=0, zstd;q=0, gzip;q=0.001", ALL, "gzip"),
    ("identity", ALL, None),
])
def test_choose_coding(accept: str, algos: Any, want: str | None) -> None:
    assert choose_coding(accept, algos) == want


def test_gzip_stream_is_apache_framed_and_decodes() -> None:
    data = b"<p>hello world</p>\n" * 500
    c = Compressor("gzip", -1, 15, 9)
    out = c.head + c.compress(data[:1000]) + c.flush() + c.compress(data[1000:]) + c.finish()
    assert out[:10] == bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3))   # OS_CODE 3, mtime 0
    assert gzip.decompress(out) == data
    crc, isize = struct.unpack("<II", out[-8:])
    assert crc == zlib.crc32(data) and isize == len(data)
    assert c.total_in == len(data)
    assert c.total_out == len(out) - 18                 # the deflate stream alone
    # the same bytes zlib gives with Apache's defaults (level 6, window 15, memlevel 9)
    z = zlib.compressobj(6, zlib.DEFLATED, -15, 9)
    c2 = Compressor("gzip", -1, 15, 9)
    assert c2.compress(data) + c2.finish()[:-8] == z.compress(data) + z.flush()


def test_window_and_memlevel_reach_zlib() -> None:
    data = bytes(range(256)) * 200
    small = Compressor("gzip", 9, 9, 1)
    big = Compressor("gzip", 9, 15, 9)
    a = small.compress(data) + small.finish()
    b = big.compress(data) + big.finish()
    assert a != b
    assert zlib.decompress(a[:-8], -15) == data
    with pytest.raises(ValueError):
        Compressor("gzip", 6, 7, 9)          # deflateInit2 refuses windowBits 1..7


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_br_and_zstd_streams(coding: str) -> None:
    data = b"line of text\n" * 3000
    c = Compressor(coding, DEFAULT_LEVELS[coding], 15, 9)
    out = c.compress(data[:5000]) + c.flush() + c.compress(data[5000:]) + c.finish()
    if coding == "br":
        assert brotli.decompress(out) == data
    else:
        assert zstandard.ZstdDecompressor().decompressobj().decompress(out) == data
    d = Decompressor(coding)
    assert d.decompress(out[:100]) + d.decompress(out[100:]) == data
    assert d.complete


def test_gzip_decompressor_ignores_trailing_garbage_and_knows_incomplete() -> None:
    z = gzip.compress(b"abc" * 100)
    d = Decompressor("gzip")
    assert d.decompress(z + b"junk") == b"abc" * 100
    assert d.complete
    d2 = Decompressor("gzip")
    d2.decompress(z[:-4])
    assert not d2.complete


def _req(**kw: Any) -> Any:
    r = SimpleNamespace(headers_out=Headers(), err_headers_out=Headers(), headers_in=Headers(),
                        content_encoding=None)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_outer_coding_is_check_gzip() -> None:
    r = _req()
    r.headers_out.set("Content-Encoding", "gzip")
    assert outer_coding(r, r.headers_out, r.err_headers_out) == "gzip"
    assert "Content-Encoding" not in r.headers_out
    r = _req()
    r.headers_out.set("Content-Encoding", "pkzip, x-gzip, identity")
    assert outer_coding(r, r.headers_out, r.err_headers_out) == "gzip"
    assert r.headers_out.get("Content-Encoding") == "pkzip"
    r = _req()
    r.headers_out.set("Content-Encoding", "gzip, pkzip")       # outermost isn't gzip
    assert outer_coding(r, r.headers_out, r.err_headers_out) is None
    assert r.headers_out.get("Content-Encoding") == "gzip, pkzip"
    r = _req(content_encoding="x-gzip")                          # mod_mime's AddEncoding
    assert outer_coding(r, r.headers_out, r.err_headers_out) == "gzip"
    assert r.content_encoding is None
    r = _req()
    r.err_headers_out.set("Content-Encoding", "br")
    assert outer_coding(r, r.headers_out, r.err_headers_out) == "br"
    r = _req()
    r.headers_in.set("Content-Encoding", "zstd")
    assert outer_coding(r, r.headers_in, None) == "zstd"
    assert outer_coding(_req(), Headers(), None) is None


def _load(tmp_path: Any, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName t.local\n" + text)


@pytest.mark.parametrize("line,msg", [
    ("DeflateWindowSize 0", "DeflateWindowSize must be between 1 and 15"),
    ("DeflateWindowSize 16", "DeflateWindowSize must be between 1 and 15"),
    ("DeflateMemLevel 10", "DeflateMemLevel must be between 1 and 9"),
    ("DeflateCompressionLevel 0", "Compression Level must be between 1 and 9"),
    ("DeflateCompressionLevel x", "Compression Level must be between 1 and 9"),
    ("DeflateBufferSize -4", "DeflateBufferSize should be positive"),
    ("DeflateFilterNote Speed n", "Unknown note type Speed"),
    ("DeflateFilterNote a b c", "DeflateFilterNote takes 1-2 arguments"),
    ("DeflateAlterETag Sometimes", "DeflateAlterETag accepts only"),
    ("DeflateAlgorithms gzip lzma", "unknown coding 'lzma'"),
    ("DeflateAlgorithms br=12", "the level of br must be between 0 and 11"),
    ("DeflateInflateRatioLimit 0", "DeflateInflateRatioLimit must be positive"),
    ("<Directory /x>\nDeflateBufferSize 10\n</Directory>", "not allowed here"),
])
def test_directive_errors(tmp_path: Any, line: str, msg: str) -> None:
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, line + "\n")
    assert msg in ei.value.message


def test_directives_fill_the_records(tmp_path: Any) -> None:
    tree = _load(tmp_path, "DeflateWindowSize 12\nDeflateMemLevel 5\nDeflateBufferSize 4096\n"
                           "DeflateCompressionLevel 9\nDeflateFilterNote ratio_n\n"
                           "DeflateFilterNote Input in_n\nDeflateFilterNote output out_n\n"
                           "DeflateAlterETag AddSuffix\nDeflateAlgorithms zstd=7 br gzip\n"
                           "DeflateInflateLimitRequestBody 1000\n")
    sc = tree.main.module_config[md.deflate.index]
    assert (sc.window_size, sc.mem_level, sc.buffer_size, sc.compression_level) == \
        (12, 5, 4096, 9)
    assert (sc.note_ratio, sc.note_input, sc.note_output) == ("ratio_n", "in_n", "out_n")
    assert sc.alter_etag == "addsuffix"
    dc = tree.main.lookup_defaults[md.deflate.index]
    assert dc.algorithms == (("zstd", 7), ("br", None), ("gzip", None))
    assert dc.inflate_limit == 1000
    assert "DEFLATE" not in tree.filters and "deflate" in tree.filters
    assert "deflate" in tree.input_filters and "inflate" in tree.filters
