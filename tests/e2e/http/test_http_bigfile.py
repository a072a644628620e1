"""Big bodies: files go out intact (sendfile on plain sockets, pread/write otherwise,
with uvloop and with the plain asyncio loop), several at once, and a client that goes
away in the middle of a response costs one log line and nothing else (design principle
7: nothing is lost, the server keeps serving)."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import subprocess
import threading
import time

import pytest
import test_http_util
from test_http_util import (
    Conn,
    no_crash,
    one,
    req,
    still_serving,
    wait_log,
)

module_server = test_http_util.module_server   # the shared fixture

BIG = random.Random(11).randbytes(10 * 1024 * 1024)       # 10 MiB
MID = BIG[:300 * 1024]                                     # just over the inline limit
SHA = hashlib.sha256(BIG).hexdigest()
FILES = {"htdocs/big.bin": BIG, "htdocs/mid.bin": MID}
LOG = ('LogFormat "%h %l %u %t \\"%r\\" %>s %b %X" xlog\n'
       "CustomLog logs/x_log xlog\n")


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def srv(request, module_server):
    old = os.environ.get("FEATHERD_NO_UVLOOP")
    if request.param == "asyncio":
        os.environ["FEATHERD_NO_UVLOOP"] = "1"
    try:
        return module_server(LOG + "TimeOut 5\n", files=FILES)
    finally:
        if old is None:
            os.environ.pop("FEATHERD_NO_UVLOOP", None)
        else:
            os.environ["FEATHERD_NO_UVLOOP"] = old


@pytest.fixture(scope="module")
def srv_nosendfile(module_server):
    os.environ["FEATHERD_NO_SENDFILE"] = "1"
    try:
        return module_server(LOG, files=FILES)
    finally:
        os.environ.pop("FEATHERD_NO_SENDFILE", None)


def _download(port: int, path: str = "/big.bin") -> bytes:
    r = one_port(port, req(path, close=True))
    assert r.status == 200
    return r.body


def one_port(port, data):
    with Conn(port, timeout=20) as c:
        return c.request(data)


def test_10mib_intact(srv):
    body = _download(srv.port)
    assert len(body) == len(BIG) and hashlib.sha256(body).hexdigest() == SHA


def test_10mib_intact_without_sendfile(srv_nosendfile):
    assert hashlib.sha256(_download(srv_nosendfile.port)).hexdigest() == SHA


def test_with_curl(srv, tmp_path):
    out = tmp_path / "got.bin"
    subprocess.run(["curl", "-s", "-o", str(out), srv.url("/big.bin")], check=True,
                   timeout=30)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA


def test_two_big_responses_on_one_connection(srv):
    with Conn(srv.port, timeout=20) as c:
        c.send(req("/big.bin") + req("/mid.bin") + req("/big.bin", "HEAD")
               + req("/abc.txt", close=True))
        a = c.response()
        b = c.response()
        h = c.response("HEAD")
        d = c.response()
    assert hashlib.sha256(a.body).hexdigest() == SHA and b.body == MID
    assert h.h("Content-Length") == str(len(BIG)) and h.body == b""
    assert d.body == b"abcdefghijklmnopqrstuvwxyz"


def test_parallel_downloads(srv):
    results: list[str] = []

    def worker():
        results.append(hashlib.sha256(_download(srv.port)).hexdigest())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [SHA] * 6


def test_slow_reader_gets_everything(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.sendall(req("/big.bin", close=True))
    got = []
    n = 0
    while True:
        b = s.recv(65536)
        if not b:
            break
        got.append(b)
        n += len(b)
        if n < 2_000_000:
            time.sleep(0.001)
    s.close()
    data = b"".join(got)
    head, _, body = data.partition(b"\r\n\r\n")
    assert hashlib.sha256(body).hexdigest() == SHA


def test_client_disconnects_mid_response(srv):
    before = srv.error_log().count("core_output_filter")
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(req("/big.bin", close=True))
        got = 0
        while got < 500_000:
            got += len(s.recv(65536))
        s.close()                      # with unread data: a reset for the server
    still_serving(srv)
    log = wait_log(srv, "GET /big.bin HTTP/1.1\" 200", "x_log")
    assert '"GET /big.bin HTTP/1.1" 200' in log
    # at most one line per lost connection, at info level, and never a traceback
    err = srv.error_log()
    lines = [ln for ln in err.splitlines()[-50:] if "core_output_filter" in ln
             or "client closed" in ln]
    assert len(lines) - before <= 3
    assert all("[info]" in ln for ln in lines)
    no_crash(srv)


def test_disconnect_marks_the_log_entry_aborted(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(req("/big.bin?abort", close=True))
    s.recv(65536)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()                          # RST
    log = wait_log(srv, "GET /big.bin?abort", "x_log")
    line = [ln for ln in log.splitlines() if "big.bin?abort" in ln][-1]
    assert line.endswith(" X")         # %X: aborted before the response completed
    still_serving(srv)


def test_keepalive_status_in_log(srv):
    with Conn(srv.port) as c:
        c.request(req("/abc.txt?ka"))
    log = wait_log(srv, "abc.txt?ka", "x_log")
    assert [ln for ln in log.splitlines() if "abc.txt?ka" in ln][-1].endswith(" +")


def test_head_of_big_file(srv):
    r = one(srv, req("/big.bin", "HEAD", close=True), "HEAD")
    assert r.h("Content-Length") == str(len(BIG)) and r.body == b""


def test_no_fd_leak(srv):
    pid_file = srv.root / "logs" / "httpd.pid"
    pids = [int(pid_file.read_text())]
    try:
        kids = subprocess.run(["pgrep", "-P", str(pids[0])], capture_output=True, text=True)
        pids += [int(p) for p in kids.stdout.split()]
    except FileNotFoundError:
        pass

    def fds():
        return sum(len(os.listdir(f"/proc/{p}/fd")) for p in pids if os.path.exists(f"/proc/{p}"))

    before = fds()
    for _ in range(5):
        _download(srv.port, "/mid.bin")
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(req("/big.bin", close=True))
        s.recv(1000)
        s.close()
    time.sleep(0.5)
    assert fds() <= before + 2
