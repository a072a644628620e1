"""The rewriting engine's semantics, run in-process through the real request phases
(featherd-rewrite's machinery: no sockets, no content handler): flag by flag, server and
per-directory context, back references, variables, the explainer's output.
Manual: mod_rewrite, "RewriteRule Flags", "Technical details"."""

from __future__ import annotations

import asyncio
import io
import os
import textwrap
import time
from pathlib import Path

import pytest

from featherd.core.config import load_config
from featherd.modules import builtin_modules
from featherd.modules.mappers.rewrite.explain import Outcome, explain


class Site:
    def __init__(self, root: Path, body: str, files: dict[str, str] | None = None) -> None:
        self.root = root
        (root / "htdocs").mkdir(exist_ok=True)
        for rel, content in (files or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        conf = (f"ServerName test.local\nDocumentRoot {root}/htdocs\n"
                f"<Directory {root}>\nAllowOverride All\n</Directory>\n"
                + textwrap.dedent(body).replace("@ROOT@", str(root)))
        self.tree = load_config(None, builtin_modules(), server_root=str(root), text=conf)

    def get(self, url: str, headers: dict[str, str] | None = None,
            method: str = "GET") -> tuple[Outcome, str]:
        out = io.StringIO()
        oc = asyncio.run(explain(self.tree, url, list((headers or {}).items()), method,
                                 out=out))
        return oc, out.getvalue()

    def location(self, url: str, **kw: object) -> str | None:
        return self.get(url, **kw)[0].location  # type: ignore[arg-type]

    def filename(self, url: str, **kw: object) -> str:
        oc = self.get(url, **kw)[0]  # type: ignore[arg-type]
        assert oc.kind == "file", oc
        # the translated path: the directory walk splits it into filename + path_info
        path = str(oc.request.filename) + (oc.request.path_info or "")
        return path.replace(str(self.root), "@ROOT@")


@pytest.fixture
def site(tmp_path: Path):
    def make(body: str, files: dict[str, str] | None = None) -> Site:
        return Site(tmp_path, body, files)
    return make


# --- server context ----------------------------------------------------------------------
def test_engine_off_by_default(site) -> None:
    s = site("RewriteRule ^/a$ /b\n")
    assert s.filename("/a") == "@ROOT@/htdocs/a"
    s2 = site("RewriteEngine off\nRewriteRule ^/a$ /b\n")
    assert s2.filename("/a") == "@ROOT@/htdocs/a"


def test_substitution_and_docroot_prefix(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/a$ /b.html
        RewriteRule ^/fs$ @ROOT@/other/x.txt
        """, {"other/x.txt": "x"})
    assert s.filename("/a") == "@ROOT@/htdocs/b.html"
    # a first segment that exists on disk: a filesystem path, not a URL-path
    assert s.filename("/fs") == "@ROOT@/other/x.txt"


def test_dash_keeps_url_and_rules_continue(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/a - [E=SEEN:1]
        RewriteRule ^/a$ /b.html
        """)
    oc, _ = s.get("/a")
    assert oc.request.filename.endswith("/htdocs/b.html")
    assert oc.request.subprocess_env["SEEN"] == "1"


def test_last_stops_and_without_last_continues(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/a$ /b [L]
        RewriteRule ^/b$ /c
        RewriteRule ^/x$ /y
        RewriteRule ^/y$ /z
        """)
    assert s.filename("/a") == "@ROOT@/htdocs/b"
    assert s.filename("/x") == "@ROOT@/htdocs/z"


def test_end_stops_per_directory_too(site) -> None:
    body = """
        RewriteEngine on
        RewriteRule ^/e$ /d/page.html [END]
        RewriteRule ^/l$ /d/page.html [L]
        """
    s = site(body, {"htdocs/d/.htaccess": "RewriteEngine on\nRewriteRule ^page\\.html$ "
                    "other.html\n", "htdocs/d/page.html": "p", "htdocs/d/other.html": "o"})
    assert s.filename("/e") == "@ROOT@/htdocs/d/page.html"
    assert s.filename("/l") == "@ROOT@/htdocs/d/other.html"


def test_chain(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/(a|b)/(.*)$ /$2 [C]
        RewriteRule ^/x$ /chained-x
        RewriteRule ^/(.*)$ /final-$1
        """)
    assert s.filename("/a/x") == "@ROOT@/htdocs/final-chained-x"
    # the first rule fails: the chained rule is skipped, the next one runs on /c/x
    assert s.filename("/c/x") == "@ROOT@/htdocs/final-c/x"


def test_skip(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/s$ - [S=2]
        RewriteRule ^/s$ /one
        RewriteRule ^/s$ /two
        RewriteRule ^/s$ /three
        """)
    assert s.filename("/s") == "@ROOT@/htdocs/three"


def test_next_round_and_limit(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/n/(.*)-(.*)$ /n/$1_$2 [N]
        RewriteRule ^/loop/(.*)$ /loop/$1x [N=5]
        """)
    assert s.filename("/n/a-b-c-d") == "@ROOT@/htdocs/n/a_b_c_d"
    oc, text = s.get("/loop/a")
    assert oc.status == 500
    assert "exceeded maximum number of rounds (5) via the [N] flag" in text


def test_nocase_and_negated_pattern(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/abc$ /nc [NC]
        RewriteRule !^/keep /other [L]
        """)
    assert s.filename("/ABC") == "@ROOT@/htdocs/other"   # /nc then !^/keep -> /other
    assert s.filename("/keep/me") == "@ROOT@/htdocs/keep/me"


def test_negated_pattern_has_no_backrefs(site) -> None:
    s = site("RewriteEngine on\nRewriteRule !^/(x)$ /got-$1-end [L]\n")
    assert s.filename("/y") == "@ROOT@/htdocs/got--end"


def test_forbidden_gone_and_status(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/f$ - [F]
        RewriteRule ^/g$ - [G]
        RewriteRule ^/s$ - [R=503]
        RewriteRule ^/subst$ /ignored [R=404]
        """)
    assert s.get("/f")[0].status == 403
    assert s.get("/g")[0].status == 410
    assert s.get("/s")[0].status == 503
    assert s.get("/subst")[0].status == 404


def test_redirects(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/r$ /target [R]
        RewriteRule ^/p$ /target [R=301]
        RewriteRule ^/o$ /target [R=seeother]
        RewriteRule ^/t$ /target [R=temp]
        RewriteRule ^/abs$ http://example.com/x
        RewriteRule ^/self$ http://test.local/local.html
        """)
    oc, _ = s.get("/r")
    assert (oc.status, oc.location) == (302, "http://test.local/target")
    assert s.get("/p")[0].status == 301
    assert s.get("/o")[0].status == 303
    assert s.get("/t")[0].status == 302
    assert s.location("/abs") == "http://example.com/x"
    # an absolute URL naming this server is reduced to a local path
    assert s.filename("/self") == "@ROOT@/htdocs/local.html"


def test_redirect_uses_host_and_port(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/r$ /target [R]\n")
    assert s.location("http://alias.test:8080/r") == "http://alias.test:8080/target"


def test_query_strings(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/new$ /t?a=1 [R]
        RewriteRule ^/qsa$ /t?a=1 [QSA,R]
        RewriteRule ^/drop$ /t? [R]
        RewriteRule ^/qsd$ /t [QSD,R]
        RewriteRule ^/qsl$ /t?x?y [QSL,R]
        RewriteRule ^/keep$ /t [R]
        """)
    assert s.location("/new?b=2") == "http://test.local/t?a=1"
    assert s.location("/qsa?b=2") == "http://test.local/t?a=1&b=2"
    assert s.location("/drop?b=2") == "http://test.local/t"
    assert s.location("/qsd?b=2") == "http://test.local/t"
    assert s.location("/qsl") == "http://test.local/t%3fx?y"
    assert s.location("/keep?b=%20c") == "http://test.local/t?b=%20c"


def test_escaping_on_redirect(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/e/(.*)$ /x/$1 [R]
        RewriteRule ^/ne/(.*)$ /x/$1 [R,NE]
        RewriteRule ^/b/(.*)$ /x?q=$1 [R,B]
        RewriteRule ^/bnp/(.*)$ /x?q=$1 [R,B,BNP]
        RewriteRule ^/bchars/(.*)$ /x/$1 [R,B=/]
        RewriteRule ^/anchor/(.*)$ /page#$1 [R,NE]
        """)
    assert s.location("/e/a%20b") == "http://test.local/x/a%20b"
    assert s.location("/ne/a%25b") == "http://test.local/x/a%b"
    # [B] output is escaped once more on the way out unless [NE] (as Apache does)
    assert s.location("/b/a%20b&c") == "http://test.local/x?q=a+b%2526c"
    assert s.location("/bnp/a%20b") == "http://test.local/x?q=a%2520b"
    assert s.location("/bchars/a/b%20c") == "http://test.local/x/a%252fb%20c"
    assert s.location("/anchor/top") == "http://test.local/page#top"


def test_unsafe_3f_and_control_characters(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/(.*)\\.html$ /$1.php
        RewriteRule ^/ok/(.*)$ /$1.txt [UnsafeAllow3F]
        RewriteRule ^/sp/(.*)$ /t?v=$1
        """)
    oc, text = s.get("/secret.php%3f.html")
    assert oc.status == 403
    assert "Unsafe URL with %3f URL rewritten without UnsafeAllow3F" in text
    assert s.filename("/ok/a%3fb") == "@ROOT@/htdocs/a"
    oc, text = s.get("/sp/a%20b")
    assert oc.status == 403
    assert "Rewritten query string contains control characters or spaces" in text


def test_unsafe_prefix_stat(site, tmp_path: Path) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/bp/(.*)$ $1
        RewriteRule ^/ok/(.*)$ $1 [UnsafePrefixStat]
        RewriteRule ^/in/(.*)$ %{DOCUMENT_ROOT}/$1
        """, {"secret/x.txt": "s", "htdocs/y.txt": "y"})
    # a back reference may not lead outside the document root ...
    assert s.filename(f"/bp/{tmp_path}/secret/x.txt") == \
        "@ROOT@/htdocs@ROOT@/secret/x.txt"
    # ... unless the rule says so
    assert s.filename(f"/ok/{tmp_path}/secret/x.txt") == "@ROOT@/secret/x.txt"
    assert s.filename("/in/y.txt") == "@ROOT@/htdocs/y.txt"


def test_type_and_handler(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/t$ /x.html [T=Application/X-Test]
        RewriteRule ^/h$ /x.html [H=my-handler]
        RewriteRule \\.dat$ - [T=text/x-$0]
        """, {"htdocs/x.html": "x"})
    oc, _ = s.get("/t")
    assert oc.request.content_type == "application/x-test"
    assert s.get("/h")[0].request.handler == "my-handler"
    assert s.get("/a.dat")[0].request.content_type == "text/x-.dat"


