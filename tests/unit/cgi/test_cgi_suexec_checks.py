"""suexec's checks (support/suexec.c), one by one, and the cleaned environment."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from featherd.config.merge import UNSET
from featherd.support import suexec

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
UID = GID = 65534


def fake_user(monkeypatch: Any, home: Path) -> None:
    real = pwd.getpwnam

    def getpwnam(name: str) -> Any:
        if name == "alice":
            return pwd.struct_passwd(("alice", "x", UID, GID, "", str(home), "/bin/sh"))
        return real(name)

    monkeypatch.setattr(suexec.pwd, "getpwnam", getpwnam)


def tree(base: Path, mode: int = 0o755, owner: tuple[int, int] = (UID, GID),
         dmode: int = 0o755) -> Path:
    d = base / "site"
    d.mkdir(exist_ok=True)
    os.chmod(base, 0o755)
    os.chmod(d, dmode)
    os.chown(d, UID, GID)
    p = d / "s.cgi"
    p.write_text("#!/bin/sh\n")
    os.chown(p, *owner)
    os.chmod(p, mode)
    return d


@ROOT_ONLY
def test_suexec_check_passes_and_fails(monkeypatch: Any, tmp_path: Path) -> None:
    fake_user(monkeypatch, tmp_path)
    grp_name = "nogroup"
    d = tree(tmp_path)
    uid, gid, groups, uname, gname = suexec.check(("alice", grp_name), str(d), "s.cgi",
                                                  [str(tmp_path)])
    assert (uid, gid, uname, gname) == (UID, GID, "alice", grp_name) and GID in groups
    cases = [
        ((("alice", grp_name), str(d), "/bin/sh", [str(tmp_path)]), "invalid command"),
        ((("alice", grp_name), str(d), "../s.cgi", [str(tmp_path)]), "invalid command"),
        ((("alice", grp_name), str(d), "a/../../s.cgi", [str(tmp_path)]), "invalid command"),
        ((("root", "root"), str(d), "s.cgi", [str(tmp_path)]), "cannot run as forbidden uid"),
        ((("alice", "root"), str(d), "s.cgi", [str(tmp_path)]), "cannot run as forbidden gid"),
        ((("alice", "no-such-group-q"), str(d), "s.cgi", [str(tmp_path)]),
         "invalid target group name"),
        ((("alice", grp_name), str(d), "s.cgi", ["/var/empty-elsewhere"]),
         "command not in docroot"),
        ((("alice", grp_name), str(d), "missing.cgi", [str(tmp_path)]),
         "cannot stat program"),
    ]
    for args, msg in cases:
        with pytest.raises(suexec.SuexecError) as ei:
            suexec.check(*args)
        assert msg in str(ei.value), args
    for kw, msg in [({"mode": 0o757}, "file is writable by others"),
                    ({"mode": 0o4755}, "file is either setuid or setgid"),
                    ({"owner": (0, 0)}, "mismatch with directory"),
                    ({"mode": 0o644}, "file has no execute permission"),
                    ({"dmode": 0o775}, "directory is writable by others")]:
        d = tree(tmp_path, **kw)
        with pytest.raises(suexec.SuexecError) as ei:
            suexec.check(("alice", grp_name), str(d), "s.cgi", [str(tmp_path)])
        assert msg in str(ei.value), kw


@ROOT_ONLY
def test_suexec_userdir_identity_uses_public_html(monkeypatch: Any, tmp_path: Path) -> None:
    fake_user(monkeypatch, tmp_path)
    pub = tmp_path / "public_html"
    pub.mkdir()
    os.chown(pub, UID, GID)
    os.chmod(tmp_path, 0o755)
    (pub / "s.cgi").write_text("#!/bin/sh\n")
    os.chown(pub / "s.cgi", UID, GID)
    os.chmod(pub / "s.cgi", 0o755)
    uid, gid, _, uname, _ = suexec.check(("~alice", ""), str(pub), "s.cgi", ["/nowhere"])
    assert (uid, gid, uname) == (UID, GID, "alice")
    d = tree(tmp_path)
    with pytest.raises(suexec.SuexecError, match="command not in docroot"):
        suexec.check(("~alice", ""), str(d), "s.cgi", [str(tmp_path)])


def test_suexec_clean_env_and_identity() -> None:
    env = suexec.clean_env({"QUERY_STRING": "q", "HTTP_X": "1", "SSL_PROTOCOL": "TLSv1.3",
                            "LD_PRELOAD": "/evil.so", "PATH": "/tmp", "IFS": " ",
                            "CUSTOM": "x"})
    assert env == {"QUERY_STRING": "q", "HTTP_X": "1", "SSL_PROTOCOL": "TLSv1.3",
                   "PATH": suexec.SAFE_PATH}
    assert suexec.identity_from_config("u", "g") == ("u", "g")
    line = suexec.status_line()
    assert line.startswith(' -D SUEXEC_BIN="featherd.support.suexec" (suEXEC ')


def test_suexec_request_identity(monkeypatch: Any) -> None:
    class R:
        def __init__(self, notes: dict[str, str], main: Any = None) -> None:
            self.notes = notes
            self.main = main

    monkeypatch.setattr(suexec.os, "geteuid", lambda: 0)
    # mod_userdir's note wins (the user and their group), also from a sub-request's main
    assert suexec.request_identity(R({"mod_userdir_user": "bob"}), ("u", "g")) == ("~bob", "")
    assert suexec.request_identity(R({}, R({"mod_userdir_user": "bob"})), None) == ("~bob", "")
    assert suexec.request_identity(R({}), ("u", "g")) == ("u", "g")
    assert suexec.request_identity(R({}), UNSET) is None      # no SuexecUserGroup
    monkeypatch.setattr(suexec.os, "geteuid", lambda: 1000)
    assert suexec.request_identity(R({"mod_userdir_user": "bob"}), ("u", "g")) is None
