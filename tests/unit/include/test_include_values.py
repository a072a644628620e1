"""mod_include's value helpers: variable substitution (ap_ssi_parse_string), entity
decoding, sizes (apr_strfsize), times (ap_ht_time) and encodings."""

from __future__ import annotations

import calendar
import time
from typing import Any

import pytest

from featherd.modules.filters.include import elements as EL
from featherd.modules.filters.include import mod_include as M
from featherd.modules.filters.include import values as V


class FakeRequest:
    def __init__(self, env: dict[str, str]) -> None:
        self.subprocess_env = env
        self.filename = "/doc/x.shtml"
        self.logged: list[tuple[int, str]] = []

    def log_error(self, level: int, msg: str) -> None:
        self.logged.append((level, msg))


def ctx(env: dict[str, str]) -> Any:
    f = M.IncludesFilter.__new__(M.IncludesFilter)
    f.r = FakeRequest(env)  # type: ignore[assignment]
    f.re_state = None
    return f


@pytest.mark.parametrize("src,want", [
    ("plain", "plain"), ("$a", "one"), ("${a}x", "onex"), ("$ax", ""), ("$a$b", "onetwo"),
    ("\\$a", "$a"), ("a\\b", "a\\b"), ("$", "$"), ("$-", "$-"), ("${}", "${}"),
    ("$undefined!", "!"), ("$A", "one"),            # names are case-insensitive
    ("${a", ""),                                     # missing '}': the rest is dropped
    ("x$a_y", "x"),                                  # a_y is one name
])
def test_parse_string(src: str, want: str) -> None:
    c = ctx({"a": "one", "b": "two"})
    assert c.parse_string(src) == want


def test_parse_string_leave_name_and_missing_brace_log() -> None:
    c = ctx({"a": "one"})
    assert c.parse_string("echo $nope $a", leave_name=True) == "echo $nope one"
    assert c.parse_string("${nope}", leave_name=True) == "${nope"   # as httpd
    c.parse_string("${a")
    assert c.r.logged and "Missing '}' on variable \"a\"" in c.r.logged[-1][1]


def test_backreferences() -> None:
    c = ctx({})
    assert c.get_var("1") is None and "refers to no regex" in c.r.logged[-1][1]
    assert c.re_check("sid=AB12", "^sid=([A-Z]+)([0-9]+)(x)?") == 1
    assert (c.get_var("0"), c.get_var("1"), c.get_var("2")) == ("sid=AB12", "AB", "12")
    assert c.get_var("3") is None                      # group that did not take part
    assert c.get_var("4") is None and "out of range" in c.r.logged[-1][1]
    assert c.re_check("zz", "^(a)") == 0 and c.get_var("1") is None
    assert c.re_check("x", "(") == -1                  # a bad pattern
    assert "unable to compile pattern" in c.r.logged[-1][1]


@pytest.mark.parametrize("src,want", [
    ("a&lt;b&gt;&amp;&quot;", 'a<b>&"'), ("&eacute;&Uuml;", "\xe9\xdc"), ("&#65;&#x41;", "A"),
    ("&#7;", ""), ("&#200;", "\xc8"), ("&#300;", ""), ("&unknown;", "&unknown;"),
    ("& no semicolon", "& no semicolon"), ("&lt", "&lt"),
])
def test_decodehtml(src: str, want: str) -> None:
    assert V.decodehtml(src) == want


@pytest.mark.parametrize("size,want", [
    (0, "  0 "), (5, "  5 "), (972, "972 "), (973, "1.0K"), (1023, "1.0K"),
    (1024, "1.0K"), (9 * 1024, "9.0K"), (10 * 1024, " 10K"), (123456, "121K"),
    (5 * 1024 * 1024 + 3, "5.0M"), (900 * 1024 * 1024, "900M"), (999 * 1024 * 1024, "1.0G"), (1 << 40, "1.0T"),
])
def test_strfsize(size: int, want: str) -> None:
    assert V.strfsize(size) == want


def test_ht_time_gmt_and_local() -> None:
    t = calendar.timegm((2009, 2, 13, 23, 31, 30, 0, 0, 0))
    assert V.ht_time(t, "%Y-%m-%d %H:%M:%S %Z %z %%Z", True) == \
        "2009-02-13 23:31:30 GMT +0000 %Z"
    assert V.ht_time(t, "%Y", False) == time.strftime("%Y", time.localtime(t))
    assert V.ht_time(t, V.DEFAULT_TIME_FORMAT, True) == "Friday, 13-Feb-2009 23:31:30 GMT"


def test_encodings() -> None:
    assert V._encode('a b<c>&"/?', "entity") == "a b&lt;c&gt;&amp;&quot;/?"
    assert V._encode("a b<c>/?", "url") == "a%20b%3cc%3e/%3f"
    assert V._encode("a b/&", "urlencoded") == "a+b%2f%26"
    assert V._encode("hi", "base64") == "aGk="
    assert V._decode("a%20b+c", "url") == "a b+c"
    assert V._decode("a%20b+c", "urlencoded") == "a b c"
    assert V._decode("aGk=", "base64") == "hi"
    assert V.escape_html('<&">') == "&lt;&amp;&quot;&gt;"


def test_env_helpers_case_insensitive() -> None:
    env = {"Foo": "1"}
    assert V.env_get(env, "FOO") == "1"
    V.env_set(env, "foo", "2")
    assert env == {"Foo": "2"}
    V.env_set(env, "bar", "3")
    assert env == {"Foo": "2", "bar": "3"}


def test_relative_paths_for_file_attribute() -> None:
    assert EL._relative_ok("a/../b.html") == "b.html"
    assert EL._relative_ok("./x/y") == "x/y"
    assert EL._relative_ok("../x") is None
    assert EL._relative_ok("a/../../x") is None
    assert EL._relative_ok("/etc/passwd") is None
