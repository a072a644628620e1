"""mod_dbd's pgsql driver and mod_authn_dbd against a real, private PostgreSQL
(tests/pg_testlib.py): Basic and Digest, password formats, AUTHENTICATE_*, DBDMin /
DBDMax / DBDKeep / DBDExptime seen from pg_stat_activity, an event loop that keeps
serving while queries wait, DBDPrepareSQL through the API, the database going down and
coming back."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.auth import HTTPDigestAuth

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pg_testlib import PgCluster, pg_or_skip  # noqa: E402

from featherd.support.passwords import apr_md5_encode, bcrypt_encode, sha1_encode  # noqa: E402

REALM = "PG Realm"
USERS = {"alice": (apr_md5_encode("alice-pw"), "alice-pw"),
         "bob": (bcrypt_encode("bob-pw", cost=4), "bob-pw"),
         "carl": (sha1_encode("carl-pw"), "carl-pw"),
         "plain": ("plain-pw", "plain-pw")}
FILES = {"htdocs/private/f.txt": "private\n", "htdocs/digest/f.txt": "digest\n",
         "htdocs/slow/f.txt": "slow\n", "htdocs/free.txt": "free\n"}


@pytest.fixture(scope="module")
def pg() -> PgCluster:
    import psycopg

    c = pg_or_skip()
    with psycopg.connect(c.conninfo(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS users")
        conn.execute("CREATE TABLE users (name text PRIMARY KEY, pw text, realm text, "
                     "ha1 text, fullname text, uid integer, admin boolean)")
        for i, (user, (h, pw)) in enumerate(USERS.items()):
            ha1 = hashlib.md5(f"{user}:{REALM}:{pw}".encode()).hexdigest()
            conn.execute("INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (user, h, REALM, ha1, f"{user.title()} Example", 1000 + i,
                          user == "alice"))
    return c


def body(pg: PgCluster, app: str, limits: str = "", pwquery: str | None = None) -> str:
    q = pwquery or "SELECT pw, fullname, uid, admin FROM users WHERE name = %s"
    return f"""\
