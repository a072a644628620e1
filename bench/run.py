#!/usr/bin/env python3
"""featherd side by side with Debian's apache2 and nginx: static files with keep-alive.

    python bench/run.py                 # 1 KiB req/s and 10 MiB MB/s, ratios
    python bench/run.py --profile       # featherd under cProfile during the 1 KiB load

Every server serves the same document root, with one worker process, its access log on,
on a free loopback port. The load generator is wrk (one Lua hook reports the totals as
JSON). With two or more CPUs the server is pinned to CPU 0 and wrk to CPU 1 (taskset).
CPU time per request is read from /proc (utime + stime of the server's process tree)
around the measured run. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")
WRK = shutil.which("wrk") or "/usr/bin/wrk"
TASKSET = shutil.which("taskset")
MIME_TYPES = "/etc/mime.types" if os.path.exists("/etc/mime.types") else \
    str(SRC / "featherd" / "data" / "mime.types")
SMALL, BIG = "1k.txt", "10m.bin"
SMALL_SIZE, BIG_SIZE = 1024, 10 * 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")

WRK_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%d,\\"bytes\\":%d,\\"duration_us\\":%d,\\"connect\\":%d," ..
    "\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d," ..
    "\\"lat_mean_us\\":%.1f,\\"lat_p50_us\\":%d,\\"lat_p99_us\\":%d}\\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency:percentile(50), latency:percentile(99)))
end
"""

COMMON_LOG = '"%h %l %u %t \\"%r\\" %>s %b"'


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- process helpers

def children_of(pid: int) -> list[int]:
    """All descendants of pid (from /proc/*/stat), depth first."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parent[int(d)] = ppid
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out.extend(kids)
        todo.extend(kids)
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
    return total / CLK_TCK


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("did not start listening")


def http_get(port: int, path: str) -> tuple[int, int]:
    """One GET with Connection: close; returns (status, body length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench.local\r\nConnection: close\r\n\r\n"
                  .encode())
        data = bytearray()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, len(body)


def keeps_alive(port: int, path: str) -> bool:
    """Does the server answer two requests, one after the other, on one connection?"""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(2):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench.local\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                b = s.recv(65536)
                if not b:
                    return False
                data += b
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if not m:
                return False
            need = int(m.group(1)) - len(body)
            while need > 0:
                b = s.recv(min(need, 1 << 20))
                if not b:
                    return False
                need -= len(b)
    return True


# ---------------------------------------------------------------- servers

