"""mod_ext_filter end to end with real programs (tr, sed, cat, sh): the manual's
examples, every ExtFilterDefine parameter, ExtFilterOptions (LogStderr, Onfail), input
filters, big bodies streamed through the program, and chains with other filters."""

from __future__ import annotations

import gzip
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

PY = sys.executable
TR = shutil.which("tr") or "/usr/bin/tr"
SED = shutil.which("sed") or "/bin/sed"
SH = shutil.which("sh") or "/bin/sh"
CAT = shutil.which("cat") or "/bin/cat"

pytestmark = pytest.mark.skipif(not all(Path(p).exists() for p in (TR, SED, SH, CAT)),
                                reason="tr/sed/sh/cat not found")

PAGE = '<html><font face="verdana">Hello World</font>\n<p>second line</p>\n</html>\n'


def start(make_server: Any, tmp_path: Path, conf: str, files: dict[str, Any] | None = None,
          scripts: dict[str, str] | None = None) -> Any:
    fs: dict[str, Any] = {"htdocs/page.html": PAGE, "htdocs/t.txt": "plain text\n"}
    fs.update(files or {})
    srv = make_server(conf, files=fs, start=False)
    for rel, text in (scripts or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755)
    return srv.start()


def get(srv: Any, path: str, **kw: Any) -> requests.Response:
    return requests.get(srv.url(path), timeout=15, **kw)


def test_manual_examples_sed_and_tr(make_server: Any, tmp_path: Path) -> None:
    conf = f"""
ExtFilterDefine fixtext mode=output intype=text/html cmd="{SED} s/verdana/arial/"
ExtFilterDefine upper cmd="{TR} a-z A-Z"
<Location /page.html>
  SetOutputFilter fixtext
</Location>
<Location /t.txt>
  SetOutputFilter upper
</Location>
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/page.html")
    assert r.text == PAGE.replace("verdana", "arial")
    assert r.headers["Content-Length"] == str(len(r.content))   # recomputed
    assert get(srv, "/t.txt").text == "PLAIN TEXT\n"


def test_intype_outtype_and_content_length(make_server: Any, tmp_path: Path) -> None:
    conf = f"""
ExtFilterDefine htmlonly intype=text/html outtype=text/plain cmd="{TR} a-z A-Z"
ExtFilterDefine keepslen PreservesContentLength cmd="{TR} a-z A-Z"
SetOutputFilter htmlonly
<Location /t.txt>
  SetOutputFilter keepslen
</Location>
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/page.html")
    assert r.text == PAGE.upper() and r.headers["Content-Type"] == "text/plain"
    r = get(srv, "/t.txt")
    assert r.text == "PLAIN TEXT\n"
    (tmp_path / "htdocs" / "x.css").write_text("body{}\n")
    r = get(srv, "/x.css")                       # not text/html: untouched
    assert r.text == "body{}\n" and r.headers["Content-Type"] == "text/css"


def test_enableenv_disableenv(make_server: Any, tmp_path: Path) -> None:
    conf = f"""
ExtFilterDefine onlyif enableenv=DO_IT cmd="{TR} a-z A-Z"
ExtFilterDefine unless disableenv=SKIP_IT cmd="{SED} s/plain/PLAIN/"
SetEnvIf X-Do yes DO_IT
SetEnvIf X-Skip yes SKIP_IT
SetOutputFilter onlyif;unless
"""
    srv = start(make_server, tmp_path, conf)
    assert get(srv, "/t.txt").text == "PLAIN text\n"
    assert get(srv, "/t.txt", headers={"X-Do": "yes"}).text == "PLAIN TEXT\n"
    assert get(srv, "/t.txt", headers={"X-Skip": "yes"}).text == "plain text\n"


def test_environment_and_stderr(make_server: Any, tmp_path: Path) -> None:
    prog = f"""#!{SH}
echo "from stderr of the filter" >&2
echo "URI=$DOCUMENT_URI PI=$DOCUMENT_PATH_INFO Q=$QUERY_STRING_UNESCAPED M=$REQUEST_METHOD"
cat
"""
    conf = """
AcceptPathInfo On
ExtFilterDefine envdump cmd="@ROOT@/bin/envdump.sh"
<Location /logged>
  SetOutputFilter envdump
</Location>
<Directory "@ROOT@/htdocs/logged">
  ExtFilterOptions LogStderr
</Directory>
<Directory "@ROOT@/htdocs/quiet">
  ExtFilterOptions NoLogStderr
</Directory>
<Location /quiet>
  SetOutputFilter envdump
</Location>
"""
    srv = start(make_server, tmp_path, conf,
                files={"htdocs/logged/f.txt": "body\n", "htdocs/quiet/f.txt": "body\n"},
                scripts={"bin/envdump.sh": prog})
    r = get(srv, "/logged/f.txt/more?a%20b=c")
    assert r.text == "URI=/logged/f.txt/more PI=/more Q=a b=c M=GET\nbody\n"
    assert get(srv, "/quiet/f.txt").text.endswith("body\n")
    time.sleep(0.3)
    log = srv.error_log()
    assert log.count("from stderr of the filter") == 1


