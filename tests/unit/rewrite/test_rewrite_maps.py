"""RewriteMap types (manual: RewriteMap, "Using RewriteMap") and the URL helpers shared
with mod_alias (ap_escape_uri, ap_unescape_url, ap_pregsub, alias_matches)."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError, DirectiveError
from featherd.modules import builtin_modules
from featherd.modules.mappers.mod_alias import alias_matches
from featherd.modules.mappers.rewrite.explain import explain
from featherd.modules.mappers.rewrite.maps import (
    MAPFUNCS,
    DbmMap,
    IntMap,
    PrgMap,
    TxtMap,
    parse_map,
    parse_txt_map,
    register_mapfunc,
)
from featherd.modules.mappers.rewrite.util import (
    escape_backref,
    escape_uri,
    is_url,
    pregsub,
    unescape_url,
)
from featherd.support.sdbm import SDBM


def _rel(root: Path):  # type: ignore[no-untyped-def]
    return lambda p: p if p.startswith("/") else str(root / p)


def test_txt_parsing_rules() -> None:
    data = "# comment\n key ignored\nk1 v1\nk1 second\nk2\nk2 v2 extra words\n\tk3 v3\n" \
           "k4\xa0x y\n"
    m = parse_txt_map(data)
    assert m["k1"] == "v1"              # the first line with the key wins
    assert m["k2"] == "v2"              # a line without a value is skipped
    assert "key" not in m and "k3" not in m
    assert m["k4\xa0x"] == "y"          # only C blanks separate words


def test_parse_map_types(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("a b\n")
    with SDBM(str(tmp_path / "d"), "c") as db:
        db["a"] = "b"
    rel = _rel(tmp_path)
    assert isinstance(parse_map("m", "txt:m.txt", rel), TxtMap)
    assert parse_map("m", "rnd:m.txt", rel).kind == "rnd"
    assert isinstance(parse_map("m", "m.txt", rel), TxtMap)     # no type: txt
    assert isinstance(parse_map("m", "dbm:d", rel), DbmMap)
    assert parse_map("m", "dbm=sdbm:d", rel).dbmtype == "sdbm"  # type: ignore[attr-defined]
    assert isinstance(parse_map("m", "int:toupper", rel), IntMap)
    prog = tmp_path / "p.sh"
    prog.write_text("#!/bin/sh\ncat\n")
    m = parse_map("m", f"prg:{prog} -x 'a b'", rel)
    assert isinstance(m, PrgMap) and m.argv == [str(prog), "-x", "a b"]


@pytest.mark.parametrize("spec,msg", [
    ("txt:missing.txt", "RewriteMap: file for map m not found:"),
    ("dbm:missing", "RewriteMap: file for map m not found:"),
    ("dbm=nosuch:x", "RewriteMap: dbm type nosuch is invalid"),
    ("dbmx", "RewriteMap: bad map:dbmx"),
    ("int:nosuch", "RewriteMap: internal map not found:nosuch"),
    ("dbd:SELECT 1", "RewriteMap types dbd and fastdbd require mod_dbd!"),
    ("prg:/no/such/program", "RewriteMap: file for map m not found:/no/such/program"),
])
def test_parse_map_errors(tmp_path: Path, spec: str, msg: str) -> None:
    with pytest.raises(DirectiveError, match=msg.replace("(", r"\(").replace("?", r"\?")):
        parse_map("m", spec, _rel(tmp_path))


def test_gdbm_when_available(tmp_path: Path) -> None:
    gnu = pytest.importorskip("dbm.gnu")
    db = gnu.open(str(tmp_path / "g"), "c")
    db[b"k"] = b"v"
    db.close()
    m = parse_map("m", "dbm=gdbm:g", _rel(tmp_path))
    assert m.lookup(None, "k", None) == "v"  # type: ignore[arg-type]


def test_gdbm_unavailable_is_an_error(tmp_path: Path) -> None:
    try:
        import dbm.gnu  # noqa: F401
    except ImportError:
        with pytest.raises(DirectiveError, match="dbm type gdbm is invalid"):
            parse_map("m", "dbm=gdbm:g", _rel(tmp_path))
    else:
        pytest.skip("dbm.gnu is available here")


def test_internal_functions() -> None:
    assert MAPFUNCS["toupper"](None, "abc\xe9") == "ABC\xe9"  # type: ignore[arg-type]
    assert MAPFUNCS["tolower"](None, "ABC") == "abc"  # type: ignore[arg-type]
    assert MAPFUNCS["escape"](None, "a b/c?d") == "a%20b/c%3fd"  # type: ignore[arg-type]
    assert MAPFUNCS["unescape"](None, "a%20b%zz%41") == "a b%zzA"  # type: ignore[arg-type]
    register_mapfunc("rev", lambda r, k: k[::-1])
    assert IntMap("m", "int:rev", "rev").lookup(None, "abc", None) == "cba"  # type: ignore
    MAPFUNCS.pop("rev")


def test_escape_helpers() -> None:
    assert escape_uri("/a b/é?#%") == "/a%20b/%e9%3f%23%25"
    assert escape_uri("$-_.+!*'(),:@&=/~") == "$-_.+!*'(),:@&=/~"
    assert escape_backref("a b&c/d_e") == "a+b%26c%2fd_e"
    assert escape_backref("a b", noplus=True) == "a%20b"
    assert escape_backref("a b/c", escapeme="/") == "a b%2fc"
    assert escape_backref("a b/c", escapeme=" /") == "a+b%2fc"
    assert unescape_url("x%00y") == "x"
    assert is_url("http://x") and is_url("mailto:x") and not is_url("/x") and \
        not is_url(":x")


def test_pregsub() -> None:
    import re

    m = re.search(r"/(a)(b)?", "/a")
    assert pregsub("[$1|$2|$0|&|\\$1|\\&]", "/a", m) == "[a||/a|/a|$1|&]"


@pytest.mark.parametrize("uri,fake,n", [
    ("/icons/a.gif", "/icons/", 7), ("/icons", "/icons/", 0), ("/icons", "/icons", 6),
    ("/iconsx", "/icons", 0), ("/icons/x", "/icons", 6), ("//icons///x", "/icons/", 10),
    ("/", "/", 1), ("/anything", "/", 1), ("/a", "/b", 0),
])
def test_alias_matches(uri: str, fake: str, n: int) -> None:
    assert alias_matches(uri, fake) == n


# --- maps through the engine ---------------------------------------------------------------
def _tree(root: Path, body: str):  # type: ignore[no-untyped-def]
    conf = f"ServerName test.local\nDocumentRoot {root}\n" + textwrap.dedent(body)
    return load_config(None, builtin_modules(), server_root=str(root), text=conf)


def _args(tree, url: str) -> str | None:  # type: ignore[no-untyped-def]
    oc = asyncio.run(explain(tree, url, [], out=io.StringIO()))
    return oc.request.args


def test_txt_rnd_dbm_int_through_rules(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("a alpha\nb beta\n")
    (tmp_path / "r.txt").write_text("servers one|two|three\nsingle only\n")
    with SDBM(str(tmp_path / "d"), "c") as db:
        db["x"] = "ex"
    tree = _tree(tmp_path, """
        RewriteEngine on
        RewriteMap t txt:t.txt
        RewriteMap r rnd:r.txt
        RewriteMap d dbm:d
        RewriteMap u int:toupper
        RewriteRule ^/t/(.*)$ /x?${t:$1|none} [L]
        RewriteRule ^/r/(.*)$ /x?${r:$1} [L]
        RewriteRule ^/d/(.*)$ /x?${d:$1|nodbm} [L]
        RewriteRule ^/u/(.*)$ /x?${u:${t:$1}} [L]
        RewriteRule ^/unknown/(.*)$ /x?${nomap:$1|dflt} [L]
        RewriteRule ^/empty/(.*)$ /x?a${t:$1}b [L]
        """)
    assert _args(tree, "/t/a") == "alpha"
    assert _args(tree, "/t/zz") == "none"
    assert _args(tree, "/r/servers") in ("one", "two", "three")
    assert _args(tree, "/r/single") == "only"
    assert _args(tree, "/d/x") == "ex"
    assert _args(tree, "/d/y") == "nodbm"
    assert _args(tree, "/u/b") == "BETA"
    assert _args(tree, "/unknown/q") == "dflt"
    assert _args(tree, "/empty/zz") == "ab"


def test_txt_map_reloaded_when_changed(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("k old\n")
    tree = _tree(tmp_path, "RewriteEngine on\nRewriteMap t txt:t.txt\n"
                           "RewriteRule ^/(.*)$ /x?${t:$1} [L]\n")
    assert _args(tree, "/k") == "old"
    p.write_text("k new\n")
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert _args(tree, "/k") == "new"


def test_dbm_map_cache_follows_file(tmp_path: Path) -> None:
    with SDBM(str(tmp_path / "d"), "c") as db:
        db["k"] = "one"
    tree = _tree(tmp_path, "RewriteEngine on\nRewriteMap d dbm:d\n"
                           "RewriteRule ^/(.*)$ /x?${d:$1} [L]\n")
    assert _args(tree, "/k") == "one"
    with SDBM(str(tmp_path / "d"), "w") as db:
        db["k"] = "two"
    st = (tmp_path / "d.pag").stat()
    os.utime(tmp_path / "d.pag", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert _args(tree, "/k") == "two"


def test_prg_map(tmp_path: Path) -> None:
    prog = tmp_path / "map.py"
    prog.write_text("import sys\n"
                    "for line in sys.stdin:\n"
                    "    k = line.rstrip('\\n')\n"
                    "    print('NULL' if k == 'none' else 'v-' + k, flush=True)\n")
    wrapper = tmp_path / "map.sh"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {prog}\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    tree = _tree(tmp_path, f"""
        RewriteEngine on
        RewriteMap p prg:{wrapper}
        RewriteRule ^/(.*)$ /x?${{p:$1|dflt}} [L]
        """)
    try:
        assert _args(tree, "/abc") == "v-abc"
        assert _args(tree, "/none") == "dflt"
        assert _args(tree, "/again") == "v-again"
    finally:
        for m in tree.main.module_config:
            maps = getattr(m, "maps", None)
            if isinstance(maps, dict):
                for e in maps.values():
                    if isinstance(e, PrgMap):
                        e.stop()


def test_rewritemap_only_in_server_context(tmp_path: Path) -> None:
    (tmp_path / ".htaccess").write_text("RewriteMap x int:toupper\n")
    with pytest.raises(ConfigError, match="RewriteMap not allowed here"):
        _tree(tmp_path, "<Directory />\nRewriteMap x int:toupper\n</Directory>\n")
