"""featherd-ab's report: the text report with the Connection Times and percentile
tables, the -w HTML tables, and the -e CSV and -g gnuplot files."""

from __future__ import annotations

import math
import time

from featherd.support.ab.client import Metrics
from featherd.support.ab.options import Fatal, Options, Target

PERCS = (50, 66, 75, 80, 90, 95, 98, 99, 100)


# -- the report ----------------------------------------------------------------------------
def round_ms(us: float) -> int:
    return int((us + 500) // 1000)


def report(o: Options, t: Target, m: Metrics, start: float) -> str:
    timetaken = (m.last or time.time()) - start
    out = ["\n\n", f"Server Software:        {m.servername}\n",
           f"Server Hostname:        {t.hostname}\n", f"Server Port:            {t.port}\n"]
    if t.is_ssl and m.ssl_info:
        out.append(f"SSL/TLS Protocol:       {m.ssl_info}\n")
    if t.is_ssl and t.sni:
        out.append(f"TLS Server Name:        {t.sni}\n")
    out.append("\n")
    out.append(f"Document Path:          {t.path}\n")
    out.append("Document Length:        Variable\n" if o.nolength else
               f"Document Length:        {max(m.doclen, 0)} bytes\n")
    out.append("\n")
    out.append(f"Concurrency Level:      {o.concurrency}\n")
    out.append(f"Time taken for tests:   {timetaken:.3f} seconds\n")
    out.append(f"Complete requests:      {m.done}\n")
    out.append(f"Failed requests:        {m.bad}\n")
    if m.bad:
        out.append(f"   (Connect: {m.err_conn}, Receive: {m.err_recv}, Length: {m.err_length}, "
                   f"Exceptions: {m.err_except})\n")
    if m.epipe:
        out.append(f"Write errors:           {m.epipe}\n")
    if m.err_response:
        out.append(f"Non-2xx responses:      {m.err_response}\n")
    if o.keepalive:
        out.append(f"Keep-Alive requests:    {m.doneka}\n")
    out.append(f"Total transferred:      {m.totalread} bytes\n")
    if t.body_len or o.postfile or o.putfile:
        out.append(f"Total body sent:        {m.totalposted}\n")
    out.append(f"HTML transferred:       {m.totalbread} bytes\n")
    send_body = bool(o.postfile or o.putfile)
    if timetaken and m.done:
        out.append(f"Requests per second:    {m.done / timetaken:.2f} [#/sec] (mean)\n")
        out.append(f"Time per request:       {o.concurrency * timetaken * 1000 / m.done:.3f} "
                   "[ms] (mean)\n")
        out.append(f"Time per request:       {timetaken * 1000 / m.done:.3f} [ms] (mean, "
                   "across all concurrent requests)\n")
        out.append(f"Transfer rate:          {m.totalread / 1024 / timetaken:.2f} "
                   "[Kbytes/sec] received\n")
        if send_body:
            out.append(f"                        {m.totalposted / 1024 / timetaken:.2f} "
                       "kb/s sent\n")
            out.append(f"                        "
                       f"{(m.totalread + m.totalposted) / 1024 / timetaken:.2f} kb/s total\n")
    if m.done > 0 and m.stats:
        out.append(times_table(o, m))
    return "".join(out)


def times_table(o: Options, m: Metrics) -> str:
    stats = m.stats[:min(m.done, o.requests)]
    count = len(stats)
    ctimes = [s[1] for s in stats]
    totals = [s[2] for s in stats]
    dtimes = [s[2] - s[1] for s in stats]
    waits = [s[3] for s in stats]

    def mean(v: list[int]) -> int:
        return sum(v) // count

    def sd(v: list[int], mu: int) -> float:
        if count <= 1:
            return 0.0
        return math.sqrt(sum((x - mu) ** 2 for x in v) / (count - 1))

    def median(v: list[int]) -> int:
        s = sorted(v)
        if count > 1 and count % 2:
            return (s[count // 2] + s[min(count - 1, count // 2 + 1)]) // 2
        return s[count // 2]

    rows = []
    for name, v in (("Connect:", ctimes), ("Processing:", dtimes), ("Waiting:", waits),
                    ("Total:", totals)):
        mu = mean(v)
        rows.append((name, round_ms(min(v)), round_ms(mu), sd(v, mu) / 1000.0,
                     round_ms(median(v)), round_ms(max(v)), mu, median(v), sd(v, mu)))
    out = ["\nConnection Times (ms)\n"]
    if o.confidence:
        out.append("              min  mean[+/-sd] median   max\n")
        for name, mn, mu, s, md, mx, *_ in rows:
            out.append(f"{name:<12}{mn:5d} {mu:4d} {s:5.1f} {md:6d} {mx:7d}\n")
        for (label, _), row in zip((("the initial connection time", 0),
                                    ("the processing time", 0), ("the waiting time", 0),
                                    ("the total time", 0)), rows, strict=True):
            d = abs(row[2] - row[4])
            sdv = row[3]
            if d > 2 * sdv:
                out.append(f"ERROR: The median and mean for {label} are more than twice the "
                           "standard\n       deviation apart. These results are NOT "
                           "reliable.\n")
            elif d > sdv:
                out.append(f"WARNING: The median and mean for {label} are not within a "
                           "normal deviation\n        These results are probably not that "
                           "reliable.\n")
    else:
        out.append("              min   avg   max\n")
        for name, mn, mu, _s, _md, mx, *_ in rows:
            out.append(f"{name:<12}{mn:5d} {mu:5d}{mx:5d}\n")
    by_total = sorted(stats, key=lambda s: s[2])
    if o.percentile and count > 1:
        out.append("\nPercentage of the requests served within a certain time (ms)\n")
        for p in PERCS:
            if p >= 100:
                out.append(f" 100%  {round_ms(by_total[count - 1][2]):5d} (longest request)\n")
            else:
                out.append(f"  {p}%  {round_ms(by_total[count * p // 100][2]):5d}\n")
    return "".join(out)


def write_csv(path: str, m: Metrics, o: Options) -> None:
    stats = sorted(m.stats[:min(m.done, o.requests)], key=lambda s: s[2])
    count = len(stats)
    try:
        f = open(path, "w")
    except OSError as e:
        raise Fatal(f"Cannot open CSV output file: {e.strerror}\n") from None
    with f:
        f.write("Percentage served,Time in ms\n")
        for i in range(101):
            if i == 0:
                t = stats[0][2] / 1000
            elif i == 100:
                t = stats[count - 1][2] / 1000
            else:
                t = stats[min(count - 1, int(0.5 + count * i / 100.0))][2] / 1000
            f.write(f"{i},{t:.3f}\n")


def write_gnuplot(path: str, m: Metrics, o: Options) -> None:
    stats = sorted(m.stats[:min(m.done, o.requests)], key=lambda s: s[2])
    try:
        f = open(path, "w")
    except OSError as e:
        raise Fatal(f"Cannot open gnuplot output file: {e.strerror}\n") from None
    with f:
        f.write("starttime\tseconds\tctime\tdtime\tttime\twait\n")
        for start, ct, tot, wait in stats:
            f.write(f"{time.ctime(start)}\t{int(start)}\t{round_ms(ct)}\t{round_ms(tot - ct)}\t"
                    f"{round_ms(tot)}\t{round_ms(wait)}\n")


def html_report(o: Options, t: Target, m: Metrics, start: float) -> str:
    timetaken = (m.last or time.time()) - start
    tr, td = o.trstring, o.tdstring

    def row(k: str, v: str) -> str:
        return f"<tr {tr}><th colspan=2 {td}>{k}</th><td colspan=2 {td}>{v}</td></tr>\n"
    out = [f"\n\n<table {o.tablestring}>\n", row("Server Software:", m.servername),
           row("Server Hostname:", t.hostname), row("Server Port:", str(t.port)),
           row("Document Path:", t.path),
           row("Document Length:", "Variable" if o.nolength else f"{max(m.doclen, 0)} bytes"),
           row("Concurrency Level:", str(o.concurrency)),
           row("Time taken for tests:", f"{timetaken:.3f} seconds"),
           row("Complete requests:", str(m.done)), row("Failed requests:", str(m.bad))]
    if m.bad:
        out.append(f"<tr {tr}><td colspan=4 {td} >   (Connect: {m.err_conn}, Length: "
                   f"{m.err_length}, Exceptions: {m.err_except})</td></tr>\n")
    if m.err_response:
        out.append(row("Non-2xx responses:", str(m.err_response)))
    if o.keepalive:
        out.append(row("Keep-Alive requests:", str(m.doneka)))
    out.append(row("Total transferred:", f"{m.totalread} bytes"))
    if o.postfile or o.putfile:
        out.append(row("Total body sent:", str(m.totalposted)))
    out.append(row("HTML transferred:", f"{m.totalbread} bytes"))
    if timetaken and m.done:
        out.append(row("Requests per second:", f"{m.done / timetaken:.2f}"))
        out.append(row("Transfer rate:", f"{m.totalread / 1024 / timetaken:.2f} kb/s received"))
        if o.postfile or o.putfile:
            out.append(f"<tr {tr}><td colspan=2 {td}>&nbsp;</td><td colspan=2 {td}>"
                       f"{m.totalposted / 1024 / timetaken:.2f} kb/s sent</td></tr>\n")
            out.append(f"<tr {tr}><td colspan=2 {td}>&nbsp;</td><td colspan=2 {td}>"
                       f"{(m.totalread + m.totalposted) / 1024 / timetaken:.2f} kb/s total"
                       "</td></tr>\n")
    if m.stats:
        stats = m.stats
        n = len(stats)
        cols = [[s[1] for s in stats], [s[2] - s[1] for s in stats], [s[2] for s in stats]]
        out.append(f"<tr {tr}><th {td} colspan=4>Connection Times (ms)</th></tr>\n")
        out.append(f"<tr {tr}><th {td}>&nbsp;</th> <th {td}>min</th>   <th {td}>avg</th>   "
                   f"<th {td}>max</th></tr>\n")
        for name, v in zip(("Connect:", "Processing:", "Total:"), cols, strict=True):
            out.append(f"<tr {tr}><th {td}>{name}</th><td {td}>{round_ms(min(v)):5d}</td>"
                       f"<td {td}>{round_ms(sum(v) // n):5d}</td><td {td}>"
                       f"{round_ms(max(v)):5d}</td></tr>\n")
    out.append("</table>\n")
    return "".join(out)
