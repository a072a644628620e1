"""Configuration sections end to end (manual: "Configuration Sections", "How the
sections are merged"; "Configuration Files", .htaccess; core: AllowOverride, Options,
AccessFileName)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import requests

HEAD = """\
Listen 127.0.0.1:@PORT@
ServerName test.local
DocumentRoot htdocs
ErrorLog logs/error_log
LogLevel debug
PidFile logs/httpd.pid
"""


def start(make_server: Any, body: str, files: dict[str, str] | None = None) -> Any:
    return make_server(raw_conf=HEAD + body, files=files or {})


def access_line(srv: Any, needle: str, wait: float = 3.0) -> str:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for line in srv.access_log().splitlines():
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no access-log line with {needle!r}: {srv.access_log()!r}")


def test_manual_merge_order_example(make_server: Any, tmp_path: Path) -> None:
    """The manual's example: for /a/b/f.zzz the sections apply in the order A (main
    <Directory>), B (the vhost's <Directory>), C (<DirectoryMatch>), D (<Files>), E
    (<Location>), whatever their order in the file. Each section sets the variables from
    its own letter on, so the final value of sN tells which section wrote it last; the
    same sections set DefaultType and ErrorDocument, seen in the response."""
    d = tmp_path / "htdocs" / "a" / "b"
    ladder = {"A": ["s1", "s2", "s3", "s4", "s5"], "B": ["s2", "s3", "s4", "s5"],
              "C": ["s3", "s4", "s5"], "D": ["s4", "s5"], "E": ["s5"]}

    def sets(letter: str) -> str:
        lines = [f"SetEnv {v} {letter}" for v in ladder[letter]]
        lines.append(f"DefaultType text/x-{letter}")
        if letter in "ABC":
            lines.append(f'ErrorDocument 404 "404 from {letter}"')
        return "\n".join(lines) + "\n"

    body = (
        'LogFormat "%U %>s [%{s1}e %{s2}e %{s3}e %{s4}e %{s5}e]" ladder\n'
        "CustomLog logs/access_log ladder\n"
        f"<Location />\n{sets('E')}</Location>\n"
        f"<Files f.zzz>\n{sets('D')}</Files>\n"
        f"<VirtualHost *:@PORT@>\nServerName test.local\n"
        f"<Directory {d}>\n{sets('B')}</Directory>\n</VirtualHost>\n"
        f'<DirectoryMatch "^.*b/$">\n{sets("C")}</DirectoryMatch>\n'
        f"<Directory {d}>\n{sets('A')}</Directory>\n")
    srv = start(make_server, body, {"htdocs/a/b/f.zzz": "payload\n",
                                    "htdocs/a/b/other.zzz": "other\n"})
    r = requests.get(srv.url("/a/b/f.zzz"))
    assert r.status_code == 200 and r.text == "payload\n"
    assert r.headers["Content-Type"] == "text/x-E"
    assert access_line(srv, "/a/b/f.zzz 200").endswith("[A B C D E]")
    # without the <Files> match D drops out, the rest keeps its order
    r = requests.get(srv.url("/a/b/other.zzz"))
    assert r.headers["Content-Type"] == "text/x-E"
    assert access_line(srv, "/a/b/other.zzz 200").endswith("[A B C C E]")
    # ErrorDocument 404 is set by A, B and C only: C, the last of them, wins
    r = requests.get(srv.url("/a/b/missing.zzz"))
    assert r.status_code == 404 and r.text == "404 from C"


def test_location_prefix_and_wildcards(make_server: Any) -> None:
    body = ('LogFormat "%U %{where}e" w\nCustomLog logs/access_log w\n'
            "<Location /private>\nSetEnv where prefix\n</Location>\n"
            "<Location /w/*/x>\nSetEnv where wild\n</Location>\n"
            "<LocationMatch ^/rx/[0-9]+$>\nSetEnv where regex\n</LocationMatch>\n")
    srv = start(make_server, body)
    for path, want in [("/private", "prefix"), ("/private/a", "prefix"),
                       ("/privateer", "-"), ("/w/q/x", "wild"), ("/w/q/r/x", "-"),
                       ("/rx/12", "regex"), ("/rx/12a", "-")]:
        requests.get(srv.url(path))
        assert access_line(srv, path + " ").split()[1] == want, path


def test_htaccess_allowoverride_classes(make_server: Any, tmp_path: Path) -> None:
    root = tmp_path / "htdocs"
    body = (
        f"<Directory {root}/none>\nAllowOverride None\n</Directory>\n"
        f"<Directory {root}/auth>\nAllowOverride AuthConfig\n</Directory>\n"
        f"<Directory {root}/fileinfo>\nAllowOverride FileInfo\n</Directory>\n"
        f"<Directory {root}/opts>\nAllowOverride Options=Indexes,MultiViews\n</Directory>\n"
        f"<Directory {root}/all>\nAllowOverride All\n</Directory>\n")
    ht = "DefaultType text/x-ht\n"
    files = {f"htdocs/{d}/.htaccess": ht for d in ("none", "auth", "fileinfo", "all")}
    files.update({f"htdocs/{d}/f": "x" for d in ("none", "auth", "fileinfo", "all", "opts")})
    files["htdocs/opts/.htaccess"] = "Options +Indexes\nOptions -FollowSymLinks\n"
    srv = start(make_server, body, files)
    # None: the file is not even read
    assert requests.get(srv.url("/none/f")).headers["Content-Type"] == "text/plain"
    assert requests.get(srv.url("/fileinfo/f")).headers["Content-Type"] == "text/x-ht"
    assert requests.get(srv.url("/all/f")).headers["Content-Type"] == "text/x-ht"
    r = requests.get(srv.url("/auth/f"))
    assert r.status_code == 500
    log = srv.error_log()
    assert f"[alert] [client 127.0.0.1] {root}/auth/.htaccess: DefaultType not allowed here" \
        in log
    r = requests.get(srv.url("/opts/f"))
    assert r.status_code == 500
    assert f"{root}/opts/.htaccess: Option FollowSymLinks not allowed here" in srv.error_log()


def test_htaccess_is_reread_when_it_changes(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, "", {"htdocs/d/.htaccess": "DefaultType text/x-one\n",
                                  "htdocs/d/f": "x"})
    assert requests.get(srv.url("/d/f")).headers["Content-Type"] == "text/x-one"
    assert requests.get(srv.url("/d/f")).headers["Content-Type"] == "text/x-one"
    p = tmp_path / "htdocs" / "d" / ".htaccess"
    p.write_text("DefaultType text/x-two-changed\n")
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert requests.get(srv.url("/d/f")).headers["Content-Type"] == "text/x-two-changed"
    p.write_text("Bogus\n")
    assert requests.get(srv.url("/d/f")).status_code == 500
    assert "/d/.htaccess: Invalid command 'Bogus', perhaps misspelled" in srv.error_log()
    p.unlink()
    assert requests.get(srv.url("/d/f")).headers["Content-Type"] == "text/plain"


def test_htaccess_inherits_down_and_containers_inside(make_server: Any) -> None:
    files = {"htdocs/top/.htaccess": "DefaultType text/x-top\n<Files *.yyy>\n"
                                     "DefaultType text/x-files\n</Files>\n"
                                     "<IfModule mod_env.c>\nSetEnv x 1\n</IfModule>\n",
             "htdocs/top/sub/f.zzz": "a", "htdocs/top/sub/f.yyy": "b",
             "htdocs/top/sub2/.htaccess": "DefaultType text/x-sub2\n",
             "htdocs/top/sub2/f.zzz": "a"}
    srv = start(make_server, "", files)
    assert requests.get(srv.url("/top/sub/f.zzz")).headers["Content-Type"] == "text/x-top"
    assert requests.get(srv.url("/top/sub/f.yyy")).headers["Content-Type"] == "text/x-files"
    assert requests.get(srv.url("/top/sub2/f.zzz")).headers["Content-Type"] == "text/x-sub2"


def test_htaccess_refuses_server_directives_and_sections(make_server: Any) -> None:
    files = {"htdocs/a/.htaccess": "<Directory /x>\n</Directory>\n", "htdocs/a/f": "x",
             "htdocs/b/.htaccess": "Include /etc/passwd\n", "htdocs/b/f": "x",
             "htdocs/c/.htaccess": "<Files x>\n", "htdocs/c/f": "x"}
    srv = start(make_server, "", files)
    for d in "abc":
        assert requests.get(srv.url(f"/{d}/f")).status_code == 500
    log = srv.error_log()
    assert "/a/.htaccess: <Directory not allowed here" in log
    assert "/b/.htaccess: Include not allowed here" in log
    assert "/c/.htaccess: <Files> was not closed." in log


def test_access_file_name(make_server: Any) -> None:
    files = {"htdocs/d/.config": "DefaultType text/x-config\n", "htdocs/d/f": "x",
             "htdocs/d/.htaccess": "Bogus\n",
             "htdocs/e/.htaccess": "DefaultType text/x-second\n", "htdocs/e/f": "x"}
    srv = start(make_server, "AccessFileName .config .htaccess\n", files)
    assert requests.get(srv.url("/d/f")).headers["Content-Type"] == "text/x-config"
    # the first name found wins; the next one is tried when the first is absent
    assert requests.get(srv.url("/e/f")).headers["Content-Type"] == "text/x-second"


def test_symlinks_and_options(make_server: Any, tmp_path: Path) -> None:
    root = tmp_path / "htdocs"
    body = (f"<Directory {root}/nofollow>\nOptions None\n</Directory>\n"
            f"<Directory {root}/follow>\nOptions FollowSymLinks\n</Directory>\n"
            f"<Directory {root}/owner>\nOptions SymLinksIfOwnerMatch\n</Directory>\n")
    files = {"htdocs/target/file.txt": "target\n", "htdocs/nofollow/real.txt": "real\n",
             "htdocs/follow/.keep": "", "htdocs/owner/.keep": ""}
    srv = start(make_server, body, files)
    for d in ("nofollow", "follow", "owner"):
        os.symlink(root / "target" / "file.txt", root / d / "link.txt")
        os.symlink(root / "target", root / d / "linkdir")
    r = requests.get(srv.url("/nofollow/link.txt"))
    assert r.status_code == 403
    assert (f"Symbolic link not allowed or link target not accessible: "
            f"{root}/nofollow/link.txt") in srv.error_log()
    assert requests.get(srv.url("/nofollow/linkdir/file.txt")).status_code == 403
    assert requests.get(srv.url("/nofollow/real.txt")).status_code == 200
    assert requests.get(srv.url("/follow/link.txt")).text == "target\n"
    assert requests.get(srv.url("/follow/linkdir/file.txt")).text == "target\n"
    # same owner (we made both): allowed
    assert requests.get(srv.url("/owner/link.txt")).text == "target\n"
    if os.geteuid() == 0:
        os.lchown(root / "owner" / "link.txt", 12345, 12345)
        r = requests.get(srv.url("/owner/link.txt"))
        assert r.status_code == 403
