"""mod_wsgi: WSGI (PEP 3333) applications in the worker processes, with mod_wsgi's
directive names.

``WSGIScriptAlias /app /srv/app.py`` mounts the callable ``application`` of that file
at /app (see common.py for the mapping); ``AddHandler wsgi-script .wsgi`` in a directory
with ``Options ExecCGI`` works too. The request goes through every phase first
(rewrite, access control, authentication); the response through the output filters
and the access log like any other.

The application runs in a thread of a per-process pool (``WSGIThreads``), never on the
event loop. ``wsgi.input`` streams the request body from the loop (each read is a
hand-over to the loop's ``r.read_body``: big uploads are never held whole);
``start_response`` keeps PEP 3333's exc_info rules and returns ``write``; the body of a
list answer goes out in one piece with a Content-Length, other iterables are streamed
piece by piece (chunked on HTTP/1.1), each piece handed to the loop and, when the
client is slow, waited for; ``wsgi.file_wrapper`` over a real file becomes a file
bucket (sendfile). ``close()`` of the result is always called.

Errors stay with the request: a script that can't be loaded, an exception before the
first piece of the body, or a bad header gives a 500 with the traceback in the error
log (mod_wsgi's wording); an exception after the head went out aborts the connection.
WSGIDaemonProcess/WSGIProcessGroup are accepted: applications always run in featherd's
own worker processes (WSGIProcessGroup and WSGIApplicationGroup show in the environ as
``mod_wsgi.process_group`` and ``mod_wsgi.application_group``; each application group
gets its own copy of a script's module).
"""

from __future__ import annotations

