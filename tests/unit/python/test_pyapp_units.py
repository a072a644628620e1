"""Units of mod_wsgi/mod_asgi without sockets: mount parsing and longest-prefix mapping,
script loading and reloading, the thread pool, PEP 3333's start_response/write rules,
wsgi.input over a loop, wsgi.errors, wsgi.file_wrapper, headers, application groups
and the ASGI lifespan protocol."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.core.hooks import DECLINED, OK
from featherd.errors import ConfigError
from featherd.http.headers import Headers
from featherd.modules import builtin_modules
from featherd.modules.python import asgi_lifespan, common, mod_asgi, mod_wsgi, wsgi_app
from featherd.modules.python.common import ScriptError, ThreadPool


def tree(text: str) -> Any:
    return load_config(None, builtin_modules(), server_root="/srv", text="ServerName u\n" + text)


def req(t: Any, uri: str) -> Any:
    return SimpleNamespace(uri=uri, server=t.main, ctx={}, notes={}, filename=None,
                           path_info="", handler=None)


# --- configuration and mapping -------------------------------------------------------------
def test_alias_options_and_relative_paths() -> None:
    t = tree("WSGIScriptAlias /app/ apps/app.wsgi application=app process-group=pg "
             "application-group=%{GLOBAL} pass-authorization=On\n"
             "ASGIScriptAlias / /abs/a.py callable-object=main lifespan=off\n")
    (w,) = t.main.module_config[mod_wsgi.wsgi.index].mounts
    assert (w.url, w.target, w.callable, w.process_group, w.application_group,
            w.pass_authorization, w.is_dir) == \
        ("/app", "/srv/apps/app.wsgi", "app", "pg", "%{GLOBAL}", True, False)
    (a,) = t.main.module_config[mod_asgi.asgi.index].mounts
    assert (a.url, a.target, a.callable, a.lifespan) == ("", "/abs/a.py", "main", "off")
    assert a.kind == "asgi-script" and w.kind == "wsgi-script"


@pytest.mark.parametrize("text,err", [
    ("WSGIScriptAlias /x /y.py application=1abc", "is not a Python identifier"),
    ("WSGIScriptAlias /x /y.py pass-authorization=yes", "pass-authorization must be On or Off"),
    ("WSGIDaemonProcess", "WSGIDaemonProcess requires at least one argument"),
    ("WSGIDaemonProcess d bad", "Invalid option to WSGI daemon process definition: 'bad'."),
    ("WSGIThreads many", "WSGIThreads must be a positive number"),
])
def test_directive_errors(text: str, err: str) -> None:
    with pytest.raises(ConfigError) as e:
        tree(text)
    assert err in str(e.value)


def test_longest_prefix_across_kinds_and_vhosts() -> None:
    t = tree("WSGIScriptAlias / /w/root.py\nWSGIScriptAlias /app /w/app.py\n"
             "ASGIScriptAlias /app/api /a/api.py\nWSGIScriptAlias /dir /w/scripts/\n")
    cases = {
        "/": ("wsgi-script", "/w/root.py", "", "/"),
        "/x/y": ("wsgi-script", "/w/root.py", "", "/x/y"),
        "/app": ("wsgi-script", "/w/app.py", "/app", ""),
        "/app/": ("wsgi-script", "/w/app.py", "/app", "/"),
        "/apple": ("wsgi-script", "/w/root.py", "", "/apple"),
        "/app/api/v1": ("asgi-script", "/a/api.py", "/app/api", "/v1"),
        "/app/apix": ("wsgi-script", "/w/app.py", "/app", "/apix"),
        "/dir/s.py/p/q": ("wsgi-script", "/w/scripts/s.py", "/dir/s.py", "/p/q"),
        "/dir/s.py": ("wsgi-script", "/w/scripts/s.py", "/dir/s.py", ""),
    }
    for uri, (kind, fn, sn, pi) in cases.items():
        r = req(t, uri)
        other = "asgi-script" if kind == "wsgi-script" else "wsgi-script"
        assert common.translate(r, other) == DECLINED
        assert common.translate(r, kind) == OK, uri
        assert (r.handler, r.filename, r.path_info) == (kind, fn, pi), uri
        assert r.ctx[common.MOUNT_KEY][1] == sn, uri
        assert r.notes["alias-forced-type"] == kind
        assert common.script_name_and_path_info(r) == (sn, pi)
    t2 = tree("WSGIScriptAlias /app /w/app.py\n<VirtualHost *:80>\nServerName v\n"
              "WSGIScriptAlias /app /v/app.py\n</VirtualHost>\n")
    v = t2.vhosts[0]                              # merged with the main server's at post_config
    r = SimpleNamespace(uri="/app/x", server=v, ctx={}, notes={}, filename=None, path_info="",
                        handler=None)
    assert common.translate(r, "wsgi-script") == OK and r.filename == "/v/app.py"
    assert common.translate(req(t2, "relative"), "wsgi-script") == DECLINED


def test_fixup_keeps_the_handler_over_add_handler() -> None:
    t = tree("WSGIScriptAlias /app /w/app.py\n")
    r = req(t, "/app")
    common.translate(r, "wsgi-script")
    r.handler = "cgi-script"                   # e.g. AddHandler cgi-script .py
    common.fixup_handler(r, "wsgi-script")
    assert r.handler == "wsgi-script"


def test_application_group_expansion() -> None:
    server = SimpleNamespace(server_hostname="example.com", port=8080)
    r = SimpleNamespace(server=server, subprocess_env={"GRP": "g1"})
    ag = mod_wsgi.application_group
    assert ag(r, None, "/app") == "example.com:8080|/app"
    assert ag(r, "%{RESOURCE}", "") == "example.com:8080|"
    assert ag(r, "%{SERVER}", "/app") == "example.com:8080"
    assert ag(r, "%{GLOBAL}", "/app") == ""
    assert ag(r, "%{ENV:GRP}", "/app") == "g1"
    assert ag(r, "named", "/app") == "named"
    server.port = 443
    assert ag(r, None, "/a") == "example.com|/a"


# --- loading ---------------------------------------------------------------------------------
def test_load_script_module_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.wsgi"                      # any extension
    p.write_text("X = __name__\napplication = lambda e, s: X\n")
    name = common.module_name("mod_wsgi", str(p))
    app = common.load_callable("mod_wsgi", str(p), name, "application", "WSGI")
    assert app(None, None) == name and sys.modules[name].__file__ == str(p)
    assert not list(tmp_path.glob("__pycache__"))          # compiled from source, no .pyc
    with pytest.raises(ScriptError) as e:
        common.load_callable("mod_wsgi", str(p), name, "missing", "WSGI")
    assert e.value.lines[0].endswith(f"Target WSGI script '{p}' does not contain WSGI "
                                     "application 'missing'.")
    p.write_text("raise KeyError('at import')\n")
    with pytest.raises(ScriptError) as e:
        common.load_callable("mod_wsgi", str(p), name, "application", "WSGI")
    assert "cannot be loaded as Python module" in e.value.lines[0]
    assert e.value.lines[-1] == "KeyError: 'at import'"
    assert sys.modules[name].X == name                       # the old module stays


class _Job:
    def __init__(self) -> None:
        self.logged: list[str] = []

    def log(self, level: int, line: str) -> None:
        self.logged.append(line)


def test_wsgi_entry_reloads_on_mtime(tmp_path: Path) -> None:
    p = tmp_path / "a.py"
    p.write_text("def application(e, s): return 1\n")
    entry = wsgi_app.WSGIEntry(str(p), "application", "grp")
    job = _Job()
    a1 = entry.get(1, True, job)  # type: ignore[arg-type]
    assert a1(0, 0) == 1 and entry.get(1, True, job) is a1  # type: ignore[arg-type]
    p.write_text("def application(e, s): return 2\n")
    assert entry.get(1, True, job) is a1                      # same mtime: no reload  # type: ignore[arg-type]
    assert entry.get(2, False, job) is a1                     # reloading off  # type: ignore[arg-type]
    a2 = entry.get(2, True, job)  # type: ignore[arg-type]
    assert a2(0, 0) == 2 and "Reloading WSGI script" in job.logged[0]
    p.write_text("def application(:\n")
    with pytest.raises(ScriptError):
        entry.get(3, True, job)  # type: ignore[arg-type]
    assert entry.app is None                                   # next request tries again
    other = wsgi_app.WSGIEntry(str(p), "application", "other")
    assert other.modname != entry.modname


def test_python_path_goes_first(tmp_path: Path) -> None:
    d = tmp_path / "lib"
    d.mkdir()
    (d / "extra.pth").write_text(str(tmp_path / "fromPth") + "\n")
    (tmp_path / "fromPth").mkdir()
    saved = list(sys.path)
    try:
        common.add_python_path([str(d)])
        assert sys.path[0] == str(d) and str(tmp_path / "fromPth") in sys.path
    finally:
        sys.path[:] = saved


# --- the thread pool ---------------------------------------------------------------------
def test_thread_pool_runs_off_the_loop_and_survives_errors() -> None:
    pool = ThreadPool(3, "t")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        me = threading.get_ident()
        futs = [pool.submit(loop, lambda: (time.sleep(0.05), threading.get_ident())[1])
                for _ in range(6)]
        idents = await asyncio.gather(*futs)
        assert me not in idents and len(set(idents)) <= 3
        assert len(pool.threads) == 3
        with pytest.raises(ZeroDivisionError):
            await pool.submit(loop, lambda: 1 / 0)

        def leave() -> None:
            raise SystemExit(1)
        with pytest.raises(SystemExit):
            await pool.submit(loop, leave)
        assert await pool.submit(loop, lambda: 42) == 42
        assert pool.busy == 0

    asyncio.run(main())
    pool.shutdown()


# --- PEP 3333 rules ---------------------------------------------------------------------------
def _job(body: bytes | None = None) -> Any:
    conn = SimpleNamespace(transport_closed=False, aborted=False, pending=[],
                           paused_writing=False)
    chunks = [body] if body else []

    async def read_body(n: int = -1) -> bytes:
        if not chunks or not chunks[0]:
            return b""
        c = chunks[0]
        take = c if n <= 0 else c[:n]
        chunks[0] = c[len(take):]
        return take

    r = SimpleNamespace(connection=conn, read_body=read_body, log=[],
                        log_error=lambda lvl, m: r.log.append(m))
    entry = SimpleNamespace(path="/x.py", callable="application")
    loop = asyncio.new_event_loop()
    job = wsgi_app.WSGIJob(r, loop, entry, 0, True)  # type: ignore[arg-type]
    return job, loop


def test_start_response_rules() -> None:
    job, loop = _job()
    try:
        with pytest.raises(TypeError, match="expected str object for status"):
            job.start_response(200, [])
        with pytest.raises(ValueError, match="status must be a 3-digit integer"):
            job.start_response("2000 OK", [])
        with pytest.raises(TypeError, match="response headers must be a list"):
            job.start_response("200 OK", (("a", "b"),))
        with pytest.raises(TypeError, match="list of 2-tuple"):
            job.start_response("200 OK", [("a", "b", "c")])
        with pytest.raises(TypeError, match="expected str objects"):
            job.start_response("200 OK", [("a", b"b")])
        with pytest.raises(ValueError, match="embedded newline"):
            job.start_response("200 OK", [("X", "a\nb")])
        write = job.start_response("404 Gone Fishing", [("X-A", "1")])
        assert (job.status, job.status_line) == (404, "404 Gone Fishing")
        assert write == job.write
        with pytest.raises(RuntimeError, match="headers have already been set"):
            job.start_response("200 OK", [])
        try:
            raise KeyError("x")
        except KeyError:
            job.start_response("500 Oops", [], sys.exc_info())       # not sent yet: replaces
        assert job.status == 500
        job.sent = True
        with pytest.raises(KeyError):
            try:
                raise KeyError("y")
            except KeyError:
                job.start_response("500 Oops", [], sys.exc_info())   # sent: re-raised
        with pytest.raises(TypeError, match="expected bytes object"):
            job.write("str")
    finally:
        loop.close()


def test_consume_list_requires_bytes_and_a_start() -> None:
    job, loop = _job()
    try:
        with pytest.raises(RuntimeError, match="response has not been started"):
            job._consume([b"x"])
        job.start_response("200 OK", [])
        assert job._consume([b"a", b"b"]) == (wsgi_app._DONE, [b"a", b"b"])
        with pytest.raises(TypeError, match="sequence of byte string values expected"):
            job._consume(["a"])
    finally:
        loop.close()


def test_file_wrapper_fast_path_and_iteration(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"0123456789" * 10)
    job, loop = _job()
    try:
        job.start_response("200 OK", [("Content-Length", "30")])
        f = open(p, "rb")
        f.seek(5)
        kind, (fd, off, length, name) = job._consume(wsgi_app.FileWrapper(f))
        assert (kind, off, length, name) == (wsgi_app._FILE, 5, 30, str(p))
        assert os.pread(fd, length, off) == (b"0123456789" * 10)[5:35]
        os.close(fd)
        f.close()
        w = wsgi_app.FileWrapper(io.BytesIO(b"abcdefgh"), 3)
        assert list(w) == [b"abc", b"def", b"gh"]
        assert job._file(w) is None                    # not a real file: iterated
    finally:
        loop.close()


def test_wsgi_input_reads_through_the_loop() -> None:
    body = b"line one\nline two\n" + b"z" * 100_000 + b"\nlast"
    job, loop = _job(body)
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        inp = wsgi_app.InputStream(job, True)
        assert inp.readline() == b"line one\n"
        assert inp.read(4) == b"line"
        assert inp.readline(3) == b" tw"
        assert inp.readline() == b"o\n"
        assert len(inp.read(50_000)) == 50_000
        rest = inp.readlines()
        assert rest[-1] == b"last" and sum(map(len, rest)) == 50_000 + 1 + 4
        assert inp.read() == b"" and inp.readline() == b""
        none = wsgi_app.InputStream(job, False)
        assert none.read() == b"" and list(none) == []
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(2)
        loop.close()


def test_wsgi_errors_splits_lines() -> None:
    job, loop = _job()
    try:
        job.errors.write("one\ntw")
        job.errors.writelines(["o\n", "three"])
        job.errors.flush()
        assert job.r.log == ["one", "two", "three"]
        with pytest.raises(TypeError):
            job.errors.write(b"bytes")
    finally:
        loop.close()


def test_apply_headers_and_native_strings() -> None:
    r = SimpleNamespace(status=200, status_line=None, content_type="text/x-python",
                        content_encoding="gzip", content_languages=["en"], headers_out=Headers(),
                        log=[], log_error=lambda lvl, m: r.log.append(m))
    common.apply_headers(r, 201, None, [("Content-Type", "a/b"), ("X-One", "1"),
                                        ("Connection", "close"), ("Set-Cookie", "a=1"),
                                        ("Set-Cookie", "b=2")])
    assert (r.status, r.content_type, r.content_encoding, r.content_languages) == \
        (201, "a/b", None, None)
    assert r.headers_out.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert "Connection" not in r.headers_out and "hop-by-hop" in r.log[0]
    with pytest.raises(ValueError):
        common.check_header("Bad Name", "v")
    assert wsgi_app.native("/caf\u00e9") == "/caf\u00c3\u00a9"
    assert wsgi_app.native("/x\udcff") == "/x\u00ff"


# --- ASGI lifespan ---------------------------------------------------------------------------
def _lifespan_app(fail: bool = False, raise_: bool = False) -> Any:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        assert scope["asgi"]["version"] == "3.0"
        m = await receive()
        if raise_:
            raise RuntimeError("no lifespan here")
        events.append(m["type"])
        if fail:
            await send({"type": "lifespan.startup.failed", "message": "db down"})
            return
        scope["state"]["db"] = "conn"
        await send({"type": "lifespan.startup.complete"})
        m = await receive()
        events.append(m["type"])
        await send({"type": "lifespan.shutdown.complete"})
    return app, events


def test_lifespan_protocol() -> None:
    async def main() -> None:
        logs: list[str] = []
        log = lambda lvl, m: logs.append(m)  # noqa: E731
        app, events = _lifespan_app()
        ls = asgi_lifespan.Lifespan(app, "auto", "/a.py", log)
        assert await ls.startup() is True and ls.state == {"db": "conn"}
        await ls.shutdown()
        assert events == ["lifespan.startup", "lifespan.shutdown"]
        app, _ = _lifespan_app(fail=True)
        ls = asgi_lifespan.Lifespan(app, "auto", "/a.py", log)
        assert await ls.startup() is False and "db down" in logs[-1]
        app, _ = _lifespan_app(raise_=True)
        ls = asgi_lifespan.Lifespan(app, "auto", "/a.py", log)
        assert await ls.startup() is True and ls.unsupported
        assert "appears unsupported" in logs[-1]
        ls = asgi_lifespan.Lifespan(app, "on", "/a.py", log)
        assert await ls.startup() is False and "RuntimeError: no lifespan here" in logs

    asyncio.run(main())


def test_asgi_entry_lifespan_across_reloads(tmp_path: Path) -> None:
    p = tmp_path / "app.py"
    src = ('V = {v}\nasync def app(scope, receive, send):\n'
           '    if scope["type"] == "lifespan":\n'
           '        await receive(); scope["state"]["v"] = V\n'
           '        await send({{"type": "lifespan.startup.complete"}})\n'
           '        await receive(); open({flag!r}, "a").write("down%d " % V)\n'
           '        await send({{"type": "lifespan.shutdown.complete"}})\n')
    flag = str(tmp_path / "flag")
    p.write_text(src.format(v=1, flag=flag))

    async def main() -> None:
        logs: list[str] = []
        e = asgi_lifespan.ASGIEntry(str(p), "app", "auto")
        log = lambda lvl, m: logs.append(m)  # noqa: E731
        a1 = await e.get(1, True, log)
        assert e.state == {"v": 1} and await e.get(1, True, log) is a1
        p.write_text(src.format(v=2, flag=flag))
        await e.get(2, True, log)
        assert e.state == {"v": 2}
        assert Path(flag).read_text() == "down1 "
        assert any("Reloading ASGI script" in x for x in logs)
        off = asgi_lifespan.ASGIEntry(str(p), "app", "off")
        await off.get(1, True, log)
        assert off.state == {} and off.lifespan is None
        assert e.lifespan is not None
        await e.lifespan.shutdown()
        assert Path(flag).read_text() == "down1 down2 "

    asyncio.run(main())
