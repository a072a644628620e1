"""Require expr (mod_authz_core, 2.4) on a real featherd: granting and denying by header,
client IP, query string, regex captures, REMOTE_USER with Basic auth, Require not expr,
.htaccess, sub-requests, and errors at start-up and at run time (expr.html,
mod_authz_core.html#requireexpr)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys

import requests
from featherd_testlib import SRC

PW = "".join(f"{u}:{{SHA}}{base64.b64encode(hashlib.sha1(p.encode()).digest()).decode()}\n"
             for u, p in (("alice", "a1"), ("bob", "b2")))

CONF = r"""
<Directory @ROOT@/htdocs>
  Require all granted
</Directory>
<Directory @ROOT@/htdocs/hdr>
  Require expr %{HTTP:X-Key} == 'secret'
</Directory>
<Directory @ROOT@/htdocs/ip>
  Require expr -R '127.0.0.0/8'
</Directory>
<Directory @ROOT@/htdocs/ip10>
  Require expr "%{REMOTE_ADDR} -ipmatch '10.0.0.0/8'"
</Directory>
<Directory @ROOT@/htdocs/qs>
  Require expr %{QUERY_STRING} =~ /(^|&)token=abc(&|$)/
</Directory>
<Directory @ROOT@/htdocs/cap>
  Require expr %{HTTP:X-User} =~ /^(\w+)@(\w+)\.org$/ && $2 == 'example' && $1 != 'mallory'
</Directory>
<Directory @ROOT@/htdocs/user>
  AuthType Basic
  AuthName "expr"
  AuthUserFile @ROOT@/pw
  Require expr %{REMOTE_USER} == 'alice'
</Directory>
<Directory @ROOT@/htdocs/early>
  AuthType Basic
  AuthName "expr"
  AuthUserFile @ROOT@/pw
  Require expr %{QUERY_STRING} == 'open'
  Require valid-user
</Directory>
<Directory @ROOT@/htdocs/notx>
  <RequireAll>
    Require all granted
    Require not expr %{HTTP:X-Bad} == '1' || %{QUERY_STRING} -strmatch '*evil*'
  </RequireAll>
</Directory>
<Directory @ROOT@/htdocs/any>
  <RequireAny>
    Require expr %{REQUEST_METHOD} -in {'GET', 'HEAD'} && %{HTTP:X-A} == '1'
    Require expr tolower(%{HTTP:X-B}) == 'yes'
  </RequireAny>
</Directory>
<Directory @ROOT@/htdocs/sub>
  Require expr -U '/hdr/f.txt'
</Directory>
<Directory @ROOT@/htdocs/broken>
  Require expr file('@ROOT@/no-such-file') == 'x'
</Directory>
<Directory @ROOT@/htdocs/ht>
  AllowOverride AuthConfig
</Directory>
<Directory @ROOT@/htdocs/htbad>
  AllowOverride AuthConfig
</Directory>
<Directory @ROOT@/htdocs/htnone>
  AllowOverride None
