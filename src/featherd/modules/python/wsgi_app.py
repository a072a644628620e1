"""The WSGI side of mod_wsgi: a loaded script, the environ's objects and one request.

``WSGIEntry`` is one script loaded in one application group (loaded and reloaded by a
pool thread). ``build_environ`` makes PEP 3333's environ from the CGI variables (as
mod_cgi has them), with ``wsgi.input`` (``InputStream``: the request body read through
the event loop as the application asks), ``wsgi.errors`` (``ErrorStream``: lines to the
error log) and ``wsgi.file_wrapper`` (``FileWrapper``: a real file becomes a file
bucket). ``WSGIJob`` is one request: the application's thread side (run,
start_response, write, the result's close) and the event loop's side (emit, read_body,
finish), each piece of the body handed over and, when the client is slow, waited for.
mod_wsgi.py holds the module: directives, hooks and the handler.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat as stat_mod
import threading
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.hooks import OK
from featherd.errors import HTTPError
from featherd.filters.buckets import EOS, FileBucket
from featherd.filters.chain import pass_brigade
from featherd.modules.generators.cgi_env import add_cgi_vars, add_common_vars
from featherd.modules.python.common import (
    ERROR,
    INFO,
    ScriptError,
    apply_headers,
    check_header,
    flag,
    load_callable,
    log_exception,
    log_lines,
    module_name,
    traceback_lines,
)

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.python.mod_wsgi import WSGIDirConfig

TAG = "mod_wsgi"
_DONE, _FILE, _ERROR, _LOAD_ERROR, _GONE = range(5)


# --- loaded scripts -----------------------------------------------------------------------
class WSGIEntry:
    """One script loaded in one application group (loaded by a pool thread)."""

    __slots__ = ("app", "callable", "lock", "modname", "mtime", "path")

    def __init__(self, path: str, callable_name: str, group: str) -> None:
        self.path = path
        self.callable = callable_name
        self.modname = module_name("mod_wsgi", f"{group}|{path}")
        self.mtime: int | None = None
        self.app: Any = None
        self.lock = threading.Lock()

    def get(self, mtime: int, reloading: bool, job: WSGIJob) -> Any:
        app = self.app
        if app is not None and (mtime == self.mtime or not reloading):
            return app
        with self.lock:
            if self.app is None or (reloading and mtime != self.mtime):
                if self.app is not None:
                    job.log(INFO, f"{TAG} (pid={os.getpid()}): Reloading WSGI script "
                                  f"'{self.path}'.")
                self.app = None
                self.app = load_callable(TAG, self.path, self.modname,
                                         self.callable, "WSGI")
                self.mtime = mtime
            return self.app


# --- the environ's objects -------------------------------------------------------------
class ClientGone(OSError):
    """Raised in the application's thread: the client is not there to take the body."""


