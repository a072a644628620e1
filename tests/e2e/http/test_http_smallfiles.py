"""Small files are kept in memory between requests (no open/read/close on a hit), but a
change on disk is seen by the very next request: new content of the same size, a new
size, a file made unreadable, a file removed, a file replaced by another (rename)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import requests


def _get(srv, path: str) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.get(srv.url(path), timeout=5)


def test_changes_on_disk_are_seen_at_once(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(files={"htdocs/a.txt": "first version\n"})
    f = Path(srv.root, "htdocs", "a.txt")
    for _ in range(3):                               # hits from the cache
        r = _get(srv, "/a.txt")
        assert r.status_code == 200 and r.text == "first version\n"
    etag1 = r.headers["ETag"]
    st = f.stat()
    # same size, same mtime (restored): the ctime still moves, so the cache must miss
    f.write_text("FIRST VERSION\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = _get(srv, "/a.txt")
    assert r.text == "FIRST VERSION\n"
    f.write_text("a longer second version\n")
    r = _get(srv, "/a.txt")
    assert r.text == "a longer second version\n"
    assert r.headers["Content-Length"] == str(len("a longer second version\n"))
    assert r.headers["ETag"] != etag1
    # replaced by rename (another inode)
    g = Path(srv.root, "htdocs", "a.tmp")
    g.write_text("renamed in\n")
    os.rename(g, f)
    assert _get(srv, "/a.txt").text == "renamed in\n"
    f.unlink()
    assert _get(srv, "/a.txt").status_code == 404


def test_permissions_are_checked_after_a_hit(make_server) -> None:  # type: ignore[no-untyped-def]
    # a document root every user can reach (pytest's tmp dirs are private to root)
    docroot = Path(tempfile.mkdtemp(prefix="featherd-perm-"))
    try:
        os.chmod(docroot, 0o755)
        f = docroot / "p.txt"
        f.write_text("secret\n")
        os.chmod(f, 0o644)
        # root reads anything: then the server drops to nobody, as Apache's User does
        user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
        srv = make_server(f"{user}DocumentRoot {docroot}\n<Directory {docroot}>\n"
                          "AllowOverride None\n</Directory>\n")
        assert _get(srv, "/p.txt").text == "secret\n"
        assert _get(srv, "/p.txt").text == "secret\n"
        os.chmod(f, 0o000)
        r = _get(srv, "/p.txt")
        assert r.status_code == 403
        assert "Permission denied" in srv.error_log()
        os.chmod(f, 0o644)
        assert _get(srv, "/p.txt").text == "secret\n"
    finally:
        shutil.rmtree(docroot, ignore_errors=True)


def test_head_and_conditional_requests_on_cached_files(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(files={"htdocs/c.txt": "x" * 1000})
    r = _get(srv, "/c.txt")
    et = r.headers["ETag"]
    r2 = requests.get(srv.url("/c.txt"), headers={"If-None-Match": et}, timeout=5)
    assert r2.status_code == 304 and r2.content == b""
    r3 = requests.head(srv.url("/c.txt"), timeout=5)
    assert r3.status_code == 200 and r3.headers["Content-Length"] == "1000"
    r4 = requests.get(srv.url("/c.txt"), headers={"Range": "bytes=10-19"}, timeout=5)
    assert r4.status_code == 206 and r4.content == b"x" * 10


def test_trailing_slash_after_a_file_is_path_info(make_server) -> None:  # type: ignore[no-untyped-def]
    # ap_directory_walk: "/f.txt/" is the file with path_info "/" (404 from the default
    # handler unless AcceptPathInfo On), not a missing file
    srv = make_server("<Directory @ROOT@/htdocs/pi>\nAcceptPathInfo On\n</Directory>\n",
                      files={"htdocs/f.txt": "plain\n", "htdocs/pi/g.txt": "info\n"})
    assert _get(srv, "/f.txt/").status_code == 404
    assert "File does not exist: " + str(Path(srv.root, "htdocs", "f.txt")) + "/" in \
        srv.error_log()
    r = _get(srv, "/pi/g.txt/")
    assert r.status_code == 200 and r.text == "info\n"
    assert _get(srv, "/pi/g.txt/more/").text == "info\n"
