"""mod_dbd: SQL database connections for other modules (apr_dbd and its reslist).

Directives (server config, virtual host): DBDriver, DBDParams, DBDPersist,
DBDPrepareSQL, DBDMin, DBDKeep, DBDMax, DBDExptime, and 2.4's DBDInitSQL. Each server
(main or <VirtualHost>) may name its own database; servers whose settings are the same
share one pool, as Apache groups them.

The pool is per worker process (Apache: per child), with apr_reslist's rules: DBDMin
idle connections are kept open (made when the worker starts), at most DBDMax are open
at once (a caller waits for one to come back), and idle connections above DBDKeep are
closed once idle for DBDExptime seconds. With ``DBDPersist Off`` every caller gets a
new connection, closed when released. Every database call runs in the pool's threads:
a worker's event loop never waits on the database. A database that is down makes the
callers get None (with Apache's error-log lines) and the pool recovers when it is
back; a pooled connection that turns out to be dead is replaced and the statement run
again on the new one.

API for other modules (``from featherd.modules.database import mod_dbd``)::

    # at configuration time (ap_dbd_prepare): a statement with a label, for the
    # connections of a server; SQL in apr_dbd's format: %s marks a parameter
    mod_dbd.prepare(cmd.server, "SELECT name FROM users WHERE id = %s", "getname")

    # per request (ap_dbd_acquire): one connection for the whole request, released
    # when the request ends; None (already logged) when no connection could be had
    conn = await mod_dbd.acquire(r)

    # for a short while (preferred in an event loop): the request's connection when it
    # has one, else one from the pool given back at the end of the block
    async with mod_dbd.connection(r) as conn:
        if conn is not None:
            res = await conn.pselect("getname", "42")    # Result: .columns, .rows
            n = await conn.pquery("label", "a", "b")      # rows affected
            res = await conn.select("SELECT 1 WHERE %s = %s", "a", "a")   # unprepared

    # without a request (ap_dbd_open / ap_dbd_close)
    conn = await mod_dbd.open(server)
    ...
    mod_dbd.close(conn)

``pselect``/``pquery``/``select``/``query`` raise :class:`DBDError` (the driver's
message) when the statement fails; ``conn.prepared`` lists the labels.

The pool and the connection objects are in :mod:`.pool`, the drivers in :mod:`.drivers`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET, unset_field
from featherd.core.hooks import OK, REALLY_LAST
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.database.drivers import MissingDriver, Result, load_driver
from featherd.modules.database.pool import ERROR, DBDConnection, DBDError, Pool

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

__all__ = ["DBDConnection", "DBDError", "Result", "acquire", "close", "connection", "dbd",
           "open", "prepare"]

DEFAULT_NMIN, DEFAULT_NKEEP, DEFAULT_NMAX, DEFAULT_EXPTIME = 1, 2, 10, 300


@dataclass(slots=True)
class DBDConfig:
    driver: Any = UNSET
    params: Any = UNSET
    persist: Any = UNSET
    nmin: Any = UNSET
    nkeep: Any = UNSET
    nmax: Any = UNSET
    exptime: Any = UNSET
    queries: Any = unset_field("update")     # label -> SQL ("" removes an inherited one)
    init_sql: Any = unset_field("append")
    group: Any = None                        # the Group it uses (set in post_config)


dbd = Module("dbd_module", "mod_dbd.c", server_config=DBDConfig,
             description="Manages SQL database connections")


def _numeric(v: str) -> int:
    if not v.isdigit():
        raise DirectiveError("Argument must be numeric!")
    return int(v)


@dbd.directive("DBDriver", args=ArgSpec.TAKE1, context=Context.RSRC, syntax="DBDriver name",
               help="SQL Driver")
def dbd_driver(cmd: CmdParms, conf: DBDConfig, name: str) -> None:
    try:
        load_driver(name)
    except MissingDriver as e:
        raise DirectiveError(str(e)) from None
    conf.driver = name


@dbd.directive("DBDParams", args=ArgSpec.TAKE1, context=Context.RSRC,
               syntax="DBDParams param1=value1[,param2=value2]", help="SQL Driver Params")
def dbd_params(cmd: CmdParms, conf: DBDConfig, params: str) -> None:
    conf.params = params


@dbd.directive("DBDPersist", args=ArgSpec.FLAG, context=Context.RSRC,
               syntax="DBDPersist On|Off", help="Use persistent connection/pool")
def dbd_persist(cmd: CmdParms, conf: DBDConfig, on: bool) -> None:
    conf.persist = on


@dbd.directive("DBDPrepareSQL", args=ArgSpec.TAKE12, context=Context.RSRC,
               syntax='DBDPrepareSQL "SQL statement" label',
               help="SQL statement to prepare (or nothing, to override statement inherited "
                    "from main server) and label")
def dbd_prepare_sql(cmd: CmdParms, conf: DBDConfig, query: str, label: str | None) -> None:
    if label is None:
        label, query = query, ""
    prepare(cmd.server, query, label, cmd.tree)


@dbd.directive("DBDInitSQL", args=ArgSpec.TAKE1, context=Context.RSRC,
               syntax='DBDInitSQL "SQL statement"',
               help="SQL statement to be executed after connection is created")
def dbd_init_sql(cmd: CmdParms, conf: DBDConfig, query: str) -> None:
    conf.init_sql = [*(conf.init_sql or []), query]


def _limit(field: str, name: str, help: str, arg: str = "number") -> None:
    def fn(cmd: CmdParms, conf: DBDConfig, v: str) -> None:
        setattr(conf, field, _numeric(v))
    fn.__name__ = name.lower()
    dbd.directive(name, args=ArgSpec.TAKE1, context=Context.RSRC, syntax=f"{name} {arg}",
                  help=help)(fn)


_limit("nmin", "DBDMin", "Minimum number of connections")
_limit("nkeep", "DBDKeep", "Maximum number of sustained connections")
_limit("nmax", "DBDMax", "Maximum number of connections")
_limit("exptime", "DBDExptime", "Keepalive time for idle connections", "time-in-seconds")


def prepare(server: Any, query: str, label: str, tree: Any = None) -> None:
    """ap_dbd_prepare: give ``query`` the name ``label`` on the connections of
    ``server`` (and of the virtual hosts that inherit it); call it while the
    configuration is read. An empty query removes an inherited label."""
    conf: DBDConfig = server.module_config[dbd.index]
    queries = conf.queries if conf.queries is not UNSET else {}
    if label in queries and query and tree is not None:
        tree.warnings.append(f"conflicting SQL statements with label {label}")
    conf.queries = {**queries, label: query}


# --- groups (configuration); their pools (per worker process) are in pool.py ---------------
class Group:
    """Servers with the same database settings and compatible statements."""

    def __init__(self, conf: DBDConfig, server: Any, tree: Any) -> None:
        self.driver: str = conf.driver
        self.params: str = conf.params if conf.params is not UNSET else ""
        self.persist = conf.persist is not False
        nmax = DEFAULT_NMAX if conf.nmax is UNSET else conf.nmax
        nkeep = DEFAULT_NKEEP if conf.nkeep is UNSET else conf.nkeep
        nmin = DEFAULT_NMIN if conf.nmin is UNSET else conf.nmin
        # apr_reslist_create refuses min > keep > max (EINVAL); keep them in order
        if nmax < 1:
            tree.warnings.append("DBD: DBDMax 0 is not usable: using 1")
            nmax = 1
        if nkeep > nmax:
            if conf.nkeep is not UNSET:
                tree.warnings.append(f"DBD: DBDKeep {nkeep} is above DBDMax {nmax}: "
                                     f"using {nmax}")
            nkeep = nmax
        if nmin > nkeep:
            if conf.nmin is not UNSET:
                tree.warnings.append(f"DBD: DBDMin {nmin} is above DBDKeep {nkeep}: "
                                     f"using {nkeep}")
            nmin = nkeep
        self.nmin, self.nkeep, self.nmax = nmin, nkeep, nmax
        self.exptime: int = DEFAULT_EXPTIME if conf.exptime is UNSET else conf.exptime
        self.queries: dict[str, str] = dict(conf.queries or {})
        self.init_sql: list[str] = list(conf.init_sql or [])
        self.server = server
        self.tree = tree
        self.pool: Pool | None = None

    def key(self) -> tuple[Any, ...]:
        return (self.driver, self.params, self.persist, self.nmin, self.nkeep, self.nmax,
                self.exptime, tuple(self.init_sql))

    def absorb(self, other: Group) -> bool:
        """dbd_post_config: join ``other``'s statements when no label conflicts."""
        if other.key() != self.key():
            return False
        for label, q in other.queries.items():
            mine = self.queries.get(label)
            if mine is not None and mine != q:
                return False
        self.queries.update(other.queries)
        return True

    def get_pool(self) -> Pool:
        p = self.pool
        if p is None or p.pid != os.getpid():
            p = self.pool = Pool(self)
        return p

    def log(self, level: int, msg: str) -> None:
        el = self.server.error_log or self.tree.main.error_log
        if el is not None:
            el.log(level, msg)


