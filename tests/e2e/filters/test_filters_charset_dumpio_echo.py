"""mod_charset_lite, mod_dumpio and mod_echo end to end: a Latin-1 tree served as UTF-8
(and a POST translated back), ImplicitAdd/NoImplicitAdd, TranslateAllMimeTypes, bad
input; request and response bytes in the error log at DumpIOLogLevel; an echo server on
its own Listen port beside an HTTP one."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any

import requests

PY = sys.executable
LATIN = "caf\xe9 cr\xe8me br\xfbl\xe9e \xa9 na\xefve\n"


def start(make_server: Any, tmp_path: Path, conf: str, files: dict[str, Any] | None = None,
          scripts: dict[str, str] | None = None) -> Any:
    fs: dict[str, Any] = {"htdocs/l1/menu.txt": LATIN.encode("latin-1"),
                          "htdocs/l1/menu.html": ("<p>" + LATIN + "</p>").encode("latin-1"),
                          "htdocs/l1/data.bin": LATIN.encode("latin-1")}
    fs.update(files or {})
    srv = make_server(conf, files=fs, start=False)
    for rel, text in (scripts or {}).items():
        p = tmp_path / "htdocs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755)
    return srv.start()


def wait_log(srv: Any, text: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = srv.error_log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the error log:\n{srv.error_log()[-3000:]}")


def test_latin1_tree_served_as_utf8(make_server: Any, tmp_path: Path) -> None:
    conf = """
AddType application/octet-stream .bin
<Directory "@ROOT@/htdocs/l1">
  CharsetSourceEnc ISO-8859-1
  CharsetDefault UTF-8
</Directory>
"""
    srv = start(make_server, tmp_path, conf)
    r = requests.get(srv.url("/l1/menu.txt"))
    assert r.content == LATIN.encode("utf-8")
    assert r.headers["Content-Length"] == str(len(LATIN.encode("utf-8")))
    r = requests.get(srv.url("/l1/menu.html"))
    assert r.content == ("<p>" + LATIN + "</p>").encode("utf-8")
    r = requests.get(srv.url("/l1/data.bin"))                # not text/*: as stored
    assert r.content == LATIN.encode("latin-1")


def test_options(make_server: Any, tmp_path: Path) -> None:
    conf = """
AddType application/octet-stream .bin
<Directory "@ROOT@/htdocs/l1">
  CharsetSourceEnc ISO-8859-1
  CharsetDefault UTF-8
  CharsetOptions NoImplicitAdd DebugLevel=9
</Directory>
<Location /l1/menu.html>
  SetOutputFilter XLATEOUT
</Location>
<Location /l1/data.bin>
  SetOutputFilter XLATEOUT
  CharsetOptions TranslateAllMimeTypes
</Location>
<Directory "@ROOT@/htdocs/same">
  CharsetSourceEnc utf-8
  CharsetDefault UTF-8
</Directory>
"""
    srv = start(make_server, tmp_path, conf, files={"htdocs/same/x.txt": b"\xff\xfe raw\n"})
    assert requests.get(srv.url("/l1/menu.txt")).content == LATIN.encode("latin-1")
    assert requests.get(srv.url("/l1/menu.html")).content == \
        ("<p>" + LATIN + "</p>").encode("utf-8")
    assert requests.get(srv.url("/l1/data.bin")).content == LATIN.encode("utf-8")
    assert requests.get(srv.url("/same/x.txt")).content == b"\xff\xfe raw\n"   # same: no-op
    wait_log(srv, "xlate output filter not added implicitly because CharsetOptions "
                  "included 'NoImplicitAdd'")


def test_invalid_input_and_unknown_charset(make_server: Any, tmp_path: Path) -> None:
    conf = """
<Directory "@ROOT@/htdocs/u8">
  CharsetSourceEnc UTF-8
  CharsetDefault ISO-8859-1
</Directory>
<Directory "@ROOT@/htdocs/bogus">
  CharsetSourceEnc x-no-such-charset
  CharsetDefault UTF-8
