"""suEXEC (manual: "suEXEC Support", mod_suexec): scripts run as the SuexecUserGroup
identity after suexec's checks, with a cleaned environment; only when featherd serves
requests as root (skipped otherwise)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="suEXEC needs root")

try:
    NOBODY = pwd.getpwnam("nobody")
except KeyError:  # pragma: no cover - every Debian has it
    NOBODY = None

SCRIPT = """#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "uid=$(id -u) gid=$(id -g) path=$PATH custom=${CUSTOM-unset} x=${HTTP_X_TEST-unset}"
"""


@pytest.fixture
def docroot() -> Iterator[Path]:
    """A document root outside the 0700 pytest directory, so that nobody can reach it."""
    d = Path(tempfile.mkdtemp(prefix="featherd-suexec-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def put(path: Path, text: str, owner: tuple[int, int], mode: int = 0o755) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chown(path, *owner)
    os.chmod(path, mode)


def wait_file(path: Path, text: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path}: "
                         f"{path.read_text() if path.exists() else '(missing)'}")


def server(make_server: Any, docroot: Path, user: str = "nobody",
           group: str = "nogroup") -> Any:
    conf = f"""\
Listen 127.0.0.1:@PORT@
ServerName test.local
DocumentRoot "{docroot}"
ErrorLog logs/error_log
LogLevel debug
PidFile logs/httpd.pid
TypesConfig @ROOT@/../mime.types
SuexecUserGroup {user} {group}
SetEnv CUSTOM leaked
AddHandler cgi-script .cgi
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
<Directory "{docroot}">
    Options ExecCGI Includes
</Directory>
"""
    from featherd_testlib import SRC

    return make_server(raw_conf=conf.replace("@ROOT@/../mime.types",
                                             f"{SRC}/featherd/data/mime.types"))


@pytest.mark.skipif(NOBODY is None, reason="no user nobody")
def test_suexec_runs_as_the_configured_identity(make_server: Any, docroot: Path,
                                                tmp_path: Path) -> None:
    owner = (NOBODY.pw_uid, NOBODY.pw_gid)  # type: ignore[union-attr]
    os.chown(docroot, *owner)
    put(docroot / "id.cgi", SCRIPT, owner)
    put(docroot / "root.cgi", SCRIPT, (0, 0))
    put(docroot / "groupw.cgi", SCRIPT, owner, 0o775)
    put(docroot / "page.shtml", '[<!--#exec cmd="id.cgi" -->]', owner, 0o644)
    srv = server(make_server, docroot)
    r = requests.get(srv.url("/id.cgi"), headers={"X-Test": "t"})
    assert r.status_code == 200
    assert r.text == (f"uid={owner[0]} gid={owner[1]} path=/usr/local/bin:/usr/bin:/bin "
                      "custom=unset x=t\n")
    log = tmp_path / "logs" / "suexec_log"
    wait_file(log, f"uid: ({owner[0]}/nobody) gid: ({owner[1]}/nogroup) cmd: id.cgi")
    assert "suEXEC mechanism enabled" in srv.error_log()
    # suexec's checks refuse the others: a 500, the reason in suexec_log
    assert requests.get(srv.url("/root.cgi")).status_code == 500
    wait_file(log, f"target uid/gid ({owner[0]}/{owner[1]}) mismatch with directory "
                   f"({owner[0]}/{owner[1]}) or program (0/0)")
    assert requests.get(srv.url("/groupw.cgi")).status_code == 500
    wait_file(log, f"file is writable by others: ({docroot}/groupw.cgi)")
    # SSI's exec cmd goes through the wrapper too: a program of the directory, no shell
    r = requests.get(srv.url("/page.shtml"))
    assert r.text.startswith("[Content-Type: text/plain\n\nuid=" + str(owner[0]) + " ")


def test_suexec_refuses_system_users(make_server: Any, docroot: Path, tmp_path: Path
                                     ) -> None:
    put(docroot / "id.cgi", SCRIPT, (33, 33))
    os.chown(docroot, 33, 33)
    srv = server(make_server, docroot, "www-data", "www-data")
    assert requests.get(srv.url("/id.cgi")).status_code == 500
    wait_file(tmp_path / "logs" / "suexec_log", "cannot run as forbidden uid (33/id.cgi)")


def test_suexec_unknown_user(make_server: Any, docroot: Path, tmp_path: Path) -> None:
    put(docroot / "id.cgi", SCRIPT, (0, 0))
    srv = server(make_server, docroot, "no-such-user-x", "nogroup")
    assert requests.get(srv.url("/id.cgi")).status_code == 500
    wait_file(tmp_path / "logs" / "suexec_log", "invalid target user name: (no-such-user-x)")
    assert "(1)Operation not permitted: exec of" in srv.error_log()
