"""The same LDAP-protected tree served by Debian's apache2 (mod_ldap + mod_authnz_ldap)
and by featherd, both against one real slapd: every user, password and Require type
gets the same status (skipped when apache2, its LDAP modules or slapd are missing)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from featherd_testlib import free_port  # noqa: E402
from ldap_testlib import BASE, SKIP_REASON, Slapd, available  # noqa: E402

APACHE = "/usr/sbin/apache2"
MODS = "/usr/lib/apache2/modules"
pytestmark = [
    pytest.mark.skipif(not available(), reason=SKIP_REASON),
    pytest.mark.skipif(not (os.path.exists(APACHE)
                            and os.path.exists(f"{MODS}/mod_authnz_ldap.so")),
                       reason="Debian's apache2 with mod_ldap/mod_authnz_ldap not installed"),
]

PEOPLE = f"ou=People,{BASE}"
GROUPS = f"ou=Groups,{BASE}"
SECTIONS = {
    "valid": ("?uid", "Require valid-user"),
    "user": ("?uid", "Require ldap-user alice carol"),
    "usercn": ("?cn", 'Require ldap-user "Alice Smith"'),
    "group": ("?uid", f"Require ldap-group cn=admins,{GROUPS}"),
    "ugroup": ("?uid", f"Require ldap-group cn=staff,{GROUPS}"),
    "posix": ("?uid", f"AuthLDAPGroupAttribute memberUid\nAuthLDAPGroupAttributeIsDN off\n"
                      f"Require ldap-group cn=devs,{GROUPS}"),
    "dn": ("?uid", f"Require ldap-dn uid=bob,{PEOPLE}"),
    "attr": ("?uid", "Require ldap-attribute employeeType=active"),
    "attr2": ("?uid", 'Require ldap-attribute l="San Jose"'),
    "filter": ("?uid", "Require ldap-filter &(mobile=*)(departmentNumber=marketing)"),
    "one": ("?uid?one", "Require valid-user"),
    "urlfilter": ("?uid??(employeeType=active)", "Require valid-user"),
    "twoattrs": ("?uid,mail", "Require ldap-user bob\nRequire ldap-dn uid=carol," + PEOPLE),
}
CREDS = [None, ("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw"),
         ("erin", "erinpw"), ("alice", "wrong"), ("zed", "x"), ("twin", "twinpw"),
         ("Babs", "alicepw"), ("al*", "alicepw")]


def _conf(url: str, d: Path) -> str:
    out = ""
    for name, (suffix, req) in SECTIONS.items():
        out += (f"<Directory {d}/{name}>\n  AuthType Basic\n  AuthName cmp\n"
                f"  AuthBasicProvider ldap\n  AuthLDAPURL \"{url}/{PEOPLE}{suffix}\"\n"
                + "".join(f"  {line}\n" for line in req.split("\n")) + "</Directory>\n")
    return out


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("apache2 exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("apache2 did not start")


def test_same_statuses_as_apache(tmp_path: Path, make_server) -> None:
    s = Slapd()
    d = tmp_path / "tree"
    for name in SECTIONS:
        (d / name).mkdir(parents=True)
        (d / name / "f.txt").write_text(name)
    aport = free_port()
    adir = tmp_path / "apache"
    adir.mkdir()
    mods = ["mpm_prefork", "authz_core", "authz_user", "authn_core", "auth_basic", "ldap",
            "authnz_ldap"]
    (adir / "httpd.conf").write_text(
        f"ServerRoot {adir}\nServerName localhost\nMutex file:{adir}\nPidFile {adir}/pid\n"
        f"ErrorLog {adir}/error_log\nLogLevel debug\nListen 127.0.0.1:{aport}\n"
        f"DocumentRoot {d}\n"
        + "".join(f"LoadModule {m}_module {MODS}/mod_{m}.so\n" for m in mods)
        + _conf(s.url, d))
    proc = subprocess.Popen([APACHE, "-f", str(adir / "httpd.conf"), "-DFOREGROUND"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait(aport, proc)
        srv = make_server(f"StartServers 1\nDocumentRoot {d}\n" + _conf(s.url, d))
        diffs = []
        for name in SECTIONS:
            for c in CREDS:
                a = requests.get(f"http://127.0.0.1:{aport}/{name}/f.txt", auth=c, timeout=10)
                f = requests.get(srv.url(f"/{name}/f.txt"), auth=c, timeout=10)
                if a.status_code != f.status_code:
                    diffs.append((name, c, a.status_code, f.status_code))
                elif a.status_code == 401:
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
        s.cleanup()
