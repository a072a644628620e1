"""Require expr on Debian's apache2 (2.4) and on featherd: a table of expressions, the
same requests, the same status codes; and the same words for bad expressions (checked
with ``apache2 -t``). Skipped when apache2 is not installed."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import APACHE, MODDIR, Pair, apache_available, req  # noqa: E402

from featherd.core.expr import ExprSyntaxError, parse  # noqa: E402

pytestmark = pytest.mark.skipif(apache_available() is not None,
                                reason=f"apache2 comparison: {apache_available()}")


def _basic(user: str, pw: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


A, B = _basic("alice", "a1"), _basic("bob", "b2")
#: (expression, [(query, headers...)]); every request is sent to both servers
CASES: list[tuple[str, list[tuple[str, ...]]]] = [
    ("%{HTTP:X-Key} == 'secret'", [("",), ("", "X-Key: secret"), ("", "X-Key: Secret")]),
    ("-R '127.0.0.0/8'", [("",)]),
    ("-R '10.0.0.0/8'", [("",)]),
    ("%{REMOTE_ADDR} -ipmatch '127.0.0.1/32'", [("",)]),
    ("%{QUERY_STRING} =~ /(^|&)k=v(&|$)/", [("k=v",), ("a=1&k=v",), ("k=vv",), ("",)]),
    ("%{QUERY_STRING} =~ /^id=(\\d+)$/ && $1 -gt 100", [("id=5",), ("id=500",), ("id=x",)]),
    ("%{HTTP:X-U} =~ /^(\\w+)@(\\w+)$/ && '$2-$1' == 'org-bob'",
     [("", "X-U: bob@org"), ("", "X-U: org@bob")]),
    ("%{REQUEST_METHOD} in {'GET', 'HEAD'} && %{HTTP:X-A} != ''", [("", "X-A: 1"), ("",)]),
    ("tolower(%{HTTP:X-A}) == 'abc' || toupper(%{HTTP:X-A}) == 'XYZ'",
     [("", "X-A: ABC"), ("", "X-A: xyz"), ("", "X-A: q")]),
    ("md5(%{HTTP:X-A}) == '900150983cd24fb0d6963f7d28e17f72'", [("", "X-A: abc"), ("",)]),
    ("unbase64(%{HTTP:X-A}) == 'hello' && base64('hello') == 'aGVsbG8='",
     [("", "X-A: aGVsbG8="), ("", "X-A: aGVsbG9=")]),
    ("unescape(%{QUERY_STRING}) == 'a b%2Fc' && escape('a b') == 'a%20b'",
     [("a%20b%2Fc",), ("a%20b/c",)]),
    ("%{HTTP_USER_AGENT} -strmatch '*bot*'", [("", "User-Agent: a bot/1"), ("",)]),
    ("%{HTTP:X-P} -fnmatch '/a/*' && %{HTTP:X-P} -strcmatch '/A/*'",
     [("", "X-P: /a/b"), ("", "X-P: /a/b/c")]),
    ("-n %{HTTP:X-A} && -T %{HTTP:X-A}", [("", "X-A: on"), ("", "X-A: off"), ("",)]),
    ("-f %{REQUEST_FILENAME} && -s %{REQUEST_FILENAME} && -d '/'", [("",)]),
    ("-e '/no/such/file' || -L '/no/such/file'", [("",)]),
    ("%{REQUEST_URI} =~ m#^/c\\d+/f\\.txt$# && %{HTTP_HOST} == 'compat.test'", [("",)]),
    ("%{HTTPS} == 'off' && %{IS_SUBREQ} == 'false' && %{REQUEST_SCHEME} == 'http'", [("",)]),
    ("%{THE_REQUEST} =~ /^GET / && %{SERVER_PROTOCOL} == 'HTTP/1.1'", [("",)]),
    ("%{DOCUMENT_ROOT} . %{REQUEST_URI} == %{REQUEST_FILENAME}", [("",)]),
    ("%{SERVER_NAME} == 'compat.test' && %{TIME_YEAR} -ge 2020 && %{IPV6} == 'off'",
     [("",)]),
    ("'10' < '9' && 10 -gt 9 && '010' -eq 10 && 1.2 == 12", [("",)]),
    ("%{REMOTE_USER} == 'alice'", [("",), ("", A), ("", B), ("", _basic("alice", "x"))]),
    ("%{QUERY_STRING} == 'open'", [("open",), ("",), ("", B)]),
    ("file('/no/such/file') == ''", [("",)]),
    ("filesize('/no/such/file') -eq 0 && -z %{HTTP:X-None}", [("",)]),
    ("-U '/c0/f.txt'", [("",), ("", "X-Key: secret")]),
    ("%{HTTP:X-A} -in PeerExtList('1.2.3.4')", [("", "X-A: x")]),
    ("true && !false && (false || true)", [("",)]),
    ("false", [("",)]),
]
SECTIONS = """
<RequireAll>
  Require all granted
  Require not expr %{HTTP:X-Bad} == '1'
