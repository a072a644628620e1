"""mod_dir's DirectoryIndex and DirectoryIndexRedirect against a real featherd (manual:
mod_dir, DirectoryIndex, DirectoryIndexRedirect, DirectoryCheckHandler). Compared with
Apache httpd on the same configuration."""

from __future__ import annotations

from typing import Any

import pytest
import requests

LOG = """
LogFormat "%U|%f|%q|%>s" dirlog
CustomLog logs/dir_log dirlog
"""


def get(srv: Any, path: str, method: str = "GET", **kw: Any) -> requests.Response:
    return requests.request(method, srv.url(path), allow_redirects=False, timeout=5, **kw)


def test_default_index_is_index_html(make_server: Any) -> None:
    srv = make_server("", files={"htdocs/d/index.html": "<p>d index</p>\n",
                                 "htdocs/d/index.htm": "wrong\n"})
    r = get(srv, "/d/")
    assert r.status_code == 200
    assert r.text == "<p>d index</p>\n"
    assert r.headers["Content-Type"] == "text/html"
    r = get(srv, "/")
    assert r.status_code in (403, 200)     # no index.html at the root: mod_autoindex's turn
    assert "d index" not in r.text


def test_first_existing_index_wins_in_order(make_server: Any) -> None:
    conf = 'DirectoryIndex index.htm index.html default.txt\n'
    srv = make_server(conf, files={
        "htdocs/both/index.htm": "htm\n", "htdocs/both/index.html": "html\n",
        "htdocs/second/index.html": "html only\n",
        "htdocs/third/default.txt": "plain\n",
    })
    assert get(srv, "/both/").text == "htm\n"
    assert get(srv, "/second/").text == "html only\n"
    r = get(srv, "/third/")
    assert r.text == "plain\n"
    assert r.headers["Content-Type"] == "text/plain"


def test_index_metadata_comes_from_the_index_file(make_server: Any) -> None:
    conf = "AddLanguage de .de\nDirectoryIndex index.html.de\n"
    srv = make_server(conf, files={"htdocs/l/index.html.de": "hallo\n"})
    r = get(srv, "/l/")
    assert r.headers["Content-Type"] == "text/html"
    assert r.headers["Content-Language"] == "de"


def test_index_lines_accumulate_and_disabled_resets(make_server: Any) -> None:
    conf = """
<Directory "@ROOT@/htdocs/acc">
    DirectoryIndex first.html
    DirectoryIndex second.html
</Directory>
<Directory "@ROOT@/htdocs/reset">
    DirectoryIndex first.html
    DirectoryIndex disabled
    DirectoryIndex second.html
</Directory>
<Directory "@ROOT@/htdocs/off">
    DirectoryIndex disabled
    Options -Indexes
</Directory>
<Directory "@ROOT@/htdocs/lit">
    DirectoryIndex disabled index.html
</Directory>
"""
    srv = make_server(conf, files={
        "htdocs/acc/second.html": "acc second\n",
        "htdocs/reset/first.html": "reset first\n", "htdocs/reset/second.html": "reset 2\n",
        "htdocs/off/index.html": "should not be served\n",
        "htdocs/lit/disabled": "a file named disabled\n",
    })
    assert get(srv, "/acc/").text == "acc second\n"
    assert get(srv, "/reset/").text == "reset 2\n"
    r = get(srv, "/off/")
    assert r.status_code == 403
    assert "should not be served" not in r.text
    # "disabled" with other arguments is taken literally
    assert get(srv, "/lit/").text == "a file named disabled\n"


def test_full_local_url_as_index(make_server: Any) -> None:
    conf = "DirectoryIndex index.html /shared/fallback-index.html\n"
    srv = make_server(conf, files={"htdocs/shared/fallback-index.html": "shared\n",
                                   "htdocs/empty/.keep": "",
                                   "htdocs/own/index.html": "own\n"})
    assert get(srv, "/empty/").text == "shared\n"
    assert get(srv, "/own/").text == "own\n"