def test_env_and_cookie(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/e/(.*)$ - [E=ONE:$1,E=TWO,E=!GONE]
        RewriteRule ^/c$ - [CO=name:value:.test.local,CO=life:v:.test.local:10:/p:secure:httponly]
        RewriteRule ^/semi$ - [CO=;k;a:b;test.local]
        """)
    oc, _ = s.get("/e/val")
    env = oc.request.subprocess_env
    assert env["ONE"] == "val" and env["TWO"] == ""
    oc, _ = s.get("/c")
    cookies = oc.request.err_headers_out.get_all("Set-Cookie")
    assert cookies[0] == "name=value; path=/; domain=.test.local"
    assert cookies[1].startswith("life=v; path=/p; domain=.test.local; expires=")
    assert cookies[1].endswith("GMT; secure; HttpOnly")
    exp = cookies[1].split("expires=")[1].split(";")[0]
    t = time.mktime(time.strptime(exp, "%a, %d-%b-%Y %H:%M:%S GMT")) - time.timezone
    assert abs(t - (time.time() + 600)) < 30
    assert s.get("/semi")[0].request.err_headers_out.get("Set-Cookie") == \
        "k=a:b; path=/; domain=test.local"


def test_proxy_without_mod_proxy(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/p/(.*)$ http://backend.example/$1 [P]\n")
    oc, text = s.get("/p/x?y=1")
    assert oc.kind == "proxy" and oc.status == 502
    assert oc.target == "http://backend.example/x?y=1"
    assert "mod_proxy is not available" in text
    assert "=> proxy to http://backend.example/x?y=1" in text


def test_passthrough_to_alias(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/pt/(.*)$ /al/$1 [PT]
        RewriteRule ^/nopt/(.*)$ /al/$1
        Alias /al/ @ROOT@/aliased/
        """)
    assert s.filename("/pt/f.txt") == "@ROOT@/aliased/f.txt"
    # without PT the result is a filename: mod_alias never sees it
    assert s.filename("/nopt/f.txt") == "@ROOT@/htdocs/al/f.txt"


