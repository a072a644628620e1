"""The loaded ASGI applications of mod_asgi and their lifespan.

``ASGIEntry`` is one ASGI script loaded in this worker process: loaded (and, when it
changes, loaded again) on the event loop, told apart as ASGI 3 or ASGI 2
(``asgi_version``; an ASGI 2 application is called through ``ASGI2App``), with its
``Lifespan``: one run of the lifespan protocol (``ASGILifespan`` on, off or auto), whose
startup must succeed before the application serves and whose shutdown comes when the
script is replaced or the worker stops. mod_asgi.py holds the module: directives, hooks
(child_init loads every mounted script, child_exit shuts the lifespans down) and the
handler.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from typing import Any

from featherd.modules.python.common import (
    ERROR,
    INFO,
    WARN,
    ScriptError,
    load_callable,
    module_name,
    traceback_lines,
)

TAG = "mod_asgi"
SHUTDOWN_TIMEOUT = 10.0


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
        self.modname = module_name("mod_asgi", path)
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
            app = load_callable(TAG, self.path, self.modname, self.callable, "ASGI")
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


__all__ = ["ASGI2App", "ASGIEntry", "Lifespan", "asgi_version"]