</Directory>
"""

DIRS = ("hdr", "ip", "ip10", "qs", "cap", "user", "early", "notx", "any", "sub", "broken",
        "ht", "htnone", "htbad")


def _server(make_server):  # type: ignore[no-untyped-def]
    files: dict[str, str | bytes] = {f"htdocs/{d}/f.txt": d for d in DIRS}
    files["pw"] = PW
    files["htdocs/ht/.htaccess"] = "Require expr %{QUERY_STRING} == 'ht-ok'\n"
    files["htdocs/htnone/.htaccess"] = "Require expr %{QUERY_STRING} == 'never'\n"
    files["htdocs/htbad/.htaccess"] = "Require expr %{NOPE} == 1\n"
    return make_server(CONF, files=files)


def test_require_expr(make_server) -> None:  # type: ignore[no-untyped-def]
    """One server for every case (starting one is the slow part)."""
    srv = _server(make_server)
    _grants_and_denies(srv)
    _remote_user_waits_for_authentication(srv)
    _htaccess(srv)
    _evaluation_error_is_a_500(srv)


def _grants_and_denies(srv) -> None:  # type: ignore[no-untyped-def]
    def get(path: str, **kw: object) -> int:
        return requests.get(srv.url(path), timeout=10, **kw).status_code  # type: ignore

    # a request header
    assert get("/hdr/f.txt") == 403
    assert get("/hdr/f.txt", headers={"X-Key": "secret"}) == 200
    assert get("/hdr/f.txt", headers={"X-Key": "Secret"}) == 403
    # the client's address (quotes around the whole expression are dropped)
    assert get("/ip/f.txt") == 200
    assert get("/ip10/f.txt") == 403
    # the query string
    assert get("/qs/f.txt?a=1&token=abc") == 200
    assert get("/qs/f.txt?token=abcd") == 403
    # regex captures used after the match
    assert get("/cap/f.txt", headers={"X-User": "alice@example.org"}) == 200
    assert get("/cap/f.txt", headers={"X-User": "mallory@example.org"}) == 403
    assert get("/cap/f.txt", headers={"X-User": "alice@other.org"}) == 403
    # Require not expr in <RequireAll>
    assert get("/notx/f.txt") == 200
    assert get("/notx/f.txt", headers={"X-Bad": "1"}) == 403
    assert get("/notx/f.txt?so-evil") == 403
    # two expressions in <RequireAny>
    assert get("/any/f.txt", headers={"X-A": "1"}) == 200
    assert get("/any/f.txt", headers={"X-B": "YES"}) == 200
    assert get("/any/f.txt", headers={"X-A": "2"}) == 403
    assert requests.post(srv.url("/any/f.txt"), headers={"X-A": "1"},
                         timeout=10).status_code == 403
    # -U: a sub-request through the access checks of another URL (with our headers)
    assert get("/sub/f.txt") == 403
    assert get("/sub/f.txt", headers={"X-Key": "secret"}) == 200
    assert "client denied by server configuration" in srv.error_log()


def _remote_user_waits_for_authentication(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/user/f.txt"), timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="expr"'
    assert requests.get(srv.url("/user/f.txt"), auth=("alice", "a1"),
                        timeout=10).status_code == 200
    assert requests.get(srv.url("/user/f.txt"), auth=("bob", "b2"),
                        timeout=10).status_code == 401
    assert requests.get(srv.url("/user/f.txt"), auth=("alice", "bad"),
                        timeout=10).status_code == 401
    # without REMOTE_USER the expression is judged before authentication
    assert requests.get(srv.url("/early/f.txt?open"), timeout=10).status_code == 200
    assert requests.get(srv.url("/early/f.txt"), timeout=10).status_code == 401
    assert requests.get(srv.url("/early/f.txt"), auth=("bob", "b2"),
                        timeout=10).status_code == 200


def _htaccess(srv) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(srv.url("/ht/f.txt?ht-ok"), timeout=10).status_code == 200
    assert requests.get(srv.url("/ht/f.txt?other"), timeout=10).status_code == 403
    # AllowOverride None: the .htaccess is not read
    assert requests.get(srv.url("/htnone/f.txt"), timeout=10).status_code == 200


    # a bad expression in .htaccess: 500, and the parse error in the error log
    assert requests.get(srv.url("/htbad/f.txt"), timeout=10).status_code == 500
    assert "Cannot parse expression in require line: Variable 'NOPE' does not exist" \
        in srv.error_log()


def _evaluation_error_is_a_500(srv) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(srv.url("/broken/f.txt"), timeout=10).status_code == 500
    assert "Error evaluating expression in 'Require expr': Unable to open file " \
        in srv.error_log()


def _config_test(tmp_path, body: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    conf = tmp_path / "t.conf"
    conf.write_text(f"ServerName t\nDocumentRoot {tmp_path}\nErrorLog {tmp_path}/err\n"
                    + body)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                          capture_output=True, text=True, env=env, timeout=60)


def test_syntax_errors_name_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _config_test(tmp_path, f"<Directory {tmp_path}>\n  Require all granted\n\n"
                                 "  Require expr %{REMOTE_ADDR} ==\n</Directory>\n")
    assert out.returncode != 0
    assert f"Syntax error on line 7 of {tmp_path}/t.conf:\nCannot parse expression in " \
           "require line: syntax error, unexpected $end" in out.stderr + out.stdout
    out = _config_test(tmp_path, f"<Directory {tmp_path}>\n  <RequireAll>\n"
                                 "    Require all granted\n"
                                 "    Require not expr %{FOO} == 1\n  </RequireAll>\n"
                                 "</Directory>\n")
    assert f"Syntax error on line 7 of {tmp_path}/t.conf:\nCannot parse expression in " \
           "require line: Variable 'FOO' does not exist" in out.stderr + out.stdout
    out = _config_test(tmp_path, f"<Directory {tmp_path}>\n"
                                 "  Require expr \"%{HTTP:X} -in {'a', 'b'} && -T 'on'\"\n"
                                 "</Directory>\n")
    assert out.returncode == 0, out.stderr
    assert "Syntax OK" in out.stderr + out.stdout
