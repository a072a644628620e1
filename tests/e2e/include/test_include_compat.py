"""The same SSI tree served by Debian's apache2 (mod_include, SSILegacyExprParser on: the
2.2 expression syntax) and by featherd, page by page (skipped without apache2).

Two 2.2-vs-2.4 differences are left out of the pages (featherd follows 2.2, and
test_include_elements.py checks its behaviour): 2.2 decodes HTML entities in the values
of echo/set/include/exec/fsize/flastmod (2.4 only with decoding="entity"), and after an
#if whose expression is in error 2.2 goes on printing the block (2.4 does not)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import (  # noqa: E402
    KEY_HEADERS,
    Pair,
    apache_available,
    assert_same,
    req,
)

pytestmark = pytest.mark.skipif(apache_available() is not None,
                                reason=f"apache2 comparison: {apache_available()}")

BODY = """\
TraceEnable Off
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
AddHandler server-parsed .ssi
ScriptAlias /cgi-bin/ "@DOCROOT@/cgi-bin/"
<Directory "@DOCROOT@">
    Options Includes
    AllowOverride None
    SSILegacyExprParser on
</Directory>
<Directory "@DOCROOT@/noexec">
    Options IncludesNOEXEC
</Directory>
<Directory "@DOCROOT@/xbit">
    XBitHack full
</Directory>
<Directory "@DOCROOT@/fmt">
    SSIErrorMsg "<!-- error -->"
    SSIUndefinedEcho "[undef]"
    SSITimeFormat "%Y/%m/%d"
</Directory>
<Directory "@DOCROOT@/off">
    Options None
