"""The same protected tree served by Debian's apache2 and by featherd answers each user,
password and path with the same status (skipped when apache2 is absent)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import apache_available, apache_server  # noqa: E402

APACHE_MODULES = ("mpm_prefork", "authz_core", "authz_host", "authz_user", "authz_groupfile",
                  "authn_core", "authn_file", "auth_basic", "access_compat")

pytestmark = [
    pytest.mark.skipif(apache_available(APACHE_MODULES) is not None,
                       reason=f"Debian's apache2: {apache_available(APACHE_MODULES)}"),
    pytest.mark.skipif(not shutil.which("htpasswd"), reason="apache2-utils not installed"),
]

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

    apache = apache_server(tmp_path / "apache", APACHE_MODULES,
                           f"ServerName localhost\nDocumentRoot {d}\n" + common)
    apache.start()
    aport = apache.port
    try:
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
        apache.stop()
