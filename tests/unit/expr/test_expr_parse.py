"""ap_expr's scanner and parser (featherd.core.expr): what parses, and the words of each
failure, as Apache 2.4.68 gives them after "Cannot parse expression in require line: "
(each message below was checked with ``apache2 -t``; see expr.html for the grammar)."""

from __future__ import annotations

import pytest

from featherd.core import expr
from featherd.core.expr import FLAG_RESTRICTED, ExprSyntaxError, parse

VALID = [
    "true", "false", "!false", "not false", "true && true", "true and true",
    "false || true", "false or true", "(true)", "((true) && !(false))",
    "1 == 1", "1 = 1", "'a' != 'b'", "'a' < 'b'", "'a' <= 'a'", "'b' > 'a'", "'b' >= 'b'",
    "1 -eq 1", "1 eq 1", "1 -ne 2", "1 ne 2", "1 -lt 2", "1 lt 2", "1 -le 1", "1 le 1",
    "2 -gt 1", "2 gt 1", "2 -ge 2", "2 ge 2", "'a' =~ /a/", "'a' =~ /A/i", "'a' !~ m#b#",
    "'a' =~ m,a,i", "'a' -in {'a', 'b'}", "'a' in {'a'}", "'a' -in PeerExtList('1.2')",
    "-n 'a'", "-z ''", "-T 'on'", "-d '/'", "-e '/'", "-f '/etc/passwd'", "-s '/etc/passwd'",
    "-L '/x'", "-h '/x'", "-x '/bin/sh'", "-F '/x'", "-U '/x'", "-A '/x'",
    "-R '127.0.0.0/8'", "-R '10.1'", "%{REMOTE_ADDR} -ipmatch '::1'",
    "'a' -strmatch 'a*'", "'a' -STRCMATCH 'A*'", "'a' -fnmatch '?'",
    "%{remote_addr} == ''", "%{HTTP:X-Foo} == %{ENV:bar}", "%{tolower:%{REMOTE_ADDR}} == 'a'",
    "%{SSL:SSL_CIPHER} == ''", "%{SSL_CIPHER} == ''", "%{HTTP:x%} == 1",
    "'a' . 'b' == 'ab'", "1.2 == 12", "$1 == ''", "'x$1y%{REMOTE_ADDR}' == ''",
    "REQ('x') == 1", "req_novary('x') == 1", "%{md5:foo} == 'x'", "ldap('x') == 'x'",
    "'\\101' == 'A'", "'\\n' == 1", "%{TIME} == %{API_VERSION}",
    "1 == 2 or 3 == 4 and true",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_expressions_parse(text: str) -> None:
    e = parse(text)
    assert e.text == text


ERRORS = [
    ("%{REMOTE_ADDR} ==", "syntax error, unexpected $end"),
    ("== 1", "syntax error, unexpected T_OP_STR_EQ"),
    ("1 == 2 ==", "syntax error, unexpected T_OP_STR_EQ, expecting $end"),
    ("(1 == 2", "syntax error, unexpected $end, expecting T_OP_OR or T_OP_AND or ')'"),
    ("1 == 2)", "syntax error, unexpected ')', expecting $end"),
    ("-z", "syntax error, unexpected $end"),
    ("-z 1 2", "syntax error, unexpected T_DIGIT, expecting $end"),
    ("1", "syntax error, unexpected $end"),
    ("!", "syntax error, unexpected $end"),
    ("1 -foo 2", "Binary operator '-foo' does not exist"),
    ("-X 1", "Unary operator '-X' does not exist"),
    ("-t 'x'", "Unary operator '-t' does not exist"),
    ('"abc', "Unterminated string or variable"),
    ("'abc", "Unterminated string or variable"),
    ("%{FOO", "syntax error, unexpected T_ERROR, expecting T_VAR_END or ':': "
              "Unterminated string or variable"),
    ("%{FOO:bar", "Unterminated string or variable"),
    ("%{HTTP:x}", "syntax error, unexpected $end"),
    ("%{FOOBAR} == 1", "Variable 'FOOBAR' does not exist"),
    ("foo(1) == 1", "Function 'foo' does not exist"),
    ("v('x') == 1", "Function 'v' does not exist"),
    ("sha256('x') == 1", "Function 'sha256' does not exist"),
    ("%{x:y:z} == 1", "Function 'x' does not exist"),
    ("1 =~ /(/", "Failed to compile regular expression"),
    ("'a/b' =~ /a\\/b/", "Failed to compile regular expression"),
    ("1 =~ /abc", "syntax error, unexpected $end, expecting T_REGEX or T_REGEX_I"),
    ("1 =~ /x/ix", "syntax error, unexpected T_ID, expecting $end"),
    ("m#x# == 1", "syntax error, unexpected T_REGEX"),
    ("1 in {}", "syntax error, unexpected '}'"),
    ("1 in { 1, 2", "syntax error, unexpected $end, expecting '}' or ','"),
    ("1 in foo(2)", "List-returning function 'foo' does not exist"),
    ("1 in {1} in {2}", "syntax error, unexpected T_OP_IN, expecting $end"),
    ("-in", "syntax error, unexpected T_OP_IN"),
    ("1 & 2", "syntax error, unexpected T_ERROR: Parse error near '&'"),
    ("- 1", "Parse error near '-'"),
    ("$a == 1", "Parse error near '$'"),
    ("1 == 2 && $ ==", "Parse error near '$'"),
    ("'\\9' == 1", "Bad escape sequence"),
    ("'\\777' == 1", "Escape sequence out of bound"),
    ("-R 'x'", "parsing of subnet/netmask failed"),
    ("1 -ipmatch 'x'", "parsing of subnet/netmask failed"),
    ("-R %{HTTP:x}", "-R requires subnet/netmask as constant argument"),
    ("-R 10", "-R requires subnet/netmask as constant argument"),
    ("1 -ipmatch %{REMOTE_ADDR}", "-ipmatch requires subnet/netmask as constant argument"),
    ("a\" -strmatch \"b", "syntax error, unexpected T_STR_BEGIN, expecting '('"),
    ("'a' ''", "syntax error, unexpected T_STR_BEGIN"),
    ("%{1FOO} == 1", "syntax error, unexpected T_ERROR, expecting T_ID: "
                     "Invalid character in variable name '1'"),
    ("%{_x} == 1", "syntax error, unexpected T_ERROR, expecting T_ID: "
                   "Invalid character in variable name '_'"),
    ("1 -eq 2 -eq 3", "syntax error, unexpected T_OP_EQ, expecting $end"),
    # a lookup failure stays beside a later syntax error, as ctx->error2
    ("%{FOO} -foo", "syntax error, unexpected $end: Variable 'FOO' does not exist"),
    ("not %{FOO} \"b\" &&", "syntax error, unexpected T_STR_BEGIN: "
                            "Variable 'FOO' does not exist"),
    ("-R $1 in", "syntax error, unexpected T_OP_IN, expecting $end: "
                 "-R requires subnet/netmask as constant argument"),
    ("%{FOO} =~ /(/", "Failed to compile regular expression: Variable 'FOO' does not exist"),
    ("PeerExtList( %{FOO} req( %{tolower: == \"b\" %{",
     "syntax error, unexpected T_ID, expecting T_OP_CONCAT or ')': "
     "Variable 'FOO' does not exist"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_are_worded_as_apache(text: str, message: str) -> None:
    with pytest.raises(ExprSyntaxError) as ei:
        parse(text)
    assert str(ei.value) == message


def test_restricted_context_refuses_file_functions_and_tests() -> None:
    with pytest.raises(ExprSyntaxError, match="^file not available in restricted context$"):
        parse("file('/x') == ''", FLAG_RESTRICTED)
    with pytest.raises(ExprSyntaxError, match="^-f not available in restricted context$"):
        parse("-f '/x'", FLAG_RESTRICTED)
    parse("-n 'x' && tolower('A') == 'a'", FLAG_RESTRICTED)


def test_scanner_tokens_follow_flex_longest_match() -> None:
    def toks(s: str) -> list[str]:
        lx = expr._Lex(s, False)
        out = []
        while True:
            t = lx.next()
            out.append(t[0])
            if t[0] in ("$end", "T_ERROR"):
                return out[1:]
    assert toks("-in -inx -eq -e") == ["T_OP_IN", "T_OP_BINARY", "T_OP_EQ", "T_OP_UNARY",
                                       "$end"]
    assert toks("and andy true truex") == ["T_OP_AND", "T_ID", "T_TRUE", "T_ID", "$end"]
    assert toks("m_x m,y, -1 =~ ==") == ["T_ID", "T_REGEX", "T_DIGIT", "T_OP_REG",
                                         "T_OP_STR_EQ", "$end"]
    assert toks("'a%{X}b'") == ["T_STR_BEGIN", "T_STRING", "T_VAR_BEGIN", "T_ID",
                                "T_VAR_END", "T_STRING", "T_STR_END", "$end"]
    assert toks("/x/i") == ["T_REGEX_I", "$end"]


def test_string_result_expressions() -> None:
    e = parse("Hello %{tolower:WORLD} $1 'q'", expr.FLAG_STRING_RESULT)
    assert e.exec_string(None) == "Hello world  'q'"


def test_parse_is_cached_and_tables_are_small() -> None:
    a = parse("%{QUERY_STRING} == 'x'")
    b = parse("%{QUERY_STRING} == 'x'")
    assert a.root is b.root
    assert len(expr._tables().action) < 200


def test_references_remote_user() -> None:
    assert parse("%{remote_user} == 'a'").references("REMOTE_USER")
    assert not parse("env('REMOTE_USER') == 'a'").references("REMOTE_USER")
