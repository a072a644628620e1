"""mod_filter (smart filters) and mod_substitute end to end: the 2.2 manual's
configurations (SSI and DEFLATE by Content-Type, an external filter as a provider),
each dispatch criterion and match form, FilterChain operators across sections,
FilterProtocol's header effects, FilterTrace's log lines, 2.4's expression form; then
Substitute with its flags, line handling, merge order and limits."""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path
from typing import Any

import requests

PAGE = "<html>\n<p>hello world</p>\n<!--#echo var=\"DOCUMENT_URI\" -->\n</html>\n"
TR = shutil.which("tr") or "/usr/bin/tr"


def start(make_server: Any, conf: str, files: dict[str, Any] | None = None) -> Any:
    fs: dict[str, Any] = {"htdocs/p.html": PAGE, "htdocs/t.txt": "hello text\n",
                          "htdocs/sub/q.html": PAGE}
    fs.update(files or {})
    return make_server(conf, files=fs)


def get(srv: Any, path: str, **kw: Any) -> requests.Response:
    return requests.get(srv.url(path), timeout=10, **kw)


def test_manual_ssi_and_deflate_by_type(make_server: Any) -> None:
    conf = """
Options +Includes
FilterDeclare SSI
FilterProvider SSI INCLUDES resp=Content-Type $text/html
FilterDeclare gzip CONTENT_SET
FilterProvider gzip DEFLATE resp=Content-Type $text/
FilterChain SSI gzip
"""
    srv = start(make_server, conf)
    r = requests.get(srv.url("/p.html"), headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(r.raw.read(decode_content=False)).decode()
    assert body == PAGE.replace('<!--#echo var="DOCUMENT_URI" -->', "/p.html")
    r = get(srv, "/t.txt", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and r.text == "hello text\n"
    (Path(srv.root) / "htdocs" / "i.png").write_bytes(b"\x89PNG....")
    r = requests.get(srv.url("/i.png"), headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in r.headers       # no provider matched


def test_dispatch_criteria(make_server: Any) -> None:
    conf = f"""
ExtFilterDefine upper cmd="{TR} a-z A-Z"
ExtFilterDefine rot cmd="{TR} a-z n-za-m"
FilterDeclare byreq
FilterProvider byreq upper req=X-Upper /^y(es)?$/i
FilterDeclare byenv
FilterProvider byenv rot env=ROT *
FilterDeclare byhandler
FilterProvider byhandler upper handler !default-handler
FilterDeclare bylen
FilterProvider bylen upper req=X-Num >=10
SetEnvIf X-Rot . ROT
<Location /p.html>
  FilterChain byreq byenv
</Location>
<Location /t.txt>
  FilterChain bylen
</Location>
"""
    srv = start(make_server, conf)
    assert get(srv, "/p.html").text == PAGE
    assert get(srv, "/p.html", headers={"X-Upper": "YES"}).text == PAGE.upper()
    assert get(srv, "/p.html", headers={"X-Upper": "no"}).text == PAGE
    assert get(srv, "/p.html", headers={"X-Rot": "1"}).text.startswith("<ugzy>")
    assert get(srv, "/t.txt", headers={"X-Num": "12"}).text == "HELLO TEXT\n"
    assert get(srv, "/t.txt", headers={"X-Num": "9"}).text == "hello text\n"
    assert get(srv, "/t.txt").text == "hello text\n"        # no header: no match


def test_chain_operators_across_sections(make_server: Any) -> None:
    conf = f"""
ExtFilterDefine upper cmd="{TR} a-z A-Z"
ExtFilterDefine star cmd="{TR} oO **"
FilterDeclare U
FilterProvider U upper resp=Content-Type *
FilterDeclare S
FilterProvider S star resp=Content-Type *
FilterChain U
<Location /sub>
  FilterChain =S
</Location>
<Location /t.txt>
  FilterChain +S
</Location>
<Location /p.html>
  FilterChain -U
</Location>
"""
    srv = start(make_server, conf)
    assert get(srv, "/sub/q.html").text == PAGE.replace("o", "*").replace("O", "*")
    assert get(srv, "/t.txt").text == "HELL* TEXT\n"                      # U then S
    assert get(srv, "/p.html").text == PAGE                               # U removed


def test_protocol_flags_and_ranges(make_server: Any) -> None:
    conf = f"""
ExtFilterDefine upper cmd="{TR} a-z A-Z"
FilterDeclare U
FilterProvider U upper resp=Content-Type $text/
FilterProtocol U change=yes;byteranges=no
FilterProtocol U upper change=yes;byteranges=no;cache=no
FilterChain U
"""
    srv = start(make_server, conf)
    r = get(srv, "/t.txt", headers={"Range": "bytes=0-3"})
    assert r.status_code == 200 and r.text == "HELLO TEXT\n"      # ranges held back
    assert "ETag" not in r.headers and "Last-Modified" not in r.headers
    assert "Accept-Ranges" not in r.headers
    assert r.headers["Cache-Control"] == "no-cache"
    # the filter holds the Range back; a provider without byteranges=no gives it back:
    # ranges of the filtered body
    srv2 = start(make_server, conf.replace("upper change=yes;byteranges=no;cache=no",
                                           "upper change=1:1"))
    r = get(srv2, "/t.txt", headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.text == "HELL"
    assert "ETag" not in r.headers and "Last-Modified" in r.headers


def test_trace_and_only_200(make_server: Any) -> None:
    conf = f"""
ExtFilterDefine upper cmd="{TR} a-z A-Z"
FilterDeclare U
FilterProvider U upper resp=Content-Type *
FilterChain U
FilterTrace U 1
ErrorDocument 404 "not here
"""
    srv = start(make_server, conf)
    assert get(srv, "/t.txt").text == "HELLO TEXT\n"
    r = get(srv, "/missing")
    assert r.status_code == 404 and r.text.startswith("not here")   # not a 200: untouched
    time.sleep(0.3)
    log = srv.error_log()
    assert "] U\n" in log or "] U" in log
    assert "U: type: FILE, length: 11" in log
    assert "U: type: EOS, length: 0" in log


def test_24_expression_providers(make_server: Any) -> None:
    conf = """
Options +Includes
FilterDeclare SSI
FilterProvider SSI INCLUDES "%{CONTENT_TYPE} =~ m#^text/html#"
FilterChain SSI
"""
    srv = start(make_server, conf)
    assert "/p.html" in get(srv, "/p.html").text
    assert get(srv, "/t.txt").text == "hello text\n"


def test_unknown_filter_in_chain_is_logged(make_server: Any) -> None:
    srv = start(make_server, "FilterChain nosuch\n")
    assert get(srv, "/t.txt").text == "hello text\n"
    time.sleep(0.3)
    assert "Unknown filter nosuch not added" in srv.error_log()


# --- mod_substitute -----------------------------------------------------------------------
def test_substitute_manual_examples(make_server: Any) -> None:
    conf = r"""
AddOutputFilterByType SUBSTITUTE text/html
Substitute s/foo/bar/ni
Substitute "s|http://internal\.example\.com/(.*)|http://www.example.com/$1|i"
Substitute "s/(hello) (world)/$2 & $1/"
"""
    page = ("<p>FOO foo Foo</p>\n<a href=\"http://INTERNAL.example.com/x/y\">l</a>\n"
            "hello world\n")
    srv = start(make_server, conf, files={"htdocs/s.html": page})
    r = get(srv, "/s.html")
    assert r.text == ("<p>bar bar bar</p>\n<a href=\"http://www.example.com/x/y\">l</a>\"\n"
                      .replace('l</a>"', "l</a>") + "world hello world hello\n")
    assert get(srv, "/t.txt").text == "hello text\n"            # not text/html


def test_substitute_lines_big_bodies_and_merge(make_server: Any) -> None:
    conf = """
<Location />
  SetOutputFilter SUBSTITUTE
  Substitute s/a/1/
</Location>
<Location /sub>
  Substitute s/1/2/
</Location>
"""
    big = "".join(f"line {i} has a value\n" for i in range(100_000))
    srv = start(make_server, conf, files={"htdocs/big.txt": big,
                                          "htdocs/sub/s.txt": "a a\n",
                                          "htdocs/nolf.txt": "abc"})
    assert get(srv, "/big.txt").text == big.replace("a", "1")
    # the section's own substitutions first: s/1/2/ then s/a/1/
    assert get(srv, "/sub/s.txt").text == "1 1\n"
    assert get(srv, "/nolf.txt").text == "1bc"                  # the last partial line


def test_substitute_max_line_length(make_server: Any) -> None:
    conf = "SetOutputFilter SUBSTITUTE\nSubstitute s/x/y/\nSubstituteMaxLineLength 1k\n"
    srv = start(make_server, conf, files={"htdocs/long.txt": "x" * 5000 + "\n",
                                          "htdocs/ok.txt": ("x" * 100 + "\n") * 50})
    assert get(srv, "/ok.txt").text == ("y" * 100 + "\n") * 50
    r = get(srv, "/long.txt")
    assert r.status_code == 500
    time.sleep(0.2)
    assert "Line too long, URI /long.txt" in srv.error_log()