def test_backrefs_in_conditions(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteCond %{HTTP_HOST} ^([a-z]+)\\.test\\.local$
        RewriteCond %1-$1 ^(.*)$
        RewriteRule ^/(.*)$ /hosts/%1 [L]
        """)
    assert s.filename("/page", headers={"Host": "blog.test.local"}) == \
        "@ROOT@/htdocs/hosts/blog-page"


def test_conditions_or_and_negation(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteCond %{QUERY_STRING} a [OR]
        RewriteCond %{QUERY_STRING} b
        RewriteCond %{QUERY_STRING} !c
        RewriteRule ^/t$ /yes [L]
        """)
    assert s.filename("/t?a") == "@ROOT@/htdocs/yes"
    assert s.filename("/t?b") == "@ROOT@/htdocs/yes"
    assert s.filename("/t?ac") == "@ROOT@/htdocs/t"
    assert s.filename("/t?x") == "@ROOT@/htdocs/t"


@pytest.mark.parametrize("pattern,value,expect", [
    ("<b", "a", True), ("<b", "c", False), ("<b", "aa", False),   # length decides first
    (">b", "c", True), (">b", "a", False), (">b", "aa", True),
    ("<=b", "b", True), (">=b", "b", True), ("=abc", "abc", True), ("=abc", "ABC", False),
    ("-lt10", "9", True), ("-lt10", "10", False), ("-le10", "10", True),
    ("-gt10", "11", True), ("-ge10", "10", True), ("-eq10", "10", True),
    ("-ne10", "10", False), ("-eq0", "x", True),
])
def test_comparisons(site, pattern: str, value: str, expect: bool) -> None:
    s = site(f"RewriteEngine on\nRewriteCond %{{QUERY_STRING}} {pattern}\n"
             "RewriteRule ^/c$ /yes [L]\n")
    got = s.filename(f"/c?{value}") == "@ROOT@/htdocs/yes"
    assert got is expect


