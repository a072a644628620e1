"""mod_include end to end: real SSI pages, one or more per element and directive
(manual: mod_include; the SSI how-to)."""

from __future__ import annotations

import os
import pwd
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests

PY = sys.executable

BASE = """\
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
<Directory "@ROOT@/htdocs">
    Options Includes
</Directory>
"""


def start(make_server: Any, tmp_path: Path, files: dict[str, str], conf: str = "",
          base: str = BASE, executable: tuple[str, ...] = ()) -> Any:
    srv = make_server(base + conf, files={f"htdocs/{k}": v for k, v in files.items()},
                      start=False)
    for rel in executable:
        os.chmod(tmp_path / "htdocs" / rel, 0o755)
    return srv.start()


def get(srv: Any, path: str, **kw: Any) -> requests.Response:
    r = requests.get(srv.url(path), **kw)
    return r


def wait_log(srv: Any, text: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = srv.error_log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in error log:\n{srv.error_log()}")


ERR = "[an error occurred while processing this directive]"


def test_include_echo_and_include_variables(make_server: Any, tmp_path: Path) -> None:
    page = ("[<!--#echo var=\"DOCUMENT_NAME\" -->]"
            "[<!--#echo var=\"DOCUMENT_URI\" -->]"
            "[<!--#echo var=\"QUERY_STRING_UNESCAPED\" -->]"
            "[<!--#echo var=\"USER_NAME\" -->]"
            "[<!--#config timefmt=\"%Y\" --><!--#echo var=\"DATE_LOCAL\" -->]"
            "[<!--#echo var=\"DATE_GMT\" -->]"
            "[<!--#echo var=\"LAST_MODIFIED\" -->]"
            "[<!--#echo var=\"nope\" -->]"
            "[<!--#echo var=\"query_string\" -->]")
    srv = start(make_server, tmp_path, {"dir/page.shtml": page})
    mtime = 1262304000  # 2010-01-01
    os.utime(tmp_path / "htdocs/dir/page.shtml", (mtime, mtime))
    r = get(srv, "/dir/page.shtml?a=%3Cb%3E&c")
    year = time.strftime("%Y")
    owner = pwd.getpwuid(os.getuid()).pw_name
    assert r.text == (f"[page.shtml][/dir/page.shtml][a=\\&lt;b\\&gt;\\&amp;c][{owner}][{year}]"
                      f"[{year}][2010][(none)][a=%3Cb%3E&amp;c]")
    assert r.headers["Content-Type"] == "text/html"
    for h in ("ETag", "Last-Modified"):
        assert h not in r.headers
    # the file's length is gone; the parsed page, all in hand at once, has its own
    assert r.headers["Content-Length"] == str(len(r.content))


def test_include_echo_encodings(make_server: Any, tmp_path: Path) -> None:
    page = ('<!--#set var="v" value="a b&lt;c&gt;/d" -->'
            '<!--#echo var="v" -->|<!--#echo encoding="none" var="v" -->|'
            '<!--#echo encoding="url" var="v" -->|<!--#echo encoding="entity" var="v" -->|'
            '<!--#echo encoding="urlencoded" var="v" -->|'
            '<!--#echo encoding="bogus" var="v" -->')
    srv = start(make_server, tmp_path, {"e.shtml": page})
    r = get(srv, "/e.shtml")
    assert r.text == ("a b&lt;c&gt;/d|a b<c>/d|a%20b%3cc%3e/d|a b&lt;c&gt;/d|"
                      "a+b%3cc%3e%2fd|" + ERR)
    wait_log(srv, 'unknown value "bogus" to parameter "encoding" of tag echo in ')


def test_include_set_and_substitution(make_server: Any, tmp_path: Path) -> None:
    page = ('<!--#set var="a" value="one" -->'
            '<!--#set var="b" value="${a}_two $a \\$a $undefined" -->'
            '<!--#echo var="b" -->|'
            '<!--#set var="c" -->|<!--#set value="x" var="d" -->|'
            '<!--#set var="e" value=\'single "q"\' --><!--#echo encoding="none" var="e" -->')
    srv = start(make_server, tmp_path, {"s.shtml": page})
    assert get(srv, "/s.shtml").text == (f'one_two one $a |{ERR}|{ERR}|single "q"')
    wait_log(srv, "variable must precede value in set directive in ")
    wait_log(srv, "missing argument for set element in ")


def test_include_config_elements(make_server: Any, tmp_path: Path) -> None:
    page = ('<!--#config errmsg="[oops]" --><!--#bogus -->|'
            '<!--#config sizefmt="bytes" --><!--#fsize file="big.txt" -->|'
            '<!--#config sizefmt="abbrev" --><!--#fsize file="big.txt" -->|'
            '<!--#fsize file="small.txt" -->|'
            '<!--#config timefmt="%d %b %Y" --><!--#flastmod file="small.txt" -->|'
            '<!--#config echomsg="[undef]" --><!--#echo var="zz" -->|'
            '<!--#config sizefmt="huge" -->|<!--#config nonsense="1" -->')
    srv = start(make_server, tmp_path, {"c.shtml": page, "big.txt": "x" * 123456,
                                        "small.txt": "tiny\n"})
    t = 1234567890
    os.utime(tmp_path / "htdocs/small.txt", (t, t))
    assert get(srv, "/c.shtml").text == ("[oops]|123,456|121K|  5 |"
                                         + time.strftime("%d %b %Y", time.localtime(t))
                                         + "|[undef]|[oops]|[oops]")
    wait_log(srv, 'unknown value "huge" to parameter "sizefmt" of tag config in ')
    wait_log(srv, 'unknown parameter "nonsense" to tag config in ')


def test_include_fsize_flastmod_virtual_and_errors(make_server: Any, tmp_path: Path) -> None:
    page = ('<!--#fsize virtual="/sub/f.txt" -->|<!--#fsize virtual="f.txt" -->|'
            '<!--#flastmod virtual="/sub/f.txt" -->|'
            '<!--#fsize file="../top.txt" -->|<!--#fsize file="/etc/passwd" -->|'
            '<!--#fsize virtual="/sub/missing" -->|<!--#fsize bogus="x" -->')
    srv = start(make_server, tmp_path, {"sub/p.shtml": page, "sub/f.txt": "12345678",
                                        "top.txt": "top"},
                'SSITimeFormat "%Y-%m-%d"\n')
    t = 1000000000
    os.utime(tmp_path / "htdocs/sub/f.txt", (t, t))
    day = time.strftime("%Y-%m-%d", time.localtime(t))
    assert get(srv, "/sub/p.shtml").text == f"  8 |  8 |{day}|{ERR}|{ERR}|{ERR}|{ERR}"
    wait_log(srv, 'unable to access file "../top.txt" in parsed file ')
    wait_log(srv, 'unable to get information about "/sub/missing" in parsed file ')
    wait_log(srv, 'unknown parameter "bogus" to tag fsize in ')


def test_include_file_and_virtual(make_server: Any, tmp_path: Path) -> None:
    files = {
        "main.shtml": ('A<!--#include file="part.html" -->B'
                       '<!--#include virtual="/other/nested.shtml?x=1" -->C'
                       '<!--#include virtual="/cgi-bin/q.sh?arg=val" -->D'
                       '<!--#include file="sub/deep.html" -->E'
                       '<!--#include virtual="/nothing" -->F'
                       '<!--#include virtual="/nothing" onerror="/part.html" -->G'
                       '<!--#echo var="from_nested" -->'),
        "part.html": "[part]",
        "sub/deep.html": "[deep]",
        "other/nested.shtml": ('[nested <!--#echo var="DOCUMENT_NAME" --> '
                               '<!--#echo var="QUERY_STRING" -->'
                               '<!--#set var="from_nested" value="set-inside" -->]'),
        "cgi-bin/q.sh": ('#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
                         'printf "[cgi $QUERY_STRING $SERVER_PROTOCOL $DOCUMENT_NAME]"\n'),
    }
    srv = start(make_server, tmp_path, files, executable=("cgi-bin/q.sh",))
    r = get(srv, "/main.shtml")
    assert r.text == ("A[part]B[nested main.shtml x=1]C[cgi arg=val INCLUDED main.shtml]D"
                      f"[deep]E{ERR}F[part]Gset-inside")
    wait_log(srv, 'unable to include "/nothing" in parsed file ')


def test_include_recursion_and_noexec(make_server: Any, tmp_path: Path) -> None:
    files = {
        "self.shtml": 'x<!--#include virtual="/self.shtml" -->y',
        "ne/page.shtml": ('<!--#include virtual="/ne/data.bin" -->|'
                          '<!--#include virtual="/ne/t.txt" -->|'
                          '<!--#exec cmd="echo no" -->|<!--#exec cgi="/cgi-bin/c.sh" -->'),
        "ne/data.bin": "binary",
        "ne/t.txt": "text",
        "cgi-bin/c.sh": '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho c\n',
    }
    srv = start(make_server, tmp_path, files,
                '<Directory "@ROOT@/htdocs/ne">\nOptions IncludesNOEXEC\n</Directory>\n',
                executable=("cgi-bin/c.sh",))
    assert get(srv, "/self.shtml").text == f"x{ERR}y"
    wait_log(srv, 'Recursive include of "/self.shtml" in parsed file ')
    assert get(srv, "/ne/page.shtml").text == f"{ERR}|text|{ERR}|{ERR}"
    wait_log(srv, 'unable to include potential exec "/ne/data.bin" in parsed file ')
    wait_log(srv, "exec used but not allowed in ")


def test_include_exec_cmd_and_cgi(make_server: Any, tmp_path: Path) -> None:
    files = {
        "x/page.shtml": ('[<!--#exec cmd="echo $DOCUMENT_NAME; pwd; echo $QUERY_STRING" -->]'
                         '[<!--#exec cgi="/cgi-bin/env.sh" -->]'
                         '[<!--#exec cgi="/cgi-bin/redir.sh" -->]'
                         '[<!--#exec cgi="/cgi-bin/env.sh?not=allowed" -->]'
                         "[<!--#exec cmd=\"echo '$undefined_var'\" -->]"),
        "cgi-bin/env.sh": ('#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
                           'printf "$QUERY_STRING|$PATH_INFO|$DOCUMENT_URI"\n'),
        "cgi-bin/redir.sh": '#!/bin/sh\necho "Location: http://example.com/a?b&c"\necho\n',
    }
    srv = start(make_server, tmp_path, files,
                '<Directory "@ROOT@/htdocs/x">\nAcceptPathInfo On\n</Directory>\n',
                executable=("cgi-bin/env.sh", "cgi-bin/redir.sh"))
    r = get(srv, "/x/page.shtml/pi?q=1")
    assert r.text == (f"[page.shtml\n{tmp_path}/htdocs/x\nq=1\n]"
                      "[q=1|/pi|/x/page.shtml/pi]"
                      '[<a href="http://example.com/a?b&amp;c">http://example.com/a?b&amp;c</a>]'
                      f"[{ERR}][$undefined_var\n]")
    wait_log(srv, 'invalid CGI ref "/cgi-bin/env.sh?not=allowed" in ')


def test_include_printenv(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"p.shtml": '<!--#set var="zz" value="<&>" -->'
                                                   "<!--#printenv -->"},
                "SetEnv FROM_CONF conf-value\n")
    text = get(srv, "/p.shtml", headers={"X-Test": "hdr"}).text
    lines = text.splitlines()
    assert "FROM_CONF=conf-value" in lines
    assert "HTTP_X_TEST=hdr" in lines
    assert "DOCUMENT_NAME=p.shtml" in lines
    assert "GATEWAY_INTERFACE=CGI/1.1" in lines
    assert "zz=&lt;&amp;&gt;" in lines
    assert lines[-1] == "zz=&lt;&amp;&gt;"


