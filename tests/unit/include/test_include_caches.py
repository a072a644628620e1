"""mod_include's caches: the parse cache (events of a whole, unchanged document) and the
#if expression cache (a fresh tree per evaluation)."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from featherd.filters.buckets import EOS, FileBucket
from featherd.modules.filters.include import expr as expr_mod
from featherd.modules.filters.include import mod_include
from featherd.modules.filters.include.parser import TAG_START, SSIParser, Tag


class _Req:
    def __init__(self, st: os.stat_result) -> None:
        self.finfo = st


def _events(path: Path, as_bytes: bool = False, offset: int = 0,
            eos: bool = True) -> list[Any]:
    """What the filter's _run makes of the file passed as the default handler passes it
    (a FileBucket, or its bytes), the elements not run."""
    f = mod_include.IncludesFilter.__new__(mod_include.IncludesFilter)
    f.parser = SSIParser()
    f.events = deque()
    f.inbox = deque()
    f.fed = False
    f.r = _Req(os.stat(path))
    seen: list[Any] = []
    f._event = lambda ev: seen.append(ev)     # type: ignore[method-assign]
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if as_bytes:
        f.inbox.append(os.pread(fd, size - offset, offset))
        os.close(fd)
    else:
        f.inbox.append(FileBucket(fd, offset, size - offset, str(path)))
    if eos:                                   # the EOS in the same brigade as the body
        f.inbox.append(EOS)
    f._run()
    if not eos:                               # ... or in a later one
        f.inbox.append(EOS)
        f._run()
    return [e for e in seen if not isinstance(e, mod_include._End)]


def _plain(evs: list[Any]) -> list[Any]:
    return [(e.name, e.args) if isinstance(e, Tag) else e for e in evs if e is not TAG_START]


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod_include, "_PARSE_CACHE", {})
    monkeypatch.setattr(mod_include, "_parse_cache_bytes", 0)


def test_include_cache_hit_miss_and_change(tmp_path: Path) -> None:
    p = tmp_path / "a.shtml"
    p.write_bytes(b'x<!--#echo var="A" -->y<!--#set var="b" value="c" -->z')
    first = _events(p, as_bytes=True)
    assert len(mod_include._PARSE_CACHE) == 1
    again = _events(p, as_bytes=True)
    assert len(mod_include._PARSE_CACHE) == 1 and _plain(again) == _plain(first)
    assert _plain(first) == [b"x", ("echo", [("var", "A")]), b"y",
                             ("set", [("var", "b"), ("value", "c")]), b"z"]
    # the same size and times, other bytes: parsed again (the cache is by content)
    st = os.stat(p)
    p.write_bytes(b'X<!--#echo var="B" -->Y<!--#set var="b" value="d" -->Z')
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = _events(p, as_bytes=True)
    assert _plain(changed)[1] == ("echo", [("var", "B")])
    assert len(mod_include._PARSE_CACHE) == 2
    # a FileBucket (a file the default handler did not read) goes through the cache too
    assert _plain(_events(p)) == _plain(changed) and len(mod_include._PARSE_CACHE) == 2


def test_include_cache_partial_state_and_limits(tmp_path: Path) -> None:
    p = tmp_path / "b.shtml"
    p.write_bytes(b"text<!--#echo var")         # ends inside a tag
    for _ in range(2):
        assert _events(p, as_bytes=True)[-1] is mod_include.UNFINISHED
    q = tmp_path / "c.shtml"
    q.write_bytes(b"abc<!--")                   # ends with a partial start tag
    for _ in range(2):
        evs = _events(q, as_bytes=True)
        assert b"".join(e for e in evs if isinstance(e, bytes)) == b"abc<!--"
    assert len(mod_include._PARSE_CACHE) == 2
    # not the whole document (no EOS after it, a part), or too big: not remembered
    mod_include._PARSE_CACHE.clear()
    assert _events(p, as_bytes=True, eos=False)[-1] is mod_include.UNFINISHED
    assert b"".join(_plain(_events(q, offset=1))) == b"bc<!--"
    assert b"".join(_plain(_events(q, as_bytes=True, offset=1))) == b"bc<!--"
    big = tmp_path / "big.shtml"
    big.write_bytes(b"x" * (mod_include.PARSE_CACHE_MAX_FILE + 1))
    _events(big, as_bytes=True)
    assert mod_include._PARSE_CACHE == {}


def test_include_cache_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod_include, "PARSE_CACHE_BUDGET", 100)
    for i in range(5):
        p = tmp_path / f"{i}.shtml"
        p.write_bytes(b"%d" % i * 40)
        _events(p, as_bytes=True)
    assert mod_include._parse_cache_bytes <= 100 and len(mod_include._PARSE_CACHE) == 2
    assert sum(len(k[0]) for k in mod_include._PARSE_CACHE) == mod_include._parse_cache_bytes


def test_include_expr_cache_gives_fresh_trees() -> None:
    expr_mod._PARSED.clear()
    e = "$a = /x(y)/ && ($b != c || -A /u)"
    r1, n1, acc1 = expr_mod.parse_cached(e)
    r2, n2, acc2 = expr_mod.parse_cached(e)
    assert r1 is not r2 and n1 == n2 == 1 and acc1 and acc2
    env = {"a": "xy", "b": "c"}

    def expand(s: str) -> str:
        return env.get(s[1:], s) if s.startswith("$") else s

    def run(root: Any) -> bool:
        return expr_mod.evaluate(root, 1, expand, lambda s, rx: 1 if "xy" in s else 0,
                                 lambda u: u == "/u")

    assert run(r1) is True
    env["a"] = "no"
    assert run(r2) is False                   # not the values the first run wrote in
    root, regex = expr_mod.parse(e)
    assert regex == 1 and len(expr_mod.access_nodes(root)) == 1
    for bad in ("a)", "= a", "a && &&"):
        for _ in range(2):                    # the error is remembered and raised again
            with pytest.raises(expr_mod.ExprError):
                expr_mod.parse_cached(bad)
