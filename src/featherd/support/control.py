"""``featherd -k start|stop|restart|graceful|graceful-stop``: httpd's ap_signal_server.

The configuration is read first (it names the PidFile; a broken configuration is reported
and nothing is signalled). Then, from the pid in the PidFile:

=============  ==========  ==============================================================
``-k``         signal      when no server runs
=============  ==========  ==============================================================
stop           SIGTERM     prints ``featherd (no pid file) not running``
restart        SIGHUP      prints ``featherd not running, trying to start`` and starts it
graceful       SIGUSR1     the same as restart
graceful-stop  SIGWINCH    prints the status, like stop
start          (none)      starts it; if one runs: ``featherd (pid N) already running``
=============  ==========  ==============================================================

The status texts are httpd's with "featherd" for "httpd": ``featherd (pid 1234) already
running``, ``featherd (pid 1234?) not running`` (a stale PidFile), ``featherd (no pid file)
not running``. Exit status 0, except when the PidFile cannot be read or a signal cannot
be sent (1), as httpd.

**Starting.** ``-k start`` (and restart/graceful with no server running) detaches from
the terminal as httpd does: it forks, the server runs in a new session with its output
going to the -E file or else the main ErrorLog, and the command returns once the server
has written its PidFile (status 0), or reports what the server wrote and returns 1 if it
died first. ``-X``, ``-DFOREGROUND``, ``-DNO_DETACH`` and ``-DONE_PROCESS`` keep it in the
foreground. Unlike httpd, ``featherd`` without ``-k`` serves in the foreground (Ctrl-C or
SIGTERM stops it); use ``-k start`` for a daemon.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import IO, Any

from featherd.config.dump import DEFAULT_PIDLOG

NAME = "featherd"
ACTIONS = ("start", "stop", "restart", "graceful", "graceful-stop")
SIGNALS = {"stop": signal.SIGTERM, "restart": signal.SIGHUP,
           "graceful": signal.SIGUSR1, "graceful-stop": signal.SIGWINCH}
#: -k start: how long to wait for the PidFile before assuming the server is up
START_WAIT = 15.0


class PidFileError(Exception):
    """The PidFile exists but holds no pid."""


def pidfile_path(tree: Any) -> str | None:
    pf = tree.extra.get("pidfile", DEFAULT_PIDLOG)
    return tree.server_root_relative(pf) if pf else None


def read_pid(path: str | None) -> int | None:
    """The pid in the PidFile; None when there is no file; PidFileError when unreadable."""
    if not path:
        return None
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(64)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PidFileError(f"({e.errno}){e.strerror}") from None
    word = text.strip()
    if not word.isdigit() or int(word) <= 0:
        raise PidFileError("(20014)Internal error")
    return int(word)


def is_running(pid: int) -> bool:
    """kill(pid, 0) as httpd does, and a zombie does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def signal_server(action: str, tree: Any, out: IO[str] | None = None,
                  err: IO[str] | None = None) -> int | None:
    """Do what ``-k action`` asks. Returns the exit status, or None when the caller is to
    start the server (start with none running; restart/graceful with none running)."""
    out = out or sys.stdout
    err = err or sys.stderr
    path = pidfile_path(tree)
    try:
        pid = read_pid(path)
    except PidFileError as e:
        err.write(f"{e}: Error retrieving pid file {path}\n"
                  "Remove it before continuing if it is corrupted.\n")
        return 1
    running = pid is not None and is_running(pid)
    if pid is None:
        status = f"{NAME} (no pid file) not running"
    elif running:
        status = f"{NAME} (pid {pid}) already running"
    else:
        status = f"{NAME} (pid {pid}?) not running"
    if action == "start":
        if running:
            out.write(status + "\n")
            return 0
        return None
    if action in ("stop", "graceful-stop"):
        if not running:
            out.write(status + "\n")
            return 0
        assert pid is not None
        return send_signal(pid, SIGNALS[action], err)
    if action in ("restart", "graceful"):
        if not running:
            out.write(f"{NAME} not running, trying to start\n")
            out.flush()
            return None
        assert pid is not None
        return send_signal(pid, SIGNALS[action], err)
    raise ValueError(action)


def send_signal(pid: int, sig: int, err: IO[str]) -> int:
    try:
        os.kill(pid, sig)
    except OSError as e:
        err.write(f"({e.errno}){e.strerror}: sending signal to server\n")
        return 1
    return 0


def _size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def detach(pidfile: str | None, output: str | None, wait: float = START_WAIT) -> None:
    """Become a daemon (fork, setsid, fork; stdio to /dev/null and ``output``).

    Returns in the daemon only. The calling process waits for the daemon to write its pid
    to ``pidfile`` and exits 0, or, if the daemon dies first, copies what it wrote to
    ``output`` onto stderr and exits 1."""
    sys.stdout.flush()
    sys.stderr.flush()
    start = _size(output)
    rfd, wfd = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(rfd)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.write(wfd, f"{os.getpid()}\n".encode())
        os.close(wfd)
        _redirect_stdio(output)
        os.chdir("/")
        return
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 64)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(first, 0)
    try:
        daemon = int(data.strip())
    except ValueError:
        sys.stderr.write(f"{NAME}: could not start the server in the background\n")
        os._exit(1)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if read_pid(pidfile) == daemon:
                os._exit(0)
        except PidFileError:
            pass
        if not is_running(daemon):
            sys.stderr.write(_written_since(output, start))
            sys.stderr.flush()
            os._exit(1)
        time.sleep(0.05)
    os._exit(0)


def _written_since(path: str | None, start: int) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            return f.read()
    except OSError:
        return ""


def _redirect_stdio(output: str | None) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    target = null
    if output:
        try:
            target = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            target = null
    os.dup2(target, 1)
    os.dup2(target, 2)
    for fd in {null, target}:
        if fd > 2:
            os.close(fd)
