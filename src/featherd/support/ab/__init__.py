"""featherd-ab: the Apache HTTP server benchmarking tool (ApacheBench 2.3), in asyncio.

    featherd-ab [options] [http[s]://]hostname[:port]/path

The flags, the request it sends (HTTP/1.0, ``Connection: Keep-Alive`` with -k, then
Host, User-Agent: ApacheBench/2.3, Accept, cookies, authorization and -H headers) and the
report (Server Software ... Transfer rate, the Connection Times table with
``min  mean[+/-sd] median   max``, the percentile table, -w HTML tables, -g gnuplot and
-e CSV files) follow Debian's ab, so scripts that parse ab's output read ours.

To not be the bottleneck, each process runs one event loop (uvloop when installed) with
plain ``asyncio.Protocol`` connections, and a large concurrency is split among several
processes (one per CPU, at least 32 connections each; ``-j N`` sets the number, a
featherd extension). Their measurements are merged before the report.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from typing import Any

from featherd.support.ab.client import Metrics, run_client
from featherd.support.ab.options import (
    BANNER,
    MAX_CONCURRENCY,
    Fatal,
    Options,
    Target,
    parse_args,
    parse_url,
    usage,
)
from featherd.support.ab.report import html_report, report, write_csv, write_gnuplot


def _child(o: Options, t: Target, requests: int, concurrency: int, stoptime: float,
           progress: Any, conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(("ok", run_client(o, t, requests, concurrency, stoptime, progress)))
    except Fatal as e:
        conn.send(("fatal", (str(e), e.code)))
    except Exception as e:  # noqa: BLE001
        conn.send(("fatal", (f"{type(e).__name__}: {e}\n", 1)))
    conn.close()


def merge(ms: list[Metrics]) -> Metrics:
    out = Metrics()
    for m in ms:
        for f in ("totalread", "totalbread", "totalposted", "done", "doneka", "good", "bad",
                  "epipe", "err_length", "err_conn", "err_recv", "err_except", "err_response",
                  "aborted_ka"):
            setattr(out, f, getattr(out, f) + getattr(m, f))
        out.stats.extend(m.stats)
        out.servername = out.servername or m.servername
        if m.first_start and (not out.first_start or m.first_start < out.first_start):
            out.first_start = m.first_start
        out.ssl_info = out.ssl_info or m.ssl_info
        out.last = max(out.last, m.last)
        if m.doclen >= 0 and out.doclen < 0:
            out.doclen = m.doclen
        elif m.doclen >= 0 and m.doclen != out.doclen:
            out.bad += m.good
            out.err_length += m.good
    return out


def process_count(o: Options) -> int:
    if o.procs:
        return max(1, min(o.procs, o.concurrency))
    cpus = os.cpu_count() or 1
    return max(1, min(cpus, o.concurrency // 32))


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    prog = os.path.basename(sys.argv[0] or "") or "featherd-ab"
    if prog.endswith(".py") or prog == "__main__.py":
        prog = "featherd-ab"
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        o = parse_args(args, prog)
        if o.concurrency < 1 or o.concurrency > MAX_CONCURRENCY:
            sys.stderr.write(f"{prog}: invalid number of concurrent connections: "
                             f"{o.concurrency}\n")
            return 1
        if o.concurrency > o.requests:
            sys.stderr.write(f"{prog}: Cannot use concurrency level greater than total "
                             "number of requests\n")
            usage(prog)
        t = parse_url(o)
        return run(o, t)
    except Fatal as e:
        sys.stdout.flush()
        sys.stderr.write(str(e))
        return e.code


def run(o: Options, t: Target) -> int:
    out = sys.stdout
    if not o.html:
        out.write(BANNER + "\n")
    heartbeat = 0
    if o.requests > 150 and not o.quiet:
        heartbeat = max(100, o.requests // 10)
    if not o.html:
        out.write(f"Benchmarking {t.hostname} ")
        if o.proxy:
            out.write(f"[through {o.proxy}] ")
        out.write("(be patient)" + ("\n" if heartbeat else "..."))
        out.flush()
    if o.verbosity >= 2:
        head = t.request[:len(t.request) - t.body_len].decode("latin-1")
        out.write(f"INFO: {o.method or 'GET'} header == \n---\n{head}\n---\n")
    n = process_count(o)
    start = time.time()
    stoptime = start + o.tlimit if o.tlimit else 0.0
    if n == 1:
        ms = [run_client(o, t, o.requests, o.concurrency, stoptime, heartbeat or None)]
    else:
        ms = run_procs(o, t, n, stoptime, heartbeat)
    m = merge(ms)
    if m.first_start:
        start = m.first_start          # the first connection, not the set-up
    if heartbeat:
        sys.stderr.write(f"Finished {m.done} requests\n")
        sys.stderr.flush()
    elif not o.html:
        out.write("..done\n")
    out.write(html_report(o, t, m, start) if o.html else report(o, t, m, start))
    out.flush()
    if o.csvperc and m.stats:
        write_csv(o.csvperc, m, o)
    if o.gnuplot and m.stats:
        write_gnuplot(o.gnuplot, m, o)
    return 0


def run_procs(o: Options, t: Target, n: int, stoptime: float, heartbeat: int) -> list[Metrics]:
    ctx = mp.get_context("fork")
    progress = ctx.Value("q", 0)
    procs = []
    base_r, extra_r = divmod(o.requests, n)
    base_c, extra_c = divmod(o.concurrency, n)
    for i in range(n):
        r = base_r + (1 if i < extra_r else 0)
        c = max(1, base_c + (1 if i < extra_c else 0))
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(o, t, r, min(c, r) or 1, stoptime, progress,
                                             child), daemon=True)
        p.start()
        child.close()
        procs.append((p, parent))
    results: list[Metrics] = []
    pending = list(procs)
    reported = 0
    errors: list[tuple[str, int]] = []
    try:
        while pending:
            for p, conn in list(pending):
                if conn.poll(0.05):
                    try:
                        kind, val = conn.recv()
                    except EOFError:
                        kind, val = "fatal", ("a client process died\n", 1)
                    if kind == "ok":
                        results.append(val)
                    else:
                        errors.append(val)
                    pending.remove((p, conn))
                    p.join(5)
            if heartbeat:
                done = progress.value
                while reported + heartbeat <= done:
                    reported += heartbeat
                    sys.stderr.write(f"Completed {reported} requests\n")
                    sys.stderr.flush()
    except KeyboardInterrupt:
        for p, _ in pending:
            p.terminate()
    if errors and not results:
        raise Fatal(*errors[0])
    return results