CONDITIONS = [
    ('"$a" = "apple"', True), ('$a = apple', True), ('$a != apple', False),
    ("$a = 'app le'", False), ('$a < banana', True), ('$a <= apple', True),
    ('$a > apple', False), ('$a >= b', False), ('"100" < "20"', True),
    ('$a = /^ap+le$/', True), ('$a != /^b/', True), ('$a = /^(a)(p+)(l)(x)?/', True),
    ('$a && $b', True), ('$a && $empty', False), ('$empty || $b', True),
    ('!$empty', True), ('!($a = apple)', False), ('($a = x) || ($b = banana)', True),
    ('$a = apple && $b = banana', True), ('$a = x || $b = banana && $a = apple', True),
    ('$empty', False), ("''", False), ('""', True), ("apple pie = 'apple pie'", True), ('apple pie = "apple pie"', False),
    ('-A /open.html', True), ('-A /closed/x.html', False),
]


def test_include_if_expressions(make_server: Any, tmp_path: Path) -> None:
    parts = ['<!--#set var="a" value="apple" --><!--#set var="b" value="banana" -->'
             '<!--#set var="empty" value="" -->']
    for i, (cond, _) in enumerate(CONDITIONS):
        q = '"' if "'" in cond else "'"
        parts.append(f"<!--#if expr={q}{cond}{q} -->{i}T<!--#else -->{i}F<!--#endif -->,")
    srv = start(make_server, tmp_path, {"if.shtml": "".join(parts), "open.html": "o",
                                        "closed/x.html": "c"},
                '<Directory "@ROOT@/htdocs/closed">\nOrder deny,allow\nDeny from all\n'
                "</Directory>\n")
    got = get(srv, "/if.shtml").text.rstrip(",").split(",")
    want = [f"{i}{'T' if v else 'F'}" for i, (_, v) in enumerate(CONDITIONS)]
    assert got == want