import asyncio
import io
import os
import stat as stat_mod
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.core.hooks import FIRST, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS, FileBucket
from featherd.filters.chain import pass_brigade
from featherd.modules.generators import cgi_env
from featherd.modules.python import common
from featherd.modules.python.common import (
    ERROR,
    INFO,
    ScriptError,
    ThreadPool,
    apply_headers,
    check_header,
    flag,
    log_exception,
    log_lines,
    process_state,
    traceback_lines,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

TAG = "mod_wsgi"
DEFAULT_THREADS = 15                 # mod_wsgi's default threads= for a daemon group
_DONE, _FILE, _ERROR, _LOAD_ERROR, _GONE = range(5)


@dataclass(slots=True)
class WSGIServerConfig:
    mounts: Any = unset_field(common._child_first)   # WSGIScriptAlias
    python_path: Any = unset_field("append")         # WSGIPythonPath
    threads: Any = UNSET                             # WSGIThreads
    daemons: Any = unset_field("update")             # WSGIDaemonProcess name -> options
    request_timeout: Any = UNSET                     # WSGIRequestTimeout


@dataclass(slots=True)
class WSGIDirConfig:
    process_group: Any = UNSET
    application_group: Any = UNSET
    reloading: Any = UNSET
    pass_authorization: Any = UNSET


wsgi = Module("wsgi_module", "mod_wsgi.c", dir_config=WSGIDirConfig,
              server_config=WSGIServerConfig,
              description="Python WSGI (PEP 3333) applications in the worker processes")
common.MOUNT_MODULES.append(wsgi)

_ALIAS_OPTIONS = frozenset(("application", "callable-object", "application-group",
                            "process-group", "pass-authorization"))


# --- directives ------------------------------------------------------------------------
@wsgi.directive("WSGIScriptAlias", args=ArgSpec.TAKE_ARGV, context=Context.RSRC,
                syntax="WSGIScriptAlias URL-path file-path|directory-path [application=name] "
                       "[application-group=name] [process-group=name] "
                       "[pass-authorization=On|Off]",
                help="Maps a URL-path onto a WSGI script file (or a directory of them): "
                     "the file's callable (application= or callable-object=, default "
                     "'application') answers every URL under it, with SCRIPT_NAME the "
                     "URL-path and PATH_INFO the rest; the longest matching mount wins")
def wsgi_script_alias(cmd: CmdParms, conf: WSGIServerConfig, words: list[str]) -> None:
    m = common.parse_alias(cmd, words, "wsgi-script", "application", _ALIAS_OPTIONS)
    conf.mounts = [*(conf.mounts or []), m]


@wsgi.directive("WSGIPythonPath", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="WSGIPythonPath directory[:directory]...",
                help="Directories (separated by ':') put at the front of sys.path in each "
                     "worker process, their .pth files processed (site.addsitedir), so "
                     "that WSGI and ASGI scripts can import modules kept there")
def wsgi_python_path(cmd: CmdParms, conf: WSGIServerConfig, v: str) -> None:
    dirs = [cmd.tree.server_root_relative(d) for d in v.split(os.pathsep) if d]
    conf.python_path = [*(conf.python_path or []), *dirs]


@wsgi.directive("WSGIThreads", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="WSGIThreads number",
                help="Size of the per-process thread pool WSGI applications run in "
                     f"(featherd's own; default {DEFAULT_THREADS}): at most this many "
                     "WSGI requests run at once in one worker process, the event loop "
                     "keeps serving the rest")
def wsgi_threads(cmd: CmdParms, conf: WSGIServerConfig, v: str) -> None:
    if not v.strip().isdigit() or int(v) < 1:
        raise DirectiveError("WSGIThreads must be a positive number")
    conf.threads = int(v)


@wsgi.directive("WSGIRequestTimeout", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="WSGIRequestTimeout seconds",
                help="Seconds a WSGI application may take over one request (0, the "
                     "default: no limit). A request still running then is answered 504 "
                     "Gateway Timeout (or its connection dropped if the response had "
                     "begun), with an error-log line; the application's thread is "
                     "abandoned and a new one serves the next requests")
def wsgi_request_timeout(cmd: CmdParms, conf: WSGIServerConfig, v: str) -> None:
    conf.request_timeout = common.seconds_arg("WSGIRequestTimeout", v, " (0: no limit)")


@wsgi.directive("WSGIDaemonProcess", args=ArgSpec.TAKE_ARGV, context=Context.RSRC,
                syntax="WSGIDaemonProcess name [option=value] ...",
                help="Accepted for mod_wsgi configurations: featherd runs WSGI "
                     "applications in its own worker processes, with a thread pool "
                     "sized by WSGIThreads; the name may be used with WSGIProcessGroup")
def wsgi_daemon_process(cmd: CmdParms, conf: WSGIServerConfig, words: list[str]) -> None:
    if not words or not words[0]:
        raise DirectiveError("WSGIDaemonProcess requires at least one argument")
    name = words[0]
    opts: dict[str, str] = {}
    for w in words[1:]:
        k, eq, v = w.partition("=")
        if not eq:
            raise DirectiveError(f"Invalid option to WSGI daemon process definition: '{w}'.")
        opts[k.lower()] = v
    if name in (conf.daemons or {}):
        raise DirectiveError(f"Name duplicates previous WSGI daemon definition: '{name}'.")
    conf.daemons = {**(conf.daemons or {}), name: opts}
    note = (f"WSGIDaemonProcess {name} (line {cmd.line} of {cmd.filename}): WSGI "
            "applications run in featherd's worker processes, not in daemon processes")
    if note not in cmd.tree.warnings:
        cmd.tree.warnings.append(note)


@wsgi.directive("WSGIProcessGroup", args=ArgSpec.TAKE1, context=Context.ACCESS,
                syntax="WSGIProcessGroup %{GLOBAL}|%{ENV:variable}|name",
                help="Accepted for mod_wsgi configurations: the application runs in the "
                     "worker process; the name is passed as mod_wsgi.process_group")
def wsgi_process_group(cmd: CmdParms, conf: WSGIDirConfig, v: str) -> None:
    conf.process_group = v


@wsgi.directive("WSGIApplicationGroup", args=ArgSpec.TAKE1, context=Context.ACCESS,
                syntax="WSGIApplicationGroup %{GLOBAL}|%{SERVER}|%{RESOURCE}|"
                       "%{ENV:variable}|name",
                help="The application group a script is loaded in: each group has its "
                     "own copy of the script's module (default %{RESOURCE}: one per "
                     "server and mount point; %{GLOBAL} shares one per process)")
def wsgi_application_group(cmd: CmdParms, conf: WSGIDirConfig, v: str) -> None:
    conf.application_group = v


@wsgi.directive("WSGIScriptReloading", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                override=Override.FILEINFO, syntax="WSGIScriptReloading On|Off",
                help="On (the default): a script whose modification time changed is "
                     "loaded again at its next request; Off: loaded once per process")
def wsgi_script_reloading(cmd: CmdParms, conf: WSGIDirConfig, v: bool) -> None:
    conf.reloading = v


@wsgi.directive("WSGIPassAuthorization", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                override=Override.FILEINFO, syntax="WSGIPassAuthorization On|Off",
                help="On: the Authorization header reaches the application as "
                     "HTTP_AUTHORIZATION (Off, the default, keeps credentials that the "
                     "server checked away from it)")
def wsgi_pass_authorization(cmd: CmdParms, conf: WSGIDirConfig, v: bool) -> None:
    conf.pass_authorization = v


# --- hooks ------------------------------------------------------------------------------
@wsgi.hook("translate_name", order=FIRST, needs=True)
def translate_wsgi(r: Request) -> int:
    return common.translate(r, "wsgi-script")


@wsgi.hook("fixups", order=MIDDLE, needs=True)
def fixup_wsgi(r: Request) -> int:
    return common.fixup_handler(r, "wsgi-script")


@wsgi.hook("child_init")
def child_init(tree: Any, loop: Any) -> None:
    paths = tree.main.module_config[wsgi.index].python_path
    if paths:
        common.add_python_path(paths)


@wsgi.hook("child_exit")
def child_exit(tree: Any) -> None:
    st = tree.extra.get("pyapps")
    if st is not None and st.pid == os.getpid() and st.pool is not None:
        st.pool.shutdown()
        st.pool = None


def _pool(r: Request) -> ThreadPool:
    st = process_state(r.tree)
    pool = st.pool
    if pool is None:
        n = r.tree.main.module_config[wsgi.index].threads
        pool = st.pool = ThreadPool(DEFAULT_THREADS if n is UNSET else n)
    return pool


# --- application groups and loaded scripts -------------------------------------------
def application_group(r: Request, spec: str | None, script_name: str) -> str:
    """Expand WSGIApplicationGroup's %{...} forms for this request. The server part is
    the configured ServerName (and port unless 80/443), as mod_wsgi has it, never the
    client's Host header: one copy per server, however clients spell its name."""
    if spec == "%{GLOBAL}":
        return ""
    if spec is not None and spec.startswith("%{ENV:") and spec.endswith("}"):
        return r.subprocess_env.get(spec[6:-1], "")
    if spec is not None and spec not in ("%{RESOURCE}", "%{SERVER}"):
        return spec
    s = r.server
    port = s.port
    host = (s.server_hostname or "localhost") + \
        ("" if port in (0, 80, 443) else f":{port}")
    return host if spec == "%{SERVER}" else f"{host}|{script_name}"


class WSGIEntry:
    """One script loaded in one application group (loaded by a pool thread)."""

    __slots__ = ("app", "callable", "lock", "modname", "mtime", "path")

    def __init__(self, path: str, callable_name: str, group: str) -> None:
        self.path = path
        self.callable = callable_name
        self.modname = common.module_name("mod_wsgi", f"{group}|{path}")
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
                self.app = common.load_callable(TAG, self.path, self.modname,
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
    cgi_env.add_common_vars(r, pass_auth=pa)
    cgi_env.add_cgi_vars(r)
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


# --- the handler ------------------------------------------------------------------------
@wsgi.handler("wsgi-script")
async def wsgi_handler(r: Request) -> int:
    mount, status = common.script_precheck(r, "wsgi-script", "WSGI")
    if status:
        return status
    path = r.filename or ""
    st = r.finfo
    dc: WSGIDirConfig = r.per_dir_config[wsgi.index]
    script_name, path_info = common.script_name_and_path_info(r)
    spec = mount.application_group if mount is not None and mount.application_group \
        else (dc.application_group if dc.application_group is not UNSET else None)
    group = application_group(r, spec, script_name)
    cname = mount.callable if mount is not None else "application"
    state = process_state(r.tree)
    key = (group, path, cname)
    entry = state.apps.get(key)
    if entry is None:
        entry = state.apps[key] = WSGIEntry(path, cname, group)
    loop = r.connection.loop
    job = WSGIJob(r, loop, entry, st.st_mtime_ns, flag(dc.reloading, True))
    job.environ = build_environ(r, job, dc, mount, script_name, path_info, group)
    pool = _pool(r)
    fut = pool.submit(loop, job.run)
    secs = r.server.module_config[wsgi.index].request_timeout
    if not secs or secs is UNSET:
        return job.finish(await fut)
    timer = loop.call_later(secs, pool.abandon, fut, RequestTimeout())
    try:
        res = await fut
    except RequestTimeout:
        job.timed_out = True
        job.gone = True
        r.log_error(ERROR, f"{TAG} (pid={os.getpid()}): WSGI script '{path}' did not "
                           f"complete its response within WSGIRequestTimeout ({secs:g} "
                           f"seconds); its thread is abandoned ({pool.stuck} abandoned in "
                           "this process).")
        return 504
    finally:
        timer.cancel()
    return job.finish(res)


class RequestTimeout(Exception):
    """WSGIRequestTimeout expired for a request."""


__all__ = ["FileWrapper", "WSGIJob", "wsgi"]
