"""The support programs as commands, against Debian's apache2-utils where the tool exists
there (ab, rotatelogs, logresolve, split-logfile; tests comparing with them are skipped
when absent), and featherctl against a running featherd."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from featherd_testlib import SRC, Server, base_conf, free_port

ENV = dict(os.environ, PYTHONPATH=str(SRC))


def tool(mod: str, *args: str, stdin: bytes | None = None, cwd: Path | None = None,
         timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", f"featherd.support.{mod}", *args], input=stdin,
                          capture_output=True, cwd=cwd, env=env or ENV, timeout=timeout)


def debian(name: str) -> str | None:
    for d in ("/usr/bin", "/usr/sbin"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "srv"
    (root / "htdocs").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "htdocs" / "index.html").write_text("hello\n")
    (root / "htdocs" / "big.txt").write_text("y" * 50000)
    port = free_port()
    conf = base_conf(port, 'StartServers 1\nLogFormat "%h %{Cookie}i|%{X-Test}i|%{Authorization}i|%m" ab\n'
                           "CustomLog logs/ab_log ab\nExtendedStatus On\n"
                           "<Location /server-status>\nSetHandler server-status\n</Location>\n")
    srv = Server(root, conf, port).start()
    yield srv
    srv.stop()


# -- rotatelogs --------------------------------------------------------------------------------
ROTATE_CASES = [["-v", "-f", "LOG.%Y%m%d", "86400"], ["-v", "LOG", "5M"],
                ["-v", "-l", "-t", "LOG", "60"], ["-v", "LOG", "3600", "120"],
                ["-v", "-L", "LINK", "-p", "/bin/true", "-c", "-D", "LOG", "1K"]]


@pytest.mark.skipif(debian("rotatelogs") is None, reason="apache2-utils not installed")
@pytest.mark.parametrize("args", ROTATE_CASES)
def test_rotatelogs_like_debians(tmp_path: Path, args: list[str]) -> None:
    outs = []
    for who in ("theirs", "ours"):
        d = tmp_path / who
        d.mkdir()
        a = [str(d / x) if x in ("LOG", "LINK") or x.startswith("LOG.") else x for x in args]
        data = b"line one\nline two\n"
        if who == "theirs":
            r = subprocess.run([debian("rotatelogs") or "", *a], input=data, capture_output=True,
                               timeout=30)
        else:
            r = tool("rotatelogs", *a, stdin=data)
        assert r.returncode == 0, r.stderr
        err = re.sub(r"\d{10}", "T", r.stderr.decode().replace(str(d), "D"))
        files = sorted(re.sub(r"\d{10}", "T", p.name) for p in d.iterdir())
        contents = sorted(p.read_bytes() for p in d.iterdir() if p.is_file())
        outs.append((err, files, contents))
    assert outs[0] == outs[1]


@pytest.mark.skipif(debian("rotatelogs") is None, reason="apache2-utils not installed")
def test_rotatelogs_usage_like_debians() -> None:
    theirs = subprocess.run([debian("rotatelogs") or "", "x"], capture_output=True, timeout=30)
    ours = tool("rotatelogs", "x")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.decode().replace("featherd-rotatelogs", "rotatelogs") == \
        theirs.stderr.decode().replace(debian("rotatelogs") or "", "rotatelogs")


def test_rotatelogs_size_rotation_and_truncate(tmp_path: Path) -> None:
    """Size: a new file once the current one is over the size (checked per chunk read)."""
    script = ("import os,sys,time\n"
              "for i in range(3):\n"
              "    os.write(1, b'x' * 1500 + b'\\n'); time.sleep(1.1)\n")
    feeder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    r = subprocess.run([sys.executable, "-m", "featherd.support.rotatelogs", str(tmp_path / "s"),
                        "1K"], stdin=feeder.stdout, capture_output=True, env=ENV, timeout=30)
    feeder.wait()
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("s.*"))
    assert len(files) == 3 and all(f.stat().st_size == 1501 for f in files)
    # -n 2: a fixed name, old ones as .1 and .2
    feeder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    r = subprocess.run([sys.executable, "-m", "featherd.support.rotatelogs", "-n", "2",
                        str(tmp_path / "n"), "1K"], stdin=feeder.stdout, capture_output=True,
                       env=ENV, timeout=30)
    feeder.wait()
    assert sorted(p.name for p in tmp_path.glob("n*")) == ["n", "n.1", "n.2"]


def test_rotatelogs_time_rotation_with_echo(tmp_path: Path) -> None:
    script = ("import os,time\n"
              "for i in range(3):\n"
              "    os.write(1, b'line %d\\n' % i); time.sleep(1.05)\n")
    feeder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    r = subprocess.run([sys.executable, "-m", "featherd.support.rotatelogs", "-e",
                        str(tmp_path / "t.%s"), "1"], stdin=feeder.stdout, capture_output=True,
                       env=ENV, timeout=30)
    feeder.wait()
    assert r.stdout == b"line 0\nline 1\nline 2\n"
    files = sorted(tmp_path.glob("t.*"))
    assert len(files) == 3
    assert all(int(f.name[2:]) > 1_600_000_000 for f in files)


# -- logresolve / split-logfile --------------------------------------------------------------
LOG = (b'127.0.0.1 - - [x] "GET / HTTP/1.0" 200 1\n10.255.255.1 - - x\nfoo.example bar\n'
       b"127.0.0.1 again\n\n127.0.0.1\n::1 v6\n")


@pytest.mark.skipif(debian("logresolve") is None, reason="apache2-utils not installed")
def test_logresolve_like_debians(tmp_path: Path) -> None:
    theirs = subprocess.run([debian("logresolve") or "", "-s", str(tmp_path / "a")], input=LOG,
                            capture_output=True, timeout=30)
    ours = tool("logresolve", "-s", str(tmp_path / "b"), stdin=LOG)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    assert (tmp_path / "b").read_text() == (tmp_path / "a").read_text()
    assert b"localhost - - [x]" in ours.stdout


@pytest.mark.skipif(debian("split-logfile") is None, reason="apache2-utils not installed")
def test_split_logfile_like_debians(tmp_path: Path) -> None:
    data = (b"www.A.com 1.2.3.4 - - GET /\nwww.b.com x\n a-blank-vhost\nevil/../x y\n"
            b"www.a.com second\n")
    for who in ("theirs", "ours"):
        d = tmp_path / who
        d.mkdir()
        if who == "theirs":
            subprocess.run(["perl", debian("split-logfile") or ""], input=data, cwd=d,
                           check=True, timeout=30)
        else:
            assert tool("split_logfile", stdin=data, cwd=d).returncode == 0
    t = {p.name: p.read_bytes() for p in (tmp_path / "theirs").iterdir()}
    o = {p.name: p.read_bytes() for p in (tmp_path / "ours").iterdir()}
    assert o == t
    assert o["www.a.com.log"] == b"1.2.3.4 - - GET /\nsecond\n"


# -- ab ------------------------------------------------------------------------------------------
def labels(report: str) -> list[str]:
    """The report's structure: each line with its numbers blanked."""
    out = []
    skip = False
    for line in report.splitlines():
        if line.startswith(("Completed", "Finished", "This is ApacheBench")):
            continue
        # the warnings about a skewed distribution depend on the timings of the run
        if line.startswith(("WARNING: The median", "ERROR: The median")):
            skip = True
            continue
        if skip and line.startswith(" "):
            continue
        skip = False
        out.append(" ".join(re.sub(r"\d+(\.\d+)?", "N", line).split()))
    return out


