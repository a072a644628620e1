"""Per-directory rewriting on the request hot path, in-process through a real Connection
(no sockets): a CMS front controller in .htaccess (issue 5's benchmark) gives Apache's
answers while looking at the disk no more than Apache does.

- .htaccess files are looked at once per client request: the internal redirect a
  per-directory rewrite causes (and sub-requests) reuse what the first pass found, as
  ap_parse_htaccess searches r->htaccess before it opens a file (server/config.c);
- ``-f``/``-d`` on %{REQUEST_FILENAME} take the directory walk's stat() of that very
  file when the walk found it, and stat() anything else (a name the walk did not find,
  a filename an earlier rule rewrote);
- a changed .htaccess is seen by the next request.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from featherd_testlib import FakeTransport

from featherd.core.config import load_config
from featherd.core.connection import Connection
from featherd.core.hooks import run_void_sync
from featherd.core.worker import Worker, new_event_loop
from featherd.modules import builtin_modules

CMS = r"""# a CMS front controller, 10 rules
RewriteEngine On
RewriteBase /
RewriteCond %{HTTP_HOST} ^www\.test\.local$ [NC]
RewriteRule ^(.*)$ http://test.local/$1 [R=301,L]
RewriteCond %{QUERY_STRING} (<|%3C).*script.*(>|%3E) [NC,OR]
RewriteCond %{QUERY_STRING} GLOBALS(=|\[|\%[0-9A-Z]{0,2}) [OR]
RewriteCond %{QUERY_STRING} _REQUEST(=|\[|\%[0-9A-Z]{0,2})
RewriteRule .* - [F,L]
RewriteRule (^|/)\.(?!well-known/) - [F,L]
RewriteCond %{THE_REQUEST} ^[A-Z]{3,9}\ /index\.php/(.*)\ HTTP/ [NC]
RewriteRule ^index\.php/(.*)$ /$1 [R=301,L]
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^(.+)/$ /$1 [R=301,L]
RewriteRule ^old-blog/(.*)$ /blog/$1 [R=301,L,NE]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteRule ^(.+)\.(\d+)\.(css|js|txt)$ $1.$3 [L]
RewriteRule ^feed/?$ index.php?feed=rss2 [QSA,L]
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^ index.php [L]
"""


class Site:
    """A server configuration and one keep-alive connection fed request by request."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.docroot = root / "htdocs"
        (root / "logs").mkdir()
        for rel, text in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        conf = (f"Listen 127.0.0.1:1\nServerName test.local\nDocumentRoot {self.docroot}\n"
                "<Directory />\nAllowOverride None\n</Directory>\n"
                f"<Directory {self.docroot}>\nOptions FollowSymLinks\nAllowOverride All\n"
                "</Directory>\n")
        self.tree = load_config(None, builtin_modules(), server_root=str(root), text=conf)
        self.loop = new_event_loop()
        self.worker = Worker(self.tree, self.loop)
        run_void_sync(self.tree.hooks["child_init"], self.tree, self.loop)
        self.conn = Connection(self.worker, self.tree.listens[0])
        self.tr = FakeTransport()
        self.conn.connection_made(self.tr)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        self.tr.out.clear()
        req = f"GET {path} HTTP/1.1\r\nHost: test.local\r\nUser-Agent: t\r\n\r\n".encode()

        async def feed() -> None:
            self.conn.data_received(req)
            for _ in range(5):
                await asyncio.sleep(0)

        self.loop.run_until_complete(feed())
        raw = b"".join(self.tr.out)
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = dict(h.split(": ", 1) for h in lines[1:])
        return int(lines[0].split()[1]), hdrs, body

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def cms(tmp_path: Path):
    site = Site(tmp_path, {"htdocs/.htaccess": CMS,
                           "htdocs/index.php": "front controller\n",
                           "htdocs/assets/app.txt": "the asset\n"})
    yield site
    site.close()


@pytest.fixture
def stats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Counter[str]:
    """stat() calls on the site's files, by path relative to the site."""
    seen: Counter[str] = Counter()
    real = os.stat
    top = str(tmp_path)

    def counting(path: Any, *a: Any, **kw: Any) -> os.stat_result:
        p = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
        if p.startswith(top):
            seen[p[len(top):]] += 1
        return real(path, *a, **kw)

    monkeypatch.setattr(os, "stat", counting)
    return seen


def test_cms_asset_through_the_internal_redirect(cms: Site, stats: Counter[str]) -> None:
    cms.get("/assets/app.txt")            # warm the caches (parsed .htaccess, plans)
    stats.clear()
    status, _, body = cms.get("/assets/app.1234.txt")
    assert (status, body) == (200, b"the asset\n")
    # each .htaccess candidate once for both passes; the asset once (the second pass's
    # walk: its !-f tests take that answer); the missing name by the first pass's walk
    # and again by its !-f (a name the walk did not find is looked at again)
    assert stats == Counter({"/htdocs/.htaccess": 1, "/htdocs/assets/.htaccess": 1,
                             "/htdocs/assets/app.txt": 1, "/htdocs/assets/app.1234.txt": 2,
                             "/htdocs/assets": 1})


def test_cms_front_controller_and_redirects(cms: Site) -> None:
    assert cms.get("/some/pretty/url")[2] == b"front controller\n"
    assert cms.get("/feed")[2] == b"front controller\n"
    assert cms.get("/assets/app.txt")[2] == b"the asset\n"
    status, hdrs, _ = cms.get("/old-blog/post")
    assert status == 301 and hdrs["Location"].split("/", 3)[3] == "blog/post"
    assert cms.get("/.git/config")[0] == 403
    assert cms.get("/?x=GLOBALS=1")[0] == 403
    # -d on the walk's own answer: a directory keeps its trailing slash
    assert cms.get("/assets/")[0] != 301


def test_changed_htaccess_is_seen_by_the_next_request(cms: Site) -> None:
    assert cms.get("/assets/app.1234.txt")[2] == b"the asset\n"
    ht = cms.docroot / ".htaccess"
    ht.write_text("RewriteEngine On\nRewriteRule ^assets/app\\.1234\\.txt$ index.php [L]\n")
    os.utime(ht, ns=(1, 1))               # a new mtime even on a coarse clock
    assert cms.get("/assets/app.1234.txt")[2] == b"front controller\n"


def test_file_test_on_a_rewritten_filename_stats_it(tmp_path: Path) -> None:
    # the first rule changes the filename (no [L]): the -f of the next rule is about
    # real.txt, not about the missing name the directory walk looked at
    site = Site(tmp_path, {"htdocs/.htaccess": "RewriteEngine On\n"
                                               "RewriteRule ^x$ real.txt\n"
                                               "RewriteCond %{REQUEST_FILENAME} -f\n"
                                               "RewriteRule ^real\\.txt$ found.txt [L]\n",
                           "htdocs/real.txt": "real\n", "htdocs/found.txt": "found\n"})
    try:
        assert site.get("/x")[2] == b"found\n"
        assert site.get("/real.txt")[2] == b"found\n"
    finally:
        site.close()
