"""featherd-ab's command line: ab's options and usage text, and the request it sends
(the target URL, proxy, headers and POST/PUT body)."""

from __future__ import annotations

import base64
import socket
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

VERSION = "2.3"
BANNER = ("This is ApacheBench, Version 2.3 <$Revision: 1934973 $>\n"
          "Copyright 1996 Adam Twiss, Zeus Technology Ltd, http://www.zeustech.net/\n"
          "Licensed to The Apache Software Foundation, http://www.apache.org/\n")
TIMED_REQUESTS = 50000
MAX_CONCURRENCY = 20000

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
