"""mod_dbd and mod_authn_dbd directives: syntax, errors, per-server configuration and
groups, DBDPrepareSQL labels used through the API (over sqlite3)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from featherd.core.config import ServerConfigTree, load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.aaa.mod_authn_dbd import authn_dbd, db_text, env_name
from featherd.modules.database import mod_dbd


def tree_of(tmp_path: Path, text: str) -> ServerConfigTree:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n" + text)


def sconf(s: Any) -> mod_dbd.DBDConfig:
    return s.module_config[mod_dbd.dbd.index]  # type: ignore[no-any-return]


def make_db(path: Path, rows: list[tuple[str, str]]) -> str:
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE users (name TEXT, pw TEXT)")
    c.executemany("INSERT INTO users VALUES (?, ?)", rows)
    c.commit()
    c.close()
    return str(path)


@pytest.mark.parametrize("text,message", [
    ("DBDMin x\n", "Argument must be numeric!"),
    ("DBDMax -1\n", "Argument must be numeric!"),
    ("DBDKeep 2.5\n", "Argument must be numeric!"),
    ("DBDExptime soon\n", "Argument must be numeric!"),
    ("DBDriver oracle\n", "DBD: Can't load driver file apr_dbd_oracle.so"),
    ("DBDPersist maybe\n", "DBDPersist must be On or Off"),
    ("DBDPrepareSQL\n", "DBDPrepareSQL takes 1-2 arguments, SQL statement to "
                        "prepare (or nothing, to override statement inherited from main "
                        "server) and label"),
    ("<Directory />\nDBDriver sqlite3\n</Directory>\n",
     "DBDriver not allowed here"),
])
def test_directive_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, text)
    assert message in ei.value.message


def test_mysql_without_pymysql_is_a_clear_startup_error(tmp_path: Path) -> None:
    try:
        import pymysql  # noqa: F401
        pytest.skip("PyMySQL is installed")
    except ImportError:
        pass
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "DBDriver mysql\nDBDParams host=localhost,user=u,pass=p\n")
    assert "Can't load driver file apr_dbd_mysql.so" in ei.value.message
    assert "PyMySQL" in ei.value.message


def test_authn_queries_only_in_directory_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, 'AuthDBDUserPWQuery "SELECT pw FROM users WHERE name = %s"\n')
    assert "AuthDBDUserPWQuery not allowed here" in ei.value.message or \
        "not allowed" in ei.value.message
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".htaccess").write_text("AuthDBDUserPWQuery x\n")
    t = tree_of(tmp_path, f'<Location /a>\nAuthDBDUserPWQuery "SELECT 1 %s"\n</Location>\n'
                          f'<Directory {tmp_path}>\nAuthDBDUserRealmQuery "SELECT 2 %s %s"\n'
                          "</Directory>\n")
    q = sconf(t.main).queries
    assert q == {"authn_dbd_1": "SELECT 1 %s", "authn_dbd_2": "SELECT 2 %s %s"}
    confs = [sec.confs[authn_dbd.index] for sec in (*t.main.sec_url, *t.main.sec_dir)
             if sec.confs and sec.confs[authn_dbd.index] is not None]
    assert {(c.user, c.realm) for c in confs} >= {("authn_dbd_1", mod_dbd.UNSET)}


def test_defaults_merge_and_groups(tmp_path: Path) -> None:
    t = tree_of(tmp_path, """\
        DBDriver sqlite3
        DBDParams /tmp/main.db
        DBDPrepareSQL "SELECT 1" one
        DBDPrepareSQL "SELECT 2" two
        DBDMin 0
        DBDKeep 3
        DBDMax 5
        DBDExptime 60
        DBDPersist On
        DBDInitSQL "PRAGMA foreign_keys = ON"
        <VirtualHost *:80>
        ServerName same.test
        </VirtualHost>
        <VirtualHost *:80>
        ServerName more.test
        DBDPrepareSQL "SELECT 3" three
        </VirtualHost>
        <VirtualHost *:80>
        ServerName hide.test
        DBDPrepareSQL two
        </VirtualHost>
        <VirtualHost *:80>
        ServerName other.test
        DBDParams /tmp/other.db
        DBDMax 2
        DBDPersist Off
        </VirtualHost>
        <VirtualHost *:80>
        ServerName conflict.test
        DBDPrepareSQL "SELECT 99" one
        </VirtualHost>
        """)
    main, same, more, hide, other, conflict = t.all_servers()
    g = sconf(main).group
    assert (g.driver, g.params, g.nmin, g.nkeep, g.nmax, g.exptime, g.persist) == \
        ("sqlite3", "/tmp/main.db", 0, 3, 5, 60, True)
    assert g.init_sql == ["PRAGMA foreign_keys = ON"]
    # a vhost with nothing of its own shares the main server's pool; one that adds a
    # statement too (the group gets it)
    assert sconf(same).group is g and sconf(more).group is g
    assert g.queries == {"one": "SELECT 1", "two": "SELECT 2", "three": "SELECT 3"}
    # "DBDPrepareSQL two" with no statement hides the inherited one: its own pool
    assert sconf(hide).queries == {"one": "SELECT 1", "two": ""}
    assert sconf(hide).group is not g
    assert sconf(other).group is not g
    og = sconf(other).group
    assert (og.params, og.nmax, og.persist) == ("/tmp/other.db", 2, False)
    # the same label with another statement: a pool of its own
    assert sconf(conflict).group is not g
    assert sconf(conflict).group.queries["one"] == "SELECT 99"
    assert "conflicting SQL statements with label one" not in t.warnings
    t2 = tree_of(tmp_path, 'DBDPrepareSQL "SELECT 1" a\nDBDPrepareSQL "SELECT 2" a\n')
    assert "conflicting SQL statements with label a" in t2.warnings


def test_prepared_labels_through_the_api_per_vhost(tmp_path: Path) -> None:
    """Other modules run DBDPrepareSQL's statements by label; each vhost its own db."""
    a = make_db(tmp_path / "a.db", [("alice", "from-a")])
    b = make_db(tmp_path / "b.db", [("alice", "from-b")])
    t = tree_of(tmp_path, f"""\
        DBDriver sqlite3
        DBDParams {a}
        DBDPrepareSQL "SELECT pw FROM users WHERE name = %s" getpw
        DBDPrepareSQL "INSERT INTO users VALUES (%s, %s)" add
        <VirtualHost *:80>
        ServerName b.test
        DBDParams {b}
        </VirtualHost>
        """)
    main, vb = t.all_servers()

    async def main_() -> None:
        ca = await mod_dbd.open(main, t)
        cb = await mod_dbd.open(vb, t)
        assert ca is not None and cb is not None
        assert sorted(ca.prepared) == ["add", "getpw"]
        assert (await ca.pselect("getpw", "alice")).rows == [("from-a",)]
        assert (await cb.pselect("getpw", "alice")).rows == [("from-b",)]
        assert await cb.pquery("add", "bob", "x") == 1
        assert (await cb.select("SELECT count(*) FROM users")).rows == [("2",)]
        assert (await ca.select("SELECT count(*) FROM users")).rows == [("1",)]
        with pytest.raises(mod_dbd.DBDError):
            await ca.pselect("nope", "x")
        mod_dbd.close(ca)
        mod_dbd.close(cb)
        for g in t.extra["dbd_groups"]:
            if g.pool is not None:
                g.pool.shutdown()
    asyncio.run(main_())


def test_authn_helpers() -> None:
    assert env_name("full name") == "AUTHENTICATE_FULL_NAME"
    assert env_name("Tel-No") == "AUTHENTICATE_TEL_NO"
    assert db_text("jos\u00c3\u00a9") == "jos\u00e9"            # UTF-8 bytes from the client
    assert db_text("jos\u00e9") == "jos\u00e9"                  # latin-1 bytes stay
