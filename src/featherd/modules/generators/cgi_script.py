"""A script's process, attached to the worker's event loop, and the reading of its
response headers (util_script.c's ap_scan_script_header_err_core).

:class:`ScriptProcess` starts a program with pipes for stdin, stdout and stderr and
never blocks the loop: stdout is buffered by a pipe protocol (reading pauses when a
consumer falls behind), stderr is cut into lines handed to a callback (the error log),
stdin is written with flow control, and the exit is seen through a pidfd. Each script
is its own process group, so that a timeout or an aborted client takes its children
down too; like Apache's APR_KILL_AFTER_TIMEOUT, a script still running when its request
is over gets SIGTERM, then SIGKILL three seconds later.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from featherd.http.dates import parse_http_date

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
HUGE_STRING_LEN = 8192
MAX_HEADER_LINE = 8190          # MAX_STRING_LEN - 1, less the terminating NUL
MALFORMED_MESSAGE = "malformed header from script. Bad header="
MALFORMED_HEADER_LENGTH_TO_SHOW = 30
PAUSE_AT = 256 * 1024           # stop reading the script's stdout past this much
KILL_GRACE = 3.0                # SIGTERM .. SIGKILL (apr_pool's kill_after_timeout)
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_KEEP: set[asyncio.Task[Any]] = set()   # background reapers, kept referenced


class _Reader(asyncio.Protocol):
    def __init__(self, proc: ScriptProcess, which: int) -> None:
        self.proc = proc
        self.which = which

    def connection_made(self, transport: Any) -> None:
        if self.which == 1:
            self.proc._out_t = transport

    def data_received(self, data: bytes) -> None:
        self.proc._data(self.which, data)

    def eof_received(self) -> None:
        self.proc._eof(self.which)

    def connection_lost(self, exc: Exception | None) -> None:
        self.proc._eof(self.which)


class _Writer(asyncio.BaseProtocol):
    def __init__(self, proc: ScriptProcess) -> None:
        self.proc = proc

    def pause_writing(self) -> None:
        self.proc._in_paused = True

    def resume_writing(self) -> None:
        self.proc._in_paused = False
        self.proc._wake_in()

    def connection_lost(self, exc: Exception | None) -> None:
        self.proc.stdin_closed = True
        self.proc._wake_in()


class ScriptProcess:
    """A running script: ``out`` holds what it wrote to stdout and nobody took yet."""

    def __init__(self, popen: subprocess.Popen[bytes], on_stderr: Callable[[str], None]
                 ) -> None:
        self.loop = asyncio.get_running_loop()
        self.popen = popen
        self.pid = popen.pid
        self.out = bytearray()
        self.out_eof = False
        self.err_eof = False
        self.stdin_closed = True
        self.returncode: int | None = None
        self.stderr_lines: list[str] = []
        self.keep_stderr = False
        self._on_stderr = on_stderr
        self._err = bytearray()
        self._out_t: Any = None
        self._in_t: Any = None
        self._in_paused = False
        self._in_waiter: asyncio.Future[None] | None = None
        self._out_waiter: asyncio.Future[None] | None = None
        self._exit_waiters: list[asyncio.Future[None]] = []
        self._paused = False
        self._hold = False           # keep reading past PAUSE_AT (stdin still being fed)
        self._pidfd = -1
        self._poll_handle: asyncio.TimerHandle | None = None

    # -- start ------------------------------------------------------------------------
    @classmethod
    async def spawn(cls, argv: list[str], *, env: dict[bytes, bytes], cwd: str | None,
                    stdin: bool, on_stderr: Callable[[str], None],
                    ident: tuple[int, int, list[int]] | None = None,
                    umask: int = -1) -> ScriptProcess:
        """Start ``argv`` (argv[0] is the program). OSError when it can't be run."""
        in_r = in_w = -1
        if stdin:
            in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        kw: dict[str, Any] = {}
        if ident is not None:
            kw.update(user=ident[0], group=ident[1], extra_groups=ident[2])
        if umask >= 0:
            kw["umask"] = umask
        try:
            popen = subprocess.Popen(  # noqa: S603 - the script is the point
                argv, stdin=in_r if stdin else subprocess.DEVNULL, stdout=out_w,
                stderr=err_w, cwd=cwd or None, env=env,  # type: ignore[arg-type]
                close_fds=True, start_new_session=True, **kw)
        except BaseException:
            for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
                if fd >= 0:
                    os.close(fd)
            raise
        for fd in (in_r, out_w, err_w):          # the child's ends
            if fd >= 0:
                os.close(fd)
        proc = cls(popen, on_stderr)
        loop = proc.loop
        await loop.connect_read_pipe(lambda: _Reader(proc, 1), os.fdopen(out_r, "rb", 0))
        await loop.connect_read_pipe(lambda: _Reader(proc, 2), os.fdopen(err_r, "rb", 0))
        if stdin:
            proc.stdin_closed = False
            proc._in_t, _ = await loop.connect_write_pipe(lambda: _Writer(proc),
                                                          os.fdopen(in_w, "wb", 0))
        proc._watch_exit()
        return proc

    # -- pipe callbacks ---------------------------------------------------------------
    def _data(self, which: int, data: bytes) -> None:
        if which == 1:
            self.out += data
            if len(self.out) > PAUSE_AT and not self._paused and not self._hold \
                    and self._out_t is not None:
                self._paused = True
                self._out_t.pause_reading()
            self._wake_out()
            return
        self._err += data
        while True:
            nl = self._err.find(b"\n")
            if nl < 0:
                if len(self._err) >= HUGE_STRING_LEN - 1:
                    self._line(bytes(self._err[:HUGE_STRING_LEN - 1]))
                    del self._err[:HUGE_STRING_LEN - 1]
                    continue
                break
            self._line(bytes(self._err[:nl]))
            del self._err[:nl + 1]

    def _line(self, raw: bytes) -> None:
        text = raw.decode("latin-1")
        if self.keep_stderr and len(self.stderr_lines) < 1000:
            self.stderr_lines.append(text)
        self._on_stderr(text)

    def _eof(self, which: int) -> None:
        if which == 1:
            if not self.out_eof:
                self.out_eof = True
                self._wake_out()
        elif not self.err_eof:
            self.err_eof = True
            if self._err:
                self._line(bytes(self._err))
                self._err.clear()

    def _wake_out(self) -> None:
        w = self._out_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _wake_in(self) -> None:
        w = self._in_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- exit ---------------------------------------------------------------------------
    def _watch_exit(self) -> None:
        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._poll_handle = self.loop.call_later(0.05, self._poll)
            return
        self._pidfd = fd
        self.loop.add_reader(fd, self._poll)

    def _poll(self) -> None:
        rc = self.popen.poll()
        if rc is None:
            if self._pidfd < 0:
                self._poll_handle = self.loop.call_later(0.05, self._poll)
            return
        self.returncode = rc
        if self._pidfd >= 0:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        for w in self._exit_waiters:
            if not w.done():
                w.set_result(None)
        self._exit_waiters.clear()

    async def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            w = self.loop.create_future()
            self._exit_waiters.append(w)
            try:
                await asyncio.wait_for(w, timeout)
            except TimeoutError:
                return None
        return self.returncode

    def kill(self, sig: int = signal.SIGTERM) -> None:
        """Signal the script's process group."""
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    async def _finish(self, grace: float) -> None:
        if await self.wait(grace) is not None:
            return
        self.kill(signal.SIGTERM)
        if await self.wait(KILL_GRACE) is None:
            self.kill(signal.SIGKILL)
            await self.wait(KILL_GRACE)

    def finish(self, kill_now: bool = False) -> None:
        """The request is done with the script: close our ends; one that does not exit
        is killed (now, or after a short grace)."""
        self.close_stdin()
        if kill_now:
            self.kill(signal.SIGTERM)
        if self._out_t is not None and self._paused:
            self._out_t.resume_reading()
            self._paused = False
        if self.returncode is None:
            t = self.loop.create_task(self._finish(0.0 if kill_now else 0.2))
            _KEEP.add(t)
            t.add_done_callback(_KEEP.discard)

    # -- stdin ------------------------------------------------------------------------
    async def write_stdin(self, data: bytes, timeout: float) -> bool:
        """Feed the script; False once it stopped reading (closed or timed out)."""
        if self.stdin_closed or self._in_t is None:
            return False
        self._in_t.write(data)
        while self._in_paused and not self.stdin_closed:
            self._in_waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self._in_waiter, timeout)
            except TimeoutError:
                self.close_stdin()
                return False
            finally:
                self._in_waiter = None
        return not self.stdin_closed

    def close_stdin(self) -> None:
        if self._in_t is not None and not self.stdin_closed:
            self.stdin_closed = True
            try:
                self._in_t.close()
            except Exception:  # noqa: BLE001
                pass

    def hold(self, on: bool) -> None:
        """While stdin is being fed, stdout is read without limit (no deadlock)."""
        self._hold = on
        if not on and len(self.out) > PAUSE_AT and not self._paused and self._out_t:
            self._paused = True
            self._out_t.pause_reading()

    # -- stdout -----------------------------------------------------------------------
    async def wait_out(self, timeout: float) -> bool:
        """Wait for more stdout (or its end); False on timeout."""
        if self.out_eof:
            return True
        self._out_waiter = self.loop.create_future()
        try:
            await asyncio.wait_for(self._out_waiter, timeout)
        except TimeoutError:
            return False
        finally:
            self._out_waiter = None
        return True

    async def wait_eof(self, timeout: float, most: int = 65536) -> bool:
        """Wait a little for the end of stdout while less than ``most`` bytes are in;
        True when it ended."""
        deadline = self.loop.time() + timeout
        while not self.out_eof:
            left = deadline - self.loop.time()
            if left <= 0 or len(self.out) >= most or not await self.wait_out(left):
                return False
        return True

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        if self._paused and self._out_t is not None:
            self._paused = False
            self._out_t.resume_reading()
        return data

    async def getline(self, timeout: float) -> tuple[int, str]:
        """getsfunc_BRIGADE: (1, line) without its newline and with every CR dropped;
        (0, text) at the end of output or for a line too long; (-1, "") on timeout."""
        scanned = 0
        while True:
            nl = self.out.find(b"\n", scanned)
            if nl >= 0:
                raw = bytes(self.out[:nl])
                del self.out[:nl + 1]
                line = raw.replace(b"\r", b"")
                if len(line) >= MAX_HEADER_LINE:
                    return 0, line[:MAX_HEADER_LINE].decode("latin-1")
                if self._paused and self._out_t is not None and len(self.out) < PAUSE_AT:
                    self._paused = False
                    self._out_t.resume_reading()
                return 1, line.decode("latin-1")
            scanned = len(self.out)
            if len(self.out) - self.out.count(b"\r") >= MAX_HEADER_LINE or self.out_eof:
                return 0, bytes(self.out).replace(b"\r", b"").decode("latin-1")
            if not await self.wait_out(timeout):
                return -1, ""