</Directory>
"""
    srv = start(make_server, tmp_path, conf,
                files={"htdocs/u8/bad.txt": b"ok \xc3( not utf-8\n",
                       "htdocs/u8/cut.txt": b"ends in half a char \xc3",
                       "htdocs/u8/good.txt": "na\u00efve\n".encode(),
                       "htdocs/bogus/x.txt": b"x\n"})
    assert requests.get(srv.url("/u8/good.txt")).content == "na\u00efve\n".encode("latin-1")
    assert requests.get(srv.url("/u8/bad.txt")).status_code == 500
    wait_log(srv, "xlate filter - an input character was invalid")
    assert requests.get(srv.url("/u8/cut.txt")).status_code == 500
    wait_log(srv, "xlate filter - incomplete char at end of input - C3")
    r = requests.get(srv.url("/bogus/x.txt"))
    assert r.status_code == 200 and r.content == b"x\n"
    wait_log(srv, "can't open translation x-no-such-charset->UTF-8")


def test_request_body_translated_back(make_server: Any, tmp_path: Path) -> None:
    echo = f"""#!{PY}
import sys
data = sys.stdin.buffer.read()
sys.stdout.write("Content-Type: application/octet-stream\\n\\n")
sys.stdout.flush()
sys.stdout.buffer.write(data)
"""
    conf = """
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
<Location /cgi-bin/>
  CharsetSourceEnc ISO-8859-1
  CharsetDefault UTF-8
</Location>
"""
    srv = start(make_server, tmp_path, conf, scripts={"cgi-bin/echo.py": echo})
    r = requests.post(srv.url("/cgi-bin/echo.py"), data=LATIN.encode("utf-8"))
    assert r.status_code == 200
    assert r.content == LATIN.encode("latin-1")             # UTF-8 in, Latin-1 to the script


def test_dumpio(make_server: Any, tmp_path: Path) -> None:
    conf = """
DumpIOInput On
DumpIOOutput On
"""
    srv = start(make_server, tmp_path, conf, files={"htdocs/d.txt": "dumped body\n"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /d.txt HTTP/1.1\r\nHost: dump.test\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    log = wait_log(srv, "dumpio_out (metadata-EOS)")
    assert "mod_dumpio: dumpio_in [readbytes-blocking] 59 readbytes" in log
    assert "mod_dumpio:  dumpio_in (data-HEAP): 59 bytes" in log
    assert "mod_dumpio:  dumpio_in (data-HEAP): GET /d.txt HTTP/1.1\\r\\nHost: dump.test" \
        "\\r\\nConnection: close\\r\\n\\r\\n" in log
    assert "mod_dumpio:  dumpio_out (data-HEAP): HTTP/1.1 200 OK\\r\\n" in log
    assert "mod_dumpio:  dumpio_out (data-HEAP): dumped body\\n" in log or \
        "mod_dumpio:  dumpio_out (data-FILE): dumped body\\n" in log


def test_dumpio_loglevel(make_server: Any, tmp_path: Path) -> None:
    conf = """
LogLevel info
DumpIOOutput On
DumpIOLogLevel info
"""
    srv = start(make_server, tmp_path, conf, files={"htdocs/d.txt": "x\n"})
    requests.get(srv.url("/d.txt"))
    log = wait_log(srv, "dumpio_out (metadata-EOS)")
    assert "[info] mod_dumpio:  dumpio_out (data-HEAP): HTTP/1.1 200 OK" in log
    assert "dumpio_in" not in log
    before = len(srv.error_log())
    srv2 = start(make_server, tmp_path, "LogLevel info\nDumpIOOutput On\n")   # debug: hidden
    requests.get(srv2.url("/d.txt"))
    time.sleep(0.3)
    assert "mod_dumpio" not in srv2.error_log()[before:]


def test_protocol_echo_on_its_own_port(make_server: Any, tmp_path: Path) -> None:
    from featherd_testlib import free_port

    eport = free_port()
    conf = f"""
Listen 127.0.0.1:{eport}
<VirtualHost 127.0.0.1:{eport}>
  ProtocolEcho On
</VirtualHost>
"""
    srv = start(make_server, tmp_path, conf, files={"htdocs/h.txt": "http here\n"})
    with socket.create_connection(("127.0.0.1", eport), timeout=5) as s:
        s.sendall(b"hello echo\n")
        assert s.recv(100) == b"hello echo\n"
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")        # no HTTP here: echoed
        got = b""
        while len(got) < 27:
            got += s.recv(100)
        assert got == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        big = bytes(range(256)) * 4000
        s.sendall(big)
        got = b""
        while len(got) < len(big):
            got += s.recv(65536)
        assert got == big
        s.shutdown(socket.SHUT_WR)
        assert s.recv(10) == b""                             # closed after our EOF
    assert requests.get(srv.url("/h.txt")).text == "http here\n"  # HTTP on the other port