def fields(report: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in report.splitlines() if ":" in line)}


AB_CASES = [["-n", "200", "-c", "4", "-k"], ["-n", "30", "-c", "3"], ["-n", "20", "-S", "-d"],
            ["-n", "20", "-c", "2", "-i"], ["-n", "10", "-l", "-q"]]


@pytest.mark.skipif(debian("ab") is None, reason="apache2-utils not installed")
@pytest.mark.parametrize("args", AB_CASES)
def test_ab_report_like_debians(server: Server, args: list[str]) -> None:
    url = server.url("/index.html")
    theirs = subprocess.run([debian("ab") or "", *args, url], capture_output=True, text=True,
                            timeout=60)
    ours = tool("ab", *args, url)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    o, t = ours.stdout.decode(), theirs.stdout
    assert labels(o) == labels(t), (o, t)
    fo, ft = fields(o), fields(t)
    for k in ("Server Software", "Server Hostname", "Server Port", "Document Path",
              "Document Length", "Concurrency Level", "Complete requests", "Failed requests",
              "Keep-Alive requests", "HTML transferred"):
        assert fo.get(k) == ft.get(k), k
    # header bytes depend on the run (Keep-Alive: max=N, headers of the moment): close
    n_o, n_t = (int(f["Total transferred"].split()[0]) for f in (fo, ft))
    assert abs(n_o - n_t) <= 0.05 * n_t
    assert ours.stderr.decode() == theirs.stderr


