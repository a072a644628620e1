"""mod_authn_dbd over mod_dbd's sqlite3 driver, through a real featherd: Basic with every
password format, Digest, AUTHENTICATE_* variables, per-vhost databases, DBDPersist Off,
and the error cases (no query, a bad query, no DBDriver, an unreachable database)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.auth import HTTPDigestAuth

from featherd.support.passwords import (
    apr_md5_encode,
    bcrypt_encode,
    des_crypt,
    md5_crypt,
    sha1_encode,
    sha_crypt,
)

REALM = "DBD Realm"

#: user -> (stored hash, password)
FORMATS = {
    "bcrypt": (bcrypt_encode("b-pass", cost=4), "b-pass"),
    "apr1": (apr_md5_encode("a-pass"), "a-pass"),
    "sha": (sha1_encode("s-pass"), "s-pass"),
    "des": (des_crypt("d-pass", "Xy") or "", "d-pass"),
    "md5crypt": (md5_crypt("m-pass", "saltsalt"), "m-pass"),
    "sha256": (sha_crypt("5-pass", "$5$rounds=1000$abcdefgh") or "", "5-pass"),
    "sha512": (sha_crypt("6-pass", "$6$abcdefgh") or "", "6-pass"),
}


def make_db(path: Path, extra: list[tuple[str, str]] = ()) -> str:  # type: ignore[assignment]
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE users (name TEXT, pw TEXT, realm TEXT, ha1 TEXT, "
              "fullname TEXT, \"e-mail\" TEXT)")
    for user, (h, pw) in FORMATS.items():
        ha1 = hashlib.md5(f"{user}:{REALM}:{pw}".encode()).hexdigest()
        c.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                  (user, h, REALM, ha1, f"User {user}", f"{user}@example.org"))
    c.execute("INSERT INTO users VALUES ('plain', 'plain-pass', ?, NULL, 'P', NULL)", (REALM,))
    for user, pw in extra:
        c.execute("INSERT INTO users (name, pw) VALUES (?, ?)", (user, pw))
    c.commit()
    c.close()
    return str(path)


def conf(db: str, more: str = "") -> str:
    return f"""\
StartServers 1
DBDriver sqlite3
DBDParams "{db}"
<Directory "@ROOT@/htdocs/private">
AuthType Basic
AuthName "{REALM}"
AuthBasicProvider dbd
AuthDBDUserPWQuery "SELECT pw, fullname, \\"e-mail\\" FROM users WHERE name = %s"
Require valid-user
Header set X-Full "%{{AUTHENTICATE_FULLNAME}}e"
Header set X-Mail "%{{AUTHENTICATE_E_MAIL}}e"
</Directory>
<Directory "@ROOT@/htdocs/digest">
AuthType Digest
AuthName "{REALM}"
AuthDigestProvider dbd
AuthDBDUserRealmQuery "SELECT ha1, fullname FROM users WHERE name = %s AND realm = %s"
Require valid-user
Header set X-Full "%{{AUTHENTICATE_FULLNAME}}e"
</Directory>
<Directory "@ROOT@/htdocs/noquery">
AuthType Basic
AuthName "{REALM}"
AuthBasicProvider dbd
Require valid-user
</Directory>
{more}
"""


FILES = {"htdocs/private/f.txt": "private\n", "htdocs/digest/f.txt": "digest\n",
         "htdocs/noquery/f.txt": "nq\n", "htdocs/free.txt": "free\n"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from featherd_testlib import Server, base_conf, free_port

    root = tmp_path_factory.mktemp("dbdsqlite")
    for rel, content in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    (root / "logs").mkdir()
    db = make_db(root / "users.db")
    port = free_port()
    s = Server(root, base_conf(port, conf(db).replace("@ROOT@", str(root))), port)
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("user", sorted(FORMATS))
def test_basic_every_password_format(srv: Any, user: str) -> None:
    pw = FORMATS[user][1]
    r = requests.get(srv.url("/private/f.txt"), auth=(user, pw), timeout=10)
    assert r.status_code == 200 and r.text == "private\n"
    assert r.headers["X-Full"] == f"User {user}"
    assert r.headers["X-Mail"] == f"{user}@example.org"
    r = requests.get(srv.url("/private/f.txt"), auth=(user, pw + "x"), timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'


def test_basic_unknown_user_wrong_password_plain_text(srv: Any) -> None:
    assert requests.get(srv.url("/private/f.txt"), timeout=10).status_code == 401
    r = requests.get(srv.url("/private/f.txt"), auth=("carol", "x"), timeout=10)
    assert r.status_code == 401
    # plain text in the column never matches on Unix (apr_password_validate -> crypt)
    r = requests.get(srv.url("/private/f.txt"), auth=("plain", "plain-pass"), timeout=10)
    assert r.status_code == 401
    r = requests.get(srv.url("/private/f.txt"), auth=("apr1", "nope"), timeout=10)
    assert r.status_code == 401
    log = srv.error_log()
    assert "user carol not found: /private/f.txt" in log
    assert 'user apr1: authentication failure for "/private/f.txt": Password Mismatch' in log
    assert 'user plain: authentication failure for "/private/f.txt": Password Mismatch' in log
    assert "Traceback" not in log


def test_sql_injection_is_data(srv: Any) -> None:
    r = requests.get(srv.url("/private/f.txt"), auth=("x' OR '1'='1", "b-pass"), timeout=10)
    assert r.status_code == 401


def test_digest(srv: Any) -> None:
    for user in ("apr1", "sha512"):
        pw = FORMATS[user][1]
        r = requests.get(srv.url("/digest/f.txt"), auth=HTTPDigestAuth(user, pw), timeout=10)
        assert r.status_code == 200 and r.text == "digest\n"
        assert r.headers["X-Full"] == f"User {user}"
        r = requests.get(srv.url("/digest/f.txt"), auth=HTTPDigestAuth(user, "bad"), timeout=10)
        assert r.status_code == 401
    r = requests.get(srv.url("/digest/f.txt"), auth=HTTPDigestAuth("carol", "x"), timeout=10)
    assert r.status_code == 401
    log = srv.error_log()
    assert f"Digest: user `carol' in realm `{REALM}' not found: /digest/f.txt" in log
    assert "Digest: user apr1: password mismatch: /digest/f.txt" in log


def test_no_query_configured_is_500(srv: Any) -> None:
    r = requests.get(srv.url("/noquery/f.txt"), auth=("apr1", "a-pass"), timeout=10)
    assert r.status_code == 500
    assert "No AuthDBDUserPWQuery has been specified" in srv.error_log()
    assert requests.get(srv.url("/free.txt"), timeout=10).status_code == 200


def test_bad_query_vhosts_and_persist_off(make_server: Any, tmp_path: Path) -> None:
    a = make_db(tmp_path / "a.db", [("vh", apr_md5_encode("pw-a"))])
    b = make_db(tmp_path / "b.db", [("vh", apr_md5_encode("pw-b"))])
    body = f"""\
