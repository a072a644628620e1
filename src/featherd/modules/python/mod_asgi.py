"""mod_asgi: ASGI 3 (and 2) applications (HTTP, WebSocket and lifespan) on the worker's event loop.

``ASGIScriptAlias /api /srv/api.py`` mounts the coroutine callable ``app`` of that file at
/api; ``AddHandler asgi-script .asgi`` in a directory with ``Options ExecCGI`` works too.
As with mod_wsgi the request has been through every phase (rewrite, access control,
authentication) and the response goes through the output filters and the access log.

The scope follows the ASGI HTTP spec (version 3.0, spec_version 2.3): ``path`` is the
whole decoded path (``root_path``, the mount point, included, as servers now agree),
``raw_path`` the bytes the client sent (or the escaped path after an internal rewrite),
headers as lower-cased bytes, ``client``/``server`` as (host, port), ``state`` a copy
of what the lifespan startup stored. ``receive()`` hands out the request body as it
arrives (``more_body`` until its end), then blocks until the client goes away or the
response is over, and says ``http.disconnect``. ``send()`` takes
``http.response.start`` and ``http.response.body`` (``more_body`` streams, chunked on
HTTP/1.1; a single body gets a Content-Length) and the ``http.response.pathsend``
extension, which sends a file as a file bucket (sendfile). ``extensions["featherd"]``
holds ``remote_user`` and ``auth_type`` as the authentication phase left them.

Lifespan (``ASGILifespan``, default auto) runs in every worker process: startup in
child_init, before the worker listens (requests wait for it), shutdown when the worker
stops. A script that changes is loaded again with a fresh lifespan; the old one is
shut down. A failed startup makes that application answer 500 (never a dead worker).
WebSocket: a ``GET`` with ``Upgrade: websocket`` runs the application with a
``websocket`` scope (see websocket.py; ``ASGIWebSocketMaxSize``, keep-alive pings with
``ASGIWebSocketPingInterval``/``ASGIWebSocketPingTimeout``, permessage-deflate with
``ASGIWebSocketCompression``). An ASGI 2 application
(``app(scope)`` returning the coroutine callable) is recognised as uvicorn does and
called that way, with ``scope["asgi"]["version"]`` "2.0".
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.core.hooks import FIRST, MIDDLE, OK
from featherd.core.module import Module
from featherd.core.upgrade import is_upgrade
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS, FileBucket
from featherd.filters.chain import pass_brigade
from featherd.http.status import STATUS_LINES
from featherd.modules.python import common, websocket
from featherd.modules.python.common import (
    ERROR,
    INFO,
    WARN,
    ScriptError,
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

TAG = "mod_asgi"
SHUTDOWN_TIMEOUT = 10.0
_LIFESPAN_MODES = ("on", "off", "auto")


@dataclass(slots=True)
class ASGIServerConfig:
    mounts: Any = unset_field(common._child_first)   # ASGIScriptAlias
    lifespan: Any = UNSET                            # ASGILifespan
    ws_max_size: Any = UNSET                         # ASGIWebSocketMaxSize
    ws_ping_interval: Any = UNSET                    # ASGIWebSocketPingInterval
    ws_ping_timeout: Any = UNSET                     # ASGIWebSocketPingTimeout
    ws_compression: Any = UNSET                      # ASGIWebSocketCompression


@dataclass(slots=True)
class ASGIDirConfig:
    reloading: Any = UNSET                           # ASGIScriptReloading


asgi = Module("asgi_module", "mod_asgi.c", dir_config=ASGIDirConfig,
              server_config=ASGIServerConfig,
              description="Python ASGI 3 applications on the worker's event loop")
common.MOUNT_MODULES.append(asgi)

_ALIAS_OPTIONS = frozenset(("application", "callable-object", "lifespan"))


# --- directives ------------------------------------------------------------------------
@asgi.directive("ASGIScriptAlias", args=ArgSpec.TAKE_ARGV, context=Context.RSRC,
                syntax="ASGIScriptAlias URL-path file-path|directory-path "
                       "[application=name] [lifespan=on|off|auto]",
                help="Maps a URL-path onto an ASGI 3 script file (or a directory of them): "
                     "the file's callable (application=, default 'app') answers every URL "
                     "under it, with root_path the URL-path; the longest matching mount "
                     "(WSGI or ASGI) wins")
def asgi_script_alias(cmd: CmdParms, conf: ASGIServerConfig, words: list[str]) -> None:
    m = common.parse_alias(cmd, words, "asgi-script", "app", _ALIAS_OPTIONS)
    conf.mounts = [*(conf.mounts or []), m]


@asgi.directive("ASGILifespan", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="ASGILifespan on|off|auto",
                help="The ASGI lifespan protocol in each worker process: on (a failure "
                     "makes the application answer 500), off (never sent), auto (the "
                     "default: an application that raises at startup is taken not to "
                     "support it)")
def asgi_lifespan(cmd: CmdParms, conf: ASGIServerConfig, v: str) -> None:
    if v.lower() not in _LIFESPAN_MODES:
        raise DirectiveError("ASGILifespan must be on, off or auto")
    conf.lifespan = v.lower()


@asgi.directive("ASGIWebSocketMaxSize", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="ASGIWebSocketMaxSize bytes",
                help="The largest WebSocket message (all its fragments together, inflated "
                     "when compressed) a client "
                     "may send to an ASGI application, in bytes (default 16777216); a "
                     "bigger one closes the connection with 1009")
def asgi_ws_max_size(cmd: CmdParms, conf: ASGIServerConfig, v: str) -> None:
    if not v.strip().isdigit() or int(v) < 1:
        raise DirectiveError("ASGIWebSocketMaxSize must be a positive number of bytes")
    conf.ws_max_size = int(v)


@asgi.directive("ASGIWebSocketPingInterval", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="ASGIWebSocketPingInterval seconds",
                help="Seconds between the keep-alive Pings sent on each open WebSocket of an "
                     "ASGI application (default 20, fractions allowed); 0 sends none")
def asgi_ws_ping_interval(cmd: CmdParms, conf: ASGIServerConfig, v: str) -> None:
    conf.ws_ping_interval = common.seconds_arg("ASGIWebSocketPingInterval", v)


@asgi.directive("ASGIWebSocketPingTimeout", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="ASGIWebSocketPingTimeout seconds",
                help="Seconds a WebSocket client has to answer a keep-alive Ping (its Pong "
                     "or any other frame) before the connection is closed with 1011 "
                     "(default 20, fractions allowed); 0 never closes")
def asgi_ws_ping_timeout(cmd: CmdParms, conf: ASGIServerConfig, v: str) -> None:
    conf.ws_ping_timeout = common.seconds_arg("ASGIWebSocketPingTimeout", v)


@asgi.directive("ASGIWebSocketCompression", args=ArgSpec.FLAG, context=Context.RSRC,
                syntax="ASGIWebSocketCompression On|Off",
                help="On (the default): the permessage-deflate extension (RFC 7692) is "
                     "negotiated with WebSocket clients that offer it; Off: messages are "
                     "never compressed")
def asgi_ws_compression(cmd: CmdParms, conf: ASGIServerConfig, v: bool) -> None:
    conf.ws_compression = v


@asgi.directive("ASGIScriptReloading", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                override=Override.FILEINFO, syntax="ASGIScriptReloading On|Off",
                help="On (the default): an ASGI script whose modification time changed is "
                     "loaded again at its next request (with a new lifespan); Off: loaded "
                     "once per process")
def asgi_script_reloading(cmd: CmdParms, conf: ASGIDirConfig, v: bool) -> None:
    conf.reloading = v


@asgi.hook("translate_name", order=FIRST, needs=True)
def translate_asgi(r: Request) -> int:
    return common.translate(r, "asgi-script")


@asgi.hook("fixups", order=MIDDLE, needs=True)
def fixup_asgi(r: Request) -> int:
    return common.fixup_handler(r, "asgi-script")


# --- lifespan -----------------------------------------------------------------------------
class Lifespan:
    """One run of the lifespan protocol for one loaded application."""

    def __init__(self, app: Any, mode: str, path: str, log: Callable[[int, str], None],
                 version: str = "3.0"):
        self.app = app
        self.version = version
        self.mode = mode
        self.path = path
        self.log = log
        self.state: dict[str, Any] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.startup_done = asyncio.Event()
        self.shutdown_done = asyncio.Event()
        self.started = False
        self.startup_failed = False
        self.shutdown_failed = False
        self.error = False
        self.unsupported = False
        self.task: asyncio.Task[None] | None = None

    async def main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": self.version, "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self.receive, self.send)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self.error = True
            lines = traceback_lines()
            if self.startup_failed or self.shutdown_failed:
                pass
            elif self.mode == "auto" and not self.started:
                self.unsupported = True
                self.log(INFO, f"{TAG} (pid={os.getpid()}): ASGI 'lifespan' protocol "
                               f"appears unsupported by '{self.path}'.")
            else:
                self.log(ERROR, f"{TAG} (pid={os.getpid()}): Exception in 'lifespan' "
                                f"protocol of '{self.path}'.")
                for line in lines:
                    self.log(ERROR, line)
        finally:
            self.startup_done.set()
            self.shutdown_done.set()

    async def receive(self) -> dict[str, Any]:
        return await self.queue.get()

    async def send(self, message: dict[str, Any]) -> None:
        t = message.get("type")
        pid = os.getpid()
        if t == "lifespan.startup.complete":
            self.started = True
            self.startup_done.set()
        elif t == "lifespan.startup.failed":
            self.startup_failed = True
            self.startup_done.set()
            self.log(ERROR, f"{TAG} (pid={pid}): Application startup failed for "
                            f"'{self.path}': {message.get('message', '')}")
        elif t == "lifespan.shutdown.complete":
            self.shutdown_done.set()
        elif t == "lifespan.shutdown.failed":
            self.shutdown_failed = True
            self.shutdown_done.set()
            self.log(ERROR, f"{TAG} (pid={pid}): Application shutdown failed for "
                            f"'{self.path}': {message.get('message', '')}")
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message '{t}'")

    async def startup(self) -> bool:
        """Run the startup; False when the application can't serve (failed, or raised
        with ASGILifespan on)."""
        self.task = asyncio.get_running_loop().create_task(self.main())
        await self.queue.put({"type": "lifespan.startup"})
        await self.startup_done.wait()
        if self.startup_failed or (self.error and not self.unsupported):
            return False
        return True

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.shutdown_done.wait(), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            self.log(WARN, f"{TAG} (pid={os.getpid()}): lifespan shutdown of '{self.path}' "
                           f"took more than {SHUTDOWN_TIMEOUT:.0f} s; abandoned")
            self.task.cancel()


# --- loaded applications ---------------------------------------------------------------
def asgi_version(app: Any) -> str:
    """ASGI 3 (a coroutine callable) or ASGI 2 (``app(scope)`` returns the coroutine
    callable of the connection), told apart as uvicorn's interface=auto does."""
    if inspect.isclass(app):
        return "3.0" if hasattr(app, "__await__") else "2.0"
    if inspect.isfunction(app):
        return "3.0" if inspect.iscoroutinefunction(app) else "2.0"
    call = getattr(app, "__call__", None)  # noqa: B004 - uvicorn's test, on purpose
    return "3.0" if inspect.iscoroutinefunction(call) else "2.0"


