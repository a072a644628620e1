"""mod_asgi end to end: a Starlette-style ASGI 3 application (router with path
parameters, Request/JSONResponse/StreamingResponse, a lifespan that fills the state)
written here without a framework, served by a real featherd through ASGIScriptAlias;
the scope, streaming both ways, http.disconnect, pathsend, errors, ASGILifespan modes,
reloading and shutdown in the worker."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time

import pytest
import requests

APP = r'''
import asyncio, json, os, re

HERE = os.path.dirname(__file__)

class Request:
    def __init__(self, scope, receive):
        self.scope, self._receive = scope, receive
        self.path_params = {}
    @property
    def query(self):
        from urllib.parse import parse_qs
        return {k: v[0] for k, v in parse_qs(self.scope["query_string"].decode()).items()}
    @property
    def headers(self):
        return {k.decode(): v.decode() for k, v in self.scope["headers"]}
    async def stream(self):
        while True:
            m = await self._receive()
            if m["type"] == "http.disconnect":
                raise ConnectionError("client disconnected")
            yield m.get("body", b"")
            if not m.get("more_body", False):
                return
    async def body(self):
        return b"".join([c async for c in self.stream()])
    async def json(self):
        return json.loads(await self.body())

class Response:
    media_type = "text/plain"
    def __init__(self, content=b"", status_code=200, headers=None, media_type=None):
        self.body = content if isinstance(content, bytes) else self.render(content)
        self.status_code = status_code
        self.headers = dict(headers or {})
        self.media_type = media_type or self.media_type
    def render(self, content):
        return str(content).encode()
    def raw_headers(self):
        h = [(b"content-type", self.media_type.encode())]
        return h + [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
    async def __call__(self, scope, receive, send):
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body})

class JSONResponse(Response):
    media_type = "application/json"
    def render(self, content):
        return json.dumps(content).encode()

class StreamingResponse(Response):
    def __init__(self, gen, **kw):
        super().__init__(b"", **kw)
        self.gen = gen
    async def __call__(self, scope, receive, send):
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers()})
        async for chunk in self.gen:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

class Router:
    def __init__(self, lifespan=None):
        self.routes = []
        self.lifespan_cm = lifespan
    def route(self, pattern, methods=("GET",)):
        rx = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", pattern) + "$")
        def deco(fn):
            self.routes.append((rx, methods, fn))
            return fn
        return deco
    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.lifespan(scope, receive, send)
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        req = Request(scope, receive)
        for rx, methods, fn in self.routes:
            m = rx.match(path)
            if m:
                if scope["method"] not in methods:
                    return await Response("method", 405)(scope, receive, send)
                req.path_params = m.groupdict()
                resp = await fn(req)
                return await resp(scope, receive, send)
        await Response("not found: " + path, 404)(scope, receive, send)
    async def lifespan(self, scope, receive, send):
        msg = await receive()
        assert msg["type"] == "lifespan.startup"
        try:
            await self.lifespan_cm(scope["state"])
        except Exception as e:
            await send({"type": "lifespan.startup.failed", "message": str(e)})
            return
        await send({"type": "lifespan.startup.complete"})
        msg = await receive()
        assert msg["type"] == "lifespan.shutdown"
        with open(os.path.join(HERE, "shutdown.%d" % os.getpid()), "w") as f:
            f.write(json.dumps(scope["state"]["counter"]))
        await send({"type": "lifespan.shutdown.complete"})

async def startup(state):
    if os.path.exists(os.path.join(HERE, "fail-startup")):
        raise RuntimeError("no database")
    state["started"] = "yes"
    state["counter"] = {"requests": 0}

app = Router(lifespan=startup)

@app.route("/")
async def index(req):
    return Response("home")

@app.route("/items/{item_id}")
async def item(req):
    counter = req.scope["state"].get("counter")
    if counter is not None:
        counter["requests"] += 1
    return JSONResponse({"id": req.path_params["item_id"], "q": req.query.get("q"),
                         "state": req.scope["state"].get("started")})

@app.route("/echo", ("POST", "PUT"))
async def echo(req):
    data = await req.json()
    return JSONResponse({"got": data}, status_code=201, headers={"X-Echo": "1"})

@app.route("/upload", ("POST",))
async def upload(req):
    import hashlib
    h, n, parts = hashlib.sha256(), 0, 0
    async for chunk in req.stream():
        h.update(chunk)
        n += len(chunk)
        parts += 1
    return JSONResponse({"length": n, "sha256": h.hexdigest(), "parts": parts})

@app.route("/stream")
async def stream(req):
    pause = float(req.query.get("pause", "0"))
    async def gen():
        yield b"first\n"
        await asyncio.sleep(pause)
        for i in range(3):
            yield b"line %d\n" % i
    return StreamingResponse(gen())

@app.route("/scope")
async def scope(req):
    s = dict(req.scope)
    s["headers"] = [[k.decode(), v.decode()] for k, v in s["headers"]]
    s["raw_path"] = s["raw_path"].decode()
    s["query_string"] = s["query_string"].decode()
    s["state"] = sorted(s["state"])
    s["ext"] = sorted(s.pop("extensions"))
    return JSONResponse(s)

@app.route("/boom")
async def boom(req):
    raise ZeroDivisionError("asgi kaboom")

@app.route("/pid")
async def pid(req):
    return Response(str(os.getpid()))

@app.route("/disconnect", ("POST",))
async def disconnect(req):
    await req.body()
    m = await req._receive()
    with open(os.path.join(HERE, "disconnect.seen"), "w") as f:
        f.write(m["type"])
    return Response(m["type"])

@app.route("/file")
async def file(req):
    class PathSend(Response):
        async def __call__(self, scope, receive, send):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream")]})
            await send({"type": "http.response.pathsend", "path": os.path.join(HERE, "data.bin")})
    assert "http.response.pathsend" in req.scope["extensions"]
    return PathSend()
'''

RAW = r'''
import asyncio, os
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        raise RuntimeError("lifespan is not for me")
    p = scope["path"]
    if p == "/raw/nostart":
        return
    if p == "/raw/half":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half " * 50, "more_body": True})
        raise RuntimeError("died after the head")
    if p == "/raw/twice":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.start", "status": 200, "headers": []})
    if p == "/raw/after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"complete"})
        raise RuntimeError("background task failed")
    if p == "/raw/exit":
        raise SystemExit(4)
    await send({"type": "http.response.start", "status": 299,
                "headers": [(b"x-state", repr(scope["state"]).encode())]})
    await send({"type": "http.response.body", "body": b"raw"})
'''

DATA = os.urandom(300_000)


def conf(extra: str = "") -> str:
    return f"""
