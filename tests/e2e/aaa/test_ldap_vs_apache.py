"""The same LDAP-protected tree served by Debian's apache2 (mod_ldap + mod_authnz_ldap)
and by featherd, both against one real slapd: every user, password and Require type
gets the same status (skipped when apache2, its LDAP modules or slapd are missing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import apache_available, apache_server  # noqa: E402
from ldap_testlib import BASE, SKIP_REASON, Slapd, available  # noqa: E402

APACHE_MODULES = ("mpm_prefork", "authz_core", "authz_user", "authn_core", "auth_basic",
                  "ldap", "authnz_ldap")
pytestmark = [
    pytest.mark.skipif(not available(), reason=SKIP_REASON),
    pytest.mark.skipif(apache_available(APACHE_MODULES) is not None,
                       reason="Debian's apache2 with mod_ldap/mod_authnz_ldap: "
                              f"{apache_available(APACHE_MODULES)}"),
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


def test_same_statuses_as_apache(tmp_path: Path, make_server) -> None:
    s = Slapd()
    d = tmp_path / "tree"
    for name in SECTIONS:
        (d / name).mkdir(parents=True)
        (d / name / "f.txt").write_text(name)
    apache = apache_server(tmp_path / "apache", APACHE_MODULES,
                           f"ServerName localhost\nLogLevel debug\nDocumentRoot {d}\n"
                           + _conf(s.url, d))
    try:
        apache.start()
        aport = apache.port
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
        apache.stop()
        s.cleanup()