def test_include_elif_nesting_and_backrefs(make_server: Any, tmp_path: Path) -> None:
    page = ('<!--#set var="v" value="sid=ABC123&x=1" -->'
            '<!--#if expr="$v = /^sid=([A-Z]+)([0-9]+)/" -->'
            'id=<!--#echo var="1" -->/<!--#echo var="2" -->/<!--#echo var="0" -->'
            '<!--#set var="session" value="$1-$2" --><!--#echo var="session" -->'
            '<!--#endif -->|'
            '<!--#if expr="$v = nope" -->A<!--#elif expr="$v = /x=(\\d)/" -->B'
            '<!--#elif expr="$v = /x=(\\\\d)/" -->B2'
            '<!--#if expr="1" -->in<!--#else -->notin<!--#endif -->'
            '<!--#elif expr="1" -->C<!--#else -->D<!--#endif -->|'
            '<!--#if expr="" --><!--#if expr="1" -->hidden<!--#endif -->E'
            '<!--#else -->F<!--#endif -->|'
            '<!--#echo var="5" -->')
    srv = start(make_server, tmp_path, {"b.shtml": page})
    assert get(srv, "/b.shtml").text == "id=ABC/123/sid=ABC123ABC-123|B2in|F|(none)"
    wait_log(srv, "regex capture $5 is out of range (last regex was: 'x=(\\d)')")


