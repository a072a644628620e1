"""The apr_dbd drivers of mod_dbd, over Python's database libraries.

Each driver opens a blocking connection (a *handle*); mod_dbd only ever calls a handle
from its thread pool, one thread at a time. Values come back as text, as
``apr_dbd_get_entry`` returns them (``None`` for SQL NULL).

- ``sqlite3``: Python's sqlite3; DBDParams is the database file, passed to sqlite3_open.
- ``pgsql``: psycopg 3's libpq binding (``psycopg.pq``); DBDParams is a libpq conninfo
  ("host=... port=... dbname=... user=... password=...") passed to PQconnectdb.
  Statements are prepared on the server (PQprepare), as apr_dbd_pgsql does.
- ``mysql``: PyMySQL when installed; DBDParams is apr_dbd_mysql's
  "host=,port=,user=,pass=,dbname=,sock=,flags=,group=,..." list.

SQL uses apr_dbd's format: ``%s`` (and ``%d``, ``%u``, ``%f``, ``%hd``, ``%lld``...) mark
parameters, ``%%`` is a literal percent sign.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["DRIVERS", "DriverError", "Result", "convert_sql", "load_driver",
           "mysql_params", "MissingDriver"]


class DriverError(Exception):
    """A database error; ``lost`` when the connection itself is gone."""

    def __init__(self, msg: str, lost: bool = False) -> None:
        super().__init__(msg)
        self.lost = lost


class MissingDriver(Exception):
    """DBDriver names a driver that cannot be loaded (its Python package is missing)."""


class Result:
    """The rows of a select: ``columns`` (names) and ``rows`` (tuples of str or None)."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: list[str], rows: list[tuple[str | None, ...]]) -> None:
        self.columns = columns
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"<Result {self.columns} {len(self.rows)} rows>"


# --- apr_dbd_prepare's format ------------------------------------------------------------
_SPEC = re.compile(r"%(?:%|(\{[^}]*\})?(hh[du]|h[du]|ll[du]|l[duf]|p[A-Za-z][a-z]|"
                   r"[A-Za-z]))")


def convert_sql(sql: str, placeholder: str, escape_percent: bool = False) -> tuple[str, int]:
    """apr_dbd's ``%s``-style query in a driver's syntax: (query, number of parameters).
    ``placeholder`` is "?" or "$%d" or "%s"; with ``escape_percent`` a literal % is
    doubled (for drivers whose own syntax uses %)."""
    out: list[str] = []
    n = 0
    pos = 0
    for m in _SPEC.finditer(sql):
        lit = sql[pos:m.start()]
        out.append(lit.replace("%", "%%") if escape_percent else lit)
        if m.group(0) == "%%":
            out.append("%%" if escape_percent else "%")
        else:
            n += 1
            out.append(placeholder % n if "%d" in placeholder else placeholder)
        pos = m.end()
    lit = sql[pos:]
    out.append(lit.replace("%", "%%") if escape_percent else lit)
    return "".join(out), n


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _args(args: tuple[Any, ...]) -> list[Any]:
    return [None if a is None else a if isinstance(a, bytes) else str(a) for a in args]


