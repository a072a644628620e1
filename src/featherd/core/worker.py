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


class Worker:
    def __init__(self, tree: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.tree = tree
        self.loop = loop
        self.vhosts = VhostMap(tree)
        self.dates = DateCache()
        self.server_header = server_banner(tree)
        self.server_banner = self.server_header
        self.connections: set[Connection] = set()
        self.servers: list[asyncio.base_events.Server] = []
        self.stopping = False
        self.stopped = loop.create_future()
        self.requests = 0
        self.max_requests = int(tree.extra.get("mpm", {}).get("MaxRequestsPerChild", 0) or 0)
        self.on_max_requests: Any = None

    def count_request(self) -> None:
        self.requests += 1
        if self.max_requests and self.requests >= self.max_requests and not self.stopping:
            if self.on_max_requests is not None:
                self.on_max_requests()

    async def start(self, sockets: list[tuple[Any, Any]]) -> None:
        run_void_sync(self.tree.hooks["child_init"], self.tree, self.loop)
        for sock, spec in sockets:
            ssl_ctx = None
            factory = getattr(spec, "ssl_factory", None)
            if factory is not None:
                ssl_ctx = factory()
            srv = await self.loop.create_server(
                lambda spec=spec: Connection(self, spec), sock=sock, ssl=ssl_ctx,
                backlog=511)
            self.servers.append(srv)

    async def stop(self, graceful: float = 0.0) -> None:
        """Stop accepting; let requests in flight finish (up to ``graceful`` s)."""
        self.stopping = True
        for s in self.servers:
            s.close()
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
        run_void_sync(self.tree.hooks["child_exit"], self.tree)


def new_event_loop() -> asyncio.AbstractEventLoop:
    if os.environ.get("FEATHERD_NO_UVLOOP") != "1":
        try:
            import uvloop

            return uvloop.new_event_loop()  # type: ignore[no-any-return]
        except ImportError:
            pass
    return asyncio.new_event_loop()


__all__ = ["Worker", "new_event_loop", "server_banner", "sys"]
