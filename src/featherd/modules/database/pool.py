"""mod_dbd's per-process pool (apr_reslist) and the connections it lends
(ap_dbd_t): :class:`Pool` keeps DBDMin idle connections, at most DBDMax open ones and
expires idle ones above DBDKeep after DBDExptime; :class:`DBDConnection` runs statements
in the pool's threads and replaces a pooled connection the database dropped. The
configuration, the groups of servers and the API other modules call are in
:mod:`.mod_dbd`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from featherd.modules.database.drivers import DriverError, Result, load_driver

if TYPE_CHECKING:
    from featherd.modules.database.mod_dbd import Group

CRIT, ERROR, WARN, DEBUG = 2, 3, 4, 7
APR_EGENERAL = "(20014)Internal error: "


class DBDError(Exception):
    """A statement failed; the text is the database's message."""


# --- the pool -------------------------------------------------------------------------------
class Pool:
    """apr_reslist for one group in this process: idle connections (most recently
    released first), a count of all open ones, and the callers waiting for one."""

    def __init__(self, group: Group) -> None:
        self.g = group
        self.pid = os.getpid()
        self.idle: list[tuple[Any, float]] = []       # (handle, released at); newest last
        self.ntotal = 0
        self.building = 0                              # min-fill connections being made
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.ready = not group.persist
        self.setup_lock: asyncio.Lock | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.executor = ThreadPoolExecutor(max_workers=group.nmax + 2,
                                           thread_name_prefix="dbd")

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- making and closing connections ---------------------------------------------
    def _construct(self) -> Any:
        """dbd_construct, in a pool thread: open, run DBDInitSQL, prepare statements.
        Raises _Failed with the lines to log."""
        g = self.g
        cls = load_driver(g.driver)
        try:
            h = cls(g.params)
        except DriverError as e:
            raise _Failed(f"{APR_EGENERAL}DBD: Can't connect to {g.driver}: {e}") from None
        except Exception as e:   # a driver refusing its parameters
            raise _Failed(f"{APR_EGENERAL}DBD: Can't connect to {g.driver}: {e}") from None
        try:
            for q in g.init_sql:
                try:
                    h.query(q, ())
                except DriverError as e:
                    raise _Failed(f"{APR_EGENERAL}DBD: failed to run init SQL statements: "
                                  f"{e}") from None
            for label, q in g.queries.items():
                if not q:
                    continue
                try:
                    h.prepare(label, q)
                except DriverError as e:
                    raise _Failed(f"{APR_EGENERAL}DBD: failed to prepare SQL statements: "
                                  f"{e}") from None
        except BaseException:
            h.close()
            raise
        return h

    async def make(self) -> Any:
        try:
            return await self.run(self._construct)
        except _Failed as e:
            self.g.log(ERROR, str(e))
            raise

    def destroy(self, h: Any) -> None:
        self.ntotal -= 1
        if self.closed:
            h.close()
        else:
            with contextlib.suppress(RuntimeError):
                self.executor.submit(h.close)
        self._wake(None)

    # -- apr_reslist ------------------------------------------------------------------
    async def setup(self, child_init: bool = False) -> bool:
        """dbd_setup: create the reslist with its DBDMin connections."""
        if self.ready:
            return True
        if self.setup_lock is None:
            self.setup_lock = asyncio.Lock()
        async with self.setup_lock:
            if self.ready:
                return True
            made: list[Any] = []
            try:
                for _ in range(self.g.nmin):
                    made.append(await self.make())
            except _Failed:
                for h in made:
                    h.close()
                self.g.log(ERROR, f"{APR_EGENERAL}DBD: failed to initialise")
                if child_init:
                    self.g.log(CRIT, f"{APR_EGENERAL}DBD: child init failed!")
                return False
            now = time.monotonic()
            self.ntotal += len(made)
            self.idle.extend((h, now) for h in made)
            self.ready = True
            return True

    async def acquire(self) -> tuple[Any, bool] | None:
        """(handle, reused) or None (logged)."""
        if self.closed:
            return None
        if not self.g.persist:
            try:
                return await self.make(), False
            except _Failed:
                return None
        if not self.ready and not await self.setup():
            return None
        while True:
            now = time.monotonic()
            while self.idle:
                h, freed = self.idle.pop()
                if self.g.exptime and now - freed >= self.g.exptime:
                    self.destroy(h)
                    continue
                return h, True
            if self.ntotal < self.g.nmax:
                self.ntotal += 1
                try:
                    return await self.make(), False
                except _Failed:
                    self.ntotal -= 1
                    self._wake(None)
                    self.g.log(ERROR, f"{APR_EGENERAL}Failed to acquire DBD connection "
                                      "from pool!")
                    return None
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            try:
                h = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and fut.result() is not None:
                    self.release(fut.result())
                else:
                    with contextlib.suppress(ValueError):
                        self.waiters.remove(fut)
                raise
            if h is not None:
                return h, True

    def _wake(self, h: Any) -> bool:
        """Hand ``h`` (or a free slot, None) to the first caller still waiting."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(h)
                return True
        return False

    def release(self, h: Any, invalid: bool = False) -> None:
        if not self.g.persist:
            if self.closed:
                h.close()
            else:
                self.executor.submit(h.close)
            return
        if invalid or self.closed:
            self.destroy(h)
            self._maint()
            return
        if self._wake(h):
            return
        self.idle.append((h, time.monotonic()))
        self._maint()

    def _maint(self) -> None:
        """reslist_maint: back up to DBDMin idle, expire idle ones above DBDKeep."""
        if self.closed or not self.ready:
            return
        g = self.g
        while len(self.idle) + self.building < g.nmin and self.ntotal < g.nmax:
            self.ntotal += 1
            self.building += 1
            t = asyncio.get_running_loop().create_task(self._fill())
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)
        now = time.monotonic()
        while len(self.idle) > g.nkeep:
            h, freed = self.idle[0]
            if now - freed < g.exptime:
                break
            del self.idle[0]
            self.destroy(h)
        if len(self.idle) > g.nkeep and self.timer is None:
            delay = max(0.05, g.exptime - (now - self.idle[0][1]))
            self.timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self._maint()

    async def _fill(self) -> None:
        try:
            h = await self.make()
        except _Failed:
            self.ntotal -= 1
            self._wake(None)
            return
        finally:
            self.building -= 1
        if self.closed:
            self.destroy(h)
        elif not self._wake(h):
            self.idle.append((h, time.monotonic()))

    def shutdown(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        for t in list(self.tasks):
            t.cancel()
        idle, self.idle = self.idle, []
        for h, _ in idle:
            self.ntotal -= 1
            h.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


class _Failed(Exception):
    pass


# --- connections handed to modules ---------------------------------------------------------
class DBDConnection:
    """ap_dbd_t: a connection lent by the pool. Statements run in the pool's threads."""

    __slots__ = ("pool", "handle", "reused", "invalid", "released")

    def __init__(self, pool: Pool, handle: Any, reused: bool) -> None:
        self.pool = pool
        self.handle = handle
        self.reused = reused
        self.invalid = False
        self.released = False

    @property
    def driver(self) -> str:
        return self.pool.g.driver

    @property
    def prepared(self) -> list[str]:
        return [k for k, v in self.pool.g.queries.items() if v]

    async def _call(self, method: str, what: str, args: tuple[Any, ...]) -> Any:
        if self.released:
            raise DBDError("connection already released")
        for attempt in (0, 1):
            h = self.handle
            try:
                return await self.pool.run(getattr(h, method), what, args)
            except DriverError as e:
                if not e.lost:
                    raise DBDError(str(e)) from None
                if attempt or not self.reused:
                    self.invalid = True
                    raise DBDError(str(e)) from None
                # a pooled connection the server dropped (it restarted): a new one,
                # and the statement again
                self.pool.g.log(DEBUG, f"DBD [{self.driver}] Error: {e}: reconnecting")
                try:
                    new = await self.pool.make()
                except _Failed:
                    self.invalid = True
                    raise DBDError(str(e)) from None
                with contextlib.suppress(RuntimeError):
                    self.pool.executor.submit(h.close)
                self.handle = new
                self.reused = False
        raise AssertionError("unreachable")

    async def pselect(self, label: str, *args: Any) -> Result:
        """apr_dbd_pvselect: the rows of the statement prepared as ``label``."""
        self._known(label)
        return await self._call("pselect", label, args)  # type: ignore[no-any-return]

    async def pquery(self, label: str, *args: Any) -> int:
        """apr_dbd_pvquery: run the statement prepared as ``label``; rows affected."""
        self._known(label)
        return await self._call("pquery", label, args)  # type: ignore[no-any-return]

    async def select(self, sql: str, *args: Any) -> Result:
        """A statement that was not prepared (apr_dbd's %s format)."""
        return await self._call("select", sql, args)  # type: ignore[no-any-return]

    async def query(self, sql: str, *args: Any) -> int:
        return await self._call("query", sql, args)  # type: ignore[no-any-return]

    def _known(self, label: str) -> None:
        if label not in self.prepared:
            raise DBDError(f"no prepared statement with the label '{label}'")

    def close(self) -> None:
        """ap_dbd_close: back to the pool (or closed, with DBDPersist Off)."""
        if not self.released:
            self.released = True
            self.pool.release(self.handle, self.invalid)
