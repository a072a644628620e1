"""The event MPM: a master that binds, forks workers (one event loop each) and keeps
them alive, with Apache's signal meanings.

TERM stop now · HUP restart (re-read config, new workers) · USR1 graceful restart
(old workers finish in-flight requests, answer the next keep-alive request with
``Connection: close``, then exit; the new generation serves at once) · WINCH graceful
stop. Signal handlers only enqueue; the master loop acts. A restart whose new
configuration fails keeps the old generation serving and logs why.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from featherd.core.hooks import run_all_sync
from featherd.core.listen import bind
from featherd.core.worker import Worker, new_event_loop
from featherd.log import ERROR, NOTICE, WARN
from featherd.mpm import piped, scoreboard

SIGNAMES = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP", signal.SIGUSR1: "SIGUSR1",
            signal.SIGWINCH: "SIGWINCH", signal.SIGINT: "SIGINT", signal.SIGCHLD: "SIGCHLD"}


def mpm_settings(tree: Any) -> dict[str, Any]:
    return tree.extra.setdefault("mpm", {})


def worker_count(tree: Any) -> int:
    s = mpm_settings(tree)
    n = s.get("StartServers")
    if n is None:
        n = max(1, min(os.cpu_count() or 1, 4))
    limit = s.get("ServerLimit")
    if limit:
        n = min(n, limit)
    return max(1, int(n))


class Master:
    def __init__(self, tree: Any, reload: Callable[[], Any]) -> None:
        self.tree = tree
        self.reload = reload
        self.socks: list[tuple[Any, Any]] = []
        self.workers: dict[int, int] = {}      # pid -> generation
        self.rows: dict[int, int] = {}         # pid -> scoreboard row
        self.generation = 0
        self.board = scoreboard.create(tree, worker_count(tree))
        self.rpipe, self.wpipe = os.pipe()
        os.set_blocking(self.wpipe, False)
        os.set_blocking(self.rpipe, False)
        self.pending: list[int] = []

    # -- signals --------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        try:
            os.write(self.wpipe, bytes([signum]))
        except OSError:
            pass

    def install_signals(self) -> None:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                  signal.SIGWINCH, signal.SIGCHLD):
            signal.signal(s, self._on_signal)
            signal.siginterrupt(s, False)

    def log(self, level: int, msg: str) -> None:
        el = self.tree.main.error_log
        if el is not None:
            el.log(level, msg)

    # -- workers ---------------------------------------------------------------------
    def spawn(self) -> None:
        row = self.board.claim_row(self.generation)
        if row < 0:
            self.log(ERROR, "scoreboard is full, not at MaxClients")
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(self.rpipe)
                os.close(self.wpipe)
                for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                          signal.SIGWINCH, signal.SIGCHLD):
                    signal.signal(s, signal.SIG_DFL)
                piped.in_child()
                from featherd.mpm.master import drop_privileges

                _die_with_parent()
                drop_privileges(self.tree)
                self.board.attach(row, scoreboard.extended_status(self.tree),
                                  scoreboard.request_tail(self.tree))
                code = run_worker(self.tree, self.socks, worker_count(self.tree))
            except BaseException as e:  # noqa: BLE001
                try:
                    self.log(ERROR, f"worker {os.getpid()} failed: {e!r}")
                except Exception:
                    pass
                code = 1
            finally:
                os._exit(code)
        self.workers[pid] = self.generation
        self.rows[pid] = row
        self.board.set_pid(row, pid)

    def start_generation(self) -> None:
        self.generation += 1
        self.board.set_generation(self.generation)
        for _ in range(worker_count(self.tree)):
            self.spawn()

    def signal_generation(self, gen_pred: Callable[[int], bool], sig: int) -> None:
        for pid, gen in list(self.workers.items()):
            if gen_pred(gen):
                if sig in (signal.SIGUSR1, signal.SIGWINCH):
                    self.board.quiesce(self.rows.get(pid, -1))
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def reap(self, respawn: bool) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            gen = self.workers.pop(pid, None)
            if gen is None:
                piped.child_died(pid, status)    # a piped logger: restarted if in use
                continue
            self.board.add_dead_cpu(usage.ru_utime, usage.ru_stime)
            self.board.release_row(self.rows.pop(pid, -1))
            if gen == self.generation and respawn:
                if os.WIFSIGNALED(status):
                    sig = os.WTERMSIG(status)
                    self.log(NOTICE, f"child pid {pid} exit signal "
                                     f"{signal.strsignal(sig) or sig} ({sig})")
                elif os.WEXITSTATUS(status) not in (0,):
                    self.log(ERROR, f"child pid {pid} exited with status "
                                    f"{os.WEXITSTATUS(status)}")
                self.spawn()

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.workers and time.monotonic() < deadline:
            self.reap(respawn=False)
            time.sleep(0.02)
        for pid in list(self.workers):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while self.workers:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if self.workers.pop(pid, None) is not None:
                self.board.release_row(self.rows.pop(pid, -1))

    def close_listeners(self) -> None:
        for s, _ in self.socks:
            s.close()

    # -- restarts ----------------------------------------------------------------------
    def restart(self, graceful: bool) -> None:
        try:
            tree = self.reload()
        except Exception as e:  # noqa: BLE001 - any config failure keeps the old generation
            self.log(ERROR, f"restart failed, keeping the running configuration: {e}")
            return
        old_keys = {(s.getsockname()[:2], spec.proto) for s, spec in self.socks}
        from featherd.mpm.single import open_error_logs

        # reuse sockets that are still configured; bind the new ones
        keep: list[tuple[Any, Any]] = []
        for spec in tree.listens:
            found = None
            for s, ospec in self.socks:
                if (ospec.host, ospec.port, ospec.proto) == (spec.host, spec.port, spec.proto):
                    found = (s, spec)
                    break
            if found is not None:
                keep.append(found)
        new_specs = [sp for sp in tree.listens if not any(k[1] is sp for k in keep)]
        try:
            keep += bind(new_specs) if new_specs else []
        except Exception as e:  # noqa: BLE001
            self.log(ERROR, f"restart failed: {e}")
            return
        for s, _spec in self.socks:
            if not any(s is k[0] for k in keep):
                s.close()
        del old_keys
        # logs: the old configuration lets go (a piped logger the new one names again
        # keeps running: old and new workers share it), the new one opens its own
        with piped.holding():
            for log in self.tree.extra.get("error_logs", {}).values():
                log.close()
            run_void_close(self.tree)
            self.tree = tree
            self.socks = keep
            open_error_logs(tree)
            try:
                run_all_sync(tree.hooks["open_logs"], tree)
            except Exception as e:  # noqa: BLE001
                self.log(ERROR, f"restart: could not open the logs: {e}")
        old_gen = self.generation
        self.log(NOTICE, "Graceful restart requested, doing restart" if graceful
                 else "SIGHUP received.  Attempting to restart")
        self.board.restarted(self.generation + 1, graceful)
        if graceful:
            # the new generation serves at once; the old one finishes what it has
            self.start_generation()
            self.signal_generation(lambda g: g <= old_gen, signal.SIGUSR1)
        else:
            # as httpd: the old children are told to stop before the new ones start, so
            # that no connection reaches the old configuration after the restart (the
            # listening sockets stay open here: clients wait in the backlog meanwhile)
            self.signal_generation(lambda g: g <= old_gen, signal.SIGTERM)
            self.start_generation()

    # -- main loop ---------------------------------------------------------------------
    def run(self) -> int:
        from featherd.core.worker import server_banner

        self.install_signals()
        piped.set_reporter(lambda msg: self.log(ERROR, msg))
        self.start_generation()
        self.log(NOTICE, f"{server_banner(self.tree)} configured -- resuming normal operations")
        notify("READY=1")
        while True:
            try:
                r, _, _ = select.select([self.rpipe], [], [], 1.0)
            except InterruptedError:
                r = []
            sigs: list[int] = []
            if r:
                try:
                    sigs = list(os.read(self.rpipe, 256))
                except BlockingIOError:
                    sigs = []
            self.reap(respawn=True)
            for sig in sigs:
                if sig in (signal.SIGTERM, signal.SIGINT):
                    self.log(NOTICE, "caught SIGTERM, shutting down")
                    notify("STOPPING=1")
                    self.signal_generation(lambda g: True, signal.SIGTERM)
                    self.close_listeners()
                    self.wait_all(10.0)
                    return 0
                if sig == signal.SIGWINCH:
                    self.log(NOTICE, "caught SIGWINCH, shutting down gracefully")
                    notify("STOPPING=1")
                    self.signal_generation(lambda g: True, signal.SIGWINCH)
                    self.close_listeners()
                    t = mpm_settings(self.tree).get("GracefulShutdownTimeout", 0) or 3600
                    self.wait_all(float(t))
                    return 0
                if sig == signal.SIGHUP:
                    notify("RELOADING=1")
                    self.restart(graceful=False)
                    notify("READY=1")
                elif sig == signal.SIGUSR1:
                    notify("RELOADING=1")
                    self.restart(graceful=True)
                    notify("READY=1")


def _die_with_parent() -> None:
    """A worker whose master is gone (SIGKILL) must not live on: PR_SET_PDEATHSIG."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def run_void_close(tree: Any) -> None:
    """Close what open_logs opened in the master (the module's child_exit flushes)."""
    from featherd.core.hooks import run_void_sync

    try:
        run_void_sync(tree.hooks["child_exit"], tree)
    except Exception:
        pass


