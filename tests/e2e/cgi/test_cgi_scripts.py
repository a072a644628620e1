"""mod_cgi end to end with real scripts (manual: mod_cgi, "CGI Environment variables",
the CGI how-to; RFC 3875): Python and /bin/sh CGIs, nph- scripts, bad ones."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import requests

PY = sys.executable

ENV_PY = f"""#!{PY}
import json, os, sys
body = sys.stdin.buffer.read()
env = dict(os.environ)
env["_BODY_LEN"] = str(len(body))
env["_BODY_SHA"] = __import__("hashlib").sha256(body).hexdigest()
env["_ARGV"] = json.dumps(sys.argv[1:])
env["_CWD"] = os.getcwd()
sys.stdout.write("Content-Type: application/json\\n\\n" + json.dumps(env))
"""


def sh(body: str) -> str:
    return "#!/bin/sh\n" + textwrap.dedent(body)


BASE = """\
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
"""


def start(make_server: Any, tmp_path: Path, scripts: dict[str, str], conf: str = "",
          files: dict[str, str] | None = None) -> Any:
    srv = make_server(BASE + conf, files=files or {}, start=False)
    for rel, text in scripts.items():
        p = tmp_path / "htdocs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755)
    return srv.start()


def env_of(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 200, resp.text
    return json.loads(resp.text)  # type: ignore[no-any-return]


def wait_log(srv: Any, text: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = srv.error_log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in error log:\n{srv.error_log()}")


def test_cgi_environment_rfc3875(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY},
                "SetEnv FROM_SETENV yes\n")
    r = requests.post(srv.url("/cgi-bin/env.py/more/path?x=1&y=2"), data=b"abc",
                      headers={"Content-Type": "text/x-test", "Proxy": "http://evil:1",
                               "X-Custom-Thing": "v", "X_Under": "dropped",
                               "Authorization": "Basic Zm9vOmJhcg=="})
    e = env_of(r)
    root = str(tmp_path / "htdocs")
    assert e["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert e["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert e["SERVER_SOFTWARE"].startswith("featherd/")
    assert e["SERVER_NAME"] == "127.0.0.1"
    assert e["SERVER_ADDR"] == "127.0.0.1"
    assert e["SERVER_PORT"] == str(srv.port)
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert int(e["REMOTE_PORT"]) > 0
    assert e["DOCUMENT_ROOT"] == root
    assert e["SERVER_ADMIN"] == "admin@test.local"
    assert e["SCRIPT_FILENAME"] == f"{root}/cgi-bin/env.py"
    assert e["REQUEST_METHOD"] == "POST"
    assert e["QUERY_STRING"] == "x=1&y=2"
    assert e["REQUEST_URI"] == "/cgi-bin/env.py/more/path?x=1&y=2"
    assert e["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert e["PATH_INFO"] == "/more/path"
    assert e["PATH_TRANSLATED"] == f"{root}/more/path"
    assert e["CONTENT_TYPE"] == "text/x-test"
    assert e["CONTENT_LENGTH"] == "3"
    assert e["HTTP_X_CUSTOM_THING"] == "v"
    assert e["HTTP_HOST"] == f"127.0.0.1:{srv.port}"
    assert e["FROM_SETENV"] == "yes"
    assert e["PATH"] == os.environ["PATH"]
    assert e["_BODY_LEN"] == "3"
    assert e["_CWD"] == f"{root}/cgi-bin"
    # httpoxy: never HTTP_PROXY; credentials stay hidden; no X_Under -> HTTP_X_UNDER
    assert "HTTP_PROXY" not in e
    assert "HTTP_AUTHORIZATION" not in e
    assert "HTTP_X_UNDER" not in e
    assert "REMOTE_USER" not in e and "AUTH_TYPE" not in e


def test_cgi_pass_auth_and_cgivar(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY},
                '<Directory "@ROOT@/htdocs/cgi-bin">\nCGIPassAuth On\n'
                "CGIVar REQUEST_URI current-uri\n</Directory>\n"
                "ScriptInterpreterSource Script\nScriptSock logs/cgisock\n"
                "CGIDScriptTimeout 20\n")
    e = env_of(requests.get(srv.url("/cgi-bin/env.py?q"), headers={
        "Authorization": "Basic Zm9vOmJhcg=="}))
    assert e["HTTP_AUTHORIZATION"] == "Basic Zm9vOmJhcg=="
    assert e["REQUEST_URI"] == "/cgi-bin/env.py"


def test_cgi_remote_user_after_auth(make_server: Any, tmp_path: Path) -> None:
    from featherd.support.passwords import sha1_encode

    (tmp_path / "users").write_text(f"alice:{sha1_encode('secret')}\n")
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY},
                '<Location /cgi-bin>\nAuthType Basic\nAuthName "cgi"\n'
                "AuthUserFile @ROOT@/users\nRequire valid-user\n</Location>\n")
    assert requests.get(srv.url("/cgi-bin/env.py")).status_code == 401
    e = env_of(requests.get(srv.url("/cgi-bin/env.py"), auth=("alice", "secret")))
    assert e["REMOTE_USER"] == "alice"
    assert e["AUTH_TYPE"] == "Basic"
    assert "HTTP_AUTHORIZATION" not in e


def test_cgi_exec_cgi_off_is_403(make_server: Any, tmp_path: Path) -> None:
    script = sh("""\
        echo "Content-Type: text/plain"
        echo
        echo ran
        """)
    srv = start(make_server, tmp_path, {"plain/x.cgi": script, "exec/x.cgi": script,
                                        "handled/anything": script},
                "AddHandler cgi-script .cgi\n"
                '<Directory "@ROOT@/htdocs">\nOptions -ExecCGI\n</Directory>\n'
                '<Directory "@ROOT@/htdocs/exec">\nOptions +ExecCGI\n</Directory>\n'
                '<Directory "@ROOT@/htdocs/handled">\nOptions +ExecCGI\n'
                "SetHandler cgi-script\n</Directory>\n")
    r = requests.get(srv.url("/plain/x.cgi"))
    assert r.status_code == 403
    wait_log(srv, "Options ExecCGI is off in this directory: "
                  f"{tmp_path}/htdocs/plain/x.cgi")
    assert requests.get(srv.url("/exec/x.cgi")).text == "ran\n"
    assert requests.get(srv.url("/handled/anything")).text == "ran\n"


def test_cgi_request_bodies_streamed(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY})
    body = os.urandom(3 * 1024 * 1024 + 17)
    e = env_of(requests.post(srv.url("/cgi-bin/env.py"), data=body))
    assert e["_BODY_LEN"] == str(len(body))
    assert e["_BODY_SHA"] == hashlib.sha256(body).hexdigest()

    def chunks() -> Any:
        for i in range(50):
            yield bytes([i]) * 1000
            if i == 10:
                time.sleep(0.1)          # a body that trickles in

    e = env_of(requests.post(srv.url("/cgi-bin/env.py"), data=chunks()))
    expect = b"".join(bytes([i]) * 1000 for i in range(50))
    assert e["_BODY_LEN"] == str(len(expect))
    assert e["_BODY_SHA"] == hashlib.sha256(expect).hexdigest()
    assert "CONTENT_LENGTH" not in e and e["HTTP_TRANSFER_ENCODING"] == "chunked"


def test_cgi_limit_request_body(make_server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    srv = start(make_server, tmp_path, {"cgi-bin/touch.sh": sh(f"""\
        touch {marker}
        echo "Content-Type: text/plain"
        echo
        cat
        """)}, "LimitRequestBody 100\n")
    r = requests.post(srv.url("/cgi-bin/touch.sh"), data=b"x" * 101)
    assert r.status_code == 413
    assert not marker.exists()                # refused before the script ran
    r = requests.post(srv.url("/cgi-bin/touch.sh"), data=iter([b"y" * 60, b"y" * 60]))
    assert r.status_code == 413
    r = requests.post(srv.url("/cgi-bin/touch.sh"), data=b"z" * 100)
    assert r.status_code == 200 and r.text == "z" * 100


def test_cgi_status_location_and_headers(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {
        "cgi-bin/status.sh": sh("""\
            echo "Status: 404 Not Here"
            echo "X-A: 1"
            echo "X-A: 2"
            echo "Set-Cookie: a=1"
            echo "Set-Cookie: b=2"
            echo "Content-type: Text/HTML; Charset=UTF-8"
            echo
            echo "gone"
            """),
        "cgi-bin/local.sh": sh("""\
            cat >/dev/null
            echo "Location: /cgi-bin/env.py?from=local"
            echo
            echo "this body is dropped"
            """),
        "cgi-bin/remote.sh": sh("""\
            echo "Location: http://example.com/elsewhere"
            echo
            """),
        "cgi-bin/env.py": ENV_PY})
    r = requests.get(srv.url("/cgi-bin/status.sh"))
    assert (r.status_code, r.reason, r.text) == (404, "Not Here", "gone\n")
    assert r.headers["X-A"] == "1, 2"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert r.headers["Content-Type"] == "text/html; Charset=UTF-8"
    # a local Location with no Status: an internal redirect, as a GET
    e = env_of(requests.post(srv.url("/cgi-bin/local.sh"), data=b"payload"))
    assert e["REQUEST_METHOD"] == "GET"
    assert e["QUERY_STRING"] == "from=local"
    assert e["REDIRECT_URL"] == "/cgi-bin/local.sh"
    assert "CONTENT_LENGTH" not in e
    r = requests.get(srv.url("/cgi-bin/remote.sh"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "http://example.com/elsewhere"


def test_cgi_bad_scripts_are_500(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {
        "cgi-bin/bad.sh": sh("""\
            echo "this is not a header line at all, no colon"
            echo
            echo body
            """),
        "cgi-bin/silent.sh": sh("exit 0\n"),
        "cgi-bin/noblank.sh": sh('printf "Content-Type: text/plain\\n"\n'),
        "cgi-bin/space.sh": sh("""\
            echo "Bad Name: x"
            echo
            """),
        "cgi-bin/badstatus.sh": sh("""\
            echo "Status: abc"
            echo
            """),
        "cgi-bin/noshebang.cgi": "echo hi\n"})
    os.chmod(tmp_path / "htdocs/cgi-bin/noshebang.cgi", 0o755)
    (tmp_path / "htdocs/cgi-bin/notexec.sh").write_text(sh("echo\n"))
    for name, log in [
            ("bad.sh", "malformed header from script. Bad header=this is not a header line at a: "
                       "bad.sh"),
            ("silent.sh", "Premature end of script headers: silent.sh"),
            ("noblank.sh", "Premature end of script headers: noblank.sh"),
            ("space.sh", "Response header name 'Bad Name' contains invalid characters"),
            ("badstatus.sh", "Invalid status line from script 'badstatus.sh': abc"),
            ("noshebang.cgi", "(8)Exec format error: exec of "
                              f"'{tmp_path}/htdocs/cgi-bin/noshebang.cgi' failed"),
            ("notexec.sh", "(13)Permission denied: exec of "
                           f"'{tmp_path}/htdocs/cgi-bin/notexec.sh' failed")]:
        r = requests.get(srv.url("/cgi-bin/" + name))
        assert r.status_code == 500, name
        assert "Internal Server Error" in r.text
        wait_log(srv, log)
    wait_log(srv, "Premature end of script headers: noshebang.cgi")


def test_cgi_nph_script(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/nph-raw.sh": sh("""\
        printf 'HTTP/1.1 299 Custom\\r\\nX-Nph: yes\\r\\n\\r\\nraw body'
        """)})
    out = srv.raw(b"GET /cgi-bin/nph-raw.sh HTTP/1.1\r\nHost: t\r\n\r\n")
    assert out == b"HTTP/1.1 299 Custom\r\nX-Nph: yes\r\n\r\nraw body"   # then closed


def test_cgi_stderr_goes_to_error_log(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/err.sh": sh("""\
        echo "first complaint" >&2
        echo "Content-Type: text/plain"
        echo
        echo ok
        echo "second complaint" >&2
        """)})
    assert requests.get(srv.url("/cgi-bin/err.sh")).text == "ok\n"
    log = wait_log(srv, "second complaint")
    assert "[error] [client 127.0.0.1] first complaint" in log


def test_cgi_timeout_kills_script(make_server: Any, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    srv = start(make_server, tmp_path, {
        "cgi-bin/slow.sh": sh(f"""\
            echo $$ > {pidfile}
            sleep 30
            """),
        "cgi-bin/stall.sh": sh("""\
            echo "Content-Type: text/plain"
            echo
            echo partial
            sleep 30
            """)},
        '<Location /cgi-bin>\nCGIScriptTimeout 1\n</Location>\n')
    t0 = time.monotonic()
    r = requests.get(srv.url("/cgi-bin/slow.sh"))
    assert r.status_code == 504
    assert time.monotonic() - t0 < 5
    wait_log(srv, "Script timed out before returning headers: slow.sh")
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] \
            if Path(f"/proc/{pid}/stat").exists() else "X"
        if state == "Z":
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    # output stalls after the headers: the connection is dropped after TimeOut
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /cgi-bin/stall.sh HTTP/1.1\r\nHost: t\r\n\r\n")
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    assert b"partial" in got and not got.endswith(b"0\r\n\r\n")
    wait_log(srv, "Timeout waiting for output from CGI script")


def test_cgi_output_streams_chunked(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/drip.py": f"""#!{PY}
import sys, time
sys.stdout.write("Content-Type: text/plain\\n\\nfirst\\n")
sys.stdout.flush()
time.sleep(0.6)
sys.stdout.write("second\\n")
"""})
    t0 = time.monotonic()
    with requests.get(srv.url("/cgi-bin/drip.py"), stream=True) as r:
        assert r.headers["Transfer-Encoding"] == "chunked"
        it = r.iter_content(chunk_size=None)
        first = next(it)
        t_first = time.monotonic() - t0
        rest = b"".join(it)
    assert first == b"first\n" and rest == b"second\n"
    assert t_first < 0.5                         # not held until the script ended


def test_cgi_large_output_and_head(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/big.py": f"""#!{PY}
import sys
sys.stdout.write("Content-Type: application/octet-stream\\n\\n")
sys.stdout.flush()
for i in range(80):
    sys.stdout.buffer.write(bytes([i]) * 65536)