# --- sqlite3 ---------------------------------------------------------------------------------
class SQLiteHandle:
    driver = "sqlite3"

    def __init__(self, params: str) -> None:
        import sqlite3

        self.sqlite3 = sqlite3
        try:
            self.conn = sqlite3.connect(params, check_same_thread=False, isolation_level=None,
                                        timeout=5.0)
        except sqlite3.Error as e:
            raise DriverError(str(e)) from None
        self.stmts: dict[str, tuple[str, int]] = {}

    def prepare(self, label: str, sql: str) -> None:
        q, n = convert_sql(sql, "?")
        try:
            # compiles the statement (unknown tables and columns fail) without running it
            self.conn.execute("EXPLAIN " + q, (None,) * n).fetchall()
        except self.sqlite3.Error as e:
            raise DriverError(str(e)) from None
        self.stmts[label] = (q, n)

    def _run(self, q: str, args: tuple[Any, ...], want_rows: bool) -> Any:
        try:
            cur = self.conn.execute(q, [a.decode("utf-8", "replace") if isinstance(a, bytes)
                                        else a for a in _args(args)])
            if not want_rows:
                return max(cur.rowcount, 0)
            cols = [d[0] for d in cur.description or ()]
            rows = [tuple(_text(v) for v in row) for row in cur.fetchall()]
            return Result(cols, rows)
        except self.sqlite3.Error as e:
            raise DriverError(str(e)) from None

    def pselect(self, label: str, args: tuple[Any, ...]) -> Result:
        return self._run(self.stmts[label][0], args, True)  # type: ignore[no-any-return]

    def pquery(self, label: str, args: tuple[Any, ...]) -> int:
        return self._run(self.stmts[label][0], args, False)  # type: ignore[no-any-return]

    def select(self, sql: str, args: tuple[Any, ...]) -> Result:
        return self._run(convert_sql(sql, "?")[0], args, True)  # type: ignore[no-any-return]

    def query(self, sql: str, args: tuple[Any, ...]) -> int:
        return self._run(convert_sql(sql, "?")[0], args, False)  # type: ignore[no-any-return]

    def check(self) -> str | None:
        return None

    def close(self) -> None:
        try:
            self.conn.close()
        except self.sqlite3.Error:
            pass


# --- pgsql (libpq through psycopg.pq) ----------------------------------------------------------
_PG_ENCODINGS = {"UTF8": "utf-8", "SQL_ASCII": "latin-1", "LATIN1": "latin-1",
                 "LATIN9": "iso8859-15", "WIN1252": "cp1252", "EUC_JP": "euc_jp",
                 "SJIS": "shift_jis", "KOI8R": "koi8_r"}