StartServers 1
DBDriver pgsql
DBDParams "{pg.conninfo(application_name=app)}"
{limits}
<Directory "@ROOT@/htdocs/private">
AuthType Basic
AuthName "{REALM}"
AuthBasicProvider dbd
AuthDBDUserPWQuery "{q}"
Require valid-user
Header set X-Env "%{{AUTHENTICATE_FULLNAME}}e|%{{AUTHENTICATE_UID}}e|%{{AUTHENTICATE_ADMIN}}e"
</Directory>
<Directory "@ROOT@/htdocs/slow">
AuthType Basic
AuthName "{REALM}"
AuthBasicProvider dbd
AuthDBDUserPWQuery "SELECT pw FROM users, pg_sleep(0.4) WHERE name = %s"
Require valid-user
</Directory>
<Directory "@ROOT@/htdocs/digest">
AuthType Digest
AuthName "{REALM}"
AuthDigestProvider dbd
AuthDBDUserRealmQuery "SELECT ha1 FROM users WHERE name = %s AND realm = %s"
Require valid-user
</Directory>
"""


class Servers:
    """Servers with roots of their own (make_server's share one directory and log)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[Any] = []

    def __call__(self, conf_body: str) -> Any:
        from featherd_testlib import Server, base_conf, free_port

        root = self.base / f"s{len(self.started)}"
        for rel, content in FILES.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        (root / "logs").mkdir()
        port = free_port()
        srv = Server(root, base_conf(port, conf_body.replace("@ROOT@", str(root))), port)
        self.started.append(srv)
        return srv.start()


@pytest.fixture
def servers(tmp_path: Path) -> Any:
    sv = Servers(tmp_path)
    yield sv
    for srv in sv.started:
        srv.stop()


def get(srv: Any, path: str, user: str, pw: str, **kw: Any) -> requests.Response:
    return requests.get(srv.url(path), auth=(user, pw), timeout=15, **kw)


def wait_for(fn: Any, timeout: float = 4.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.05)
    return bool(fn())


def test_basic_digest_env(pg: PgCluster, servers: Any) -> None:
    s = servers(body(pg, "fd_basic"))
    for user, (_, pw) in USERS.items():
        r = get(s, "/private/f.txt", user, pw)
        if user == "plain":
            assert r.status_code == 401       # plain text never matches on Unix
            continue
        assert r.status_code == 200 and r.text == "private\n"
        assert get(s, "/private/f.txt", user, pw + "!").status_code == 401
    r = get(s, "/private/f.txt", "alice", "alice-pw")
    assert r.headers["X-Env"] == "Alice Example|1000|t"      # libpq's text forms
    assert get(s, "/private/f.txt", "nobody", "x").status_code == 401
    assert get(s, "/private/f.txt", "al'ice", "x").status_code == 401
    r = requests.get(s.url("/digest/f.txt"), auth=HTTPDigestAuth("bob", "bob-pw"), timeout=10)
    assert r.status_code == 200 and r.text == "digest\n"
    r = requests.get(s.url("/digest/f.txt"), auth=HTTPDigestAuth("bob", "nope"), timeout=10)
    assert r.status_code == 401
    r = requests.get(s.url("/digest/f.txt"), auth=HTTPDigestAuth("zed", "x"), timeout=10)
    assert r.status_code == 401
    log = s.error_log()
    assert "user nobody not found: /private/f.txt" in log
    assert 'user alice: authentication failure for "/private/f.txt": Password Mismatch' in log
    assert f"Digest: user `zed' in realm `{REALM}' not found" in log
    assert "Traceback" not in log
    # DBDMin 1 (the default): the worker keeps one connection open
    assert pg.backends("fd_basic") == 1


def test_dbdmax_1_serves_concurrent_requests(pg: PgCluster, servers: Any) -> None:
    s = servers(body(pg, "fd_max1", "DBDMin 0\nDBDKeep 1\nDBDMax 1\n",
                     pwquery="SELECT pw FROM users, pg_sleep(0.05) WHERE name = %s"))
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(pg.backends("fd_max1"))
            time.sleep(0.02)

    w = threading.Thread(target=watch)
    w.start()
    try:
        with ThreadPoolExecutor(12) as ex:
            users = ["alice", "bob", "carl"] * 4
            codes = list(ex.map(lambda u: get(s, "/private/f.txt", u, USERS[u][1]).status_code,
                                users))
    finally:
        stop.set()
        w.join()
    assert codes == [200] * 12
    assert max(seen) == 1


def test_dbdmin_keep_exptime(pg: PgCluster, servers: Any) -> None:
    s = servers(body(pg, "fd_min2", "DBDMin 2\nDBDKeep 2\nDBDMax 6\n"))
    assert wait_for(lambda: pg.backends("fd_min2") == 2)       # made when the worker starts
    s2 = servers(body(pg, "fd_exp", "DBDMin 0\nDBDKeep 0\nDBDMax 4\nDBDExptime 1\n"))
    assert pg.backends("fd_exp") == 0
    with ThreadPoolExecutor(4) as ex:
        codes = list(ex.map(lambda _: get(s2, "/slow/f.txt", "alice", "alice-pw").status_code,
                            range(4)))
    assert codes == [200] * 4
    n = pg.backends("fd_exp")
    assert 2 <= n <= 4                                           # DBDMax 4, reused after
    # idle above DBDKeep 0 for DBDExptime 1 s: closed
    assert wait_for(lambda: pg.backends("fd_exp") == 0, 4.0)
    assert pg.backends("fd_min2") == 2
    s.stop()
    s2.stop()
    assert wait_for(lambda: pg.backends("fd_min2") == 0)      # closed when the worker stops


def test_event_loop_never_waits_for_the_database(pg: PgCluster, servers: Any) -> None:
    s = servers(body(pg, "fd_loop"))
    assert get(s, "/private/f.txt", "alice", "alice-pw").status_code == 200
    out: dict[str, Any] = {}

    def slow() -> None:
        out["code"] = get(s, "/slow/f.txt", "alice", "alice-pw").status_code
        out["slow_done"] = time.monotonic()

    th = threading.Thread(target=slow)
    t0 = time.monotonic()
    th.start()
    time.sleep(0.1)
    r = requests.get(s.url("/free.txt"), timeout=5)
    fast_done = time.monotonic()
    th.join()
    assert r.status_code == 200 and out["code"] == 200
    # the static file was served while the query (0.4 s in the database) was waiting
    assert out["slow_done"] - t0 >= 0.38
    assert fast_done < out["slow_done"]


def test_prepared_statements_through_the_api(pg: PgCluster, tmp_path: Path) -> None:
    from featherd.core.config import load_config
    from featherd.modules import builtin_modules
    from featherd.modules.database import mod_dbd

    t = load_config(None, builtin_modules(), server_root=str(tmp_path), text=f"""\
ServerName unit.test
DBDriver pgsql
DBDParams "{pg.conninfo(application_name='fd_api')}"
DBDPrepareSQL "SELECT name, uid, admin, ha1 IS NULL AS noha1 FROM users WHERE uid >= %d ORDER BY uid" byuid
DBDPrepareSQL "UPDATE users SET fullname = %s WHERE name = %s" rename
DBDPrepareSQL "SELECT 'literal 100%%', %s::text" pct
DBDInitSQL "SET application_name = 'fd_api_init'"
""")

    async def main() -> None:
        c = await mod_dbd.open(t.main, t)
        assert c is not None and c.driver == "pgsql"
        assert sorted(c.prepared) == ["byuid", "pct", "rename"]
        res = await c.pselect("byuid", 1002)
        assert res.columns == ["name", "uid", "admin", "noha1"]
        assert res.rows == [("carl", "1002", "f", "f"), ("plain", "1003", "f", "f")]
        assert await c.pquery("rename", "Carl C", "carl") == 1
        assert (await c.select("SELECT fullname FROM users WHERE name = %s", "carl")).rows \
            == [("Carl C",)]
        assert (await c.pselect("pct", "x")).rows == [("literal 100%", "x")]
        assert (await c.select("SELECT NULL::text")).rows == [(None,)]
        with pytest.raises(mod_dbd.DBDError) as ei:
            await c.select("SELECT * FROM nosuchtable")
        assert "nosuchtable" in str(ei.value)
        # DBDInitSQL ran on the connection
        assert (await c.select("SELECT current_setting('application_name')")).rows == \
            [("fd_api_init",)]
        mod_dbd.close(c)
        for g in t.extra["dbd_groups"]:
            if g.pool is not None:
                g.pool.shutdown()
    asyncio.run(main())


def test_bad_statement_is_500_with_apache_lines(pg: PgCluster, servers: Any) -> None:
    s = servers(body(pg, "fd_bad", "DBDMin 0\n",
                     pwquery="SELECT pw FROM nosuchtable WHERE name = %s"))
    assert get(s, "/private/f.txt", "alice", "alice-pw").status_code == 500
    log = s.error_log()
    assert ('DBD: failed to prepare SQL statements: ERROR: relation "nosuchtable" does '
            "not exist") in log
    assert "Failed to acquire DBD connection from pool!" in log
    assert "Failed to acquire database connection to look up user 'alice'" in log


def test_database_down_then_back(pg: PgCluster, servers: Any) -> None:
    s = servers(body(pg, "fd_down"))
    assert get(s, "/private/f.txt", "alice", "alice-pw").status_code == 200
    pg.stop()
    try:
        # the pooled connection is dead and no new one can be made
        assert get(s, "/private/f.txt", "alice", "alice-pw").status_code == 500
        assert get(s, "/private/f.txt", "bob", "bob-pw").status_code == 500
        r = requests.get(s.url("/free.txt"), timeout=5)
        assert r.status_code == 200                          # the worker serves on
        # a server started while the database is down
        s2 = servers(body(pg, "fd_down2"))
        assert get(s2, "/private/f.txt", "alice", "alice-pw").status_code == 500
    finally:
        pg.start()
    assert get(s, "/private/f.txt", "alice", "alice-pw").status_code == 200
    assert get(s, "/private/f.txt", "bob", "bob-pw").status_code == 200
    assert get(s2, "/private/f.txt", "alice", "alice-pw").status_code == 200
    log = s.error_log()
    assert "(20014)Internal error: DBD: Can't connect to pgsql: " in log
    assert "Failed to acquire database connection to look up user 'bob'" in log or \
        "Query execution error looking up 'bob' in database" in log
    assert "Traceback" not in log and "internal error" not in log
    log2 = s2.error_log()
    assert "DBD: failed to initialise" in log2 and "DBD: child init failed!" in log2
