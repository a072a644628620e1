"""mod_status: the server-status handler (Apache 2.2's mod_status.c), fed by the
scoreboard that the MPM keeps in shared memory (:mod:`featherd.mpm.scoreboard`).

``<Location /server-status> SetHandler server-status </Location>``; the query string
chooses the form, as in Apache (each option is found anywhere in the query):

* ``?auto``: the machine-readable text (``Total Accesses``, ``Total kBytes``,
  ``CPULoad``, ``Uptime``, ``ReqPerSec``, ``BytesPerSec``, ``BytesPerReq`` with
  ExtendedStatus On; ``BusyWorkers``, ``IdleWorkers``, ``Scoreboard`` always), in
  Apache's key names so that existing exporters and log_server_status read it;
* ``?refresh`` / ``?refresh=N``: a ``Refresh`` header (1 s, or N s);
* ``?notable``: the per-slot details as a list instead of a table;
* ``?prometheus`` (beyond Apache): the same counters in the Prometheus text format, with
  the metric names of the usual Apache exporter (``apache_accesses_total``,
  ``apache_sent_kilobytes_total``, ``apache_workers{state=...}``,
  ``apache_scoreboard{state=...}``...).

``ExtendedStatus On`` (server-wide; Off by default as in 2.2) keeps per-request counters,
the request line, client and vhost of every slot; ``SeeRequestTail On`` keeps the last 63
characters of long request lines instead of the first.
"""

from __future__ import annotations

import html
import time
from typing import Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.dump import server_built
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade
from featherd.mpm import scoreboard

KBYTE = 1024
MBYTE = 1048576
GBYTE = 1073741824
STATUS_MAXLINE = 64
STATUS_MAGIC_TYPE = "application/x-httpd-status"
DEFAULT_TIME_FORMAT = "%A, %d-%b-%Y %H:%M:%S %Z"
DOCTYPE_HTML_3_2 = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'

status = Module("status_module", "mod_status.c",
                description="Provides information on server activity and performance")


@status.directive("ExtendedStatus", args=ArgSpec.FLAG, context=Context.SERVER,
                  syntax="ExtendedStatus On|Off",
                  help="\"On\" to enable extended status information, \"Off\" to disable")
def extended_status(cmd: Any, conf: Any, on: bool) -> None:
    cmd.tree.extra["extended_status"] = on


@status.directive("SeeRequestTail", args=ArgSpec.FLAG, context=Context.SERVER,
                  syntax="SeeRequestTail On|Off",
                  help="For verbose requests, \"On\" to see the last 63 chars of the request, "
                       "\"Off\" (default) to see the first 63 in extended status display")
def see_request_tail(cmd: Any, conf: Any, on: bool) -> None:
    cmd.tree.extra["see_request_tail"] = on


# -- formatting (Apache's helpers) ---------------------------------------------------------
def format_byte_out(n: float) -> str:
    if n < 5 * KBYTE:
        return f"{int(n)} B"
    if n < MBYTE / 2:
        return f"{n / KBYTE:.1f} kB"
    if n < GBYTE / 2:
        return f"{n / MBYTE:.1f} MB"
    return f"{n / GBYTE:.1f} GB"


def format_kbyte_out(kb: float) -> str:
    if kb < KBYTE:
        return f"{int(kb)} kB"
    if kb < MBYTE:
        return f"{kb / KBYTE:.1f} MB"
    return f"{kb / MBYTE:.1f} GB"


def show_time(secs: int) -> str:
    out = ""
    days, rem = divmod(int(secs), 86400)
    hrs, rem = divmod(rem, 3600)
    mins, s = divmod(rem, 60)
    for n, unit in ((days, "day"), (hrs, "hour"), (mins, "minute"), (s, "second")):
        if n:
            out += f" {n} {unit}{'' if n == 1 else 's'}"
    return out


def g(x: float) -> str:
    """C's %g."""
    return f"{x:g}"


def ht_time(t: float) -> str:
    return time.strftime(DEFAULT_TIME_FORMAT, time.localtime(t))


