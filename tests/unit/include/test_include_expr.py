"""The 2.2 #if expression language (manual: mod_include, "Flow Control Elements" and
2.4's "Legacy expression syntax")."""

from __future__ import annotations

import re

import pytest

from featherd.modules.filters.include import expr as E

VARS = {"a": "apple", "b": "banana", "empty": "", "n": "100"}


class State:
    def __init__(self) -> None:
        self.expanded: list[str] = []
        self.last: tuple[str, re.Match[str] | None] | None = None
        self.access_asked: list[str] = []

    def expand(self, s: str) -> str:
        self.expanded.append(s)
        out = re.sub(r"\$\{?(\w+)\}?", lambda m: self.var(m.group(1)), s)
        return out

    def var(self, name: str) -> str:
        if name.isdigit():
            m = self.last[1] if self.last else None
            return (m.group(int(name)) or "") if m and int(name) <= (m.re.groups) else ""
        return VARS.get(name, "")

    def re_check(self, s: str, rexp: str) -> int:
        try:
            m = E.compile_regex(rexp).search(s)
        except re.error:
            return -1
        self.last = (rexp, m)
        return 1 if m else 0

    def access(self, url: str) -> bool:
        self.access_asked.append(url)
        return url == "/ok"


def ev(text: str, st: State | None = None) -> bool:
    st = st or State()
    root, regex = E.parse(text)
    return E.evaluate(root, regex, st.expand, st.re_check, st.access)


@pytest.mark.parametrize("text,want", [
    ("$a", True), ("$empty", False), ("''", False), ("'x'", True), ("x", True),
    ("$a = apple", True), ("$a == apple", True), ("$a = 'apple'", True),
    ("$a != apple", False), ("$a = APPLE", False),
    ("$a < $b", True), ("$b <= $a", False), ("$a >= apple", True), ("$b > $a", True),
    ("$n < 20", True),                 # strcmp, not numbers
    ("$a = /^a.*e$/", True), ("$a != /^b/", True), ("$a = /[[:digit:]]/", False),
    ("!$empty", True), ("!($a = apple)", False), ("!!$a", True),
    ("$a && $b", True), ("$a && $empty", False), ("$empty || $a", True),
    ("$empty || $empty", False),
    ("$a = x || $b = banana && $a = apple", True),   # left to right, same precedence
    ("$a = x || $b = banana && $a = x", False),
    ("($a = x || $b = banana) && ($a = apple)", True),
    ("foo bar = 'foo bar'", True),     # bare words joined by one space
    ("foo   bar = 'foo bar'", True),
    ("'foo   bar' = 'foo bar'", False),
    ('"x" = x', False),                # double quotes are not quotes here
    ("a\\ b = 'a b'", True),           # backslash: the next character is literal
    ("-A /ok", True), ("-A /no", False), ("!-A /no", True),
    ("(($a))", True), ("()", True),
])
def test_expr_values(text: str, want: bool) -> None:
    assert ev(text) is want


@pytest.mark.parametrize("text,msg", [
    ("(a", "Unmatched '('"), ("a)", "Unmatched ')'"), ("= a", "Invalid expression"),
    ("a = b = c", "Invalid expression"), ("/re/", "Invalid expression"),
    ("a /re/", "Invalid expression"), ("&& a", "Invalid expression"),
    ("a &&", "Invalid expression"), ("!a = b", "Invalid expression"),
    ("a = ", "Invalid expression"), ("-A", "Token '-A' must be followed"),
    ("a ( b", "Invalid expression"), ("a < /x/", "Invalid expression"),
])
def test_expr_errors(text: str, msg: str) -> None:
    with pytest.raises(E.ExprError) as ei:
        ev(text)
    assert msg in str(ei.value)


def test_expr_short_circuit_unless_regex_pending() -> None:
    st = State()
    assert ev("$empty && $b", st) is False
    assert st.expanded == ["$empty"]                # the right side never expanded
    st = State()
    assert ev("$a || $b", st) is True and st.expanded == ["$a"]
    # with a regex still to evaluate, both sides run (its groups must be set)
    st = State()
    assert ev("$empty && $a = /^(ap)/", st) is False
    assert st.last is not None and st.last[1] is not None and st.last[1].group(1) == "ap"


def test_expr_backreferences_after_match() -> None:
    st = State()
    assert ev("$a = /^(a)(p+)/ && $2 = pp", st) is True
    assert ev("$b = /^(b)(a)/ && $1$2 = ba", st) is True


def test_expr_tokens() -> None:
    tok, i = E.get_ptoken("  'a b' rest", 0, None)
    assert tok is not None and (tok.type, tok.value, i) == (E.STRING, "a b", 7)
    tok, _ = E.get_ptoken("/a\\/b/", 0, E.EQ)
    assert tok is not None and (tok.type, tok.value) == (E.RE, "a/b")
    tok, _ = E.get_ptoken("/x", 0, E.ACCESS)              # after -A: a URL
    assert tok is not None and (tok.type, tok.value) == (E.STRING, "/x")
    tok, _ = E.get_ptoken("'open", 0, None)               # unterminated: empty
    assert tok is not None and tok.value == ""
    assert E.get_ptoken("   ", 0, None)[0] is None
    ops = [E.get_ptoken(s, 0, None)[0].type for s in  # type: ignore[union-attr]
           ("=", "==", "!=", "!", "<", "<=", ">", ">=", "&&", "||", "(", ")", "-A")]
    assert ops == [E.EQ, E.EQ, E.NE, E.NOT, E.LT, E.LE, E.GT, E.GE, E.AND, E.OR,
                   E.LBRACE, E.RBRACE, E.ACCESS]


def test_expr_posix_classes() -> None:
    assert E.compile_regex("^[[:alpha:]]+[[:digit:]]$").match("abc1")
    assert E.compile_regex("[[:space:]]").search("a b")