def test_comparison_nocase(site) -> None:
    s = site("RewriteEngine on\nRewriteCond %{QUERY_STRING} =abc [NC]\n"
             "RewriteRule ^/c$ /yes [L]\n")
    assert s.filename("/c?ABC") == "@ROOT@/htdocs/yes"


def test_file_tests(site, tmp_path: Path) -> None:
    files = {"htdocs/f.txt": "x", "htdocs/empty.txt": "", "htdocs/dir/x": "1",
             "htdocs/run.sh": "#!/bin/sh\n"}
    s = site("""
        RewriteEngine on
        RewriteCond %{DOCUMENT_ROOT}%{REQUEST_URI} -f
        RewriteRule ^/f/ - [S=99]
        RewriteCond @ROOT@/htdocs/%{QUERY_STRING} -f
        RewriteRule ^/isf$ /yes [L]
        RewriteCond @ROOT@/htdocs/%{QUERY_STRING} -s
        RewriteRule ^/iss$ /yes [L]
        RewriteCond @ROOT@/htdocs/%{QUERY_STRING} -d
        RewriteRule ^/isd$ /yes [L]
        RewriteCond @ROOT@/htdocs/%{QUERY_STRING} -l
        RewriteRule ^/isl$ /yes [L]
        RewriteCond @ROOT@/htdocs/%{QUERY_STRING} -x
        RewriteRule ^/isx$ /yes [L]
        """, files)
    os.chmod(tmp_path / "htdocs/run.sh", 0o755)
    os.symlink("f.txt", tmp_path / "htdocs/link.txt")

    def yes(url: str) -> bool:
        return s.filename(url) == "@ROOT@/htdocs/yes"
    assert yes("/isf?f.txt") and not yes("/isf?dir") and not yes("/isf?none")
    assert yes("/iss?f.txt") and not yes("/iss?empty.txt")
    assert yes("/isd?dir") and not yes("/isd?f.txt")
    assert yes("/isl?link.txt") and not yes("/isl?f.txt")
    assert yes("/isx?run.sh") and not yes("/isx?f.txt")