"""})
    r = requests.get(srv.url("/cgi-bin/big.py"))
    expect = b"".join(bytes([i]) * 65536 for i in range(80))
    assert len(r.content) == len(expect) and r.content == expect
    r = requests.head(srv.url("/cgi-bin/big.py"))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"] == "application/octet-stream"


def test_cgi_conditional_get(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/lm.sh": sh("""\
        echo "Content-Type: text/plain"
        echo "Last-Modified: Tue, 01 Jan 2019 00:00:00 GMT"
        echo "ETag: \\"v1\\""
        echo
        echo content
        """)})
    r = requests.get(srv.url("/cgi-bin/lm.sh"))
    assert r.headers["Last-Modified"] == "Tue, 01 Jan 2019 00:00:00 GMT"
    r = requests.get(srv.url("/cgi-bin/lm.sh"),
                     headers={"If-Modified-Since": "Tue, 01 Jan 2019 00:00:00 GMT"})
    assert r.status_code == 304 and r.content == b""
    r = requests.get(srv.url("/cgi-bin/lm.sh"), headers={"If-None-Match": '"v1"'})
    assert r.status_code == 304
    r = requests.get(srv.url("/cgi-bin/lm.sh"), headers={"If-None-Match": '"v2"'})
    assert r.status_code == 200 and r.text == "content\n"


def test_cgi_isindex_arguments(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY})
    e = env_of(requests.get(srv.url("/cgi-bin/env.py?one+two%20three+a%26b")))
    assert json.loads(e["_ARGV"]) == ["one", "two three", "a\\&b"]
    e = env_of(requests.get(srv.url("/cgi-bin/env.py?k=v+w")))
    assert json.loads(e["_ARGV"]) == []


def test_cgi_accept_path_info_off(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY},
                '<Location /cgi-bin>\nAcceptPathInfo Off\n</Location>\n')
    assert requests.get(srv.url("/cgi-bin/env.py")).status_code == 200
    assert requests.get(srv.url("/cgi-bin/env.py/extra")).status_code == 404
    wait_log(srv, "AcceptPathInfo off disallows user's path: ")


def test_cgi_error_document_redirect_vars(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY},
                "ErrorDocument 404 /cgi-bin/env.py\n")
    r = requests.get(srv.url("/missing/page?a=1"))
    assert r.status_code == 404
    e = json.loads(r.text)
    assert e["REDIRECT_STATUS"] == "404"
    assert e["REDIRECT_URL"] == "/missing/page"
    assert e["REDIRECT_QUERY_STRING"] == "a=1"
    assert e["REQUEST_URI"] == "/missing/page?a=1"


def test_cgi_does_not_block_the_worker(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/sleep.sh": sh("""\
        sleep 1
        echo "Content-Type: text/plain"
        echo
        echo slept
        """)}, "StartServers 1\n", files={"htdocs/static.txt": "static\n"})
    out: dict[str, str] = {}
    th = threading.Thread(target=lambda: out.update(
        slow=requests.get(srv.url("/cgi-bin/sleep.sh")).text))
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert requests.get(srv.url("/static.txt")).text == "static\n"
    assert time.monotonic() - t0 < 0.5
    th.join()
    assert out["slow"] == "slept\n"


def test_cgi_client_abort_stops_script(make_server: Any, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    srv = start(make_server, tmp_path, {"cgi-bin/forever.py": f"""#!{PY}
import os, sys
open({str(pidfile)!r}, "w").write(str(os.getpid()))
sys.stdout.write("Content-Type: text/plain\\n\\n")
while True:
    sys.stdout.write("x" * 65536)
    sys.stdout.flush()