# -- the numbers ---------------------------------------------------------------------------
class Snapshot:
    """What one pass over the scoreboard finds (status_handler's first loop)."""

    def __init__(self, sb: scoreboard.Scoreboard, extended: bool) -> None:
        self.now = time.time()
        restart, _start, gen, cu, cs = sb.global_info()
        self.generation = gen
        self.restart_time = restart
        self.up_time = max(0, int(self.now - restart))
        self.procs = sb.procs()
        self.slots = sb.slots()
        self.thread_limit = sb.thread_limit
        self.ready = self.busy = 0
        self.count = 0
        self.bytes = 0
        self.tu = self.ts = 0.0
        self.tcu, self.tcs = cu, cs
        by_row = {p.slot: p for p in self.procs}
        for s in self.slots:
            p = by_row[s.proc]
            if not p.quiescing and p.generation == gen and p.pid > 0:
                if s.status == "_":
                    self.ready += 1
                elif s.status not in ".I":
                    self.busy += 1
            if extended and (s.access_count or s.status not in "_."):
                self.count += s.access_count
                self.bytes += s.bytes_served
        for p in self.procs:
            if p.pid > 0:
                self.tu += p.utime
                self.ts += p.stime
                if extended:
                    self.count += p.extra_access
                    self.bytes += p.extra_bytes
        self.kbcount = self.bytes >> 10
        self.status_string = "".join(s.status for s in self.slots)
        self.pids = {p.slot: p.pid for p in self.procs}

    @property
    def cpu_load(self) -> float:
        total = self.tu + self.ts + self.tcu + self.tcs
        return total / self.up_time * 100.0 if self.up_time else 0.0


# -- the handler ---------------------------------------------------------------------------
@status.handler("server-status", STATUS_MAGIC_TYPE)
def status_handler(r: Any) -> int:
    r.allowed_methods.add("GET")
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    sb = scoreboard.get()
    if sb is None:
        r.log_error(3, "Server status unavailable in inetd mode")
        return 500
    args = r.args or ""
    short = "auto" in args
    prom = "prometheus" in args
    notable = "notable" in args
    r.content_type = "text/html; charset=ISO-8859-1"
    if "refresh" in args:
        i = args.index("refresh") + len("refresh")
        val = "1"
        if args[i:i + 1] == "=":
            digits = ""
            for ch in args[i + 1:]:
                if not ch.isdigit():
                    break
                digits += ch
            if digits and int(digits) > 0:
                val = digits
        r.headers_out.set("Refresh", val)
    if short:
        r.content_type = "text/plain; charset=ISO-8859-1"
    if prom:
        r.content_type = "text/plain; version=0.0.4; charset=utf-8"
    if r.header_only:
        pass_brigade(r, [EOS])
        return OK
    sb.record_times()
    extended = scoreboard.extended_status(r.tree)
    snap = Snapshot(sb, extended)
    if prom:
        body = prometheus(snap, extended)
    elif short:
        body = auto_report(snap, extended)
    else:
        body = html_report(r, snap, extended, notable)
    pass_brigade(r, [body.encode("latin-1", "replace"), EOS])
    return OK


def auto_report(s: Snapshot, extended: bool) -> str:
    out = []
    if extended:
        out.append(f"Total Accesses: {s.count}\nTotal kBytes: {s.kbcount}\n")
        if s.tu or s.ts or s.tcu or s.tcs:
            out.append(f"CPULoad: {g(s.cpu_load)}\n")
        out.append(f"Uptime: {s.up_time}\n")
        if s.up_time > 0:
            out.append(f"ReqPerSec: {g(s.count / s.up_time)}\n")
            out.append(f"BytesPerSec: {g(KBYTE * s.kbcount / s.up_time)}\n")
        if s.count > 0:
            out.append(f"BytesPerReq: {g(KBYTE * s.kbcount / s.count)}\n")
    out.append(f"BusyWorkers: {s.busy}\nIdleWorkers: {s.ready}\n")
    out.append(f"Scoreboard: {s.status_string}\n")
    return "".join(out)


_SLOT_NAMES = {"_": "Ready", "S": "Starting", "R": "<b>Read</b>", "W": "<b>Write</b>",
               "K": "<b>Keepalive</b>", "L": "<b>Logging</b>", "D": "<b>DNS lookup</b>",
               "C": "<b>Closing</b>", ".": "Dead", "G": "Graceful", "I": "Dying"}
_SLOT_CELLS = {"_": "_", "S": "<b>S</b>", "R": "<b>R</b>", "W": "<b>W</b>", "K": "<b>K</b>",
               "L": "<b>L</b>", "D": "<b>D</b>", "C": "<b>C</b>", ".": ".", "G": "G", "I": "I"}
_KEY = (
    "<p>Scoreboard Key:<br />\n"
    "\"<b><code>_</code></b>\" Waiting for Connection, \n"
    "\"<b><code>S</code></b>\" Starting up, \n"
    "\"<b><code>R</code></b>\" Reading Request,<br />\n"
    "\"<b><code>W</code></b>\" Sending Reply, \n"
    "\"<b><code>K</code></b>\" Keepalive (read), \n"
    "\"<b><code>D</code></b>\" DNS Lookup,<br />\n"
    "\"<b><code>C</code></b>\" Closing connection, \n"
    "\"<b><code>L</code></b>\" Logging, \n"
    "\"<b><code>G</code></b>\" Gracefully finishing,<br /> \n"
    "\"<b><code>I</code></b>\" Idle cleanup of worker, \n"
    "\"<b><code>.</code></b>\" Open slot with no current process</p>\n"
    "<p />\n")