</RequireAll>
"""


def _body(root: str) -> str:
    out = [f'<Directory "{root}">\n  AuthType Basic\n  AuthName "cmp"\n'
           f'  AuthUserFile "{root}/../pw"\n</Directory>\n']
    for k, (e, _) in enumerate(CASES):
        extra = "  Require valid-user\n" if e == "%{QUERY_STRING} == 'open'" else ""
        out.append(f'<Directory "{root}/c{k}">\n  Require expr {e}\n{extra}</Directory>\n')
    out.append(f'<Directory "{root}/notx">{SECTIONS}</Directory>\n')
    return "".join(out)


def test_same_statuses_as_apache() -> None:
    files: dict[str, str | bytes] = {f"c{k}/f.txt": f"case {k}\n" for k in range(len(CASES))}
    files["notx/f.txt"] = "notx\n"
    pair = Pair(_body("@DOCROOT@"), files)
    (pair.root / "pw").write_text("".join(
        f"{u}:{{SHA}}{base64.b64encode(hashlib.sha1(p.encode()).digest()).decode()}\n"
        for u, p in (("alice", "a1"), ("bob", "b2"))))
    (pair.root / "pw").chmod(0o644)
    try:
        pair.start()
        diffs = []
        seen: set[int] = set()
        for k, (e, reqs) in enumerate(CASES):
            for q, *headers in reqs:
                target = f"/c{k}/f.txt" + (f"?{q}" if q else "")
                mine, theirs = pair.one(req("GET", target, *headers, "Connection: close"))
                seen.add(theirs.status)
                if mine.status != theirs.status:
                    diffs.append((e, q, headers, mine.status, theirs.status))
        for h in ((), ("X-Bad: 1",), ("X-Bad: 2",)):
            mine, theirs = pair.one(req("GET", "/notx/f.txt", *h, "Connection: close"))
            if mine.status != theirs.status:
                diffs.append(("notx", "", h, mine.status, theirs.status))
        assert not diffs, diffs
        assert seen == {200, 401, 403, 500}     # the table exercises every outcome
    finally:
        pair.stop()


BAD = ["%{REMOTE_ADDR} ==", "== 1", "1 == 2 ==", "(1 == 2", "-z 1 2", "1 -foo 2", "-X 1",
       "'abc", "%{FOO", "%{FOOBAR} == 1", "foo(1) == 1", "1 =~ /(/", "1 =~ /abc", "1 in {}",
       "1 in { 1, 2", "1 in foo(2)", "1 & 2", "$a == 1", "'\\9' == 1", "-R 'x'",
       "-R %{HTTP:x}", "%{1FOO} == 1", "%{FOO} -foo", "1 -eq 2 -eq 3", "m#x# == 1",
       "%{FOO} =~ /(/", "-in", "'a' ''"]


def _apache_t(expression: str, d: Path) -> str:
    conf = d / "c.conf"
    conf.write_text(
        f"ServerRoot {d}\nLoadModule mpm_prefork_module {MODDIR}/mod_mpm_prefork.so\n"
        f"LoadModule authz_core_module {MODDIR}/mod_authz_core.so\nMutex file:{d}\n"
        f"PidFile {d}/pid\nErrorLog {d}/err\nListen 127.0.0.1:1\nServerName x\n"
        f"<Location />\nRequire expr {expression}\n</Location>\n")
    p = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True,
                       timeout=30)
    return (p.stdout + p.stderr).strip()


@pytest.mark.parametrize("expression", BAD)
def test_same_parse_errors_as_apache(expression: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        theirs = _apache_t(expression, Path(d))
    prefix = "Cannot parse expression in require line: "
    assert prefix in theirs, theirs
    with pytest.raises(ExprSyntaxError) as ei:
        parse(expression)
    assert theirs.endswith(prefix + str(ei.value))
