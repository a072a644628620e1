#!/usr/bin/env python3
"""HTTPS: featherd's mod_ssl next to Debian's apache2 + mod_ssl.

    python bench/tls_bench.py                    # RSA-2048 and ECDSA P-256, both measures
    python bench/tls_bench.py --duration 10 --keys rsa
    python bench/tls_bench.py --profile handshake --keys ec   # cProfile, top 30 tottime

For each key type, the same certificate and the same 1 KiB file, one worker process
each (featherd: StartServers 1; apache2: mpm_event, one child, 64 threads), access log
on, SSLSessionCache shmcb, TLS 1.2 + 1.3 with the server's cipher order:

* keep-alive: wrk, 32 connections, many requests per TLS connection -> requests/s;
* handshakes: wrk with ``Connection: close``, 16 connections: every request is a new
  TCP connection and a full TLS handshake (wrk never resumes sessions) -> handshakes/s.

Prints the rates, the server's CPU µs per request, and the featherd/apache2 ratios
(targets from the mod_ssl issue: 0.5x on keep-alive requests, 0.8x on handshakes).
The server is pinned to CPU 0 and wrk to CPU 1 when there are two CPUs or more.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(SRC))
_spec = importlib.util.spec_from_file_location("featherd_bench_run", HERE / "run.py")
assert _spec is not None and _spec.loader is not None
run = importlib.util.module_from_spec(_spec)
sys.modules["featherd_bench_run"] = run
_spec.loader.exec_module(run)

from featherd.modules.ssl import certtool as ct  # noqa: E402

APACHE = "/usr/sbin/apache2"
MODS = Path("/usr/lib/apache2/modules")
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")


def make_certs(d: Path, kind: str) -> tuple[Path, Path]:
    key = ct.generate_key("rsa", 2048) if kind == "rsa" else ct.generate_key("ec")
    cert = ct.self_signed(key, ct.parse_subject("/CN=localhost"),
                          ct.parse_san("DNS:localhost,IP:127.0.0.1"))
    c, k = d / f"{kind}.crt", d / f"{kind}.key"
    from cryptography.hazmat.primitives import serialization

    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ct.write_private(k, ct.key_pem(key, traditional=True))
    return c, k


def ssl_lines(cert: Path, key: Path, logs: Path) -> str:
    return textwrap.dedent(f"""\
        SSLEngine on
        SSLCertificateFile {cert}
        SSLCertificateKeyFile {key}
        SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1
        SSLCipherSuite {CIPHERS}
        SSLHonorCipherOrder on
        """)


def featherd_server(root: Path, docroot: Path, cert: Path, key: Path,
                    plain: bool = False, profile_to: Path | None = None) -> Any:
    port = run.free_port()
    d = root / ("featherd-http" if plain else "featherd")
    (d / "logs").mkdir(parents=True)
    conf = d / "httpd.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port} https
        ServerName localhost
        DocumentRoot {docroot}
        ErrorLog logs/error_log
        LogLevel warn
        PidFile logs/httpd.pid
        StartServers 1
        ServerLimit 1
        MaxRequestsPerChild 0
        KeepAlive On
        MaxKeepAliveRequests 0
        TypesConfig {run.MIME_TYPES}
        LogFormat {run.COMMON_LOG} common
        CustomLog logs/access_log common
        SSLSessionCache shmcb:logs/ssl_scache(512000)
        # configured alike: no .htaccess lookups (2.4's default, what apache2 gets)
        <Directory />
        AllowOverride None
        </Directory>
        <VirtualHost 127.0.0.1:{port}>
        """) + ("SSLEngine off\n" if plain else ssl_lines(cert, key, d / "logs")) +
        "</VirtualHost>\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    py = [sys.executable]
    if profile_to is not None:
        py += ["-m", "cProfile", "-o", str(profile_to)]
    argv = [*py, "-m", "featherd", "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    if profile_to is not None:
        argv.append("-DONE_PROCESS")      # serve in the profiled process (as -X)
    return run.Server("featherd", argv, port, env=env, cwd=str(d), log=d / "stdout.log")


def run_profile(a: argparse.Namespace, root: Path, docroot: Path, lua: Path,
                server_cpu: int | None) -> int:
    """featherd under cProfile (one process) during one load: the top 30 by tottime."""
    import pstats

    kind = a.keys.split(",")[0]
    kd = root / kind
    kd.mkdir()
    cert, key = make_certs(kd, kind)
    prof = root / "featherd.prof"
    srv = featherd_server(kd, docroot, cert, key, profile_to=prof)
    srv.start(server_cpu)
    try:
        r = measure(srv, a, lua, close=a.profile == "handshake")
    finally:
        srv.stop()
    print(f"{a.profile} ({kind}) under cProfile: {r.rps:.0f} req/s, {r.cpu_us:.0f} µs/req, "
          f"errors {r.errors + r.non2xx}")
    if not prof.exists():
        print(f"no profile written; featherd output:\n{srv.output()}")
        return 1
    if a.profile_out:
        import shutil

        shutil.copy(prof, a.profile_out)
    st = pstats.Stats(str(prof))
    st.strip_dirs().sort_stats("tottime").print_stats(30)
    return 0


def apache_server(root: Path, docroot: Path, cert: Path, key: Path) -> Any:
    if not os.path.exists(APACHE):
        return f"{APACHE} not found"
    mods = ["mpm_event", "authz_core", "mime", "socache_shmcb", "ssl"]
    port = run.free_port()
    d = root / "apache2"
    (d / "logs").mkdir(parents=True)
    load = "".join(f"LoadModule {m}_module {MODS}/mod_{m}.so\n" for m in mods)
    conf = d / "httpd.conf"
    conf.write_text(load + run.user_lines("apache") + textwrap.dedent(f"""\
        ServerRoot {d}
        Listen 127.0.0.1:{port} https
        ServerName localhost
        DocumentRoot {docroot}
        ErrorLog logs/error_log
        LogLevel warn
        PidFile logs/httpd.pid
        Mutex file:{d}/logs default
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
        TypesConfig {run.MIME_TYPES}
        LogFormat {run.COMMON_LOG} common
        CustomLog logs/access_log common
        SSLSessionCache shmcb:{d}/logs/ssl_scache(512000)
        <Directory />
        AllowOverride None
        </Directory>
        <VirtualHost 127.0.0.1:{port}>
        """) + ssl_lines(cert, key, d / "logs") + "</VirtualHost>\n")
    argv = [APACHE, "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    return run.Server("apache2", argv, port, cwd=str(d), log=d / "stdout.log")


def wrk(port: int, seconds: float, conns: int, cpu: int | None, lua: Path,
        close: bool, scheme: str = "https") -> dict[str, float]:
    argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [
        run.WRK, "-t", "1", "-c", str(conns), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(lua)]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"{scheme}://127.0.0.1:{port}/{run.SMALL}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])  # type: ignore[no-any-return]
    raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")


def measure(srv: Any, a: argparse.Namespace, lua: Path, close: bool,
            scheme: str = "https") -> Any:
    conns = 16 if close else 32
    wrk(srv.port, a.warmup, conns, a.wrk_cpu, lua, close, scheme)
    c0 = srv.cpu()
    w = wrk(srv.port, a.duration, conns, a.wrk_cpu, lua, close, scheme)
    c1 = srv.cpu()
    return run.Result(requests=int(w["requests"]), bytes=int(w["bytes"]),
                      seconds=w["duration_us"] / 1e6,
                      errors=int(w["connect"] + w["read"] + w["write"] + w["timeout"]),
                      non2xx=int(w["status"]), cpu=c1 - c0,
                      lat_p50_ms=w["lat_p50_us"] / 1000, lat_p99_ms=w["lat_p99_us"] / 1000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--keys", default="rsa,ec")
    ap.add_argument("--plain", action="store_true", help="also featherd over plain HTTP")
    ap.add_argument("--profile", choices=("keepalive", "handshake"),
                    help="profile featherd (cProfile, one process) under this load instead")
    ap.add_argument("--profile-out", help="keep the cProfile data in this file")
    a = ap.parse_args(argv)
    ncpu = os.cpu_count() or 1
    server_cpu = 0 if ncpu >= 2 else None
    a.wrk_cpu = 1 if ncpu >= 2 else None
    print(f"pinning: server on CPU {server_cpu}, wrk on CPU {a.wrk_cpu}" if server_cpu
          is not None else "pinning: none (one CPU)")
    rows: list[tuple[str, str, Any, Any]] = []
    with tempfile.TemporaryDirectory(prefix="featherd-sslbench-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)                 # apache2's workers run as www-data
        docroot = root / "htdocs"
        docroot.mkdir()
        (docroot / run.SMALL).write_bytes(b"x" * run.SMALL_SIZE)
        os.chmod(docroot, 0o755)
        os.chmod(docroot / run.SMALL, 0o644)
        lua = root / "report.lua"
        lua.write_text(run.WRK_LUA)
        if a.profile:
            return run_profile(a, root, docroot, lua, server_cpu)
        for kind in a.keys.split(","):
            kd = root / kind
            kd.mkdir()
            os.chmod(kd, 0o755)
            cert, key = make_certs(kd, kind)
            results: dict[str, dict[str, Any]] = {}
            for make in (featherd_server, apache_server):
                srv = make(kd, docroot, cert, key)
                if isinstance(srv, str):
                    print(f"  skipped: {srv}")
                    continue
                srv.start(server_cpu)
                try:
                    results[srv.name] = {"keepalive": measure(srv, a, lua, close=False),
                                         "handshake": measure(srv, a, lua, close=True)}
                finally:
                    srv.stop()
            if a.plain:
                srv = featherd_server(kd, docroot, cert, key, plain=True)
                srv.start(server_cpu)
                try:
                    plain = measure(srv, a, lua, close=False, scheme="http")
                finally:
                    srv.stop()
                print(f"featherd over plain HTTP, keep-alive: {plain.rps:.0f} req/s, "
                      f"{plain.cpu_us:.0f} µs/req (the TLS layer adds the difference)")
            for what in ("keepalive", "handshake"):
                f = results.get("featherd", {}).get(what)
                ap2 = results.get("apache2", {}).get(what)
                rows.append((kind, what, f, ap2))
    print(f"{'key':7} {'measure':10} {'featherd/s':>11} {'µs/req':>8} {'apache2/s':>11} "
          f"{'µs/req':>8} {'ratio':>6} {'cpu-ratio':>9} {'errors':>7}")
    for kind, what, f, ap2 in rows:
        def fmt(r: Any) -> tuple[str, str]:
            return (f"{r.rps:11.0f}", f"{r.cpu_us:8.0f}") if r else ("n/a".rjust(11), "")
        fr, fc = fmt(f)
        ar, ac = fmt(ap2)
        ratio = f"{f.rps / ap2.rps:6.2f}" if f and ap2 and ap2.rps else "   n/a"
        # apache2's CPU per request over featherd's: the ratio a quiet machine would show
        cratio = f"{ap2.cpu_us / f.cpu_us:9.2f}" if f and ap2 and f.cpu_us else "      n/a"
        errs = f"{(f.errors + f.non2xx) if f else 0}/{(ap2.errors + ap2.non2xx) if ap2 else 0}"
        label = "rsa2048" if kind == "rsa" else "p256"
        print(f"{label:7} {what:10} {fr} {fc} {ar} {ac} {ratio} {cratio} {errs:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
