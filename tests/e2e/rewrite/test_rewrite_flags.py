"""Every RewriteRule flag and every directive of mod_rewrite over HTTP against a real
featherd (manual: mod_rewrite, "RewriteRule Flags"). Environment variables set by [E]
are observed through the access log (%{VAR}e)."""

from __future__ import annotations

import time

import pytest
import requests
from featherd_testlib import Server, base_conf, free_port

BODY = r"""
LogFormat "%U %{FLAGVAR}e %{SECOND}e" envlog
CustomLog logs/env_log envlog
Alias /aliased/ @ROOT@/aliasdir/
RewriteEngine on
RewriteLock logs/rewrite.lock
RewriteRule ^/flag/c/(.*)$ /chained/$1 [C]
RewriteRule ^/chained/(.*)$ /target.html?c=$1 [R,L]
RewriteRule ^/flag/co$ /target.html [CO=sess:abc:.test.local:30:/app,CO=plain:1:test.local,L]
RewriteRule ^/flag/e/(.*)$ /target.html [E=FLAGVAR:$1,E=SECOND:two,L]
RewriteRule ^/flag/f$ - [F]
RewriteRule ^/flag/g$ - [G]
RewriteRule ^/flag/h$ /target.html [H=no-such-handler,L]
RewriteRule ^/flag/l$ /target.html [L]
RewriteRule ^/flag/l$ /never.html
RewriteRule ^/flag/n/(.*)_(.*)$ /flag/n/$1-$2 [N]
RewriteRule ^/flag/n/(.*)$ /target.html?n=$1 [R,L]
RewriteRule ^/flag/nc$ /target.html?nc [NC,R,L]
RewriteRule ^/flag/ne/(.*)$ /target.html#$1 [NE,R,L]
RewriteRule ^/flag/noNE/(.*)$ /target.html#$1 [R,L]
RewriteRule ^/flag/ns-target$ - [F,NS]
RewriteCond /flag/ns-target -U
RewriteRule ^/flag/ns$ /target.html?ns-ok [R,L]
RewriteRule ^/flag/p/(.*)$ http://backend.invalid/$1 [P]
RewriteRule ^/flag/pt/(.*)$ /aliased/$1 [PT]
RewriteRule ^/flag/qsa$ /target.html?added=1 [QSA,R,L]
RewriteRule ^/flag/r$ /target.html [R]
RewriteRule ^/flag/r301$ /target.html [R=301,L]
RewriteRule ^/flag/s$ - [S=1]
RewriteRule ^/flag/s$ /target.html?skipped=no [R,L]
RewriteRule ^/flag/s$ /target.html?skipped=yes [R,L]
RewriteRule ^/flag/t$ /target.html [T=application/x-forced,L]
RewriteRule ^/flag/b/(.*)$ /target.html?q=$1 [B,R,L,NE]
RewriteRule ^/flag/dash$ - [E=FLAGVAR:dash]
RewriteRule ^/flag/dash$ /target.html [L]
RewriteCond %{HTTP_USER_AGENT} ^bad [NC,OR]
RewriteCond %{HTTP:X-Block} =yes
RewriteRule ^/cond/block - [F]
RewriteCond %{REQUEST_URI} !^/cond/exempt
RewriteCond %{HTTP_COOKIE} (^|;\s*)member=([^;]+)
RewriteRule ^/cond/ /target.html?member=%2 [R,L]
RewriteMap up int:toupper
RewriteRule ^/map/(.*)$ /target.html?${up:$1} [R,L]
RewriteRule ^/vary$ /target.html [L]
RewriteCond %{HTTP:Accept-Language} ^fr
RewriteRule ^/lang$ /target.html?fr [L]
RewriteRule ^/lang$ /target.html [L]
<VirtualHost *:@PORT@>
ServerName vh.test
RewriteEngine on
RewriteOptions inherit
RewriteRule ^/vh-only$ /target.html?vh [R,L]
</VirtualHost>
<VirtualHost *:@PORT@>
ServerName off.test
RewriteEngine off
</VirtualHost>
<VirtualHost *:@PORT@>
ServerName test.local
RewriteEngine on
RewriteOptions inherit
</VirtualHost>
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("flags")
    for d in ("logs", "htdocs", "aliasdir"):
        (root / d).mkdir()
    (root / "htdocs" / "target.html").write_text("target\n")
    (root / "htdocs" / "flag").mkdir()
    (root / "aliasdir" / "a.txt").write_text("from alias\n")
    port = free_port()
    body = BODY.replace("@ROOT@", str(root)).replace("@PORT@", str(port))
    conf = base_conf(port, body).replace(f"Listen 127.0.0.1:{port}",
                                         f"Listen 127.0.0.1:{port}\nNameVirtualHost *:{port}")
    s = Server(root, conf, port).start()
    yield s
    s.stop()


def get(srv: Server, path: str, host: str = "test.local", **kw: object) -> requests.Response:
    headers = {"Host": host, **kw.pop("headers", {})}  # type: ignore[dict-item]
    return requests.get(srv.url(path), headers=headers, allow_redirects=False, timeout=10,
                        **kw)  # type: ignore[arg-type]


def loc(r: requests.Response) -> str:
    return r.headers.get("Location", "").replace(":" + r.url.split(":")[2].split("/")[0], "")


def test_chain(srv: Server) -> None:
    r = get(srv, "/flag/c/x")
    assert r.status_code == 302 and loc(r) == "http://test.local/target.html?c=x"


def test_cookie(srv: Server) -> None:
    r = get(srv, "/flag/co")
    assert r.status_code == 200
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert cookies[0].startswith("sess=abc; path=/app; domain=.test.local; expires=")
    assert cookies[0].endswith(" GMT")
    assert cookies[1] == "plain=1; path=/; domain=test.local"


def test_env(srv: Server) -> None:
    assert get(srv, "/flag/e/value1").status_code == 200
    assert get(srv, "/flag/dash").status_code == 200
    # each worker flushes its buffered access log about once a second
    want = ("/flag/e/value1 value1 two", "/flag/dash dash -")
    log = srv.access_log("env_log", wait=3)
    deadline = time.monotonic() + 5
    while not all(w in log for w in want) and time.monotonic() < deadline:
        time.sleep(0.1)
        log = srv.access_log("env_log")
    assert "/flag/e/value1 value1 two" in log
    assert "/flag/dash dash -" in log


def test_forbidden_gone(srv: Server) -> None:
    assert get(srv, "/flag/f").status_code == 403
    assert get(srv, "/flag/g").status_code == 410


def test_handler(srv: Server) -> None:
    get(srv, "/flag/h")
    assert 'handler "no-such-handler" not found for:' in srv.error_log()


def test_last(srv: Server) -> None:
    assert get(srv, "/flag/l").text == "target\n"


def test_next(srv: Server) -> None:
    r = get(srv, "/flag/n/a_b_c")
    assert loc(r) == "http://test.local/target.html?n=a-b-c"


def test_nocase(srv: Server) -> None:
    assert loc(get(srv, "/FLAG/NC")) == "http://test.local/target.html?nc"


def test_noescape(srv: Server) -> None:
    assert loc(get(srv, "/flag/ne/sec")) == "http://test.local/target.html#sec"
    assert loc(get(srv, "/flag/noNE/sec")) == "http://test.local/target.html%23sec"


def test_nosubreq(srv: Server) -> None:
    # the [F] rule is skipped in the -U sub-request, so the lookup succeeds
    assert loc(get(srv, "/flag/ns")) == "http://test.local/target.html?ns-ok"
    assert get(srv, "/flag/ns-target").status_code == 403


def test_proxy_without_mod_proxy(srv: Server) -> None:
    r = get(srv, "/flag/p/x")
    assert r.status_code == 502
    assert "attempt to make remote request from mod_rewrite without proxy enabled " \
           "(mod_proxy is not available): proxy:http://backend.invalid/x" in srv.error_log()


def test_passthrough(srv: Server) -> None:
    assert get(srv, "/flag/pt/a.txt").text == "from alias\n"


def test_qsa(srv: Server) -> None:
    assert loc(get(srv, "/flag/qsa?orig=2")) == "http://test.local/target.html?added=1&orig=2"


def test_redirect(srv: Server) -> None:
    r = get(srv, "/flag/r")
    assert r.status_code == 302 and loc(r) == "http://test.local/target.html"
    assert get(srv, "/flag/r301").status_code == 301


def test_skip(srv: Server) -> None:
    assert loc(get(srv, "/flag/s")) == "http://test.local/target.html?skipped=yes"


def test_type(srv: Server) -> None:
    assert get(srv, "/flag/t").headers["Content-Type"] == "application/x-forced"


def test_backref_escaping(srv: Server) -> None:
    assert loc(get(srv, "/flag/b/a%20b%26c")) == "http://test.local/target.html?q=a+b%26c"


def test_conditions_or_nc_and_headers(srv: Server) -> None:
    assert get(srv, "/cond/block", headers={"User-Agent": "BadBot"}).status_code == 403
    assert get(srv, "/cond/block", headers={"X-Block": "yes"}).status_code == 403
    assert get(srv, "/cond/block", headers={"User-Agent": "good"}).status_code == 404


def test_condition_backrefs(srv: Server) -> None:
    r = get(srv, "/cond/x", headers={"Cookie": "a=1; member=gold"})
    assert loc(r) == "http://test.local/target.html?member=gold"
    assert get(srv, "/cond/exempt", headers={"Cookie": "member=gold"}).status_code == 404


def test_map(srv: Server) -> None:
    assert loc(get(srv, "/map/abc")) == "http://test.local/target.html?ABC"


def test_vary_header(srv: Server) -> None:
    r = get(srv, "/lang", headers={"Accept-Language": "fr"})
    assert r.headers.get("Vary") == "Accept-Language"


def test_vhost_inherit_and_engine_off(srv: Server) -> None:
    r = get(srv, "/vh-only", host="vh.test")
    assert loc(r) == "http://vh.test/target.html?vh"
    # the main server's rules are inherited after the vhost's own
    assert get(srv, "/flag/f", host="vh.test").status_code == 403
    assert get(srv, "/flag/f", host="off.test").status_code == 404
