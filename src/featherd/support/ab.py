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

import asyncio
import base64
import math
import multiprocessing as mp
import os
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

VERSION = "2.3"
BANNER = ("This is ApacheBench, Version 2.3 <$Revision: 1934973 $>\n"
          "Copyright 1996 Adam Twiss, Zeus Technology Ltd, http://www.zeustech.net/\n"
          "Licensed to The Apache Software Foundation, http://www.apache.org/\n")
PERCS = (50, 66, 75, 80, 90, 95, 98, 99, 100)
TIMED_REQUESTS = 50000
MAX_CONCURRENCY = 20000
CBUFFSIZE = 8192

USAGE = """\
Usage: {prog} [options] [http[s]://]hostname[:port]/path
Options are:
    -n requests     Number of requests to perform
    -c concurrency  Number of multiple requests to make at a time
    -t timelimit    Seconds to max. to spend on benchmarking
                    This implies -n 50000
    -s timeout      Seconds to max. wait for each response
                    Default is 30 seconds
    -b windowsize   Size of TCP send/receive buffer, in bytes
    -B address      Address to bind to when making outgoing connections
    -p postfile     File containing data to POST. Remember also to set -T
    -u putfile      File containing data to PUT. Remember also to set -T
    -T content-type Content-type header to use for POST/PUT data, eg.
                    'application/x-www-form-urlencoded'
                    Default is 'text/plain'
    -v verbosity    How much troubleshooting info to print
    -w              Print out results in HTML tables
    -i              Use HEAD instead of GET
    -x attributes   String to insert as table attributes
    -y attributes   String to insert as tr attributes
    -z attributes   String to insert as td or th attributes
    -C attribute    Add cookie, eg. 'Apache=1234'. (repeatable)
    -H attribute    Add Arbitrary header line, eg. 'Accept-Encoding: gzip'
                    Inserted after all normal header lines. (repeatable)
    -A attribute    Add Basic WWW Authentication, the attributes
                    are a colon separated username and password.
    -P attribute    Add Basic Proxy Authentication, the attributes
                    are a colon separated username and password.
    -X proxy:port   Proxyserver and port number to use
    -V              Print version number and exit
    -k              Use HTTP KeepAlive feature
    -d              Do not show percentiles served table.
    -S              Do not show confidence estimators and warnings.
    -q              Do not show progress when doing more than 150 requests
    -l              Accept variable document length (use this for dynamic pages)
    -g filename     Output collected data to gnuplot format file.
    -e filename     Output CSV file with percentages served
    -r              Don't exit on socket receive errors.
    -m method       Method name
    -h              Display usage information (this message)
    -I              Disable TLS Server Name Indication (SNI) extension
    -Z ciphersuite  Specify SSL/TLS cipher suite (See openssl ciphers)
    -f protocol     Specify SSL/TLS protocol
                    (SSL2, TLS1, TLS1.1, TLS1.2, TLS1.3 or ALL)
    -E certfile     Specify optional client certificate chain and private key
    -j processes    Number of client processes (featherd extension)
"""


class Fatal(Exception):
    """An error that ends the run: the message for stderr and ab's exit status."""

    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code


@dataclass
class Options:
    requests: int = 1
    concurrency: int = 1
    tlimit: float = 0.0
    timeout: float = 30.0
    windowsize: int = 0
    bind: str | None = None
    postfile: str | None = None
    putfile: str | None = None
    content_type: str | None = None
    verbosity: int = 0
    html: bool = False
    head: bool = False
    tablestring: str = ""
    trstring: str = ""
    tdstring: str = "bgcolor=white"
    cookie: str = ""
    headers: list[str] = field(default_factory=list)
    auth: str = ""
    proxy_auth: str = ""
    proxy: str | None = None
    keepalive: bool = False
    percentile: bool = True
    confidence: bool = True
    quiet: bool = False
    nolength: bool = False
    gnuplot: str | None = None
    csvperc: str | None = None
    recverrok: bool = False
    method: str | None = None
    sni: bool = True
    ciphers: str | None = None
    protocol: str | None = None
    certfile: str | None = None
    procs: int = 0
    url: str = ""
    rlimited: bool = False


def usage(prog: str, msg: str | None = None) -> None:
    if msg:
        sys.stderr.write(msg)
    sys.stderr.write(USAGE.format(prog=prog))
    raise SystemExit(22)