class PgHandle:
    driver = "pgsql"

    def __init__(self, params: str) -> None:
        from psycopg import pq

        self.pq = pq
        conninfo = params
        try:
            from psycopg.conninfo import conninfo_to_dict

            if "connect_timeout" not in conninfo_to_dict(params):
                if not params.startswith(("postgres://", "postgresql://")):
                    conninfo = f"{params} connect_timeout=10"
        except Exception:
            pass
        conn = pq.PGconn.connect(conninfo.encode())
        if conn.status != pq.ConnStatus.OK:
            msg = self._msg(conn.error_message)
            conn.finish()
            raise DriverError(msg, lost=True)
        self.conn = conn
        enc = (conn.parameter_status(b"client_encoding") or b"UTF8").decode("ascii")
        self.enc = _PG_ENCODINGS.get(enc.upper(), "utf-8")
        self.stmts: dict[str, tuple[bytes, str]] = {}
        self.seq = 0

    @staticmethod
    def _msg(b: bytes | None) -> str:
        return " ".join((b or b"").decode("utf-8", "replace").split())

    def _error(self, res: Any) -> DriverError:
        msg = self._msg(res.error_message if res is not None else self.conn.error_message)
        lost = self.conn.status != self.pq.ConnStatus.OK
        return DriverError(msg or "unknown error", lost=lost)

    def _enc(self, args: tuple[Any, ...]) -> list[bytes | None]:
        return [None if a is None else a if isinstance(a, bytes)
                else a.encode(self.enc, "replace") for a in _args(args)]

    def prepare(self, label: str, sql: str) -> None:
        q, _ = convert_sql(sql, "$%d")
        self.seq += 1
        name = f"featherd_dbd_{self.seq}".encode()
        res = self.conn.prepare(name, q.encode(self.enc, "replace"))
        if res.status != self.pq.ExecStatus.COMMAND_OK:
            raise self._error(res)
        self.stmts[label] = (name, sql)

    def _result(self, res: Any, want_rows: bool) -> Any:
        st = res.status
        es = self.pq.ExecStatus
        if st not in (es.TUPLES_OK, es.COMMAND_OK):
            raise self._error(res)
        if not want_rows:
            ct = res.command_tuples
            return int(ct) if ct is not None else 0
        enc = self.enc
        cols = [(res.fname(i) or b"").decode(enc, "replace") for i in range(res.nfields)]
        rows = []
        for r in range(res.ntuples):
            row = []
            for c in range(res.nfields):
                v = res.get_value(r, c)
                row.append(None if v is None else bytes(v).decode(enc, "replace"))
            rows.append(tuple(row))
        return Result(cols, rows)

    def _exec_prepared(self, label: str, args: tuple[Any, ...], want_rows: bool) -> Any:
        name = self.stmts[label][0]
        try:
            res = self.conn.exec_prepared(name, self._enc(args))
        except Exception:
            raise self._error(None) from None
        return self._result(res, want_rows)

    def _exec(self, sql: str, args: tuple[Any, ...], want_rows: bool) -> Any:
        q, _ = convert_sql(sql, "$%d")
        try:
            res = self.conn.exec_params(q.encode(self.enc, "replace"), self._enc(args))
        except Exception:
            raise self._error(None) from None
        return self._result(res, want_rows)

    def pselect(self, label: str, args: tuple[Any, ...]) -> Result:
        return self._exec_prepared(label, args, True)  # type: ignore[no-any-return]

    def pquery(self, label: str, args: tuple[Any, ...]) -> int:
        return self._exec_prepared(label, args, False)  # type: ignore[no-any-return]

    def select(self, sql: str, args: tuple[Any, ...]) -> Result:
        return self._exec(sql, args, True)  # type: ignore[no-any-return]

    def query(self, sql: str, args: tuple[Any, ...]) -> int:
        return self._exec(sql, args, False)  # type: ignore[no-any-return]

    def check(self) -> str | None:
        """apr_dbd_check_conn: a broken connection is reset (PQreset); the error text
        when that failed too. The statements are prepared again after a reset."""
        if self.conn.status == self.pq.ConnStatus.OK:
            return None
        self.conn.reset()
        if self.conn.status != self.pq.ConnStatus.OK:
            return self._msg(self.conn.error_message) or "connection lost"
        old = dict(self.stmts)
        self.stmts = {}
        try:
            for label, (_, sql) in old.items():
                self.prepare(label, sql)
        except DriverError as e:
            return str(e)
        return None

    def close(self) -> None:
        try:
            self.conn.finish()
        except Exception:
            pass


# --- mysql (PyMySQL) ---------------------------------------------------------------------------
_MYSQL_DELIMS = " \r\n\t;|,"


def mysql_params(params: str) -> dict[str, str]:
    """apr_dbd_mysql's parsing of DBDParams: every ``key=value``, the key being the
    letters just before '=' and the value running to the next delimiter
    (space, tab, newline, ';', '|' or ',')."""
    out: dict[str, str] = {}
    pos = params.find("=")
    while pos != -1:
        if pos == 0:
            pos = params.find("=", pos + 1)
            continue
        k = pos - 1
        while k >= 0 and params[k].isspace():
            k -= 1
        end = k + 1
        while k >= 0 and params[k].isalpha():
            k -= 1
        key = params[k + 1:end]
        v = pos + 1
        while v < len(params) and params[v].isspace():
            v += 1
        e = v
        while e < len(params) and params[e] not in _MYSQL_DELIMS:
            e += 1
        if key:
            out[key] = params[v:e]
        pos = params.find("=", e if e > pos else pos + 1)
    return out


