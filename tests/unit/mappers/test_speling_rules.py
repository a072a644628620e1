"""mod_speling's misspelling rules (one wrong, missing, extra or transposed character,
ignoring case; the common-basename fallback) and candidate ordering, no sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from featherd.core.config import load_config
from featherd.modules import builtin_modules
from featherd.modules.mappers.speling import (
    SP_EXTRACHAR,
    SP_MISCAPITALIZED,
    SP_MISSINGCHAR,
    SP_SIMPLETYPO,
    SP_TRANSPOSITION,
    SP_VERYDIFFERENT,
    candidates,
    read_dir,
    spdist,
    speling,
)


@pytest.mark.parametrize("req,name,q", [
    ("About.HTML", "about.html", SP_MISCAPITALIZED),
    ("aobut.html", "about.html", SP_TRANSPOSITION),
    ("abxut.html", "about.html", SP_SIMPLETYPO),
    ("abut.html", "about.html", SP_MISSINGCHAR),
    ("abouut.html", "about.html", SP_EXTRACHAR),
    ("ABUOT.html", "about.html", SP_TRANSPOSITION),
    ("abuto.html", "about.html", SP_VERYDIFFERENT),
    ("x", ".", SP_SIMPLETYPO),
])
def test_spdist(req: str, name: str, q: int) -> None:
    assert spdist(req, name) == q


def test_candidates_order_and_basename() -> None:
    names = ["index.htm", "Index.html", "indx.html", "other"]
    assert candidates("index.html", names, False) == [
        ("Index.html", SP_MISCAPITALIZED), ("index.htm", SP_EXTRACHAR),
        ("indx.html", SP_EXTRACHAR)]
    assert candidates("indx.html", ["index.html"], False) == [("index.html", SP_MISSINGCHAR)]
    assert candidates("faq", ["faq.txt", "faq.html"], False) == [
        ("faq.txt", SP_VERYDIFFERENT), ("faq.html", SP_VERYDIFFERENT)]
    # CheckCaseOnly: no typo corrections, the basename match still counts (2.2)
    assert candidates("index.html", names, True) == [
        ("Index.html", SP_MISCAPITALIZED), ("index.htm", SP_VERYDIFFERENT)]
    assert candidates("same", ["Same", "same"], False) is None   # never redirect to itself


def test_read_dir_includes_dot_entries(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert sorted(read_dir(str(tmp_path))) == [".", "..", "f"]


def test_innermost_section_decides(tmp_path: Path) -> None:
    t = load_config(None, builtin_modules(), server_root=str(tmp_path), text=(
        "ServerName u\nCheckSpelling On\n<Directory /a>\nCheckCaseOnly On\n</Directory>\n"
        "<Directory /b>\nDirectoryIndex x\n</Directory>\n"))
    base = t.main.lookup_defaults
    a = t.merge_dir_confs(base, t.main.sec_dir[0].confs)[speling.index]
    b = t.merge_dir_confs(base, t.main.sec_dir[1].confs)[speling.index]
    assert (a.enabled, a.case_only) == (False, True)    # no merge: CheckSpelling is Off
    assert (b.enabled, b.case_only) == (True, False)    # nothing said here: inherited
