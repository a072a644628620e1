"""The lexer (config/tree.py) against httpd's ap_cfg_getline / ap_getword_conf rules,
checked with apache2 -t (manual: "Configuration Files", "Syntax of the Main
Configuration Files")."""

from __future__ import annotations

import pytest

from featherd.config.tree import BuildError, getword_conf, logical_lines, parse_text, split_args


def test_continuation_joins_without_inserting_space_and_reports_last_line() -> None:
    text = "ServerAdmin a\\\n   b\nListen 80\n"
    # httpd appends the next physical line as it is and names the last line
    assert logical_lines(text) == [(2, "ServerAdmin a   b"), (3, "Listen 80")]


def test_continuation_needs_backslash_right_before_newline() -> None:
    # a blank after the backslash ends the line: 'b' is a directive of its own
    assert logical_lines("ServerAdmin a\\  \n b\n") == [(1, "ServerAdmin a\\"), (2, "b")]


def test_double_backslash_is_not_a_continuation() -> None:
    assert logical_lines("A x\\\\\nB y\n") == [(1, "A x\\\\"), (2, "B y")]


def test_crlf_lines_and_continuation() -> None:
    assert logical_lines("A 1\\\r\n2\r\nB\r\n") == [(2, "A 12"), (3, "B")]


def test_comment_lines_and_a_comment_swallowing_the_next_line() -> None:
    text = "# a comment\n   # indented\n# ends in backslash \\\nBogus\nReal x\n"
    assert logical_lines(text) == [(5, "Real x")]


def test_hash_inside_a_line_is_not_a_comment() -> None:
    assert split_args('x # trailing') == ["x", "#", "trailing"]


def test_quotes_group_words_and_escapes() -> None:
    assert split_args('"a b" \'c d\' e') == ["a b", "c d", "e"]
    assert split_args(r'"say \"hi\"" ' + r"'it\'s'") == ['say "hi"', "it's"]
    assert split_args(r'"back\\slash" a\\b a\b') == ["back\\slash", "a\\b", "a\\b"]
    assert split_args('""  x') == ["", "x"]
    # a quote inside an unquoted word is an ordinary character
    assert split_args('a"b c"') == ['a"b', 'c"']


def test_getword_conf_reports_position_and_quoting() -> None:
    w, i, q = getword_conf('  "x y" rest', 0)
    assert (w, q) == ("x y", True)
    assert '  "x y" rest'[i:] == "rest"
    assert getword_conf("   ", 0)[0] == ""


def test_containers_nest_and_close_case_insensitively() -> None:
    nodes = parse_text("<VirtualHost *:80>\n<Directory /a>\nOptions None\n</directory>\n"
                       "</VIRTUALHOST>\n", "f.conf")
    assert len(nodes) == 1
    vh = nodes[0]
    assert (vh.name, vh.args, vh.line) == ("VirtualHost", "*:80", 1)
    d = vh.children[0]  # type: ignore[index]
    assert (d.name, d.args, d.is_container) == ("Directory", "/a", True)
    assert d.children[0].name == "Options"  # type: ignore[index]
    assert not d.children[0].is_container  # type: ignore[index]


def test_container_without_args_and_unclosed_bracket() -> None:
    n = parse_text("<Directory>\n</Directory>\n<Files x\n</Files>\n", "f")
    assert (n[0].name, n[0].args, n[0].unclosed) == ("Directory", "", False)
    assert (n[1].name, n[1].args, n[1].unclosed) == ("Files", "x", True)


@pytest.mark.parametrize("text,line,msg", [
    ("<Directory />\nOptions None\n", 1, "<Directory> was not closed."),
    ("<Directory />\n</Location>\n", 2, "Expected </Directory> but saw </Location>"),
    ("</Directory>\n", 1, "</Directory> without matching <Directory> section"),
    ("<Directory /t>\n</Directory >\n", 2, "</Directory> directive missing closing '>'"),
    ("<Directory /t>\n</Directory foo>\n", 2, "</Directory> directive missing closing '>'"),
    ("<Directory /t>\n</Directory\n", 2, "</Directory> directive missing closing '>'"),
    ("<A>\n<B>\n</B>\n", 1, "<A> was not closed."),
])
def test_build_errors(text: str, line: int, msg: str) -> None:
    with pytest.raises(BuildError) as ei:
        parse_text(text, "/etc/x.conf")
    e = ei.value
    assert (e.line, e.message) == (line, msg)
    assert str(e) == f"featherd: Syntax error on line {line} of /etc/x.conf: {msg}"
