"""mod_wsgi end to end: a Flask-style WSGI application (routing, query arguments, form and
JSON bodies, a streaming generator, write(), wsgi.file_wrapper, exceptions) written here
without a framework, served by a real featherd through WSGIScriptAlias; script loading
errors, reloading, WSGIPythonPath, WSGIApplicationGroup, WSGIPassAuthorization,
directory mounts and AddHandler wsgi-script."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import pytest
import requests

APP = r'''
import hashlib, json, os, sys, time
from urllib.parse import parse_qs

ROUTES = {}

def route(path, methods=("GET",)):
    def deco(fn):
        ROUTES[path] = (fn, methods)
        return fn
    return deco

class Request:
    def __init__(self, environ):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO", "") or "/"
        self.args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    def body(self):
        n = int(self.environ.get("CONTENT_LENGTH") or 0)
        return self.environ["wsgi.input"].read(n) if n else self.environ["wsgi.input"].read()
    def form(self):
        return {k: v[0] for k, v in parse_qs(self.body().decode()).items()}
    def json(self):
        return json.loads(self.body())

def respond(start_response, body, status="200 OK", ctype="text/plain; charset=utf-8", extra=()):
    if isinstance(body, (dict, list)):
        body, ctype = json.dumps(body).encode(), "application/json"
    elif isinstance(body, str):
        body = body.encode()
    start_response(status, [("Content-Type", ctype), *extra])
    return [body]

@route("/")
def index(req, sr):
    return respond(sr, "index")

@route("/hello")
def hello(req, sr):
    return respond(sr, "Hello " + req.args.get("name", "world"), extra=[("X-App", "flaskish")])

@route("/form", ("POST",))
def form(req, sr):
    return respond(sr, {"form": req.form()})

@route("/json", ("POST", "PUT"))
def js(req, sr):
    data = req.json()
    data["seen"] = True
    return respond(sr, data, status="201 Created")

@route("/stream")
def stream(req, sr):
    sr("200 OK", [("Content-Type", "text/plain")])
    def gen():
        yield b"first\n"
        time.sleep(float(req.args.get("pause", "0")))
        for i in range(3):
            yield b"line %d\n" % i
    return gen()

@route("/forever")
def forever(req, sr):
    sr("200 OK", [("Content-Type", "text/plain")])
    def gen():
        try:
            while True:
                yield b"x" * 65536
                time.sleep(0.005)
        finally:
            with open(os.path.join(os.path.dirname(__file__), "gen.closed"), "w") as f:
                f.write("closed")
    return gen()

@route("/write")
def write(req, sr):
    w = sr("200 OK", [("Content-Type", "text/plain")])
    w(b"written ")
    w(b"by write()")
    return [b" and returned"]

@route("/boom")
def boom(req, sr):
    raise ValueError("kaboom")

@route("/late-boom")
def late_boom(req, sr):
    sr("200 OK", [("Content-Type", "text/plain")])
    def gen():
        yield b"partial " * 100
        raise RuntimeError("died in the middle")
    return gen()

@route("/exc-info")
def exc_info(req, sr):
    sr("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("handled")
    except KeyError:
        sr("503 Try Later", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"sorry"]

@route("/file")
def file(req, sr):
    path = os.path.join(os.path.dirname(__file__), "data.bin")
    f = open(path, "rb")
    if "skip" in req.args:
        f.seek(int(req.args["skip"]))
    sr("200 OK", [("Content-Type", "application/octet-stream")])
    return req.environ["wsgi.file_wrapper"](f, 32768)

@route("/env")
def env(req, sr):
    keys = ["SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "REQUEST_URI",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_USER",
            "AUTH_TYPE", "HTTP_X_FOO", "HTTP_AUTHORIZATION", "CONTENT_TYPE", "CONTENT_LENGTH",
            "GATEWAY_INTERFACE", "SCRIPT_FILENAME", "DOCUMENT_ROOT",
            "wsgi.url_scheme", "wsgi.multithread", "wsgi.run_once", "wsgi.input_terminated",
            "mod_wsgi.application_group", "mod_wsgi.process_group",
            "mod_wsgi.callable_object", "mod_wsgi.script_reloading"]
    out = {k: req.environ.get(k) for k in keys}
    out["version"] = list(req.environ["wsgi.version"])
    out["pid"] = os.getpid()
    out["module"] = __name__
    return respond(sr, out)

@route("/upload", ("POST", "PUT"))
def upload(req, sr):
    h = hashlib.sha256()
    n = reads = 0
    inp = req.environ["wsgi.input"]
    while True:
        chunk = inp.read(65536)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
        reads += 1
    return respond(sr, {"length": n, "sha256": h.hexdigest(), "reads": reads})

@route("/lines", ("POST",))
def lines(req, sr):
    inp = req.environ["wsgi.input"]
    first = inp.readline()
    rest = list(inp)
    return respond(sr, {"first": first.decode(), "rest": [x.decode() for x in rest]})

@route("/errors")
def errors(req, sr):
    print("a line for the error log", file=req.environ["wsgi.errors"])
    req.environ["wsgi.errors"].write("second ")
    req.environ["wsgi.errors"].write("line\n")
    return respond(sr, "logged")

@route("/exit")
def exits(req, sr):
    sys.exit(3)

@route("/badheader")
def badheader(req, sr):
    sr("200 OK", [("X-Bad", "a\r\nInjected: yes")])
    return [b"no"]

@route("/notbytes")
def notbytes(req, sr):
    sr("200 OK", [("Content-Type", "text/plain")])
    return ["a str"]

@route("/nostart")
def nostart(req, sr):
    return [b"never started"]

@route("/ssi")
def ssi(req, sr):
    return respond(sr, '<p><!--#echo var="DOCUMENT_URI" --></p>', ctype="text/html")

@route("/slowclose")
def slowclose(req, sr):
    class Body:
        def __iter__(self):
            yield b"body"
        def close(self):
            open(os.path.join(os.path.dirname(__file__), "closed.flag"), "w").write("yes")
    sr("200 OK", [("Content-Type", "text/plain")])
    return Body()

def application(environ, start_response):
    req = Request(environ)
    hit = ROUTES.get(req.path)
    if hit is None:
        return respond(start_response, "no route " + req.path, status="404 Not Found")
    fn, methods = hit
    if req.method not in methods and not (req.method == "HEAD" and "GET" in methods):
        return respond(start_response, "method", status="405 Method Not Allowed",
                       extra=[("Allow", ", ".join(methods))])
    return fn(req, start_response)

def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the other callable"]
'''

DATA = bytes(range(256)) * 4096 + b"tail"      # 1 MiB + 4


def wait_log(srv, text: str, secs: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    """Some lines reach the error log after the client saw the end: poll."""
    deadline = time.monotonic() + secs
    while text not in srv.error_log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def conf(extra: str = "") -> str:
    return f"""
