"""The request phases in front of mounted Python applications: authentication (AuthType
Basic + Require) on the mount, mod_rewrite rules passing through to a mount, output
filters (INCLUDES) on the application's body, the access log line, and the directive
reference and configuration errors (featherd -L / -t)."""

from __future__ import annotations

import re
import subprocess
import sys

import requests
from featherd_testlib import SRC

from featherd.support import passwords as P

WSGI = r'''
import json
def application(environ, start_response):
    if environ["PATH_INFO"] == "/ssi":
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b'<p><!--#echo var="DOCUMENT_URI" --></p>']
    keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "REMOTE_USER",
            "AUTH_TYPE", "HTTP_AUTHORIZATION")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({k: environ.get(k) for k in keys}).encode()]
'''

ASGI = r'''
import json
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({"path": scope["path"], "root_path": scope["root_path"],
                       "raw_path": scope["raw_path"].decode(),
                       "query": scope["query_string"].decode(),
                       "user": scope["extensions"]["featherd"]["remote_user"]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
'''

CONF = """
StartServers 1
WSGIScriptAlias /app @ROOT@/apps/w.py
ASGIScriptAlias /api @ROOT@/apps/a.py
<Location /app/private>
    AuthType Basic
    AuthName "wsgi area"
    AuthUserFile @ROOT@/pw
    Require valid-user
</Location>
<Location /api>
    AuthType Basic
    AuthName "asgi area"
    AuthUserFile @ROOT@/pw
    Require user alice
</Location>
RewriteEngine On
RewriteRule ^/old/(.*)$ /app/$1 [PT]
RewriteRule ^/v1/(.*)$ /api/$1 [PT,QSA]
RewriteRule ^/gone - [G]
<Location /app/ssi>
    Options +Includes
    SetOutputFilter INCLUDES
</Location>
<Directory @ROOT@/htdocs>
    Options +Includes
    AddOutputFilter INCLUDES .shtml
</Directory>
"""


def files() -> dict[str, str]:
    return {"apps/w.py": WSGI, "apps/a.py": ASGI,
            "htdocs/page.shtml": '[<!--#include virtual="/app/inc?q=1" -->]\n',
            "pw": f"alice:{P.apr_md5_encode('alicepw')}\nbob:{P.sha1_encode('bobpw')}\n"}