StartServers 1
ASGIScriptAlias /api @ROOT@/apps/app.py
ASGIScriptAlias /raw @ROOT@/apps/raw.py
{extra}
"""


def wait_log(srv, text: str, secs: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    """The error log gets some lines after the client has its response: poll."""
    deadline = time.monotonic() + secs
    while text not in srv.error_log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


FILES = {"apps/app.py": APP, "apps/raw.py": RAW, "apps/data.bin": DATA}


@pytest.fixture
def srv(make_server):  # type: ignore[no-untyped-def]
    return make_server(conf(), files=dict(FILES))


def test_routes_query_and_lifespan_state(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/api/items/42?q=spam"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Content-Length"] == str(len(r.content))
    assert r.json() == {"id": "42", "q": "spam", "state": "yes"}
    assert requests.get(srv.url("/api")).text == "home"
    assert requests.get(srv.url("/api/")).text == "home"
    r = requests.get(srv.url("/api/nope"))
    assert r.status_code == 404 and r.text == "not found: /nope"
    assert requests.delete(srv.url("/api/items/1")).status_code == 405


def test_post_json_and_streamed_upload(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.post(srv.url("/api/echo"), json={"a": [1, 2, 3]})
    assert r.status_code == 201 and r.json() == {"got": {"a": [1, 2, 3]}}
    assert r.headers["X-Echo"] == "1"
    big = os.urandom(2 * 1024 * 1024 + 5)

    def gen():  # type: ignore[no-untyped-def]
        for i in range(0, len(big), 64_000):
            yield big[i:i + 64_000]

    j = requests.post(srv.url("/api/upload"), data=gen()).json()
    assert j["length"] == len(big) and j["sha256"] == hashlib.sha256(big).hexdigest()
    assert j["parts"] > 3
    j = requests.post(srv.url("/api/upload"), data=big).json()
    assert j["sha256"] == hashlib.sha256(big).hexdigest()
    j = requests.post(srv.url("/api/upload"), data=b"").json()
    assert j == {"length": 0, "sha256": hashlib.sha256(b"").hexdigest(), "parts": 1}


def test_scope(srv) -> None:  # type: ignore[no-untyped-def]
    s = requests.get(srv.url("/api/scope?x=1&y=2"), headers={"X-Mixed-Case": "V"}).json()
    assert s["type"] == "http"
    assert s["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert s["http_version"] == "1.1"
    assert s["method"] == "GET"
    assert s["scheme"] == "http"
    assert s["path"] == "/api/scope"
    assert s["root_path"] == "/api"
    assert s["raw_path"] == "/api/scope"
    assert s["query_string"] == "x=1&y=2"
    assert ["x-mixed-case", "V"] in s["headers"]
    assert ["host", f"127.0.0.1:{srv.port}"] in s["headers"]
    assert s["client"][0] == "127.0.0.1" and isinstance(s["client"][1], int)
    assert s["server"] == ["127.0.0.1", srv.port]
    assert s["state"] == ["counter", "started"]
    assert s["ext"] == ["featherd", "http.response.pathsend"]
    # percent-encoded and UTF-8 paths: path decoded, raw_path as sent
    got = srv.raw(b"GET /api/sc%6fpe/%C3%A9 HTTP/1.0\r\n\r\n")
    assert b"not found: /scope/\xc3\xa9" in got
    got = srv.raw(b"GET /api/scope?q=%41+b HTTP/1.0\r\n\r\n")
    assert b'"http_version": "1.0"' in got and b'"query_string": "q=%41+b"' in got


def test_streaming_response_is_chunked_and_not_buffered(srv) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(srv.url("/api/stream"))
    assert r.text == "first\nline 0\nline 1\nline 2\n"
    assert r.headers["Transfer-Encoding"] == "chunked"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /api/stream?pause=0.8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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
    assert got.endswith(b"0\r\n\r\n")


def test_disconnect_after_the_body_and_pathsend(srv) -> None:  # type: ignore[no-untyped-def]
    # after the body, receive() waits until the response is over or the client leaves;
    # here the app asks before answering: the client's close wakes it
    seen = srv.root / "apps" / "disconnect.seen"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"POST /api/disconnect HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        time.sleep(0.3)
        assert not seen.exists()                     # still waiting: the client is there
    deadline = time.monotonic() + 5
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen.read_text() == "http.disconnect"
    assert requests.get(srv.url("/api/pid")).status_code == 200
    r = requests.get(srv.url("/api/file"))
    assert r.content == DATA and r.headers["Content-Length"] == str(len(DATA))
    r = requests.get(srv.url("/api/file"), headers={"Range": "bytes=5-9"})
    assert r.status_code == 206 and r.content == DATA[5:10]


def test_errors_are_500_and_the_worker_lives(srv) -> None:  # type: ignore[no-untyped-def]
    pid = requests.get(srv.url("/api/pid")).text
    r = requests.get(srv.url("/api/boom"))
    assert r.status_code == 500 and "kaboom" not in r.text
    log = srv.error_log()
    assert f"mod_asgi (pid={pid}): Exception occurred processing ASGI script " \
           f"'{srv.root / 'apps' / 'app.py'}'." in log
    assert "ZeroDivisionError: asgi kaboom" in log and "Traceback" in log
    assert requests.get(srv.url("/raw/nostart")).status_code == 500
    assert "ASGI callable returned without starting response" in srv.error_log()
    assert requests.get(srv.url("/raw/twice")).status_code == 500
    assert "Expected ASGI message 'http.response.body', but got 'http.response.start'" \
        in srv.error_log()
    assert requests.get(srv.url("/raw/exit")).status_code == 500
    assert "SystemExit: 4" in srv.error_log()
    # an exception once the response is complete is logged; the response stands
    r = requests.get(srv.url("/raw/after"))
    assert r.status_code == 200 and r.text == "complete"
    assert wait_log(srv, "RuntimeError: background task failed")
    # an exception after the head: the connection is aborted (no last chunk)
    got = b""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /raw/half HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass
    assert not got.endswith(b"0\r\n\r\n")
    assert requests.get(srv.url("/api/pid")).text == pid


def test_limit_request_body(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(conf("<Location /api/upload>\nLimitRequestBody 1000\n</Location>"),
                    files=dict(FILES))
    assert requests.post(s.url("/api/upload"), data=b"x" * 5000).status_code == 413
    r = requests.post(s.url("/api/upload"), data=iter([b"y" * 600] * 5))
    assert r.status_code == 413
    assert "stopped after the request body failed" in s.error_log()
    assert requests.post(s.url("/api/upload"), data=b"x" * 999).json()["length"] == 999


def test_lifespan_auto_unsupported_and_shutdown(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(conf(), files=dict(FILES))
    r = requests.get(s.url("/raw/x"))
    assert r.status_code == 299 and r.headers["x-state"] == "{}"
    assert "ASGI 'lifespan' protocol appears unsupported by" in s.error_log()
    for _ in range(3):
        requests.get(s.url("/api/items/1"))
    pid = requests.get(s.url("/api/pid")).text
    s.stop()
    marker = s.root / "apps" / f"shutdown.{pid}"
    assert marker.read_text() == '{"requests": 3}'


def test_lifespan_failure_is_a_500_for_that_application(make_server) -> None:  # type: ignore[no-untyped-def]
    files = dict(FILES)
    files["apps/fail-startup"] = ""
    s = make_server(conf(), files=files)
    assert requests.get(s.url("/api/items/1")).status_code == 500
    log = s.error_log()
    assert "Application startup failed for" in log and "no database" in log
    assert "its lifespan startup failed" in log
    assert requests.get(s.url("/raw/x")).status_code == 299      # the other app serves


def test_lifespan_off_and_on(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(conf("ASGILifespan off"), files=dict(FILES))
    assert requests.get(s.url("/api/items/1")).json()["state"] is None
    assert "appears unsupported" not in s.error_log()
    s2 = make_server("""
