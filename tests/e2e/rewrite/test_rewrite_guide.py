"""The recipes of Apache 2.2's "URL Rewriting Guide" (and its advanced part), one test
each, plus the mod_ssl FAQ rule. Every recipe runs in its own name-based virtual host
(``<recipe>.test``) with the rules as the guide writes them; only host names and paths
are adapted to the test machine (``@ROOT@``), and ``/~quux/`` is an Alias standing in for
mod_userdir (so server-context rules leading there get [PT], as the guide's ATTENTION
note says).
"""

from __future__ import annotations

import stat
import sys
import time

import pytest
import requests
from featherd_testlib import Server, base_conf, free_port

RECIPES: dict[str, tuple[str, dict[str, str]]] = {
    "canonical-urls": (r"""
RewriteEngine on
RewriteRule ^/~([^/]+)/?(.*) /u/$1/$2 [R]
RewriteRule ^/([uge])/([^/]+)$ /$1/$2/ [R]
""", {}),
    "canon": (r"""
ServerAlias *.canon.test
RewriteEngine on
RewriteCond %{HTTP_HOST}   !^canon\.test [NC]
RewriteCond %{HTTP_HOST}   !^$
RewriteCond %{SERVER_PORT} !^80$
RewriteRule ^/(.*)         http://canon.test:%{SERVER_PORT}/$1 [L,R]
""", {"index.html": "canonical\n"}),
    "canon80": (r"""
ServerAlias *.canon80.test
RewriteEngine on
RewriteCond %{HTTP_HOST}   !^canon80\.test [NC]
RewriteCond %{HTTP_HOST}   !^$
RewriteRule ^/(.*)         http://canon80.test/$1 [L,R]
""", {}),
    "moved-docroot": (r"""
RewriteEngine on
RewriteRule ^/$ /about/ [R]
""", {"about/index.html": "about\n"}),
    "trailing-slash": ("", {
        "quux/.htaccess": "RewriteEngine on\nRewriteBase /~quux/\nRewriteRule ^foo$ foo/ [R]\n",
        "quux/foo/index.html": "foo\n",
        "quux/crazy/.htaccess": "RewriteEngine on\nRewriteBase /~quux/crazy/\n"
                                "RewriteCond %{REQUEST_FILENAME} -d\n"
                                "RewriteRule ^(.+[^/])$ $1/ [R]\n",
        "quux/crazy/sub/x.html": "x\n"}),
    "webcluster": (r"""
RewriteEngine on
RewriteMap user-to-host txt:@DIR@/map.user-to-host
RewriteRule ^/u/([^/]+)/?(.*) http://${user-to-host:$1|server0}/u/$1/$2
""", {"map.user-to-host": "user1  server_of_user1\nuser2  server_of_user2\n"}),
    "move-homedirs": (r"""
RewriteEngine on
RewriteRule ^/~(.+) http://newserver/~$1 [R,L]
""", {}),
    "structured-homedirs": (r"""
RewriteEngine on
RewriteRule ^/~(([a-z])[a-z0-9]+)(.*) @DIR@/home/$2/$1/.www$3
""", {"home/q/quux/.www/page.html": "structured\n"}),
    "failing-urls": (r"""
RewriteEngine on
RewriteCond @DIR@%{REQUEST_FILENAME} !-f
RewriteRule ^(.+) http://webserverB.dom/$1
""", {"present.html": "here\n"}),
    "time": ("", {
        "quux/.htaccess": "RewriteEngine on\nRewriteBase /~quux/\n"
                          "RewriteCond %{TIME_HOUR}%{TIME_MIN} >0700\n"
                          "RewriteCond %{TIME_HOUR}%{TIME_MIN} <1900\n"
                          "RewriteRule ^foo\\.html$ foo.day.html\n"
                          "RewriteRule ^foo\\.html$ foo.night.html\n",
        "quux/foo.day.html": "day\n", "quux/foo.night.html": "night\n"}),
    "backward": ("", {
        "quux/.htaccess": "RewriteEngine on\nRewriteBase /~quux/\n"
                          "RewriteRule ^(.*)\\.html$ $1 [C,E=WasHTML:yes]\n"
                          "RewriteCond %{REQUEST_FILENAME}.phtml -f\n"
                          "RewriteRule ^(.*)$ $1.phtml [S=1]\n"
                          "RewriteCond %{ENV:WasHTML} ^yes$\n"
                          "RewriteRule ^(.*)$ $1.html\n",
        "quux/document.phtml": "new phtml\n", "quux/other.html": "old html\n"}),
    "old-to-new": ("", {
        "quux/.htaccess": "RewriteEngine on\nRewriteBase /~quux/\n"
                          "RewriteRule ^foo\\.html$ bar.html\n"
                          "RewriteRule ^ext\\.html$ bar.html [R]\n",
        "quux/bar.html": "bar\n"}),
    "static-to-dynamic": (r"""
RewriteEngine on
RewriteRule ^/~quux/foo\.html$ /~quux/foo.cgi [T=application/x-httpd-cgi,PT]
""", {"quux/foo.cgi": "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho dynamic\n"}),
    "browser": ("", {
        "quux/.htaccess": "RewriteEngine on\nRewriteBase /~quux/\n"
                          "RewriteCond %{HTTP_USER_AGENT} ^Mozilla/3.*\n"
                          "RewriteRule ^foo\\.html$ foo.NS.html [L]\n"
                          "RewriteCond %{HTTP_USER_AGENT} ^Lynx/.* [OR]\n"
                          "RewriteCond %{HTTP_USER_AGENT} ^Mozilla/[12].*\n"
                          "RewriteRule ^foo\\.html$ foo.20.html [L]\n"
                          "RewriteRule ^foo\\.html$ foo.32.html [L]\n",
        "quux/foo.NS.html": "NS\n", "quux/foo.20.html": "20\n",
        "quux/foo.32.html": "32\n"}),
    "robots": (r"""
RewriteEngine on
RewriteCond %{HTTP_USER_AGENT}   ^NameOfBadRobot.*
RewriteCond %{REMOTE_ADDR}       ^127\.0\.0\.[0-9]$
RewriteRule ^/~quux/foo/arc/.+   -   [F]
""", {"quux/foo/arc/file.txt": "archive\n"}),
    "inline-images": (r"""
RewriteEngine on
RewriteCond %{HTTP_REFERER} !^$
RewriteCond %{HTTP_REFERER} !^http://www.quux-corp.de/~quux/.*$ [NC]
RewriteRule .*\.gif$        -                                    [F]
""", {"quux/pic.gif": "GIF89a"}),
    "deflector": (r"""
RewriteEngine on
RewriteMap  deflector txt:@DIR@/deflector.map
RewriteCond %{HTTP_REFERER} !=""
RewriteCond ${deflector:%{HTTP_REFERER}} ^-$
RewriteRule ^.* %{HTTP_REFERER} [R,L]
RewriteCond %{HTTP_REFERER} !=""
RewriteCond ${deflector:%{HTTP_REFERER}|NOT-FOUND} !=NOT-FOUND
RewriteRule ^.* ${deflector:%{HTTP_REFERER}} [R,L]
""", {"deflector.map": "http://www.badguys.com/bad/index.html    -\n"
                       "http://www.badguys.com/bad/index2.html   -\n"
                       "http://www.badguys.com/bad/index3.html   http://somewhere.com/\n",
      "page.html": "page\n"}),
    "host-deny": (r"""
RewriteEngine on
RewriteMap    hosts-deny  txt:@DIR@/hosts.deny
RewriteCond   ${hosts-deny:%{REMOTE_HOST}|NOT-FOUND} !=NOT-FOUND [OR]
RewriteCond   ${hosts-deny:%{REMOTE_ADDR}|NOT-FOUND} !=NOT-FOUND
RewriteRule   ^/.*  -  [F]
""", {"hosts.deny": "193.102.180.41 -\nbsdti1.sdm.de  -\n127.0.0.1      -\n"}),
    "special-auth": (r"""
RewriteEngine on
RewriteCond %{REMOTE_IDENT}@%{REMOTE_HOST} !^friend1@client1.quux-corp\.com$
RewriteCond %{REMOTE_IDENT}@%{REMOTE_HOST} !^friend2@client2.quux-corp\.com$
RewriteCond %{REMOTE_IDENT}@%{REMOTE_HOST} !^friend3@client3.quux-corp\.com$
RewriteRule ^/~quux/only-for-friends/      -                                 [F]
""", {"quux/only-for-friends/x.html": "secret\n", "quux/public.html": "public\n"}),
    "dynamic-mirror": ("", {
        "quux/.htaccess": "RewriteEngine on\nRewriteBase /~quux/\n"
                          "RewriteRule ^hotsheet/(.*)$ http://www.tstimpreso.com/hotsheet/$1 "
                          "[P]\n"}),
    "load-balancing": (r"""
RewriteEngine on
RewriteMap    servers rnd:@DIR@/servers.map
RewriteRule   ^/(.*\.(png|gif|jpg)) http://${servers:static}/$1 [NC,P,L]
RewriteRule   ^/(.*) http://${servers:dynamic}/$1 [P,L]
""", {"servers.map": "static   www1|www2|www3|www4\ndynamic  www5|www6\n"}),
    "external-engine": (r"""
RewriteEngine on
RewriteMap    quux-map       prg:@DIR@/map.quux.sh
RewriteRule   ^/~quux/(.*)$  /~quux/${quux-map:$1} [PT]
""", {"quux/bar/page.html": "mapped by the program\n"}),
    "mass-vhosting": (r"""
ServerAlias *.host.com
RewriteEngine on
RewriteCond   %{HTTP_HOST}                 ^www\.[^.]+\.host\.com$
RewriteRule   ^(.+)                        %{HTTP_HOST}$1          [C]
RewriteRule   ^www\.([^.]+)\.host\.com(.*) @DIR@/home/$1$2
""", {"home/alice/index.html": "alice's site\n"}),
    "virtual-user-hosts": (r"""
ServerAlias *.users.com
RewriteEngine on
RewriteCond   %{HTTP_HOST}                 ^www\.([^.]+)\.users\.com$
RewriteRule   ^(.*)$ @DIR@/home/%1$1
""", {"home/bob/page.html": "bob's page\n"}),
    "foreigners": (r"""
RewriteEngine on
RewriteCond   %{REMOTE_HOST}  !^.+\.ourdomain\.com$
RewriteRule   ^(/~.+)         http://www.somewhere.com/$1 [R,L]
""", {}),
    "anchors": (r"""
RewriteEngine on
RewriteRule ^/anchor/(.+) /bigpage.html#$1 [NE,R]
""", {"bigpage.html": "big\n"}),
    "env-from-url": (r"""
RewriteEngine on
RewriteRule   ^(.*)/S=([^/]+)/(.*)    $1/$3 [E=STATUS:$2]
""", {"dir/page.html": "page\n"}),
    "multi-dir": (r"""
RewriteEngine on
RewriteCond         %{DOCUMENT_ROOT}/dir1/%{REQUEST_URI}  -f
RewriteRule  ^(.+)  %{DOCUMENT_ROOT}/dir1/$1  [L]
RewriteCond         %{DOCUMENT_ROOT}/dir2/%{REQUEST_URI}  -f
RewriteRule  ^(.+)  %{DOCUMENT_ROOT}/dir2/$1  [L]
RewriteRule   ^(.+)  -  [PT]
""", {"dir1/a.html": "in dir1\n", "dir2/b.html": "in dir2\n", "c.html": "at root\n"}),
    "refresh": (r"""
RewriteEngine on
RewriteRule   ^(/[uge]/[^/]+/?.*):refresh  /internal/cgi/apache/nph-refresh?f=$1
""", {"internal/cgi/apache/nph-refresh": "refresher\n"}),
    "ssl-faq": (r"""
RewriteEngine on
RewriteRule ^/(.*):SSL$   https://%{SERVER_NAME}/$1 [R,L]
RewriteRule ^/(.*):NOSSL$ http://%{SERVER_NAME}/$1 [R,L]
""", {}),
}