def test_subrequest_tests(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/secret - [F,NS]
        RewriteRule ^/secret2 - [F]
        RewriteCond /secret2 !-U
        RewriteRule ^/u2$ /denied [L]
        RewriteCond /open -U
        RewriteRule ^/u$ /allowed [L]
        RewriteCond @ROOT@/htdocs/x.html -F
        RewriteRule ^/ff$ /file-ok [L]
        RewriteCond %{LA-U:REQUEST_FILENAME} ^(.*)$
        RewriteRule ^/la/(.*)$ /la-result?%1 [L,NS]
        RewriteCond %{LA-F:REQUEST_FILENAME} ^(.*)$
        RewriteRule ^/lf/(.*)$ /lf-result?%1 [L]
        RewriteCond %{IS_SUBREQ} =true
        RewriteRule ^/sub-only$ /was-sub [L]
        """, {"htdocs/x.html": "x"})
    assert s.filename("/u") == "@ROOT@/htdocs/allowed"
    assert s.filename("/u2") == "@ROOT@/htdocs/denied"
    assert s.filename("/ff") == "@ROOT@/htdocs/file-ok"
    oc, _ = s.get("/la/q")
    # the sub-request's filename after its own directory walk (path_info split off)
    assert oc.request.args == f"{s.root}/htdocs/la"
    oc, _ = s.get("/lf/q")
    assert oc.request.args == "/lf"   # a file sub-request for the path /lf/q
    assert s.filename("/sub-only") == "@ROOT@/htdocs/sub-only"


def test_variables(site) -> None:
    s = site(r"""
        ServerAdmin admin@test.local
        RewriteEngine on
        RewriteRule ^/v$ /v?%{REQUEST_METHOD}|%{REQUEST_URI}|%{QUERY_STRING}|%{THE_REQUEST}|%{SERVER_NAME}|%{SERVER_PORT}|%{SERVER_ADDR}|%{REMOTE_ADDR}|%{HTTPS}|%{IS_SUBREQ}|%{API_VERSION}|%{SERVER_ADMIN}|%{SERVER_PROTOCOL}|%{REQUEST_SCHEME}|%{HTTP_USER_AGENT}|%{HTTP:X-Any}|%{ENV:HOME}|%{NOPE}|%{ssl:SSL_PROTOCOL}|%{http_host}|%{REMOTE_PORT}|%{REQUEST_FILENAME}|%{DOCUMENT_ROOT} [L,UnsafeAllow3F]
        """)
    oc, _ = s.get("/v", headers={"User-Agent": "UA", "X-Any": "xa"})
    parts = oc.request.args.split("|")
    assert parts[:12] == ["GET", "/v", "", "GET /v HTTP/1.1", "test.local", "80",
                          "127.0.0.1", "127.0.0.1", "off", "false", "20051115:43",
                          "admin@test.local"]
    assert parts[12:18] == ["HTTP/1.1", "http", "UA", "xa", os.environ.get("HOME", ""), ""]
    assert parts[18] == "" and parts[19] == "test.local" and parts[20].isdigit()
    assert parts[21] == "/v" and parts[22] == f"{s.root}/htdocs"


def test_time_variables(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/t$ /t?%{TIME_YEAR}-%{TIME_MON}-%{TIME_DAY}-"
             "%{TIME_HOUR}-%{TIME_MIN}-%{TIME_WDAY}-%{TIME} [L]\n")
    before = time.localtime()
    oc, _ = s.get("/t")
    y, mo, d, h, mi, wd, full = oc.request.args.split("-")
    assert y == f"{before.tm_year:04d}" and mo == f"{before.tm_mon:02d}"
    assert len(d) == 2 and len(h) == 2 and len(mi) == 2
    assert wd == str((before.tm_wday + 1) % 7) or wd == str((before.tm_wday + 2) % 7)
    assert len(full) == 14 and full.startswith(y + mo)


def test_vary_from_headers(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteCond %{HTTP_USER_AGENT} Mobile [OR]
        RewriteCond %{HTTP:Accept-Language} ^de
        RewriteRule ^/v$ /mobile [L]
        RewriteCond %{HTTP_REFERER} x [NV]
        RewriteRule ^/nv$ /nv2 [L]
        RewriteCond %{HTTP_HOST} test
        RewriteRule ^/h$ /h2 [L]
        """)
    oc, _ = s.get("/v", headers={"User-Agent": "Mobile", "Accept-Language": "de"})
    assert oc.request.headers_out.get("Vary") == "User-Agent"
    oc, _ = s.get("/v", headers={"User-Agent": "Desk", "Accept-Language": "de"})
    assert oc.request.headers_out.get("Vary") == "Accept-Language"
    oc, _ = s.get("/nv", headers={"Referer": "x"})
    assert oc.request.headers_out.get("Vary") is None
    oc, _ = s.get("/h")
    assert oc.request.headers_out.get("Vary") is None   # never Vary: Host