def test_onfail_abort_and_remove(make_server: Any, tmp_path: Path) -> None:
    conf = """
ExtFilterDefine broken cmd="/nonexistent/filter-program"
SetOutputFilter broken
<Directory "@ROOT@/htdocs/lenient">
  ExtFilterOptions Onfail=remove
</Directory>
"""
    srv = start(make_server, tmp_path, conf, files={"htdocs/lenient/f.txt": "through\n"})
    r = get(srv, "/t.txt")
    assert r.status_code == 500
    r = get(srv, "/lenient/f.txt")
    assert r.status_code == 200 and r.text == "through\n"
    time.sleep(0.2)
    log = srv.error_log()
    assert "couldn't create child process to run `/nonexistent/filter-program'" in log
    assert "can't initialise output filter broken: aborting" in log
    assert "can't initialise output filter broken: removing" in log


def test_big_body_streams_through_the_program(make_server: Any, tmp_path: Path) -> None:
    big = "".join(f"line {i} lowercase text\n" for i in range(200_000))   # ~5 MB
    conf = f'ExtFilterDefine up cmd="{TR} a-z A-Z"\nSetOutputFilter up\n'
    srv = start(make_server, tmp_path, conf, files={"htdocs/big.txt": big})
    r = requests.get(srv.url("/big.txt"), stream=True, timeout=30)
    assert r.headers.get("Transfer-Encoding") == "chunked"
    got = b"".join(r.iter_content(65536))
    assert got == big.upper().encode()


def test_chain_with_deflate_and_ftype(make_server: Any, tmp_path: Path) -> None:
    conf = f"""
ExtFilterDefine up ftype=20 cmd="{TR} a-z A-Z"
ExtFilterDefine first ftype=10 cmd="{SED} s/hello/goodbye/I"
SetOutputFilter up;first;DEFLATE
"""
    srv = start(make_server, tmp_path, conf)
    r = requests.get(srv.url("/page.html"), headers={"Accept-Encoding": "gzip"}, stream=True)
    body = gzip.decompress(r.raw.read(decode_content=False))
    # "first" (RESOURCE) runs before "up" and DEFLATE (CONTENT_SET, in the order given)
    assert body == PAGE.replace("Hello", "goodbye").upper().encode()


def test_input_filter(make_server: Any, tmp_path: Path) -> None:
    echo = f"""#!{PY}
import sys
data = sys.stdin.buffer.read()
sys.stdout.write("Content-Type: text/plain\\n\\n")
sys.stdout.flush()
sys.stdout.buffer.write(data)
"""
    conf = f"""
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
ExtFilterDefine upin mode=input cmd="{TR} a-z A-Z"
ExtFilterDefine jsononly mode=input intype=application/json cmd="{SED} s/x/y/g"
<Location /cgi-bin/up.py>
  SetInputFilter upin
</Location>
<Location /cgi-bin/json.py>
  SetInputFilter jsononly
</Location>
"""
    srv = start(make_server, tmp_path, conf,
                scripts={"htdocs/cgi-bin/up.py": echo, "htdocs/cgi-bin/json.py": echo})
    body = b"posted body text\n" * 10000
    r = requests.post(srv.url("/cgi-bin/up.py"), data=body)
    assert r.status_code == 200 and r.content == body.upper()
    r = requests.post(srv.url("/cgi-bin/json.py"), data=b'{"x": 1}',
                      headers={"Content-Type": "application/json"})
    assert r.content == b'{"y": 1}'
    r = requests.post(srv.url("/cgi-bin/json.py"), data=b"x=1",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.content == b"x=1"


def test_debuglevel_logs_the_decision(make_server: Any, tmp_path: Path) -> None:
    conf = f"""
ExtFilterDefine up intype=text/html cmd="{TR} a-z A-Z"
SetOutputFilter up
<Directory "@ROOT@/htdocs">
  ExtFilterOptions DebugLevel=1
</Directory>
"""
    srv = start(make_server, tmp_path, conf)
    get(srv, "/page.html")
    get(srv, "/t.txt")
    time.sleep(0.3)
    log = srv.error_log()
    assert f"filtering `/page.html' of type `text/html' through `{TR}', cfg " \
        "ExtFilterOptions NoLogStderr !PreserveContentLength ExtFilterInType text/html " \
        "ExtFilterOuttype (unchanged)" in log
    assert "NOT filtering `/t.txt' of type `text/plain'" in log
