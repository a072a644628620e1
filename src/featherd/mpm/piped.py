"""Reliable piped logs (Apache's ``ap_open_piped_log`` with ``piped_log_maintenance``).

``CustomLog "|cmd"`` and ``ErrorLog "|cmd"`` write into a pipe whose read end is the
logger's standard input. The process that opens the logs (the master) keeps *both* ends:
the workers inherit the write end, and when the logger dies the master starts the
command again on the same read end, so no writer ever sees EPIPE and what was written
meanwhile waits in the pipe for the new logger (Apache: AH00106 "piped log program
'...' failed unexpectedly").

Piped logs are shared by command across restarts: a graceful restart whose new
configuration names the same command keeps the running logger, so the old generation
(still finishing its requests) and the new one write into the same pipe and no line is
lost. A command the new configuration no longer names is *retired*: the master closes its
ends and the logger exits at the EOF that comes once the last old worker is gone.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable

_REPORTER: list[Callable[[str], None] | None] = [None]
_HOLD = [0]            # > 0 while a restart swaps configurations: keep idle loggers
_REGISTRY: dict[tuple[str, bool], PipedLog] = {}
_RETIRED: list[PipedLog] = []


class PipedLog:
    """One logger command, its pipe, and the process reading it."""

    def __init__(self, command: str, shell: bool = True) -> None:
        self.command = command
        self.shell = shell
        self.rfd, self.wfd = os.pipe()
        self.proc: subprocess.Popen[bytes] | None = None
        self.refs = 0
        self.retired = False
        self.owner = os.getpid()
        self.restarts = 0
        try:
            self.spawn()
        except OSError:
            os.close(self.rfd)
            os.close(self.wfd)
            raise

    def spawn(self) -> None:
        args: str | list[str] = self.command if self.shell else shlex.split(self.command)
        try:
            self.proc = subprocess.Popen(args, shell=self.shell, stdin=self.rfd)
        except (OSError, ValueError) as e:
            raise OSError(f"Couldn't start piped log process '{self.command}': {e}") from None

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else -1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def respawn(self) -> None:
        """The logger died: start the command again on the same read end."""
        self.restarts += 1
        _note(f"piped log program '{self.command}' failed unexpectedly")
        try:
            self.spawn()
        except OSError as e:
            _note(str(e))

    def close(self, wait: float = 0.0) -> None:
        """Close our ends; with ``wait``, give the logger that long to drain and exit."""
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.wfd = self.rfd = -1
        proc = self.proc
        if wait and proc is not None:
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
            except ChildProcessError:
                pass


def set_reporter(fn: Callable[[str], None] | None) -> None:
    """Where "failed unexpectedly" goes (the master's main error log)."""
    _REPORTER[0] = fn


def _note(msg: str) -> None:
    if _REPORTER[0] is not None:
        try:
            _REPORTER[0](msg)
            return
        except Exception:  # noqa: BLE001 - fall back to stderr
            pass
    try:
        sys.stderr.write(f"[{time.strftime('%a %b %d %H:%M:%S %Y')}] [error] {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def parse_target(target: str) -> tuple[str, bool]:
    """``|cmd`` / ``|$cmd`` run by the shell, ``||prog args`` directly: (command, shell)."""
    cmd = target[1:]
    if cmd.startswith("|"):
        return cmd[1:].strip(), False
    if cmd.startswith("$"):
        cmd = cmd[1:]
    return cmd.strip(), True


def acquire(target: str) -> PipedLog:
    """The running logger of ``target`` (``|cmd``), started if there is none."""
    key = parse_target(target)
    pl = _REGISTRY.get(key)
    if pl is None or pl.owner != os.getpid() or pl.retired:
        pl = _REGISTRY[key] = PipedLog(*key)
    pl.refs += 1
    return pl


def release(pl: PipedLog, wait: float = 2.0) -> None:
    """A configuration stopped using the logger. Unless a restart holds it (the next
    configuration may name it again), the last user's release retires it: our ends are
    closed and the logger gets up to ``wait`` seconds to write what it was given."""
    if pl.owner != os.getpid() or pl.refs <= 0:
        return
    pl.refs -= 1
    if pl.refs == 0 and not _HOLD[0]:
        key = (pl.command, pl.shell)
        if _REGISTRY.get(key) is pl:
            del _REGISTRY[key]
        pl.retired = True
        pl.close(wait)
        if pl.proc is not None and pl.proc.returncode is None:
            _RETIRED.append(pl)


class holding:
    """``with piped.holding():`` loggers released inside stay up (a restart); those the
    new configuration did not take again are retired at the end, without waiting (old
    workers may still be writing to them)."""

    def __enter__(self) -> None:
        _HOLD[0] += 1

    def __exit__(self, *exc: object) -> None:
        _HOLD[0] -= 1
        if not _HOLD[0]:
            retire_unused()


def retire_unused(wait: float = 0.0) -> None:
    """Close the loggers no configuration uses any more (after a restart, at exit)."""
    for key, pl in list(_REGISTRY.items()):
        if pl.refs <= 0 and pl.owner == os.getpid():
            del _REGISTRY[key]
            pl.retired = True
            pl.close()
            _RETIRED.append(pl)
    if wait:
        deadline = time.monotonic() + wait
        for pl in _RETIRED:
            if pl.proc is not None:
                try:
                    pl.proc.wait(timeout=max(0.01, deadline - time.monotonic()))
                except (subprocess.TimeoutExpired, ChildProcessError):
                    pass
    _RETIRED[:] = [pl for pl in _RETIRED if pl.proc is not None and pl.proc.returncode is None]


def child_died(pid: int, status: int) -> bool:
    """The master reaped ``pid``: if it was a logger still in use, start it again."""
    for pl in list(_REGISTRY.values()):
        if pl.proc is not None and pl.proc.pid == pid:
            pl.proc.returncode = status
            if not pl.retired and pl.owner == os.getpid():
                pl.respawn()
            return True
    for pl in _RETIRED:
        if pl.proc is not None and pl.proc.pid == pid:
            pl.proc.returncode = status
            _RETIRED.remove(pl)
            return True
    return False


def check_all() -> None:
    """Restart dead loggers (for a process that does not reap with waitpid(-1))."""
    for pl in list(_REGISTRY.values()):
        if pl.owner == os.getpid() and not pl.retired and pl.proc is not None \
                and pl.proc.poll() is not None:
            pl.respawn()


def in_child() -> None:
    """In a forked worker: the read ends are the master's business."""
    for pl in _REGISTRY.values():
        if pl.rfd >= 0:
            try:
                os.close(pl.rfd)
            except OSError:
                pass
            pl.rfd = -1
