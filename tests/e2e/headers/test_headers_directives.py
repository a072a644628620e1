"""mod_headers end to end (manual: mod_headers, 2.2 and 2.4): every Header and
RequestHeader action, the format specifiers, env= with SetEnvIf, onsuccess vs always on
success, errors, redirects and ErrorDocument, early processing, the order of sections,
.htaccess (FileInfo), and headers a CGI script sets."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import requests

PY = sys.executable
ENV_CGI = f"""#!{PY}
import json, os
print("Content-Type: application/json")
print("X-From-Script: script")
print()
print(json.dumps({{k: v for k, v in os.environ.items() if k.startswith("HTTP_")}}))
"""


def start(make_server: Any, tmp_path: Path, conf: str,
          files: dict[str, str] | None = None) -> Any:
    fs = {"htdocs/index.html": "<p>hi</p>\n", "htdocs/sub/page.html": "sub\n",
          "htdocs/t.txt": "text\n"}
    fs.update(files or {})
    srv = make_server('ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"\n' + conf, files=fs,
                      start=False)
    p = tmp_path / "htdocs" / "cgi-bin" / "env.py"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(ENV_CGI)
    p.chmod(0o755)
    return srv.start()


def get(srv: Any, path: str, **kw: Any) -> requests.Response:
    return requests.get(srv.url(path), allow_redirects=False, timeout=10, **kw)


def test_set_add_append_merge_unset(make_server: Any, tmp_path: Path) -> None:
    conf = """
Header set X-Set first
Header set X-Set second
Header add X-Add one
Header add X-Add two
Header append X-App a
Header append X-App b
Header merge Cache-Control no-cache
Header merge Cache-Control no-cache
Header merge Cache-Control no-store
Header unset Accept-Ranges
Header set X-Colon: "with colon"
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/index.html")
    assert r.headers["X-Set"] == "second"
    assert r.raw.headers.getlist("X-Add") == ["one", "two"]
    assert r.headers["X-App"] == "a, b"
    assert r.headers["Cache-Control"] == "no-cache, no-store"
    assert "Accept-Ranges" not in r.headers
    assert r.headers["X-Colon"] == "with colon"


def test_echo_edit_setifempty_note(make_server: Any, tmp_path: Path) -> None:
    conf = r"""
Header echo ^TS
Header edit Server ^(\S+).*$ "$1 (edited)"
Header edit* X-Edit o 0
Header set X-Edit "foo boo"
Header setifempty Content-Language en
Header note ETag etag-note
LogFormat "%{etag-note}n" notes
CustomLog logs/notes_log notes
"""
    # the edit of X-Edit comes before it is set: nothing to edit (order matters)
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/index.html", headers={"TS-One": "1", "ts-two": "2", "Other": "3"})
    assert r.headers["TS-One"] == "1" and "ts-two" not in r.headers and "Other" not in r.headers
    assert r.headers["X-Edit"] == "foo boo"
    assert r.headers["Content-Language"] == "en"
    deadline = time.monotonic() + 5
    while not srv.access_log("notes_log").strip() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.access_log("notes_log").strip().replace('\\"', '"') == r.headers["ETag"]
    srv2 = start(make_server, tmp_path, 'Header set X-Edit "foo boo"\n'
                                        "Header edit* X-Edit o 0\n"
                                        'Header edit X-Once o "[&]"\n'
                                        'Header set X-Once "foo"\n'
                                        'Header edit X-Once2 (o+) "<$1>"\n'
                                        'Header set X-Once2 "foo oo"\n')
    r = get(srv2, "/index.html")
    assert r.headers["X-Edit"] == "f00 b00"
    srv3 = start(make_server, tmp_path, 'Header set X-Once2 "foo oo"\n'
                                        'Header edit X-Once2 (o+) "<$1>"\n')
    assert get(srv3, "/index.html").headers["X-Once2"] == "f<oo> oo"