@pytest.mark.skipif(debian("ab") is None, reason="apache2-utils not installed")
def test_ab_post_and_errors_like_debians(server: Server, tmp_path: Path) -> None:
    post = tmp_path / "post"
    post.write_text("a=1&b=2")
    url = server.url("/nothere")
    args = ["-n", "12", "-c", "3", "-p", str(post), "-T", "application/x-www-form-urlencoded"]
    theirs = subprocess.run([debian("ab") or "", *args, url], capture_output=True, text=True,
                            timeout=60)
    ours = tool("ab", *args, url)
    assert labels(ours.stdout.decode()) == labels(theirs.stdout)
    assert fields(ours.stdout.decode())["Non-2xx responses"] == "12"
    assert fields(ours.stdout.decode())["Total body sent"] == \
        fields(theirs.stdout)["Total body sent"]
    # refused connection: the same message and status
    port = free_port()
    theirs = subprocess.run([debian("ab") or "", "-n", "1", f"http://127.0.0.1:{port}/"],
                            capture_output=True, text=True, timeout=60)
    ours = tool("ab", "-n", "1", f"http://127.0.0.1:{port}/")
    assert ours.returncode == theirs.returncode == 111
    assert ours.stderr.decode().splitlines()[-1] == theirs.stderr.splitlines()[-1]
    # usage
    theirs = subprocess.run([debian("ab") or "", "-h"], capture_output=True, text=True)
    ours = tool("ab", "-h")
    assert ours.returncode == theirs.returncode
    t_lines = theirs.stderr.splitlines()[1:]
    assert ours.stderr.decode().splitlines()[1:len(t_lines) + 1] == t_lines


def test_ab_headers_cookie_auth_and_files(server: Server, tmp_path: Path) -> None:
    g, e = tmp_path / "g.tsv", tmp_path / "e.csv"
    r = tool("ab", "-n", "5", "-C", "k=v", "-H", "X-Test: yes", "-A", "user:pw", "-g", str(g),
             "-e", str(e), "-v", "2", server.url("/index.html"))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "INFO: GET header == \n---\nGET /index.html HTTP/1.0\r\nCookie: k=v\r\n" in out
    assert "LOG: header received:\nHTTP/1.1 200 OK" in out
    lines = server.access_log("ab_log").splitlines()
    assert len(lines) == 5 and all(x.endswith("k=v|yes|Basic dXNlcjpwdw==|GET") for x in lines)
    gl = g.read_text().splitlines()
    assert gl[0] == "starttime\tseconds\tctime\tdtime\tttime\twait" and len(gl) == 6
    assert all(len(x.split("\t")) == 6 for x in gl[1:])
    el = e.read_text().splitlines()
    assert el[0] == "Percentage served,Time in ms" and len(el) == 102
    assert el[1].startswith("0,") and el[-1].startswith("100,")
    w = tool("ab", "-n", "3", "-w", "-x", "border=1", server.url("/index.html")).stdout.decode()
    assert w.startswith("\n\n<table border=1>\n<tr ><th colspan=2 bgcolor=white>Server "
                        "Software:</th>")
    assert "</table>" in w