def test_include_expression_errors(make_server: Any, tmp_path: Path) -> None:
    page = ('<!--#if expr="(a" -->1<!--#endif -->|'
            '<!--#if expr="a)" -->2<!--#endif -->|'
            '<!--#if expr="= a" -->3<!--#endif -->|'
            '<!--#if expr="/re/" -->4<!--#endif -->|'
            '<!--#if foo="x" -->5<!--#endif -->|'
            '<!--#if -->6<!--#endif -->|'
            '<!--#else foo="x" -->')
    srv = start(make_server, tmp_path, {"x.shtml": page})
    assert get(srv, "/x.shtml").text == f"{ERR}1|{ERR}2|{ERR}3|{ERR}4|{ERR}5|{ERR}6|{ERR}"
    wait_log(srv, "Unmatched '(' in \"(a\" in file ")
    wait_log(srv, "Unmatched ')' in \"a)\" in file ")
    wait_log(srv, 'Invalid expression "= a" in file ')
    wait_log(srv, 'Invalid expression "/re/" in file ')
    wait_log(srv, 'unknown parameter "foo" to tag if in ')
    wait_log(srv, "missing expr argument for if element in ")
    wait_log(srv, "else directive does not take tags in ")


def test_include_parse_errors_and_comment(make_server: Any, tmp_path: Path) -> None:
    page = ('a<!--#comment this is dropped -->b<!--# echo var="x" -->c'
            '<!--#echo "novalue" -->d<!--#printenv-->e<!--#if expr="" -->'
            'hidden<!--#echo var="DOCUMENT_NAME"')
    srv = start(make_server, tmp_path, {"e.shtml": page})
    text = get(srv, "/e.shtml").text
    assert text.startswith(f"ab{ERR}c{ERR}d")
    assert text.endswith("e")                       # the open if hides the rest
    wait_log(srv, "missing directive name in parsed document ")
    wait_log(srv, "missing argument name for value to tag echo in ")
    wait_log(srv, "SSI directive was not properly finished at the end of parsed document")
    wait_log(srv, "missing closing endif directive in parsed document ")