_LEGEND = (
    "</table>\n <hr /> <table>\n"
    " <tr><th>Srv</th><td>Child Server number - generation</td></tr>\n"
    " <tr><th>PID</th><td>OS process ID</td></tr>\n"
    " <tr><th>Acc</th><td>Number of accesses this connection / this child / this slot</td></tr>\n"
    " <tr><th>M</th><td>Mode of operation</td></tr>\n"
    " <tr><th>CPU</th><td>CPU usage, number of seconds</td></tr>\n"
    " <tr><th>SS</th><td>Seconds since beginning of most recent request</td></tr>\n"
    " <tr><th>Req</th><td>Milliseconds required to process most recent request</td></tr>\n"
    " <tr><th>Conn</th><td>Kilobytes transferred this connection</td></tr>\n"
    " <tr><th>Child</th><td>Megabytes transferred this child</td></tr>\n"
    " <tr><th>Slot</th><td>Total megabytes transferred this slot</td></tr>\n"
    " </table>\n")


def html_report(r: Any, s: Snapshot, extended: bool, notable: bool) -> str:
    from featherd.core.http_request import signature
    from featherd.core.vhost import server_name

    esc = html.escape
    o = [DOCTYPE_HTML_3_2, "<html><head>\n<title>Apache Status</title>\n</head><body>\n",
         f"<h1>Apache Server Status for {esc(server_name(r), quote=False)}</h1>\n\n",
         f"<dl><dt>Server Version: {r.connection.server_banner}</dt>\n",
         f"<dt>Server Built: {server_built()}\n</dt></dl><hr /><dl>\n",
         f"<dt>Current Time: {ht_time(s.now)}</dt>\n",
         f"<dt>Restart Time: {ht_time(s.restart_time)}</dt>\n",
         f"<dt>Parent Server Generation: {s.generation}</dt>\n",
         f"<dt>Server uptime: {show_time(s.up_time)}</dt>\n"]
    if extended:
        o.append(f"<dt>Total accesses: {s.count} - Total Traffic: "
                 f"{format_kbyte_out(s.kbcount)}</dt>\n")
        o.append(f"<dt>CPU Usage: u{g(s.tu)} s{g(s.ts)} cu{g(s.tcu)} cs{g(s.tcs)}")
        if s.tu or s.ts or s.tcu or s.tcs:
            o.append(f" - {s.cpu_load:.3g}% CPU load</dt>\n")
        else:
            o.append("</dt>\n")
        if s.up_time > 0:
            o.append(f"<dt>{s.count / s.up_time:.3g} requests/sec - ")
            o.append(format_byte_out(KBYTE * s.kbcount / s.up_time) + "/second - ")
        if s.count > 0:
            o.append(format_byte_out(KBYTE * s.kbcount / s.count) + "/request")
        o.append("</dt>\n")
    o.append(f"<dt>{s.busy} requests currently being processed, {s.ready} idle workers</dt>\n")
    o.append("</dl><pre>")
    for i, ch in enumerate(s.status_string):
        o.append(ch)
        if i % STATUS_MAXLINE == STATUS_MAXLINE - 1:
            o.append("\n")
    o.append("</pre>\n")
    o.append(_KEY)
    if not extended:
        o.append("PID Key: <br />\n<pre>\n")
        k = 0
        for slot in s.slots:
            if slot.status != ".":
                o.append(f"   {s.pids.get(slot.proc, 0)} in state: {slot.status} ")
                k += 1
                if k >= 3:
                    o.append("\n")
                    k = 0
                else:
                    o.append(",")
        o.append("\n</pre>\n")
        o.append("<hr />To obtain a full report with current status information you need to "
                 "use the <code>ExtendedStatus On</code> directive. \n")
    else:
        o.append(details(s, notable))
    o.append(signature(r).replace("<hr>", "<hr />", 1) if signature(r) else "")
    o.append("</body></html>\n")
    return "".join(o)