def parse_args(argv: list[str], prog: str) -> Options:
    o = Options()
    takes = set("ncts bBpuTvxyzCHAPXgemZfEj")
    takes.discard(" ")
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            break
        i += 1
        j = 1
        while j < len(a):
            ch = a[j]
            j += 1
            if ch in takes:
                if j < len(a):
                    val = a[j:]
                elif i < len(argv):
                    val = argv[i]
                    i += 1
                else:
                    sys.stderr.write(f"{prog}: option requires an argument -- {ch}\n")
                    usage(prog)
                _take(o, ch, val, prog)
                break
            if ch == "V":
                sys.stdout.write(BANNER)
                raise SystemExit(0)
            if ch == "h":
                usage(prog)
            flags = {"w": "html", "i": "head", "k": "keepalive", "q": "quiet",
                     "l": "nolength", "r": "recverrok"}
            if ch in flags:
                setattr(o, flags[ch], True)
                if ch == "i":
                    if o.method is not None or o.postfile or o.putfile:
                        _bad_method(prog)
                    o.method = "HEAD"
            elif ch == "d":
                o.percentile = False
            elif ch == "S":
                o.confidence = False
            elif ch == "I":
                o.sni = False
            else:
                sys.stderr.write(f"{prog}: illegal option -- {ch}\n")
                usage(prog)
    rest = argv[i:]
    if len(rest) != 1:
        usage(prog)
    o.url = rest[0]
    return o


def _bad_method(prog: str) -> None:
    sys.stderr.write("Cannot mix POST/PUT and HEAD\n")
    usage(prog)