def notify(state: str) -> None:
    """sd_notify, when started by systemd with NOTIFY_SOCKET."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    import socket

    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect(addr)
        s.sendall(state.encode())
        s.close()
    except OSError:
        pass


def run_worker(tree: Any, socks: list[tuple[Any, Any]], workers: int = 1) -> int:
    """A worker process: one event loop until TERM (now) or USR1/WINCH (gracefully)."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(tree, loop, workers)
    board = scoreboard.get()
    if board is not None:
        def times() -> None:
            board.record_times()
            loop.call_later(1.0, times)
        times()
    done = loop.create_future()

    def on(graceful: bool) -> None:
        if not done.done():
            done.set_result(graceful)

    loop.add_signal_handler(signal.SIGTERM, on, False)
    loop.add_signal_handler(signal.SIGINT, on, False)
    loop.add_signal_handler(signal.SIGUSR1, on, True)
    loop.add_signal_handler(signal.SIGWINCH, on, True)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    worker.on_max_requests = lambda: on(True)

    async def main() -> None:
        await worker.start(socks)
        graceful = await done
        t = mpm_settings(tree).get("GracefulShutdownTimeout", 0) or 0
        await worker.stop(graceful=(float(t) or 3600.0) if graceful else 0.0)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0


__all__ = ["Master", "errno", "WARN"]