StartServers 1
WSGIScriptAlias /app @ROOT@/apps/app.py
<Directory @ROOT@/apps>
    Require all granted
</Directory>
{extra}
"""


@pytest.fixture
def srv(make_server):  # type: ignore[no-untyped-def]
    return make_server(conf(), files={"apps/app.py": APP, "apps/data.bin": DATA})


def test_routing_and_query_arguments(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/app/hello?name=Bob"))
    assert r.status_code == 200
    assert r.text == "Hello Bob"
    assert r.headers["X-App"] == "flaskish"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Content-Length"] == "9"
    assert requests.get(srv.url("/app")).text == "index"          # PATH_INFO ""
    assert requests.get(srv.url("/app/")).text == "index"
    r = requests.get(srv.url("/app/nothing/here"))
    assert r.status_code == 404 and r.text == "no route /nothing/here"
    r = requests.delete(srv.url("/app/hello"))
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    # a longer prefix that is not on a segment boundary is not the mount
    assert requests.get(srv.url("/apple")).status_code == 404


def test_post_form_and_json(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.post(srv.url("/app/form"), data={"a": "1", "b": "two words"})
    assert r.json() == {"form": {"a": "1", "b": "two words"}}
    r = requests.post(srv.url("/app/json"), json={"x": [1, 2]})
    assert r.status_code == 201
    assert r.json() == {"x": [1, 2], "seen": True}
    r = requests.put(srv.url("/app/json"), data=iter([json.dumps({"y": 1}).encode()]))
    assert r.status_code == 201 and r.json() == {"y": 1, "seen": True}


def test_environ(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/app/env?x=1&y=%20"), headers={"X-Foo": "bar",
                                                              "Authorization": "Bearer t"})
    e = r.json()
    assert e["SCRIPT_NAME"] == "/app"
    assert e["PATH_INFO"] == "/env"
    assert e["QUERY_STRING"] == "x=1&y=%20"
    assert e["REQUEST_METHOD"] == "GET"
    assert e["REQUEST_URI"] == "/app/env?x=1&y=%20"
    assert e["SERVER_NAME"] == "127.0.0.1"           # UseCanonicalName Off: the Host
    assert e["SERVER_PORT"] == str(srv.port)
    assert e["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert e["HTTP_X_FOO"] == "bar"
    assert e["HTTP_AUTHORIZATION"] is None          # WSGIPassAuthorization defaults to Off
    assert e["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert e["SCRIPT_FILENAME"] == str(srv.root / "apps" / "app.py")
    assert e["wsgi.url_scheme"] == "http"
    assert e["wsgi.multithread"] is True and e["wsgi.run_once"] is False
    assert e["wsgi.input_terminated"] is True
    assert e["version"] == [1, 0]
    assert e["mod_wsgi.application_group"] == "test.local|/app"  # ServerName, not Host
    assert e["mod_wsgi.callable_object"] == "application"
    assert e["mod_wsgi.script_reloading"] == "1"
    assert e["module"].startswith("_mod_wsgi_")
    # PATH_INFO is decoded; its bytes as latin-1 characters (PEP 3333's native strings)
    got = srv.raw(b"GET /app/%65nv/caf%C3%A9 HTTP/1.0\r\n\r\n")
    assert "no route /env/caf\u00c3\u00a9".encode() in got


def test_streaming_generator_is_chunked_and_not_buffered(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/app/stream"))
    assert r.text == "first\nline 0\nline 1\nline 2\n"
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in r.headers
    # the first piece arrives while the generator still sleeps
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /app/stream?pause=0.8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        t0 = time.monotonic()
        got = b""
        while b"first" not in got:
            got += s.recv(65536)
        assert time.monotonic() - t0 < 0.6
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    assert got.endswith(b"0\r\n\r\n") and b"line 2" in got


def test_write_callable_and_close(srv) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(srv.url("/app/write")).text == "written by write() and returned"
    flag = srv.root / "apps" / "closed.flag"
    assert requests.get(srv.url("/app/slowclose")).text == "body"
    assert flag.read_text() == "yes"


def test_file_wrapper_goes_out_as_a_file(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/app/file"))
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.content == DATA
    r = requests.get(srv.url("/app/file?skip=1000"))
    assert r.content == DATA[1000:]
    # a file bucket: byte ranges apply to it like to a static file
    r = requests.get(srv.url("/app/file"), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == DATA[10:20]
    r = requests.head(srv.url("/app/file"))
    assert r.headers["Content-Length"] == str(len(DATA)) and r.content == b""


def test_upload_is_streamed_through_wsgi_input(srv) -> None:  # type: ignore[no-untyped-def]
    big = os.urandom(3 * 1024 * 1024 + 17)

    def gen():  # type: ignore[no-untyped-def]
        for i in range(0, len(big), 100_000):
            yield big[i:i + 100_000]

    r = requests.post(srv.url("/app/upload"), data=gen())          # chunked
    j = r.json()
    assert j["length"] == len(big) and j["sha256"] == hashlib.sha256(big).hexdigest()
    assert j["reads"] > 3                                          # pieces, not one whole
    r = requests.post(srv.url("/app/upload"), data=big)            # Content-Length
    assert r.json()["sha256"] == hashlib.sha256(big).hexdigest()
    r = requests.post(srv.url("/app/lines"), data=b"one\ntwo\nthree")
    assert r.json() == {"first": "one\n", "rest": ["two\n", "three"]}


def test_exception_is_a_500_with_a_traceback_and_the_worker_lives(srv) -> None:  # type: ignore[no-untyped-def]
    pid = requests.get(srv.url("/app/env")).json()["pid"]
    r = requests.get(srv.url("/app/boom"))
    assert r.status_code == 500
    assert "Internal Server Error" in r.text and "kaboom" not in r.text
    log = srv.error_log()
    assert f"mod_wsgi (pid={pid}): Exception occurred processing WSGI script " \
           f"'{srv.root / 'apps' / 'app.py'}'." in log
    assert "Traceback (most recent call last):" in log
    assert "ValueError: kaboom" in log
    assert requests.get(srv.url("/app/exit")).status_code == 500   # sys.exit in the app
    assert "SystemExit: 3" in srv.error_log()
    for path, text in (("/app/badheader", "embedded newline in response header"),
                       ("/app/notbytes", "sequence of byte string values expected"),
                       ("/app/nostart", "response has not been started")):
        assert requests.get(srv.url(path)).status_code == 500
        assert text in srv.error_log()
    r = requests.get(srv.url("/app/env"))
    assert r.status_code == 200 and r.json()["pid"] == pid


def test_exception_after_the_head_aborts_the_connection(srv) -> None:  # type: ignore[no-untyped-def]
    got = b""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /app/late-boom HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass                                    # the abort is a reset
    # whatever arrived, the response never ends properly: no last chunk
    assert got == b"" or got.startswith(b"HTTP/1.1 200 OK")
    assert not got.endswith(b"0\r\n\r\n")
    assert wait_log(srv, "RuntimeError: died in the middle")
    assert requests.get(srv.url("/app/hello")).status_code == 200


def test_client_going_away_closes_the_generator(srv) -> None:  # type: ignore[no-untyped-def]
    flag = srv.root / "apps" / "gen.closed"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /app/forever HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        while got < 300_000:
            got += len(s.recv(65536))
    deadline = time.monotonic() + 5
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.read_text() == "closed"
    assert wait_log(srv, "Client closed connection before the response of")
    assert requests.get(srv.url("/app/hello")).status_code == 200


def test_exc_info_replaces_the_headers_not_yet_sent(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/app/exc-info"))
    assert r.status_code == 503 and r.reason == "Try Later" and r.text == "sorry"


def test_wsgi_errors_lines_reach_the_error_log(srv) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(srv.url("/app/errors")).text == "logged"
    log = srv.error_log()
    assert "[error] [client 127.0.0.1] a line for the error log" in log
    assert "[error] [client 127.0.0.1] second line" in log


def test_limit_request_body_applies(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(conf("<Location /app>\nLimitRequestBody 1000\n</Location>"),
                    files={"apps/app.py": APP})
    r = requests.post(s.url("/app/upload"), data=b"x" * 5000)
    assert r.status_code == 413

    def gen():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"y" * 500

    r = requests.post(s.url("/app/upload"), data=gen())
    assert r.status_code == 413


def test_script_errors_and_missing_scripts(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server("""
WSGIScriptAlias /syntax @ROOT@/apps/syntax.py
WSGIScriptAlias /nocall @ROOT@/apps/nocall.py
WSGIScriptAlias /other @ROOT@/apps/app.py application=other
WSGIScriptAlias /missing @ROOT@/apps/missing.py
""", files={"apps/syntax.py": "def application(:\n", "apps/nocall.py": "x = 1\n",
            "apps/app.py": APP})
    assert requests.get(s.url("/syntax")).status_code == 500
    log = s.error_log()
    assert f"Target WSGI script '{s.root / 'apps' / 'syntax.py'}' cannot be loaded as " \
           "Python module." in log
    assert "SyntaxError" in log
    assert requests.get(s.url("/nocall")).status_code == 500
    assert f"Target WSGI script '{s.root / 'apps' / 'nocall.py'}' does not contain WSGI " \
           "application 'application'." in s.error_log()
    assert requests.get(s.url("/other/x")).text == "the other callable"
    assert requests.get(s.url("/missing")).status_code == 404
    assert "Target WSGI script not found or unable to stat: " \
           f"{s.root / 'apps' / 'missing.py'}" in s.error_log()
    # once fixed, the script loads (the failure is not remembered)
    p = s.root / "apps" / "syntax.py"
    p.write_text(APP)
    assert requests.get(s.url("/syntax/hello")).text == "Hello world"


SLEEPY = '''
import threading, time
def application(environ, start_response):
    time.sleep(float(environ["QUERY_STRING"] or "0.4"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [threading.current_thread().name.encode()]
'''


def test_thread_pool_size_and_the_loop_never_blocks(make_server) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    s = make_server("StartServers 1\nWSGIThreads 2\nWSGIScriptAlias /s @ROOT@/apps/s.py\n",
                    files={"apps/s.py": SLEEPY, "htdocs/static.txt": "static"})
    requests.get(s.url("/s?0"))
    with ThreadPoolExecutor(4) as ex:
        t0 = time.monotonic()
        futs = [ex.submit(requests.get, s.url("/s?0.4")) for _ in range(4)]
        time.sleep(0.1)
        # two requests sleep in the two threads, two wait: the loop still serves
        t1 = time.monotonic()
        assert requests.get(s.url("/static.txt")).text == "static"
        assert time.monotonic() - t1 < 0.25
        names = {f.result().text for f in futs}
        elapsed = time.monotonic() - t0
    assert names == {"featherd-wsgi-0", "featherd-wsgi-1"}
    assert elapsed >= 0.8                        # 4 requests, 2 at a time


VERSIONED = '''
import helper
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"version %d %s" % (VERSION, helper.WORD)]
VERSION = {v}
'''


def _bump(p: Path, text: str) -> None:
    st = p.stat()
    p.write_text(text)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_reload_on_mtime_change_and_python_path(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server("""