@dbd.hook("post_config")
def dbd_post_config(tree: Any) -> int:
    groups: list[Group] = []
    for s in tree.all_servers():
        conf: DBDConfig = s.module_config[dbd.index]
        if conf is None or conf.driver is UNSET:
            continue
        g = Group(conf, s, tree)
        for other in groups:
            if other.persist and g.persist and other.absorb(g):
                g = other
                break
        else:
            groups.append(g)
        conf.group = g
    tree.extra["dbd_groups"] = groups
    return OK


@dbd.hook("child_init")
def dbd_child_init(tree: Any, loop: Any) -> None:
    """dbd_setup_init: open each pool's DBDMin connections (in the background)."""
    for g in tree.extra.get("dbd_groups", ()):
        if g.persist:
            pool = g.get_pool()
            t = loop.create_task(pool.setup(child_init=True))
            pool.tasks.add(t)
            t.add_done_callback(pool.tasks.discard)


@dbd.hook("child_exit")
def dbd_child_exit(tree: Any) -> None:
    for g in tree.extra.get("dbd_groups", ()):
        if g.pool is not None and g.pool.pid == os.getpid():
            g.pool.shutdown()


def _group(server: Any) -> Group | None:
    conf: DBDConfig | None = server.module_config[dbd.index]
    return None if conf is None else conf.group  # type: ignore[no-any-return]


