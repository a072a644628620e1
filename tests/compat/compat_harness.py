"""Run one configuration through Debian's apache2 (2.4) and featherd; compare responses.

A case gives a featherd configuration *body* (directives after the server basics) and a
document tree. The harness writes two full configurations around the same body:

* featherd: Listen, ServerName, DocumentRoot, ErrorLog, PidFile, LogFormat/CustomLog,
  ``ServerSignature Off``, StartServers 1 (inside ``<IfModule mpm_event_module>``) and
  TypesConfig (inside ``<IfModule mime_module>``);
* apache2: the same, plus ServerRoot, one ``LoadModule`` per module featherd has (by
  ``featherd -M``) that Debian ships as a shared object, mpm_event and authz_core (2.4
  serves nothing without an authorization module), a ``Mutex`` and ``PidFile`` in the
  temp directory, one child process, and ``User www-data`` when run as root.

Both serve the *same* document root (so sizes and mtimes match) on free loopback ports
and are stopped by PID. Requests are raw bytes, sent to both; responses are parsed with
http.client and compared on status, the KEY_HEADERS and the body.

Where Apache 2.2 and 2.4 differ on purpose and featherd follows 2.2 (the project's
default), the comparison accepts the 2.2 form; each allowance is listed in ALLOWED_22.

Tests that run featherd their own way and need an apache2 beside it (tests/e2e/autoindex,
rewrite, aaa, filters, http and mpm) use :func:`apache_server` (a lone apache2 with the
modules they name) and :func:`apache_load_modules`; they import this file after putting
tests/compat on sys.path.
"""

from __future__ import annotations

import functools
import html
import http.client
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
APACHE = os.environ.get("FEATHERD_COMPAT_APACHE", "/usr/sbin/apache2")
MODDIR = Path("/usr/lib/apache2/modules")
MIME_TYPES = "/etc/mime.types" if os.path.exists("/etc/mime.types") else \
    str(SRC / "featherd" / "data" / "mime.types")
HOST = "compat.test"

KEY_HEADERS = ("Content-Type", "Content-Length", "Location", "Allow", "Content-Range",
               "Last-Modified", "Vary", "Accept-Ranges", "Connection", "Keep-Alive")

#: Documented 2.2-vs-2.4 differences the comparison accepts (featherd follows 2.2).
ALLOWED_22 = {
    "etag-format": "ETag: only presence is compared (2.2's default FileETag is "
                   "'INode MTime Size', 2.4's 'MTime Size').",
    "error-doctype": "Error pages: 2.2 starts with <!DOCTYPE HTML PUBLIC \"-//IETF//DTD "
                     "HTML 2.0//EN\">, 2.4 with the HTML 4.01 DOCTYPE.",
    "error-text": "Error pages: 2.2 names the URL in 403/404/405/501 texts (\"You don't "
                  "have permission to access /x\\non this server.\"), 2.4.68 does not "
                  "(\"...access this resource.\").",
    "error-length": "Content-Length of an error page follows its (2.2) text.",
    "default-type": "2.2's DefaultType text/plain: a file without a known type is "
                    "text/plain; 2.4 sends no Content-Type (nor a Content-type line in "
                    "multipart/byteranges parts).",
    "reason": "Reason phrases: 2.2 says '414 Request-URI Too Large' and '501 Method Not "
              "Implemented', 2.4 'Request-URI Too Long' and 'Not Implemented' (also in "
              "the error page's <title> and <h1>).",
    "allow-order": "Allow: 2.2 lists the methods in its method-registry hash order "
                   "(GET,HEAD,POST,OPTIONS,TRACE), 2.4 by method number with HEAD last "
                   "(GET,POST,OPTIONS,HEAD); the same set in another order is accepted.",
    "304-headers": "A 304 in 2.2 carries only Connection, Keep-Alive, ETag, "
                   "Content-Location, Expires, Cache-Control, Vary, Warning, "
                   "WWW-Authenticate, Proxy-Authenticate, Set-Cookie(2); 2.4.68 also "
                   "sends Last-Modified and Accept-Ranges: their absence is accepted.",
    "unknown-te": "An unknown Transfer-Encoding is 501 in 2.2 (HTTP_IN filter), 400 in "
                  "2.4.68.",
}

REASONS_22 = {414: "Request-URI Too Large", 501: "Method Not Implemented"}
REASONS_24 = {414: "Request-URI Too Long", 501: "Not Implemented"}
NOT_MODIFIED_22 = {"connection", "keep-alive", "etag", "content-location", "expires",
                   "cache-control", "vary", "warning", "www-authenticate",
                   "proxy-authenticate", "set-cookie", "set-cookie2"}