def test_format_specifiers(make_server: Any, tmp_path: Path) -> None:
    conf = """
SetEnv GREETING hello
Header set MyHeader "%D %t"
Header set X-Env "%{GREETING}e/%{MISSING}e 100%%"
Header set X-Ssl "%{HTTPS}s %{SSL_PROTOCOL}s"
"""
    srv = start(make_server, tmp_path, conf)
    before = int(time.time() * 1_000_000)
    r = get(srv, "/index.html")
    m = re.fullmatch(r"D=(\d+) t=(\d+)", r.headers["MyHeader"])
    assert m, r.headers["MyHeader"]
    assert 0 <= int(m.group(1)) < 5_000_000
    assert abs(int(m.group(2)) - before) < 5_000_000
    assert r.headers["X-Env"] == "hello/(null) 100%"
    assert r.headers["X-Ssl"] in ("off (null)", "(null) (null)")


def test_env_conditions_with_setenvif(make_server: Any, tmp_path: Path) -> None:
    conf = """
SetEnvIf MyRequestHeader myvalue HAVE_MyRequestHeader
Header set MyHeader "%D %t mytext" env=HAVE_MyRequestHeader
Header set X-Without yes env=!HAVE_MyRequestHeader
Header merge Cache-Control no-cache env=CGI
SetEnvIf Request_URI "^/cgi-bin/" CGI
Header always set X-Always-Cond on env=HAVE_MyRequestHeader
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/index.html", headers={"MyRequestHeader": "myvalue"})
    assert r.headers["MyHeader"].endswith(" mytext") and "X-Without" not in r.headers
    assert r.headers["X-Always-Cond"] == "on"
    r = get(srv, "/index.html")
    assert "MyHeader" not in r.headers and r.headers["X-Without"] == "yes"
    assert "Cache-Control" not in r.headers
    r = get(srv, "/cgi-bin/env.py")
    assert r.headers["Cache-Control"] == "no-cache"


def test_onsuccess_and_always(make_server: Any, tmp_path: Path) -> None:
    conf = """
Header set X-Success yes
Header always set X-Always yes
Header onsuccess set X-Onsuccess yes
Redirect /old http://example.com/new
ErrorDocument 403 /index.html
<Location /forbidden>
  Order allow,deny
  Deny from all
</Location>
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/index.html")
    assert r.headers["X-Success"] == r.headers["X-Always"] == r.headers["X-Onsuccess"] == "yes"
    for path, status in (("/missing", 404), ("/old", 302)):
        r = get(srv, path)
        assert r.status_code == status
        assert r.headers["X-Always"] == "yes"
        assert "X-Success" not in r.headers and "X-Onsuccess" not in r.headers
    # an ErrorDocument is an internal redirect: the always table survives it
    r = get(srv, "/forbidden")
    assert r.status_code == 403 and r.text == "<p>hi</p>\n"
    assert r.raw.headers.getlist("X-Always") == ["yes"]


def test_cgi_headers_and_always(make_server: Any, tmp_path: Path) -> None:
    # a script's headers are in the "always" table (err_headers_out), as in 2.2
    conf = """
Header unset X-From-Script
Header always set X-Script-Always yes
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/cgi-bin/env.py")
    assert r.status_code == 200 and r.headers["X-From-Script"] == "script"
    assert r.headers["X-Script-Always"] == "yes"
    srv = start(make_server, tmp_path, "Header always unset X-From-Script\n")
    r = get(srv, "/cgi-bin/env.py")
    assert r.status_code == 200 and "X-From-Script" not in r.headers


def test_request_header(make_server: Any, tmp_path: Path) -> None:
    conf = """
RequestHeader set X-Set "set %{GREETING}e"
RequestHeader append X-App added
RequestHeader add X-Add two
RequestHeader merge X-Merge a
RequestHeader unset Cookie
RequestHeader edit Destination ^https: http: early
RequestHeader edit* X-Many a b
RequestHeader set X-Only-Some yes env=SOME
SetEnv GREETING hi
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/cgi-bin/env.py", headers={"X-App": "orig", "X-Add": "one", "X-Merge": "a",
                                             "Cookie": "c=1", "X-Many": "aaa",
                                             "Destination": "https://h/x"})
    env = json.loads(r.text)
    assert env["HTTP_X_SET"] == "set hi"              # SetEnv ran before (fixups order)
    assert env["HTTP_X_APP"] == "orig, added"
    assert env["HTTP_X_ADD"] in ("one, two", "one,two", "two")
    assert env["HTTP_X_MERGE"] == "a"
    assert "HTTP_COOKIE" not in env
    assert env["HTTP_DESTINATION"] == "http://h/x"
    assert env["HTTP_X_MANY"] == "bbb"
    assert "HTTP_X_ONLY_SOME" not in env