def test_index_keeps_the_query_string(make_server: Any) -> None:
    srv = make_server(LOG, files={"htdocs/q/index.html": "q\n"})
    r = get(srv, "/q/?a=1&b=two")
    assert r.text == "q\n"
    log = srv.access_log("dir_log")
    assert f"|{srv.root}/htdocs/q/index.html|?a=1&b=two|200" in log


def test_index_is_an_internal_redirect(make_server: Any) -> None:
    srv = make_server(LOG, files={"htdocs/ir/index.html": "ir\n"})
    r = get(srv, "/ir/")
    assert r.status_code == 200 and "Location" not in r.headers
    assert f"/ir/|{srv.root}/htdocs/ir/index.html||200" in srv.access_log("dir_log")


def test_head_and_post_to_a_directory(make_server: Any) -> None:
    srv = make_server("", files={"htdocs/h/index.html": "head me\n"})
    r = get(srv, "/h/", "HEAD")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "8"
    assert r.content == b""
    # the index is looked up and redirected to with the request's own method (Apache
    # then serves a static file to a POST as well)
    r = get(srv, "/h/", "POST", data="x=1")
    assert (r.status_code, r.text) == (200, "head me\n")


def test_index_must_be_a_regular_file(make_server: Any) -> None:
    # a directory called index.html is not an index; nor is a name that maps to path info
    conf = "DirectoryIndex index.html real.html\n"
    srv = make_server(conf, files={"htdocs/rf/index.html/inner.txt": "inner\n",
                                   "htdocs/rf/real.html": "real\n"})
    assert get(srv, "/rf/").text == "real\n"


def test_refused_index_is_not_replaced_by_a_listing(make_server: Any) -> None:
    # a lookup that fails with something else than 404 is returned rather than a listing
    conf = """
<Directory "@ROOT@/htdocs/deny">
    Options +Indexes
</Directory>
<Files "secret.html">
    Order allow,deny
    Deny from all
</Files>
<Directory "@ROOT@/htdocs/deny">
    DirectoryIndex secret.html missing.html
</Directory>
"""
    srv = make_server(conf, files={"htdocs/deny/secret.html": "secret\n",
                                   "htdocs/deny/other.txt": "x\n"})
    r = get(srv, "/deny/")
    assert r.status_code == 403
    assert "other.txt" not in r.text


def test_a_directory_named_as_index_is_not_an_index(make_server: Any) -> None:
    # the lookup of "sub" maps to a directory, not a regular file: no index here
    conf = "DirectoryIndex sub\n"
    srv = make_server(conf, files={"htdocs/rd/sub/index.html": "inner index\n"})
    r = get(srv, "/rd/")
    assert r.status_code == 200
    assert "inner index" not in r.text
    assert 'href="sub/"' in r.text                 # mod_autoindex's listing instead


def test_redirect_of_a_lookup_is_passed_on(make_server: Any) -> None:
    conf = "DirectoryIndex moved.html\nRedirect /rd/moved.html http://elsewhere.test/new.html\n"
    srv = make_server(conf, files={"htdocs/rd/other.txt": "x\n"})
    r = get(srv, "/rd/")
    assert r.status_code == 302
    assert r.headers["Location"] == "http://elsewhere.test/new.html"