class FileWrapper:
    """wsgi.file_wrapper: iterates the file in blocks; a real file returned as-is from
    the application is sent as a file bucket (sendfile) instead."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> FileWrapper:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data  # type: ignore[no-any-return]
        raise StopIteration


class InputStream:
    """wsgi.input: the request body, read through the event loop as the app asks."""

    __slots__ = ("buf", "eof", "job")

    def __init__(self, job: WSGIJob, has_body: bool) -> None:
        self.job = job
        self.buf = b""
        self.eof = not has_body

    def _chunk(self, n: int) -> bytes:
        if self.eof:
            return b""
        job = self.job
        data: bytes = asyncio.run_coroutine_threadsafe(job.read_body(n), job.loop).result()
        if not data:
            self.eof = True
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self.buf]
            self.buf = b""
            while True:
                c = self._chunk(-1)
                if not c:
                    return b"".join(parts)
                parts.append(c)
        if len(self.buf) < size and not self.eof:
            parts = [self.buf]
            have = len(self.buf)
            while have < size:
                c = self._chunk(size - have)
                if not c:
                    break
                parts.append(c)
                have += len(c)
            self.buf = b"".join(parts)
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def readline(self, size: int | None = -1) -> bytes:
        if size is None:
            size = -1
        while b"\n" not in self.buf and (size < 0 or len(self.buf) < size) and not self.eof:
            c = self._chunk(65536)
            if not c:
                break
            self.buf += c
        i = self.buf.find(b"\n")
        end = len(self.buf) if i < 0 else i + 1
        if size >= 0:
            end = min(end, size)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> InputStream:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class ErrorStream:
    """wsgi.errors: each line goes to the error log (at error level, with the client)."""

    __slots__ = ("buf", "job")

    def __init__(self, job: WSGIJob) -> None:
        self.job = job
        self.buf = ""

    def write(self, s: str) -> None:
        if not isinstance(s, str):
            raise TypeError(f"expected a string object, value of type {type(s).__name__} "
                            "found")
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self.job.log(ERROR, line)

    def writelines(self, seq: Any) -> None:
        for s in seq:
            self.write(s)

    def flush(self) -> None:
        if self.buf:
            line, self.buf = self.buf, ""
            self.job.log(ERROR, line)


# --- one request ------------------------------------------------------------------------
class WSGIJob:
    """One request: the environ, the application's thread side (run, start_response,
    write, wsgi.input) and the loop side (emit, read_body, finish)."""

    __slots__ = ("ack", "applied", "body_error", "conn", "drain_task", "entry", "environ",
                 "errors", "gone", "headers", "loop", "loop_error", "loop_tid", "mtime", "path",
                 "r", "reloading", "sent", "status", "status_line", "timed_out")

    def __init__(self, r: Request, loop: asyncio.AbstractEventLoop, entry: WSGIEntry,
                 mtime: int, reloading: bool) -> None:
        self.r = r
        self.conn = r.connection
        self.loop = loop
        self.loop_tid = threading.get_ident()     # made on the event loop's thread
        self.entry = entry
        self.path = entry.path
        self.mtime = mtime
        self.reloading = reloading
        self.environ: dict[str, Any] = {}
        self.status: int | None = None
        self.status_line: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False            # a piece of the body went to the loop
        self.applied = False         # the status and headers are on r (loop side)
        self.gone = False
        self.timed_out = False       # WSGIRequestTimeout: the loop gave up on this job
        self.body_error = 0
        self.loop_error: list[str] | None = None
        self.ack = threading.Lock()
        self.ack.acquire()
        self.errors = ErrorStream(self)
        self.drain_task: Any = None

    # -- the application's thread ---------------------------------------------------------
    def log(self, level: int, line: str) -> None:
        if self.timed_out:
            return                   # the request is over (and logged)
        if threading.get_ident() == self.loop_tid:
            self.r.log_error(level, line)
        else:
            self.loop.call_soon_threadsafe(self.r.log_error, level, line)

    def run(self) -> tuple[int, Any]:
        try:
            app = self.entry.get(self.mtime, self.reloading, self)
        except ScriptError as e:
            return _LOAD_ERROR, e.lines
        result = None
        try:
            result = app(self.environ, self.start_response)
            out = self._consume(result)
        except ClientGone:
            out = (_GONE, None)
        except BaseException:        # SystemExit too: the worker lives on
            out = (_ERROR, traceback_lines())
        if result is not None:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException:
                    if out[0] == _FILE:
                        os.close(out[1][0])
                    if out[0] != _ERROR:
                        out = (_ERROR, traceback_lines())
        self.errors.flush()
        return out

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("headers have already been set")
        if type(status) is not str:
            raise TypeError(f"expected str object for status, value of type "
                            f"{type(status).__name__} found")
        code = status[:3]
        if not code.isdigit() or (len(status) > 3 and status[3] != " "):
            raise ValueError(f"status must be a 3-digit integer and a reason: '{status}'")
        if type(headers) is not list:
            raise TypeError(f"response headers must be a list, value of type "
                            f"{type(headers).__name__} found")
        for h in headers:
            if type(h) is not tuple or len(h) != 2:
                raise TypeError("list of 2-tuple expected for response headers")
            k, v = h
            if type(k) is not str or type(v) is not str:
                raise TypeError("expected str objects for response header name and value")
            check_header(k, v)
        self.status = int(code)
        self.status_line = status if len(status) > 4 else None
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            raise TypeError(f"expected bytes object, value of type {type(data).__name__} "
                            "found")
        if data:
            self._send(data)

    def _send(self, data: bytes) -> None:
        if self.status is None:
            raise RuntimeError("response has not been started")
        self.loop.call_soon_threadsafe(self._emit, data)
        self.ack.acquire()
        self.sent = True
        if self.gone:
            raise ClientGone("failed to write data")

    def _consume(self, result: Any) -> tuple[int, Any]:
        if not self.sent:
            if type(result) is FileWrapper:
                f = self._file(result)
                if f is not None:
                    return _FILE, f
            elif type(result) is list or type(result) is tuple:
                for c in result:
                    if type(c) is not bytes:
                        raise TypeError(f"sequence of byte string values expected, value "
                                        f"of type {type(c).__name__} found")
                if self.status is None:
                    raise RuntimeError("response has not been started")
                return _DONE, result
        for c in result:
            if type(c) is not bytes:
                raise TypeError(f"sequence of byte string values expected, value of type "
                                f"{type(c).__name__} found")
            if c:
                self._send(c)
        if self.status is None:
            raise RuntimeError("response has not been started")
        return _DONE, ()

    def _file(self, w: FileWrapper) -> tuple[int, int, int, str] | None:
        """(fd, offset, length, name) for a regular file, None to iterate instead."""
        f = w.filelike
        try:
            fd = f.fileno()
            st = os.fstat(fd)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        if self.status is None:
            raise RuntimeError("response has not been started")
        try:
            pos = f.tell()
        except (AttributeError, OSError, ValueError):
            pos = os.lseek(fd, 0, os.SEEK_CUR)
        length = max(0, st.st_size - pos)
        for k, v in self.headers:
            if k.lower() == "content-length" and v.strip().isdigit():
                length = min(length, int(v))
        return os.dup(fd), pos, length, str(getattr(f, "name", ""))

    # -- the event loop's side ------------------------------------------------------------
    async def read_body(self, n: int) -> bytes:
        if self.timed_out:
            raise OSError("request data read error: the request timed out")
        try:
            return await self.r.read_body(n)
        except HTTPError as e:
            self.body_error = e.status
            raise OSError("request data read error") from None

    def _apply(self) -> None:
        self.applied = True
        assert self.status is not None
        apply_headers(self.r, self.status, self.status_line, self.headers)

    def _emit(self, data: bytes) -> None:
        conn = self.conn
        try:
            if conn.transport_closed or conn.aborted or self.timed_out:
                self.gone = True
            else:
                if not self.applied:
                    self._apply()
                pass_brigade(self.r, [data])
                if conn.pending or conn.paused_writing:
                    self.drain_task = self.loop.create_task(self._drain())
                    return
                if conn.transport_closed:
                    self.gone = True
        except BaseException:
            self.gone = True
            self.loop_error = traceback_lines()
        self.ack.release()

    async def _drain(self) -> None:
        try:
            await self.conn.drain_response(self.r)
        except Exception:
            self.loop_error = traceback_lines()
        finally:
            if self.conn.transport_closed:
                self.gone = True
            self.ack.release()

    def finish(self, res: tuple[int, Any]) -> int:
        r = self.r
        kind, val = res
        if self.loop_error:
            log_exception(r, TAG, "WSGI", self.path, self.loop_error)
        if kind == _LOAD_ERROR:
            log_lines(r, val)
            return 500
        if kind == _ERROR:
            log_exception(r, TAG, "WSGI", self.path, val)
            return self.body_error or 500
        if kind == _GONE:
            r.log_error(INFO, f"{TAG} (pid={os.getpid()}): Client closed connection before "
                              f"the response of '{self.path}' was complete.")
            return OK
        if not self.applied:
            self._apply()
        if kind == _FILE:
            fd, off, length, name = val
            pass_brigade(r, [FileBucket(fd, off, length, name), EOS])
        elif val:
            pass_brigade(r, [*val, EOS])
        else:
            pass_brigade(r, [EOS])
        return OK


#: variables that hold a (decoded) path: PEP 3333 wants their bytes as latin-1 text
_PATH_VARS = ("SCRIPT_NAME", "PATH_INFO", "SCRIPT_FILENAME", "DOCUMENT_ROOT",
              "PATH_TRANSLATED")


def native(s: str) -> str:
    """A path from r.uri or the filesystem (UTF-8, stray bytes as surrogates) as a
    PEP 3333 "native string": each byte one latin-1 character."""
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


def build_environ(r: Request, job: WSGIJob, dc: WSGIDirConfig, mount: Any,
                  script_name: str, path_info: str, group: str) -> dict[str, Any]:
    """The CGI variables (as mod_cgi has them) plus PEP 3333's wsgi.* and mod_wsgi.*."""
    pa = mount.pass_authorization if mount is not None else None
    if pa is None:
        pa = flag(dc.pass_authorization, False)
    add_common_vars(r, pass_auth=pa)
    add_cgi_vars(r)
    env = r.subprocess_env
    env["SCRIPT_NAME"] = script_name
    env["PATH_INFO"] = path_info
    environ: dict[str, Any] = dict(env)
    for k in _PATH_VARS:
        v = environ.get(k)
        if v is not None and not v.isascii():
            environ[k] = native(v)
    pg = mount.process_group if mount is not None and mount.process_group else \
        (dc.process_group if dc.process_group is not UNSET else "")
    https = env.get("HTTPS", "").lower() in ("on", "1")
    environ.update({
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if https else "http",
        "wsgi.input": InputStream(job, r.body is not None),
        "wsgi.errors": job.errors,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "mod_wsgi.process_group": pg,
        "mod_wsgi.application_group": group,
        "mod_wsgi.callable_object": job.entry.callable,
        "mod_wsgi.script_reloading": "1" if job.reloading else "0",
    })
    return environ


__all__ = ["ClientGone", "ErrorStream", "FileWrapper", "InputStream", "WSGIEntry", "WSGIJob",
           "build_environ", "native"]
