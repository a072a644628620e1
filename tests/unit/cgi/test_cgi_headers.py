"""Reading a script's header block (util_script.c's ap_scan_script_header_err_core), and
the script process itself (pipes on an event loop, stderr lines, timeouts, kills)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import pytest

from featherd.http.headers import Headers
from featherd.modules.generators.cgi_script import (
    ScriptProcess,
    content_type_tolower,
    scan_script_headers,
)


class FakeProc:
    """Stands in for ScriptProcess.getline with a fixed output."""

    def __init__(self, data: bytes, eof: bool = True) -> None:
        self.data = data
        self.eof = eof

    async def getline(self, timeout: float) -> tuple[int, str]:
        nl = self.data.find(b"\n")
        if nl < 0:
            if not self.eof:
                return -1, ""
            return 0, self.data.replace(b"\r", b"").decode("latin-1")
        line, self.data = self.data[:nl], self.data[nl + 1:]
        line = line.replace(b"\r", b"")
        if len(line) >= 8190:
            return 0, ""
        return 1, line.decode("latin-1")


class FakeRequest:
    def __init__(self, method: str = "GET", headers: dict[str, str] | None = None) -> None:
        self.method = method
        self.filename = "/srv/cgi-bin/x.cgi"
        self.headers_in = Headers(list((headers or {}).items()))
        self.headers_out = Headers()
        self.err_headers_out = Headers()
        self.content_type: str | None = None
        self.status = 200
        self.status_line: str | None = None
        self.mtime: float | None = None
        self.request_time = time.time()
        self.no_local_copy = False
        self.logged: list[str] = []

    def log_error(self, level: int, msg: str) -> None:
        self.logged.append(msg)


def scan(data: bytes, eof: bool = True, **kw: Any) -> tuple[int, FakeRequest, list[str]]:
    r = FakeRequest(**kw)
    sbuf: list[str] = []
    rv = asyncio.run(scan_script_headers(r, FakeProc(data, eof), 1.0, sbuf))  # type: ignore[arg-type]
    return rv, r, sbuf


def test_headers_parsed_and_merged() -> None:
    rv, r, _ = scan(b"Content-type: Text/Plain; Charset=X\r\nStatus: 404 Gone Away\n"
                    b"X-A: 1\nX-A:  2\nSet-Cookie: a=1\nSet-Cookie: b=2\n"
                    b"Location: /x\nETag: \"e\"\n\nbody")
    assert rv == 0
    assert r.content_type == "text/plain; Charset=X"
    assert (r.status, r.status_line) == (404, "404 Gone Away")
    assert r.err_headers_out.get("X-A") == "1, 2"
    assert r.err_headers_out.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert r.headers_out.get("Location") == "/x" and r.headers_out.get("ETag") == '"e"'


def test_status_without_reason_uses_the_standard_line() -> None:
    rv, r, _ = scan(b"Status: 201\n\n")
    assert rv == 0 and r.status == 201 and r.status_line is None


def test_last_modified_and_conditional() -> None:
    lm = b"Last-Modified: Tue, 01 Jan 2019 00:00:00 GMT\n\n"
    rv, r, _ = scan(lm)
    assert rv == 0 and r.headers_out.get("Last-Modified") == "Tue, 01 Jan 2019 00:00:00 GMT"
    rv, _, _ = scan(lm, headers={"If-Modified-Since": "Tue, 01 Jan 2019 00:00:00 GMT"})
    assert rv == 304
    # an explicit Status turns the conditional check off
    rv, _, _ = scan(b"Status: 200\n" + lm, headers={
        "If-Modified-Since": "Tue, 01 Jan 2019 00:00:00 GMT"})
    assert rv == 0
    rv, _, _ = scan(b"ETag: \"a\"\n\n", headers={"If-Match": '"b"'})
    assert rv == 412
    rv, r, _ = scan(b"Last-Modified: garbage\n\n")
    assert r.headers_out.get("Last-Modified") == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize("data,eof,rv,log", [
    (b"", True, 500, "Premature end of script headers: x.cgi"),
    (b"Content-Type: text/plain\n", True, 500, "Premature end of script headers: x.cgi"),
    (b"Content-Type: text/plain\n", False, 504,
     "Script timed out before returning headers: x.cgi"),
    (b"this line has no colon and is longer than thirty chars\n\n", True, 500,
     "malformed header from script. Bad header=this line has no colon and is : x.cgi"),
    (b"Bad Name: v\n\n", True, 500, "Response header name 'Bad Name' contains invalid"),
    (b"X: a\x01b\n\n", True, 500, "Response header 'X' value of 'a\x01b' contains invalid"),
    (b"Status: 99\n\n", True, 500, "Invalid status line from script 'x.cgi': 99"),
    (b"Status: x\n\n", True, 500, "Invalid status line from script 'x.cgi': x"),
    (b"X: " + b"a" * 9000 + b"\n\n", True, 500, "Premature end of script headers"),
])
def test_bad_headers(data: bytes, eof: bool, rv: int, log: str) -> None:
    got, r, sbuf = scan(data, eof)
    assert got == rv
    assert any(log in m for m in r.logged), r.logged


def test_malformed_line_kept_for_scriptlog() -> None:
    _, _, sbuf = scan(b"oops\n\n")
    assert sbuf == ["oops"]


def test_content_type_tolower() -> None:
    assert content_type_tolower("Text/HTML") == "text/html"
    assert content_type_tolower("Text/HTML; Charset=UTF-8") == "text/html; Charset=UTF-8"


# --- the process ----------------------------------------------------------------------------
def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_script_process_pipes_and_stderr() -> None:
    async def go() -> tuple[list[tuple[int, str]], bytes, list[str], int | None]:
        errs: list[str] = []
        p = await ScriptProcess.spawn(
            [sys.executable, "-c",
             "import sys; d=sys.stdin.read(); sys.stderr.write('e1\\ne2'); "
             "sys.stdout.write('H: 1\\r\\n\\r\\n' + d.upper())"],
            env={b"PATH": os.environ["PATH"].encode()}, cwd="/", stdin=True,
            on_stderr=errs.append)
        assert await p.write_stdin(b"hello", 5)
        p.close_stdin()
        lines = [await p.getline(5), await p.getline(5)]
        while not p.out_eof:
            await p.wait_out(5)
        body = p.take()
        rc = await p.wait(5)
        await asyncio.sleep(0.05)
        return lines, body, errs, rc

    lines, body, errs, rc = run(go())
    assert lines == [(1, "H: 1"), (1, "")]
    assert body == b"HELLO"
    assert errs == ["e1", "e2"] and rc == 0


def test_script_process_timeout_and_kill() -> None:
    async def go() -> tuple[bool, int | None, float]:
        p = await ScriptProcess.spawn(["/bin/sh", "-c", "sleep 30"], env={}, cwd="/",
                                      stdin=False, on_stderr=lambda s: None)
        t0 = time.monotonic()
        got = await p.wait_out(0.2)
        p.finish(kill_now=True)
        rc = await p.wait(5)
        return got, rc, time.monotonic() - t0

    got, rc, took = run(go())
    assert got is False and rc is not None and rc < 0 and took < 3


def test_script_process_exec_errors(tmp_path: Any) -> None:
    async def go(argv: list[str]) -> None:
        await ScriptProcess.spawn(argv, env={}, cwd="/", stdin=True,
                                  on_stderr=lambda s: None)

    noexec = tmp_path / "noexec"
    noexec.write_text("#!/bin/sh\n")
    noexec.chmod(0o644)
    noshebang = tmp_path / "noshebang"
    noshebang.write_text("echo hi\n")
    noshebang.chmod(0o755)
    with pytest.raises(FileNotFoundError):
        run(go(["/nonexistent/script"]))
    with pytest.raises(PermissionError):
        run(go([str(noexec)]))
    with pytest.raises(OSError) as ei:
        run(go([str(noshebang)]))
    assert ei.value.errno == 8          # ENOEXEC: Apache's "Exec format error"
