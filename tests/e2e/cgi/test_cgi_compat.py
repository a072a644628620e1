"""The same CGI tree run by Debian's apache2 (mod_cgi) and by featherd: environment,
bodies, headers, redirects, nph and broken scripts compared response by response
(skipped without apache2). Scripts are /bin/sh or /usr/bin/python3 so that apache2's
www-data child can run them."""

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
    Resp,
    apache_available,
    assert_same,
    req,
)

pytestmark = pytest.mark.skipif(apache_available() is not None,
                                reason=f"apache2 comparison: {apache_available()}")

BODY = """\
TraceEnable Off
LimitRequestBody 100000
ScriptAlias /cgi-bin/ "@DOCROOT@/cgi-bin/"
AddHandler cgi-script .cgi
<Directory "@DOCROOT@">
    Options None
    AllowOverride None
</Directory>
<Directory "@DOCROOT@/exec">
    Options ExecCGI
</Directory>
<Directory "@DOCROOT@/nopi">
    Options ExecCGI
    AcceptPathInfo Off
</Directory>
<Location /cgi-bin/small>
    LimitRequestBody 10
</Location>
"""

ENV_NAMES = ("GATEWAY_INTERFACE SERVER_PROTOCOL REQUEST_METHOD QUERY_STRING REQUEST_URI "
             "SCRIPT_NAME PATH_INFO PATH_TRANSLATED SCRIPT_FILENAME DOCUMENT_ROOT "
             "SERVER_NAME SERVER_PORT SERVER_ADDR SERVER_ADMIN REMOTE_ADDR CONTENT_TYPE "
             "CONTENT_LENGTH HTTP_HOST HTTP_X_CUSTOM HTTP_PROXY HTTP_AUTHORIZATION "
             "HTTP_X_UNDER PATH REMOTE_USER AUTH_TYPE REDIRECT_URL REDIRECT_STATUS "
             "REDIRECT_QUERY_STRING HTTP_COOKIE")


def sh(text: str) -> str:
    return "#!/bin/sh\n" + text


ENV_SH = sh(f"""echo "Content-Type: text/plain"
echo
for n in {ENV_NAMES}; do
  eval "v=\\${{$n-UNSET}}"
  echo "$n=$v"
done
echo "argv=$*"
echo "body=$(cat)"
""")

FILES: dict[str, str | bytes] = {
    "cgi-bin/env.sh": ENV_SH,
    "cgi-bin/small/echo.sh": sh('echo "Content-Type: text/plain"\necho\ncat\n'),
    "cgi-bin/echo.py": ("#!/usr/bin/python3\nimport sys\nd = sys.stdin.buffer.read()\n"
                        "sys.stdout.write('Content-Type: application/octet-stream\\n\\n')\n"
                        "sys.stdout.flush()\nsys.stdout.buffer.write(d)\n"),
    "cgi-bin/headers.sh": sh('echo "Status: 404 Not Here"\necho "X-A: 1"\necho "X-A: 2"\n'
                             'echo "Set-Cookie: a=1"\necho "Set-Cookie: b=2"\n'
                             'echo "Content-type: Text/HTML; Charset=UTF-8"\n'
                             'echo "Content-Length: 5"\necho\necho gone\n'),
    "cgi-bin/local.sh": sh('cat >/dev/null\necho "Location: /cgi-bin/env.sh?from=local"\n'
                           'echo\necho dropped\n'),
    "cgi-bin/remote.sh": sh('echo "Location: http://example.com/x?y"\necho\n'),
    "cgi-bin/remote301.sh": sh('echo "Status: 301 Moved"\n'
                               'echo "Location: http://example.com/z"\necho\necho moved\n'),
    "cgi-bin/nph-raw.sh": sh("printf 'HTTP/1.0 299 Custom\\r\\nX-Nph: 1\\r\\n\\r\\nnph body'\n"),
    "cgi-bin/bad.sh": sh('echo "no colon in this line"\necho\necho body\n'),
    "cgi-bin/silent.sh": sh("exit 0\n"),
    "cgi-bin/noblank.sh": sh('printf "Content-Type: text/plain\\n"\n'),
    "cgi-bin/crlf.sh": sh("printf 'Content-Type: text/plain\\r\\nX-B: b\\r\\n\\r\\ncrlf'\n"),
    "cgi-bin/lm.sh": sh('echo "Content-Type: text/plain"\n'
                        'echo "Last-Modified: Tue, 01 Jan 2019 00:00:00 GMT"\n'
                        'echo "ETag: \\"v1\\""\necho\necho content\n'),
    "cgi-bin/s304.sh": sh('echo "Status: 304 Not Modified"\necho\n'),
    "cgi-bin/big.py": ("#!/usr/bin/python3\nimport sys\n"
                       "sys.stdout.write('Content-Type: text/plain\\n\\n')\n"
                       "for i in range(300):\n    sys.stdout.write(str(i % 10) * 4000)\n"),
    "cgi-bin/noshebang.sh": "echo hi\n",
    "cgi-bin/notexec.sh": sh("echo\n"),
    "exec/x.cgi": sh('echo "Content-Type: text/plain"\necho\necho exec\n'),
    "noexec/x.cgi": sh('echo "Content-Type: text/plain"\necho\necho noexec\n'),
    "nopi/x.cgi": sh('echo "Content-Type: text/plain"\necho\necho nopi\n'),
}


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair(BODY, FILES)
    for rel in FILES:
        if rel != "cgi-bin/notexec.sh":
            os.chmod(p.docroot / rel, 0o755)
    try:
        p.start()
    except RuntimeError as e:
        pytest.fail(f"could not start the pair: {e}")
    yield p
    p.stop()