def test_include_directives_tags_and_messages(make_server: Any, tmp_path: Path) -> None:
    page = ('<%echo var="DOCUMENT_NAME" %>|<!--#echo var="DOCUMENT_NAME" -->|'
            '<%echo var="missing" %>|<%bogus %>|<%echo var="DATE_GMT" %>')
    srv = start(make_server, tmp_path, {"t.shtml": page},
                'SSIStartTag "<%"\nSSIEndTag "%>"\nSSIErrorMsg "<!-- err -->"\n'
                'SSIUndefinedEcho "<!-- undef -->"\nSSITimeFormat "%Y"\n')
    assert get(srv, "/t.shtml").text == ('t.shtml|<!--#echo var="DOCUMENT_NAME" -->|'
                                         "<!-- undef -->|<!-- err -->|"
                                         + time.strftime("%Y", time.gmtime()))


def test_include_etag_and_last_modified_directives(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"keep/p.shtml": "k<!--#echo var=\"x\" -->",
                                        "drop/p.shtml": "d"},
                '<Directory "@ROOT@/htdocs/keep">\nSSIETag on\nSSILastModified on\n'
                "</Directory>\n")
    r = get(srv, "/keep/p.shtml")
    assert "ETag" in r.headers and "Last-Modified" in r.headers
    lm = r.headers["Last-Modified"]
    r2 = get(srv, "/keep/p.shtml", headers={"If-Modified-Since": lm})
    assert r2.status_code == 304
    r = get(srv, "/drop/p.shtml")
    assert "ETag" not in r.headers and "Last-Modified" not in r.headers
    assert get(srv, "/drop/p.shtml", headers={
        "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}).status_code == 200


def test_include_xbithack(make_server: Any, tmp_path: Path) -> None:
    files = {"on/x.html": 'on:<!--#echo var="DOCUMENT_NAME" -->',
             "on/plain.html": 'plain:<!--#echo var="DOCUMENT_NAME" -->',
             "full/g.html": 'g:<!--#echo var="DOCUMENT_NAME" -->',
             "full/u.html": 'u:<!--#echo var="DOCUMENT_NAME" -->',
             "off/x.html": 'off:<!--#echo var="DOCUMENT_NAME" -->'}
    base = ('<Directory "@ROOT@/htdocs">\nOptions Includes\n</Directory>\n'
            '<Directory "@ROOT@/htdocs/on">\nXBitHack on\n</Directory>\n'
            '<Directory "@ROOT@/htdocs/full">\nXBitHack full\n</Directory>\n')
    srv = make_server(base, files={f"htdocs/{k}": v for k, v in files.items()}, start=False)
    for rel, mode in (("on/x.html", 0o744), ("full/g.html", 0o754), ("full/u.html", 0o744),
                      ("off/x.html", 0o755)):
        os.chmod(tmp_path / "htdocs" / rel, mode)
    srv.start()
    assert get(srv, "/on/x.html").text == "on:x.html"
    assert get(srv, "/on/plain.html").text == 'plain:<!--#echo var="DOCUMENT_NAME" -->'
    assert get(srv, "/off/x.html").text == 'off:<!--#echo var="DOCUMENT_NAME" -->'
    r = get(srv, "/full/g.html")
    assert r.text == "g:g.html"
    mtime = (tmp_path / "htdocs/full/g.html").stat().st_mtime
    assert parsedate_to_datetime(r.headers["Last-Modified"]).timestamp() == int(mtime)
    r = get(srv, "/full/u.html")
    assert r.text == "u:u.html" and "Last-Modified" not in r.headers


def test_include_server_parsed_handler_and_magic_type(make_server: Any, tmp_path: Path
                                                      ) -> None:
    files = {"a.ssi": '<!--#echo var="DOCUMENT_NAME" -->',
             "b.xssi": '<!--#echo var="DOCUMENT_NAME" -->'}
    base = ("AddHandler server-parsed .ssi\nAddType text/x-server-parsed-html .xssi\n"
            '<Directory "@ROOT@/htdocs">\nOptions Includes\n</Directory>\n')
    srv = start(make_server, tmp_path, files, base=base)
    r = get(srv, "/a.ssi")
    assert r.text == "a.ssi" and r.headers["Content-Type"] == "text/html"
    r = get(srv, "/b.xssi")
    assert r.text == "b.xssi" and r.headers["Content-Type"] == "text/html"


def test_include_needs_options_includes(make_server: Any, tmp_path: Path) -> None:
    base = ("AddType text/html .shtml\nAddOutputFilter INCLUDES .shtml\n"
            '<Directory "@ROOT@/htdocs">\nOptions -Includes -IncludesNOEXEC\n</Directory>\n')
    srv = start(make_server, tmp_path, {"n.shtml": "<!--#echo var=\"x\" -->"}, base=base)
    r = get(srv, "/n.shtml")
    assert r.text == '<!--#echo var="x" -->'
    assert r.headers["Content-Length"] == str(len(r.text))
    wait_log(srv, "mod_include: Options +Includes (or IncludesNoExec) wasn't set, "
                  "INCLUDES filter removed")


def test_include_filters_streamed_cgi_output(make_server: Any, tmp_path: Path) -> None:
    # a CGI whose output is parsed, written a few bytes at a time: tags, arguments and
    # end tags all cross the pieces the filter sees
    script = f"""#!{PY}
import sys, time
sys.stdout.write("Content-Type: text/html\\n\\n")
sys.stdout.flush()
doc = 'one <!--#echo var="DOCUMENT_NAME" --> two <!--#include virtual="/part.html" --> ' \\
      '<!--#set var="k" value="v v" --><!--#echo var="k" --> <!-- plain comment --> end'
for i in range(0, len(doc), 3):
    sys.stdout.write(doc[i:i + 3])
    sys.stdout.flush()
    time.sleep(0.005)
"""
    srv = start(make_server, tmp_path, {"cgi-bin/ssi.py": script, "part.html": "[part]"},
                '<Location /cgi-bin>\nSetOutputFilter INCLUDES\n</Location>\n'
                '<Directory "@ROOT@/htdocs/cgi-bin">\nOptions Includes\n</Directory>\n',
                executable=("cgi-bin/ssi.py",))
    assert get(srv, "/cgi-bin/ssi.py").text == \
        "one ssi.py two [part] v v <!-- plain comment --> end"


def test_include_directory_index_shtml(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"d/index.shtml": '<!--#echo var="DOCUMENT_URI" -->'},
                "DirectoryIndex index.shtml\n")
    assert get(srv, "/d/").text == "/d/index.shtml"


def test_include_subrequests_are_get(make_server: Any, tmp_path: Path) -> None:
    files = {"p.shtml": '[<!--#include virtual="/cgi-bin/m.sh" -->]'
                        '[<!--#exec cgi="/cgi-bin/m.sh" -->]',
             "cgi-bin/m.sh": '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
                             'printf "$REQUEST_METHOD $SERVER_PROTOCOL"\n'}
    srv = start(make_server, tmp_path, files, executable=("cgi-bin/m.sh",))
    r = requests.post(srv.url("/p.shtml"), data=b"body")
    assert r.text == "[GET INCLUDED][GET INCLUDED]"
