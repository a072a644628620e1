"""Serving in one process (-X, -DONE_PROCESS, or until the event MPM lands): bind,
open logs, run one worker's loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from featherd.core.hooks import run_all_sync
from featherd.core.listen import bind
from featherd.core.worker import Worker, new_event_loop
from featherd.log import NOTICE, ErrorLog


def open_error_logs(tree: Any) -> None:
    main = tree.main
    cache: dict[str, ErrorLog] = {}
    for s in tree.all_servers():
        fname = s.error_fname or main.error_fname
        target = tree.server_root_relative(fname) if not fname.startswith("|") else fname
        log = cache.get(target)
        if log is None:
            log = ErrorLog(target, s.loglevel if s.loglevel is not None else 4)
            cache[target] = log
        s.error_log = log
    tree.extra["error_logs"] = cache


def write_pidfile(tree: Any) -> str | None:
    pf = tree.extra.get("pidfile", "logs/httpd.pid")
    if not pf:
        return None
    path = tree.server_root_relative(pf)
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError:
        return None
    return path


def serve(tree: Any) -> int:
    if not tree.listens:
        from featherd.log import ctime

        print(f"[{ctime()}] no listening sockets available, shutting down")
        return 1
    socks = bind(tree.listens)
    open_error_logs(tree)
    rv = run_all_sync(tree.hooks["open_logs"], tree)
    if rv not in (0, -1):
        return 1
    pidfile = write_pidfile(tree)
    from featherd.mpm import piped, scoreboard

    board = scoreboard.create(tree, 1)
    board.set_generation(1)
    row = board.claim_row(1)
    board.set_pid(row, os.getpid())
    board.attach(row, scoreboard.extended_status(tree), scoreboard.request_tail(tree))
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(tree, loop)

    def times() -> None:
        board.record_times()
        loop.call_later(1.0, times)
    times()
    stop = loop.create_future()

    def on_signal(graceful: bool) -> None:
        if not stop.done():
            stop.set_result(graceful)

    loop.add_signal_handler(signal.SIGTERM, on_signal, False)
    loop.add_signal_handler(signal.SIGINT, on_signal, False)
    loop.add_signal_handler(signal.SIGWINCH, on_signal, True)

    async def main() -> None:
        await worker.start(socks)
        tree.main.error_log.log(NOTICE, f"{worker.server_banner} configured -- resuming "
                                        "normal operations")
        graceful = await stop
        tree.main.error_log.log(NOTICE, "caught SIGTERM, shutting down" if not graceful
                                else "caught SIGWINCH, shutting down gracefully")
        await worker.stop(graceful=10.0 if graceful else 0.0)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        for s, _ in socks:
            s.close()
        for log in tree.extra.get("error_logs", {}).values():
            log.close()
        piped.retire_unused(wait=5.0)
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
    return 0