def test_nosubreq(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteRule ^/x$ /ns-hit [NS]
        RewriteCond %{LA-U:REQUEST_FILENAME} (.*)
        RewriteRule ^/probe$ /probe?%1 [L]
        """)
    # the sub-request for /probe does not apply the [NS] rule
    oc, _ = s.get("/probe")
    assert oc.request.args.endswith("/htdocs/probe")


def test_options_inherit_vhost(site) -> None:
    s = site("""
        Listen 80
        NameVirtualHost *:80
        RewriteEngine on
        RewriteRule ^/main$ /from-main [L]
        <VirtualHost *:80>
        ServerName a.test
        RewriteEngine on
        RewriteOptions inherit
        RewriteRule ^/own$ /from-a [L]
        </VirtualHost>
        <VirtualHost *:80>
        ServerName b.test
        RewriteEngine on
        RewriteRule ^/own$ /from-b [L]
        </VirtualHost>
        <VirtualHost *:80>
        ServerName c.test
        RewriteEngine on
        RewriteOptions InheritBefore
        RewriteRule ^/main$ /from-c [L]
        </VirtualHost>
        """)
    assert s.filename("http://a.test/main") == "@ROOT@/htdocs/from-main"
    assert s.filename("http://a.test/own") == "@ROOT@/htdocs/from-a"
    assert s.filename("http://b.test/main") == "@ROOT@/htdocs/main"
    assert s.filename("http://c.test/main") == "@ROOT@/htdocs/from-main"


def test_rewrite_options_errors() -> None:
    from featherd.errors import ConfigError

    with pytest.raises(ConfigError, match="RewriteOptions: unknown option 'Bogus'"):
        load_config(None, builtin_modules(), server_root="/",
                    text="RewriteOptions Bogus\n")
    with pytest.raises(ConfigError, match="RewriteBase: only valid in per-directory"):
        load_config(None, builtin_modules(), server_root="/", text="RewriteBase /x\n")
    tree = load_config(None, builtin_modules(), server_root="/",
                       text="RewriteOptions MaxRedirects=3\n")
    assert any("MaxRedirects option has been removed" in w for w in tree.warnings)


def test_any_uri_option(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/(.*)$ /x [L]\n")
    assert s.filename("/a") == "@ROOT@/htdocs/x"


def test_script_url_env(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/a$ /b [L]\n")
    oc, _ = s.get("/a")
    assert oc.request.subprocess_env["SCRIPT_URL"] == "/a"
    assert oc.request.subprocess_env["SCRIPT_URI"] == "http://test.local/a"


def test_tilde_expansion(site) -> None:
    import pwd

    home = pwd.getpwuid(os.getuid())
    s = site(f"RewriteEngine on\nRewriteRule ^/home$ /~{home.pw_name}/x [L]\n")
    assert s.get("/home")[0].request.filename == home.pw_dir.rstrip("/") + "/x"


def test_length_limit(site) -> None:
    s = site("LimitRequestLine 100\nRewriteEngine on\n"
             "RewriteRule ^/(.*)$ /$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1\n")
    oc, text = s.get("/" + "a" * 20)
    assert oc.status == 500
    assert "exceeded maximum length (200)" in text


# --- per-directory context ----------------------------------------------------------------
def test_perdir_prefix_strip_and_readd(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/d>
        RewriteEngine on
        RewriteRule ^a$ b.html [L]
        RewriteRule ^abs$ /d/b.html [L]
        RewriteRule ^pi/(.*)$ b.html?pi=$1 [L]
        </Directory>
        """, {"htdocs/d/b.html": "b"})
    oc, text = s.get("/d/a")
    assert oc.request.filename == f"{s.root}/htdocs/d/b.html"
    assert oc.request.uri == "/d/b.html"      # the internal redirect's URL-path
    assert "internal redirect to /d/b.html" in text
    assert s.filename("/d/abs") == "@ROOT@/htdocs/d/b.html"
    oc, _ = s.get("/d/pi/x/y")
    assert oc.request.args == "pi=x/y"


