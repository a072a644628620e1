"""Directive rows: arity checks and their messages for every ArgSpec (httpd's
invoke_cmd), FLAG parsing, the -L texts."""

from __future__ import annotations

from typing import Any

import pytest

from featherd.config.directives import (
    ArgSpec,
    Context,
    Directive,
    Override,
    Registry,
    int_arg,
)
from featherd.core.config import load_config
from featherd.core.module import Module
from featherd.errors import ConfigError, DirectiveError
from featherd.modules import builtin_modules

SEEN: list[tuple[str, tuple[Any, ...]]] = []

tmod = Module("arity_test_module", "mod_arity_test.c")
for spec in ArgSpec:
    def fn(cmd: Any, conf: Any, *a: Any, _n: str = spec.name) -> None:
        SEEN.append((_n, a))
    tmod.directive(f"T{spec.name}", args=spec, context=Context.ALL_DIR,
                   override=Override.FILEINFO, help=f"help of {spec.name}")(fn)


def load(text: str, tmp_path: Any) -> Any:
    return load_config(None, [*builtin_modules(), tmod], server_root=str(tmp_path),
                       text="ServerName t.local\n" + text)


def err(text: str, tmp_path: Any) -> str:
    with pytest.raises(ConfigError) as ei:
        load(text, tmp_path)
    return ei.value.message


@pytest.mark.parametrize("spec,bad,msg", [
    ("NO_ARGS", "x", "TNO_ARGS takes no arguments"),
    ("TAKE1", "", "TTAKE1 takes one argument, help of TAKE1"),
    ("TAKE1", "a b", "TTAKE1 takes one argument, help of TAKE1"),
    ("TAKE1", '""', "TTAKE1 takes one argument, help of TAKE1"),
    ("TAKE2", "a", "TTAKE2 takes two arguments, help of TAKE2"),
    ("TAKE2", 'a ""', "TTAKE2 takes two arguments, help of TAKE2"),
    ("TAKE3", "a b", "TTAKE3 takes three arguments, help of TAKE3"),
    ("TAKE12", "", "TTAKE12 takes 1-2 arguments, help of TAKE12"),
    ("TAKE12", "a b c", "TTAKE12 takes 1-2 arguments, help of TAKE12"),
    ("TAKE13", "a b", "TTAKE13 takes one or three arguments, help of TAKE13"),
    ("TAKE23", "a", "TTAKE23 takes two or three arguments, help of TAKE23"),
    ("TAKE23", "a b c d", "TTAKE23 takes two or three arguments, help of TAKE23"),
    ("TAKE123", "", "TTAKE123 takes one, two or three arguments, help of TAKE123"),
    ("TAKE123", "a b c d", "TTAKE123 takes one, two or three arguments, help of TAKE123"),
    ("ITERATE", "", "TITERATE requires at least one argument, help of ITERATE"),
    ("ITERATE2", "a", "TITERATE2 requires at least two arguments, help of ITERATE2"),
    ("FLAG", "yes", "TFLAG must be On or Off"),
    ("FLAG", "", "TFLAG must be On or Off"),
])
def test_arity_messages(spec: str, bad: str, msg: str, tmp_path: Any) -> None:
    assert err(f"T{spec} {bad}\n", tmp_path) == msg


@pytest.mark.parametrize("spec,good,args", [
    ("NO_ARGS", "", ()),
    ("TAKE1", '"a b"', ("a b",)),
    ("TAKE2", "a b", ("a", "b")),
    ("TAKE3", "a b c", ("a", "b", "c")),
    ("TAKE12", "a", ("a", None)),
    ("TAKE12", "a b", ("a", "b")),
    ("TAKE13", "a", ("a", None, None)),
    ("TAKE13", "a b c", ("a", "b", "c")),
    ("TAKE23", "a b", ("a", "b", None)),
    ("TAKE123", "a", ("a", None, None)),
    ("FLAG", "on", (True,)),
    ("FLAG", "OFF ignored", (False,)),   # httpd reads one word
    ("RAW_ARGS", ' a  "b" ', ('a  "b"',)),   # the line is stripped, not split
    ("TAKE_ARGV", 'a "b c"', (["a", "b c"],)),
])
def test_arity_accepts(spec: str, good: str, args: tuple[Any, ...], tmp_path: Any) -> None:
    SEEN.clear()
    load(f"T{spec} {good}\n", tmp_path)
    assert SEEN == [(spec, args)]


def test_iterate_calls_once_per_word(tmp_path: Any) -> None:
    SEEN.clear()
    load("TITERATE a b c\nTITERATE2 k v1 v2\n", tmp_path)
    assert SEEN == [("ITERATE", ("a",)), ("ITERATE", ("b",)), ("ITERATE", ("c",)),
                    ("ITERATE2", ("k", "v1")), ("ITERATE2", ("k", "v2"))]


def test_split_without_a_tree() -> None:
    d = Directive("X", lambda *a: None, ArgSpec.TAKE2, Context.ALL_DIR, Override.NONE,
                  "X a b", "")
    assert d.split('"a" b') == ["a", "b"]
    with pytest.raises(DirectiveError, match="^X takes two arguments$"):
        d.split("a")


def test_registry_is_case_insensitive_and_rejects_duplicates() -> None:
    reg = Registry()
    d = Directive("SetFoo", lambda *a: None, ArgSpec.TAKE1, Context.ALL_DIR, Override.NONE,
                  "", "")
    reg.add(d)
    assert reg.get("setfoo") is d and reg.get("SETFOO") is d
    with pytest.raises(ValueError):
        reg.add(d)


def test_context_and_override_texts() -> None:
    d = Directive("X", lambda *a: None, ArgSpec.TAKE1, Context.ALL_DIR,
                  Override.FILEINFO | Override.AUTHCFG, "", "")
    assert d.context_text() == "server config, virtual host, directory, .htaccess"
    assert d.override_text() == "AuthConfig FileInfo"


@pytest.mark.parametrize("name,v,lo,out", [
    ("LimitRequestLine", "8190", 0, 8190), ("LimitRequestLine", "abc", 0,
                                            "LimitRequestLine argument is not a number"),
    ("StartServers", "-3", 1, "StartServers must be at least 1"),
    ("IdentityCheckTimeout", "-5", None, -5), ("X", "", None, "X argument is not a number")])
def test_int_arg_messages(name: str, v: str, lo: int | None, out: object) -> None:
    if isinstance(out, int):
        assert int_arg(name, v, lo) == out
    else:
        with pytest.raises(DirectiveError, match=str(out)):
            int_arg(name, v, lo)
