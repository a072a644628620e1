"""A worker: one event loop serving every Listen socket it was handed."""

from __future__ import annotations

import asyncio
import os
import platform
import sys
from typing import Any

from featherd import __version__
from featherd.core.connection import Connection
from featherd.core.hooks import run_void_sync
from featherd.core.vhost import VhostMap
from featherd.http.dates import DateCache

ERROR, NOTICE = 3, 5


def server_banner(tree: Any) -> str:
    """The Server: header per ServerTokens (our product name is featherd)."""
    tok = tree.extra.get("server_tokens", "full")
    major, minor = __version__.split(".")[:2]
    if tok == "prod":
        return "featherd"
    if tok == "major":
        return f"featherd/{major}"
    if tok == "minor":
        return f"featherd/{major}.{minor}"
    if tok == "min":
        return f"featherd/{__version__}"
    if tok == "os":
        return f"featherd/{__version__} (Unix)"
    return f"featherd/{__version__} (Unix) Python/{platform.python_version()}"


def connection_cap(tree: Any, workers: int) -> int:
    """Connections one worker serves at once: MaxClients shared among the workers;
    without MaxClients, what the open-files limit allows."""
    m = tree.extra.get("mpm", {})
    mc = m.get("MaxClients")
    if mc:
        return max(1, -(-int(mc) // max(1, workers)))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        soft = 1024
    if soft <= 0 or soft == getattr(resource, "RLIM_INFINITY", -1):
        soft = 65536
    return max(16, min(soft - 64, 16384))


class ConnSet(set):  # type: ignore[type-arg]
    """The worker's open connections; opening and closing one is where the worker
    counts connections (MaxRequestsPerChild), keeps its scoreboard slots and enforces
    its connection cap."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker

    def add(self, conn: Any) -> None:
        super().add(conn)
        self.worker.conn_opened(conn)

    def discard(self, conn: Any) -> None:
        if conn in self:
            super().remove(conn)
            self.worker.conn_closed(conn)


class Worker:
    def __init__(self, tree: Any, loop: asyncio.AbstractEventLoop, workers: int = 1) -> None:
        self.tree = tree
        self.loop = loop
        self.vhosts = VhostMap(tree)
        self.dates = DateCache()
        self.server_header = server_banner(tree)
        self.server_banner = self.server_header
        self.connections: set[Connection] = ConnSet(self)
        self.servers: list[asyncio.base_events.Server] = []
        self.sockets: list[tuple[Any, Any]] = []
        self.stopping = False
        self.stopped = loop.create_future()
        self.requests = 0
        self.max_requests = int(tree.extra.get("mpm", {}).get("MaxRequestsPerChild", 0) or 0)
        self.on_max_requests: Any = None
        self.cap = connection_cap(tree, workers)
        self.paused = False
        self.resuming: asyncio.Task[None] | None = None
        self.cap_logged = False
        self._flushq: list[Any] = []
        from featherd.mpm import scoreboard

        self.scoreboard = scoreboard.get()

    # -- connections -----------------------------------------------------------------
    def flush_later(self, conn: Any) -> None:
        """Connection.send: write this connection's finished responses at the end of the
        loop pass (one callback per pass for all connections)."""
        q = self._flushq
        if not q:
            self.loop.call_soon(self._flush_all)
        q.append(conn)

    def _flush_all(self) -> None:
        q = self._flushq
        self._flushq = []
        for conn in q:
            conn.flush()

    def conn_opened(self, conn: Any) -> None:
        sb = self.scoreboard
        if sb is not None:
            conn.notes["sb"] = sb.open_slot(conn.client_ip)
        self.count_request()
        if len(self.connections) >= self.cap and not self.paused and not self.stopping:
            # at the cap: stop accepting (the listen queue, or another worker, holds
            # new clients) until a connection closes
            self.paused = True
            if not self.cap_logged:
                self.cap_logged = True
                log = self.tree.main.error_log
                if log is not None:
                    log.log(ERROR, "server reached MaxClients setting, consider raising the "
                                   "MaxClients setting")
            self._close_servers()

    def conn_closed(self, conn: Any) -> None:
        sb = self.scoreboard
        if sb is not None:
            sb.close_slot(conn.notes.get("sb", -1), self.stopping)
        if self.paused and len(self.connections) < self.cap and not self.stopping \
                and self.resuming is None:
            self.resuming = self.loop.create_task(self._resume())

    async def _resume(self) -> None:
        try:
            if not self.stopping:
                await self._listen()
                self.paused = False
        finally:
            self.resuming = None

    def count_request(self) -> None:
        """MaxRequestsPerChild counts connections (keep-alive requests count once)."""
        self.requests += 1
        if self.max_requests and self.requests >= self.max_requests and not self.stopping:
            if self.on_max_requests is not None:
                self.on_max_requests()

    async def start(self, sockets: list[tuple[Any, Any]]) -> None:
        run_void_sync(self.tree.hooks["child_init"], self.tree, self.loop)
        self.sockets = list(sockets)
        await self._listen()

    async def _listen(self) -> None:
        """Serve every Listen socket (on a dup, so that pausing can close it)."""
        for sock, spec in self.sockets:
            ssl_ctx = None
            factory = getattr(spec, "ssl_factory", None)
            if factory is not None:
                ssl_ctx = factory()
            wrap = getattr(spec, "protocol_factory", None)   # mod_ssl's TLS layer
            srv = await self.loop.create_server(
                wrap(self, spec) if wrap is not None
                else (lambda spec=spec: Connection(self, spec)), sock=sock.dup(),
                ssl=ssl_ctx, backlog=511)
            self.servers.append(srv)

    def _close_servers(self) -> None:
        for s in self.servers:
            s.close()
        self.servers = []

    async def stop(self, graceful: float = 0.0) -> None:
        """Stop accepting; let requests in flight finish (up to ``graceful`` s)."""
        self.stopping = True
        if self.resuming is not None:
            self.resuming.cancel()
        self._close_servers()
        for sock, _ in self.sockets:
            # our copies of the listeners: once every worker let go, the kernel
            # refuses new connections instead of queueing them for nobody
            sock.close()
        sb = self.scoreboard
        if sb is not None and sb.row >= 0:
            sb.quiesce(sb.row)
        if graceful:
            # Idle keep-alive connections stay open: the next request on one is answered
            # with "Connection: close" (never closed under a client that is sending).
            deadline = self.loop.time() + graceful
            while self.connections and self.loop.time() < deadline:
                await asyncio.sleep(0.05)
        else:
            for c in list(self.connections):
                if not c.busy:
                    c.close()
        for c in list(self.connections):
            c.abort()
        for fn, _ in self.tree.hooks["child_exit"].funcs:
            rv = fn(self.tree)
            if rv is not None and hasattr(rv, "__await__"):
                await rv          # a module's shutdown that must wait (ASGI lifespan)


def new_event_loop() -> asyncio.AbstractEventLoop:
    if os.environ.get("FEATHERD_NO_UVLOOP") != "1":
        try:
            import uvloop

            return uvloop.new_event_loop()  # type: ignore[no-any-return]
        except ImportError:
            pass
    return asyncio.new_event_loop()


__all__ = ["Worker", "new_event_loop", "server_banner", "sys"]