class ASGI2App:
    """An ASGI 2 application behind the ASGI 3 call (uvicorn's ASGI2Middleware)."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        instance = self.app(scope)
        await instance(receive, send)


class ASGIEntry:
    """One ASGI script loaded in this worker process, with its lifespan."""

    def __init__(self, path: str, callable_name: str, mode: str) -> None:
        self.path = path
        self.callable = callable_name
        self.mode = mode
        self.modname = common.module_name("mod_asgi", path)
        self.mtime: int | None = None
        self.app: Any = None
        self.state: dict[str, Any] = {}
        self.lifespan: Lifespan | None = None
        self.failed: list[str] | None = None
        self.lock: asyncio.Lock | None = None
        self.version = "3.0"             # "2.0" for an ASGI 2 (double-callable) app

    async def get(self, mtime: int, reloading: bool, log: Callable[[int, str], None]) -> Any:
        if self.app is not None and (mtime == self.mtime or not reloading):
            return self.app
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if self.mtime is None or (reloading and mtime != self.mtime):
                await self._load(mtime, log)
        if self.app is None:
            raise ScriptError(self.failed or [f"{TAG} (pid={os.getpid()}): ASGI "
                                              f"application '{self.path}' not available"])
        return self.app

    async def _load(self, mtime: int, log: Callable[[int, str], None]) -> None:
        pid = os.getpid()
        if self.mtime is not None:
            log(INFO, f"{TAG} (pid={pid}): Reloading ASGI script '{self.path}'.")
        old = self.lifespan
        self.app = None
        self.lifespan = None
        self.state = {}
        try:
            app = common.load_callable(TAG, self.path, self.modname, self.callable, "ASGI")
        except ScriptError as e:
            self.mtime = None           # try again at the next request
            self.failed = e.lines
            await _retire(old)
            raise
        self.mtime = mtime
        self.failed = None
        self.version = asgi_version(app)
        if self.version == "2.0":
            app = ASGI2App(app)
        if self.mode != "off":
            ls = Lifespan(app, self.mode, self.path, log, self.version)
            ok = await ls.startup()
            if not ok:
                self.failed = [f"{TAG} (pid={pid}): ASGI application '{self.path}' is not "
                               "available: its lifespan startup failed."]
                await _retire(old)
                await ls.shutdown()
                return
            if not ls.unsupported:
                self.lifespan = ls
                self.state = ls.state
        self.app = app
        await _retire(old)


async def _retire(ls: Lifespan | None) -> None:
    if ls is not None:
        await ls.shutdown()


def _entry(r: Request, path: str, cname: str, mode: str | None) -> ASGIEntry:
    state = process_state(r.tree)
    key = ("asgi", path, cname)
    e = state.apps.get(key)
    if e is None:
        if mode is None:
            v = r.server.module_config[asgi.index].lifespan
            mode = "auto" if v is UNSET else v
        e = state.apps[key] = ASGIEntry(path, cname, mode)
    return e  # type: ignore[no-any-return]


def _main_log(tree: Any, server: Any = None) -> Callable[[int, str], None]:
    """A logger for what outlives one request (loading, lifespan): the server's error
    log, without a client."""
    def log(level: int, msg: str) -> None:
        el = (server.error_log if server is not None else None) or tree.main.error_log
        if el is not None:
            el.log(level, msg)
    return log


@asgi.hook("child_init")
def child_init(tree: Any, loop: Any) -> None:
    """Load every mounted script and run its lifespan startup before serving."""
    state = process_state(tree)
    log = _main_log(tree)
    for s in tree.all_servers():
        sc = s.module_config[asgi.index]
        for m in sc.mounts or ():
            if m.is_dir:
                continue
            key = ("asgi", m.target, m.callable)
            if key in state.apps:
                continue
            mode = m.lifespan or ("auto" if sc.lifespan is UNSET else sc.lifespan)
            e = state.apps[key] = ASGIEntry(m.target, m.callable, mode)
            t = loop.create_task(_preload(e, log))
            state.tasks.add(t)
            t.add_done_callback(state.tasks.discard)


async def _preload(e: ASGIEntry, log: Callable[[int, str], None]) -> None:
    try:
        mtime = os.stat(e.path).st_mtime_ns
    except OSError:
        return                          # the request will say 404
    try:
        await e.get(mtime, True, log)
    except ScriptError as err:
        for line in err.lines:
            log(ERROR, line)


@asgi.hook("child_exit")
def child_exit(tree: Any) -> Any:
    """The lifespan shutdowns (an awaitable the worker waits for), or None."""
    st = tree.extra.get("pyapps")
    if st is None or st.pid != os.getpid():
        return None
    spans = [e.lifespan for e in st.apps.values()
             if isinstance(e, ASGIEntry) and e.lifespan is not None]
    for t in list(st.tasks):
        t.cancel()
    if not spans:
        return None
    for e in st.apps.values():
        if isinstance(e, ASGIEntry):
            e.lifespan = None
    return asyncio.gather(*(ls.shutdown() for ls in spans), return_exceptions=True)


# --- one request ------------------------------------------------------------------------
def _text(s: str) -> str:
    """A path as the str ASGI wants: r.uri holds UTF-8 (undecodable bytes kept as
    surrogates); those become U+FFFD here."""
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def raw_path(r: Request) -> bytes:
    """What the client sent as the path, unless a rewrite changed the path since."""
    raw = r.unparsed_uri
    uri = r.uri
    if raw == uri:
        try:
            return raw.encode("latin-1")
        except UnicodeEncodeError:
            return raw.encode("latin-1", "replace")
    q = raw.find("?")
    if q >= 0:
        raw = raw[:q]
    if raw == uri or (raw.startswith("/") and "%" in raw and
                      unquote(raw, errors="surrogateescape") == uri):
        return raw.encode("latin-1", "replace")
    return quote(uri.encode("utf-8", "surrogateescape"), safe="/:@!$&'()*+,;=~").encode()


def scope_headers(r: Request) -> list[tuple[bytes, bytes]]:
    """The request's header fields as ASGI has them: lower-cased latin-1 bytes."""
    try:
        return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r.headers_in]
    except UnicodeEncodeError:              # a module put a non-latin-1 field there
        return [(k.lower().encode("latin-1", "replace"), v.encode("latin-1", "replace"))
                for k, v in r.headers_in]