def test_perdir_rewritebase(site) -> None:
    s = site("""
        Alias /virt/ @ROOT@/real/
        <Directory @ROOT@/real>
        RewriteEngine on
        RewriteBase /virt/
        RewriteRule ^a$ b.html [L]
        RewriteRule ^r$ b.html [R]
        </Directory>
        <Directory @ROOT@/nobase>
        RewriteEngine on
        RewriteRule ^r$ b.html [R]
        </Directory>
        Alias /nb/ @ROOT@/nobase/
        """, {"real/b.html": "b", "nobase/b.html": "b"})
    assert s.filename("/virt/a") == "@ROOT@/real/b.html"
    assert s.location("/virt/r") == "http://test.local/virt/b.html"
    # without RewriteBase the filesystem path leaks into the redirect (as in Apache)
    assert s.location("/nb/r") == f"http://test.local{s.root}/nobase/b.html"


def test_perdir_loop_hits_limit(site) -> None:
    s = site("""
        LimitInternalRecursion 5
        <Directory @ROOT@/htdocs/l>
        RewriteEngine on
        RewriteRule ^(.*)$ x$1
        </Directory>
        """, {"htdocs/l/f": "f"})
    oc, _ = s.get("/l/f")
    assert oc.status == 500


def test_perdir_same_result_no_redirect(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/s>
        RewriteEngine on
        RewriteRule ^(.*)$ $1
        </Directory>
        """, {"htdocs/s/f.html": "f"})
    oc, text = s.get("/s/f.html")
    assert oc.request.prev is None and oc.status == 200
    assert "rewrite ignored" in text


def test_perdir_needs_symlink_option(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/o>
        Options -FollowSymLinks -SymLinksIfOwnerMatch
        RewriteEngine on
        RewriteRule ^a$ b [L]
        </Directory>
        """, {"htdocs/o/b": "b"})
    oc, text = s.get("/o/a")
    assert oc.status == 403
    assert "Options FollowSymLinks or SymLinksIfOwnerMatch is off" in text


def test_perdir_directory_without_slash_declines(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/ns>
        RewriteEngine on
        RewriteRule ^(.*)$ elsewhere [L]
        </Directory>
        """, {"htdocs/ns/elsewhere": "e"})
    oc, _ = s.get("/ns")
    assert "elsewhere" not in (oc.request.filename or "") and oc.request.prev is None


def test_perdir_inherit(site) -> None:
    s = site("", {
        "htdocs/p/.htaccess": "RewriteEngine on\nRewriteRule ^parent$ fromparent.html [L]\n",
        "htdocs/p/c/.htaccess": "RewriteEngine on\nRewriteOptions inherit\n"
                                "RewriteRule ^child$ fromchild.html [L]\n",
        "htdocs/p/n/.htaccess": "RewriteEngine on\nRewriteRule ^child$ fromchild.html [L]\n",
        "htdocs/p/c/fromparent.html": "x", "htdocs/p/c/fromchild.html": "x",
        "htdocs/p/n/x": "x"})
    assert s.filename("/p/c/parent") == "@ROOT@/htdocs/p/c/fromparent.html"
    assert s.filename("/p/c/child") == "@ROOT@/htdocs/p/c/fromchild.html"
    assert s.filename("/p/n/parent") == "@ROOT@/htdocs/p/n/parent"


def test_perdir_engine_inherited_rules_not(site) -> None:
    s = site("", {
        "htdocs/q/.htaccess": "RewriteEngine on\nRewriteRule ^x$ y [L]\n",
        "htdocs/q/sub/.htaccess": "RewriteRule ^a$ b.html [L]\n",
        "htdocs/q/sub/b.html": "b"})
    # RewriteEngine on is inherited, the parent's rules are not
    assert s.filename("/q/sub/a") == "@ROOT@/htdocs/q/sub/b.html"
    assert s.filename("/q/sub/x") == "@ROOT@/htdocs/q/sub/x"


def test_perdir_unrelated_section_keeps_rules(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/k>
        RewriteEngine on
        RewriteRule ^a$ b.html [L]
        </Directory>
        <Files a>
        ForceType text/plain
        </Files>
        """, {"htdocs/k/b.html": "b"})
    assert s.filename("/k/a") == "@ROOT@/htdocs/k/b.html"