@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    stop_signal: int = signal.SIGTERM
    env: dict[str, str] | None = None
    cwd: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    known_pids: set[int] = field(default_factory=set)

    def start(self, cpu: int | None) -> None:
        argv = ([TASKSET, "-c", str(cpu)] if cpu is not None and TASKSET else []) + self.argv
        assert self.log is not None
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, cwd=self.cwd, start_new_session=True)
        try:
            wait_port(self.port, self.proc)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"{self.name} {e}; output:\n{self.output()}") from None
        time.sleep(0.3)                      # let the workers come up
        self.known_pids = set(self.pids())

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        return [self.proc.pid, *children_of(self.proc.pid)]

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = set(self.pids()) | self.known_pids
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # children that outlived their parent (they were ours): by PID, one by one
        deadline = time.monotonic() + 5
        for pid in sorted(pids - {self.proc.pid}):
            while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                            break
                except OSError:
                    break
                time.sleep(0.05)
            if os.path.exists(f"/proc/{pid}"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None


def user_lines(kind: str) -> str:
    """Running as root, the workers must drop to an unprivileged user."""
    if os.geteuid() != 0:
        return ""
    if kind == "apache":
        return "User www-data\nGroup www-data\n"
    return "user www-data;\n"


def featherd_server(root: Path, docroot: Path, profile_to: Path | None = None) -> Server:
    port = free_port()
    d = root / "featherd"
    (d / "logs").mkdir(parents=True)
    os.chmod(root, 0o755)
    conf = d / "httpd.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        ServerName bench.local
        DocumentRoot {docroot}
        ErrorLog logs/error_log
        LogLevel warn
        PidFile logs/httpd.pid
        KeepAlive On
        MaxKeepAliveRequests 0
        # configured alike: no .htaccess lookups (2.4's default; Debian's config for /)
        <Directory />
        AllowOverride None
        </Directory>
        EnableSendfile On
        <IfModule mpm_event_module>
        StartServers 1
        ServerLimit 1
        </IfModule>
        <IfModule mime_module>
        TypesConfig {MIME_TYPES}
        </IfModule>
        LogFormat {COMMON_LOG} common
        CustomLog logs/access_log common
        """))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    py = [sys.executable]
    if profile_to is not None:
        py += ["-m", "cProfile", "-o", str(profile_to)]
    argv = [*py, "-m", "featherd", "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    if profile_to is not None:
        argv.append("-DONE_PROCESS")      # serve in the profiled process, not a forked worker
    return Server("featherd", argv, port, env=env, cwd=str(d), log=d / "stdout.log")


def apache_server(root: Path, docroot: Path) -> Server | str:
    if not os.path.exists(APACHE):
        return f"{APACHE} not found (apt-get install -y apache2)"
    mods = ["mpm_event", "authz_core", "mime"]
    missing = [m for m in mods if not (APACHE_MODULES / f"mod_{m}.so").exists()]
    if missing:
        return f"apache2 modules missing: {', '.join(missing)}"
    port = free_port()
    d = root / "apache2"
    (d / "logs").mkdir(parents=True)
    load = "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in mods)
    conf = d / "httpd.conf"
    conf.write_text(load + user_lines("apache") + textwrap.dedent(f"""\
        ServerRoot {d}
        Listen 127.0.0.1:{port}
        ServerName bench.local
        DocumentRoot {docroot}
        ErrorLog logs/error_log
        LogLevel warn
        PidFile logs/httpd.pid
        Mutex file:{d}/logs default
        <Directory />
        AllowOverride None
        </Directory>
        # one child process; enough threads for every wrk connection
        StartServers 1
        ServerLimit 1
        ThreadLimit 64
        ThreadsPerChild 64
        MaxRequestWorkers 64
        MinSpareThreads 1
        MaxSpareThreads 64
        MaxConnectionsPerChild 0
        KeepAlive On
        MaxKeepAliveRequests 0
        EnableSendfile On
        TypesConfig {MIME_TYPES}
        LogFormat {COMMON_LOG} common
        CustomLog logs/access_log common
        """))
    argv = [APACHE, "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    return Server("apache2", argv, port, cwd=str(d), log=d / "stdout.log")


def nginx_server(root: Path, docroot: Path) -> Server | str:
    nginx = next((p for p in NGINX_CANDIDATES if os.path.exists(p)), None)
    if nginx is None:
        return "nginx not found (apt-get install -y nginx-light)"
    port = free_port()
    d = root / "nginx"
    (d / "logs").mkdir(parents=True)
    (d / "tmp").mkdir()
    os.chmod(d / "tmp", 0o777)
    conf = d / "nginx.conf"
    temps = "".join(f"    {k}_temp_path {d}/tmp/{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(user_lines("nginx") + textwrap.dedent(f"""\
        worker_processes 1;
        error_log {d}/logs/error.log warn;
        pid {d}/logs/nginx.pid;
        events {{ worker_connections 1024; }}
        http {{
            types {{ text/plain txt; application/octet-stream bin; }}
            default_type application/octet-stream;
            log_format common '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent';
            access_log {d}/logs/access.log common;
            sendfile on;
            keepalive_requests 100000000;
        """) + temps + textwrap.dedent(f"""\
            server {{
                listen 127.0.0.1:{port};
                server_name bench.local;
                root {docroot};
            }}
        }}
        """))
    argv = [nginx, "-p", str(d), "-c", str(conf), "-e", str(d / "logs" / "error.log"),
            "-g", "daemon off;"]
    return Server("nginx", argv, port, stop_signal=signal.SIGQUIT, cwd=str(d),
                  log=d / "stdout.log")


# ---------------------------------------------------------------- load

@dataclass
class Result:
    requests: int
    bytes: int
    seconds: float
    errors: int
    non2xx: int
    cpu: float
    lat_p50_ms: float
    lat_p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.requests * 1e6 if self.requests else float("nan")


def wrk(port: int, path: str, seconds: float, conns: int, threads: int, cpu: int | None,
        lua: Path) -> dict[str, float]:
    argv = ([TASKSET, "-c", str(cpu)] if cpu is not None and TASKSET else []) + [
        WRK, "-t", str(threads), "-c", str(conns), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(lua), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])  # type: ignore[no-any-return]
    raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")


def measure(srv: Server, path: str, size: int, a: argparse.Namespace, conns: int,
            lua: Path) -> Result:
    status, length = http_get(srv.port, path)
    if status != 200 or length != size:
        raise RuntimeError(f"{srv.name}: GET {path} gave status {status}, {length} bytes "
                           f"(expected 200, {size})")
    if not keeps_alive(srv.port, path):
        print(f"  WARNING: {srv.name} closed the connection after a keep-alive response; "
              "wrk will reconnect (its numbers include connection set-up)")
    if a.warmup > 0:
        wrk(srv.port, path, a.warmup, conns, a.threads, a.wrk_cpu, lua)
    pids = srv.pids()
    c0 = cpu_seconds(pids)
    w = wrk(srv.port, path, a.duration, conns, a.threads, a.wrk_cpu, lua)
    c1 = cpu_seconds(srv.pids())
    return Result(requests=int(w["requests"]), bytes=int(w["bytes"]),
                  seconds=w["duration_us"] / 1e6,
                  errors=int(w["connect"] + w["read"] + w["write"] + w["timeout"]),
                  non2xx=int(w["status"]), cpu=c1 - c0,
                  lat_p50_ms=w["lat_p50_us"] / 1000, lat_p99_ms=w["lat_p99_us"] / 1000)


# ---------------------------------------------------------------- reporting

def ratio(a: Result | None, b: Result | None, key: Callable[[Result], float]) -> str:
    if a is None or b is None or not key(b):
        return "n/a"
    return f"{key(a) / key(b):.3f}"


def report_small(results: dict[str, Result]) -> None:
    print(f"\n1 KiB file ({SMALL}), keep-alive")
    print(f"  {'server':<9} {'req/s':>10} {'CPU µs/req':>11} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"  {name:<9} {r.rps:>10.0f} {r.cpu_us:>11.1f} {r.lat_p50_ms:>8.2f} "
              f"{r.lat_p99_ms:>8.2f} {r.errors:>7} {r.non2xx:>8}")
    f = results.get("featherd")
    for other in ("apache2", "nginx"):
        print(f"  featherd/{other} req/s ratio: "
              f"{ratio(f, results.get(other), lambda r: r.rps)}")


def report_big(results: dict[str, Result]) -> None:
    print(f"\n10 MiB file ({BIG}), keep-alive (MB = 10^6 bytes)")
    print(f"  {'server':<9} {'MB/s':>10} {'req/s':>8} {'CPU ms/req':>11} {'errors':>7} "
          f"{'non-2xx':>8}")
    for name, r in results.items():
        print(f"  {name:<9} {r.mbps:>10.1f} {r.rps:>8.1f} {r.cpu_us / 1000:>11.2f} "
              f"{r.errors:>7} {r.non2xx:>8}")
    f = results.get("featherd")
    for other in ("apache2", "nginx"):
        print(f"  featherd/{other} MB/s ratio: "
              f"{ratio(f, results.get(other), lambda r: r.mbps)}")


# ---------------------------------------------------------------- main

def make_docroot(root: Path) -> Path:
    docroot = root / "htdocs"
    docroot.mkdir()
    (docroot / SMALL).write_bytes((b"featherd bench 1 KiB line.....\n" * 40)[:SMALL_SIZE])
    with open(docroot / BIG, "wb") as f:
        block = bytes(range(256)) * 4096                 # 1 MiB
        for _ in range(BIG_SIZE // len(block)):
            f.write(block)
    for p in (docroot, docroot / SMALL, docroot / BIG):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return docroot


def pinning(a: argparse.Namespace) -> str:
    ncpu = os.cpu_count() or 1
    if a.no_pin or TASKSET is None or ncpu < 2:
        a.server_cpu = a.wrk_cpu = None
        why = ("--no-pin" if a.no_pin else "taskset not found" if TASKSET is None
               else f"only {ncpu} CPU")
        return f"not pinned ({why})"
    a.server_cpu, a.wrk_cpu = 0, 1
    return f"server pinned to CPU 0, wrk to CPU 1 (taskset; {ncpu} CPUs)"


def run_compare(a: argparse.Namespace, root: Path, docroot: Path, lua: Path) -> int:
    builders = {"featherd": lambda: featherd_server(root, docroot),
                "apache2": lambda: apache_server(root, docroot),
                "nginx": lambda: nginx_server(root, docroot)}
    small: dict[str, Result] = {}
    big: dict[str, Result] = {}
    for name in a.servers:
        srv = builders[name]()
        if isinstance(srv, str):
            print(f"  skip {name}: {srv}")
            continue
        try:
            srv.start(a.server_cpu)
        except RuntimeError as e:
            print(f"  skip {name}: failed to start: {e}")
            continue
        try:
            small[name] = measure(srv, f"/{SMALL}", SMALL_SIZE, a, a.connections, lua)
            print(f"  {name}: {small[name].rps:.0f} req/s (1 KiB)", flush=True)
            if not a.small_only:
                big[name] = measure(srv, f"/{BIG}", BIG_SIZE, a, a.big_connections, lua)
                print(f"  {name}: {big[name].mbps:.1f} MB/s (10 MiB)", flush=True)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"  {name}: measurement failed: {e}")
        finally:
            srv.stop()
    report_small(small)
    if big:
        report_big(big)
    return 0 if "featherd" in small else 1


def run_profile(a: argparse.Namespace, root: Path, docroot: Path, lua: Path) -> int:
    plain = featherd_server(root / "plain", docroot)
    plain.start(a.server_cpu)
    try:
        r0 = measure(plain, f"/{SMALL}", SMALL_SIZE, a, a.connections, lua)
    finally:
        plain.stop()
    print(f"  featherd without profiler: {r0.rps:.0f} req/s, {r0.cpu_us:.1f} µs CPU/request")
    prof = root / "featherd.prof"
    srv = featherd_server(root, docroot, profile_to=prof)
    print("  featherd under cProfile (py-spy "
          + ("installed but not used: cProfile gives tottime" if shutil.which("py-spy")
             else "not installed") + ")")
    srv.start(a.server_cpu)
    try:
        r = measure(srv, f"/{SMALL}", SMALL_SIZE, a, a.connections, lua)
    finally:
        srv.stop()
    print(f"\n1 KiB file under cProfile: {r.requests} requests in {r.seconds:.1f} s, "
          f"{r.rps:.0f} req/s, errors {r.errors}, non-2xx {r.non2xx}")
    print(f"CPU per request (process CPU time / requests): {r.cpu_us:.1f} µs under cProfile, "
          f"{r0.cpu_us:.1f} µs without it ({r0.rps:.0f} req/s)")
    if not prof.exists():
        print(f"no profile written; featherd output:\n{srv.output()}")
        return 1
    print("\nTop 25 functions by tottime (whole featherd run: start-up, warm-up and the "
          "measured load):")
    st = pstats.Stats(str(prof))
    st.strip_dirs().sort_stats("tottime").print_stats(25)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="measured seconds per run")
    p.add_argument("--warmup", type=int, default=1, help="warm-up seconds per run (0: none)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (1 KiB)")
    p.add_argument("--big-connections", type=int, default=4, help="wrk connections (10 MiB)")
    p.add_argument("--threads", type=int, default=0,
                   help="wrk threads (default 1 when wrk is pinned to one CPU, else 2)")
    p.add_argument("--servers", default="featherd,apache2,nginx",
                   help="comma-separated subset of featherd,apache2,nginx")
    p.add_argument("--small-only", action="store_true", help="skip the 10 MiB runs")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--profile", action="store_true",
                   help="profile featherd (cProfile) during the 1 KiB load instead")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args(argv)
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    bad = [s for s in a.servers if s not in ("featherd", "apache2", "nginx")]
    if bad:
        p.error(f"unknown server(s): {', '.join(bad)}")
    if not os.path.exists(WRK):
        print("wrk not found (apt-get install -y wrk)")
        return 2
    pin = pinning(a)
    if a.threads <= 0:
        a.threads = 1 if a.wrk_cpu is not None else 2
    root = Path(tempfile.mkdtemp(prefix="featherd-bench-"))
    os.chmod(root, 0o755)                 # apache2/nginx workers run as www-data
    try:
        docroot = make_docroot(root)
        lua = root / "report.lua"
        lua.write_text(WRK_LUA)
        print(f"featherd bench: {pin}; wrk -t{a.threads}, {a.connections} connections "
              f"(1 KiB) / {a.big_connections} (10 MiB); {a.warmup:g} s warm-up + "
              f"{a.duration:g} s measured per run")
        print("each server: one worker process, access log on (common format), loopback, "
              "keep-alive unlimited, sendfile on; Python " + sys.version.split()[0])
        load1 = os.getloadavg()[0]
        print(f"load average before the runs: {load1:.2f}"
              + ("  (other processes are busy: expect noisy numbers)" if load1 > 0.5 else ""))
        if a.profile:
            return run_profile(a, root, docroot, lua)
        return run_compare(a, root, docroot, lua)
    finally:
        if a.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