def test_basic_auth_on_the_mounts(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(CONF, files=files())
    r = requests.get(s.url("/app/private/x"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="wsgi area"'
    assert requests.get(s.url("/app/private/x"), auth=("alice", "nope")).status_code == 401
    e = requests.get(s.url("/app/private/x"), auth=("bob", "bobpw")).json()
    assert e["REMOTE_USER"] == "bob" and e["AUTH_TYPE"] == "Basic"
    assert e["HTTP_AUTHORIZATION"] is None
    assert requests.get(s.url("/app/public")).json()["REMOTE_USER"] is None
    assert requests.get(s.url("/api/x")).status_code == 401
    assert requests.get(s.url("/api/x"), auth=("bob", "bobpw")).status_code == 401
    j = requests.get(s.url("/api/x"), auth=("alice", "alicepw")).json()
    assert j["user"] == "alice"
    log = s.access_log()
    assert re.search(r'"GET /app/private/x HTTP/1\.1" 401 \d+', log)
    assert re.search(r'127\.0\.0\.1 - bob \[[^]]+\] "GET /app/private/x HTTP/1\.1" 200 \d+',
                     log), log
    assert re.search(r' - alice \[[^]]+\] "GET /api/x HTTP/1\.1" 200 \d+', log)


def test_rewrite_rules_in_front(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(CONF, files=files())
    e = requests.get(s.url("/old/some/where?a=1")).json()
    assert e["SCRIPT_NAME"] == "/app" and e["PATH_INFO"] == "/some/where"
    assert e["QUERY_STRING"] == "a=1"
    assert e["REQUEST_URI"] == "/old/some/where?a=1"       # what the client asked for
    j = requests.get(s.url("/v1/items?b=2"), auth=("alice", "alicepw")).json()
    assert j == {"path": "/api/items", "root_path": "/api", "raw_path": "/api/items",
                 "query": "b=2", "user": "alice"}
    # rewriting ahead of the mount and authentication on the rewritten URL
    assert requests.get(s.url("/v1/items")).status_code == 401
    assert requests.get(s.url("/gone")).status_code == 410


def test_output_filters_apply_to_the_application_body(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(CONF, files=files())
    r = requests.get(s.url("/app/ssi"))
    assert r.text == "<p>/app/ssi</p>"
    assert "Content-Length" not in r.headers or r.headers["Content-Length"] == str(len(r.text))


def test_ssi_include_virtual_of_an_application(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(CONF, files=files())
    r = requests.get(s.url("/page.shtml"))
    assert r.status_code == 200
    inner = r.text.strip()[1:-1]
    assert __import__("json").loads(inner)["PATH_INFO"] == "/inc"
    assert __import__("json").loads(inner)["QUERY_STRING"] == "q=1"


def test_access_log_line_for_an_application(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(CONF, files=files())
    r = requests.get(s.url("/app/public?x=1"))
    n = len(r.content)
    log = s.access_log()
    assert re.search(r'^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:[\d:]+ [+-]\d{4}\] '
                     rf'"GET /app/public\?x=1 HTTP/1\.1" 200 {n}$', log, re.M), log


def _featherd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "featherd", *args], capture_output=True,
                          text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
                          timeout=60)


def test_directive_reference_and_config_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _featherd("-L").stdout
    for name in ("WSGIScriptAlias", "WSGIDaemonProcess", "WSGIProcessGroup",
                 "WSGIApplicationGroup", "WSGIPythonPath", "WSGIScriptReloading",
                 "WSGIThreads", "WSGIPassAuthorization", "ASGIScriptAlias", "ASGILifespan",
                 "ASGIScriptReloading"):
        assert name in out, name
    assert "mod_wsgi.c" in out and "mod_asgi.c" in out
    cases = [
        ("WSGIScriptAlias /x", "WSGIScriptAlias requires at least two arguments"),
        ("WSGIScriptAlias x /y.py", "the URL-path must begin with a /"),
        ("WSGIScriptAlias /x /y.py bogus=1",
         "Invalid option to WSGIScriptAlias definition: 'bogus=1'."),
        ("ASGIScriptAlias /x /y.py process-group=a",
         "Invalid option to ASGIScriptAlias definition: 'process-group=a'."),
        ("ASGIScriptAlias /x /y.py lifespan=maybe", "lifespan must be on, off or auto"),
        ("ASGILifespan sometimes", "ASGILifespan must be on, off or auto"),
        ("WSGIThreads 0", "WSGIThreads must be a positive number"),
        ("WSGIScriptReloading maybe", "WSGIScriptReloading must be On or Off"),
        ("WSGIDaemonProcess a\nWSGIDaemonProcess a",
         "Name duplicates previous WSGI daemon definition: 'a'."),
        ("<Location /x>\nWSGIPythonPath /a\n</Location>", "not allowed here"),
        ("<Location /x>\nWSGIScriptAlias /x /y.py\n</Location>", "not allowed here"),
    ]
    for i, (text, err) in enumerate(cases):
        conf = tmp_path / f"c{i}.conf"
        conf.write_text(f"ServerName x\n{text}\n")
        p = _featherd("-t", "-f", str(conf))
        assert p.returncode == 1 and err in p.stdout + p.stderr, (text, p.stdout, p.stderr)
    conf = tmp_path / "ok.conf"
    conf.write_text("ServerName x\nWSGIDaemonProcess site threads=5\nWSGIProcessGroup site\n"
                    "WSGIApplicationGroup %{GLOBAL}\nWSGIScriptAlias / /srv/app.wsgi\n")
    p = _featherd("-t", "-f", str(conf))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "WSGI applications run in featherd's worker processes" in p.stdout + p.stderr