StartServers 1
NameVirtualHost 127.0.0.1
DBDriver sqlite3
DBDParams "{a}"
<Directory "@ROOT@/htdocs/private">
AuthType Basic
AuthName R
AuthBasicProvider dbd
AuthDBDUserPWQuery "SELECT pw FROM users WHERE name = %s"
Require valid-user
</Directory>
<VirtualHost 127.0.0.1>
ServerName a.test
</VirtualHost>
<VirtualHost 127.0.0.1>
ServerName b.test
DBDParams "{b}"
DBDPersist Off
</VirtualHost>
<VirtualHost 127.0.0.1>
ServerName bad.test
DBDParams "{b}"
<Location /private>
AuthDBDUserPWQuery "SELECT pw FROM nosuchtable WHERE name = %s"
</Location>
</VirtualHost>
<VirtualHost 127.0.0.1>
ServerName gone.test
DBDParams "{tmp_path}/no/such/dir/x.db"
</VirtualHost>
"""
    s = make_server(body, files={"htdocs/private/f.txt": "p\n"})

    def get(host: str, pw: str) -> int:
        return requests.get(s.url("/private/f.txt"), auth=("vh", pw), headers={"Host": host},
                            timeout=10).status_code

    assert get("a.test", "pw-a") == 200 and get("a.test", "pw-b") == 401
    assert get("b.test", "pw-b") == 200 and get("b.test", "pw-a") == 401
    assert get("b.test", "pw-b") == 200                    # DBDPersist Off: again
    assert get("bad.test", "pw-b") == 500
    assert get("gone.test", "pw-a") == 500
    assert get("a.test", "pw-a") == 200                    # the worker lives on
    log = s.error_log()
    assert "DBD: failed to prepare SQL statements: no such table: nosuchtable" in log
    assert "Can't connect to sqlite3: unable to open database file" in log
    assert "Failed to acquire database connection to look up user 'vh'" in log
    assert "Traceback" not in log and "internal error" not in log


def test_not_configured(make_server: Any) -> None:
    s = make_server("""\
<Location /private>
AuthType Basic
AuthName R
AuthBasicProvider dbd
AuthDBDUserPWQuery "SELECT pw FROM users WHERE name = %s"
Require valid-user
</Location>
""", files={"htdocs/private/f.txt": "p\n"})
    r = requests.get(s.url("/private/f.txt"), auth=("u", "p"), timeout=10)
    assert r.status_code == 500
    log = s.error_log()
    assert "DBD: not configured" in log
    assert "Failed to acquire database connection to look up user 'u'" in log