def test_early_processing(make_server: Any, tmp_path: Path) -> None:
    conf = r"""
RequestHeader set X-Early-Req seen early
SetEnvIf X-Early-Req seen SAW_IT
Header set X-Saw-It yes env=SAW_IT
Header set X-Early yes early
<Location /sub>
  Header set X-Early-In-Location yes early
</Location>
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/sub/page.html")
    # early RequestHeader happens before SetEnvIf (post_read_request, first)
    assert r.headers["X-Saw-It"] == "yes"
    assert r.headers["X-Early"] == "yes"
    assert "X-Early-In-Location" not in r.headers      # early needs the server config


def test_sections_order_and_htaccess(make_server: Any, tmp_path: Path) -> None:
    conf = """
Header set X-Level server
Header append X-Trail server
<Directory "@ROOT@/htdocs/sub">
  AllowOverride FileInfo
  Header set X-Level directory
  Header append X-Trail directory
</Directory>
<Location /sub>
  Header append X-Trail location
</Location>
<Directory "@ROOT@/htdocs/noover">
  AllowOverride None
</Directory>
"""
    srv = start(make_server, tmp_path, conf,
                files={"htdocs/sub/.htaccess": "Header append X-Trail htaccess\n",
                       "htdocs/noover/.htaccess": "Header set X-Bad 1\n",
                       "htdocs/noover/f.html": "x\n"})
    r = get(srv, "/sub/page.html")
    assert r.headers["X-Level"] == "directory"
    assert r.headers["X-Trail"] == "server, directory, htaccess, location"
    r = get(srv, "/noover/f.html")
    assert r.status_code == 200 and "X-Bad" not in r.headers
    (tmp_path / "htdocs" / "sub" / ".htaccess").write_text("Header frob X\n")
    time.sleep(1.1)
    r = get(srv, "/sub/page.html")
    assert r.status_code == 500
    assert "first argument must be" in srv.error_log()


def test_content_type_and_with_deflate(make_server: Any, tmp_path: Path) -> None:
    conf = """
<Location /t.txt>
  Header set Content-Type "text/x-custom"
</Location>
<Location /index.html>
  SetOutputFilter DEFLATE
  Header append Vary User-Agent
</Location>
"""
    srv = start(make_server, tmp_path, conf)
    assert get(srv, "/t.txt").headers["Content-Type"] == "text/x-custom"
    r = get(srv, "/index.html", headers={"Accept-Encoding": "gzip"})
    # Header works on the headers as they go out: after DEFLATE's Vary
    assert r.headers["Vary"] == "Accept-Encoding,User-Agent"     # fixup_vary (2.2)
    assert r.text == "<p>hi</p>\n"


def test_expr_condition_24(make_server: Any, tmp_path: Path) -> None:
    conf = """
Header always set X-Html yes "expr=%{CONTENT_TYPE} =~ m#^text/html#"
Header append Cache-Control s-maxage=600 "expr=%{REQUEST_STATUS} == 200"
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/index.html")
    assert r.headers["X-Html"] == "yes" and r.headers["Cache-Control"] == "s-maxage=600"
    r = get(srv, "/t.txt")
    assert "X-Html" not in r.headers


def test_configuration_errors(make_server: Any, tmp_path: Path) -> None:
    srv = make_server("Header set X-Bad", start=False)
    try:
        srv.start(timeout=5)
    except RuntimeError as e:
        assert "Header requires three arguments" in str(e)
    else:
        raise AssertionError("featherd started with a bad Header line")