def test_perdir_passthrough_ignored(site) -> None:
    s = site("""
        Alias /al/ @ROOT@/aliased/
        <Directory @ROOT@/htdocs/pt>
        RewriteEngine on
        RewriteRule ^x$ /al/f.txt [PT,L]
        </Directory>
        """, {"aliased/f.txt": "f", "htdocs/pt/y": "y"})
    assert s.filename("/pt/x") == "@ROOT@/aliased/f.txt"


def test_perdir_dpi(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/dp>
        RewriteEngine on
        RewriteRule ^keep/(.*)$ t.txt [L]
        RewriteRule ^drop/(.*)$ t.txt [DPI,L]
        </Directory>
        """, {"htdocs/dp/t.txt": "t"})
    assert s.filename("/dp/keep/x") == "@ROOT@/htdocs/dp/t.txt"
    assert s.filename("/dp/drop/x") == "@ROOT@/htdocs/dp/t.txt"


def test_perdir_type_kept_only_without_substitution(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/ty>
        RewriteEngine on
        RewriteRule ^dash\\.x$ - [T=text/x-dash]
        RewriteRule ^sub\\.x$ t.txt [T=text/x-sub,L]
        </Directory>
        """, {"htdocs/ty/t.txt": "t", "htdocs/ty/dash.x": "d"})
    assert s.get("/ty/dash.x")[0].request.content_type == "text/x-dash"
    assert s.get("/ty/sub.x")[0].request.content_type == "text/plain"


# --- the explainer's report ----------------------------------------------------------------
def test_explainer_report(site) -> None:
    s = site("""
        RewriteEngine on
        RewriteMap lower int:tolower
        RewriteCond %{HTTP_HOST} ^(www)\\.(.*)$ [NC]
        RewriteRule ^/(.*)$ http://%2/${lower:$1} [R=301,L]
        """)
    oc, text = s.get("http://WWW.Example.com/Page")
    assert oc.location == "http://Example.com/page"
    assert "Virtual host: main server test.local" in text
    assert "[1] RewriteRule ^/(.*)$ http://%2/${lower:$1} [R=301,L]" in text
    assert "input '/Page' -> matched  $0='/Page' $1='Page'" in text
    assert "RewriteCond %{HTTP_HOST} ^(www)\\.(.*)$ [NC]" in text
    assert "TestString 'WWW.Example.com' -> true  %0='WWW.Example.com' %1='WWW' " \
           "%2='Example.com'" in text
    assert "map lower: key 'Page' -> 'page'" in text
    assert "=> external redirect 301 to http://Example.com/page" in text
    assert "Result: redirect 301 Location: http://Example.com/page" in text


def test_explainer_verbose_log_lines(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/a$ /b [L]\n")
    out = io.StringIO()
    asyncio.run(explain(s.tree, "/a", [], verbose=True, out=out))
    assert "log (2) rewrite '/a' -> '/b'" in out.getvalue()
    assert "log (1) go-ahead with " in out.getvalue()


def test_forced_type_never_carries_crlf(site) -> None:
    s = site("RewriteEngine on\nRewriteRule ^/t/([\\s\\S]*)$ /x.html [T=text/$1]\n",
             {"htdocs/x.html": "x"})
    oc, text = s.get("/t/plain%0d%0aSet-Cookie:%20a=b")
    assert "\n" not in (oc.request.content_type or "")
    assert "refusing a MIME-type with control characters" in text


def test_engine_on_without_rules_still_needs_symlink_option(site) -> None:
    s = site("""
        <Directory @ROOT@/htdocs/e>
        Options None
        RewriteEngine on
        </Directory>
        """, {"htdocs/e/f.txt": "f"})
    assert s.get("/e/f.txt")[0].status == 403
