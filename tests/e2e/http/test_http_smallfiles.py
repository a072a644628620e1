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


def test_filtered_small_files_come_from_memory_and_see_changes(make_server) -> None:  # type: ignore[no-untyped-def]
    # a filter gets the cached bytes in a FILE bucket (FilterTrace says FILE, as for
    # Apache's default handler); a change on disk is seen by the next request
    conf = """
Options +Includes
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
AddOutputFilterByType DEFLATE text/plain
FilterDeclare T
FilterProvider T SUBSTITUTE resp=Content-Type $text/css
FilterChain T
FilterTrace T 1
Substitute s/red/blue/
"""
    srv = make_server(conf, files={"htdocs/p.shtml": "<p><!--#echo var=\"DOCUMENT_URI\" --></p>\n",
                                   "htdocs/t.txt": "plain text " * 50,
                                   "htdocs/s.css": "a { color: red }\n"})
    for _ in range(3):
        assert _get(srv, "/p.shtml").text == "<p>/p.shtml</p>\n"
        r = requests.get(srv.url("/t.txt"), headers={"Accept-Encoding": "gzip"}, timeout=5)
        assert r.headers["Content-Encoding"] == "gzip" and r.text == "plain text " * 50
        assert _get(srv, "/s.css").text == "a { color: blue }\n"
    Path(srv.root, "htdocs", "p.shtml").write_text("<b><!--#echo var=\"DOCUMENT_NAME\" --></b>\n")
    assert _get(srv, "/p.shtml").text == "<b>p.shtml</b>\n"
    Path(srv.root, "htdocs", "s.css").write_text("b { color: red; border: red }\n")
    assert _get(srv, "/s.css").text == "b { color: blue; border: blue }\n"
    # a range of a filtered small file (the filter's output, 2.2's byterange filter)
    r = requests.get(srv.url("/s.css"), headers={"Range": "bytes=4-15"}, timeout=5)
    assert r.status_code == 206 and r.text == "color: blue;"
    # HEAD of a filtered file not read yet
    Path(srv.root, "htdocs", "h.shtml").write_text("<p>x</p>\n")
    assert requests.head(srv.url("/h.shtml"), timeout=5).status_code == 200
    assert _get(srv, "/h.shtml").text == "<p>x</p>\n"
    log = srv.error_log()
    assert "T: type: FILE, length: 17" in log        # the first s.css
    assert "T: type: FILE, length: 30" in log        # the changed one
