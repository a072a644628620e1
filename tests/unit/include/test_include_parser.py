"""The SSI tag scanner (mod_include's send_parsed_content states), fed whole and in
pieces of every size."""

from __future__ import annotations

from typing import Any

import pytest

from featherd.modules.filters.include.parser import (
    TAG_START,
    UNFINISHED,
    SSIParser,
    Tag,
)


def run(doc: bytes, sizes: int | None = None, start: bytes = b"<!--#",
        end: bytes = b"-->") -> list[Any]:
    p = SSIParser(start, end)
    evs: list[Any] = []
    if sizes is None:
        evs += p.feed(doc)
    else:
        for i in range(0, len(doc), sizes):
            evs += p.feed(doc[i:i + sizes])
    evs += p.finish()
    # merge adjacent text, drop start markers: what the document means
    out: list[Any] = []
    for e in evs:
        if e is TAG_START:
            continue
        if isinstance(e, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += e
        elif isinstance(e, bytes):
            if e:
                out.append(e)
        else:
            out.append(e)
    return out


def tag(name: str, *args: tuple[str | None, str | None]) -> Tag:
    return Tag(name, list(args))


def same_tag(a: Any, b: Tag) -> bool:
    return isinstance(a, Tag) and a.name == b.name and a.args == b.args


DOCS = [
    b'a<!--#echo var="x" -->b',
    b'<!--#printenv-->',
    b'x<!--#set var="a b" value=\'c "d"\' -->y',
    b'<!--#ECHO VAR=`q` encoding="none"   -->',
    b'<!--#include virtual="/x" file=\'y\' -->tail',
    b'text <!-- plain comment --> <!--# --> <!--#if expr="$a = /x/" -->',
    b'<!--#echo var=unq -->',
    b'<!--#config errmsg="say \\"hi\\"" -->',
    b"<!<!--#echo var=\"a\" --><!-<!--#echo var=\"b\" -->--#",
    b'<!--#set var="v" value="a\\b" -->',
    b'<!--#echo var="x"-->-->',
]


@pytest.mark.parametrize("doc", DOCS)
def test_parser_same_result_for_any_piece_size(doc: bytes) -> None:
    whole = run(doc)
    for size in range(1, len(doc) + 1):
        got = run(doc, size)
        assert len(got) == len(whole), (size, got, whole)
        for g, w in zip(got, whole, strict=True):
            if isinstance(w, Tag):
                assert isinstance(g, Tag) and (g.name, g.args, g.errors) == \
                    (w.name, w.args, w.errors), size
            else:
                assert g == w, size


def test_parser_elements_and_arguments() -> None:
    evs = run(DOCS[0])
    assert evs[0] == b"a" and evs[2] == b"b"
    assert same_tag(evs[1], tag("echo", ("var", "x")))
    assert same_tag(run(DOCS[1])[0], tag("printenv"))
    evs = run(DOCS[2])
    assert same_tag(evs[1], tag("set", ("var", "a b"), ("value", 'c "d"')))
    # names are lower-cased, values kept; three kinds of quotes
    assert same_tag(run(DOCS[3])[0], tag("echo", ("var", "q"), ("encoding", "none")))
    assert same_tag(run(DOCS[6])[0], tag("echo", ("var", "unq")))
    # a backslash before the quote escapes it; elsewhere it stays
    assert same_tag(run(DOCS[7])[0], tag("config", ("errmsg", 'say "hi"')))
    assert same_tag(run(DOCS[9])[0], tag("set", ("var", "v"), ("value", "a\\b")))


def test_parser_errors_and_odd_forms() -> None:
    evs = run(DOCS[5])
    assert evs[0] == b"text <!-- plain comment --> "
    empty = evs[1]
    assert isinstance(empty, Tag) and empty.name == "" and empty.errors
    evs = run(b'<!--#echo "v" --><!--#echo =v --><!--#echo var -->')
    assert evs[0].errors and evs[0].args == [(None, "v")]
    assert evs[1].errors
    assert evs[2].args == [("var", None)] and not evs[2].errors
    # an unquoted value runs to white space, past the end tag
    evs = run(b"<!--#echo var=x-->y -->z")
    assert same_tag(evs[0], tag("echo", ("var", "x-->y"))) and evs[1] == b"z"
    # false starts of the start tag are text
    evs = run(DOCS[8])
    assert evs[0] == b"<!" and evs[2] == b"<!-" and evs[-1] == b"--#"


def test_parser_unfinished_and_partial_start() -> None:
    assert run(b'a<!--#echo var="x"')[-1] is UNFINISHED
    assert run(b"a<!--")[-1] == b"a<!--"
    assert run(b"a<!--#")[-1] is UNFINISHED


def test_parser_custom_tags() -> None:
    evs = run(b'<%echo var="a" %><!--#echo var="b" -->', start=b"<%", end=b"%>")
    assert same_tag(evs[0], tag("echo", ("var", "a")))
    assert evs[1] == b'<!--#echo var="b" -->'
    # a start tag that repeats its own first character
    evs = run(b"---->x --> y", 3, start=b"--->", end=b"-->")
    assert evs[0] == b"-" and same_tag(evs[1], tag("x")) and evs[2] == b" y"


def test_parser_large_text_is_passed_through_quickly() -> None:
    p = SSIParser()
    big = b"x" * 1_000_000
    evs = p.feed(big)
    assert evs == [big]
    assert p.feed(b"<!-") == []            # held back: maybe a start tag
    assert p.feed(b"z") == [b"<!-z"]


@pytest.mark.parametrize("body", [
    b'echo var="x" ', b"printenv ", b'Set Var="A"  value="b c"\t', b'if expr="$a = /x/" ',
    b'include virtual="/a?b=c" file="d" ', b'echo var="" ',
])
def test_parser_fast_path_matches_the_state_machine(body: bytes) -> None:
    from featherd.modules.filters.include.parser import parse_tag

    buf = body + b"-->rest"
    p = SSIParser()
    m = p.fast.match(buf, 0)
    assert m is not None
    slow = parse_tag(buf, 0, b"-->")
    assert slow is not None
    pos, t = slow
    evs = p.feed(b"<!--#" + buf)
    fast = evs[1]
    assert isinstance(fast, Tag)
    assert (fast.name, fast.args, fast.errors) == (t.name, t.args, t.errors)
    assert pos == m.end() and evs[2] == b"rest"
