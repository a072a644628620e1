"""Starting the event MPM: bind, open logs, pid file, then the master loop."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from featherd.core.hooks import run_all_sync
from featherd.core.listen import bind
from featherd.mpm import piped
from featherd.mpm.event import Master, run_void_close
from featherd.mpm.single import open_error_logs, write_pidfile


def systemd_sockets(tree: Any) -> list[tuple[Any, Any]] | None:
    """LISTEN_FDS socket activation: use the passed sockets for the Listen specs."""
    import socket

    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    n = int(os.environ.get("LISTEN_FDS", "0") or 0)
    if n <= 0:
        return None
    out = []
    specs = list(tree.listens)
    for i in range(n):
        s = socket.socket(fileno=3 + i)
        s.setblocking(False)
        addr = s.getsockname()
        spec = None
        for sp in specs:
            if sp.port == addr[1]:
                spec = sp
                break
        if spec is None and specs:
            spec = specs[0]
        out.append((s, spec))
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)
    return out


def drop_privileges(tree: Any) -> None:
    if os.getuid() != 0:
        return
    m = tree.extra.get("mpm", {})
    g = m.get("Group")
    u = m.get("User")
    if g:
        os.setgid(g[1])
    if u:
        try:
            os.initgroups(u[0], g[1] if g else os.getgid())
        except (OSError, KeyError):
            pass
        os.setuid(u[1])


def serve_master(tree: Any, reload: Callable[[], Any]) -> int:
    if not tree.listens:
        print("no listening sockets available, shutting down")
        return 1
    socks = systemd_sockets(tree) or bind(tree.listens,
                                          tree.extra.get("mpm", {}).get("ListenBacklog", 511))
    open_error_logs(tree)
    try:
        rv = run_all_sync(tree.hooks["open_logs"], tree)
    except Exception as e:  # noqa: BLE001
        print(str(e))
        return 1
    if rv not in (0, -1):
        return 1
    pidfile = write_pidfile(tree)
    master = Master(tree, reload)
    master.socks = socks
    try:
        return master.run()
    finally:
        for s, _ in master.socks:
            s.close()
        for log in master.tree.extra.get("error_logs", {}).values():
            log.close()
        run_void_close(master.tree)
        piped.retire_unused(wait=5.0)    # let piped loggers write what they were given
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
