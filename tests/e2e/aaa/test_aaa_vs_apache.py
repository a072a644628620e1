"""The same protected tree served by Debian's apache2 and by featherd answers each user,
password and path with the same status (skipped when apache2 is absent)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from tests_aaa_helpers import free_port  # type: ignore[import-not-found]

APACHE = "/usr/sbin/apache2"
MODS = "/usr/lib/apache2/modules"

pytestmark = pytest.mark.skipif(not (os.path.exists(APACHE) and shutil.which("htpasswd")),
                                reason="Debian's apache2/apache2-utils not installed")

SECTIONS = """
<Directory {d}/valid>
  Require valid-user
</Directory>
<Directory {d}/users>
  Require user bob carol
</Directory>
<Directory {d}/group>
  Require group admins
</Directory>
<Directory {d}/any>
  Order deny,allow
  Deny from all
  Allow from 127.0.0.1
  Satisfy Any
  Require valid-user
</Directory>
<Directory {d}/anyfail>
  Order deny,allow
  Deny from all
  Allow from 10.0.0.0/8
  Satisfy Any
  Require valid-user
</Directory>
<Directory {d}/all>
  Order allow,deny
  Allow from 127.0.0.1
  Satisfy All
  Require valid-user
</Directory>
<Directory {d}/denied>
  Order allow,deny
  Allow from 10.1
  Satisfy All
  Require valid-user
</Directory>
<Directory {d}/granted>
  Require all granted
</Directory>
<Directory {d}/nobody>
  Require all denied
</Directory>
<Directory {d}/ipuser>
  Require ip 10.0.0.0/8
  Require user carol
</Directory>
<Directory {d}/reqall>
  <RequireAll>
    Require ip 127.0.0.1
    Require user bob
  </RequireAll>
</Directory>
<Directory {d}/limit>
  <Limit POST>
    Require valid-user
  </Limit>
</Directory>
"""
PATHS = ["valid", "users", "group", "any", "anyfail", "all", "denied", "granted", "nobody",
         "ipuser", "reqall", "limit"]


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def test_same_statuses_as_apache(tmp_path: Path, make_server) -> None:
    d = tmp_path / "tree"
    for p in PATHS:
        (d / p).mkdir(parents=True)
        (d / p / "f.txt").write_text(p)
    pw = tmp_path / "pw"
    subprocess.run(["htpasswd", "-cbB", "-C", "4", str(pw), "alice", "a1"], check=True,
                   capture_output=True)
    for user, flag, p in (("bob", "-bm", "b2"), ("carol", "-bs", "c3"), ("dave", "-bd", "d4")):
        subprocess.run(["htpasswd", flag, str(pw), user, p], check=True, capture_output=True)
    (tmp_path / "groups").write_text("admins: alice dave\n")
    common = (f"<Directory {d}>\n  AuthType Basic\n  AuthName cmp\n  AuthUserFile {pw}\n"
              f"  AuthGroupFile {tmp_path}/groups\n</Directory>\n"
              + SECTIONS.format(d=d))

    aport = free_port()
    adir = tmp_path / "apache"
    adir.mkdir()
    mods = ["mpm_prefork", "authz_core", "authz_host", "authz_user", "authz_groupfile",
            "authn_core", "authn_file", "auth_basic", "access_compat"]
    aconf = adir / "httpd.conf"
    aconf.write_text(
        f"ServerRoot {adir}\nServerName localhost\nMutex file:{adir}\nPidFile {adir}/pid\n"
        f"ErrorLog {adir}/error_log\nListen 127.0.0.1:{aport}\nDocumentRoot {d}\n"
        + "".join(f"LoadModule {m}_module {MODS}/mod_{m}.so\n" for m in mods)
        + common)
    proc = subprocess.Popen([APACHE, "-f", str(aconf), "-DFOREGROUND"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # prefork signals its process group
    try:
        _wait(aport, proc)
        srv = make_server(f"DocumentRoot {d}\n" + common)
        creds = [None, ("alice", "a1"), ("bob", "b2"), ("carol", "c3"), ("dave", "d4"),
                 ("bob", "wrong"), ("zed", "x")]
        diffs = []
        for p in PATHS:
            for method in ("GET", "POST") if p == "limit" else ("GET",):
                for c in creds:
                    a = requests.request(method, f"http://127.0.0.1:{aport}/{p}/f.txt", auth=c,
                                         timeout=10)
                    f = requests.request(method, srv.url(f"/{p}/f.txt"), auth=c, timeout=10)
                    if a.status_code != f.status_code:
                        diffs.append((p, method, c, a.status_code, f.status_code))
                    if a.status_code == 401:
                        assert f.headers.get("WWW-Authenticate") == \
                            a.headers.get("WWW-Authenticate")
        assert not diffs, diffs
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