DOCTYPE_24 = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" '
              '"http://www.w3.org/TR/html4/strict.dtd">')
DOCTYPE_22 = '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">'

# Apache prerequisites: load these before the modules that need them.
_FIRST = ("authn_core", "authz_core", "socache_shmcb", "ldap", "dbd", "cache", "proxy",
          "dav", "session", "filter", "request", "watchdog")
_PREREQ = {"access_compat": "authz_core", "authz_host": "authz_core",
           "authz_user": "authz_core", "authz_groupfile": "authz_core",
           "authz_owner": "authz_core", "authz_dbm": "authz_core",
           "authn_file": "authn_core", "authn_dbm": "authn_core", "authn_anon": "authn_core",
           "dav_fs": "dav", "dav_lock": "dav", "cache_disk": "cache", "authnz_ldap": "ldap",
           "proxy_http": "proxy", "proxy_ftp": "proxy", "proxy_connect": "proxy",
           "proxy_ajp": "proxy", "proxy_balancer": "proxy", "proxy_fcgi": "proxy",
           "proxy_scgi": "proxy", "lbmethod_byrequests": "proxy_balancer",
           "deflate": "filter"}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def featherd_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def apache_available(modules: Iterable[str] = ("mpm_event",)) -> str | None:
    """None when apache2 can run here with ``modules`` (short names), else why not."""
    if not os.path.exists(APACHE):
        return f"{APACHE} not installed"
    for m in modules:
        if not (MODDIR / f"mod_{m}.so").exists():
            return f"{MODDIR}/mod_{m}.so missing"
    return None


@functools.cache
def featherd_modules() -> frozenset[str]:
    """Module names from ``featherd -M`` (falling back to ``-l``)."""
    d = tempfile.mkdtemp(prefix="compat-M-")
    try:
        conf = Path(d) / "httpd.conf"
        conf.write_text(f"ServerName {HOST}\nDocumentRoot {d}\n")
        out = subprocess.run([sys.executable, "-m", "featherd", "-d", d, "-f", str(conf), "-M"],
                             capture_output=True, text=True, env=featherd_env(), timeout=60)
        names = set(re.findall(r"^\s+(\w+_module) \(", out.stdout, re.M))
        if names:
            return frozenset(names)
        out = subprocess.run([sys.executable, "-m", "featherd", "-l"], capture_output=True,
                             text=True, env=featherd_env(), timeout=60)
        return frozenset(m + "_module" for m in re.findall(r"^\s+(?:mod_)?(\w+)\.c$",
                                                            out.stdout, re.M))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def requires(*modules: str) -> None:
    """Skip the calling test when featherd lacks a module (by ``featherd -M``)."""
    missing = [m for m in modules if m not in featherd_modules()]
    if missing:
        pytest.skip(f"featherd lacks {', '.join(missing)} (not in featherd -M)")


@functools.cache
def apache_static_modules() -> frozenset[str]:
    out = subprocess.run([APACHE, "-l"], capture_output=True, text=True, timeout=30)
    return frozenset(m + "_module" for m in re.findall(r"^\s+(?:mod_)?(\w+)\.c$", out.stdout,
                                                        re.M))


def apache_load_lines(fmods: frozenset[str]) -> str:
    static = apache_static_modules()
    wanted: list[str] = ["mpm_event", "authz_core"]
    for name in sorted(fmods):
        short = name.removesuffix("_module")
        if name in static or name in ("core_module", "http_module", "so_module"):
            continue
        if short.startswith("mpm_") and short != "mpm_event":
            continue
        if short == "authz_host":
            wanted.append("access_compat")   # 2.2's Order/Allow/Deny live here in 2.4
        if (MODDIR / f"mod_{short}.so").exists():
            wanted.append(short)
    done: list[str] = []

    def add(m: str) -> None:
        if m in done or not (MODDIR / f"mod_{m}.so").exists():
            return
        if m in _PREREQ:
            add(_PREREQ[m])
        done.append(m)

    for m in wanted[:2] + [m for m in _FIRST if m in wanted] + wanted[2:]:
        add(m)
    return "".join(f"LoadModule {m}_module {MODDIR}/mod_{m}.so\n" for m in done)


# ---------------------------------------------------------------- responses

@dataclass
class Resp:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    version: int = 11
    closed: bool = False             # the server closed the connection after it

    def header(self, name: str) -> str | None:
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None

    def text(self) -> str:
        return self.body.decode("latin-1")

    def __str__(self) -> str:
        head = "\n".join(f"  {k}: {v}" for k, v in self.headers)
        return f"{self.status} {self.reason}\n{head}\n  body={self.body[:400]!r}"