def build_scope(r: Request, root_path: str, state: dict[str, Any],
                version: str = "3.0") -> dict[str, Any]:
    conn = r.connection
    uri = r.uri
    args = r.args
    return {
        "type": "http",
        "asgi": {"version": version, "spec_version": "2.3"},
        "http_version": "1.1" if r.proto_num >= 1001 else "1.0",
        "method": r.method,
        "scheme": "https" if conn.is_tls else "http",
        "path": uri if uri.isascii() else _text(uri),
        "raw_path": raw_path(r),
        "query_string": args.encode("latin-1", "replace") if args else b"",
        "root_path": root_path if root_path.isascii() else _text(root_path),
        "headers": scope_headers(r),
        "client": (conn.client_ip, conn.client_port),
        "server": (conn.local_ip, conn.local_port),
        "state": state.copy() if state else {},
        "extensions": {"http.response.pathsend": {},
                       "featherd": {"remote_user": r.user, "auth_type": r.ap_auth_type}},
    }


_NAMES: dict[bytes, str] = {}        # header names already checked, decoded


def _response_headers(raw: Any) -> list[tuple[str, str]]:
    """http.response.start's headers as str pairs; a field that would split the
    response (CR, LF, NUL, a bad name) is refused."""
    out = []
    names = _NAMES
    for k, v in raw:
        name = names.get(k)
        if name is None or b"\n" in v or b"\r" in v or b"\0" in v:
            name = k.decode("latin-1")
            val = v.decode("latin-1")
            check_header(name, val)
            if len(names) < 512 and k.__class__ is bytes:
                names[k] = name
            out.append((name, val))
        else:
            out.append((name, v.decode("latin-1")))
    return out


