"""mod_authn_dbd beside Debian's apache2 on the same sqlite3 database: the same status
(and AUTHENTICATE_* variable) for every user and password, Basic and Digest. Skipped
when apache2 or APR's sqlite3 dbd driver is missing."""

from __future__ import annotations

import glob
import hashlib
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.auth import HTTPDigestAuth

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import Pair, apache_available  # noqa: E402

from featherd.support.passwords import (  # noqa: E402
    apr_md5_encode,
    bcrypt_encode,
    des_crypt,
    md5_crypt,
    sha1_encode,
    sha_crypt,
)

REALM = "Compat DBD"
USERS = {
    "bcrypt": (bcrypt_encode("b-pass", cost=4), "b-pass"),
    "apr1": (apr_md5_encode("a-pass"), "a-pass"),
    "sha": (sha1_encode("s-pass"), "s-pass"),
    "des": (des_crypt("d-pass", "Xy") or "", "d-pass"),
    "md5crypt": (md5_crypt("m-pass", "saltsalt"), "m-pass"),
    "sha512": (sha_crypt("6-pass", "$6$abcdefgh") or "", "6-pass"),
    "plain": ("plain-pass", "plain-pass"),
    "nullpw": (None, "x"),
}


def _why_skip() -> str | None:
    why = apache_available()
    if why is not None:
        return why
    if not glob.glob("/usr/lib/*/apr-util-1/apr_dbd_sqlite3*.so") and \
            not glob.glob("/usr/lib/apr-util-1/apr_dbd_sqlite3*.so"):
        return "APR's sqlite3 dbd driver (libaprutil1-dbd-sqlite3) is not installed"
    for m in ("mod_dbd.so", "mod_authn_dbd.so"):
        if not os.path.exists(f"/usr/lib/apache2/modules/{m}"):
            return f"apache2's {m} is missing"
    return None


def _db_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "users.db")
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE users (name TEXT, pw TEXT, realm TEXT, ha1 TEXT, "
                  "fullname TEXT)")
        for user, (h, pw) in USERS.items():
            ha1 = hashlib.md5(f"{user}:{REALM}:{pw}".encode()).hexdigest()
            c.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                      (user, h, REALM, ha1, f"Full {user}"))
        c.commit()
        c.close()
        with open(path, "rb") as f:
            return f.read()


BODY = f"""\
DBDriver sqlite3
DBDParams "@DOCROOT@/db/users.db"
<Directory "@DOCROOT@/private">
AuthType Basic
AuthName "{REALM}"
AuthBasicProvider dbd
AuthDBDUserPWQuery "SELECT pw, fullname FROM users WHERE name = %s"
Require valid-user
Header set X-Full "%{{AUTHENTICATE_FULLNAME}}e"
</Directory>
<Directory "@DOCROOT@/digest">
AuthType Digest
AuthName "{REALM}"
AuthDigestProvider dbd
AuthDBDUserRealmQuery "SELECT ha1 FROM users WHERE name = %s AND realm = %s"
Require valid-user
</Directory>
"""


@pytest.fixture(scope="module")
def pair() -> Any:
    why = _why_skip()
    if why is not None:
        pytest.skip(f"apache2 comparison: {why}")
    p = Pair(BODY, {"db/users.db": _db_bytes(), "private/f.txt": "private\n",
                    "digest/f.txt": "digest\n"})
    try:
        p.start()
    except RuntimeError as e:
        p.stop()
        pytest.fail(f"could not start the pair: {e}")
    yield p
    p.stop()


def _both(pair: Any, path: str, auth: Any) -> tuple[requests.Response, requests.Response]:
    f = requests.get(f"http://127.0.0.1:{pair.featherd.port}{path}", auth=auth, timeout=10)
    a = requests.get(f"http://127.0.0.1:{pair.apache.port}{path}", auth=auth, timeout=10)
    return f, a


CASES = [(u, pw) for u, (_, pw) in USERS.items()] + \
    [(u, pw + "-wrong") for u, (_, pw) in USERS.items() if u != "nullpw"] + \
    [("nobody", "x"), ("", ""), ("apr1", "")]


@pytest.mark.parametrize("user,pw", CASES)
def test_basic_same_status(pair: Any, user: str, pw: str) -> None:
    f, a = _both(pair, "/private/f.txt", (user, pw))
    assert f.status_code == a.status_code, (user, pw, pair.apache.error_log()[-800:])
    if a.status_code == 200:
        assert f.text == a.text
        assert f.headers.get("X-Full") == a.headers.get("X-Full") == f"Full {user}"
    else:
        assert f.headers.get("WWW-Authenticate") == a.headers.get("WWW-Authenticate")


def test_basic_no_credentials(pair: Any) -> None:
    f, a = _both(pair, "/private/f.txt", None)
    assert f.status_code == a.status_code == 401


@pytest.mark.parametrize("user,pw", [("apr1", "a-pass"), ("bcrypt", "b-pass"),
                                     ("apr1", "bad"), ("nobody", "x")])
def test_digest_same_status(pair: Any, user: str, pw: str) -> None:
    f, a = _both(pair, "/digest/f.txt", HTTPDigestAuth(user, pw))
    assert f.status_code == a.status_code, (user, pw)
