"""mod_userdir through a real server: the absolute forms with and without ``*``, the URL
forms (302), enabled/disabled lists, "UserDir disabled root", virtual hosts, and the
home-directory form with a test user (created only when running as root). Cases that
Apache handles the same way are also checked against Debian's apache2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from featherd_testlib import site_server

CONF = """
UserDir /nonexistent-ud "@ROOT@/homes/*/www"
<VirtualHost *:*>
ServerName test.local
UserDir disabled root nobody
</VirtualHost>
<VirtualHost *:*>
ServerName v1.test
UserDir "@ROOT@/homes/*/www"
</VirtualHost>
<VirtualHost *:*>
ServerName v2.test
UserDir disabled
UserDir enabled bob
UserDir "@ROOT@/homes/*/www" http://x.example/
</VirtualHost>
<VirtualHost *:*>
ServerName v3.test
UserDir http://red.example/users
</VirtualHost>
<VirtualHost *:*>
ServerName v4.test
UserDir http://red.example/*/usr
</VirtualHost>
<VirtualHost *:*>
ServerName v5.test
UserDir "@ROOT@/homes"
</VirtualHost>
<VirtualHost *:*>
ServerName v6.test
UserDir "@ROOT@/homes/*/www"
UserDir disabled
</VirtualHost>
"""
FILES = {"homes/bob/www/one/two.html": "bob two\n", "homes/bob/www/index.html": "bob idx\n",
         "homes/root/www/x.html": "rootx\n", "homes/alice/www/a.html": "alice\n"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = site_server(tmp_path_factory.mktemp("ud"), CONF, FILES, under="")
    yield s
    s.stop()


def get(srv: Any, host: str, path: str) -> requests.Response:
    return requests.get(srv.url(path), headers={"Host": host}, allow_redirects=False,
                        timeout=10)


@pytest.mark.parametrize("host,path,status,body", [
    ("test.local", "/~bob/one/two.html", 200, "bob two\n"),
    ("test.local", "/~bob/", 200, "bob idx\n"),
    ("test.local", "/~root/x.html", 404, None),          # UserDir disabled root
    ("test.local", "/~nobody/", 404, None),
    ("test.local", "/~alice/a.html", 200, "alice\n"),
    ("test.local", "/~/x", 404, None),
    ("test.local", "/~x./y", 404, None),
    ("v1.test", "/~root/x.html", 200, "rootx\n"),         # lists are not inherited
    ("v2.test", "/~bob/one/two.html", 200, "bob two\n"),  # disabled, bob enabled
    ("v2.test", "/~alice/a.html", 404, None),
    ("v5.test", "/~alice/www/a.html", 200, "alice\n"),    # absolute, no '*'
    ("v6.test", "/~bob/one/two.html", 404, None),         # globally disabled
])
def test_file_forms(srv: Any, host: str, path: str, status: int, body: str | None) -> None:
    r = get(srv, host, path)
    assert r.status_code == status
    if body is not None:
        assert r.text == body


def test_user_without_slash_gets_the_directory_redirect(srv: Any) -> None:
    r = get(srv, "test.local", "/~bob?x=1")
    assert (r.status_code, r.headers["Location"]) == (301, "http://test.local/~bob/?x=1")


@pytest.mark.parametrize("host,path,location", [
    ("v3.test", "/~bob/one/two.html", "http://red.example/users/bob/one/two.html"),
    ("v4.test", "/~bob/one/two.html", "http://red.example/bob/usr/one/two.html"),
    ("v2.test", "/~bob/nothing-here", None),
])
def test_url_forms(srv: Any, host: str, path: str, location: str | None) -> None:
    r = get(srv, host, path)
    if location is None:               # the file form is found first: no redirect
        assert r.status_code == 404
    else:
        assert (r.status_code, r.headers["Location"]) == (302, location)


def test_not_enabled_user_never_reaches_the_redirect(srv: Any) -> None:
    # v2 is globally disabled: carol is not enabled, so not even the last (URL) form
    assert get(srv, "v2.test", "/~carol/").status_code == 404


@pytest.fixture
def test_user(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("creating a test user needs root and useradd")
    name = "fdud" + uuid.uuid4().hex[:8]
    home = tmp_path / "home" / name
    (home / "public_html").mkdir(parents=True)
    (home / "public_html" / "p.html").write_text("from public_html\n")
    os.chmod(tmp_path, 0o755)
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        yield name, home
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def test_home_directory_form(make_server: Any, test_user: tuple[str, Path]) -> None:
    name, home = test_user
    s = make_server("UserDir public_html\nUserDir disabled root\n")
    r = requests.get(s.url(f"/~{name}/p.html"), timeout=10)
    assert (r.status_code, r.text) == (200, "from public_html\n")
    assert requests.get(s.url("/~root/"), timeout=10).status_code == 404


def test_no_userdir_by_default(make_server: Any) -> None:
    s = make_server("", files={"htdocs/~bob/x": "literal\n"})
    assert requests.get(s.url("/~bob/x"), timeout=10).text == "literal\n"


# --- against Debian's apache2 -------------------------------------------------------------
APACHE_CASES = [("test.local", p) for p in ("/~bob/one/two.html", "/~bob", "/~bob/",
                                            "/~root/x.html", "/~alice/a.html", "/~/x",
                                            "/~./x", "/~x./y", "/~nosuchuser/")] + \
    [("v1.test", "/~root/x.html"), ("v2.test", "/~bob/"), ("v2.test", "/~alice/a.html"),
     ("v5.test", "/~alice/www/a.html"), ("v6.test", "/~bob/")]


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    root_conf = CONF.replace("@ROOT@", "@DOCROOT@/..").replace("*:*", "*")
    files = {f"../{k}": v for k, v in FILES.items()}
    p = Pair(root_conf, {})
    for rel, text in files.items():
        path = p.docroot / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for d in [path.parent, *path.parents]:
            if str(d).startswith(str(p.root)):
                os.chmod(d, 0o755)
        os.chmod(path, 0o644)
    p.start()
    yield p
    p.stop()


@pytest.mark.parametrize("host,path", APACHE_CASES)
def test_same_status_as_apache(pair: Any, host: str, path: str) -> None:
    from compat_harness import req

    f, a = pair.one(req("GET", path, "Connection: close", host=host))
    assert f.status == a.status
    assert f.header("Location") == a.header("Location")
    if a.status == 200:
        assert f.body == a.body