def test_ab_time_limit_and_many_processes(server: Server) -> None:
    t0 = time.monotonic()
    r = tool("ab", "-t", "2", "-c", "64", "-k", "-q", server.url("/index.html"))
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout.decode())
    assert float(f["Time taken for tests"].split()[0]) < 3.0 and took < 10
    assert int(f["Complete requests"]) > 100 and f["Failed requests"] == "0"
    r = tool("ab", "-n", "400", "-c", "40", "-j", "2", server.url("/big.txt"))
    f = fields(r.stdout.decode())
    assert f["Complete requests"] == "400" and f["Failed requests"] == "0"
    assert f["HTML transferred"] == f"{400 * 50000} bytes"
    assert r.stderr.decode().splitlines() == [f"Completed {n} requests" for n in
                                              range(100, 401, 100)] + ["Finished 400 requests"]


def test_ab_proxy_request_line(tmp_path: Path) -> None:
    seen: list[bytes] = []
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    port = s.getsockname()[1]

    def serve() -> None:
        c, _ = s.accept()
        seen.append(c.recv(4096))
        c.sendall(b"HTTP/1.0 200 OK\r\nServer: fake\r\nContent-Length: 2\r\n\r\nok")
        c.close()
    threading.Thread(target=serve, daemon=True).start()
    r = tool("ab", "-n", "1", "-X", f"127.0.0.1:{port}", "http://origin.example/x")
    assert r.returncode == 0, r.stderr
    assert seen[0].startswith(b"GET http://origin.example/x HTTP/1.0\r\n")
    assert "Server Software:        fake" in r.stdout.decode()
    s.close()


def test_ab_timeout(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    r = tool("ab", "-n", "1", "-s", "1", f"http://127.0.0.1:{s.getsockname()[1]}/")
    assert r.returncode == 1
    assert "The timeout specified has expired" in r.stderr.decode()
    s.close()


def _tls_server(tmp_path: Path) -> tuple[http.server.HTTPServer, int]:
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"tls!\n")

        def log_message(self, *a: object) -> None:
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_ab_https(tmp_path: Path) -> None:
    httpd, port = _tls_server(tmp_path)
    try:
        r = tool("ab", "-n", "10", "-c", "2", "-f", "TLS1.2", "-Z", "ECDHE-RSA-AES128-GCM-SHA256",
                 f"https://127.0.0.1:{port}/")
        assert r.returncode == 0, r.stderr
        f = fields(r.stdout.decode())
        assert f["Complete requests"] == "10" and f["Document Length"] == "5 bytes"
        assert f["SSL/TLS Protocol"].startswith("TLSv1.2,ECDHE-RSA-AES128-GCM-SHA256,")
        assert f["Server Port"] == str(port)
        bad = tool("ab", "-n", "1", "-f", "TLS9", f"https://127.0.0.1:{port}/")
        assert bad.returncode == 1
    finally:
        httpd.shutdown()


# -- featherctl -------------------------------------------------------------------------------
def test_featherctl(server: Server) -> None:
    args = ["-d", str(server.root), "-f", str(server.conf_path)]
    r = subprocess.run([sys.executable, "-m", "featherd.support.featherctl", "configtest",
                        *args], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "Syntax OK"
    st = subprocess.run([sys.executable, "-m", "featherd.support.featherctl", "status", *args],
                        capture_output=True, text=True, env=ENV, timeout=60)
    assert st.returncode == 0, st.stderr
    assert "Apache Server Status for" in st.stdout
    assert st.stdout.rstrip().endswith("idle workers")
    full = subprocess.run([sys.executable, "-m", "featherd.support.featherctl", "fullstatus",
                           *args], capture_output=True, text=True, env=ENV, timeout=60)
    assert "Scoreboard Key" in full.stdout and len(full.stdout) > len(st.stdout)
    old = server.proc.pid if server.proc else 0
    r = subprocess.run([sys.executable, "-m", "featherd.support.featherctl", "graceful", *args],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5
    while "Graceful restart requested" not in server.error_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Graceful restart requested" in server.error_log()
    r = subprocess.run([sys.executable, "-m", "featherd.support.featherctl", "stop", *args],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0
    assert server.proc is not None and server.proc.wait(10) == 0 and old
    r = subprocess.run([sys.executable, "-m", "featherd.support.featherctl"], capture_output=True,
                       text=True, env=ENV, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("Usage: featherctl start|stop|restart")
