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

This file is the module (directives, hooks, the handler); asgi_http.py has the ``http``
scope and a request's receive()/send(), asgi_lifespan.py the loaded applications and
their lifespan, websocket.py (with ws_frames.py and ws_deflate.py) the WebSocket side.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.core.hooks import FIRST, MIDDLE, OK
from featherd.core.module import Module
from featherd.core.upgrade import is_upgrade
from featherd.errors import DirectiveError
from featherd.modules.python import common
from featherd.modules.python.asgi_http import Cycle, build_scope
from featherd.modules.python.asgi_lifespan import TAG, ASGIEntry
from featherd.modules.python.common import (
    ERROR,
    INFO,
    MOUNT_KEY,
    ScriptError,
    fixup_handler,
    flag,
    log_exception,
    log_lines,
    process_state,
    script_name_and_path_info,
    script_precheck,
    traceback_lines,
    translate,
)
from featherd.modules.python.websocket import serve as serve_websocket

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

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
    return translate(r, "asgi-script")


@asgi.hook("fixups", order=MIDDLE, needs=True)
def fixup_asgi(r: Request) -> int:
    return fixup_handler(r, "asgi-script")


# --- loaded applications ---------------------------------------------------------------
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
@asgi.handler("asgi-script")
async def asgi_handler(r: Request) -> int:
    mount, status = script_precheck(r, "asgi-script", "ASGI")
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
    hit = r.ctx.get(MOUNT_KEY)
    root_path = hit[1] if hit is not None else script_name_and_path_info(r)[0]
    scope = build_scope(r, root_path, entry.state, entry.version)
    if "Upgrade" in r.headers_in and is_upgrade(r, "websocket"):
        return await serve_websocket(r, app, scope, path,
                                     r.server.module_config[asgi.index])
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


__all__ = ["asgi"]
