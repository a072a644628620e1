"""ap_expr evaluation (featherd.core.expr): each operator, function and variable family
of expr.html, on a request-like object (no sockets)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.expr import FLAG_STRING_RESULT, ExprEvalError, parse, register
from featherd.http.headers import Headers


def fake_request(**kw: Any) -> Any:
    conn = SimpleNamespace(client_ip=kw.pop("ip", "192.168.1.20"), client_port=40000,
                           remote_host=None, remote_logname="ident", notes={}, is_tls=False,
                           id=7)
    r = SimpleNamespace(
        connection=conn, server=SimpleNamespace(server_admin="admin@x", server_scheme=None),
        tree=None, method="GET", protocol="HTTP/1.1", uri="/dir/page.html", args="a=1&b=2",
        path_info="/extra", filename="/srv/www/dir/page.html", the_request="GET /x HTTP/1.1",
        headers_in=Headers(kw.pop("headers", [])), headers_out=Headers(),
        err_headers_out=Headers(), subprocess_env={}, notes={}, user=None,
        ap_auth_type=None, content_type="text/html", handler="default-handler",
        status=200, main=None, log_id="abc", finfo=None, mtime=0.0)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def ev(text: str, r: Any = None, **kw: Any) -> bool:
    return parse(text).exec(r if r is not None else fake_request(**kw))


def s(text: str, r: Any = None) -> str:
    """A string expression (FLAG_STRING_RESULT): interpolation of %{...} and $N."""
    return parse(text, FLAG_STRING_RESULT).exec_string(r if r is not None else fake_request())


# --- boolean operators ----------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("true", True), ("false", False), ("!true", False), ("!!true", True),
    ("true && false", False), ("true && true", True), ("false || true", True),
    ("false || false", False), ("false and true or true", True),
    ("!false && false", False),                 # ! binds tighter than &&
    ("true || true && false", True),            # && binds tighter than ||
    ("(true || true) && false", False), ("not (1 == 1)", False),
])
def test_boolean_operators(text: str, want: bool) -> None:
    assert ev(text) is want


def test_and_or_short_circuit() -> None:
    # file() of a missing file fails the evaluation, but only when it is reached
    assert ev("true || file('/nonexistent/x') == ''")
    assert not ev("false && file('/nonexistent/x') == ''")
    with pytest.raises(ExprEvalError, match="^Unable to open file /nonexistent/x$"):
        ev("false || file('/nonexistent/x') == ''")


# --- comparisons ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("'abc' == 'abc'", True), ("'abc' = 'abd'", False), ("'a' != 'b'", True),
    ("'10' < '9'", True),                       # strings compare by bytes
    ("'b' <= 'a'", False), ("'b' > 'a'", True), ("'a' >= 'a'", True),
    ("10 -gt 9", True),                         # integers compare as numbers
    ("10 gt 9", True), ("'010' -eq 10", True), ("' 7' -eq 7", True), ("'7x' -eq 7", True),
    ("'x' -eq 0", True), ("-5 -lt 3", True), ("3 -le 3", True), ("4 -ge 5", False),
    ("1 -ne 2", True), ("2 ne 2", False), ("99999999999999999999 -eq 9223372036854775807",
                                           True),
    ("'a' . 'b' == 'ab'", True), ("1.2 == 12", True),
])
def test_comparisons(text: str, want: bool) -> None:
    assert ev(text) is want


def test_in_lists() -> None:
    r = fake_request(headers=[("X-A", "bar")])
    assert ev("%{HTTP:X-A} in { 'foo', 'bar', 'baz' }", r)
    assert ev("%{HTTP:X-A} -in {'b' . 'ar'}", r)
    assert not ev("%{HTTP:X-A} -in {'foo', %{REQUEST_METHOD}}", r)
    assert ev("%{REQUEST_METHOD} -in {'foo', %{REQUEST_METHOD}}", r)
    register("list", "Words", lambda ctx, arg: arg.split())
    assert ev("'b' -in Words('a b c')", r)
    assert not ev("'d' -in Words('a b c')", r)
    assert not ev("'a' -in PeerExtList('1.2.3')", r)      # no TLS: an empty list


# --- regexes and back-references ----------------------------------------------------------------
def test_regex_match_and_captures() -> None:
    r = fake_request(headers=[("X-User", "alice@example")])
    assert ev("%{HTTP:X-User} =~ /^(\\w+)@(\\w+)$/ && $1 == 'alice' && $2 == 'example'", r)
    assert ev("%{HTTP:X-User} =~ /^(\\w+)@/ && $0 == 'alice@'", r)
    assert ev("%{HTTP:X-User} =~ /ALICE/i", r)
    assert not ev("%{HTTP:X-User} =~ /ALICE/", r)
    assert ev("%{HTTP:X-User} !~ m#bob#", r)
    assert ev("%{HTTP:X-User} =~ /^(a)(x)?/ && $2 == '' && $9 == ''", r)
    # captures interpolate into strings, and a failed match with groups clears them
    assert ev("%{HTTP:X-User} =~ /@(.*)/ && 'x-$1' == 'x-example'", r)
    assert ev("%{HTTP:X-User} =~ /@(.*)/ && ('z' =~ /(q)/ || $1 == '')", r)
    # a regex without groups keeps the earlier captures
    assert ev("%{HTTP:X-User} =~ /@(.*)/ && 'z' =~ /z/ && $1 == 'example'", r)
    assert ev("$1 == ''", r)                  # nothing matched yet


# --- unary operators ------------------------------------------------------------------------------
def test_string_tests() -> None:
    assert ev("-n 'x'") and not ev("-n ''")
    assert ev("-z ''") and not ev("-z 'x'")
    for v, want in (("", False), ("0", False), ("off", False), ("OFF", False), ("no", False),
                    ("False", False), ("00", True), ("on", True), ("yes", True), ("x", True)):
        assert ev(f"-T '{v}'") is want, v


def test_file_tests(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("data")
    empty = tmp_path / "empty"
    empty.write_text("")
    link = tmp_path / "link"
    link.symlink_to(f)
    exe = tmp_path / "exe"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert ev(f"-d '{tmp_path}'") and not ev(f"-d '{f}'")
    assert ev(f"-e '{f}'") and ev(f"-e '{tmp_path}'") and not ev(f"-e '{tmp_path}/none'")
    assert ev(f"-f '{f}'") and not ev(f"-f '{tmp_path}'") and ev(f"-f '{link}'")
    assert ev(f"-s '{f}'") and not ev(f"-s '{empty}'")
    assert ev(f"-L '{link}'") and ev(f"-h '{link}'") and not ev(f"-L '{f}'")
    assert ev(f"-x '{exe}'") and not ev(f"-x '{f}'")


def test_remote_ip_and_ipmatch() -> None:
    r = fake_request(ip="192.168.1.20")
    assert ev("-R '192.168.1.0/24'", r)
    assert ev("-R '192.168'", r)                     # a partial address is a prefix
    assert ev("-R '192.168.1.0/255.255.255.0'", r)
    assert not ev("-R '10.0.0.0/8'", r)
    assert ev("%{REMOTE_ADDR} -ipmatch '192.168.1.20'", r)
    assert ev("'10.1.2.3' -ipmatch '10.0.0.0/8'", r)
    assert not ev("'not-an-ip' -ipmatch '10.0.0.0/8'", r)
    assert ev("-R '::1'", fake_request(ip="::1"))
    assert not ev("-R '127.0.0.1'", fake_request(ip="::1"))


def test_wildcard_matches() -> None:
    assert ev("'/a/b.html' -strmatch '/a/*.html'")
    assert ev("'/a/b/c.html' -strmatch '/a/*.html'")      # * crosses '/'
    assert not ev("'/a/b/c.html' -fnmatch '/a/*.html'")   # but not with -fnmatch
    assert ev("'/a/b.html' -fnmatch '/a/?.htm[lx]'")
    assert ev("'ABC' -strcmatch 'a?c'") and not ev("'ABC' -strmatch 'a?c'")
    assert ev("'a*' -strmatch 'a\\\\*'") and not ev("'ab' -strmatch 'a\\\\*'")
    assert ev("'x' -strmatch '[!a-c]'") and not ev("'b' -strmatch '[^a-c]'")


def test_subrequest_tests_need_aexec() -> None:
    e = parse("-U '/other'")
    assert e.needs_subreq
    with pytest.raises(ExprEvalError):
        e.exec(fake_request())

    calls: list[tuple[str, str]] = []

    async def fake(r: Any, kind: str, arg: str) -> bool:
        calls.append((kind, arg))
        return arg == "/ok"

    import featherd.core.expr as m
    orig = m._subreq_test
    m._subreq_test = fake  # type: ignore[assignment]
    try:
        r = fake_request()
        assert asyncio.run(parse("-U '/ok' && -A '/ok'").aexec(r))
        assert not asyncio.run(parse("-F '/ko'").aexec(r))
        assert asyncio.run(parse("-U '/ko' || -U '/ok'").aexec(r))
        # the sub-request of a sub-request for the same URI is not run again
        sub = fake_request(uri="/ok", main=fake_request(uri="/ok"))
        assert not asyncio.run(parse("-U '/ok'").aexec(sub))
    finally:
        m._subreq_test = orig  # type: ignore[assignment]
    assert ("U", "/ok") in calls and ("F", "/ko") in calls


# --- functions ------------------------------------------------------------------------------------
def test_string_functions() -> None:
    r = fake_request(headers=[("X-A", "Hello World"), ("Host", "h.example")])
    assert ev("tolower(%{HTTP:X-A}) == 'hello world'", r)
    assert ev("toupper('aé') == 'Aé'", r)
    assert ev("TOUPPER('ab') == 'AB'", r)                 # names are case-insensitive
    assert s("%{escape:a b/c?d%e#f:g;h[i]}") == "a%20b/c%3fd%25e%23f:g;h%5bi%5d"
    assert s("%{unescape:a%20b%2Fc}") == "a b%2Fc"        # %2F stays encoded
    assert s("%{unescape:bad%zz}") == "" and s("%{unescape:nul%00}") == ""
    assert s("%{base64:hello}") == base64.b64encode(b"hello").decode()
    assert s("%{unbase64:aGVsbG8=}") == "hello"
    assert s("%{unbase64:aGVsbG8}") == "hello"            # no padding needed
    assert s("%{unbase64:aGV*sbG8}") == "he"              # stops at a foreign character
    assert s("%{md5:foo}") == hashlib.md5(b"foo").hexdigest()
    assert ev("md5('foo') == 'acbd18db4cc2f85cedef654fccc4a4d8'")
    assert s("%{sha1:foo}") == hashlib.sha1(b"foo").hexdigest()
    assert s("%{ldap:a*(b)\\c #+,;<=>}") == "a\\2a\\28b\\29\\5cc #\\2b\\2c\\3b\\3c=\\3e"


def test_table_functions() -> None:
    r = fake_request(headers=[("X-A", "in"), ("Host", "h")])
    r.headers_out.set("X-Out", "out")
    r.err_headers_out.set("X-Err", "err")
    r.subprocess_env["E1"] = "env1"
    r.notes["N1"] = "note1"
    r.notes["BOTH"] = "from-note"
    r.subprocess_env["BOTH"] = "from-env"
    os.environ["FEATHERD_EXPR_TEST"] = "os1"
    try:
        assert s("%{req:x-a}|%{http:X-A}|%{req_novary:X-A}|%{HTTP:X-A}", r) == "in|in|in|in"
        assert s("%{resp:X-Out}|%{resp:X-Err}|%{resp:none}", r) == "out|err|"
        assert s("%{reqenv:E1}|%{note:N1}|%{osenv:FEATHERD_EXPR_TEST}", r) == "env1|note1|os1"
        assert s("%{env:BOTH}|%{env:E1}|%{env:FEATHERD_EXPR_TEST}|%{ENV:none}", r) == \
            "from-note|env1|os1|"
        assert ev("reqenv('E1') == 'env1' && note('N1') == 'note1'", r)
        assert ev("env('BOTH') == 'from-note'", r)
    finally:
        del os.environ["FEATHERD_EXPR_TEST"]


def test_vary_collects_request_headers() -> None:
    r = fake_request(headers=[("X-A", "1"), ("Host", "h"), ("User-Agent", "ua")])
    vary: list[str] = []
    parse("req('X-A') == '1' && %{HTTP_HOST} == 'h' && %{HTTP_USER_AGENT} == 'ua' "
          "&& req_novary('X-B') == '' && req('host') == 'h'").exec(r, vary)
    assert vary == ["X-A", "User-Agent"]                 # never Host, nor req_novary


def test_file_functions(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("line\n")
    assert s(f"%{{file:{f}}}") == "line\n"
    assert s(f"%{{filesize:{f}}}") == "5"
    assert s(f"%{{filesize:{tmp_path}}}") == "0"          # not a regular file
    assert s(f"%{{filesize:{tmp_path}/none}}") == "0"
    os.utime(f, (1_000_000_000, 1_000_000_000))
    assert s(f"%{{filemod:{f}}}") == "1000000000"
    assert s(f"%{{filemod:{tmp_path}/none}}") == "0"
    with pytest.raises(ExprEvalError, match="Unable to open file"):
        s(f"%{{file:{tmp_path}/none}}")


# --- variables ------------------------------------------------------------------------------------
def test_request_variables() -> None:
    r = fake_request(headers=[("User-Agent", "ua"), ("Referer", "ref"), ("Cookie", "c=1"),
                              ("Host", "h"), ("Accept", "*/*"), ("Forwarded", "fw"),
                              ("Proxy-Connection", "pc")], user="bob", ap_auth_type="Basic",
                     ip="10.9.8.7", status=404)
    assert s("%{HTTP_USER_AGENT}|%{HTTP_REFERER}|%{HTTP_COOKIE}|%{HTTP_HOST}|%{HTTP_ACCEPT}"
             "|%{HTTP_FORWARDED}|%{HTTP_PROXY_CONNECTION}", r) == "ua|ref|c=1|h|*/*|fw|pc"
    assert s("%{REQUEST_METHOD} %{REQUEST_URI} %{DOCUMENT_URI} %{QUERY_STRING}", r) == \
        "GET /dir/page.html /dir/page.html a=1&b=2"
    assert s("%{REQUEST_FILENAME}|%{SCRIPT_FILENAME}|%{PATH_INFO}", r) == \
        "/srv/www/dir/page.html|/srv/www/dir/page.html|/extra"
    assert s("%{REMOTE_ADDR}|%{REMOTE_PORT}|%{REMOTE_HOST}|%{REMOTE_IDENT}", r) == \
        "10.9.8.7|40000|10.9.8.7|ident"
    assert s("%{REMOTE_USER}|%{AUTH_TYPE}|%{THE_REQUEST}|%{SERVER_PROTOCOL}", r) == \
        "bob|Basic|GET /x HTTP/1.1|HTTP/1.1"
    assert s("%{CONTENT_TYPE}|%{HANDLER}|%{REQUEST_STATUS}|%{IS_SUBREQ}", r) == \
        "text/html|default-handler|404|false"
    assert s("%{SERVER_ADMIN}|%{REQUEST_SCHEME}|%{HTTPS}|%{IPV6}|%{HTTP2}", r) == \
        "admin@x|http|off|off|off"
    assert s("%{REQUEST_LOG_ID}|%{CONN_REMOTE_ADDR}|%{CONTEXT_PREFIX}", r) == \
        "abc|10.9.8.7|"
    assert s("%{IPV6}", fake_request(ip="::1")) == "on"
    assert s("%{IS_SUBREQ}", fake_request(main=r)) == "true"
    assert s("%{request_uri}", r) == "/dir/page.html"     # names are case-insensitive


def test_script_owner_and_last_modified(tmp_path: Path) -> None:
    import grp
    import pwd
    f = tmp_path / "f"
    f.write_text("x")
    st = f.stat()
    r = fake_request(finfo=st, mtime=st.st_mtime)
    assert s("%{SCRIPT_USER}:%{SCRIPT_GROUP}", r) == \
        f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"
    assert s("%{LAST_MODIFIED}", r) == time.strftime("%Y%m%d%H%M%S",
                                                      time.localtime(st.st_mtime))


def test_time_and_misc_variables() -> None:
    before = time.localtime()
    got = s("%{TIME_YEAR}-%{TIME_MON}-%{TIME_DAY} %{TIME_HOUR}:%{TIME_MIN}:%{TIME_SEC} "
            "%{TIME_WDAY} %{TIME}")
    assert got.startswith(f"{before.tm_year:04d}-{before.tm_mon:02d}-")
    wday = got.split()[2]
    assert wday in {str((before.tm_wday + 1) % 7), str((before.tm_wday + 2) % 7)}
    assert len(got.split()[3]) == 14
    assert ev("%{TIME_HOUR} -ge 0 && %{TIME_HOUR} -lt 24")
    assert s("%{API_VERSION}") == "20051115"


def test_registered_extensions() -> None:
    register("var", "MY_VAR", lambda ctx: "mine")
    register("func", "twice", lambda ctx, a: a + a)
    register("unary", "Q", lambda ctx, a: a == "q")
    register("binary", "startswith", lambda ctx, a, b: a.startswith(b))
    assert ev("%{my_var} == 'mine' && twice('ab') == 'abab' && -Q 'q' "
              "&& 'abc' -startswith 'ab'")


def test_no_request() -> None:
    """Without a request (a connection-level use) request values are empty."""
    assert parse("%{REQUEST_URI} == '' && req('x') == '' && %{HTTPS} == ''").exec(None)
