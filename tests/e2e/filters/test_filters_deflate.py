"""mod_deflate end to end, decoded by real decoders (gzip, brotli, zstandard): the 2.2
manual's configurations (AddOutputFilterByType, SetOutputFilter, BrowserMatch with
no-gzip and gzip-only-text/html, DeflateFilterNote in a LogFormat), Vary, no double
compression, HEAD/304/Range, streaming of big files and CGI output, the zlib
parameters, INFLATE, the DEFLATE input filter, and featherd's br/zstd by q-value."""

from __future__ import annotations

import gzip
import os
import random
import socket
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

PY = sys.executable
HTML = ("<html><body>" + "".join(f"<p>paragraph {i} of some html text</p>\n"
                                  for i in range(300)) + "</body></html>\n")
TEXT = "plain text line\n" * 400


def raw_get(srv: Any, path: str, headers: dict[str, str] | None = None,
            method: str = "GET") -> requests.Response:
    """A response whose body is kept as sent (no content decoding by requests)."""
    h = {"Accept-Encoding": "identity", **(headers or {})}
    r = requests.request(method, srv.url(path), headers=h, stream=True, timeout=10)
    r._content = r.raw.read(decode_content=False)
    return r


def start(make_server: Any, tmp_path: Path, conf: str, files: dict[str, Any] | None = None,
          scripts: dict[str, str] | None = None) -> Any:
    fs: dict[str, Any] = {"htdocs/a.html": HTML, "htdocs/a.txt": TEXT}
    fs.update(files or {})
    srv = make_server(conf, files=fs, start=False)
    for rel, text in (scripts or {}).items():
        p = tmp_path / "htdocs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755)
    return srv.start()


