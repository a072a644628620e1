#!/usr/bin/env python3
"""featherd next to apache2 (and nginx where it makes sense) beyond static files.

    python bench/scenarios.py                       # every scenario, 5 s measured each
    python bench/scenarios.py --scenario rewrite,gzip --duration 10
    python bench/scenarios.py --list

Scenarios (issue numbers of the open benchmark issues):

  workers      1 KiB file, keep-alive, one worker process per CPU, no pinning      (3)
  ab-ceiling   featherd-ab vs Debian's ab, against nginx (or apache2), then featherd (3)
  rewrite      static file reached through a 10-rule CMS .htaccess (AllowOverride)  (5)
  auth-bcrypt  Basic auth, 1,000-user htpasswd, bcrypt cost 5, keep-alive           (6)
  auth-apr1    the same with $apr1$ (MD5-crypt) hashes                               (6)
  cgi          hello-world /bin/sh CGI through ScriptAlias                          (7)
  ssi          .shtml page: echo, include virtual x3, flastmod, set/if              (7)
  gzip         100 KiB text file through mod_deflate, Accept-Encoding: gzip         (7)

Each server gets the same configuration body (one file per server in a temporary
directory, free loopback ports), is checked with one request, warmed up, then loaded by
wrk (bench/run.py's helpers: Server, wrk, Result, CPU accounting from /proc, clean-up
by PID). Prints req/s, the server's CPU µs/request, p50/p99 latency and the ratio
featherd/apache2, then a Markdown summary table of every row.
"""

from __future__ import annotations

import argparse
import http.client
import os
import pstats
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as lib  # noqa: E402  (bench/run.py)

REPO = lib.REPO
SRC = lib.SRC
NCPU = os.cpu_count() or 1
AB = shutil.which("ab") or "/usr/bin/ab"
HOST = "bench.local"

# apache2 modules every configuration here loads (plus the scenario's own)
APACHE_BASE_MODS = ["authz_core", "mime", "dir"]   # log_config is built in


# ---------------------------------------------------------------- configurations

@dataclass
class Target:
    """One server to measure: its label in the tables and its (not yet started) Server,
    or the reason it is skipped."""
    label: str
    kind: str                          # featherd | apache2 | nginx
    server: lib.Server | str
    conf: Path | None = None


@dataclass
class Plan:
    name: str
    title: str
    issue: int
    path: str
    check: Callable[[int, dict[str, str], bytes], str | None]
    targets: list[Target] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    pin: bool = True
    goal: float | None = None          # featherd/apache2 req/s the issue asks for
    notes: list[str] = field(default_factory=list)


def slug(label: str) -> str:
    """A target's directory name under the scenario's root."""
    return re.sub(r"[^A-Za-z0-9+_-]+", "_", label).strip("_")


