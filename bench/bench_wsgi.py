#!/usr/bin/env python3
"""Python applications in featherd next to gunicorn and uvicorn: a hello-world WSGI app on
featherd (WSGIScriptAlias) and on gunicorn (sync worker, 1 worker), a hello-world ASGI app
on featherd (ASGIScriptAlias) and on uvicorn (1 worker). Prints req/s, CPU µs per
request, latency, and the ratios featherd/gunicorn and featherd/uvicorn.

    pip install gunicorn uvicorn        # for this benchmark only (not test dependencies)
    python bench/bench_wsgi.py [--duration 5] [--connections 32]

featherd runs with one worker process (StartServers 1) and, like bench/run.py, its
access log on; it is also measured with the access log off, since gunicorn logs no
access by default. uvicorn is measured as it starts by default (access log on, to a
file here) and with --no-access-log. gunicorn's sync worker closes the connection after
each response (it has no keep-alive): that is how it serves. Load comes from wrk
(bench/run.py's helpers: pinning, CPU accounting, process clean-up by PID). The machine
may be shared: the servers are measured in interleaved rounds and the best round of
each is shown; CPU µs per request moves least with outside load.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as lib  # noqa: E402  (bench/run.py)

HELLO = b"Hello, world!"
WSGI_APP = '''\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]
'''
ASGI_APP = '''\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})
'''


def featherd(root: Path, name: str, directive: str, script: Path,
             access_log: bool) -> lib.Server:
    port = lib.free_port()
    d = root / f"{name}-{directive}"
    (d / "logs").mkdir(parents=True)
    (d / "htdocs").mkdir()
    conf = d / "httpd.conf"
    conf.write_text(textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        ServerName bench.local
        DocumentRoot {d / "htdocs"}
        ErrorLog logs/error_log
        LogLevel warn
        PidFile logs/httpd.pid
        KeepAlive On
        MaxKeepAliveRequests 0
        # configured alike with bench/run.py: no .htaccess lookups (Debian's config for /)
        <Directory />
        AllowOverride None
        </Directory>
        StartServers 1
        ServerLimit 1
        TypesConfig {lib.MIME_TYPES}
        LogFormat {lib.COMMON_LOG} common
        {"" if access_log else "#"}CustomLog logs/access_log common
        {directive} / {script}
        """))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(lib.SRC) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "featherd", "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    return lib.Server(name, argv, port, env=env, cwd=str(d), log=d / "stdout.log")


def gunicorn(root: Path, apps: Path) -> lib.Server:
    port = lib.free_port()
    argv = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync",
            "--bind", f"127.0.0.1:{port}", "--chdir", str(apps), "--log-level", "warning",
            "wsgi_hello:application"]
    return lib.Server("gunicorn", argv, port, cwd=str(apps), log=root / "gunicorn.log")


def uvicorn(root: Path, apps: Path, access_log: bool) -> lib.Server:
    port = lib.free_port()
    name = "uvicorn" if access_log else "uvicorn-nolog"
    argv = [sys.executable, "-m", "uvicorn", "--workers", "1", "--host", "127.0.0.1",
            "--port", str(port), "--app-dir", str(apps), "asgi_hello:app"]
    if not access_log:
        argv.insert(3, "--no-access-log")
    return lib.Server(name, argv, port, cwd=str(apps), log=root / f"{name}.log")


def run_group(servers: list[lib.Server], a: argparse.Namespace,
              lua: Path) -> dict[str, lib.Result | None]:
    """Start the servers, then measure them in turn, ``--rounds`` times (interleaved, so
    that a burst of load from elsewhere hits all alike); the best round of each counts."""
    best: dict[str, lib.Result | None] = {s.name: None for s in servers}
    up: list[lib.Server] = []
    try:
        for srv in servers:
            try:
                srv.start(a.server_cpu)
                up.append(srv)
            except RuntimeError as e:
                print(f"  {srv.name}: not measured: {e}")
        for rnd in range(a.rounds):
            for srv in up:
                try:
                    r = lib.measure(srv, "/", len(HELLO), a, a.connections, lua)
                except RuntimeError as e:
                    print(f"  {srv.name}: not measured: {e}")
                    continue
                print(f"  round {rnd + 1}: {srv.name}: {r.rps:.0f} req/s, "
                      f"{r.cpu_us:.1f} CPU µs/req")
                old = best[srv.name]
                if old is None or r.rps > old.rps:
                    best[srv.name] = r
    finally:
        for srv in up:
            srv.stop()
    return best


