"""The featherd command as a user runs it: -t/-S/-M, errors and exit codes, -C/-c/-D/-d,
-E/-e/-T, -X, the bundled default configuration, and -k start|stop|restart|graceful|
graceful-stop against a real daemon (httpd's texts, with "featherd" for "httpd")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

# (not imported from tests/conftest.py: several conftest modules share that name)
SRC = Path(__file__).resolve().parents[3] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def featherd(*args: str, cwd: Path | None = None, timeout: float = 30,
             **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "featherd", *args], capture_output=True,
                          text=True, env=_env(**env), cwd=str(cwd) if cwd else None,
                          timeout=timeout)


def _conf(root: Path, port: int, body: str = "") -> Path:
    (root / "htdocs").mkdir(exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    (root / "htdocs" / "index.html").write_text("hello\n")
    conf = root / "httpd.conf"
    conf.write_text(f"Listen 127.0.0.1:{port}\nServerName test.local\nDocumentRoot htdocs\n"
                    "ErrorLog logs/error_log\nPidFile logs/httpd.pid\n" + body)
    return conf


def _wait_port(port: int, up: bool, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            if up:
                return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- -t and friends ---------------------------------------------------------------------
def test_t_ok(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port())
    p = featherd("-t", "-f", str(conf))
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "Syntax OK\n")


def test_t_invalid_command(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port(), "Frobnicate on\n")
    p = featherd("-t", "-f", str(conf))
    assert p.returncode == 1
    assert p.stderr == (f"Syntax error on line 6 of {conf}:\nInvalid command 'Frobnicate', "
                        "perhaps misspelled or defined by a module not included in the "
                        "server configuration\n")


def test_missing_config_file(tmp_path: Path) -> None:
    p = featherd("-t", "-f", str(tmp_path / "nope.conf"))
    assert p.returncode == 1
    assert p.stderr == (f"featherd: Could not open configuration file {tmp_path}/nope.conf: "
                        "No such file or directory\n")


def test_big_s_dumps_vhosts(tmp_path: Path) -> None:
    port = free_port()
    conf = _conf(tmp_path, port, f"<VirtualHost 127.0.0.1:{port}>\nServerName a.example\n"
                                 "</VirtualHost>\n")
    p = featherd("-S", "-f", str(conf))
    assert p.returncode == 0 and p.stderr == "Syntax OK\n"
    assert p.stdout.startswith("VirtualHost configuration:\n")
    assert f"a.example ({conf}:6)" in p.stdout


def test_big_m_and_t_d_dump_modules(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port())
    for args in (["-M"], ["-t", "-D", "DUMP_MODULES"]):
        p = featherd(*args, "-f", str(conf))
        assert p.returncode == 0 and p.stderr == "Syntax OK\n"
        lines = p.stdout.splitlines()
        assert lines[0] == "Loaded Modules:"
        assert lines[1] == " core_module (static)"
        assert all(ln.endswith(" (static)") for ln in lines[1:])


def test_pre_and_post_directives(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port())
    other = tmp_path / "other"
    other.mkdir()
    p = featherd("-S", "-f", str(conf), "-c", f"DocumentRoot {other}")
    assert f'Main DocumentRoot: "{other}"' in p.stdout
    # -C comes first: the file's DocumentRoot wins
    p = featherd("-S", "-f", str(conf), "-C", f"DocumentRoot {other}")
    assert f'Main DocumentRoot: "{tmp_path}/htdocs"' in p.stdout
    p = featherd("-t", "-f", str(conf), "-c", "Bogus 1")
    assert p.returncode == 1
    assert p.stderr.startswith("Syntax error on line 1 of -c/-C directives:\n"
                               "Invalid command 'Bogus'")


def test_define(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port(), "<IfDefine BREAKME>\nBogus\n</IfDefine>\n")
    assert featherd("-t", "-f", str(conf)).returncode == 0
    assert featherd("-t", "-f", str(conf), "-D", "BREAKME").returncode == 1
    assert featherd("-t", "-f", str(conf), "-DBREAKME").returncode == 1


def test_server_root_and_relative_config(tmp_path: Path) -> None:
    _conf(tmp_path, free_port())
    p = featherd("-S", "-d", str(tmp_path), "-f", "httpd.conf", cwd=Path("/"))
    assert p.returncode == 0, p.stderr
    assert f'ServerRoot: "{tmp_path}"' in p.stdout


def test_big_e_sends_startup_errors_to_file(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port(), "Frobnicate on\n")
    p = featherd("-t", "-f", str(conf), "-E", str(tmp_path / "startup.log"))
    assert p.returncode == 1 and p.stderr == ""
    assert "Invalid command 'Frobnicate'" in (tmp_path / "startup.log").read_text()
    # relative to -d; "Syntax OK" goes there too
    conf = _conf(tmp_path, free_port())
    p = featherd("-t", "-d", str(tmp_path), "-f", str(conf), "-E", "logs/startup.log")
    assert p.returncode == 0 and p.stderr == ""
    assert (tmp_path / "logs" / "startup.log").read_text() == "Syntax OK\n"


def test_big_e_unwritable(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port())
    p = featherd("-t", "-f", str(conf), "-E", str(tmp_path / "no" / "such" / "log"))
    assert p.returncode == 1
    assert p.stderr == (f"(2)No such file or directory: featherd: could not open error log "
                        f"file {tmp_path}/no/such/log.\n")


def test_t_capital_skips_documentroot_check(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port(), f"DocumentRoot {tmp_path}/missing\n")
    p = featherd("-t", "-f", str(conf))
    assert p.stderr == f"Warning: DocumentRoot [{tmp_path}/missing] does not exist\nSyntax OK\n"
    p = featherd("-t", "-T", "-f", str(conf))
    assert p.stderr == "Syntax OK\n"


def test_e_level_checked(tmp_path: Path) -> None:
    conf = _conf(tmp_path, free_port())
    assert featherd("-t", "-e", "crit", "-f", str(conf)).returncode == 0
    p = featherd("-t", "-e", "chatty", "-f", str(conf))
    assert p.returncode == 1 and p.stderr.startswith("Usage: featherd")


# --- serving ----------------------------------------------------------------------------
def test_x_serves_in_foreground(tmp_path: Path) -> None:
    port = free_port()
    conf = _conf(tmp_path, port)
    proc = subprocess.Popen([sys.executable, "-m", "featherd", "-X", "-f", str(conf)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _wait_port(port, up=True)
        assert requests.get(f"http://127.0.0.1:{port}/index.html", timeout=5).text == "hello\n"
        assert (tmp_path / "logs" / "httpd.pid").read_text().strip() == str(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        conf = _conf(tmp_path, port)
        p = featherd("-DFOREGROUND", "-f", str(conf))
    assert p.returncode == 1
    assert p.stderr == (f"(98)Address already in use: make_sock: could not bind to address "
                        f"127.0.0.1:{port}\nno listening sockets available, shutting down\n"
                        "Unable to open logs\n")


def test_bundled_default_config(tmp_path: Path) -> None:
    """`featherd` with no -f serves the bundled "It works!" site, logs in a per-user dir."""
    port = free_port()
    state = tmp_path / "state"
    ssl_port = free_port()
    env = _env(XDG_STATE_HOME=str(state), FEATHERD_LISTEN=f"127.0.0.1:{port}",
               FEATHERD_SSL_LISTEN=f"127.0.0.1:{ssl_port}")
    env.pop("FEATHERD_DATA", None)
    proc = subprocess.Popen([sys.executable, "-m", "featherd"], env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_port(port, up=True), "bundled server did not listen"
        r = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert r.status_code == 200 and "It works!" in r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    logs = state / "featherd" / "logs"
    assert err.startswith(f"featherd: serving the bundled site on http://127.0.0.1:{port}/, "
                          f"https://127.0.0.1:{ssl_port}/ ;"
                          f" logs in {logs}")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not (logs / "access_log").exists():
        time.sleep(0.05)
    assert '"GET / HTTP/1.1" 200' in (logs / "access_log").read_text()
    assert "resuming normal operations" in (logs / "error_log").read_text()


def test_bundled_default_config_checks(tmp_path: Path) -> None:
    p = featherd("-t", XDG_STATE_HOME=str(tmp_path))
    assert (p.returncode, p.stderr) == (0, "Syntax OK\n")
    p = featherd("-S", XDG_STATE_HOME=str(tmp_path), FEATHERD_LISTEN="127.0.0.1:1")
    assert f'ServerRoot: "{tmp_path}/featherd"' in p.stdout


# --- -k ---------------------------------------------------------------------------------
@pytest.fixture
def daemon_conf(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    conf = _conf(tmp_path, port)
    yield conf, port
    pf = tmp_path / "logs" / "httpd.pid"
    if pf.exists():
        try:
            pid = int(pf.read_text())
        except ValueError:
            return
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_k_lifecycle(daemon_conf: tuple[Path, int]) -> None:
    conf, port = daemon_conf
    pf = conf.parent / "logs" / "httpd.pid"
    k = ("-f", str(conf), "-k")
    p = featherd(*k, "stop")
    assert (p.returncode, p.stdout) == (0, "featherd (no pid file) not running\n")

    p = featherd(*k, "start")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    pid = int(pf.read_text())
    assert _alive(pid) and _wait_port(port, up=True)
    assert requests.get(f"http://127.0.0.1:{port}/index.html", timeout=5).text == "hello\n"

    p = featherd(*k, "start")
    assert (p.returncode, p.stdout) == (0, f"featherd (pid {pid}) already running\n")

    for action, logged in (("graceful", "Graceful restart requested, doing restart"),
                           ("restart", "SIGHUP received.  Attempting to restart")):
        p = featherd(*k, action)
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
        deadline = time.monotonic() + 5
        while logged not in (conf.parent / "logs" / "error_log").read_text():
            assert time.monotonic() < deadline, f"{action}: not logged"
            time.sleep(0.05)
        assert _alive(pid)
        r = requests.get(f"http://127.0.0.1:{port}/index.html", timeout=5)
        assert r.text == "hello\n"

    p = featherd(*k, "stop")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert _wait_port(port, up=False)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert "caught SIGTERM, shutting down" in (conf.parent / "logs" / "error_log").read_text()
    p = featherd(*k, "stop")
    assert p.stdout == "featherd (no pid file) not running\n"


def test_k_graceful_stop(daemon_conf: tuple[Path, int]) -> None:
    conf, port = daemon_conf
    assert featherd("-f", str(conf), "-k", "start").returncode == 0
    pid = int((conf.parent / "logs" / "httpd.pid").read_text())
    p = featherd("-f", str(conf), "-k", "graceful-stop")
    assert (p.returncode, p.stdout) == (0, "")
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert "caught SIGWINCH, shutting down gracefully" in \
        (conf.parent / "logs" / "error_log").read_text()


def test_k_restart_when_not_running_starts(daemon_conf: tuple[Path, int]) -> None:
    conf, port = daemon_conf
    p = featherd("-f", str(conf), "-k", "graceful")
    assert (p.returncode, p.stdout) == (0, "featherd not running, trying to start\n")
    assert _wait_port(port, up=True)
    assert featherd("-f", str(conf), "-k", "stop").returncode == 0


def test_k_stale_pid_file(daemon_conf: tuple[Path, int]) -> None:
    conf, _ = daemon_conf
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (conf.parent / "logs" / "httpd.pid").write_text(f"{child.pid}\n")
    p = featherd("-f", str(conf), "-k", "stop")
    assert p.stdout == f"featherd (pid {child.pid}?) not running\n"


def test_k_start_reports_failure(daemon_conf: tuple[Path, int]) -> None:
    conf, port = daemon_conf
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        p = featherd("-f", str(conf), "-k", "start")
    assert p.returncode == 1
    assert "make_sock: could not bind to address" in p.stderr
    assert "Unable to open logs" in p.stderr


def test_k_with_bad_config_signals_nothing(daemon_conf: tuple[Path, int]) -> None:
    conf, _ = daemon_conf
    conf.write_text(conf.read_text() + "Bogus\n")
    p = featherd("-f", str(conf), "-k", "stop")
    assert p.returncode == 1 and "Invalid command 'Bogus'" in p.stderr and p.stdout == ""
