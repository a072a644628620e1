"""featherd-htpasswd / -htdigest / -htdbm: flags, messages and exit codes as Apache's
htpasswd(1), htdigest(1) and htdbm(1) manual pages and Debian's binaries show them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from featherd.support import passwords
from featherd.support.sdbm import SDBM

PY = [sys.executable, "-m"]


def run(mod: str, *args: str, stdin: bytes = b"", prog: str | None = None) -> tuple[int, str, str]:
    code = (f"import sys; from featherd.support import {mod} as m; "
            f"sys.argv[0] = {prog or mod!r}; m.main()")
    p = subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def ht(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    return run("htpasswd", *args, stdin=stdin)


def test_htpasswd_create_update_delete_verify(tmp_path: Path) -> None:
    f = str(tmp_path / "pw")
    assert ht("-b", f, "u", "p") == (1, "", f"htpasswd: cannot modify file {f}; use '-c' to "
                                              "create it\n")
    assert ht("-cb", f, "u", "p") == (0, "", "Adding password for user u\n")
    assert ht("-b", f, "u", "p2") == (0, "", "Updating password for user u\n")
    assert ht("-bs", f, "v", "p") == (0, "", "Adding password for user v\n")
    assert ht("-vb", f, "u", "p2") == (0, "", "Password for user u correct.\n")
    assert ht("-vb", f, "u", "bad") == (3, "", "password verification failed\n")
    assert ht("-vb", f, "zz", "bad") == (6, "", "User zz not found\n")
    assert ht("-D", f, "v") == (0, "", "Deleting password for user v\n")
    assert ht("-D", f, "v") == (0, "", "User v not found\n")
    lines = Path(f).read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("u:$apr1$")
    assert passwords.validate("p2", lines[0].split(":", 1)[1])


def test_htpasswd_formats_and_n(tmp_path: Path) -> None:
    for flag, prefix in (("-m", "$apr1$"), ("-B", "$2y$05$"), ("-s", "{SHA}"), ("-2", "$5$"),
                         ("-5", "$6$")):
        rc, out, errs = ht("-nb" + flag[1], "u", "secret")
        assert rc == 0 and errs == ""
        assert out.endswith("\n\n")
        h = out.split("\n")[0].split(":", 1)[1]
        assert h.startswith(prefix), (flag, h)
        assert passwords.validate("secret", h) and not passwords.validate("x", h)
    rc, out, errs = ht("-nbd", "u", "123456789")
    assert rc == 0 and errs == "Warning: Password truncated to 8 characters by CRYPT algorithm.\n"
    assert len(out.split(":")[1].strip()) == 13
    rc, out, errs = ht("-nbp", "u", "p")
    assert (rc, out) == (0, "u:p\n\n")
    assert errs == "Warning: storing passwords as plain text might just not work on this platform.\n"
    rc, out, _ = ht("-nbB", "-C", "4", "u", "p")
    assert out.startswith("u:$2y$04$")
    assert ht("-nbB", "-C", "3", "u", "p")[0::2] == (3, "htpasswd: Unable to encode with bcrypt: "
                                                        "Invalid argument\n")
    assert ht("-nbC", "x", "-B", "u", "p")[0::2] == (2, "htpasswd: argument to -C/-r must be a "
                                                        "positive integer\n")
    assert ht("-nbm", "-C", "5", "u", "p")[2] == "Warning: Ignoring -C/-r argument for this algorithm.\n"


def test_htpasswd_errors(tmp_path: Path) -> None:
    f = str(tmp_path / "pw")
    rc, out, errs = ht("-ncb", "u", "p")
    assert (rc, errs) == (2, "htpasswd: only one of -c -n -v -D may be specified\n")
    rc, _, errs = ht("-x", f, "u")
    assert rc == 2 and errs.startswith("htpasswd: illegal option -- x\nUsage:\n")
    assert ht("-cb", f, "a:b", "p")[0::2] == (6, "htpasswd: username contains illegal character "
                                                 "':'\n")
    assert ht("-nb", "a" * 300, "p")[0::2] == (5, "htpasswd: username too long (> 255)\n")
    assert ht("-cb", "/nonexistent/dir/f", "u", "p")[0::2] == (
        1, "htpasswd: cannot create file /nonexistent/dir/f\n")
    rc, _, errs = ht()
    assert rc == 2 and errs.startswith("Usage:\n\thtpasswd [-cimB25dpsDv]")
    Path(f).write_text("#comment\n\nnocolon\n")
    assert ht("-b", f, "u", "p")[0::2] == (7, f"htpasswd: The file {f} does not appear to be a "
                                              "valid htpasswd file.\n")


def test_htpasswd_prompts(tmp_path: Path) -> None:
    f = str(tmp_path / "pw")
    assert ht("-c", f, "x", stdin=b"pw\npw\n")[0::2] == (
        0, "New password: Re-type new password: Adding password for user x\n")
    assert ht(f, "x", stdin=b"pw\npx\n")[0::2] == (
        3, "New password: Re-type new password: htpasswd: password verification error\n")
    assert ht("-i", f, "y", stdin=b"pw\n")[0::2] == (0, "Adding password for user y\n")
    assert ht("-v", f, "y", stdin=b"pw\n")[0::2] == (
        0, "Enter password: Password for user y correct.\n")


def test_htpasswd_keeps_comments_and_order(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("#comment\n\na:{SHA}x\nb:{SHA}y\n")
    assert ht("-bs", str(f), "a", "p")[0] == 0
    assert f.read_text() == ("#comment\n\na:" + passwords.sha1_encode("p") + "\nb:{SHA}y\n")


def test_htdigest(tmp_path: Path) -> None:
    f = str(tmp_path / "d")
    rc, _, errs = run("htdigest")
    assert (rc, errs) == (1, "Usage: htdigest [-c] passwordfile realm username\n"
                             "The -c flag creates a new file.\n")
    assert run("htdigest", f, "r", "u", stdin=b"pw\npw\n")[0::2] == (
        1, f"Could not open passwd file {f} for reading.\nUse -c option to create new one.\n")
    assert run("htdigest", "-c", f, "realm", "u", stdin=b"pw\npw\n")[0::2] == (
        0, "Adding password for u in realm realm.\nNew password: Re-type new password: ")
    assert Path(f).read_text() == "u:realm:6b1f53c00fbf14bc993a03c945dd6c48\n"
    assert run("htdigest", f, "realm", "v", stdin=b"pw\npw\n")[0::2] == (
        0, "Adding user v in realm realm\nNew password: Re-type new password: ")
    assert run("htdigest", f, "realm", "u", stdin=b"x\nx\n")[0::2] == (
        0, "Changing password for user u in realm realm\nNew password: Re-type new password: ")
    assert run("htdigest", f, "realm", "u", stdin=b"x\ny\n")[0::2] == (
        1, "Changing password for user u in realm realm\nNew password: Re-type new password: "
           "They don't match, sorry.\n")
    lines = Path(f).read_text().splitlines()
    assert lines[1] == "v:realm:7d82c1f94f26fc84623be64f09f824d2"
    assert run("htdigest", "-x", f, "r", "u")[0] == 1


def test_htdbm(tmp_path: Path) -> None:
    f = str(tmp_path / "db")
    assert run("htdbm", "-b", f, "u", "p")[0::2] == (1, f"Error opening database {f}\n"
                                                          "No such file or directory\n")
    assert run("htdbm", "-cb", f, "u", "p")[:2] == (0, f"Database {f} created.\n")
    assert run("htdbm", "-b", f, "u", "p2")[:2] == (0, f"Database {f} modified.\n")
    assert run("htdbm", "-bts", f, "v", "p", "a comment")[:2] == (0, f"Database {f} updated.\n")
    assert Path(f + ".pag").exists() and Path(f + ".dir").exists()
    rc, out, errs = run("htdbm", "-l", f)
    assert rc == 0 and out == ""
    assert errs.splitlines()[0] == f"Dumping records from database -- {f}"
    assert errs.splitlines()[1] == "    Username                         Comment"
    assert sorted(errs.splitlines()[2:4]) == ["    u" + " " * 31,
                                             "    v" + " " * 31 + " a comment"]
    assert errs.splitlines()[4] == "Total #records : 2"
    assert run("htdbm", "-vb", f, "u", "p2")[0::2] == (0, "Password validated for user 'u'\n")
    assert run("htdbm", "-vb", f, "u", "x")[0::2] == (3, "Password mismatch for user 'u'\n")
    assert run("htdbm", "-vb", f, "zz", "x")[0::2] == (
        6, "The user 'zz' could not be found in database\n")
    assert run("htdbm", "-x", f, "v")[:2] == (0, f"Database {f} modified.\n")
    assert run("htdbm", "-x", f, "v")[0::2] == (6, "Cannot find user 'v' in database\n")
    assert run("htdbm", "-b", f, "a:b", "p")[0::2] == (6, "Username contains invalid "
                                                          "characters\n")
    assert run("htdbm", "-b", f, "", "p")[0::2] == (6, "Invalid username length\n")
    assert run("htdbm", "-TFOO", "-cb", f, "u", "p")[0::2] == (
        1, f"Error opening database {f}\nDSO load failed\n")
    rc, out, errs = run("htdbm", "-nbs", "u", "p")
    assert (rc, out, errs) == (0, "", "u:{SHA}UWuXg/ylF+7L0dBk2i0WUxCxl1k=\n")
    assert run("htdbm", "-nbst", "u", "p", "c")[2] == "u:{SHA}UWuXg/ylF+7L0dBk2i0WUxCxl1k=:c\n"
    assert run("htdbm", "-bC", "x", "-B", f, "u", "p")[0::2] == (
        2, "Error: argument to -C/-r must be a positive integer\n")
    with SDBM(f) as db:
        assert passwords.validate("p2", db[b"u"].decode())
    rc, _, errs = run("htdbm")
    assert rc == 2 and errs.startswith("htdbm -- program for manipulating DBM password "
                                       "databases.\n\nUsage: htdbm   [-cimBdpstvx]")


@pytest.mark.skipif(shutil.which("htpasswd") is None, reason="Debian's apache2-utils absent")
def test_htpasswd_files_interoperate_with_debian(tmp_path: Path) -> None:
    f = str(tmp_path / "pw")
    for flag in ("-m", "-B", "-s", "-d", "-2", "-5"):
        subprocess.run(["htpasswd", "-cb" + flag[1], f, "u", "pw" + flag], check=True,
                       capture_output=True)
        assert ht("-vb", f, "u", "pw" + flag)[0] == 0, flag
        assert ht("-vb", f, "u", "wrong")[0] == 3
        assert ht("-cb" + flag[1], f, "u", "ours" + flag)[0] == 0
        p = subprocess.run(["htpasswd", "-vb", f, "u", "ours" + flag], capture_output=True)
        assert p.returncode == 0, (flag, p.stderr)
    # the same texts as Debian's for the same operations (each on its own file)
    g = str(tmp_path / "deb")
    for args in (["-cb", "F", "a", "b"], ["-b", "F", "a", "c"], ["-b", "F", "n", "c"],
                 ["-vb", "F", "a", "c"], ["-vb", "F", "a", "x"], ["-vb", "F", "q", "x"],
                 ["-D", "F", "n"], ["-D", "F", "n"], ["-nbs", "u", "p"], ["-nbp", "u", "p"],
                 ["-nb", "a:b", "p"], ["-ncb", "u", "p"], ["-nbC", "x", "u", "p"]):
        mine = ht(*[f if a == "F" else a for a in args])
        p = subprocess.run(["htpasswd", *[g if a == "F" else a for a in args]],
                           capture_output=True)
        assert mine == (p.returncode, p.stdout.decode(), p.stderr.decode()), args


@pytest.mark.skipif(shutil.which("htdbm") is None, reason="Debian's apache2-utils absent")
def test_htdbm_sdbm_interoperates_with_debian(tmp_path: Path) -> None:
    f = str(tmp_path / "db")
    subprocess.run(["htdbm", "-TSDBM", "-cb", f, "deb", "debpw"], check=True,
                   capture_output=True)
    assert run("htdbm", "-vb", f, "deb", "debpw")[0] == 0
    assert run("htdbm", "-b", f, "ours", "ourpw")[0] == 0
    p = subprocess.run(["htdbm", "-TSDBM", "-vb", f, "ours", "ourpw"], capture_output=True)
    assert p.returncode == 0, p.stderr


@pytest.mark.skipif(shutil.which("htdigest") is None, reason="Debian's apache2-utils absent")
def test_htdigest_same_hash_as_debian(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    subprocess.run(["htdigest", "-c", a, "My Realm", "u"], input=b"pw\npw\n", check=True,
                   capture_output=True)
    assert run("htdigest", "-c", b, "My Realm", "u", stdin=b"pw\npw\n")[0] == 0
    assert Path(a).read_text() == Path(b).read_text()