</Directory>
"""

CONDITIONS = [
    '"$a" = "apple"', "$a = apple", "$a != apple", "$a = 'app le'", "$a < banana",
    "$a <= apple", "$a > apple", "$a >= b", "100 < 20", "$a = /^ap+le$/", "$a != /^b/",
    "$a && $b", "$a && $empty", "$empty || $b", "!$empty", "!($a = apple)",
    "($a = x) || ($b = banana)", "$a = apple && $b = banana", "$a = x || $b = banana",
    "$empty", "''", "apple pie = 'apple pie'", "(($a))", "$a = /^(a)p/ && $1 = a",
    "$nothere = ''", "-A /inc.html", "-A /cgi-bin/", "!", "'unterminated",
]


def _if_page() -> str:
    parts = ['<!--#set var="a" value="apple" --><!--#set var="b" value="banana" -->'
             '<!--#set var="empty" value="" -->\n']
    for i, cond in enumerate(CONDITIONS):
        q = '"' if "'" in cond else "'"
        parts.append(f"{i}:<!--#if expr={q}{cond}{q} -->T<!--#else -->F<!--#endif -->\n")
    return "".join(parts)


FILES: dict[str, str | bytes] = {
    "inc.html": "[included]\n",
    "sub/deep.html": "[deep]",
    "big.bin": b"x" * 123456,
    "small.txt": "12345",
    "zero.txt": "",
    "k1023.txt": "y" * 1023,
    "m5.bin": b"z" * (5 * 1024 * 1024 + 3),
    "echo.shtml": ('[<!--#echo var="DOCUMENT_NAME" -->][<!--#echo var="DOCUMENT_URI" -->]'
                   '[<!--#echo var="QUERY_STRING_UNESCAPED" -->][<!--#echo var="QUERY_STRING" -->]'
                   '[<!--#echo var="nothing" -->][<!--#echo var="query_string" -->]'
                   '[<!--#echo var="USER_NAME" -->]'
                   '<!--#set var="v" value="a b<c>\\"d/e?f" -->'
                   '[<!--#echo encoding="none" var="v" -->][<!--#echo encoding="url" var="v" -->]'
                   '[<!--#echo encoding="entity" var="v" -->][<!--#echo var="v" -->]'
                   '[<!--#echo encoding="bogus" var="v" -->][<!--#echo var="v" bogus="1" -->]'
                   '[<!--#echo -->][<!--#echo var -->]\n'),
    "set.shtml": ('<!--#set var="a" value="one" -->'
                  '<!--#set var="b" value="${a}_two $a \\$a $undefined ${a}${a} $" -->'
                  '[<!--#echo var="b" -->]<!--#set var="c" -->[<!--#echo var="c" -->]'
                  '<!--#set value="x" var="d" -->[<!--#set var="e" value=\'q "x"\' -->'
                  '<!--#echo encoding="none" var="e" -->]\n'),
    "config.shtml": ('<!--#config errmsg="[oops]" --><!--#bogus -->'
                     '[<!--#fsize file="big.bin" -->][<!--#fsize file="small.txt" -->]'
                     '[<!--#fsize file="zero.txt" -->][<!--#fsize file="k1023.txt" -->]'
                     '[<!--#fsize file="m5.bin" -->]<!--#config sizefmt="bytes" -->'
                     '[<!--#fsize file="big.bin" -->][<!--#fsize file="m5.bin" -->]'
                     '[<!--#fsize file="small.txt" -->]<!--#config sizefmt="abbrev" -->'
                     '[<!--#fsize virtual="/big.bin" -->]'
                     '<!--#config timefmt="%Y-%m-%d %H:%M:%S" -->'
                     '[<!--#flastmod file="small.txt" -->][<!--#flastmod virtual="/inc.html" -->]'
                     '[<!--#fsize file="../x" -->][<!--#fsize file="/etc/passwd" -->]'
                     '[<!--#fsize virtual="/nope" -->][<!--#config sizefmt="huge" -->]'
                     '[<!--#config foo="bar" -->]\n'),
    "if.shtml": _if_page(),
    "flow.shtml": ('<!--#set var="v" value="sid=ABC123&x=1" -->'
                   '<!--#if expr="$v = /^sid=([A-Z]+)([0-9]+)/" -->'
                   '[<!--#echo var="1" -->/<!--#echo var="2" -->/<!--#echo var="0" -->]'
                   '<!--#set var="session" value="$1-$2" -->[<!--#echo var="session" -->]'
                   '<!--#endif -->'
                   '<!--#if expr="$v = nope" -->A<!--#elif expr="$v = /x=(\\\\d)/" -->B'
                   '<!--#if expr="1" -->in<!--#else -->notin<!--#endif -->'
                   '<!--#elif expr="1" -->C<!--#else -->D<!--#endif -->'
                   '<!--#if expr="" --><!--#if expr="1" -->hidden<!--#endif -->E'
                   '<!--#elif expr="1" -->F<!--#else -->G<!--#endif -->'
                   '<!--#if expr="1" -->H<!--#elif expr="1" -->I<!--#else -->J<!--#endif -->'
                   '<!--#else foo="1" --><!--#endif bar="2" -->\n'),
    "include.shtml": ('A<!--#include file="inc.html" -->B<!--#include virtual="/inc.html" -->'
                      'C<!--#include virtual="nested.shtml?x=1" -->'
                      'D<!--#include file="sub/deep.html" -->'
                      'E<!--#include virtual="/cgi-bin/q.sh?arg=val" -->'
                      'F<!--#include virtual="/nothing.html" -->'
                      'G<!--#include virtual="/nothing.html" onerror="/inc.html" -->'
                      'H<!--#include file="../etc" -->I<!--#include nope="x" -->'
                      'J<!--#echo var="set_in_nested" -->K\n'),
    "nested.shtml": ('(nested <!--#echo var="DOCUMENT_NAME" --> <!--#echo var="QUERY_STRING" -->'
                     '<!--#set var="set_in_nested" value="yes" -->)'),
    "exec.shtml": ('[<!--#exec cmd="echo $DOCUMENT_NAME; pwd" -->]'
                   '[<!--#exec cgi="/cgi-bin/q.sh" -->][<!--#exec cgi="/cgi-bin/redir.sh" -->]'
                   '[<!--#exec cgi="/cgi-bin/q.sh?x" -->][<!--#exec bogus="1" -->]'
                   '[<!--#exec cmd="echo \'$undefined_var\'" -->]\n'),
    "noexec/page.shtml": ('[<!--#exec cmd="echo hi" -->][<!--#include virtual="/big.bin" -->]'
                          '[<!--#include virtual="/small.txt" -->]\n'),
    "errors.shtml": ('a<!--# echo var="x" -->b<!--#echo "novalue" -->c<!--#printenv x -->d'
                     '<!--#ECHO VAR="DOCUMENT_NAME" -->e<!--#echo var=DOCUMENT_NAME -->f'
                     '<!--#echo var="DOCUMENT_NAME"-->g<!--#comment anything -->h'
                     '<!--#echo var="x"\n'),
    "unclosed.shtml": 'a<!--#if expr="" -->b<!--#echo var="x" -->c\n',
    "plain.shtml": "no directives at all\n",
    "handler.ssi": '[<!--#echo var="DOCUMENT_NAME" -->]\n',
    "xbit/x.html": '[<!--#echo var="DOCUMENT_NAME" -->]\n',
    "fmt/page.shtml": ('[<!--#echo var="undef" -->][<!--#bogus -->]'
                       '[<!--#flastmod file="f.txt" -->]\n'),
    "fmt/f.txt": "f",
    "off/page.shtml": '[<!--#echo var="DOCUMENT_NAME" -->]\n',
    "printenv.shtml": '<!--#set var="zz" value="<&>" --><!--#printenv -->',
    "cgi-bin/q.sh": ('#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
                     'printf "(cgi $QUERY_STRING $SERVER_PROTOCOL $SCRIPT_NAME)"\n'),
    "cgi-bin/redir.sh": '#!/bin/sh\necho "Location: http://example.com/a?b&c"\necho\n',
}


SSI_HEADERS = tuple(h for h in KEY_HEADERS if h != "Content-Length")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair(BODY, FILES)
    for rel in ("cgi-bin/q.sh", "cgi-bin/redir.sh", "xbit/x.html"):
        os.chmod(p.docroot / rel, 0o755)
    os.chmod(p.docroot / "xbit/x.html", 0o754)
    try:
        p.start()
    except RuntimeError as e:
        pytest.fail(f"could not start the pair: {e}")
    yield p
    p.stop()


PAGES = ["/echo.shtml?a=%3Cb%3E&c", "/set.shtml", "/config.shtml", "/if.shtml",
         "/flow.shtml", "/include.shtml", "/exec.shtml?q=1", "/noexec/page.shtml",
         "/errors.shtml", "/unclosed.shtml", "/plain.shtml", "/handler.ssi",
         "/xbit/x.html", "/fmt/page.shtml", "/off/page.shtml"]


@pytest.mark.parametrize("path", PAGES)
def test_include_page_same_as_apache(pair: Pair, path: str) -> None:
    f, a = pair.one(req("GET", path))
    assert a.status == 200, a
    # httpd passes a parsed page on in pieces (chunked), featherd in one piece when it
    # can (Content-Length): the framing is not compared, the rest is
    assert_same(f, a, uri=path, headers=SSI_HEADERS)
    assert (f.header("Last-Modified") is None) == (a.header("Last-Modified") is None)


def test_include_head_same_as_apache(pair: Pair) -> None:
    f, a = pair.one(req("HEAD", "/echo.shtml"), "HEAD")
    assert_same(f, a, uri="/echo.shtml", method="HEAD", headers=SSI_HEADERS)


# variables 2.4 adds (featherd keeps 2.2's list) or whose values are the server's own
_ONLY_24 = {"REQUEST_SCHEME", "CONTEXT_PREFIX", "CONTEXT_DOCUMENT_ROOT", "DOCUMENT_ARGS"}
_OWN = {"SERVER_SOFTWARE", "SERVER_SIGNATURE", "REMOTE_PORT", "PATH", "DATE_LOCAL",
        "DATE_GMT", "SERVER_PORT", "LAST_MODIFIED", "DOCUMENT_ROOT", "SCRIPT_FILENAME",
        "UNIQUE_ID"}


def test_include_printenv_same_variables(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/printenv.shtml?x=%41", "X-Custom: v"))

    def parse(body: bytes) -> dict[str, str]:
        out = {}
        for line in body.decode("latin-1").splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    fv, av = parse(f.body), parse(a.body)
    assert set(fv) - _OWN == set(av) - _OWN - _ONLY_24
    for k in set(fv) - _OWN:
        assert fv[k] == av[k], k
    assert list(fv)[-1] == list(av)[-1] == "zz"
