"""mod_vhost_alias through a real server: document roots and CGI directories from the
Host name and from the local IP, ``none`` in a virtual host, and mod_alias winning over
it; the same requests through Debian's apache2 where it is installed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

CONF = """
UseCanonicalName Off
VirtualDocumentRoot "@ROOT@/vhosts/%-2.0.%-1.0/%1"
VirtualScriptAlias "@ROOT@/vhosts/%-2.0.%-1.0/cgi-bin"
Alias /aliased "@ROOT@/elsewhere"
<Directory "@ROOT@/vhosts">
Options +ExecCGI
</Directory>
<Directory "@ROOT@/elsewhere">
</Directory>
"""
FILES = {
    "vhosts/example.com/www/index.html": "www.example.com\n",
    "vhosts/example.com/www/dir/f.html": "deep\n",
    "vhosts/example.com/shop/index.html": "shop\n",
    "vhosts/example.org/www/index.html": "org\n",
    "vhosts/example.com/cgi-bin/hello.cgi": "#!/bin/sh\necho Content-Type: text/plain\necho\n"
                                            "echo hello from $SERVER_NAME $PATH_INFO\n",
    "elsewhere/a.txt": "aliased\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        os.chmod(p, 0o755 if rel.endswith(".cgi") else 0o644)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from featherd_testlib import Server, base_conf, free_port

    root = tmp_path_factory.mktemp("mva")
    _write(root, FILES)
    (root / "htdocs").mkdir()
    (root / "logs").mkdir()
    port = free_port()
    s = Server(root, base_conf(port, CONF.replace("@ROOT@", str(root))), port).start()
    yield s
    s.stop()


def get(srv: Any, host: str, path: str) -> requests.Response:
    return requests.get(srv.url(path), headers={"Host": host}, allow_redirects=False,
                        timeout=10)


@pytest.mark.parametrize("host,path,status,body", [
    ("www.example.com", "/", 200, "www.example.com\n"),
    ("WWW.Example.COM", "/dir/f.html", 200, "deep\n"),
    ("shop.example.com:8080", "/", 200, "shop\n"),
    ("www.example.org", "/", 200, "org\n"),
    ("www.example.net", "/", 404, None),
    ("www.example.com", "/cgi-bin/hello.cgi/extra", 200, "hello from www.example.com /extra\n"),
    ("www.example.com", "/aliased/a.txt", 200, "aliased\n"),      # mod_alias wins
])
def test_mapping(srv: Any, host: str, path: str, status: int, body: str | None) -> None:
    r = get(srv, host, path)
    assert r.status_code == status
    if body is not None:
        assert r.text == body


def test_ip_based_and_none(make_server: Any, tmp_path: Path) -> None:
    _write(tmp_path, {"ip/127/0/0/1/docs/i.html": "by ip\n", "htdocs/d.html": "docroot\n",
                      "ip/127/cgi/s.cgi": "#!/bin/sh\necho Content-Type: text/plain\necho\n"
                                          "echo ip cgi\n"})
    s = make_server("""
        VirtualDocumentRootIP "@ROOT@/ip/%1/%2/%3/%4/docs"
        VirtualScriptAliasIP "@ROOT@/ip/%1/cgi"
        <Directory "@ROOT@/ip">
        Options +ExecCGI
        </Directory>
        <VirtualHost *:*>
        ServerName off.test
        VirtualDocumentRootIP none
        </VirtualHost>
        <VirtualHost *:*>
        ServerName on.test
        </VirtualHost>
        """)
    assert get(s, "on.test", "/i.html").text == "by ip\n"
    assert get(s, "on.test", "/cgi-bin/s.cgi").text == "ip cgi\n"
    assert get(s, "off.test", "/d.html").text == "docroot\n"
    assert get(s, "off.test", "/cgi-bin/s.cgi").text == "ip cgi\n"   # inherited


def test_port_and_percent(make_server: Any, tmp_path: Path) -> None:
    s = make_server('VirtualDocumentRoot "@ROOT@/p/%p/%%/%0"\n', start=False)
    _write(tmp_path, {f"p/{s.port}/%/h.test/x.html": "port\n"})
    s.start()
    # %p is the server port: the Host header's here (UseCanonicalName Off)
    assert get(s, f"h.test:{s.port}", "/x.html").text == "port\n"


# --- against Debian's apache2 -------------------------------------------------------------
@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    p = Pair(CONF.replace("@ROOT@", "@ROOT@/t"), {})
    _write(p.root / "t", FILES)
    for d, _, _ in os.walk(p.root / "t"):
        os.chmod(d, 0o755)
    p.start()
    yield p
    p.stop()


@pytest.mark.parametrize("host,path", [
    ("www.example.com", "/index.html"), ("WWW.Example.COM", "/dir/f.html"),
    ("shop.example.com", "/"), ("www.example.net", "/x"), ("com", "/"),
    ("www.example.com", "/cgi-bin/hello.cgi/extra"), ("www.example.com", "/aliased/a.txt"),
])
def test_same_as_apache(pair: Any, host: str, path: str) -> None:
    from compat_harness import req

    f, a = pair.one(req("GET", path, "Connection: close", host=host))
    assert f.status == a.status
    if a.status == 200:
        assert f.body == a.body