StartServers 1
ASGILifespan on
ASGIScriptAlias /raw @ROOT@/apps/raw.py
ASGIScriptAlias /auto @ROOT@/apps/raw2.py lifespan=auto
""", files={"apps/raw.py": RAW, "apps/raw2.py": RAW})
    assert requests.get(s2.url("/raw/x")).status_code == 500
    assert "Exception in 'lifespan' protocol of" in s2.error_log()
    assert requests.get(s2.url("/auto/x")).status_code == 299


def test_reload_runs_a_new_lifespan(make_server) -> None:  # type: ignore[no-untyped-def]
    s = make_server(conf(), files=dict(FILES))
    assert requests.get(s.url("/api/items/1")).json()["id"] == "1"
    p = s.root / "apps" / "app.py"
    st = p.stat()
    p.write_text(APP.replace('"id": req.path_params["item_id"]', '"id": "v2"'))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    r = requests.get(s.url("/api/items/1")).json()
    assert r == {"id": "v2", "q": None, "state": "yes"}
    pid = requests.get(s.url("/api/pid")).text
    assert (s.root / "apps" / f"shutdown.{pid}").read_text() == '{"requests": 1}'
    assert "Reloading ASGI script" in s.error_log()


def test_longest_mount_wins_across_wsgi_and_asgi(make_server) -> None:  # type: ignore[no-untyped-def]
    wsgi_app = ('def application(e, sr):\n    sr("200 OK", [("Content-Type", "text/plain")])\n'
                '    return [("wsgi " + e["SCRIPT_NAME"] + "|" + e["PATH_INFO"]).encode()]\n')
    s = make_server("""
WSGIScriptAlias / @ROOT@/apps/w.py
ASGIScriptAlias /api @ROOT@/apps/app.py
""", files={"apps/w.py": wsgi_app, **FILES})
    assert requests.get(s.url("/x/y")).text == "wsgi |/x/y"
    assert requests.get(s.url("/")).text == "wsgi |/"
    assert requests.get(s.url("/api/items/7")).json()["id"] == "7"
    assert requests.get(s.url("/apix")).text == "wsgi |/apix"


def test_access_log_line(srv) -> None:  # type: ignore[no-untyped-def]
    requests.get(srv.url("/api/items/5?q=1"))
    log = srv.access_log()
    assert re.search(r'127\.0\.0\.1 - - \[[^]]+\] "GET /api/items/5\?q=1 HTTP/1\.1" 200 '
                     r'\d+\n', log), log
