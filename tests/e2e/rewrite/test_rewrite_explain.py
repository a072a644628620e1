"""featherd-rewrite, the explainer: loads a configuration, takes a URL and prints which
virtual host, sections, RewriteCond/RewriteRule lines matched (with their captures) and
the final filename, redirect, proxy target or status, without starting a server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CONF = """
Listen 127.0.0.1:8123
NameVirtualHost *:8123
ServerName main.test
DocumentRoot @ROOT@/htdocs
<Directory @ROOT@/htdocs>
AllowOverride All
</Directory>
RewriteEngine on
RewriteMap lc int:tolower
<VirtualHost *:8123>
ServerName www.example.com
DocumentRoot @ROOT@/htdocs
RewriteEngine on
RewriteOptions inherit
RewriteCond %{HTTP_HOST} !^www\\.example\\.com$ [NC]
RewriteRule ^/(.*)$ http://www.example.com/$1 [R=301,L]
RewriteRule ^/Blog/(\\d+)/(.*)$ /blog/index.php?year=$1&slug=${lc:$2} [QSA,L]
RewriteRule ^/api/(.*)$ http://backend.internal:8080/$1 [P]
RewriteRule ^/old$ - [G]
<Location /private>
Order deny,allow
</Location>
</VirtualHost>
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    (tmp_path / "htdocs" / "blog").mkdir(parents=True)
    (tmp_path / "htdocs" / "blog" / "index.php").write_text("<?php ?>")
    (tmp_path / "htdocs" / "app").mkdir()
    (tmp_path / "htdocs" / "app" / ".htaccess").write_text(
        "RewriteEngine on\nRewriteBase /app/\nRewriteCond %{REQUEST_FILENAME} !-f\n"
        "RewriteRule ^(.*)$ front.php?route=$1 [L,QSA]\n")
    (tmp_path / "htdocs" / "app" / "front.php").write_text("front")
    p = tmp_path / "httpd.conf"
    p.write_text(textwrap.dedent(CONF).replace("@ROOT@", str(tmp_path)))
    return p


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "featherd.modules.mappers.rewrite.explain",
                           *args], capture_output=True, text=True, timeout=60)


def test_internal_rewrite_with_map_and_captures(conf: Path) -> None:
    p = run("-f", str(conf), "http://www.example.com/Blog/2024/Hello-World?ref=x")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "Virtual host: <VirtualHost *:8123> www.example.com" in out
    assert "RewriteRule ^/Blog/(\\d+)/(.*)$ /blog/index.php?year=$1&slug=${lc:$2} " \
           "[QSA,L]" in out
    assert "input '/Blog/2024/Hello-World' -> matched  $0='/Blog/2024/Hello-World' " \
           "$1='2024' $2='Hello-World'" in out
    assert "map lc: key 'Hello-World' -> 'hello-world'" in out
    assert f"Result: filename {conf.parent}/htdocs/blog/index.php (exists)" in out
    assert "Query string: year=2024&slug=hello-world&ref=x" in out
    assert f"({conf}:" in out        # each rule shows where it is written


def test_redirect_from_condition(conf: Path) -> None:
    p = run("-f", str(conf), "/Some/Page", "-H", "Host: EXAMPLE.com")
    out = p.stdout
    assert "TestString 'EXAMPLE.com' -> true" in out
    assert "Result: redirect 301 Location: http://www.example.com/Some/Page" in out


def test_proxy_target(conf: Path) -> None:
    p = run("-f", str(conf), "http://www.example.com/api/v1/items?id=3")
    assert "Result: proxy to http://backend.internal:8080/v1/items?id=3" in p.stdout


def test_status(conf: Path) -> None:
    p = run("-f", str(conf), "http://www.example.com/old")
    assert "Result: status 410" in p.stdout


def test_htaccess_front_controller(conf: Path) -> None:
    p = run("-f", str(conf), "http://www.example.com/app/users/42")
    out = p.stdout
    assert f"mod_rewrite, per-directory context {conf.parent}/htdocs/app/ (1 rule)" in out
    assert "input 'users/42' -> matched  $0='users/42' $1='users/42'" in out
    assert "=> internal redirect to /app/front.php?route=users/42" in out
    assert "Internal redirects: /app/users/42 -> /app/front.php?route=users/42" in out
    assert f".htaccess {conf.parent}/htdocs/app/.htaccess" in out
    assert f"Result: filename {conf.parent}/htdocs/app/front.php (exists)" in out


def test_verbose_shows_rewrite_log(conf: Path) -> None:
    p = run("-v", "-f", str(conf), "http://www.example.com/old")
    assert "log (2) forcing responsecode 410 for /old" in p.stdout


def test_bad_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("RewriteEngine on\nRewriteRule onlyone\n")
    p = run("-f", str(bad), "/x")
    assert p.returncode == 1
    assert f"Syntax error on line 2 of {bad}:" in p.stderr
    assert "RewriteRule: bad argument line" in p.stderr


def test_usage() -> None:
    p = run()
    assert p.returncode == 1 and "Usage: featherd-rewrite" in p.stderr
    assert run("-h").stdout.startswith("Usage: featherd-rewrite")
