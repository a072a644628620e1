"""mod_unique_id, mod_log_forensic (+ featherd-check-forensic against Debian's
check_forensic), mod_ident with a fake identd, featherd-log-server-status."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from featherd_testlib import SRC
from mpm_helpers import get, start_master, wait_for

ID_RE = re.compile(r"^[A-Za-z0-9@-]{24}$")


def test_unique_id_in_env_and_log(tmp_path: Path) -> None:
    # active as in Apache: where LoadModule asks for it (built-in; the path is not read)
    srv = start_master(tmp_path, workers=2,
                       body='LoadModule unique_id_module modules/mod_unique_id.so\n'
                            'CustomLog logs/ids "%{UNIQUE_ID}e %U"\n')
    try:
        for i in range(20):
            assert get(srv.port, f"/index.html?{i}")[0] == 200
        srv.stop()
        ids = [line.split()[0] for line in (tmp_path / "logs" / "ids").read_text().splitlines()]
        assert len(ids) == 20 and len(set(ids)) == 20
        assert all(ID_RE.match(i) for i in ids)
        from featherd.modules.metadata.mod_unique_id import decode

        stamp, addr, pid, counter, conn = decode(ids[0])
        assert abs(stamp - time.time()) < 60 and pid > 1
    finally:
        srv.stop()


def test_forensic_pairs(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2, body=(
        "ForensicLog logs/forensic_log\n"
        'CustomLog logs/fid "%{forensic-id}n %{UNIQUE_ID}e"\n'))
    try:
        r = requests.get(srv.url("/index.html?a=1"), headers={"X-Odd": "a|b:c%d\xe9"})
        assert r.status_code == 200
        get(srv.port, "/missing")
        srv.stop()
        lines = (tmp_path / "logs" / "forensic_log").read_text().splitlines()
        plus = [x for x in lines if x.startswith("+")]
        minus = [x for x in lines if x.startswith("-")]
        assert len(plus) == 2 and len(minus) == 2
        fid = plus[0][1:].split("|")[0]
        assert ID_RE.match(fid) and f"-{fid}" in minus
        fields = plus[0].split("|")
        assert fields[1] == "GET /index.html?a=1 HTTP/1.1"
        assert "X-Odd:a%7cb%3ac%25d%e9" in fields
        assert any(f.startswith("Host:127.0.0.1%3a") for f in fields)
        # the id is the UNIQUE_ID, and the note forensic-id
        pairs = [x.split() for x in (tmp_path / "logs" / "fid").read_text().splitlines()]
        assert all(a == b for a, b in pairs) and fid in {a for a, _ in pairs}
    finally:
        srv.stop()


def _check(path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-m", "featherd.support.check_forensic", str(path)],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_check_forensic_matches_apaches(tmp_path: Path) -> None:
    log = tmp_path / "forensic"
    log.write_text(
        "+AAAAAAAAAAAAAAAAAAAAAAAB|GET /a HTTP/1.1|Host:x\n"
        "+AAAAAAAAAAAAAAAAAAAAAAAC|GET /crash HTTP/1.1|Host:x|User-Agent:t\n"
        "-AAAAAAAAAAAAAAAAAAAAAAAB\n"
        "+AAAAAAAAAAAAAAAAAAAAAAAA|POST /b HTTP/1.1|Host:x\n"
        "+AAAAAAAAAAAAAAAAAAAAAAAD|GET /d HTTP/1.1|Host:x\n"
        "-AAAAAAAAAAAAAAAAAAAAAAAD\n")
    ours = _check(log)
    assert ours == ("+AAAAAAAAAAAAAAAAAAAAAAAA|POST /b HTTP/1.1|Host:x\n"
                    "+AAAAAAAAAAAAAAAAAAAAAAAC|GET /crash HTTP/1.1|Host:x|User-Agent:t\n")
    if shutil.which("check_forensic") or os.path.exists("/usr/sbin/check_forensic"):
        theirs = subprocess.run(["sh", "/usr/sbin/check_forensic", str(log)],
                                capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"),
                                timeout=30).stdout
        assert ours == theirs
    complete = tmp_path / "complete"
    complete.write_text("+X|GET / HTTP/1.0\n-X\n")
    assert _check(complete) == ""


class FakeIdentd:
    def __init__(self, user: str = "alice", delay: float = 0.0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.user = user
        self.delay = delay
        self.queries: list[str] = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                q = c.recv(1000).decode()
                self.queries.append(q)
                time.sleep(self.delay)
                rp, lp = [x.strip() for x in q.strip().split(",")]
                try:
                    c.sendall(f"{rp} , {lp} : USERID : UNIX : {self.user}\r\n".encode())
                except OSError:
                    pass


def test_ident_feeds_percent_l(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identd = FakeIdentd("alice")
    monkeypatch.setenv("FEATHERD_IDENT_PORT", str(identd.port))
    srv = start_master(tmp_path, workers=1, body=(
        "IdentityCheck On\nIdentityCheckTimeout 2\n"
        "<Location /noident>\nIdentityCheck Off\n</Location>\n"), files={
        "htdocs/noident": "x\n"})
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        my_port = s.getsockname()[1]
        s.close()
        get(srv.port, "/noident")
        log = srv.access_log().splitlines()
        assert len(log) == 3
        assert log[0].split()[1] == "alice" and log[1].split()[1] == "alice"
        assert log[2].split()[1] == "-"
        # one query per connection: "client port,server port"
        assert identd.queries == [f"{my_port},{srv.port}\r\n"]
    finally:
        srv.stop()


def test_ident_timeout_gives_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identd = FakeIdentd("bob", delay=3)
    monkeypatch.setenv("FEATHERD_IDENT_PORT", str(identd.port))
    srv = start_master(tmp_path, workers=1, body="IdentityCheck On\nIdentityCheckTimeout 1\n")
    try:
        t0 = time.monotonic()
        assert get(srv.port)[0] == 200
        assert 0.8 < time.monotonic() - t0 < 2.5
        assert srv.access_log().split()[1] == "unknown"
    finally:
        srv.stop()


def test_log_server_status(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="ExtendedStatus On\n<Location /server-status>"
                       "\nSetHandler server-status\n</Location>\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    try:
        for _ in range(3):
            get(srv.port)
        out = tmp_path / "ls"
        out.mkdir()
        r = subprocess.run([sys.executable, "-m", "featherd.support.log_server_status", "-d",
                            str(out) + "/", "-s", "127.0.0.1", "-p", str(srv.port)],
                           capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        day = time.strftime("%Y%m%d")
        line = (out / day).read_text().strip()
        m = re.fullmatch(r"(\d{6}):(\d+):(\d+):(\d+):([\d.e-]*)", line)
        assert m, line
        assert int(m.group(2)) >= 1 and int(m.group(4)) == 3
    finally:
        srv.stop()
    r = subprocess.run([sys.executable, "-m", "featherd.support.log_server_status", "-d",
                        str(out) + "/", "-s", "127.0.0.1", "-p", str(srv.port)],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1
    assert (out / day).read_text().splitlines()[-1].endswith(":-1:-1:-1:-1:__-1__")
    assert wait_for(lambda: True)


def test_unique_id_only_when_loaded(tmp_path: Path) -> None:
    """Without LoadModule unique_id_module no request pays for an id (the log shows -)."""
    srv = start_master(tmp_path, workers=1, body='CustomLog logs/ids "%{UNIQUE_ID}e %U"\n')
    try:
        assert get(srv.port, "/index.html")[0] == 200
        srv.stop()
        assert (tmp_path / "logs" / "ids").read_text().split()[0] == "-"
    finally:
        srv.stop()