def mysql_connect_args(params: str) -> dict[str, Any]:
    """PyMySQL connect() arguments for an apr_dbd_mysql DBDParams string."""
    p = mysql_params(params)
    kw: dict[str, Any] = {"autocommit": True}
    names = {"host": "host", "user": "user", "pass": "password", "dbname": "database",
             "sock": "unix_socket", "group": "read_default_group"}
    for k, arg in names.items():
        if k in p:
            kw[arg] = p[k]
    for k, arg in (("port", "port"), ("flags", "client_flag"), ("connecttimeout",
                   "connect_timeout"), ("readtimeout", "read_timeout"),
                   ("writetimeout", "write_timeout")):
        if k in p:
            try:
                kw[arg] = int(p[k])
            except ValueError:
                pass
    kw.setdefault("connect_timeout", 10)
    return kw


class MySQLHandle:
    driver = "mysql"

    def __init__(self, params: str) -> None:
        import pymysql

        self.pymysql = pymysql
        try:
            self.conn = pymysql.connect(**mysql_connect_args(params))
        except pymysql.Error as e:
            raise DriverError(self._msg(e), lost=True) from None
        self.stmts: dict[str, str] = {}

    @staticmethod
    def _msg(e: BaseException) -> str:
        a = getattr(e, "args", ())
        return str(a[1]) if len(a) > 1 else str(e)

    def _lost(self, e: BaseException) -> bool:
        code = e.args[0] if getattr(e, "args", None) else 0
        return isinstance(e, self.pymysql.err.InterfaceError) or code in (2006, 2013, 2055)

    def prepare(self, label: str, sql: str) -> None:
        self.stmts[label] = convert_sql(sql, "%s", escape_percent=True)[0]

    def _run(self, q: str, args: tuple[Any, ...], want_rows: bool) -> Any:
        try:
            with self.conn.cursor() as cur:
                n = cur.execute(q, _args(args))
                if not want_rows:
                    return int(n or 0)
                cols = [d[0] for d in cur.description or ()]
                rows = [tuple(_text(v) for v in row) for row in cur.fetchall()]
                return Result(cols, rows)
        except self.pymysql.Error as e:
            raise DriverError(self._msg(e), lost=self._lost(e)) from None

    def pselect(self, label: str, args: tuple[Any, ...]) -> Result:
        return self._run(self.stmts[label], args, True)  # type: ignore[no-any-return]

    def pquery(self, label: str, args: tuple[Any, ...]) -> int:
        return self._run(self.stmts[label], args, False)  # type: ignore[no-any-return]

    def select(self, sql: str, args: tuple[Any, ...]) -> Result:
        q = convert_sql(sql, "%s", escape_percent=True)[0]
        return self._run(q, args, True)  # type: ignore[no-any-return]

    def query(self, sql: str, args: tuple[Any, ...]) -> int:
        q = convert_sql(sql, "%s", escape_percent=True)[0]
        return self._run(q, args, False)  # type: ignore[no-any-return]

    def check(self) -> str | None:
        """apr_dbd_mysql's check_conn is mysql_ping."""
        try:
            self.conn.ping(reconnect=False)
        except self.pymysql.Error as e:
            return self._msg(e)
        return None

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


#: driver name -> (handle class, Python module it needs, how to install it)
DRIVERS: dict[str, tuple[type, str, str]] = {
    "sqlite3": (SQLiteHandle, "sqlite3", "a Python built with sqlite3"),
    "pgsql": (PgHandle, "psycopg", "pip install 'psycopg[binary]'"),
    "mysql": (MySQLHandle, "pymysql", "pip install PyMySQL"),
}


def load_driver(name: str) -> type:
    """apr_dbd_get_driver: the handle class of a driver, or MissingDriver with
    Apache's text (and what to install)."""
    spec = DRIVERS.get(name)
    if spec is None:
        raise MissingDriver(f"DBD: Can't load driver file apr_dbd_{name}.so")
    cls, pkg, how = spec
    try:
        importlib.import_module(pkg)
    except ImportError:
        raise MissingDriver(f"DBD: Can't load driver file apr_dbd_{name}.so (the {name} "
                            f"driver needs the Python package {pkg}: {how})") from None
    return cls
