"""ErrorDocument end to end (manual: "Custom Error Responses", core: ErrorDocument)."""

from __future__ import annotations

import time
from typing import Any

import requests

HEAD = """\
Listen 127.0.0.1:@PORT@
ServerName test.local
DocumentRoot htdocs
ErrorLog logs/error_log
LogLevel debug
PidFile logs/httpd.pid
LogFormat "%U %>s rs=%{REDIRECT_STATUS}e ru=%{REDIRECT_URL}e rq=%{REDIRECT_QUERY_STRING}e rm=%{REDIRECT_REQUEST_METHOD}e rv=%{REDIRECT_mine}e" e
CustomLog logs/access_log e
"""


def log_line(srv: Any, needle: str, wait: float = 3.0) -> str:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for line in srv.access_log().splitlines():
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(srv.access_log())


def test_text_message(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + 'ErrorDocument 404 "Sorry, nothing here"\n'
                      "ErrorDocument 403 oneword\n")
    r = requests.get(srv.url("/missing"))
    assert (r.status_code, r.text) == (404, "Sorry, nothing here")
    assert r.headers["Content-Type"] == "text/html; charset=iso-8859-1"


def test_local_url_with_redirect_variables(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + "SetEnvIf Request_URI . mine=orig\n"
                      "ErrorDocument 404 /errors/nf.html\nErrorDocument 405 /errors/nf.html\n",
                      files={"htdocs/errors/nf.html": "custom not found\n",
                             "htdocs/file.zzz": "x"})
    r = requests.get(srv.url("/missing?a=1"))
    assert (r.status_code, r.text) == (404, "custom not found\n")
    line = log_line(srv, " 404 ")  # %U is the original URL (mod_log_config)
    assert line.startswith("/missing 404 rs=404 ru=/missing rq=a=1 rm=- rv=orig")
    # a POST becomes a GET for the error document; the method is kept in REDIRECT_
    r = requests.post(srv.url("/missing-too"), data="x")
    assert (r.status_code, r.text) == (404, "custom not found\n")
    assert "rm=POST" in log_line(srv, "/missing-too 404")


def test_external_url_is_a_302(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + "ErrorDocument 404 http://elsewhere.example/nf\n")
    r = requests.get(srv.url("/missing"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "http://elsewhere.example/nf"
    assert 'The document has moved <a href="http://elsewhere.example/nf">here</a>' in r.text


def test_401_with_full_url_is_refused_at_startup(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + "ErrorDocument 401 http://elsewhere.example/login\n")
    out = srv.stop()
    assert "cannot use a full URL in a 401 ErrorDocument directive --- ignoring!" in out


def test_recursive_error(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + "ErrorDocument 404 /errors/absent.html\n")
    r = requests.get(srv.url("/missing"))
    assert r.status_code == 404
    assert "<p>The requested URL /missing was not found on this server.</p>" in r.text
    assert ("<p>Additionally, a 404 Not Found\nerror was encountered while trying to use an "
            "ErrorDocument to handle the request.</p>") in r.text


def test_default_restores_canned_page_in_a_section(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + 'ErrorDocument 404 "custom"\n<Location /plain>\n'
                      "ErrorDocument 404 default\n</Location>\n")
    assert requests.get(srv.url("/x")).text == "custom"
    assert "<h1>Not Found</h1>" in requests.get(srv.url("/plain/x")).text


def test_htaccess_errordocument_needs_fileinfo(make_server: Any, tmp_path: Any) -> None:
    root = tmp_path / "htdocs"
    srv = make_server(raw_conf=HEAD + f"<Directory {root}/no>\nAllowOverride AuthConfig\n"
                      "</Directory>\n",
                      files={"htdocs/yes/.htaccess": 'ErrorDocument 404 "from htaccess"\n',
                             "htdocs/no/.htaccess": 'ErrorDocument 404 "never"\n'})
    assert requests.get(srv.url("/yes/missing")).text == "from htaccess"
    assert requests.get(srv.url("/no/missing")).status_code == 500
    assert "/no/.htaccess: ErrorDocument not allowed here" in srv.error_log()


def test_suppress_error_charset(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + "BrowserMatch ^OldBrowser suppress-error-charset\n")
    r = requests.get(srv.url("/missing"), headers={"User-Agent": "OldBrowser/1"})
    assert r.headers["Content-Type"] == "text/html"
    r = requests.get(srv.url("/missing"), headers={"User-Agent": "New/1"})
    assert r.headers["Content-Type"] == "text/html; charset=iso-8859-1"
