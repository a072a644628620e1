"""ErrorLog and LogLevel: Apache 2.2's error-log line format.

``[Fri Nov 27 15:50:26 2026] [error] [client 127.0.0.1] File does not exist: /x``
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import IO, Any

LEVELS = ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]
LEVEL_NUM = {n: i for i, n in enumerate(LEVELS)}
for _i in range(1, 9):
    LEVEL_NUM[f"trace{_i}"] = 7 + _i
EMERG, ALERT, CRIT, ERROR, WARN, NOTICE, INFO, DEBUG = range(8)


def parse_level(s: str) -> int | None:
    return LEVEL_NUM.get(s.lower())


def level_name(n: int) -> str:
    return LEVELS[n] if n < len(LEVELS) else f"trace{n - 7}"


def ctime(ts: float | None = None) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(ts))


class ErrorLog:
    """One error log destination: a file, a piped command, or a stream."""

    def __init__(self, target: str | IO[str] | None, level: int = WARN) -> None:
        self.level = level
        self.target = target
        self.proc: subprocess.Popen[bytes] | None = None
        self.piped: Any = None           # featherd.mpm.piped.PipedLog
        self.fp: IO[str] | None = None
        self.open()

    def open(self) -> None:
        t = self.target
        if t is None:
            self.fp = sys.stderr
        elif not isinstance(t, str):
            self.fp = t
        elif t.startswith("|"):
            from featherd.mpm import piped  # restarted by the master if it dies

            self.piped = piped.acquire(t)
            self.fp = open(self.piped.wfd, "w", buffering=1, closefd=False)
        elif t in ("/dev/stderr", "stderr"):
            self.fp = sys.stderr
        elif t in ("/dev/stdout", "stdout"):
            self.fp = sys.stdout
        elif t.startswith("syslog"):
            self.fp = sys.stderr
        else:
            d = os.path.dirname(t)
            if d and not os.path.isdir(d):
                raise OSError(f"(2)No such file or directory: could not open error log file {t}.")
            self.fp = open(t, "a", buffering=1, encoding="utf-8", errors="backslashreplace")

    def reopen(self) -> None:
        if isinstance(self.target, str) and not self.target.startswith("|") and self.fp:
            try:
                self.fp.close()
            except OSError:
                pass
            self.open()

    def enabled(self, level: int) -> bool:
        return level <= self.level

    def log(self, level: int, msg: str, client: str | None = None, **_: Any) -> None:
        if level > self.level and level > NOTICE:
            return
        if level > self.level and level == NOTICE:
            pass  # Apache always logs notice messages at start-up; keep it simple
        head = f"[{ctime()}] [{level_name(level)}] "
        if client:
            head += f"[client {client}] "
        line = head + msg.replace("\n", "\\n") + "\n"
        fp = self.fp
        if fp is None:
            return
        try:
            fp.write(line)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self.fp and self.fp not in (sys.stderr, sys.stdout):
            try:
                self.fp.close()
            except OSError:
                pass
        if self.piped is not None:
            from featherd.mpm import piped

            piped.release(self.piped)
            self.piped = None
        if self.proc:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
