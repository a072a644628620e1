"""RewriteMap over HTTP: txt:, rnd:, dbm: (an SDBM file made by httxt2dbm), int: and a
prg: program shared by concurrent requests (manual: RewriteMap, "Using RewriteMap")."""

from __future__ import annotations

import concurrent.futures
import stat
import sys

import pytest
import requests
from featherd_testlib import Server, base_conf, free_port

from featherd.support import httxt2dbm

PRG = r"""
import sys, time
n = 0
for line in sys.stdin:
    key = line.rstrip("\n")
    n += 1
    if key == "slow":
        time.sleep(0.2)
    if key == "unknown":
        sys.stdout.write("NULL\n")
    else:
        sys.stdout.write(f"{key.upper()}-{n}\n")
    sys.stdout.flush()
"""

BODY = """
RewriteEngine on
RewriteLock logs/map.lock
RewriteMap pages txt:maps/pages.txt
RewriteMap mirrors rnd:maps/mirrors.txt
RewriteMap users dbm:maps/users
RewriteMap usersdbm dbm=SDBM:maps/users
RewriteMap lc int:tolower
RewriteMap escape int:escape
RewriteMap prog prg:maps/prog.sh
RewriteRule ^/page/(.*)$ /${pages:$1|missing.html} [L]
RewriteRule ^/mirror$ http://${mirrors:static}/file [R,L]
RewriteRule ^/user/(.*)$ /users/${users:$1|nobody}.html [L]
RewriteRule ^/user2/(.*)$ /users/${usersdbm:${lc:$1}|nobody}.html [L]
RewriteRule ^/esc/(.*)$ /target.html?${escape:$1} [R,L,NE]
RewriteRule ^/prog/(.*)$ /target.html?${prog:$1|default} [R,L]
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("maps")
    for d in ("logs", "htdocs/users", "maps"):
        (root / d).mkdir(parents=True)
    (root / "htdocs" / "home.html").write_text("home\n")
    (root / "htdocs" / "missing.html").write_text("missing\n")
    (root / "htdocs" / "target.html").write_text("t\n")
    (root / "htdocs" / "users" / "alice-page.html").write_text("alice\n")
    (root / "htdocs" / "users" / "nobody.html").write_text("nobody\n")
    (root / "maps" / "pages.txt").write_text("# url page\nhome home.html\n")
    (root / "maps" / "mirrors.txt").write_text("static s1.example|s2.example|s3.example\n")
    (root / "maps" / "users.txt").write_text("alice alice-page\nbob bob-page\n")
    assert httxt2dbm.main(["-i", str(root / "maps" / "users.txt"), "-o",
                           str(root / "maps" / "users")]) == 0
    (root / "maps" / "prog.py").write_text(PRG)
    sh = root / "maps" / "prog.sh"
    sh.write_text(f"#!/bin/sh\nexec {sys.executable} {root / 'maps' / 'prog.py'}\n")
    sh.chmod(sh.stat().st_mode | stat.S_IXUSR)
    port = free_port()
    s = Server(root, base_conf(port, BODY), port).start()
    yield s
    s.stop()


def get(srv: Server, path: str) -> requests.Response:
    return requests.get(srv.url(path), allow_redirects=False, timeout=10)


def test_txt(srv: Server) -> None:
    assert get(srv, "/page/home").text == "home\n"
    assert get(srv, "/page/other").text == "missing\n"


def test_rnd(srv: Server) -> None:
    seen = {get(srv, "/mirror").headers["Location"] for _ in range(30)}
    assert seen <= {f"http://s{i}.example/file" for i in (1, 2, 3)}
    assert len(seen) >= 2


def test_dbm(srv: Server) -> None:
    assert get(srv, "/user/alice").text == "alice\n"
    assert get(srv, "/user/carol").text == "nobody\n"
    assert get(srv, "/user2/ALICE").text == "alice\n"


def test_int_escape(srv: Server) -> None:
    r = get(srv, "/esc/a%20b%3Fc")
    assert r.headers["Location"].endswith("/target.html?a%20b%3fc")


def test_prg(srv: Server) -> None:
    loc = get(srv, "/prog/abc").headers["Location"]
    assert "/target.html?ABC-" in loc
    assert get(srv, "/prog/unknown").headers["Location"].endswith("/target.html?default")


def test_prg_serialised_across_concurrent_requests(srv: Server) -> None:
    keys = [f"k{i}" for i in range(24)] + ["slow"] * 3

    def one(key: str) -> tuple[str, str]:
        return key, get(srv, f"/prog/{key}").headers["Location"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
        results = list(ex.map(one, keys))
    counters = []
    for key, loc in results:
        value = loc.split("?", 1)[1]
        word, n = value.rsplit("-", 1)
        assert word == key.upper()           # every answer belongs to its own question
        counters.append(int(n))
    assert len(set(counters)) == len(counters)   # one line in, one line out, in turn
