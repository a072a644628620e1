"""Merging (config/merge.py and the core's Options rules): UNSET, the append and update
policies, and the manual's Options examples (manual: core, Options; "Configuration
Sections", "How the sections are merged")."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from featherd.config.merge import UNSET, merge_records, unset_field, value
from featherd.core.config import load_config
from featherd.core.core_module import OPT_ALL, core
from featherd.core.walk import _make_plan
from featherd.modules import builtin_modules


@dataclasses.dataclass(slots=True)
class Rec:
    plain: Any = UNSET
    listy: Any = unset_field("append")
    mapping: Any = unset_field("update")
    custom: Any = unset_field(lambda b, n: f"{b}+{n}")


def test_unset_is_falsy_and_repr() -> None:
    assert not UNSET
    assert repr(UNSET) == "UNSET"
    assert value(UNSET, 5) == 5 and value(0, 5) == 0


def test_child_wins_where_set_parent_elsewhere() -> None:
    base = Rec(plain=1, listy=[1], mapping={"a": 1, "b": 1}, custom="p")
    assert merge_records(base, Rec()) == base
    out = merge_records(base, Rec(plain=2, listy=[2], mapping={"b": 2, "c": 2}, custom="c"))
    assert out == Rec(plain=2, listy=[1, 2], mapping={"a": 1, "b": 2, "c": 2}, custom="p+c")
    # a policy only runs when both sides are set
    assert merge_records(Rec(), Rec(listy=[3], custom="c")) == Rec(listy=[3], custom="c")
    # the inputs are not changed
    assert base.listy == [1] and base.mapping == {"a": 1, "b": 1}


def test_set_to_falsy_value_still_overrides() -> None:
    assert merge_records(Rec(plain="x"), Rec(plain="")).plain == ""
    assert merge_records(Rec(plain=1), Rec(plain=None)).plain is None


def opts_for(body: str, path: str, tmp_path: Path) -> frozenset[str]:
    t = load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text="ServerName t\n" + body)
    confs = _make_plan(t, t.main, path)[1]
    o = confs[core.index].opts
    return OPT_ALL if o is UNSET else o


def test_default_options_are_all_but_multiviews(tmp_path: Path) -> None:
    assert opts_for("", "/web/docs/", tmp_path) == OPT_ALL
    assert "MultiViews" not in OPT_ALL and "FollowSymLinks" in OPT_ALL


def test_manual_example_absolute_replaces(tmp_path: Path) -> None:
    body = ("<Directory /web/docs>\nOptions Indexes FollowSymLinks\n</Directory>\n"
            "<Directory /web/docs/spec>\nOptions Includes\n</Directory>\n")
    assert opts_for(body, "/web/docs/spec/", tmp_path) == {"Includes"}
    assert opts_for(body, "/web/docs/", tmp_path) == {"Indexes", "FollowSymLinks"}


def test_manual_example_relative_merges(tmp_path: Path) -> None:
    body = ("<Directory /web/docs>\nOptions Indexes FollowSymLinks\n</Directory>\n"
            "<Directory /web/docs/spec>\nOptions +Includes -Indexes\n</Directory>\n")
    assert opts_for(body, "/web/docs/spec/", tmp_path) == {"Includes", "FollowSymLinks"}


def test_relative_over_default_all_and_chains(tmp_path: Path) -> None:
    body = ("<Directory />\nOptions -Indexes\n</Directory>\n"
            "<Directory /a>\nOptions +MultiViews\n</Directory>\n"
            "<Directory /a/b>\nOptions -ExecCGI\n</Directory>\n")
    assert opts_for(body, "/a/b/", tmp_path) == (OPT_ALL - {"Indexes", "ExecCGI"}) | {
        "MultiViews"}


def test_none_and_all(tmp_path: Path) -> None:
    body = ("<Directory />\nOptions None\n</Directory>\n"
            "<Directory /a>\nOptions All\n</Directory>\n")
    assert opts_for(body, "/", tmp_path) == frozenset()
    assert opts_for(body, "/a/", tmp_path) == OPT_ALL


def test_regex_sections_apply_after_plain_ones(tmp_path: Path) -> None:
    body = ('<DirectoryMatch "^/a/b/$">\nOptions +ExecCGI\n</DirectoryMatch>\n'
            "<Directory /a/b>\nOptions None\n</Directory>\n")
    assert opts_for(body, "/a/b/", tmp_path) == {"ExecCGI"}


@pytest.mark.parametrize("order", ["A,B", "B,A"])
def test_deeper_directory_wins_whatever_the_file_order(order: str, tmp_path: Path) -> None:
    a = "<Directory /a>\nOptions Indexes\n</Directory>\n"
    b = "<Directory /a/b>\nOptions ExecCGI\n</Directory>\n"
    body = a + b if order == "A,B" else b + a
    assert opts_for(body, "/a/b/c/", tmp_path) == {"ExecCGI"}


def test_errordocuments_update_per_code(tmp_path: Path) -> None:
    t = load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text="ServerName t\nErrorDocument 404 /nf.html\nErrorDocument 403 "
                         "\"no way\"\n<Directory /a>\nErrorDocument 404 default\n"
                         "</Directory>\n")
    docs = _make_plan(t, t.main, "/a/")[1][core.index].error_documents
    assert docs == {404: ("default", ""), 403: ("text", "no way")}


def test_errordocument_kinds(tmp_path: Path) -> None:
    t = load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text="ServerName t\nErrorDocument 404 /x.html\nErrorDocument 403 oops\n"
                         "ErrorDocument 500 \"/not a path\"\n"
                         "ErrorDocument 410 http://example.com/gone\n")
    docs = t.main.lookup_defaults[core.index].error_documents
    assert docs == {404: ("local", "/x.html"), 403: ("text", "oops"),
                    500: ("text", "/not a path"), 410: ("external", "http://example.com/gone")}