def details(s: Snapshot, notable: bool) -> str:
    esc = html.escape
    procs = {p.slot: p for p in s.procs}
    o = ["<hr /><h2>Server Details</h2>\n\n" if notable else
         "\n\n<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Acc</th><th>M</th>"
         "<th>CPU\n</th><th>SS</th><th>Req</th><th>Conn</th><th>Child</th><th>Slot</th>"
         "<th>Client</th><th>VHost</th><th>Request</th></tr>\n\n"]
    for w in s.slots:
        if not (w.access_count or w.status not in "_."):
            continue
        p = procs[w.proc]
        req_time = 0 if not w.start_time else int((w.stop_time - w.start_time) * 1000)
        req_time = max(0, req_time)
        ss = int(s.now - w.last_used) if w.last_used else 0
        cpu = p.utime + p.stime if p.pid > 0 else 0.0
        pid = str(p.pid) if p.pid > 0 and w.status != "." else "-"
        srv = f"{w.proc}-{p.generation}"
        if notable:
            o.append(f"<b>Server {srv}</b> ({pid}): {w.conn_count}|{w.my_access_count}|"
                     f"{w.access_count} [{_SLOT_NAMES.get(w.status, '?STATE?')}] "
                     f"u{g(p.utime)} s{g(p.stime)} cu0 cs0\n {ss} {req_time} (")
            o.append(f"{format_byte_out(w.conn_bytes)}|{format_byte_out(w.my_bytes_served)}|"
                     f"{format_byte_out(w.bytes_served)})\n")
            o.append(f" <i>{esc(w.client)} {{{esc(w.request)}}}</i> <b>[{esc(w.vhost)}]</b>"
                     "<br />\n\n")
            continue
        o.append(f"<tr><td><b>{srv}</b></td><td>{pid}</td><td>{w.conn_count}/"
                 f"{w.my_access_count}/{w.access_count}</td><td>"
                 f"{_SLOT_CELLS.get(w.status, '?')}\n</td><td>{cpu:.2f}</td><td>{ss}</td>"
                 f"<td>{req_time}</td><td>{w.conn_bytes / KBYTE:<.1f}</td>"
                 f"<td>{w.my_bytes_served / MBYTE:<.2f}</td>"
                 f"<td>{w.bytes_served / MBYTE:<.2f}\n</td>")
        if w.status == "R":
            o.append("<td>?</td><td nowrap>?</td><td nowrap>..reading.. </td></tr>\n\n")
        else:
            o.append(f"<td>{esc(w.client)}</td><td nowrap>{esc(w.vhost)}</td>"
                     f"<td nowrap>{esc(w.request)}</td></tr>\n\n")
    if not notable:
        o.append(_LEGEND)
    return "".join(o)


# -- beyond Apache: Prometheus -------------------------------------------------------------
_PROM_STATES = (("_", "idle"), ("S", "startup"), ("R", "read"), ("W", "reply"),
                ("K", "keepalive"), ("D", "dns"), ("C", "closing"), ("L", "logging"),
                ("G", "graceful_stop"), ("I", "idle_cleanup"), (".", "open_slot"))


def prometheus(s: Snapshot, extended: bool) -> str:
    o: list[str] = []

    def metric(name: str, kind: str, help: str, rows: list[tuple[str, float]]) -> None:
        o.append(f"# HELP {name} {help}\n# TYPE {name} {kind}\n")
        for labels, v in rows:
            o.append(f"{name}{labels} {v:g}\n" if isinstance(v, float) else
                     f"{name}{labels} {v}\n")

    metric("apache_up", "gauge", "Could the apache server be reached", [("", 1)])
    metric("apache_uptime_seconds_total", "counter", "Current uptime in seconds",
           [("", s.up_time)])
    metric("apache_generation", "gauge", "Apache restart generation",
           [('{type="config"}', s.generation)])
    if extended:
        metric("apache_accesses_total", "counter", "Current total apache accesses (*)",
               [("", s.count)])
        metric("apache_sent_kilobytes_total", "counter", "Current total kbytes sent (*)",
               [("", s.kbcount)])
        metric("apache_cpuload", "gauge", "The current percentage CPU used by each worker "
               "and in total by all workers combined (*)", [("", float(s.cpu_load))])
    metric("apache_cpu_time_ms_total", "counter", "Apache CPU time",
           [('{type="user"}', int((s.tu + s.tcu) * 1000)),
            ('{type="system"}', int((s.ts + s.tcs) * 1000))])
    metric("apache_workers", "gauge", "Apache worker statuses",
           [('{state="busy"}', s.busy), ('{state="idle"}', s.ready)])
    counts = {ch: 0 for ch, _ in _PROM_STATES}
    for ch in s.status_string:
        counts[ch] = counts.get(ch, 0) + 1
    metric("apache_scoreboard", "gauge", "Apache scoreboard statuses",
           [(f'{{state="{name}"}}', counts[ch]) for ch, name in _PROM_STATES])
    metric("apache_processes", "gauge", "Apache worker processes",
           [('{state="all"}', sum(1 for p in s.procs if p.pid > 0)),
            ('{state="stopping"}', sum(1 for p in s.procs if p.pid > 0 and p.quiescing))])
    return "".join(o)


__all__ = ["status"]