def test_add_output_filter_by_type_gzip(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "AddOutputFilterByType DEFLATE text/html\n")
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip, deflate"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(r.content) == HTML.encode()
    assert r.content[:10] == bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3))
    assert int(r.headers["Content-Length"]) == len(r.content) < len(HTML)
    # ETag as 2.2 leaves it (2.4 adds -gzip: DeflateAlterETag AddSuffix)
    assert raw_get(srv, "/a.html").headers["ETag"] == r.headers["ETag"]
    # another type: untouched, no Vary
    r = raw_get(srv, "/a.txt", {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in r.headers and "Vary" not in r.headers
    assert r.content == TEXT.encode()
    # no Accept-Encoding, or gzip refused: identity, but Vary says it depends
    for h in ({}, {"Accept-Encoding": "gzip;q=0"}, {"Accept-Encoding": "br"}):
        r = raw_get(srv, "/a.html", {"Accept-Encoding": "", **h} if not h else h)
        assert "Content-Encoding" not in r.headers, h
        assert r.headers["Vary"] == "Accept-Encoding"
        assert r.content == HTML.encode()
    # requests decodes it as any client would
    assert requests.get(srv.url("/a.html")).text == HTML


def test_browsermatch_no_gzip_and_gzip_only_text_html(make_server: Any, tmp_path: Path) -> None:
    conf = r"""
<Location />
  SetOutputFilter DEFLATE
  BrowserMatch ^Mozilla/4 gzip-only-text/html
  BrowserMatch ^Mozilla/4\.0[678] no-gzip
  BrowserMatch \bMSIE !no-gzip !gzip-only-text/html
</Location>
"""
    srv = start(make_server, tmp_path, conf)

    def enc(path: str, ua: str) -> str | None:
        r = raw_get(srv, path, {"Accept-Encoding": "gzip", "User-Agent": ua})
        return r.headers.get("Content-Encoding")

    assert enc("/a.html", "Mozilla/5.0") == "gzip"
    assert enc("/a.txt", "Mozilla/5.0") == "gzip"
    assert enc("/a.html", "Mozilla/4.0") == "gzip"          # gzip-only-text/html
    assert enc("/a.txt", "Mozilla/4.0") is None
    assert enc("/a.html", "Mozilla/4.06") is None           # no-gzip
    msie = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
    assert enc("/a.txt", msie) == "gzip"                    # !gzip-only-text/html
    # no-gzip: the filter steps aside before Vary is added
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip", "User-Agent": "Mozilla/4.08"})
    assert "Vary" not in r.headers


def test_no_double_compression(make_server: Any, tmp_path: Path) -> None:
    gz = gzip.compress(TEXT.encode())
    srv = start(make_server, tmp_path, "AddEncoding gzip .gz\nSetOutputFilter DEFLATE\n",
                files={"htdocs/data.txt.gz": gz})
    r = raw_get(srv, "/data.txt.gz", {"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.content == gz                                   # as stored, once
    assert "Vary" not in r.headers


def test_head_304_and_range(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "SetOutputFilter DEFLATE\n")
    g = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip"})
    h = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip"}, method="HEAD")
    assert h.content == b""
    for k in ("Content-Encoding", "Vary", "Content-Length", "ETag"):
        assert h.headers[k] == g.headers[k], k
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip", "If-None-Match": g.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    # a range of the compressed body, as Apache's BYTERANGE runs after DEFLATE
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 0-9/{len(g.content)}"
    assert r.content == g.content[:10]
    # an empty body is left alone
    (tmp_path / "htdocs" / "empty.html").write_text("")
    r = raw_get(srv, "/empty.html", {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in r.headers and r.content == b""


def test_big_file_streams_in_buffer_sized_chunks(make_server: Any, tmp_path: Path) -> None:
    rnd = random.Random(7)
    data = bytes(rnd.getrandbits(8) for _ in range(600_000))      # incompressible
    srv = start(make_server, tmp_path, "SetOutputFilter DEFLATE\nDeflateBufferSize 4000\n",
                files={"htdocs/big.bin": data})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                  b"Connection: close\r\n\r\n")
        raw = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            raw += b
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    sizes = []
    out = b""
    while True:
        line, _, body = body.partition(b"\r\n")
        n = int(line, 16)
        if n == 0:
            break
        sizes.append(n)
        out += body[:n]
        body = body[n + 2:]
    assert gzip.decompress(out) == data
    assert sizes.count(4000) >= len(sizes) - 2              # DeflateBufferSize pieces


def test_cgi_output_is_flushed_as_it_comes(make_server: Any, tmp_path: Path) -> None:
    script = f"""#!{PY}
import sys, time
sys.stdout.write("Content-Type: text/html\\n\\n")
sys.stdout.write("first part\\n"); sys.stdout.flush()
time.sleep(1.0)
sys.stdout.write("second part\\n"); sys.stdout.flush()
"""
    srv = start(make_server, tmp_path, 'ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"\n'
                                       "AddOutputFilterByType DEFLATE text/html\n",
                scripts={"cgi-bin/slow.py": script})
    t0 = time.monotonic()
    r = requests.get(srv.url("/cgi-bin/slow.py"), headers={"Accept-Encoding": "gzip"},
                     stream=True, timeout=10)
    assert r.headers["Content-Encoding"] == "gzip"
    d = zlib.decompressobj(31)
    got: list[tuple[float, bytes]] = []
    for chunk in r.raw.stream(1024, decode_content=False):
        data = d.decompress(chunk)
        if data:
            got.append((time.monotonic() - t0, data))
    assert got[0][1] == b"first part\n" and got[0][0] < 0.9     # before the pause
    assert b"".join(x for _, x in got) == b"first part\nsecond part\n" and d.eof


def test_filter_notes_in_the_access_log(make_server: Any, tmp_path: Path) -> None:
    conf = """
SetOutputFilter DEFLATE
DeflateFilterNote Input instream
DeflateFilterNote Output outstream
DeflateFilterNote Ratio ratio
LogFormat '"%r" %{outstream}n/%{instream}n (%{ratio}n%%)' deflate
CustomLog logs/deflate_log deflate
"""
    srv = start(make_server, tmp_path, conf)
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip"})
    raw_get(srv, "/a.html")
    out = len(r.content) - 18
    deadline = time.monotonic() + 5
    while srv.access_log("deflate_log").count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    log = srv.access_log("deflate_log")
    assert f'"GET /a.html HTTP/1.1" {out}/{len(HTML)} ({out * 100 // len(HTML)}%)' in log
    assert '"GET /a.html HTTP/1.1" -/- (-%)' in log


def test_zlib_parameters(make_server: Any, tmp_path: Path) -> None:
    conf = """
SetOutputFilter DEFLATE
DeflateCompressionLevel 1
DeflateMemLevel 2
DeflateWindowSize 10
"""
    srv = start(make_server, tmp_path, conf)
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip"})
    z = zlib.compressobj(1, zlib.DEFLATED, -10, 2)
    assert r.content[10:-8] == z.compress(HTML.encode()) + z.flush()
    assert gzip.decompress(r.content) == HTML.encode()


def test_window_size_zlib_refuses(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "SetOutputFilter DEFLATE\nDeflateWindowSize 4\n")
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in r.headers and r.content == HTML.encode()
    assert r.headers["Vary"] == "Accept-Encoding"          # as apache2: added before
    time.sleep(0.2)
    assert "unable to init Zlib: deflateInit2 returned -2: URL /a.html" in srv.error_log()


def test_alter_etag(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "SetOutputFilter DEFLATE\nDeflateAlterETag AddSuffix\n")
    plain = raw_get(srv, "/a.html").headers["ETag"].removeprefix("W/")
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip"})
    assert r.headers["ETag"].removeprefix("W/") == plain[:-1] + '-gzip"'


def test_br_and_zstd_by_q_value(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "AddOutputFilterByType DEFLATE text/html\n"
                                       "<Location /a.html>\nDeflateAlgorithms br zstd gzip\n"
                                       "</Location>\n"
                                       "<Location /a.txt>\nSetOutputFilter DEFLATE\n"
                                       "</Location>\n")
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert r.headers["Content-Encoding"] == "br"             # tie: the configured order
    assert brotli.decompress(r.content) == HTML.encode()
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "br;q=0.5, zstd, gzip;q=0.9"})
    assert r.headers["Content-Encoding"] == "zstd"
    assert zstandard.ZstdDecompressor().decompressobj().decompress(r.content) == HTML.encode()
    r = raw_get(srv, "/a.html", {"Accept-Encoding": "br;q=0, zstd;q=0, gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(r.content) == HTML.encode()
    # the default is Apache's: gzip only
    r = raw_get(srv, "/a.txt", {"Accept-Encoding": "br, zstd"})
    assert "Content-Encoding" not in r.headers and r.headers["Vary"] == "Accept-Encoding"
    # and a big body in br streams (chunked) and decodes
    big = "".join(f"line {i} {i * 7919 % 1000003}\n" for i in range(60000))
    (tmp_path / "htdocs" / "big.html").write_text(big)
    r = raw_get(srv, "/big.html", {"Accept-Encoding": "gzip"})
    assert gzip.decompress(r.content) == big.encode()


def test_inflate_output_filter(make_server: Any, tmp_path: Path) -> None:
    gz = gzip.compress(TEXT.encode())
    conf = "AddEncoding x-gzip .gz\n<Location /inflated/>\nSetOutputFilter INFLATE\n</Location>\n"
    srv = start(make_server, tmp_path, conf,
                files={"htdocs/inflated/t.txt.gz": gz, "htdocs/raw/t.txt.gz": gz})
    r = raw_get(srv, "/inflated/t.txt.gz")
    assert "Content-Encoding" not in r.headers
    assert r.content == TEXT.encode()
    r = raw_get(srv, "/raw/t.txt.gz")
    assert r.headers["Content-Encoding"] == "x-gzip" and r.content == gz
    # INFLATE then DEFLATE: decoded and coded again for a client that takes it
    (tmp_path / "htdocs" / "inflated" / ".htaccess").write_text("")
    srv2 = start(make_server, tmp_path, "AddEncoding x-gzip .gz\n<Location /inflated/>\n"
                                        "SetOutputFilter INFLATE;DEFLATE\n</Location>\n")
    r = raw_get(srv2, "/inflated/t.txt.gz", {"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(r.content) == TEXT.encode()


ECHO = f"""#!{PY}
import os, sys
body = sys.stdin.buffer.read()
sys.stdout.write("Content-Type: application/octet-stream\\n")
sys.stdout.write("X-Encoding: %s\\n" % os.environ.get("HTTP_CONTENT_ENCODING", "-"))
sys.stdout.write("X-Length: %s\\n\\n" % os.environ.get("CONTENT_LENGTH", "-"))
sys.stdout.flush()
sys.stdout.buffer.write(body)
"""


def test_deflate_input_filter(make_server: Any, tmp_path: Path) -> None:
    conf = """
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
<Location /cgi-bin/>
  SetInputFilter DEFLATE
</Location>
<Location /cgi-bin/small.py>
  DeflateInflateLimitRequestBody 1000
</Location>
"""
    srv = start(make_server, tmp_path, conf,
                scripts={"cgi-bin/echo.py": ECHO, "cgi-bin/small.py": ECHO,
                         "cgi-bin/plain.py": ECHO})
    body = ("posted line\n" * 2000).encode()
    r = requests.post(srv.url("/cgi-bin/echo.py"), data=gzip.compress(body),
                      headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.content == body
    assert r.headers["X-Encoding"] == "-" and r.headers["X-Length"] == "-"
    # chunked, br and zstd request bodies
    r = requests.post(srv.url("/cgi-bin/echo.py"), data=iter([gzip.compress(body)]),
                      headers={"Content-Encoding": "gzip"})
    assert r.content == body
    r = requests.post(srv.url("/cgi-bin/echo.py"), data=brotli.compress(body),
                      headers={"Content-Encoding": "br"})
    assert r.content == body
    r = requests.post(srv.url("/cgi-bin/echo.py"), data=zstandard.ZstdCompressor().compress(body),
                      headers={"Content-Encoding": "zstd"})
    assert r.content == body
    # not encoded: passed as it is
    r = requests.post(srv.url("/cgi-bin/plain.py"), data=b"as is")
    assert r.content == b"as is" and r.headers["X-Length"] == "5"
    # damaged gzip: 400
    r = requests.post(srv.url("/cgi-bin/echo.py"), data=b"\x1f\x8bnot really gzip",
                      headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400
    # over DeflateInflateLimitRequestBody: 413
    r = requests.post(srv.url("/cgi-bin/small.py"), data=gzip.compress(body),
                      headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    time.sleep(0.3)
    log = srv.error_log()
    assert "Inflated content length of" in log and "larger than the configured limit of " \
        "1000" in log
    assert "Zlib error" in log


def test_error_page_and_subrequest_not_broken(make_server: Any, tmp_path: Path) -> None:
    conf = """
AddOutputFilterByType DEFLATE text/html
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
Options +Includes
"""
    srv = start(make_server, tmp_path, conf,
                files={"htdocs/p.shtml": 'A<!--#include virtual="/a.html" -->B\n'})
    r = raw_get(srv, "/p.shtml", {"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(r.content) == b"A" + HTML.encode() + b"B\n"   # compressed once
    r = requests.get(srv.url("/missing.html"), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 404 and "Not Found" in r.text


def test_many_requests_keepalive(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "SetOutputFilter DEFLATE\nDeflateAlgorithms gzip br\n")
    with requests.Session() as s:
        for i in range(30):
            enc = ("gzip", "br")[i % 2]
            r = s.get(srv.url("/a.html"), headers={"Accept-Encoding": enc})
            assert r.text == HTML and r.headers["Content-Encoding"] == enc
    assert os.path.exists(tmp_path / "logs" / "error_log")