"""})
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"GET /cgi-bin/forever.py HTTP/1.1\r\nHost: t\r\n\r\n")
    s.recv(65536)
    s.close()
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        try:
            st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if st == "Z":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the script outlived its client")


def test_cgi_options_request(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY})
    r = requests.options(srv.url("/cgi-bin/env.py"))
    assert r.status_code == 200
    assert {"GET", "POST", "OPTIONS"} <= set(r.headers["Allow"].split(","))


def test_cgi_scriptlog(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {
        "cgi-bin/bad.sh": sh("""\
            cat >/dev/null
            echo "X-Before: 1"
            echo "no colon here"
            echo "more stdout"
            echo "oops" >&2
            """),
        "noexec/x.cgi": sh("echo\n")},
        "ScriptLog logs/cgi_log\nScriptLogBuffer 5\nAddHandler cgi-script .cgi\n"
        '<Directory "@ROOT@/htdocs/noexec">\nOptions -ExecCGI\n</Directory>\n')
    r = requests.post(srv.url("/cgi-bin/bad.sh?q=1"), data=b"abcdefghij",
                      headers={"X-Req": "r1"})
    assert r.status_code == 500
    log = (tmp_path / "logs/cgi_log").read_text()
    lines = log.splitlines()
    assert lines[0].startswith("%% [") and lines[0].endswith(
        "] POST /cgi-bin/bad.sh?q=1 HTTP/1.1")
    assert lines[1] == f"%% 500 {tmp_path}/htdocs/cgi-bin/bad.sh"
    assert lines[2] == "%request"
    assert "X-Req: r1" in lines
    req_end = lines.index("%response")
    assert lines[req_end - 2:req_end] == ["", "abcde"]      # ScriptLogBuffer 5
    assert lines[req_end + 1] == "no colon here"
    assert lines[lines.index("%stdout") + 1] == "more stdout"
    assert lines[lines.index("%stderr") + 1] == "oops"
    assert requests.get(srv.url("/noexec/x.cgi")).status_code == 403
    log = (tmp_path / "logs/cgi_log").read_text()
    assert log.endswith(f"%% 403 {tmp_path}/htdocs/noexec/x.cgi\n"
                        "%error\nOptions ExecCGI is off in this directory\n")


def test_cgi_scriptlog_length_limit(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, {"cgi-bin/silent.sh": sh("exit 0\n")},
                "ScriptLog logs/cgi_log\nScriptLogLength 20\n")
    requests.get(srv.url("/cgi-bin/silent.sh"))
    size = (tmp_path / "logs/cgi_log").stat().st_size
    assert size > 20
    requests.get(srv.url("/cgi-bin/silent.sh"))
    assert (tmp_path / "logs/cgi_log").stat().st_size == size   # over the limit: no more


def test_cgi_server_vars_per_host_on_one_connection(make_server: Any, tmp_path: Path
                                                    ) -> None:
    # the server half of the environment is remembered per connection: one keep-alive
    # connection asking for other names, ports and vhosts gets each one's own values
    conf = """
