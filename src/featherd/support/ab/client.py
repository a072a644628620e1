"""featherd-ab's client engine: one process's connections as ``asyncio.Protocol``
callbacks (ab's test loop), the TLS context and the measurements they collect."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from featherd.support.ab.options import Fatal, Options, Target

CBUFFSIZE = 8192


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