def _int(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        return 0


def _take(o: Options, ch: str, v: str, prog: str) -> None:
    if ch == "n":
        o.requests = _int(v)
        if o.requests <= 0:
            raise Fatal("Invalid number of requests\n")
        o.rlimited = True
    elif ch == "c":
        o.concurrency = _int(v)
    elif ch == "t":
        o.tlimit = float(_int(v))
        if not o.rlimited:
            o.requests = TIMED_REQUESTS
    elif ch == "s":
        o.timeout = float(_int(v))
    elif ch == "b":
        o.windowsize = _int(v)
    elif ch == "B":
        o.bind = v
    elif ch in "pu":
        if o.method == "HEAD":
            _bad_method(prog)
        if ch == "p":
            o.postfile = v
            o.method = o.method if o.method not in (None, "GET") else "POST"
        else:
            o.putfile = v
            o.method = o.method if o.method not in (None, "GET") else "PUT"
    elif ch == "T":
        o.content_type = v
    elif ch == "v":
        o.verbosity = _int(v)
    elif ch == "x":
        o.tablestring = v
    elif ch == "y":
        o.trstring = v
    elif ch == "z":
        o.tdstring = v
    elif ch == "C":
        o.cookie = f"Cookie: {v}\r\n"
    elif ch == "H":
        o.headers.append(v)
    elif ch == "A":
        o.auth = "Authorization: Basic " + base64.b64encode(v.encode()).decode() + "\r\n"
    elif ch == "P":
        o.proxy_auth = ("Proxy-Authorization: Basic " + base64.b64encode(v.encode()).decode()
                        + "\r\n")
    elif ch == "X":
        o.proxy = v
    elif ch == "g":
        o.gnuplot = v
    elif ch == "e":
        o.csvperc = v
    elif ch == "m":
        o.method = v
    elif ch == "Z":
        o.ciphers = v
    elif ch == "f":
        o.protocol = v
    elif ch == "E":
        o.certfile = v
    elif ch == "j":
        o.procs = max(1, _int(v))


# -- the target ----------------------------------------------------------------------------
@dataclass
class Target:
    is_ssl: bool
    hostname: str
    port: int
    path: str
    host_field: str
    connect_host: str
    connect_port: int
    request: bytes
    fullurl: str
    sni: str | None
    body_len: int


def parse_url(o: Options) -> Target:
    url = o.url
    is_ssl = url.lower().startswith("https://")
    if "://" not in url:
        url = "http://" + url
    elif not (url.lower().startswith("http://") or is_ssl):
        raise Fatal(f"{o.url}: invalid URL\n")
    u = urlsplit(url)
    if not u.hostname or "/" not in url.split("://", 1)[1]:
        raise Fatal(f"{o.url}: invalid URL\n")
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    port = u.port or (443 if is_ssl else 80)
    host = u.hostname
    colonhost = "" if port == (443 if is_ssl else 80) else f":{port}"
    host_field = f"[{host}]" if ":" in host else host
    connect_host, connect_port = host, port
    if o.proxy:
        ph, _, pp = o.proxy.rpartition(":")
        connect_host, connect_port = (ph or o.proxy), int(pp or 80)
    fullurl = url
    body = b""
    if o.postfile or o.putfile:
        fn = o.postfile or o.putfile
        assert fn is not None
        try:
            with open(fn, "rb") as f:
                body = f.read()
        except OSError as e:
            raise Fatal(f"Invalid postfile name ({fn}): {e.strerror}\n") from None
    method = o.method or "GET"
    names = {h.split(":", 1)[0].strip().lower() for h in o.headers}
    hdrs = "".join(h + "\r\n" for h in o.headers)
    if "host" not in names:
        hdrs += f"Host: {host_field}{colonhost}\r\n"
    if "user-agent" not in names:
        hdrs += f"User-Agent: ApacheBench/{VERSION}\r\n"
    if "accept" not in names:
        hdrs += "Accept: */*\r\n"
    target = fullurl if o.proxy else path
    head = f"{method} {target} HTTP/1.0\r\n" + \
        ("Connection: Keep-Alive\r\n" if o.keepalive else "") + o.cookie + o.auth + \
        o.proxy_auth
    if body or o.postfile or o.putfile:
        head += (f"Content-length: {len(body)}\r\nContent-type: "
                 f"{o.content_type or 'text/plain'}\r\n")
    head += hdrs + "\r\n"
    sni = None
    if is_ssl and o.sni:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            sni = host
    return Target(is_ssl, host, port, path, host_field, connect_host, connect_port,
                  head.encode("latin-1") + body, fullurl, sni, len(body) if body else 0)


def ssl_context(o: Options) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    versions = {"SSL3": ssl.TLSVersion.SSLv3, "TLS1": ssl.TLSVersion.TLSv1,
                "TLS1.1": ssl.TLSVersion.TLSv1_1, "TLS1.2": ssl.TLSVersion.TLSv1_2,
                "TLS1.3": ssl.TLSVersion.TLSv1_3}
    p = (o.protocol or "ALL").upper()
    if p in versions:
        try:
            ctx.minimum_version = ctx.maximum_version = versions[p]
        except (ValueError, ssl.SSLError):
            raise Fatal(f"Protocol {o.protocol} not supported\n") from None
    elif p not in ("ALL", "SSL2"):
        raise Fatal(f"Protocol {o.protocol} not supported\n")
    if o.ciphers:
        try:
            ctx.set_ciphers(o.ciphers)
        except ssl.SSLError:
            raise Fatal(f"error setting cipher list [{o.ciphers}]\n") from None
    if o.certfile:
        ctx.load_cert_chain(o.certfile)
    return ctx


# -- one client process --------------------------------------------------------------------
@dataclass
class Metrics:
    doclen: int = -1
    totalread: int = 0
    totalbread: int = 0
    totalposted: int = 0
    done: int = 0
    doneka: int = 0
    good: int = 0
    bad: int = 0
    epipe: int = 0
    err_length: int = 0
    err_conn: int = 0
    err_recv: int = 0
    err_except: int = 0
    err_response: int = 0
    aborted_ka: int = 0
    servername: str = ""
    ssl_info: str = ""
    first_start: float = 0.0
    last: float = 0.0
    # (starttime, ctime, time, waittime) in microseconds
    stats: list[tuple[float, int, int, int]] = field(default_factory=list)


class Client:
    """The connections of one process, ab's test loop as callbacks."""

    def __init__(self, o: Options, t: Target, requests: int, concurrency: int,
                 stoptime: float, progress: Any) -> None:
        self.o = o
        self.t = t
        self.requests = requests
        self.concurrency = concurrency
        self.stoptime = stoptime
        self.progress = progress
        self.m = Metrics()
        self.started = 0
        self.loop = asyncio.get_event_loop()
        self.finished = self.loop.create_future()
        self.active = 0
        self.ssl = ssl_context(o) if t.is_ssl else None
        self.head = o.method == "HEAD"
        self.succeeded_once = False
        self.stopping = False

    def run(self) -> None:
        self.start_connection()
        if self.o.timeout:
            self.loop.call_later(self.o.timeout, self.check_first)
        if self.stoptime:
            self.loop.call_later(max(0.0, self.stoptime - time.time()), self.time_up)

    def check_first(self) -> None:
        if not self.succeeded_once and not self.finished.done():
            self.finished.set_exception(Fatal("apr_pollset_poll: The timeout specified has "
                                              "expired (70007)\n"))

    def time_up(self) -> None:
        self.stopping = True
        if not self.finished.done():
            self.finished.set_result(None)

    def more(self) -> bool:
        return not self.stopping and self.started < self.requests

    def start_connection(self) -> None:
        if not self.more():
            if self.active == 0 and not self.finished.done():
                self.finished.set_result(None)
            return
        self.started += 1
        self.active += 1
        conn = Conn(self)
        self.loop.create_task(conn.connect())

    def schedule_all(self) -> None:
        for _ in range(1, self.concurrency):
            self.start_connection()

    def done_one(self) -> None:
        self.m.done += 1
        if self.progress is not None:
            if isinstance(self.progress, int):
                if self.m.done % self.progress == 0:
                    sys.stderr.write(f"Completed {self.m.done} requests\n")
                    sys.stderr.flush()
            else:
                with self.progress.get_lock():
                    self.progress.value += 1

    def conn_finished(self, reuse: Conn | None) -> None:
        """A request ended: go on, on the same connection or a new one."""
        if reuse is not None and self.more():
            self.started += 1
            reuse.next_request()
            return
        self.active -= 1
        if reuse is not None:
            reuse.close()
        if self.more():
            self.start_connection()
        elif self.active <= 0 and not self.finished.done():
            self.finished.set_result(None)


class Conn(asyncio.Protocol):
    __slots__ = ("cl", "transport", "start", "connect_t", "endwrite", "beginread", "buf",
                 "gotheader", "read", "bread", "length", "keepalive", "keptalive", "timer",
                 "closed")

    def __init__(self, cl: Client) -> None:
        self.cl = cl
        self.transport: Any = None
        self.keptalive = 0
        self.closed = False
        self.timer: Any = None
        self.reset()

    def reset(self) -> None:
        self.start = time.time()
        self.connect_t = self.start
        self.endwrite = 0.0
        self.beginread = 0.0
        self.buf = b""
        self.gotheader = False
        self.read = 0
        self.bread = 0
        self.length = 0
        self.keepalive = False

    async def connect(self) -> None:
        cl = self.cl
        t = cl.t
        kw: dict[str, Any] = {}
        if cl.o.bind:
            kw["local_addr"] = (cl.o.bind, 0)
        if cl.ssl is not None:
            kw["ssl"] = cl.ssl
            kw["server_hostname"] = t.sni or ""
        if cl.m.first_start == 0.0:
            cl.m.first_start = self.start
        try:
            await cl.loop.create_connection(lambda: self, t.connect_host, t.connect_port, **kw)
        except (OSError, ssl.SSLError) as e:
            if not cl.succeeded_once and not cl.finished.done():
                # ab connects without blocking: the error shows at the first read
                errno = getattr(e, "errno", None) or 111
                cl.finished.set_exception(Fatal(f"apr_socket_recv: {_strerror(e)} "
                                                f"({errno})\n", errno))
                return
            cl.m.err_conn += 1
            cl.m.bad += 1
            cl.started -= 1
            if cl.m.err_conn > 10 and not cl.finished.done():
                cl.finished.set_exception(Fatal("\nTest aborted after 10 failures\n\n"
                                                f"apr_socket_connect(): {_strerror(e)}\n"))
                return
            cl.conn_finished(None)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        cl = self.cl
        if cl.o.windowsize:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cl.o.windowsize)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cl.o.windowsize)
        if cl.t.is_ssl and not cl.m.ssl_info:
            obj = transport.get_extra_info("ssl_object")
            if obj is not None:
                c = obj.cipher()
                cl.m.ssl_info = f"{obj.version()},{c[0]},{c[2]},{c[2]}" if c else obj.version()
        self.connect_t = time.time()
        self.send()

    def send(self) -> None:
        cl = self.cl
        if cl.o.timeout:
            self.timer = cl.loop.call_later(cl.o.timeout, self.timed_out)
        self.transport.write(cl.t.request)
        cl.m.totalposted += len(cl.t.request)
        self.endwrite = time.time()

    def timed_out(self) -> None:
        self.timer = None
        cl = self.cl
        if not cl.finished.done():
            cl.finished.set_exception(Fatal("Server timed out\n\n"))

    def next_request(self) -> None:
        self.keptalive += 1
        self.reset()
        self.connect_t = self.start
        self.send()

    def data_received(self, data: bytes) -> None:
        if not self.beginread:
            self.beginread = time.time()
        cl = self.cl
        n = len(data)
        self.read += n
        cl.m.totalread += n
        if not self.gotheader:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            sep = 4
            if end < 0:
                end = self.buf.find(b"\n\n")
                sep = 2
            if end < 0:
                if len(self.buf) > CBUFFSIZE:
                    cl.m.err_response += 1
                    self.abort()
                return
            self.header(self.buf[:end])
            body = len(self.buf) - end - sep
            self.buf = b""
            self.bread += body
            cl.m.totalbread += body
        else:
            self.bread += n
            cl.m.totalbread += n
        if self.keepalive and self.bread >= self.length:
            self.finish(reuse=True)

    def header(self, head: bytes) -> None:
        self.gotheader = True
        cl = self.cl
        o = cl.o
        text = head.decode("latin-1")
        if o.verbosity >= 2:
            print(f"LOG: header received:\n{text}\r\n")
        i = text.find("HTTP")
        code = text[i + 9:i + 12] if i >= 0 and len(text) > i + 9 else "500"
        if not code.startswith("2"):
            cl.m.err_response += 1
            if o.verbosity >= 2:
                print(f"WARNING: Response code not 2xx ({code})")
        elif o.verbosity >= 3:
            print(f"LOG: Response code = {code}")
        low = text.lower()
        self.keepalive = o.keepalive and "keep-alive" in low
        if self.keepalive:
            j = low.find("content-length:")
            self.length = _atoi(text[j + 16:]) if j >= 0 and not cl.head else 0
        if not cl.succeeded_once:
            cl.succeeded_once = True
            j = low.find("server:")
            if j >= 0:
                v = text[j + 8:]
                name = ""
                for ch in v:
                    if ord(ch) <= 32:
                        break
                    name += ch
                cl.m.servername = name
            cl.schedule_all()
        cl.m.good += 1

    def eof_received(self) -> bool:
        self.finish(reuse=False)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            if exc is not None and not self.gotheader:
                cl = self.cl
                if self.keptalive and self.read == 0:
                    cl.m.aborted_ka += 1
                    cl.started -= 1
                    self.closed = True
                    cl.conn_finished(None)
                    return
                cl.m.err_recv += 1
                cl.m.bad += 1
                if not cl.o.recverrok and not cl.finished.done():
                    cl.finished.set_exception(Fatal(f"apr_socket_recv: {_strerror(exc)}\n"))
                    return
                self.closed = True
                cl.conn_finished(None)
                return
            self.finish(reuse=False)

    def abort(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.abort()
        self.cl.m.bad += 1
        self.cl.m.err_except += 1
        self.cl.conn_finished(None)

    def finish(self, reuse: bool) -> None:
        """close_connection / the keep-alive reuse: account one request."""
        if self.closed:
            return
        cl = self.cl
        m = cl.m
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.read == 0 and self.keptalive:
            # the server closed an idle keep-alive connection: not a request
            m.aborted_ka += 1
            cl.started -= 1
            self.closed = True
            cl.conn_finished(None)
            return
        if m.good == 1 and m.doclen < 0:
            m.doclen = self.bread
        elif self.bread != m.doclen and not cl.o.nolength and m.doclen >= 0:
            m.bad += 1
            m.err_length += 1
        now = time.time()
        if m.done < cl.requests:
            ctime = int((self.connect_t - self.start) * 1e6)
            total = int((now - self.start) * 1e6)
            wait = int((self.beginread - self.endwrite) * 1e6) if self.beginread else 0
            m.stats.append((self.start, max(0, ctime), max(0, total), max(0, wait)))
        if reuse:
            m.doneka += 1
        m.last = now
        cl.done_one()
        if reuse:
            cl.conn_finished(self)
        else:
            self.closed = True
            cl.conn_finished(None)
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _atoi(s: str) -> int:
    s = s.lstrip()
    n = ""
    for ch in s:
        if not ch.isdigit():
            break
        n += ch
    return int(n) if n else 0


def _strerror(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.new_event_loop()


def run_client(o: Options, t: Target, requests: int, concurrency: int, stoptime: float,
               progress: Any) -> Metrics:
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        cl = Client(o, t, requests, concurrency, stoptime, progress)
        cl.run()
        loop.run_until_complete(cl.finished)
        cl.m.last = cl.m.last or time.time()
        return cl.m
    finally:
        loop.close()


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


if __name__ == "__main__":
    raise SystemExit(main())
