"""mod_actions through a real server: Action for media types and handlers (virtual and
not), Script for methods (GET only with a query string, new methods registered), the
CGI variables the script sees, and the same requests through Debian's apache2."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

CGI = ("#!/bin/sh\necho Content-Type: text/plain\necho\necho \"M=$REQUEST_METHOD "
       "PI=$PATH_INFO PT=$PATH_TRANSLATED H=$REDIRECT_HANDLER Q=$QUERY_STRING "
       "SN=$SCRIPT_NAME\"\n")
BODY = """
ScriptAlias /cgi-bin/ "@ROOT@/cgi/"
<Directory "@ROOT@/cgi">
</Directory>
<Directory "@DOCROOT@">
AllowOverride All
</Directory>
Action image/gif /cgi-bin/img.cgi
AddHandler my-handler .my
Action my-handler /cgi-bin/h.cgi
Action virt-handler /cgi-bin/h.cgi virtual
<Location /virtual>
SetHandler virt-handler
</Location>
<Location /nonvirtual>
SetHandler my-handler
</Location>
Script PUT /cgi-bin/put.cgi
Script GET /cgi-bin/get.cgi
Script FROB /cgi-bin/put.cgi
<Directory "@DOCROOT@/sub">
Action text/plain /cgi-bin/h.cgi
</Directory>
"""
FILES = {"a.gif": "GIF89a", "b.my": "my", "t.txt": "plain\n", "sub/t.txt": "sub\n",
         "sub/x.html": "html\n", "ht/.htaccess": "Action text/plain /cgi-bin/h.cgi\n",
         "ht/f.txt": "f\n"}
SCRIPTS = ("img.cgi", "h.cgi", "put.cgi", "get.cgi")


def _scripts(root: Path) -> None:
    (root / "cgi").mkdir(exist_ok=True)
    for s in SCRIPTS:
        (root / "cgi" / s).write_text(CGI)
        os.chmod(root / "cgi" / s, 0o755)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from featherd_testlib import Server, base_conf, free_port

    root = tmp_path_factory.mktemp("act")
    _scripts(root)
    for rel, text in FILES.items():
        (root / "htdocs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "htdocs" / rel).write_text(text)
    (root / "logs").mkdir()
    port = free_port()
    body = BODY.replace("@DOCROOT@", str(root / "htdocs")).replace("@ROOT@", str(root))
    s = Server(root, base_conf(port, body), port).start()
    s.docroot = root / "htdocs"  # type: ignore[attr-defined]
    yield s
    s.stop()


def test_action_for_a_media_type(srv: Any) -> None:
    r = requests.get(srv.url("/a.gif?q=1"), timeout=10)
    assert r.text == (f"M=GET PI=/a.gif PT={srv.docroot}/a.gif H=image/gif Q=q=1 "
                      "SN=/cgi-bin/img.cgi\n")


def test_action_for_a_handler_with_path_info(srv: Any) -> None:
    r = requests.get(srv.url("/b.my/extra"), timeout=10)
    assert r.text == (f"M=GET PI=/b.my/extra PT={srv.docroot}/b.my/extra H=my-handler Q= "
                      "SN=/cgi-bin/h.cgi\n")


def test_missing_file_unless_virtual(srv: Any) -> None:
    assert requests.get(srv.url("/missing.my"), timeout=10).status_code == 404
    assert f"File does not exist: {srv.docroot}/missing.my" in srv.error_log()
    assert requests.get(srv.url("/nonvirtual/x"), timeout=10).status_code == 404
    r = requests.get(srv.url("/virtual/anything"), timeout=10)
    assert r.status_code == 200 and "PI=/virtual/anything" in r.text


def test_script_for_methods(srv: Any) -> None:
    assert requests.get(srv.url("/t.txt"), timeout=10).text == "plain\n"   # no query
    assert "SN=/cgi-bin/get.cgi" in requests.get(srv.url("/t.txt?x=y"), timeout=10).text
    r = requests.put(srv.url("/t.txt"), data=b"", timeout=10)
    assert r.text.startswith("M=PUT PI=/t.txt") and "SN=/cgi-bin/put.cgi" in r.text
    r = requests.request("FROB", srv.url("/t.txt"), timeout=10)   # a registered method
    assert r.status_code == 200 and r.text.startswith("M=FROB")
    assert requests.request("ZAP", srv.url("/t.txt"), timeout=10).status_code == 501
    # an Action beats the Script for the method
    assert "SN=/cgi-bin/img.cgi" in requests.put(srv.url("/a.gif"), data=b"", timeout=10).text
    allow = requests.options(srv.url("/t.txt"), timeout=10).headers["Allow"]
    assert "PUT" in allow and "FROB" in allow


def test_action_in_directory_and_htaccess(srv: Any) -> None:
    assert "H=text/plain" in requests.get(srv.url("/sub/t.txt"), timeout=10).text
    assert requests.get(srv.url("/sub/x.html"), timeout=10).text == "html\n"
    assert "PI=/ht/f.txt" in requests.get(srv.url("/ht/f.txt"), timeout=10).text


@pytest.mark.parametrize("line,msg", [
    ("Action a/b /x real", "unrecognized option 'real'"),
    ("Script TRACE /x", "TRACE not allowed for Script"),
    ("Action a/b", "Action takes two or three arguments"),
])
def test_directive_errors(tmp_path: Path, line: str, msg: str) -> None:
    from featherd.core.config import load_config
    from featherd.errors import ConfigError
    from featherd.modules import builtin_modules

    with pytest.raises(ConfigError, match=msg):
        load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text=f"ServerName u\n{line}\n")


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    p = Pair(BODY, FILES)
    _scripts(p.root)
    os.chmod(p.root / "cgi", 0o755)
    p.start()
    yield p
    p.stop()


@pytest.mark.parametrize("raw", [
    "GET /a.gif", "GET /a.gif?q=1", "GET /b.my/extra", "GET /missing.my", "GET /missing.gif",
    "GET /virtual/anything", "GET /nonvirtual/x", "GET /t.txt", "GET /t.txt?x=y",
    "GET /sub/t.txt", "GET /ht/f.txt", "PUT /t.txt", "FROB /t.txt", "PUT /a.gif",
])
def test_same_as_apache(pair: Any, raw: str) -> None:
    from compat_harness import req

    method, target = raw.split()
    extra = ("Content-Length: 0",) if method == "PUT" else ()
    f, a = pair.one(req(method, target, "Connection: close", *extra), method)
    assert f.status == a.status
    if a.status == 200:
        assert f.body.replace(str(pair.root).encode(), b"R") == \
            a.body.replace(str(pair.root).encode(), b"R")