class Cycle:
    """receive() and send() of one request."""

    __slots__ = ("applied", "body_done", "body_error", "complete", "conn", "finished",
                 "headers", "r", "started", "status", "status_line", "waiter")

    def __init__(self, r: Request) -> None:
        self.r = r
        self.conn = r.connection
        self.body_done = False
        self.body_error = 0
        self.started = False
        self.applied = False
        self.complete = False
        self.finished = False
        self.status = 200
        self.status_line: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.waiter: asyncio.Future[None] | None = None

    async def receive(self) -> dict[str, Any]:
        if not self.body_done:
            r = self.r
            body = r.body
            if body is None:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                data = await r.read_body()
            except HTTPError as e:
                self.body_error = e.status
                self.body_done = True
                return {"type": "http.disconnect"}
            more = bool(data) and not body.done and not (
                body.content_length is not None and body.received >= body.content_length
                and not body.rest)
            if not more:
                self.body_done = True
            return {"type": "http.request", "body": data, "more_body": more}
        if not (self.complete or self.finished or self.conn.transport_closed):
            await self._wait_disconnect()
        return {"type": "http.disconnect"}

    async def _wait_disconnect(self) -> None:
        """Until the connection is lost or the client has closed its side, or the
        response is over (the connection's data waiter is woken by the loss, the end
        of input, and by any data: then we look again)."""
        conn = self.conn
        loop = conn.loop
        if self.waiter is None:
            self.waiter = loop.create_future()
        while not (self.complete or self.finished or conn.transport_closed
                   or conn.parser.eof):
            dw = conn.data_waiter
            if dw is None or dw.done():
                dw = conn.data_waiter = loop.create_future()
            try:
                await asyncio.wait((dw, self.waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if conn.data_waiter is dw and not dw.done():
                    conn.data_waiter = None

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def send(self, message: dict[str, Any]) -> None:
        t = message["type"]
        if t == "http.response.body":
            if not self.started:
                raise RuntimeError("Expected ASGI message 'http.response.start', but got "
                                   "'http.response.body'.")
            if self.complete:
                raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, "
                                   "after response already completed.")
            body = message.get("body", b"")
            if body.__class__ is not bytes:
                body = bytes(body)
            more = message.get("more_body", False)
            conn = self.conn
            r = self.r
            if conn.transport_closed:
                if not more:
                    self.complete = True
                # spec 2.3: a no-op (as uvicorn); but an app that streams on without
                # listening for http.disconnect must not hold the loop in a busy loop
                await asyncio.sleep(0)
                return
            if not self.applied:
                self.applied = True
                apply_headers(r, self.status, self.status_line, self.headers)
            if more:
                if body:
                    pass_brigade(r, [body])
                    if conn.pending or conn.paused_writing:
                        await conn.drain_response(r)
                return
            self.complete = True
            pass_brigade(r, [body, EOS] if body else [EOS])
            self._wake()
            return
        if t == "http.response.start":
            if self.started:
                raise RuntimeError("Expected ASGI message 'http.response.body', but got "
                                   "'http.response.start'.")
            status = message["status"]
            if status.__class__ is not int or not 100 <= status <= 999:
                raise TypeError(f"Invalid HTTP status code '{status!r}' in response.")
            raw = message.get("headers")
            self.status = status
            if raw:
                self.headers = _response_headers(raw)
            self.started = True
            if status not in STATUS_LINES:
                # a code Apache does not know keeps its number (not the class's first)
                self.status_line = f"{status} "
            return
        if t == "http.response.pathsend":
            await self._pathsend(message)
            return
        raise RuntimeError(f"Unexpected ASGI message '{t}' sent, after response already "
                           "started." if self.started else
                           f"Expected ASGI message 'http.response.start', but got '{t}'.")

    async def _pathsend(self, message: dict[str, Any]) -> None:
        if not self.started or self.complete:
            raise RuntimeError("Unexpected ASGI message 'http.response.pathsend' sent.")
        path = message["path"]
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(fd).st_size
        except OSError:
            os.close(fd)
            raise
        self.complete = True
        if self.conn.transport_closed:
            os.close(fd)
            return
        if not self.applied:
            self.applied = True
            apply_headers(self.r, self.status, self.status_line, self.headers)
        pass_brigade(self.r, [FileBucket(fd, 0, size, str(path)), EOS])
        self._wake()

    def done(self) -> None:
        self.finished = True
        self._wake()


@asgi.handler("asgi-script")
async def asgi_handler(r: Request) -> int:
    mount, status = common.script_precheck(r, "asgi-script", "ASGI")
    if status:
        return status
    path = r.filename or ""
    st = r.finfo
    dc: ASGIDirConfig = r.per_dir_config[asgi.index]
    entry = _entry(r, path, mount.callable if mount is not None else "app",
                   mount.lifespan if mount is not None else None)
    app = entry.app
    mtime = st.st_mtime_ns
    if app is None or (mtime != entry.mtime and flag(dc.reloading, True)):
        try:
            app = await entry.get(mtime, flag(dc.reloading, True),
                                  _main_log(r.tree, r.server))
        except ScriptError as e:
            log_lines(r, e.lines)
            return 500
    hit = r.ctx.get(common.MOUNT_KEY)
    root_path = hit[1] if hit is not None else common.script_name_and_path_info(r)[0]
    scope = build_scope(r, root_path, entry.state, entry.version)
    if "Upgrade" in r.headers_in and is_upgrade(r, "websocket"):
        return await websocket.serve(r, app, scope, path, r.server.module_config[asgi.index])
    cyc = Cycle(r)
    try:
        await app(scope, cyc.receive, cyc.send)
    except asyncio.CancelledError:
        cyc.done()
        raise
    except BaseException:                    # SystemExit too: the worker lives on
        cyc.done()
        lines = traceback_lines()
        if cyc.body_error and not cyc.started:
            # the request body failed (too large, timed out, client gone): that status
            r.log_error(INFO, f"{TAG} (pid={os.getpid()}): ASGI script '{path}' stopped "
                              f"after the request body failed: {lines[-1]}")
            return cyc.body_error
        log_exception(r, TAG, "ASGI", path, lines)
        if cyc.complete:
            return OK
        return 500
    cyc.done()
    if not cyc.started:
        r.log_error(ERROR, f"{TAG} (pid={os.getpid()}): ASGI callable returned without "
                           f"starting response: '{path}'.")
        return cyc.body_error or 500
    if not cyc.complete:
        r.log_error(ERROR, f"{TAG} (pid={os.getpid()}): ASGI callable returned without "
                           f"completing response: '{path}'.")
        return 500
    return OK


__all__ = ["ASGIEntry", "Cycle", "Lifespan", "asgi", "build_scope"]