def _log(server: Any, tree: Any, level: int, msg: str) -> None:
    el = server.error_log or (tree.main.error_log if tree is not None else None)
    if el is not None:
        el.log(level, msg)


async def open(server: Any, tree: Any = None) -> DBDConnection | None:
    """ap_dbd_open: a connection for ``server`` that must be given back with close()."""
    g = _group(server)
    if g is None:
        _log(server, tree, ERROR, "DBD: not configured")
        return None
    pool = g.get_pool()
    got = await pool.acquire()
    if got is None:
        return None
    h, reused = got
    if reused:
        err = await pool.run(h.check)
        if err is not None:
            g.log(ERROR, f"DBD [{g.driver}] Error: {err}")
            pool.release(h, invalid=True)
            return None
    return DBDConnection(pool, h, reused)


def close(conn: DBDConnection) -> None:
    """ap_dbd_close."""
    conn.close()


def _initial(r: Request) -> Request:
    while r.prev is not None or r.main is not None:
        r = r.prev if r.prev is not None else r.main  # type: ignore[assignment]
    return r


async def acquire(r: Request) -> DBDConnection | None:
    """ap_dbd_acquire: the request's connection (opened on first use, given back when
    the request has been logged); None when none could be had (logged)."""
    ir = _initial(r)
    conn = ir.ctx.get(dbd)
    if conn is not None and not conn.released:
        return conn  # type: ignore[no-any-return]
    conn = await open(ir.server, ir.tree)
    if conn is not None:
        ir.ctx[dbd] = conn
    return conn


@contextlib.asynccontextmanager
async def connection(r: Request) -> AsyncIterator[DBDConnection | None]:
    """The request's connection if it holds one, else one from the pool for the time
    of the block (None when none could be had: logged)."""
    held = _initial(r).ctx.get(dbd)
    if held is not None and not held.released:
        yield held
        return
    conn = await open(r.server, r.tree)
    try:
        yield conn
    finally:
        if conn is not None:
            conn.close()


@dbd.hook("log_transaction", order=REALLY_LAST)
def dbd_release(r: Request) -> int:
    conn = r.ctx.pop(dbd, None)
    if conn is not None:
        conn.close()
    return OK