StartServers 1
WSGIPythonPath @ROOT@/lib
WSGIScriptAlias /v @ROOT@/apps/v.py
WSGIScriptAlias /fixed @ROOT@/apps/fixed.py
<Location /fixed>
    WSGIScriptReloading Off
</Location>
""", files={"apps/v.py": VERSIONED.format(v=1), "apps/fixed.py": VERSIONED.format(v=1),
            "lib/helper.py": "WORD = b'from-lib'\n"})
    assert requests.get(s.url("/v")).text == "version 1 from-lib"
    assert requests.get(s.url("/fixed")).text == "version 1 from-lib"
    _bump(s.root / "apps" / "v.py", VERSIONED.format(v=2))
    _bump(s.root / "apps" / "fixed.py", VERSIONED.format(v=2))
    assert requests.get(s.url("/v")).text == "version 2 from-lib"
    assert requests.get(s.url("/fixed")).text == "version 1 from-lib"
    assert "Reloading WSGI script" in s.error_log()


COUNTER = '''
import os
HITS = [0]
def application(environ, start_response):
    HITS[0] += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d %s" % (HITS[0], environ["mod_wsgi.application_group"].encode())]
'''


def test_application_groups(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server("""
StartServers 1
WSGIScriptAlias /a @ROOT@/apps/c.py
WSGIScriptAlias /b @ROOT@/apps/c.py
WSGIScriptAlias /g1 @ROOT@/apps/c.py application-group=%{GLOBAL}
WSGIScriptAlias /g2 @ROOT@/apps/c.py
<Location /g2>
    WSGIApplicationGroup %{GLOBAL}