def content_type_tolower(ct: str) -> str:
    """ap_content_type_tolower: the media type (before any ';') lower-cased."""
    semi = ct.find(";")
    if semi < 0:
        return ct.lower()
    return ct[:semi].lower() + ct[semi:]


def _bad_name(name: str) -> bool:
    return not name or any(c not in _TCHAR for c in name)


def _bad_value(value: str) -> bool:
    return any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value)


async def scan_script_headers(r: Request, proc: ScriptProcess, timeout: float,
                              sbuf: list[str]) -> int:
    """Read the script's header block into ``r`` (Content-Type, Status, Location...;
    the rest merged into err_headers_out, Set-Cookie kept apart). Returns 0 (OK), a
    304/412 from the conditional headers, or 500/504 with Apache's error-log line. The
    malformed line, if any, is left in ``sbuf`` for the ScriptLog."""
    from featherd.core.handlers import set_last_modified
    from featherd.http import conditional

    name = os.path.basename(r.filename or "")
    merge: list[tuple[str, str]] = []
    cookies = [(k, v) for k, v in r.err_headers_out if k.lower() == "set-cookie"]
    cgi_status: int | None = None
    while True:
        rv, w = await proc.getline(timeout)
        if rv == 0:
            r.log_error(ERROR, f"Premature end of script headers: {name}")
            return 500
        if rv == -1:
            r.log_error(ERROR, f"Script timed out before returning headers: {name}")
            return 504
        if not w:
            cond = 0
            if cgi_status is None and r.method == "GET" and not r.no_local_copy:
                cond = conditional.evaluate(r.method, r.headers_in.get,
                                            r.headers_out.get("ETag"), r.mtime,
                                            r.request_time)
            for k, v in merge:
                r.err_headers_out.merge(k, v)
            if cookies:
                r.err_headers_out.unset("Set-Cookie")
                for k, v in cookies:
                    r.err_headers_out.add(k, v)
            return cond
        colon = w.find(":")
        if colon < 0:
            sbuf.append(w)
            r.log_error(ERROR, f"{MALFORMED_MESSAGE}{w[:MALFORMED_HEADER_LENGTH_TO_SHOW]}: "
                               f"{name}")
            return 500
        k = w[:colon]
        v = w[colon + 1:].lstrip(" \t\n\v\f\r")
        if _bad_name(k):
            # 2.4's check_headers: no header a client could misread goes out
            sbuf.append(w)
            r.log_error(ERROR, f"Response header name '{k}' contains invalid characters, "
                               f"aborting request")
            return 500
        if _bad_value(v):
            sbuf.append(w)
            r.log_error(ERROR, f"Response header '{k}' value of '{v}' contains invalid "
                               f"characters, aborting request")
            return 500
        lk = k.lower()
        if lk == "content-type":
            r.content_type = content_type_tolower(v.rstrip(" \t\n\v\f\r"))
        elif lk == "status":
            digits = ""
            for c in v:
                if not c.isdigit():
                    break
                digits += c
            code = int(digits) if digits else 0
            if not 100 <= code <= 599:
                sbuf.append(w)
                r.log_error(ERROR, f"Invalid status line from script '{name}': {v[:30]}")
                return 500
            r.status = cgi_status = code
            r.status_line = v if len(v) > 4 else None
        elif lk in ("location", "content-length", "content-range", "transfer-encoding",
                    "etag"):
            r.headers_out.set(k, v)
        elif lk == "last-modified":
            t = parse_http_date(v) or 0.0
            cur = r.mtime
            set_last_modified(r, t if cur is None or t > cur else cur)
        elif lk == "set-cookie":
            cookies.append((k, v))
        else:
            merge.append((k, v))