PRG = """import sys
for line in sys.stdin:
    line = line.rstrip("\\n")
    if line.startswith("foo/"):
        line = "bar/" + line[4:]
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("guide")
    (root / "logs").mkdir()
    (root / "htdocs").mkdir()
    port = free_port()
    parts = [f"NameVirtualHost *:{port}",
             'LogFormat "%v %U %{STATUS}e" guide', "CustomLog logs/guide_log guide",
             f"<Directory {root}>\nAllowOverride All\n</Directory>"]
    for name, (rules, files) in RECIPES.items():
        d = root / name
        (d / "quux").mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text.replace("@DIR@", str(d)))
        parts.append(f"<VirtualHost *:{port}>\nServerName {name}.test\nDocumentRoot {d}\n"
                     f"Alias /~quux/ {d}/quux/\n" + rules.replace("@DIR@", str(d))
                     + "</VirtualHost>")
    (root / "static-to-dynamic" / "quux" / "foo.cgi").chmod(0o755)
    prog = root / "external-engine" / "map.quux.sh"
    (root / "external-engine" / "map.quux.py").write_text(PRG)
    prog.write_text(f"#!/bin/sh\nexec {sys.executable} {prog.with_suffix('.py')}\n")
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)
    s = Server(root, base_conf(port, "\n".join(parts) + "\n"), port).start()
    yield s
    s.stop()


def get(srv: Server, recipe: str, path: str, host: str | None = None,
        **headers: str) -> requests.Response:
    h = {"Host": host or f"{recipe}.test", **{k.replace("_", "-"): v
                                              for k, v in headers.items()}}
    return requests.get(srv.url(path), headers=h, allow_redirects=False, timeout=10)


def location(srv: Server, r: requests.Response) -> str:
    return r.headers.get("Location", "").replace(f":{srv.port}", ":PORT")


def test_canonical_urls(srv: Server) -> None:
    r = get(srv, "canonical-urls", "/~quux/foo")
    assert r.status_code == 302
    assert location(srv, r) == "http://canonical-urls.test/u/quux/foo"
    r = get(srv, "canonical-urls", "/u/quux")
    assert location(srv, r) == "http://canonical-urls.test/u/quux/"


def test_canonical_hostnames(srv: Server) -> None:
    r = get(srv, "canon", "/page.html", host=f"www.canon.test:{srv.port}")
    assert location(srv, r) == "http://canon.test:PORT/page.html"
    assert get(srv, "canon", "/", host=f"canon.test:{srv.port}").text == "canonical\n"
    r = get(srv, "canon80", "/x", host="www.canon80.test")
    assert location(srv, r) == "http://canon80.test/x"


def test_moved_document_root(srv: Server) -> None:
    r = get(srv, "moved-docroot", "/")
    assert location(srv, r) == "http://moved-docroot.test/about/"
    assert get(srv, "moved-docroot", "/about/index.html").text == "about\n"


def test_trailing_slash(srv: Server) -> None:
    r = get(srv, "trailing-slash", "/~quux/foo")
    assert r.status_code == 302
    assert location(srv, r) == "http://trailing-slash.test/~quux/foo/"
    r = get(srv, "trailing-slash", "/~quux/crazy/sub")
    assert location(srv, r) == "http://trailing-slash.test/~quux/crazy/sub/"
    assert get(srv, "trailing-slash", "/~quux/crazy/sub/x.html").text == "x\n"


def test_webcluster(srv: Server) -> None:
    r = get(srv, "webcluster", "/u/user1/a/b")
    assert location(srv, r) == "http://server_of_user1/u/user1/a/b"
    assert location(srv, get(srv, "webcluster", "/u/other")) == "http://server0/u/other/"


def test_move_homedirs(srv: Server) -> None:
    r = get(srv, "move-homedirs", "/~quux/page")
    assert location(srv, r) == "http://newserver/~quux/page"


def test_structured_homedirs(srv: Server) -> None:
    assert get(srv, "structured-homedirs", "/~quux/page.html").text == "structured\n"


def test_redirect_failing_urls(srv: Server) -> None:
    assert get(srv, "failing-urls", "/present.html").text == "here\n"
    r = get(srv, "failing-urls", "/missing.html")
    assert location(srv, r) == "http://webserverB.dom//missing.html"


def test_time_dependent(srv: Server) -> None:
    before = time.localtime()
    text = get(srv, "time", "/~quux/foo.html").text
    after = time.localtime()
    if (before.tm_hour, before.tm_min) != (after.tm_hour, after.tm_min):
        pytest.skip("the minute changed during the request")
    hhmm = f"{before.tm_hour:02d}{before.tm_min:02d}"
    assert text == ("day\n" if "0700" < hhmm < "1900" else "night\n")


def test_backward_compatibility(srv: Server) -> None:
    assert get(srv, "backward", "/~quux/document.html").text == "new phtml\n"
    assert get(srv, "backward", "/~quux/other.html").text == "old html\n"


def test_old_to_new_internal_and_external(srv: Server) -> None:
    assert get(srv, "old-to-new", "/~quux/foo.html").text == "bar\n"
    r = get(srv, "old-to-new", "/~quux/ext.html")
    assert location(srv, r) == "http://old-to-new.test/~quux/bar.html"


def test_static_to_dynamic(srv: Server) -> None:
    # [T=application/x-httpd-cgi] makes mod_cgi run the script
    r = get(srv, "static-to-dynamic", "/~quux/foo.html")
    assert r.text == "dynamic\n"
    assert r.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize("ua,page", [("Mozilla/3.0 (X11)", "NS"), ("Lynx/2.8", "20"),
                                     ("Mozilla/2.02", "20"), ("Mozilla/5.0", "32")])
def test_browser_dependent_content(srv: Server, ua: str, page: str) -> None:
    assert get(srv, "browser", "/~quux/foo.html", User_Agent=ua).text == page + "\n"


def test_blocking_robots(srv: Server) -> None:
    assert get(srv, "robots", "/~quux/foo/arc/file.txt",
               User_Agent="NameOfBadRobot/1.0").status_code == 403
    assert get(srv, "robots", "/~quux/foo/arc/file.txt",
               User_Agent="GoodBrowser").text == "archive\n"


def test_blocked_inline_images(srv: Server) -> None:
    assert get(srv, "inline-images", "/~quux/pic.gif",
               Referer="http://evil.example/page").status_code == 403
    assert get(srv, "inline-images", "/~quux/pic.gif",
               Referer="http://WWW.QUUX-CORP.DE/~quux/index.html").status_code == 200
    assert get(srv, "inline-images", "/~quux/pic.gif").status_code == 200


def test_referer_based_deflector(srv: Server) -> None:
    bad = "http://www.badguys.com/bad/index.html"
    r = get(srv, "deflector", "/page.html", Referer=bad)
    assert location(srv, r) == bad
    r = get(srv, "deflector", "/page.html", Referer="http://www.badguys.com/bad/index3.html")
    assert location(srv, r) == "http://somewhere.com/"
    assert get(srv, "deflector", "/page.html", Referer="http://fine.example/").text == \
        "page\n"


def test_host_deny(srv: Server) -> None:
    assert get(srv, "host-deny", "/anything").status_code == 403


def test_special_authentication_variant(srv: Server) -> None:
    # no ident for this client: not a friend
    assert get(srv, "special-auth", "/~quux/only-for-friends/x.html").status_code == 403
    assert get(srv, "special-auth", "/~quux/public.html").text == "public\n"


def test_dynamic_mirror(srv: Server) -> None:
    assert get(srv, "dynamic-mirror", "/~quux/hotsheet/news.html").status_code == 502
    assert "proxy:http://www.tstimpreso.com/hotsheet/news.html" in srv.error_log()


def test_load_balancing(srv: Server) -> None:
    assert get(srv, "load-balancing", "/img/logo.PNG").status_code == 502
    assert get(srv, "load-balancing", "/app/page").status_code == 502
    log = srv.error_log()
    assert any(f"proxy:http://www{i}/img/logo.PNG" in log for i in (1, 2, 3, 4))
    assert any(f"proxy:http://www{i}/app/page" in log for i in (5, 6))


def test_external_rewriting_engine(srv: Server) -> None:
    assert get(srv, "external-engine", "/~quux/foo/page.html").text == \
        "mapped by the program\n"


def test_mass_virtual_hosting(srv: Server) -> None:
    assert get(srv, "mass-vhosting", "/index.html",
               host="www.alice.host.com").text == "alice's site\n"


def test_virtual_user_hosts(srv: Server) -> None:
    assert get(srv, "virtual-user-hosts", "/page.html",
               host="www.bob.users.com").text == "bob's page\n"


def test_redirect_homedirs_for_foreigners(srv: Server) -> None:
    r = get(srv, "foreigners", "/~quux/x")
    assert location(srv, r) == "http://www.somewhere.com//~quux/x"


def test_redirecting_anchors(srv: Server) -> None:
    r = get(srv, "anchors", "/anchor/section2")
    assert location(srv, r) == "http://anchors.test/bigpage.html#section2"


def test_environment_from_url_parts(srv: Server) -> None:
    assert get(srv, "env-from-url", "/dir/S=tested/page.html").text == "page\n"
    deadline = time.monotonic() + 5   # each worker flushes its log about once a second
    log = ""
    while time.monotonic() < deadline:
        log = srv.access_log("guide_log")
        if "/dir/S=tested/page.html tested" in log:
            break
        time.sleep(0.1)
    assert "env-from-url.test /dir/S=tested/page.html tested" in log


def test_search_more_than_one_directory(srv: Server) -> None:
    assert get(srv, "multi-dir", "/a.html").text == "in dir1\n"
    assert get(srv, "multi-dir", "/b.html").text == "in dir2\n"
    assert get(srv, "multi-dir", "/c.html").text == "at root\n"


def test_new_service_refresh(srv: Server) -> None:
    assert get(srv, "refresh", "/u/quux/page.html:refresh").text == "refresher\n"


def test_mod_ssl_faq_ssl_suffix(srv: Server) -> None:
    r = get(srv, "ssl-faq", "/secure/page.html:SSL")
    assert r.status_code == 302
    assert location(srv, r) == "https://ssl-faq.test/secure/page.html"
    r = get(srv, "ssl-faq", "/plain:NOSSL")
    assert location(srv, r) == "http://ssl-faq.test/plain"