UseCanonicalName Off
ServerSignature On
<VirtualHost *>
ServerName other.test
ServerAdmin other@example.org
DocumentRoot @ROOT@/htdocs
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
</VirtualHost>
<VirtualHost *>
ServerName canon.test
UseCanonicalName On
ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"
</VirtualHost>
"""
    srv = start(make_server, tmp_path, {"cgi-bin/env.py": ENV_PY}, conf)
    s = requests.Session()
    seen = []
    for host in ("a.test", "b.test:8080", "other.test", "canon.test:81", "a.test"):
        e = env_of(s.get(srv.url("/cgi-bin/env.py"), headers={"Host": host}, timeout=5))
        seen.append((e["SERVER_NAME"], e["SERVER_PORT"], e["SERVER_ADMIN"],
                     e["SERVER_SIGNATURE"].split(" Server at ")[1]))
    assert seen[0][:2] == ("a.test", "80") and seen[1][:2] == ("b.test", "8080")
    assert seen[0][3].startswith("a.test Port 80") and seen[1][3].startswith("b.test Port")
    assert seen[2][:3] == ("other.test", "80", "other@example.org")
    assert seen[3][:2] == ("canon.test", "80")             # the ServerName's, not Host's
    assert seen[3][2] != "other@example.org"               # (a.test: the first vhost's)
    assert seen[4] == seen[0]
