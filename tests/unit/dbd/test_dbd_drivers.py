"""mod_dbd's drivers: apr_dbd's %s format, apr_dbd_mysql's parameters, sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from featherd.modules.database.drivers import (
    DriverError,
    MissingDriver,
    SQLiteHandle,
    convert_sql,
    load_driver,
    mysql_connect_args,
    mysql_params,
)


@pytest.mark.parametrize("sql,ph,esc,out,n", [
    ("SELECT pw FROM t WHERE u = %s", "?", False, "SELECT pw FROM t WHERE u = ?", 1),
    ("SELECT pw FROM t WHERE u = %s AND r = %s", "$%d", False,
     "SELECT pw FROM t WHERE u = $1 AND r = $2", 2),
    ("SELECT * FROM t WHERE a = %d AND b = %hd AND c = %lld AND d = %lf", "?", False,
     "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?", 4),
    ("SELECT '100%%' FROM t WHERE u LIKE %s", "?", False,
     "SELECT '100%' FROM t WHERE u LIKE ?", 1),
    ("SELECT '5 %' , '100%%' FROM t WHERE u = %s", "%s", True,
     "SELECT '5 %%' , '100%%' FROM t WHERE u = %s", 1),
    ("SELECT 1 WHERE x = %{([a-z]+)}s", "?", False, "SELECT 1 WHERE x = ?", 1),
    ("SELECT 1", "?", False, "SELECT 1", 0),
    ("SELECT 1 % 2", "?", False, "SELECT 1 % 2", 0),
])
def test_convert_sql(sql: str, ph: str, esc: bool, out: str, n: int) -> None:
    assert convert_sql(sql, ph, esc) == (out, n)


def test_mysql_params_apache_syntax() -> None:
    p = mysql_params("host=db.example,user=shetland,pass=appaloosa,dbname=pony,port=3307,"
                     "sock=/run/mysqld.sock")
    assert p == {"host": "db.example", "user": "shetland", "pass": "appaloosa",
                 "dbname": "pony", "port": "3307", "sock": "/run/mysqld.sock"}
    # other delimiters, spaces around '='
    assert mysql_params("host = h;user=u|pass=p dbname=d") == {
        "host": "h", "user": "u", "pass": "p", "dbname": "d"}
    kw = mysql_connect_args("host=h,user=u,pass=p,dbname=d,port=3307,sock=/s,flags=2,"
                            "group=client,connecttimeout=3")
    assert kw == {"autocommit": True, "host": "h", "user": "u", "password": "p",
                  "database": "d", "unix_socket": "/s", "read_default_group": "client",
                  "port": 3307, "client_flag": 2, "connect_timeout": 3}


def test_load_driver() -> None:
    assert load_driver("sqlite3") is SQLiteHandle
    assert load_driver("pgsql").__name__ == "PgHandle"
    with pytest.raises(MissingDriver) as ei:
        load_driver("oracle")
    assert str(ei.value) == "DBD: Can't load driver file apr_dbd_oracle.so"
    try:
        import pymysql  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDriver) as ei:
            load_driver("mysql")
        assert "apr_dbd_mysql.so" in str(ei.value) and "PyMySQL" in str(ei.value)
    else:
        assert load_driver("mysql").__name__ == "MySQLHandle"


def test_sqlite_handle(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE users (name TEXT, pw TEXT, uid INTEGER, note BLOB, x REAL)")
    c.execute("INSERT INTO users VALUES ('alice', 'h1', 7, X'6869', 1.5)")
    c.execute("INSERT INTO users VALUES ('bob', NULL, 8, NULL, NULL)")
    c.commit()
    c.close()
    h = SQLiteHandle(str(db))
    h.prepare("pw", "SELECT pw, uid, note, x FROM users WHERE name = %s")
    res = h.pselect("pw", ("alice",))
    assert res.columns == ["pw", "uid", "note", "x"]
    assert res.rows == [("h1", "7", "hi", "1.5")]
    assert h.pselect("pw", ("bob",)).rows == [(None, "8", None, None)]
    assert h.pselect("pw", ("nobody",)).rows == []
    h.prepare("upd", "UPDATE users SET pw = %s WHERE uid > %d")
    assert h.pquery("upd", ("z", "0")) == 2
    assert h.select("SELECT count(*) FROM users WHERE pw = %s", ("z",)).rows == [("2",)]
    assert h.query("DELETE FROM users WHERE name = %s", ("bob",)) == 1
    with pytest.raises(DriverError) as ei:
        h.prepare("bad", "SELECT pw FROM nosuchtable WHERE name = %s")
    assert "no such table" in str(ei.value) and not ei.value.lost
    with pytest.raises(DriverError):
        h.select("SELEC oops", ())
    assert h.check() is None
    h.close()


def test_sqlite_open_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError) as ei:
        SQLiteHandle(str(tmp_path / "no" / "such" / "dir.db"))
    assert "unable to open database file" in str(ei.value)