#: Whether a script's body goes out with a Content-Length or chunked depends, in httpd
#: as in featherd, on whether the script has exited when the body is first passed on
#: (a race), so it is not compared; everything else is.
CGI_HEADERS = tuple(h for h in KEY_HEADERS if h != "Content-Length")


def same(f: Resp, a: Resp, **kw: object) -> None:
    kw.setdefault("headers", CGI_HEADERS)
    assert_same(f, a, **kw)
    if f.status == 200 and kw.get("method") != "HEAD":
        assert len(f.body) == len(a.body)


@pytest.mark.parametrize("raw,uri", [
    (req("GET", "/cgi-bin/env.sh/extra/path?a=b&c", "X-Custom: v", "Proxy: http://x:1",
         "Authorization: Basic Zm9vOmJhcg==", "X_Under: u", "Cookie: k=v"),
     "/cgi-bin/env.sh/extra/path"),
    (req("POST", "/cgi-bin/env.sh?one+two%20three", "Content-Type: text/x-t",
         "Content-Length: 5", body="hello"), "/cgi-bin/env.sh"),
    (req("POST", "/cgi-bin/env.sh", "Transfer-Encoding: chunked",
         body="3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "/cgi-bin/env.sh"),
    (req("GET", "/cgi-bin/local.sh?q", "Content-Length: 3", body="abc"),
     "/cgi-bin/local.sh"),
])
def test_cgi_environment_same_as_apache(pair: Pair, raw: bytes, uri: str) -> None:
    f, a = pair.one(raw)
    assert a.status == 200, a
    same(f, a, uri=uri)


@pytest.mark.parametrize("path", [
    "/cgi-bin/headers.sh", "/cgi-bin/remote.sh", "/cgi-bin/remote301.sh",
    "/cgi-bin/crlf.sh", "/cgi-bin/lm.sh", "/cgi-bin/big.py", "/exec/x.cgi",
    "/noexec/x.cgi", "/nopi/x.cgi", "/nopi/x.cgi/more"
])
def test_cgi_response_same_as_apache(pair: Pair, path: str) -> None:
    f, a = pair.one(req("GET", path))
    same(f, a, uri=path)


@pytest.mark.parametrize("path", [
    "/cgi-bin/bad.sh", "/cgi-bin/silent.sh", "/cgi-bin/noblank.sh",
    "/cgi-bin/noshebang.sh", "/cgi-bin/notexec.sh",
])
def test_cgi_broken_scripts_same_as_apache(pair: Pair, path: str) -> None:
    f, a = pair.one(req("GET", path))
    assert a.status == f.status == 500
    # the 500 page is worded as 2.2's (see compat_harness.ALLOWED_22)
    assert_same(f, a, uri=path, body=False, headers=("Content-Type",))


def test_cgi_nph_same_as_apache(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/cgi-bin/nph-raw.sh"))
    assert (f.status, f.reason, f.body) == (a.status, a.reason, a.body) == \
        (299, "Custom", b"nph body")


def test_cgi_conditional_same_as_apache(pair: Pair) -> None:
    for hdr in ("If-Modified-Since: Tue, 01 Jan 2019 00:00:00 GMT", 'If-None-Match: "v1"',
                'If-None-Match: "v2"', 'If-Match: "v2"'):
        f, a = pair.one(req("GET", "/cgi-bin/lm.sh", hdr))
        # the 412 page is 2.2's ("...for the URL /x evaluated to false.")
        same(f, a, uri="/cgi-bin/lm.sh", body=a.status != 412)
    f, a = pair.one(req("GET", "/cgi-bin/s304.sh"))
    same(f, a, uri="/cgi-bin/s304.sh")


def test_cgi_head_and_bodies_same_as_apache(pair: Pair) -> None:
    f, a = pair.one(req("HEAD", "/cgi-bin/big.py"), "HEAD")
    same(f, a, uri="/cgi-bin/big.py", method="HEAD")
    data = bytes(range(256)) * 300
    f, a = pair.one(req("POST", "/cgi-bin/echo.py", f"Content-Length: {len(data)}",
                        body=data))
    assert f.body == a.body == data
    f, a = pair.one(req("POST", "/cgi-bin/small/echo.sh", "Content-Length: 11",
                        body="x" * 11))
    assert f.status == a.status == 413
    f, a = pair.one(req("POST", "/cgi-bin/small/echo.sh", "Content-Length: 10",
                        body="y" * 10))
    same(f, a, uri="/cgi-bin/small/echo.sh")