</Location>
WSGIScriptAlias /named @ROOT@/apps/c.py
<Location /named>
    WSGIApplicationGroup shared
</Location>
""", files={"apps/c.py": COUNTER})
    assert requests.get(s.url("/a")).text == "1 test.local|/a"
    assert requests.get(s.url("/a")).text == "2 test.local|/a"
    assert requests.get(s.url("/b")).text == "1 test.local|/b"   # its own copy
    assert requests.get(s.url("/g1")).text == "1 "
    assert requests.get(s.url("/g2")).text == "2 "                        # shared one
    assert requests.get(s.url("/named")).text == "1 shared"


def test_pass_authorization_and_process_groups(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server("""
WSGIDaemonProcess site threads=4 processes=2
WSGIScriptAlias /app @ROOT@/apps/app.py process-group=site
WSGIScriptAlias /pa @ROOT@/apps/app.py pass-authorization=On
<Location /app>
    WSGIPassAuthorization On
</Location>
<Location /app/env>
    WSGIProcessGroup other
</Location>
""", files={"apps/app.py": APP})
    e = requests.get(s.url("/app/env"), headers={"Authorization": "Bearer t"}).json()
    assert e["HTTP_AUTHORIZATION"] == "Bearer t"
    assert e["mod_wsgi.process_group"] == "site"          # the mount's option wins
    e = requests.get(s.url("/pa/env"), headers={"Authorization": "Bearer u"}).json()
    assert e["HTTP_AUTHORIZATION"] == "Bearer u"


def test_directory_mount_and_add_handler(make_server) -> None:  # type: ignore[no-untyped-def]
    hello = COUNTER.replace("HITS[0] += 1", "HITS[0] = 7")
    s = make_server("""
WSGIScriptAlias /wsgi/ @ROOT@/scripts/
AddHandler wsgi-script .wsgi
<Directory @ROOT@/htdocs/exec>
    Options ExecCGI
</Directory>
<Directory @ROOT@/htdocs/noexec>
    Options None
</Directory>
""", files={"scripts/one.py": APP, "scripts/two.py": hello,
            "htdocs/exec/h.wsgi": APP, "htdocs/noexec/h.wsgi": APP})
    e = requests.get(s.url("/wsgi/one.py/env")).json()
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == ("/wsgi/one.py", "/env")
    assert requests.get(s.url("/wsgi/two.py")).text.startswith("7 ")
    assert requests.get(s.url("/wsgi/three.py")).status_code == 404
    e = requests.get(s.url("/exec/h.wsgi/env?q=1")).json()
    assert (e["SCRIPT_NAME"], e["PATH_INFO"], e["QUERY_STRING"]) == \
        ("/exec/h.wsgi", "/env", "q=1")
    assert requests.get(s.url("/noexec/h.wsgi/env")).status_code == 403
    assert "Options ExecCGI is off in this directory" in s.error_log()