class _Buffer(io.BytesIO):
    def close(self) -> None:        # http.client closes its file after each body
        pass


class _FakeSock:
    def __init__(self, data: bytes) -> None:
        self._f = _Buffer(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self._f


def parse_responses(data: bytes, methods: list[str]) -> list[Resp]:
    """Split a byte stream into responses (one per method, as far as the data goes)."""
    out: list[Resp] = []
    fake = _FakeSock(data)
    for m in methods:
        if fake._f.tell() >= len(data):
            break
        r = http.client.HTTPResponse(fake, method=m)  # type: ignore[arg-type]
        r.begin()
        body = r.read() if m != "HEAD" else b""
        out.append(Resp(r.status, r.reason, list(r.getheaders()), body, r.version))
    return out


def exchange(port: int, raw: bytes, methods: list[str], timeout: float = 3.0) -> list[Resp]:
    """Send raw bytes; read until as many responses as methods arrived, or close, or a
    quiet period. Marks the last response ``closed`` when the server closed."""
    data = bytearray()
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                b = s.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            data += b
            if _complete(bytes(data), methods):
                # all answered: a short grace period tells a close from a kept connection
                deadline = min(deadline, time.monotonic() + 0.1)
    resps = parse_responses(bytes(data), methods)
    if resps:
        resps[-1].closed = closed and _complete(bytes(data), methods[:len(resps)])
    return resps


def _complete(data: bytes, methods: list[str]) -> bool:
    try:
        return len(parse_responses(data, methods)) == len(methods)
    except (http.client.HTTPException, ValueError):
        return False


# ---------------------------------------------------------------- servers

@dataclass
class Proc:
    name: str
    argv: list[str]
    port: int
    logdir: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    pids: set[int] = field(default_factory=set)

    def start(self, timeout: float = 20.0) -> None:
        out = open(self.logdir / "stdout.log", "wb")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=str(self.logdir),
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n"
                                   f"{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                self.pids = {self.proc.pid, *_descendants(self.proc.pid)}
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start listening:\n{self.output()}")

    def output(self) -> str:
        parts = []
        for f in ("stdout.log", "error_log"):
            p = self.logdir / f
            if p.exists():
                parts.append(p.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def error_log(self) -> str:
        p = self.logdir / "error_log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = self.pids | {self.proc.pid, *_descendants(self.proc.pid)}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 3
        for pid in sorted(pids - {self.proc.pid}):     # children that outlived the parent
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def apache_load_modules(modules: Iterable[str]) -> str:
    """``LoadModule`` lines for exactly ``modules`` (short names, in this order: "mpm_prefork",
    "authz_core", "mime"), for a test that picks its own set (Pair loads featherd's)."""
    return "".join(f"LoadModule {m}_module {MODDIR}/mod_{m}.so\n" for m in modules)


def apache_server(d: Path, modules: Iterable[str], body: str,
                  port: int | None = None) -> Proc:
    """A lone apache2 (a test that runs featherd its own way): writes ``d``/httpd.conf with
    ServerRoot ``d``, Listen on a free loopback port (or ``port``, for a body that names
    it), the ``LoadModule`` lines of ``modules``, a Mutex, PidFile and ErrorLog in ``d``,
    then ``body`` (ServerName, DocumentRoot and the rest); returns the Proc, not started
    (``start()``, ``stop()``, ``port``, ``error_log()``)."""
    d.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = d / "httpd.conf"
    conf.write_text(f'ServerRoot "{d}"\nListen 127.0.0.1:{port}\n' + apache_load_modules(modules)
                    + f'Mutex file:{d} default\nPidFile "{d}/httpd.pid"\n'
                    + f'ErrorLog "{d}/error_log"\n' + body)
    return Proc("apache2", [APACHE, "-d", str(d), "-f", str(conf), "-DFOREGROUND"], port, d)


class Pair:
    """featherd and apache2 on one configuration body and one document root."""

    def __init__(self, body: str, files: dict[str, str | bytes], dirs: tuple[str, ...] = ()):
        self.root = Path(tempfile.mkdtemp(prefix="featherd-compat-"))
        os.chmod(self.root, 0o755)          # apache2's child runs as www-data when root
        self.docroot = self.root / "htdocs"
        self.docroot.mkdir()
        for d in dirs:
            (self.docroot / d).mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            p = self.docroot / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
        for p in [self.docroot, *self.docroot.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        mtime = time.time() - 3600          # the same, settled, mtime for every file
        for p in self.docroot.rglob("*"):
            os.utime(p, (mtime, mtime))
        self.body = body.replace("@DOCROOT@", str(self.docroot)).replace("@ROOT@",
                                                                          str(self.root))
        self.featherd = self._featherd()
        self.apache = self._apache()

    def _common(self, port: int, logs: Path) -> str:
        return textwrap.dedent(f"""\
            Listen 127.0.0.1:{port}
            ServerName {HOST}
            ServerAdmin webmaster@{HOST}
            DocumentRoot "{self.docroot}"
            ErrorLog "{logs}/error_log"
            LogLevel debug
            PidFile "{logs}/httpd.pid"
            LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
            CustomLog "{logs}/access_log" common
            ServerSignature Off
            <IfModule mime_module>
            TypesConfig {MIME_TYPES}
            </IfModule>
            """)

    def _featherd(self) -> Proc:
        d = self.root / "featherd"
        d.mkdir()
        port = free_port()
        conf = d / "httpd.conf"
        conf.write_text(self._common(port, d) + textwrap.dedent("""\
            <IfModule mpm_event_module>
            StartServers 1
            </IfModule>
            """) + self.body)
        argv = [sys.executable, "-m", "featherd", "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
        return Proc("featherd", argv, port, d, env=featherd_env())

    def _apache(self) -> Proc:
        d = self.root / "apache2"
        d.mkdir()
        port = free_port()
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        conf = d / "httpd.conf"
        conf.write_text(f"ServerRoot \"{d}\"\n" + apache_load_lines(featherd_modules()) + user
                        + f"Mutex file:{d} default\n" + textwrap.dedent("""\
            StartServers 1
            ServerLimit 1
            ThreadLimit 16
            ThreadsPerChild 16
            MaxRequestWorkers 16
            MinSpareThreads 1
            MaxSpareThreads 16
            """) + self._common(port, d) + self.body)
        argv = [APACHE, "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
        return Proc("apache2", argv, port, d)

    def start(self) -> Pair:
        self.apache.start()
        try:
            self.featherd.start()
        except RuntimeError:
            self.apache.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.featherd.stop()
        finally:
            self.apache.stop()
            shutil.rmtree(self.root, ignore_errors=True)

    def both(self, raw: bytes | str, methods: list[str] | None = None
             ) -> tuple[list[Resp], list[Resp]]:
        """Send the same raw request(s) to featherd and apache2."""
        if isinstance(raw, str):
            raw = raw.encode("latin-1")
        if methods is None:
            methods = [raw.split(b" ", 1)[0].decode("latin-1")]
        with ThreadPoolExecutor(2) as ex:            # both at once: half the waiting
            fut = ex.submit(exchange, self.apache.port, raw, methods)
            mine = exchange(self.featherd.port, raw, methods)
            return mine, fut.result()

    def one(self, raw: bytes | str, method: str | None = None) -> tuple[Resp, Resp]:
        f, a = self.both(raw, [method] if method else None)
        assert f, f"featherd sent no (parsable) response to {raw!r}"
        assert a, f"apache2 sent no (parsable) response to {raw!r}"
        return f[0], a[0]


def req(method: str, target: str, *headers: str, version: str = "HTTP/1.1",
        host: str | None = HOST, body: bytes | str = b"") -> bytes:
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += headers
    b = body.encode("latin-1") if isinstance(body, str) else body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + b


# ---------------------------------------------------------------- comparison

_SIG = re.compile(r"<address>(.*?) Server at ")


def normalise_page(text: str) -> str:
    """Take the server's product token out of a signature line."""
    return _SIG.sub("<address>SERVER Server at ", text)


def apache22_page(text24: str, status: int, method: str, uri: str) -> str:
    """The 2.2 wording of a 2.4.68 error page (see ALLOWED_22)."""
    u = html.escape(uri, quote=True)
    m = html.escape(method, quote=True)
    t = text24.replace(DOCTYPE_24, DOCTYPE_22)
    subs = {
        403: ("You don't have permission to access this resource.",
              f"You don't have permission to access {u}\non this server."),
        404: ("The requested URL was not found on this server.",
              f"The requested URL {u} was not found on this server."),
        405: (f"The requested method {m} is not allowed for this URL.",
              f"The requested method {m} is not allowed for the URL {u}."),
        501: (f"{m} not supported for current URL.", f"{m} to {u} not supported."),
    }
    if status in subs:
        t = t.replace(*subs[status])
    if status in REASONS_22:
        t = t.replace(f"<title>{status} {REASONS_24[status]}</title>",
                      f"<title>{status} {REASONS_22[status]}</title>")
        t = t.replace(f"<h1>{REASONS_24[status]}</h1>", f"<h1>{REASONS_22[status]}</h1>")
    return t


def is_error_page(r: Resp) -> bool:
    return (r.header("Content-Type") or "").startswith("text/html; charset=iso-8859-1") \
        and r.status >= 300 and b"<title>" in r.body


def multipart_parts(r: Resp) -> tuple[str, list[tuple[list[str], bytes]]] | None:
    ct = r.header("Content-Type") or ""
    m = re.match(r"multipart/byteranges; boundary=(\S+)$", ct)
    if not m:
        return None
    boundary = m.group(1).encode()
    parts = []
    for chunk in r.body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        parts.append((sorted(head.decode("latin-1").split("\r\n")), data))
    return "multipart/byteranges", parts


def _without_default_type(mp: tuple[str, list[tuple[list[str], bytes]]]
                          ) -> tuple[str, list[tuple[list[str], bytes]]]:
    return mp[0], [([h for h in head if h.lower() != "content-type: text/plain"], data)
                   for head, data in mp[1]]


def _methods(v: str | None) -> list[str]:
    return [m.strip() for m in (v or "").split(",") if m.strip()]


def compare(f: Resp, a: Resp, uri: str = "/", method: str = "GET",
            headers: tuple[str, ...] = KEY_HEADERS, body: bool = True,
            etag: bool = True, connection: bool = False) -> list[str]:
    """Differences between featherd's response ``f`` and apache2's ``a`` (empty: same).

    Connection and Keep-Alive are compared only with ``connection=True`` (the keep-alive
    tests and the statuses that drop the connection), so that one keep-alive difference
    does not hide the others."""
    diffs: list[str] = []
    if not connection:
        headers = tuple(h for h in headers if h not in ("Connection", "Keep-Alive"))
    if f.status != a.status:
        diffs.append(f"status: featherd {f.status}, apache2 {a.status}")
    elif f.reason != a.reason and f.reason != REASONS_22.get(f.status):
        diffs.append(f"reason phrase: featherd {f.reason!r}, apache2 {a.reason!r}")
    error_page = is_error_page(a)
    f_text = normalise_page(f.text())
    a_text = normalise_page(a.text())
    a22 = apache22_page(a_text, a.status, method, uri) if error_page else a_text
    page_22 = error_page and f_text == a22 and f_text != a_text
    mp_f, mp_a = multipart_parts(f), multipart_parts(a)
    for h in headers:
        fv, av = f.header(h), a.header(h)
        if h == "Content-Length" and fv != av:
            if page_22 and fv == str(len(f.body)):
                continue                                # ALLOWED_22["error-length"]
            if mp_f and mp_a and fv == str(len(f.body)) and av == str(len(a.body)):
                continue                                # boundaries differ in length
        if h == "Content-Type" and fv != av:
            if av is None and fv == "text/plain":
                continue                                # ALLOWED_22["default-type"]
            if mp_f and mp_a:
                continue                                # boundaries are random
        if h in ("Connection", "Keep-Alive") and fv and av:
            fv, av = fv.lower(), av.lower()
        if h == "Allow" and fv != av and fv is not None and av is not None \
                and sorted(_methods(fv)) == sorted(_methods(av)):
            continue                                    # ALLOWED_22["allow-order"]
        if a.status == 304 and fv is None and h.lower() not in NOT_MODIFIED_22:
            continue                                    # ALLOWED_22["304-headers"]
        if fv != av:
            diffs.append(f"{h}: featherd {fv!r}, apache2 {av!r}")
    if etag and (f.header("ETag") is None) != (a.header("ETag") is None):
        diffs.append(f"ETag presence: featherd {f.header('ETag')!r}, "
                     f"apache2 {a.header('ETag')!r}")
    if body:
        if mp_f or mp_a:
            if mp_f and mp_a and mp_f != mp_a and \
                    not any(h.lower().startswith("content-type") for p in mp_a[1] for h in p[0]):
                mp_f = _without_default_type(mp_f)      # ALLOWED_22["default-type"]
            if mp_f != mp_a:
                diffs.append(f"multipart parts: featherd {mp_f!r}, apache2 {mp_a!r}")
        elif f_text != a_text and not page_22:
            diffs.append(f"body: featherd {f.body[:600]!r}, apache2 {a.body[:600]!r}"
                         + (f" (2.2 form: {a22[:600]!r})" if error_page else ""))
    return diffs


def assert_same(f: Resp, a: Resp, **kw: object) -> None:
    diffs = compare(f, a, **kw)  # type: ignore[arg-type]
    assert not diffs, ("featherd differs from apache2:\n  " + "\n  ".join(diffs)
                       + f"\n--- featherd:\n{f}\n--- apache2:\n{a}")