def test_lone_index_asking_for_credentials_is_passed_on(make_server: Any) -> None:
    conf = """
<Directory "@ROOT@/htdocs/auth">
    DirectoryIndex private.html
</Directory>
<Directory "@ROOT@/htdocs/auth2">
    DirectoryIndex private.html public.html
</Directory>
<Files "private.html">
    AuthType Basic
    AuthName "Index realm"
    AuthUserFile @ROOT@/htpasswd
    Require valid-user
</Files>
"""
    srv = make_server(conf, files={"htdocs/auth/private.html": "private\n",
                                   "htdocs/auth2/private.html": "private\n",
                                   "htdocs/auth2/public.html": "public\n",
                                   "htpasswd": ""})
    r = get(srv, "/auth/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Index realm"'
    # with several names the next one is tried
    r = get(srv, "/auth2/")
    assert (r.status_code, r.text) == (200, "public\n")


@pytest.mark.parametrize("arg,status", [
    ("on", 302), ("temp", 302), ("permanent", 301), ("seeother", 303), ("307", 307),
])
def test_directory_index_redirect(make_server: Any, arg: str, status: int) -> None:
    conf = f"""
<Directory "@ROOT@/htdocs/ext">
    DirectoryIndex home.html
    DirectoryIndexRedirect {arg}
</Directory>
"""
    srv = make_server(conf, files={"htdocs/ext/home.html": "home\n"})
    r = get(srv, "/ext/?x=1")
    assert r.status_code == status
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/ext/home.html"


def test_directory_index_redirect_off_is_transparent(make_server: Any) -> None:
    conf = 'DirectoryIndexRedirect on\n<Directory "@ROOT@/htdocs/t">\n' \
           "    DirectoryIndexRedirect off\n</Directory>\n"
    srv = make_server(conf, files={"htdocs/t/index.html": "t\n"})
    r = get(srv, "/t/")
    assert (r.status_code, r.text) == (200, "t\n")


@pytest.mark.parametrize("line,message", [
    ("DirectoryIndexRedirect 200", "DirectoryIndexRedirect only accepts values between 300 "
                                   "and 399"),
    ("DirectoryIndexRedirect bogus", "DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx"),
    ("DirectorySlash maybe", "DirectorySlash must be On or Off"),
    ("FallbackResource a b", "FallbackResource takes one argument, Set a default handler"),
    ("DirectoryIndex", "DirectoryIndex requires at least one argument, a list of file names"),
])
def test_configuration_errors(make_server: Any, line: str, message: str) -> None:
    srv = make_server(line + "\n", start=False)
    with pytest.raises(RuntimeError) as ei:
        srv.start()
    assert message in str(ei.value)


def test_sethandler_directory_and_directory_check_handler(make_server: Any) -> None:
    conf = """
<Directory "@ROOT@/htdocs/h1">
    SetHandler x-unknown-handler
</Directory>
<Directory "@ROOT@/htdocs/h2">
    SetHandler x-unknown-handler
    DirectoryCheckHandler Off
</Directory>
"""
    srv = make_server(conf, files={"htdocs/h1/index.html": "one\n",
                                   "htdocs/h2/index.html": "two\n"})
    # 2.2: another handler configured, mod_dir does not act (DirectoryCheckHandler On)
    r = get(srv, "/h1/")
    assert r.status_code == 404
    assert f"Attempt to serve directory: {srv.root}/htdocs/h1/" in srv.error_log()
    # 2.4's DirectoryCheckHandler Off: the index is served all the same
    r = get(srv, "/h2/")
    assert (r.status_code, r.text) == (200, "two\n")
    r = get(srv, "/h2")
    assert r.status_code == 301
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/h2/"


def test_htaccess_with_allowoverride_indexes(make_server: Any) -> None:
    conf = """
<Directory "@ROOT@/htdocs">
    AllowOverride Indexes
</Directory>
<Directory "@ROOT@/htdocs/fi">
    AllowOverride FileInfo
</Directory>
"""
    srv = make_server(conf, files={
        "htdocs/ix/.htaccess": "DirectoryIndex start.html\nDirectorySlash Off\n",
        "htdocs/ix/start.html": "start\n", "htdocs/ix/index.html": "index\n",
        "htdocs/fi/.htaccess": "DirectoryIndex start.html\n",
        "htdocs/fi/start.html": "start\n",
    })
    assert get(srv, "/ix/").text == "start\n"
    r = get(srv, "/ix")
    assert r.status_code != 301 and "Location" not in r.headers
    r = get(srv, "/fi/")
    assert r.status_code == 500
    assert f"{srv.root}/htdocs/fi/.htaccess: DirectoryIndex not allowed here" in srv.error_log()