def table(title: str, results: dict[str, lib.Result | None]) -> None:
    print(f"\n{title}")
    print(f"  {'server':<22} {'req/s':>9} {'CPU µs/req':>11} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'non-2xx':>8}")
    for name, r in results.items():
        if r is None:
            print(f"  {name:<22} {'n/a':>9}")
            continue
        print(f"  {name:<22} {r.rps:>9.0f} {r.cpu_us:>11.1f} {r.lat_p50_ms:>8.2f} "
              f"{r.lat_p99_ms:>8.2f} {r.errors:>7} {r.non2xx:>8}")


def ratios(results: dict[str, lib.Result | None], ours: list[str], theirs: list[str]) -> None:
    for o in ours:
        for t in theirs:
            print(f"  {o}/{t} req/s ratio: "
                  f"{lib.ratio(results.get(o), results.get(t), lambda r: r.rps)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="measured seconds per run")
    p.add_argument("--warmup", type=int, default=1, help="warm-up seconds per run")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=0, help="wrk threads (default 1 if pinned)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--only", default="wsgi,asgi", help="wsgi, asgi or both")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds per server; the best one is reported")
    a = p.parse_args(argv)
    if not os.path.exists(lib.WRK):
        print("wrk not found (apt-get install -y wrk)")
        return 2
    pin = lib.pinning(a)
    if a.threads <= 0:
        a.threads = 1 if a.wrk_cpu is not None else 2
    missing = [m for m in ("gunicorn", "uvicorn") if importlib.util.find_spec(m) is None]
    root = Path(tempfile.mkdtemp(prefix="featherd-bench-py-"))
    try:
        apps = root / "apps"
        apps.mkdir()
        (apps / "wsgi_hello.py").write_text(WSGI_APP)
        (apps / "asgi_hello.py").write_text(ASGI_APP)
        lua = root / "report.lua"
        lua.write_text(lib.WRK_LUA)
        print(f"featherd Python apps bench: {pin}; wrk -t{a.threads}, {a.connections} "
              f"connections, {a.warmup} s warm-up + {a.duration} s measured per run; "
              f"Python {sys.version.split()[0]}")
        load1 = os.getloadavg()[0]
        print(f"load average before the runs: {load1:.2f}"
              + ("  (other processes are busy: expect noisy numbers)" if load1 > 0.5 else ""))
        if missing:
            print(f"not installed: {', '.join(missing)} (pip install gunicorn uvicorn)")
        only = {s.strip() for s in a.only.split(",")}
        if "wsgi" in only:
            script = apps / "wsgi_hello.py"
            group = [featherd(root, "featherd", "WSGIScriptAlias", script, True),
                     featherd(root, "featherd-nolog", "WSGIScriptAlias", script, False)]
            if "gunicorn" not in missing:
                group.append(gunicorn(root, apps))
            w = run_group(group, a, lua)
            table("WSGI hello world (featherd: access log on / off; gunicorn: sync, 1 worker, "
                  "no access log, no keep-alive)", w)
            ratios(w, ["featherd", "featherd-nolog"], ["gunicorn"])
        if "asgi" in only:
            script = apps / "asgi_hello.py"
            group = [featherd(root, "featherd", "ASGIScriptAlias", script, True),
                     featherd(root, "featherd-nolog", "ASGIScriptAlias", script, False)]
            if "uvicorn" not in missing:
                group += [uvicorn(root, apps, True), uvicorn(root, apps, False)]
            r = run_group(group, a, lua)
            table("ASGI hello world (featherd: access log on / off; uvicorn 1 worker: default "
                  "(access log on) / --no-access-log)", r)
            ratios(r, ["featherd"], ["uvicorn"])
            ratios(r, ["featherd-nolog"], ["uvicorn-nolog"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