def base_lines(port: int, docroot: Path) -> str:
    return textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        ServerName {HOST}
        DocumentRoot {docroot}
        ErrorLog logs/error_log
        LogLevel warn
        PidFile logs/httpd.pid
        KeepAlive On
        MaxKeepAliveRequests 0
        EnableSendfile On
        TypesConfig {lib.MIME_TYPES}
        LogFormat {lib.COMMON_LOG} common
        CustomLog logs/access_log common
        <Directory />
        AllowOverride None
        </Directory>
        """)


def featherd_target(root: Path, label: str, docroot: Path, body: str,
                    workers: int = 1) -> Target:
    port = lib.free_port()
    d = root / slug(label)
    (d / "logs").mkdir(parents=True)
    conf = d / "httpd.conf"
    conf.write_text(base_lines(port, docroot) + textwrap.dedent(f"""\
        StartServers {workers}
        ServerLimit {workers}
        MaxRequestsPerChild 0
        """) + body)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "featherd", "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    return Target(label, "featherd",
                  lib.Server("featherd", argv, port, env=env, cwd=str(d), log=d / "stdout.log"),
                  conf)


APACHE_ONE_CHILD = """\
StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0
"""

# Debian's /etc/apache2/mods-available/mpm_event.conf
APACHE_DEBIAN_EVENT = """\
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
"""


# enough children for every wrk connection (keep-alive holds one child per connection)
APACHE_PREFORK = """\
StartServers 48
MinSpareServers 48
MaxSpareServers 64
ServerLimit 64
MaxRequestWorkers 64
MaxConnectionsPerChild 0
"""


def apache_target(root: Path, label: str, docroot: Path, body: str, mods: list[str],
                  mpm: str = "event", mpm_conf: str = APACHE_ONE_CHILD) -> Target:
    if not os.path.exists(lib.APACHE):
        return Target(label, "apache2", f"{lib.APACHE} not found (apt-get install -y apache2)")
    allmods = [f"mpm_{mpm}", *APACHE_BASE_MODS, *mods]
    missing = [m for m in allmods if not (lib.APACHE_MODULES / f"mod_{m}.so").exists()]
    if missing:
        return Target(label, "apache2", f"apache2 modules missing: {', '.join(missing)}")
    port = lib.free_port()
    d = root / slug(label)
    (d / "logs").mkdir(parents=True)
    os.chmod(d / "logs", 0o777)        # cgid's socket, written by the www-data child
    load = "".join(f"LoadModule {m}_module {lib.APACHE_MODULES}/mod_{m}.so\n" for m in allmods)
    conf = d / "httpd.conf"
    conf.write_text(load + lib.user_lines("apache") + f"ServerRoot {d}\n"
                    + f"Mutex file:{d}/logs default\n" + base_lines(port, docroot)
                    + mpm_conf + body)
    argv = [lib.APACHE, "-d", str(d), "-f", str(conf), "-DFOREGROUND"]
    return Target(label, "apache2",
                  lib.Server("apache2", argv, port, cwd=str(d), log=d / "stdout.log"), conf)


def nginx_target(root: Path, label: str, docroot: Path, http_extra: str = "",
                 workers: int = 1) -> Target:
    nginx = next((p for p in lib.NGINX_CANDIDATES if os.path.exists(p)), None)
    if nginx is None:
        return Target(label, "nginx", "nginx not found (apt-get install -y nginx-light)")
    port = lib.free_port()
    d = root / slug(label)
    (d / "logs").mkdir(parents=True)
    (d / "tmp").mkdir()
    os.chmod(d / "tmp", 0o777)
    conf = d / "nginx.conf"
    temps = "".join(f"    {k}_temp_path {d}/tmp/{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(lib.user_lines("nginx") + textwrap.dedent(f"""\
        worker_processes {workers};
        error_log {d}/logs/error.log warn;
        pid {d}/logs/nginx.pid;
        events {{ worker_connections 1024; }}
        http {{
            types {{ text/plain txt; text/html html; application/octet-stream bin; }}
            default_type application/octet-stream;
            log_format common '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent';
            access_log {d}/logs/access.log common;
            sendfile on;
            keepalive_requests 100000000;
        """) + temps + textwrap.indent(http_extra, "    ") + textwrap.dedent(f"""\
            server {{
                listen 127.0.0.1:{port};
                server_name {HOST};
                root {docroot};
            }}
        }}
        """))
    argv = [nginx, "-p", str(d), "-c", str(conf), "-e", str(d / "logs" / "error.log"),
            "-g", "daemon off;"]
    return Target(label, "nginx",
                  lib.Server("nginx", argv, port, stop_signal=signal.SIGQUIT, cwd=str(d),
                             log=d / "stdout.log"), conf)


def make_docroot(root: Path) -> Path:
    docroot = root / "htdocs"
    docroot.mkdir()
    (docroot / lib.SMALL).write_bytes((b"featherd bench 1 KiB line.....\n" * 40)[:lib.SMALL_SIZE])
    return docroot


def chmod_tree(top: Path) -> None:
    """apache2's and nginx's workers run as www-data: everything readable."""
    for p in [top, *top.rglob("*")]:
        if p.is_dir() or os.access(p, os.X_OK):
            os.chmod(p, 0o755)
        else:
            os.chmod(p, 0o644)


def expect_body(want: bytes) -> Callable[[int, dict[str, str], bytes], str | None]:
    def check(status: int, headers: dict[str, str], body: bytes) -> str | None:
        if status != 200 or body != want:
            return f"status {status}, {len(body)} bytes (expected 200, {len(want)} bytes)"
        return None
    return check


# ---------------------------------------------------------------- scenarios

def plan_workers(root: Path, a: argparse.Namespace) -> Plan:
    docroot = make_docroot(root)
    chmod_tree(root)
    p = Plan("workers", f"1 KiB file, keep-alive, {NCPU} worker processes, not pinned", 3,
             f"/{lib.SMALL}", expect_body((docroot / lib.SMALL).read_bytes()), pin=False)
    p.notes.append(f"no pinning: wrk ({a.threads or 2} threads) shares the {NCPU} CPUs with "
                   "the server, so req/s is bounded by the box, not by the server alone")
    p.targets = [
        featherd_target(root, "featherd", docroot, "", workers=NCPU),
        apache_target(root, "apache2", docroot, "", [], mpm_conf=APACHE_DEBIAN_EVENT),
        nginx_target(root, "nginx", docroot, workers=NCPU),
    ]
    p.notes.append(f"featherd StartServers {NCPU}; apache2 mpm_event with Debian's "
                   f"mpm_event.conf (StartServers 2, ThreadsPerChild 25); nginx "
                   f"worker_processes {NCPU}")
    return p


HTACCESS = r"""# a CMS front controller (WordPress/Drupal-like), 10 rules
RewriteEngine On
RewriteBase /
# 1 canonical host
RewriteCond %{HTTP_HOST} ^www\.bench\.local$ [NC]
RewriteRule ^(.*)$ http://bench.local/$1 [R=301,L]
# 2 block query-string script injection
RewriteCond %{QUERY_STRING} (<|%3C).*script.*(>|%3E) [NC,OR]
RewriteCond %{QUERY_STRING} GLOBALS(=|\[|\%[0-9A-Z]{0,2}) [OR]
RewriteCond %{QUERY_STRING} _REQUEST(=|\[|\%[0-9A-Z]{0,2})
RewriteRule .* - [F,L]
# 3 hidden files
RewriteRule (^|/)\.(?!well-known/) - [F,L]
# 4 index.php in the URL
RewriteCond %{THE_REQUEST} ^[A-Z]{3,9}\ /index\.php/(.*)\ HTTP/ [NC]
RewriteRule ^index\.php/(.*)$ /$1 [R=301,L]
# 5 trailing slash on a non-directory
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^(.+)/$ /$1 [R=301,L]
# 6 old section moved
RewriteRule ^old-blog/(.*)$ /blog/$1 [R=301,L,NE]
# 7 cache-busting asset names: app.1234.txt -> app.txt
RewriteCond %{REQUEST_FILENAME} !-f
RewriteRule ^(.+)\.(\d+)\.(css|js|txt)$ $1.$3 [L]
# 8 feeds to the controller
RewriteRule ^feed/?$ index.php?feed=rss2 [QSA,L]
# 9 pass the Authorization header on
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
# 10 everything else that is not a file or directory goes to the front controller
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^ index.php [L]
"""


def plan_rewrite(root: Path, a: argparse.Namespace) -> Plan:
    docroot = make_docroot(root)
    (docroot / "assets").mkdir()
    body = (b"/* featherd bench asset */\n" * 40)[:lib.SMALL_SIZE]
    (docroot / "assets" / "app.txt").write_bytes(body)
    (docroot / "index.php").write_text("<?php /* front controller (not executed) */\n")
    (docroot / ".htaccess").write_text(HTACCESS)
    chmod_tree(root)
    conf = textwrap.dedent(f"""\
        <Directory {docroot}>
        Options FollowSymLinks
        AllowOverride All
        Require all granted
        </Directory>
        """)
    p = Plan("rewrite", "1 KiB static file behind a 10-rule .htaccess (AllowOverride All)", 5,
             "/assets/app.1234.txt", expect_body(body), goal=0.5)
    p.notes.append("GET /assets/app.1234.txt: rule 7 rewrites to assets/app.txt (per-dir "
                   "internal redirect), the second pass falls through rule 10 (-f)")
    p.targets = [featherd_target(root, "featherd", docroot, conf),
                 apache_target(root, "apache2", docroot, conf, ["rewrite"])]
    return p


AUTH_USER, AUTH_PASSWORD = "user0500", "secret-0500"
HTPASSWD_USERS = 1000


def write_htpasswd(path: Path, kind: str, n: int = 0) -> None:
    from featherd.support import passwords as pw

    lines = []
    for i in range(1, (n or HTPASSWD_USERS) + 1):
        user, secret = f"user{i:04d}", f"secret-{i:04d}"
        h = pw.bcrypt_encode(secret, 5) if kind == "bcrypt" else pw.apr_md5_encode(secret)
        lines.append(f"{user}:{h}\n")
    path.write_text("".join(lines))


def plan_auth(kind: str) -> Callable[[Path, argparse.Namespace], Plan]:
    def plan(root: Path, a: argparse.Namespace) -> Plan:
        if str(SRC) not in sys.path:
            sys.path.insert(0, str(SRC))
        docroot = make_docroot(root)
        (docroot / "private").mkdir()
        body = (docroot / lib.SMALL).read_bytes()
        (docroot / "private" / lib.SMALL).write_bytes(body)
        users = root / "htpasswd"
        write_htpasswd(users, kind)
        chmod_tree(root)

        def conf(cache: bool) -> str:
            provider = ("AuthBasicProvider socache file\nAuthnCacheProvideFor file\n"
                        if cache else "AuthBasicProvider file\n")
            return (("AuthnCacheSOCache shmcb\n" if cache else "") + textwrap.dedent(f"""\
                <Directory {docroot}/private>
                AuthType Basic
                AuthName "bench"
                AuthUserFile {users}
                """) + provider + "Require valid-user\n</Directory>\n")

        hashes = "bcrypt cost 5 ($2b$)" if kind == "bcrypt" else "$apr1$ MD5-crypt"
        p = Plan(f"auth-{kind}", f"Basic auth, 1,000-user htpasswd ({hashes}), keep-alive", 6,
                 f"/private/{lib.SMALL}", expect_body(body))
        import base64
        cred = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()
        p.headers = {"Authorization": f"Basic {cred}"}
        p.notes.append(f"every request: {AUTH_USER} (line 500 of 1,000). featherd remembers "
                       "verified passwords (passwords.VerifiedCache, keyed digest); apache2 "
                       "with mod_authn_socache (AuthnCacheSOCache shmcb, AuthBasicProvider "
                       "socache file) and without it (file only: one hash per request)")
        mods = ["auth_basic", "authn_core", "authn_file", "authz_user"]
        p.targets = [
            featherd_target(root, "featherd", docroot, conf(False)),
            apache_target(root, "apache2 (socache)", docroot, conf(True),
                          [*mods, "socache_shmcb", "authn_socache"]),
            apache_target(root, "apache2 (no cache)", docroot, conf(False), mods),
        ]
        return p
    return plan


CGI_SCRIPT = """\
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\nHello, world!\\n'
"""


def plan_cgi(root: Path, a: argparse.Namespace) -> Plan:
    docroot = make_docroot(root)
    cgibin = root / "cgi-bin"
    cgibin.mkdir()
    (cgibin / "hello.cgi").write_text(CGI_SCRIPT)
    os.chmod(cgibin / "hello.cgi", 0o755)
    chmod_tree(root)
    body = textwrap.dedent(f"""\
        ScriptAlias /cgi-bin/ {cgibin}/
        <Directory {cgibin}>
        Options +ExecCGI
        Require all granted
        </Directory>
        """)
    p = Plan("cgi", "hello-world /bin/sh CGI through ScriptAlias, keep-alive", 7,
             "/cgi-bin/hello.cgi", expect_body(b"Hello, world!\n"), goal=0.7)
    p.targets = [featherd_target(root, "featherd", docroot, body),
                 apache_target(root, "apache2 (event+cgid)", docroot,
                               f"ScriptSock {root / slug('apache2 (event+cgid)')}/logs/cgisock\n" + body,
                               ["alias", "cgid"]),
                 apache_target(root, "apache2 (prefork+cgi)", docroot, body,
                               ["alias", "cgi"], mpm="prefork", mpm_conf=APACHE_PREFORK)]
    p.notes.append("apache2: mpm_event + mod_cgid (the cgid daemon forks each script; one "
                   "child with 64 threads), and mpm_prefork + mod_cgi (48 children, the "
                   "child forks the script itself)")
    return p


SHTML = """\
<html><head><title><!--#echo var="DOCUMENT_NAME" --></title></head><body>
<!--#include virtual="/inc/header.html" -->
<!--#set var="section" value="news" -->
<!--#if expr="$section = news" -->
<p>Section: <!--#echo var="section" --></p>
<!--#elif expr="$section = blog" -->
<p>blog</p>
<!--#else -->
<p>other</p>
<!--#endif -->
<!--#include virtual="/inc/nav.html" -->
<p>Requested: <!--#echo var="DOCUMENT_URI" --></p>
<p>Last modified: <!--#flastmod file="index.shtml" --></p>
<!--#include virtual="/inc/footer.html" -->
</body></html>
"""


def plan_ssi(root: Path, a: argparse.Namespace) -> Plan:
    docroot = make_docroot(root)
    inc = docroot / "inc"
    inc.mkdir()
    (inc / "header.html").write_text("<header><h1>featherd bench</h1></header>\n")
    (inc / "nav.html").write_text("<nav><a href=/>home</a> <a href=/news/>news</a></nav>\n"
                                  * 4)
    (inc / "footer.html").write_text("<footer>(c) bench</footer>\n")
    (docroot / "index.shtml").write_text(SHTML)
    chmod_tree(root)
    body = textwrap.dedent(f"""\
        AddType text/html .shtml
        AddOutputFilter INCLUDES .shtml
        <Directory {docroot}>
        Options +Includes
        SSILegacyExprParser on
        Require all granted
        </Directory>
        """)

    def check(status: int, headers: dict[str, str], b: bytes) -> str | None:
        want = [b"<h1>featherd bench</h1>", b"Section: news", b"<footer>",
                b"Requested: /index.shtml", b"<title>index.shtml</title>"]
        missing = [w.decode() for w in want if w not in b]
        if status != 200 or missing or b"[an error occurred" in b or b"<!--#" in b:
            return f"status {status}; missing {missing}; body {b[:400]!r}"
        return None

    p = Plan("ssi", "SSI page: echo x3, include virtual x3, flastmod, set, if/elif/else", 7,
             "/index.shtml", check, goal=0.7)
    p.notes.append("apache2 2.4: SSILegacyExprParser on (2.2's expression syntax, as "
                   "featherd)")
    p.targets = [featherd_target(root, "featherd", docroot, body),
                 apache_target(root, "apache2", docroot, body, ["include"])]
    return p


WORDS = ("the server request response header module filter handler directory virtual host "
         "config apache python worker process thread socket buffer bucket brigade content "
         "length encoding gzip deflate static file cache log error access rewrite rule "
         "condition alias script include document root").split()


def text_100k() -> bytes:
    rnd = random.Random(20240601)
    out: list[str] = []
    size = 0
    while size < 100 * 1024:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))) + ".\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:100 * 1024]


def plan_gzip(root: Path, a: argparse.Namespace) -> Plan:
    docroot = make_docroot(root)
    text = text_100k()
    (docroot / "100k.txt").write_bytes(text)
    chmod_tree(root)
    body = textwrap.dedent(f"""\
        <Directory {docroot}>
        Require all granted
        SetOutputFilter DEFLATE
        </Directory>
        """)

    def check(status: int, headers: dict[str, str], b: bytes) -> str | None:
        enc = headers.get("content-encoding", "")
        if status != 200 or enc != "gzip":
            return f"status {status}, Content-Encoding {enc!r}"
        try:
            plain = zlib.decompress(b, 16 + zlib.MAX_WBITS)
        except zlib.error as e:
            return f"bad gzip body: {e}"
        return None if plain == text else "gzip body does not decompress to the file"

    p = Plan("gzip", "100 KiB text file, mod_deflate, Accept-Encoding: gzip", 7, "/100k.txt",
             check, headers={"Accept-Encoding": "gzip"})
    p.notes.append("zlib's default level (6) on all: DeflateCompressionLevel unset on "
                   "featherd/apache2, gzip_comp_level 6 on nginx (its own default is 1)")
    p.targets = [featherd_target(root, "featherd", docroot, body),
                 apache_target(root, "apache2", docroot, body, ["deflate", "filter"]),
                 nginx_target(root, "nginx", docroot,
                              "gzip on;\ngzip_comp_level 6;\ngzip_types text/plain;\n")]
    return p


def plan_ab(root: Path, a: argparse.Namespace) -> Plan:
    docroot = make_docroot(root)
    chmod_tree(root)
    p = Plan("ab-ceiling", "featherd-ab vs ab: requests/s each client reaches, 1 KiB", 3,
             f"/{lib.SMALL}", expect_body((docroot / lib.SMALL).read_bytes()))
    t = nginx_target(root, "nginx", docroot)
    if isinstance(t.server, str):
        t = apache_target(root, "apache2", docroot, "", [])
    # the fast target gives each client's ceiling; featherd (one worker) shows whether
    # featherd-ab is the bottleneck when it measures featherd on one core
    p.targets = [t, featherd_target(root, "featherd", docroot, "")]
    return p


PLANS: dict[str, Callable[[Path, argparse.Namespace], Plan]] = {
    "workers": plan_workers,
    "ab-ceiling": plan_ab,
    "rewrite": plan_rewrite,
    "auth-bcrypt": plan_auth("bcrypt"),
    "auth-apr1": plan_auth("apr1"),
    "cgi": plan_cgi,
    "ssi": plan_ssi,
    "gzip": plan_gzip,
}


# ---------------------------------------------------------------- measuring

def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": HOST, **headers})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def lua_for(plan: Plan, root: Path) -> Path:
    lua = root / f"{plan.name}.lua"
    hdr = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in plan.headers.items())
    lua.write_text(hdr + lib.WRK_LUA)
    return lua


def measure(srv: lib.Server, plan: Plan, a: argparse.Namespace, lua: Path,
            wrk_cpu: int | None) -> lib.Result:
    status, headers, body = fetch(srv.port, plan.path, plan.headers)
    err = plan.check(status, headers, body)
    if err:
        raise RuntimeError(f"{srv.name}: GET {plan.path}: {err}")
    if a.warmup > 0:
        lib.wrk(srv.port, plan.path, a.warmup, a.connections, a.threads, wrk_cpu, lua)
    c0 = srv.cpu()
    w = lib.wrk(srv.port, plan.path, a.duration, a.connections, a.threads, wrk_cpu, lua)
    c1 = srv.cpu()
    return lib.Result(requests=int(w["requests"]), bytes=int(w["bytes"]),
                      seconds=w["duration_us"] / 1e6,
                      errors=int(w["connect"] + w["read"] + w["write"] + w["timeout"]),
                      non2xx=int(w["status"]), cpu=c1 - c0,
                      lat_p50_ms=w["lat_p50_us"] / 1000, lat_p99_ms=w["lat_p99_us"] / 1000)


@dataclass
class Row:
    scenario: str
    label: str
    rps: float
    cpu_us: float
    p50: float
    p99: float
    errors: int = 0
    non2xx: int = 0
    ratio: str = ""
    cpu_ratio: str = ""
    target_cpu_us: float = float("nan")     # ab-ceiling: the target's CPU µs/request


def run_plan(plan: Plan, a: argparse.Namespace, root: Path) -> list[Row]:
    pinned = plan.pin and a.server_cpu is not None
    server_cpu, wrk_cpu = (a.server_cpu, a.wrk_cpu) if pinned else (None, None)
    threads = a.threads or (1 if pinned else 2)
    b = argparse.Namespace(**vars(a))
    b.threads = threads
    print(f"\n== {plan.name} (issue {plan.issue}): {plan.title}")
    print("   " + ("server on CPU 0, wrk on CPU 1 (taskset)" if pinned else
                  f"not pinned; wrk -t{threads} shares the box with the server"))
    for n in plan.notes:
        print(f"   note: {n}")
    lua = lua_for(plan, root)
    if a.profile:
        return profile_plan(plan, b, root, lua, server_cpu, wrk_cpu)
    results: dict[str, lib.Result] = {}
    for t in plan.targets:
        if isinstance(t.server, str):
            print(f"   skip {t.label}: {t.server}")
            continue
        srv = t.server
        try:
            srv.start(server_cpu)
        except RuntimeError as e:
            print(f"   skip {t.label}: failed to start: {e}")
            continue
        try:
            results[t.label] = measure(srv, plan, b, lua, wrk_cpu)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"   {t.label}: measurement failed: {e}")
        finally:
            srv.stop()
    print(f"   {'server':<22} {'req/s':>9} {'CPU µs/req':>11} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'non-2xx':>8}")
    for label, r in results.items():
        print(f"   {label:<22} {r.rps:>9.0f} {r.cpu_us:>11.1f} {r.lat_p50_ms:>8.2f} "
              f"{r.lat_p99_ms:>8.2f} {r.errors:>7} {r.non2xx:>8}")
    f = results.get("featherd")
    rows = []
    for label, r in results.items():
        row = Row(plan.name, label, r.rps, r.cpu_us, r.lat_p50_ms, r.lat_p99_ms, r.errors,
                  r.non2xx)
        if f is not None and label != "featherd":
            row.ratio = lib.ratio(f, r, lambda x: x.rps)
            row.cpu_ratio = lib.ratio(f, r, lambda x: x.cpu_us)
            goal = f" (target {plan.goal}x)" if plan.goal and label.startswith("apache2") \
                else ""
            print(f"   featherd/{label}: req/s {row.ratio}{goal}, CPU µs/req {row.cpu_ratio}")
        rows.append(row)
    return rows


def profile_plan(plan: Plan, a: argparse.Namespace, root: Path, lua: Path,
                 server_cpu: int | None, wrk_cpu: int | None) -> list[Row]:
    """featherd's target of the plan, again, under cProfile: top 25 by tottime."""
    t = next((t for t in plan.targets if t.kind == "featherd"), None)
    if t is None or isinstance(t.server, str) or t.conf is None:
        print("   no featherd target to profile")
        return []
    srv = t.server
    srv.argv = [sys.executable, "-m", "cProfile", "-o", str(t.conf.parent / "featherd.prof"),
                *srv.argv[1:], "-DONE_PROCESS"]
    srv.start(server_cpu)
    try:
        r = measure(srv, plan, a, lua, wrk_cpu)
    finally:
        srv.stop()
    print(f"   featherd under cProfile (-DONE_PROCESS): {r.rps:.0f} req/s, "
          f"{r.cpu_us:.1f} CPU µs/req, errors {r.errors}, non-2xx {r.non2xx}")
    prof = t.conf.parent / "featherd.prof"
    if not prof.exists():
        print(f"   no profile written; output:\n{srv.output()}")
        return []
    print("   top 25 by tottime (start-up, warm-up and measured load):")
    st = pstats.Stats(str(prof))
    st.strip_dirs().sort_stats("tottime").print_stats(25)
    print("   top 25 by cumulative time:")
    st.sort_stats("cumulative").print_stats(25)
    return []


# -- ab-ceiling ---------------------------------------------------------------------------

def run_client(argv: list[str], seconds: float,
               env: dict[str, str] | None = None) -> tuple[dict[str, float], float, str]:
    """Run one ab-like client; returns its parsed figures, its CPU seconds (the process
    and every child it waited for) and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures: dict[str, float] = {}
    for key, rx in (("rps", r"Requests per second:\s+([\d.]+)"),
                    ("complete", r"Complete requests:\s+(\d+)"),
                    ("failed", r"Failed requests:\s+(\d+)"),
                    ("non2xx", r"Non-2xx responses:\s+(\d+)"),
                    ("seconds", r"Time taken for tests:\s+([\d.]+)")):
        m = re.search(rx, out.stdout)
        if m:
            figures[key] = float(m.group(1))
    if "rps" not in figures:
        raise RuntimeError(f"{argv[0]}: no result (status {out.returncode}):\n"
                           f"{out.stdout[-1500:]}\n{out.stderr[-1500:]}")
    return figures, cpu, out.stdout


def run_ab(plan: Plan, a: argparse.Namespace, root: Path) -> list[Row]:
    print(f"\n== {plan.name} (issue {plan.issue}): {plan.title}")
    if not os.path.exists(AB):
        print("   skip: Debian's ab not found (apt-get install -y apache2-utils)")
        return []
    pinned = a.server_cpu is not None
    print("   featherd-ab with -c 32 runs one client process (one per 32 connections, at "
          "most one per CPU); both clients: -t DURATION -n 5000000"
          + ("; target on CPU 0, the client on CPU 1 (taskset)" if pinned else "; not pinned"))
    rows: list[Row] = []
    for t in plan.targets:
        if isinstance(t.server, str):
            print(f"   skip target {t.label}: {t.server}")
            continue
        rows += ab_against(plan, a, t, pinned)
    return rows


def ab_against(plan: Plan, a: argparse.Namespace, t: Target, pinned: bool) -> list[Row]:
    assert not isinstance(t.server, str)
    srv = t.server
    try:
        srv.start(a.server_cpu if pinned else None)
    except RuntimeError as e:
        print(f"   skip target {t.label}: failed to start: {e}")
        return []
    rows: list[Row] = []
    pin = [lib.TASKSET, "-c", str(a.wrk_cpu)] if pinned and lib.TASKSET else []
    fab = [sys.executable, "-m", "featherd.support.ab"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    print(f"   target {t.label} (1 worker process), 1 KiB:")
    try:
        status, headers, body = fetch(srv.port, plan.path, {})
        err = plan.check(status, headers, body)
        if err:
            raise RuntimeError(f"{t.label}: {err}")
        url = f"http://127.0.0.1:{srv.port}{plan.path}"
        secs = max(1, round(a.duration))
        print(f"   {'client':<34} {'req/s':>9} {'client CPU µs/req':>18} "
              f"{'target CPU µs/req':>18} {'failed':>7}")
        for ka in (True, False):
            per: dict[str, float] = {}
            for name, cmd in (("ab", [AB]), ("featherd-ab", fab)):
                argv = [*pin, *cmd, *(["-k"] if ka else []), "-c", "32", "-t", str(secs),
                        "-n", "5000000", url]
                c0 = srv.cpu()
                fig, ccpu, _ = run_client(argv, secs, env)
                c1 = srv.cpu()
                n = fig.get("complete", 0) or 1
                label = f"{name} {'-k ' if ka else ''}-c 32 -> {t.label}"
                print(f"   {label:<34} {fig['rps']:>9.0f} {ccpu / n * 1e6:>18.1f} "
                      f"{(c1 - c0) / n * 1e6:>18.1f} {int(fig.get('failed', 0)):>7}")
                per[name] = fig["rps"]
                rows.append(Row(plan.name, label, fig["rps"], ccpu / n * 1e6, float("nan"),
                                float("nan"), int(fig.get("failed", 0)),
                                int(fig.get("non2xx", 0)),
                                target_cpu_us=(c1 - c0) / n * 1e6))
            r = per["featherd-ab"] / per["ab"] if per.get("ab") else float("nan")
            rows[-1].ratio = f"{r:.3f}"
            print(f"   featherd-ab/ab {'with' if ka else 'without'} -k -> {t.label}: {r:.3f}")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"   measurement failed: {e}")
    finally:
        srv.stop()
    return rows


# ---------------------------------------------------------------- main

def print_summary(rows: list[Row]) -> None:
    print("\nSummary (Markdown):\n")
    plain = [r for r in rows if r.scenario != "ab-ceiling"]
    if plain:
        print("| scenario | server | req/s | CPU µs/req | p50 ms | p99 ms | featherd/x req/s "
              "| featherd/x CPU µs/req |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in plain:
            bad = f" ({r.errors} err, {r.non2xx} non-2xx)" if r.errors or r.non2xx else ""
            print(f"| {r.scenario} | {r.label}{bad} | {r.rps:.0f} | {r.cpu_us:.1f} "
                  f"| {r.p50:.2f} | {r.p99:.2f} | {r.ratio} | {r.cpu_ratio} |")
    ab = [r for r in rows if r.scenario == "ab-ceiling"]
    if ab:
        print("\n| client -> target | req/s | client CPU µs/req | target CPU µs/req "
              "| featherd-ab/ab req/s |")
        print("|---|---:|---:|---:|---:|")
        for r in ab:
            bad = f" ({r.errors} failed)" if r.errors else ""
            print(f"| {r.label}{bad} | {r.rps:.0f} | {r.cpu_us:.1f} | {r.target_cpu_us:.1f} "
                  f"| {r.ratio} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="all",
                   help="comma-separated scenario names, or all (default)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--duration", type=int, default=5, help="measured seconds per run")
    p.add_argument("--warmup", type=int, default=1, help="warm-up seconds per run (0: none)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=0,
                   help="wrk threads (default 1 when pinned, 2 when not)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--profile", action="store_true",
                   help="run only featherd, under cProfile, and print its top 25 functions")
    a = p.parse_args(argv)
    if a.list:
        for line in (__doc__ or "").splitlines():
            if line[:2] == "  " and line.split()[0] in PLANS:
                print(line.strip())
        return 0
    names = list(PLANS) if a.scenario == "all" else [
        s.strip() for s in a.scenario.split(",") if s.strip()]
    bad = [n for n in names if n not in PLANS]
    if bad:
        p.error(f"unknown scenario(s): {', '.join(bad)} (see --list)")
    if not os.path.exists(lib.WRK):
        print("wrk not found (apt-get install -y wrk)")
        return 2
    pin = lib.pinning(a)
    print(f"featherd scenarios: {', '.join(names)}; {a.warmup} s warm-up + {a.duration} s "
          f"measured per run, {a.connections} wrk connections; {pin}")
    print(f"Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f} "
          f"({time.strftime('%Y-%m-%d %H:%M')}); the box may be shared: CPU µs/request "
          "moves least")
    rows: list[Row] = []
    top = Path(tempfile.mkdtemp(prefix="featherd-scen-"))
    os.chmod(top, 0o755)
    try:
        for name in names:
            root = top / name
            root.mkdir()
            plan = PLANS[name](root, a)
            if name == "ab-ceiling" and a.profile:
                print("\n== ab-ceiling: nothing to profile (it measures the clients)")
                continue
            rows += (run_ab if name == "ab-ceiling" else run_plan)(plan, a, root)
    finally:
        if a.keep:
            print(f"kept {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    if rows:
        print_summary(rows)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0 if rows or a.profile else 1


if __name__ == "__main__":
    raise SystemExit(main())
