"""mod_dbd's per-process pool (apr_reslist rules) and the connection API, over a fake
driver that counts what it opens and closes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from featherd.modules.database import drivers, mod_dbd
from featherd.modules.database.drivers import DriverError, Result
from featherd.modules.database.mod_dbd import DBDConfig, Group


class Fake:
    opened: list[Fake] = []
    fail_open = False

    def __init__(self, params: str) -> None:
        if Fake.fail_open:
            raise DriverError("could not connect to server: Connection refused", lost=True)
        self.params = params
        self.closed = False
        self.dead = False
        self.prepared: dict[str, str] = {}
        self.init: list[str] = []
        Fake.opened.append(self)

    def prepare(self, label: str, sql: str) -> None:
        if "BAD" in sql:
            raise DriverError('syntax error at or near "BAD"')
        self.prepared[label] = sql

    def query(self, sql: str, args: tuple[Any, ...]) -> int:
        self.init.append(sql)
        return 0

    def pselect(self, label: str, args: tuple[Any, ...]) -> Result:
        if self.dead:
            raise DriverError("server closed the connection unexpectedly", lost=True)
        if args and args[0] == "boom":
            raise DriverError("division by zero")
        return Result(["v", "id"], [(args[0] if args else None, str(id(self)))])

    pquery = select = query  # type: ignore[assignment]

    def check(self) -> str | None:
        return "connection dead" if self.dead else None

    def close(self) -> None:
        self.closed = True


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, msg: str, **_: Any) -> None:
        self.lines.append((level, msg))

    def text(self) -> str:
        return "\n".join(m for _, m in self.lines)


class FakeServer:
    def __init__(self, conf: DBDConfig) -> None:
        self.error_log = Log()
        self.module_config = {mod_dbd.dbd.index: conf}


class FakeTree:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.main = None


@pytest.fixture(autouse=True)
def fake_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(drivers.DRIVERS, "fake", (Fake, "sqlite3", ""))
    Fake.opened = []
    Fake.fail_open = False


def group(**kw: Any) -> tuple[Group, FakeServer]:
    conf = DBDConfig(driver="fake", params="p", queries={"q": "SELECT %s", "gone": ""})
    for k, v in kw.items():
        setattr(conf, k, v)
    s = FakeServer(conf)
    tree = FakeTree()
    g = Group(conf, s, tree)
    conf.group = g
    g.tree_warnings = tree.warnings  # type: ignore[attr-defined]
    return g, s


def live(g: Group) -> int:
    return sum(1 for h in Fake.opened if not h.closed)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_defaults_and_setup_makes_dbdmin() -> None:
    g, s = group()
    assert (g.nmin, g.nkeep, g.nmax, g.exptime, g.persist) == (1, 2, 10, 300, True)

    async def main() -> None:
        pool = g.get_pool()
        assert await pool.setup()
        assert pool.ntotal == 1 and len(pool.idle) == 1
        conn = await mod_dbd.open(s)
        assert conn is not None
        assert conn.prepared == ["q"]                 # "" labels are not prepared
        assert Fake.opened[0].prepared == {"q": "SELECT %s"}
        res = await conn.pselect("q", "hello")
        assert res.rows[0][0] == "hello"
        with pytest.raises(mod_dbd.DBDError):
            await conn.pselect("gone")
        with pytest.raises(mod_dbd.DBDError) as ei:
            await conn.pselect("q", "boom")
        assert str(ei.value) == "division by zero"
        assert not conn.invalid                       # a statement error keeps it
        conn.close()
        conn.close()                                  # twice is harmless
        assert len(pool.idle) == 1 and pool.ntotal == 1
        pool.shutdown()
        assert live(g) == 0
    run(main())


def test_dbdmax_limits_and_waiters_get_connections() -> None:
    g, s = group(nmin=0, nkeep=2, nmax=2)

    async def user(i: int) -> str:
        conn = await mod_dbd.open(s)
        assert conn is not None
        pool = g.get_pool()
        assert pool.ntotal <= 2
        await asyncio.sleep(0.02)
        v = (await conn.pselect("q", str(i))).rows[0][0]
        conn.close()
        return v  # type: ignore[return-value]

    async def main() -> None:
        out = await asyncio.gather(*(user(i) for i in range(12)))
        assert out == [str(i) for i in range(12)]
        assert len(Fake.opened) == 2                  # never more than DBDMax
        assert g.get_pool().ntotal == 2
        g.get_pool().shutdown()
    run(main())


def test_waiter_cancelled_does_not_leak() -> None:
    g, s = group(nmin=0, nkeep=1, nmax=1)

    async def main() -> None:
        first = await mod_dbd.open(s)
        assert first is not None
        t = asyncio.ensure_future(mod_dbd.open(s))
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        first.close()
        again = await asyncio.wait_for(mod_dbd.open(s), 1)
        assert again is not None and again.handle is first.handle
        again.close()
        pool = g.get_pool()
        assert pool.ntotal == 1 and not pool.waiters
        pool.shutdown()
    run(main())


def test_keep_and_exptime_close_idle_connections() -> None:
    g, s = group(nmin=0, nkeep=1, nmax=4, exptime=0)

    async def main() -> None:
        conns = [await mod_dbd.open(s) for _ in range(4)]
        assert len(Fake.opened) == 4
        for c in conns:
            assert c is not None
            c.close()
        await settle()
        pool = g.get_pool()
        # DBDExptime 0: every idle one above DBDKeep goes at once
        assert len(pool.idle) == 1 and pool.ntotal == 1 and live(g) == 1
        pool.shutdown()
    run(main())

    Fake.opened = []
    g, s = group(nmin=0, nkeep=1, nmax=4)
    g.exptime = 0.2                                   # type: ignore[assignment]

    async def timed() -> None:
        conns = [await mod_dbd.open(s) for _ in range(3)]
        for c in conns:
            assert c is not None
            c.close()
        pool = g.get_pool()
        assert len(pool.idle) == 3                    # not yet expired
        await asyncio.sleep(0.45)                     # the timer expires them
        await settle()
        assert len(pool.idle) == 1 and live(g) == 1
        pool.shutdown()
    run(timed())


def test_dbdmin_is_kept() -> None:
    g, s = group(nmin=2, nkeep=2, nmax=3)

    async def main() -> None:
        pool = g.get_pool()
        assert await pool.setup()
        assert len(pool.idle) == 2
        c = await mod_dbd.open(s)
        assert c is not None
        c.invalid = True
        c.close()                                     # destroyed: back up to DBDMin idle
        await settle()
        assert len(pool.idle) == 2 and pool.ntotal == 2
        pool.shutdown()
    run(main())


def test_limits_are_put_in_order() -> None:
    g, _ = group(nmax=1)
    assert (g.nmin, g.nkeep, g.nmax) == (1, 1, 1)
    g, _ = group(nmin=5, nkeep=3, nmax=4)
    assert (g.nmin, g.nkeep, g.nmax) == (3, 3, 4)
    assert g.tree_warnings == ["DBD: DBDMin 5 is above DBDKeep 3: using 3"]  # type: ignore[attr-defined]


def test_persist_off_opens_and_closes_each_time() -> None:
    g, s = group(persist=False)

    async def main() -> None:
        for _ in range(3):
            c = await mod_dbd.open(s)
            assert c is not None
            await c.pselect("q", "x")
            c.close()
        await settle()
        assert len(Fake.opened) == 3 and live(g) == 0
        g.get_pool().shutdown()
    run(main())


def test_database_down_then_back() -> None:
    g, s = group(nmin=1)

    async def main() -> None:
        Fake.fail_open = True
        pool = g.get_pool()
        assert not await pool.setup(child_init=True)
        text = s.error_log.text()
        assert ("(20014)Internal error: DBD: Can't connect to fake: could not connect to "
                "server: Connection refused") in text
        assert "DBD: failed to initialise" in text and "DBD: child init failed!" in text
        assert await mod_dbd.open(s) is None          # setup tried again, failing again
        Fake.fail_open = False
        c = await mod_dbd.open(s)                     # recovered
        assert c is not None
        c.close()
        # the pooled connection is found broken (apr_dbd_check_conn fails even after a
        # reset): Apache's "DBD [driver] Error" line, None, and the connection is dropped
        for h in Fake.opened:
            h.dead = True
        assert await mod_dbd.open(s) is None
        assert "DBD [fake] Error: connection dead" in s.error_log.text()
        c = await mod_dbd.open(s)                     # a new one
        assert c is not None and not c.reused
        c.close()
        await settle()
        # (the refill to DBDMin ran beside it: both stay, under DBDKeep 2)
        assert pool.ntotal == live(g) == len(pool.idle) == 2
        pool.shutdown()
    run(main())


def test_dead_connection_is_replaced_during_a_statement() -> None:
    g, s = group(nmin=0)

    async def main() -> None:
        c = await mod_dbd.open(s)
        assert c is not None
        c.close()
        c = await mod_dbd.open(s)
        assert c is not None and c.reused
        c.handle.dead = True                          # dropped after the check
        res = await c.pselect("q", "again")
        assert res.rows[0][0] == "again" and len(Fake.opened) == 2
        c.close()
        # a fresh connection failing that way is not retried: the caller gets the error
        c = await mod_dbd.open(s)
        assert c is not None
        c.handle.dead = True
        c.reused = False
        with pytest.raises(mod_dbd.DBDError):
            await c.pselect("q", "x")
        assert c.invalid
        c.close()
        assert g.get_pool().ntotal == 0
        g.get_pool().shutdown()
    run(main())


def test_prepare_failure_and_init_sql() -> None:
    g, s = group(init_sql=["SET a", "SET b"])

    async def main() -> None:
        c = await mod_dbd.open(s)
        assert c is not None and c.handle.init == ["SET a", "SET b"]
        c.close()
        g.get_pool().shutdown()
    run(main())
    g, s = group(nmin=0, queries={"q": "SELECT BAD"})

    async def bad() -> None:
        assert await mod_dbd.open(s) is None
        text = s.error_log.text()
        assert 'DBD: failed to prepare SQL statements: syntax error at or near "BAD"' in text
        assert "Failed to acquire DBD connection from pool!" in text
        assert all(h.closed for h in Fake.opened)
        g.get_pool().shutdown()
    run(bad())


def test_not_configured() -> None:
    s = FakeServer(DBDConfig())

    async def main() -> None:
        assert await mod_dbd.open(s) is None
    run(main())
    assert s.error_log.lines == [(3, "DBD: not configured")]


class FakeRequest:
    def __init__(self, server: FakeServer, main: Any = None, prev: Any = None) -> None:
        self.server = server
        self.tree = None
        self.main = main
        self.prev = prev
        self.ctx: dict[Any, Any] = {}


def test_request_lifetime_acquire_and_connection_block() -> None:
    g, s = group(nmin=0, nkeep=2, nmax=2)

    async def main() -> None:
        r = FakeRequest(s)
        sub = FakeRequest(s, main=r)
        redirected = FakeRequest(s, prev=sub)
        c1 = await mod_dbd.acquire(redirected)        # kept on the initial request
        assert c1 is not None and r.ctx[mod_dbd.dbd] is c1
        assert await mod_dbd.acquire(r) is c1
        async with mod_dbd.connection(sub) as c2:     # the request's own
            assert c2 is c1
        assert not c1.released
        other = FakeRequest(s)
        async with mod_dbd.connection(other) as c3:   # borrowed for the block only
            assert c3 is not None and c3 is not c1
        assert c3.released and mod_dbd.dbd not in other.ctx
        pool = g.get_pool()
        assert len(pool.idle) == 1
        mod_dbd.dbd_release(r)                        # log_transaction gives it back
        assert c1.released and len(pool.idle) == 2
        pool.shutdown()
    run(main())
