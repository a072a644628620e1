"""-k: reading the PidFile and signalling, as httpd's ap_signal_server (mpm_common.c).
A helper process that records the signals it gets stands in for the server."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featherd.support import control

RECORDER = r"""
import signal, sys, time
out = sys.argv[1]
def rec(n, f):
    with open(out, "a") as fp:
        fp.write(signal.Signals(n).name + "\n")
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGWINCH):
    signal.signal(s, rec)
open(out, "a").close()
print("ready", flush=True)
time.sleep(30)
"""


class _Tree:
    def __init__(self, root: Path, pidfile: str | None = "logs/httpd.pid") -> None:
        self.server_root = str(root)
        self.extra = {} if pidfile == "logs/httpd.pid" else {"pidfile": pidfile}

    def server_root_relative(self, p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(self.server_root, p)


@pytest.fixture
def recorder(tmp_path: Path):  # type: ignore[no-untyped-def]
    log = tmp_path / "signals"
    p = subprocess.Popen([sys.executable, "-c", RECORDER, str(log)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "httpd.pid").write_text(f"{p.pid}\n")
    yield p, log
    p.kill()
    p.wait()


def _run(action: str, tree: _Tree) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rv = control.signal_server(action, tree, out, err)
    return rv, out.getvalue(), err.getvalue()


def _signals(log: Path, n: int) -> list[str]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = log.read_text().split()
        if len(got) >= n:
            return got
        time.sleep(0.01)
    return log.read_text().split()


def test_pidfile_default_and_configured(tmp_path: Path) -> None:
    assert control.pidfile_path(_Tree(tmp_path)) == str(tmp_path / "logs/httpd.pid")
    assert control.pidfile_path(_Tree(tmp_path, "/run/x.pid")) == "/run/x.pid"
    assert control.pidfile_path(_Tree(tmp_path, "")) is None


def test_read_pid(tmp_path: Path) -> None:
    p = tmp_path / "pid"
    assert control.read_pid(str(p)) is None
    p.write_text("1234\n")
    assert control.read_pid(str(p)) == 1234
    p.write_text("garbage")
    with pytest.raises(control.PidFileError):
        control.read_pid(str(p))


def test_is_running() -> None:
    assert control.is_running(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not control.is_running(child.pid)


def test_zombie_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while control.is_running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not control.is_running(child.pid)   # exited, not yet reaped
    child.wait()


@pytest.mark.parametrize("action,expected", [
    ("stop", "SIGTERM"), ("restart", "SIGHUP"), ("graceful", "SIGUSR1"),
    ("graceful-stop", "SIGWINCH"),
])
def test_signals(recorder, tmp_path: Path, action: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    _, log = recorder
    assert _run(action, _Tree(tmp_path)) == (0, "", "")
    assert _signals(log, 1) == [expected]


def test_start_when_running(recorder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, log = recorder
    assert _run("start", _Tree(tmp_path)) == (0, f"featherd (pid {p.pid}) already running\n",
                                              "")
    assert log.read_text() == ""


def test_nothing_running_no_pid_file(tmp_path: Path) -> None:
    t = _Tree(tmp_path)
    for action in ("stop", "graceful-stop"):
        assert _run(action, t) == (0, "featherd (no pid file) not running\n", "")
    assert _run("start", t) == (None, "", "")
    for action in ("restart", "graceful"):
        assert _run(action, t) == (None, "featherd not running, trying to start\n", "")


def test_stale_pid_file(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "httpd.pid").write_text(f"{child.pid}\n")
    assert _run("stop", _Tree(tmp_path)) == (0, f"featherd (pid {child.pid}?) not running\n",
                                             "")
    assert _run("start", _Tree(tmp_path)) == (None, "", "")


def test_corrupt_pid_file(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    pf = tmp_path / "logs" / "httpd.pid"
    pf.write_text("not a pid\n")
    rv, out, err = _run("stop", _Tree(tmp_path))
    assert rv == 1 and out == ""
    assert err == (f"(20014)Internal error: Error retrieving pid file {pf}\n"
                   "Remove it before continuing if it is corrupted.\n")


def test_signal_refused(tmp_path: Path) -> None:
    if os.getuid() == 0:
        pytest.skip("root may signal anything")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "httpd.pid").write_text("1\n")
    rv, out, err = _run("graceful", _Tree(tmp_path))
    assert rv == 1 and err.endswith(": sending signal to server\n")


def test_signal_table() -> None:
    assert control.SIGNALS == {"stop": signal.SIGTERM, "restart": signal.SIGHUP,
                               "graceful": signal.SIGUSR1, "graceful-stop": signal.SIGWINCH}
