"""mod_rewrite in per-directory context over HTTP: .htaccess and <Directory>, prefix
stripping and re-adding, RewriteBase, the internal redirect per-directory rewrites cause,
LimitInternalRecursion, AllowOverride FileInfo (manual: mod_rewrite "Per-directory
Rewrites", RewriteBase; the "Technical details" page)."""

from __future__ import annotations

import pytest
import requests
from featherd_testlib import Server, site_server

FILES = {
    # a typical CMS front controller
    "htdocs/cms/.htaccess": "RewriteEngine On\nRewriteBase /cms/\n"
                            "RewriteRule ^index\\.php$ - [L]\n"
                            "RewriteCond %{REQUEST_FILENAME} !-f\n"
                            "RewriteCond %{REQUEST_FILENAME} !-d\n"
                            "RewriteRule . /cms/index.php [L]\n",
    "htdocs/cms/index.php": "front controller\n",
    "htdocs/cms/static.css": "body{}\n",
    "htdocs/cms/sub/keep.txt": "kept\n",
    # RewriteBase maps the directory prefix back to a URL
    "htdocs/base/.htaccess": "RewriteEngine on\nRewriteBase /base/\n"
                             "RewriteRule ^old\\.html$ new.html [L]\n"
                             "RewriteRule ^go$ new.html [R=301,L]\n"
                             "RewriteRule ^qs$ new.html?a=b [QSA,L]\n",
    "htdocs/base/new.html": "new page\n",
    # endless internal redirects
    "htdocs/loop/.htaccess": "RewriteEngine on\nRewriteRule ^(.*)$ index.php/$1\n",
    "htdocs/loop/index.php": "loop\n",
    # nested .htaccess with inherit
    "htdocs/outer/.htaccess": "RewriteEngine on\nRewriteRule ^o$ outer.txt [L]\n",
    "htdocs/outer/inner/.htaccess": "RewriteOptions inherit\n"
                                    "RewriteRule ^i$ inner.txt [L]\n",
    "htdocs/outer/inner/outer.txt": "outer rule applied in inner\n",
    "htdocs/outer/inner/inner.txt": "inner\n",
    # AllowOverride None for this directory
    "htdocs/locked/.htaccess": "RewriteEngine on\nRewriteRule ^x$ y.txt [L]\n",
    "htdocs/locked/y.txt": "y\n",
    "htdocs/noinfo/.htaccess": "RewriteEngine on\n",
    "htdocs/noinfo/f.txt": "f\n",
    # engine off in a subdirectory
    "htdocs/eng/.htaccess": "RewriteEngine on\nRewriteRule ^a$ b.txt [L]\n",
    "htdocs/eng/off/.htaccess": "RewriteEngine off\n",
    "htdocs/eng/b.txt": "b\n",
    "htdocs/eng/off/a": "a untouched\n",
    "htdocs/eng/off/b.txt": "off b\n",
    # [R] without RewriteBase leaks the filesystem path (as Apache does)
    "htdocs/nobase/.htaccess": "RewriteEngine on\nRewriteRule ^r$ t.txt [R,L]\n",
    "htdocs/nobase/t.txt": "t\n",
    # a syntax error in .htaccess
    "htdocs/broken/.htaccess": "RewriteEngine on\nRewriteRule onlyone\n",
    "htdocs/broken/f.txt": "f\n",
    # the directory itself (no trailing slash) is left alone
    "htdocs/dir/.htaccess": "RewriteEngine on\nRewriteRule ^$ target.txt [L]\n",
    "htdocs/dir/target.txt": "dir target\n",
    "real/r.txt": "real\n",
}

BODY = """
<Directory @ROOT@/htdocs>
AllowOverride All
</Directory>
<Directory @ROOT@/htdocs/locked>
AllowOverride None
</Directory>
<Directory @ROOT@/htdocs/noinfo>
AllowOverride AuthConfig
</Directory>
LimitInternalRecursion 4
Alias /virt/ @ROOT@/real/
<Directory @ROOT@/real>
RewriteEngine on
RewriteBase /virt/
RewriteRule ^x\\.txt$ r.txt [L]
RewriteRule ^ext$ http://elsewhere.example/ [R,L]
</Directory>
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    s = site_server(tmp_path_factory.mktemp("htaccess"), BODY, FILES, under="")
    yield s
    s.stop()


def get(srv: Server, path: str) -> requests.Response:
    return requests.get(srv.url(path), allow_redirects=False, timeout=10)


def test_front_controller(srv: Server) -> None:
    assert get(srv, "/cms/some/pretty/url").text == "front controller\n"
    assert get(srv, "/cms/static.css").text == "body{}\n"
    assert get(srv, "/cms/sub/keep.txt").text == "kept\n"


def test_rewritebase_internal(srv: Server) -> None:
    assert get(srv, "/base/old.html").text == "new page\n"


def test_rewritebase_redirect(srv: Server) -> None:
    r = get(srv, "/base/go")
    assert r.status_code == 301
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/base/new.html"


def test_qsa_survives_internal_redirect(srv: Server) -> None:
    assert get(srv, "/base/qs?x=1").text == "new page\n"


def test_internal_redirect_loop_limited(srv: Server) -> None:
    r = get(srv, "/loop/page")
    assert r.status_code == 500
    assert "Request exceeded the limit of 4 internal redirects due to probable " \
           "configuration error." in srv.error_log()


def test_inherit(srv: Server) -> None:
    assert get(srv, "/outer/inner/i").text == "inner\n"
    assert get(srv, "/outer/inner/o").text == "outer rule applied in inner\n"


def test_allowoverride_none_ignores_htaccess(srv: Server) -> None:
    assert get(srv, "/locked/x").status_code == 404


def test_allowoverride_without_fileinfo(srv: Server) -> None:
    assert get(srv, "/noinfo/f.txt").status_code == 500
    assert "RewriteEngine not allowed here" in srv.error_log()


def test_engine_off_below(srv: Server) -> None:
    assert get(srv, "/eng/a").text == "b\n"
    assert get(srv, "/eng/off/a").text == "a untouched\n"


def test_redirect_without_rewritebase(srv: Server) -> None:
    r = get(srv, "/nobase/r")
    assert r.headers["Location"] == \
        f"http://127.0.0.1:{srv.port}{srv.root}/htdocs/nobase/t.txt"


def test_htaccess_syntax_error(srv: Server) -> None:
    assert get(srv, "/broken/f.txt").status_code == 500
    assert "RewriteRule: bad argument line: at least two arguments required" in \
        srv.error_log()


def test_directory_request_with_slash(srv: Server) -> None:
    assert get(srv, "/dir/").text == "dir target\n"


def test_directory_section_with_alias(srv: Server) -> None:
    assert get(srv, "/virt/x.txt").text == "real\n"
    r = get(srv, "/virt/ext?k=1")
    assert r.headers["Location"] == "http://elsewhere.example/?k=1"
