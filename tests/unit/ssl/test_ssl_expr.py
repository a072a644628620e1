"""SSLRequire's expression language (mod_ssl manual, SSLRequire; ssl_expr_*.c)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from featherd.modules.ssl.expr import (
    EvalContext,
    EvalError,
    ExprError,
    compile_expr,
    evaluate,
    strcmplex,
    tokenize,
)

VARS = {"SSL_CIPHER": "ECDHE-RSA-AES256-GCM-SHA384", "SSL_CLIENT_S_DN_O": "Snake Oil, Ltd.",
        "SSL_CLIENT_S_DN_OU": "Staff", "TIME_WDAY": "3", "TIME_HOUR": "10",
        "REMOTE_ADDR": "192.76.162.40", "HTTP_USER_AGENT": "Mozilla/5.0", "EMPTY": ""}


def ev(text: str, **extra: str) -> bool:
    vars_ = {**VARS, **extra}
    r = SimpleNamespace(headers_in={"X-Test": "yes"}, headers_out={}, subprocess_env={"A": "1"},
                        notes={"n": "note"})
    return evaluate(compile_expr(text), EvalContext(lambda n: vars_.get(n, ""), r,
                                                    lambda oid: ["x", "foobar"]))


def test_manual_example() -> None:
    expr = ('(    %{SSL_CIPHER} !~ m/^(EXP|NULL)-/ '
            '  and %{SSL_CLIENT_S_DN_O} eq "Snake Oil, Ltd." '
            '  and %{SSL_CLIENT_S_DN_OU} in {"Staff", "CA", "Dev"} '
            '  and %{TIME_WDAY} >= 1 and %{TIME_WDAY} <= 5 '
            '  and %{TIME_HOUR} >= 8 and %{TIME_HOUR} <= 20 ) '
            ' or %{REMOTE_ADDR} =~ m/^192\\.76\\.162\\.[0-9]+$/')
    assert ev(expr)
    assert ev(expr, TIME_HOUR="22")                       # the or-branch: REMOTE_ADDR
    assert not ev(expr, TIME_HOUR="22", REMOTE_ADDR="10.0.0.1")
    assert not ev(expr, SSL_CLIENT_S_DN_OU="Sales", REMOTE_ADDR="10.0.0.1")


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("false", False), ("!false", True), ("not true", False),
    ("true && false", False), ("true and true", True), ("false || true", True),
    ("false or false", False), ("(true)", True), ("!(true && false)", True),
    ("true || false && false", True),            # && binds tighter than ||
    ("!true || true", True),                     # ! binds tightest
    ('"abc" == "abc"', True), ('"abc" eq "abd"', False), ('"a" != "b"', True),
    ('"a" ne "a"', False),
    ("10 > 9", True), ("10 gt 9", True), ('"10" < "9"', False), ('"b" > "a"', True),
    ('"ab" > "b"', True),                        # length first (strcmplex)
    ("9 <= 9", True), ("9 le 8", False), ("9 ge 9", True), ("9 lt 10", True),
    ('"x" in {"a", "x"}', True), ('"x" in {"a"}', False),
    ('%{SSL_CLIENT_S_DN_OU} in {"Staff"}', True),
    ('%{HTTP_USER_AGENT} =~ /mozilla/i', True), ('%{HTTP_USER_AGENT} =~ /mozilla/', False),
    ('%{HTTP_USER_AGENT} !~ m#Mozilla#', False), ('%{HTTP_USER_AGENT} =~ m,^Moz,', True),
    ('%{EMPTY} == ""', True), ('%{UNKNOWN} == ""', True),
    ('"foobar" in OID("1.2.3.4")', True), ('"nope" in PeerExtList("1.2.3.4")', False),
    ("-3 -lt 2", False),   # "-3" is not a word: see test_syntax_errors for the form
    ("3 -lt 12", True), ("12 -ge 3", True), ("3 -eq 3", True), ("3 -ne 3", False),
    ('tolower("ABC") == "abc"', True), ('toupper("a") eq "A"', True),
    ('req("X-Test") == "yes"', True), ('reqenv("A") == "1"', True),
    ('md5("a") == "0cc175b9c0f1b6a831c399e269772661"', True),
    ('base64("hi") == "aGk="', True), ('unbase64("aGk=") == "hi"', True),
    ('escape("a b") == "a%20b"', True), ('unescape("a%20b") == "a b"', True),
    ('env("n") == "note"', True),
])
def test_grammar_and_semantics(text: str, expected: bool) -> None:
    if text.startswith("-3"):
        with pytest.raises(ExprError):
            compile_expr(text)
        return
    assert ev(text) is expected


def test_string_escapes() -> None:
    assert ev('"a\\"b" == "a\\"b"')
    assert ev('"\\101" == "A"')                     # octal
    assert ev('"tab\\there" =~ /\\t/')
    toks = tokenize('"x\\ny"')
    assert toks[0].value == "x\ny"


def test_strcmplex() -> None:
    assert strcmplex("10", "9") > 0
    assert strcmplex("abc", "abd") < 0
    assert strcmplex("same", "same") == 0


def test_file_function(tmp_path: Path) -> None:
    f = tmp_path / "allowed"
    f.write_text("alice\nbob\n")
    assert ev(f'file("{f}") =~ /bob/')
    assert not ev(f'file("{f}") =~ /^bob/')
    with pytest.raises(ExprError):
        compile_expr(f'file("{f}") =~ /^bob$/m')      # "i" is the only flag
    assert ev(f'filesize("{f}") == "10"')
    with pytest.raises(EvalError):
        ev(f'file("{tmp_path}/missing") == ""')


@pytest.mark.parametrize("text,message", [
    ("%{SSL_CIPHER} eq", "Parser error: syntax error"),
    ('"abc', "Unterminated string"),
    ("true &&", "Parser error: syntax error"),
    ("(true", "Parser error: syntax error"),
    ("%{A} =~ /[/", "Failed to compile regular expression"),
    ("%{A} =~ /abc", "Unterminated regex"),
    ('nosuch("x") == "y"', "Parser error: unknown function 'nosuch'"),
    ("true false", "Parser error: syntax error"),
    ('"\\9" == "x"', "Bad escape sequence"),
])
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError) as e:
        compile_expr(text)
    assert str(e.value) == message


def test_integer_comparison_of_a_non_number() -> None:
    with pytest.raises(EvalError):
        ev('"abc" -lt 3')
