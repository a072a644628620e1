"""mod_mime in .htaccess and sections: AllowOverride FileInfo, the Remove* directives
undoing inherited mappings (manual examples of RemoveEncoding, RemoveHandler,
RemoveType), TypesConfig, and configuration errors."""

from __future__ import annotations

from typing import Any

import pytest
import requests

HELLO = "hello\n"

SERVER = """
AddEncoding x-gzip .gz
AddLanguage en .en
AddCharset UTF-8 .utf8
AddHandler x-server-handler .srv
AddType text/x-special .spc
DefaultType application/x-default
AddDefaultCharset Off
<Directory "@ROOT@/htdocs">
    AllowOverride FileInfo
</Directory>
<Directory "@ROOT@/htdocs/noov">
    AllowOverride None
</Directory>
<Directory "@ROOT@/htdocs/idx">
    AllowOverride Indexes
</Directory>
"""


def get(srv: Any, path: str) -> requests.Response:
    r = requests.get(srv.url(path), allow_redirects=False, timeout=5, stream=True,
                     headers={"Accept-Encoding": "identity"})
    r._content = r.raw.read(decode_content=False)
    return r


def test_htaccess_adds_mappings_with_fileinfo(make_server: Any) -> None:
    srv = make_server(SERVER, files={
        "htdocs/ht/.htaccess": "AddType text/x-from-htaccess .zqa\nAddLanguage fr .fr\n"
                               "AddCharset KOI8-R .html\nDefaultLanguage it\n",
        "htdocs/ht/a.zqa": HELLO, "htdocs/ht/b.html.fr": HELLO, "htdocs/ht/c.html": HELLO,
        "htdocs/ht/sub/d.zqa": HELLO,
        "htdocs/e.zqa": HELLO,
    })
    h = get(srv, "/ht/a.zqa").headers
    assert h["Content-Type"] == "text/x-from-htaccess"
    assert h["Content-Language"] == "it"
    h = get(srv, "/ht/b.html.fr").headers
    assert h["Content-Type"] == "text/html; charset=koi8-r"
    assert h["Content-Language"] == "fr"
    assert get(srv, "/ht/c.html").headers["Content-Type"] == "text/html; charset=koi8-r"
    # inherited below, not above
    assert get(srv, "/ht/sub/d.zqa").headers["Content-Type"] == "text/x-from-htaccess"
    assert get(srv, "/e.zqa").headers["Content-Type"] == "application/x-default"


def test_htaccess_changes_are_seen(make_server: Any) -> None:
    import os
    import time

    srv = make_server(SERVER, files={"htdocs/ch/.htaccess": "AddType text/x-one .q\n",
                                     "htdocs/ch/a.q": HELLO})
    assert get(srv, "/ch/a.q").headers["Content-Type"] == "text/x-one"
    p = srv.root / "htdocs/ch/.htaccess"
    p.write_text("AddType text/x-two-changed .q\n")
    later = time.time() + 5
    os.utime(p, (later, later))
    assert get(srv, "/ch/a.q").headers["Content-Type"] == "text/x-two-changed"


def test_htaccess_without_fileinfo_is_an_error(make_server: Any) -> None:
    srv = make_server(SERVER, files={"htdocs/idx/.htaccess": "AddType text/x-nope .n\n",
                                     "htdocs/idx/a.n": HELLO})
    r = get(srv, "/idx/a.n")
    assert r.status_code == 500
    assert f"{srv.root}/htdocs/idx/.htaccess: AddType not allowed here" in srv.error_log()


def test_htaccess_ignored_with_allowoverride_none(make_server: Any) -> None:
    srv = make_server(SERVER, files={"htdocs/noov/.htaccess": "AddType text/x-nope .n\n",
                                     "htdocs/noov/a.n": HELLO})
    r = get(srv, "/noov/a.n")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-default"


def test_remove_directives_in_htaccess(make_server: Any) -> None:
    srv = make_server(SERVER, files={
        "htdocs/rm/.htaccess": "RemoveEncoding .gz\nRemoveLanguage en\nRemoveCharset .utf8\n"
                               "RemoveHandler .srv\nRemoveType .spc .html\n",
        "htdocs/rm/a.txt.gz": HELLO, "htdocs/rm/b.html.en.utf8": HELLO,
        "htdocs/rm/c.srv": HELLO, "htdocs/rm/d.spc": HELLO,
        "htdocs/keep/a.txt.gz": HELLO, "htdocs/keep/c.srv": HELLO,
        "htdocs/keep/d.spc": HELLO, "htdocs/keep/b.html.en.utf8": HELLO,
    })
    h = get(srv, "/rm/a.txt.gz").headers
    assert "Content-Encoding" not in h
    assert h["Content-Type"] == "application/gzip"
    h = get(srv, "/rm/b.html.en.utf8").headers
    assert "Content-Language" not in h
    # RemoveType hides mime.types as well: DefaultType, without the removed charset
    assert h["Content-Type"] == "application/x-default"
    assert get(srv, "/rm/d.spc").headers["Content-Type"] == "application/x-default"
    assert get(srv, "/rm/c.srv").status_code == 200
    # and outside the directory everything still applies
    h = get(srv, "/keep/a.txt.gz").headers
    assert h["Content-Encoding"] == "x-gzip"
    h = get(srv, "/keep/b.html.en.utf8").headers
    assert (h["Content-Type"], h["Content-Language"]) == ("text/html; charset=utf-8", "en")
    assert get(srv, "/keep/d.spc").headers["Content-Type"] == "text/x-special"
    get(srv, "/keep/c.srv")
    log = srv.error_log()
    assert f'handler "x-server-handler" not found for: {srv.root}/htdocs/keep/c.srv' in log
    assert "htdocs/rm/c.srv" not in log


def test_remove_handler_example_from_the_manual(make_server: Any) -> None:
    # /foo/.htaccess: AddHandler server-parsed .html ; /foo/bar/.htaccess: RemoveHandler .html
    srv = make_server(SERVER, files={
        "htdocs/foo/.htaccess": "AddHandler x-parsed .html\n",
        "htdocs/foo/bar/.htaccess": "RemoveHandler .html\n",
        "htdocs/foo/a.html": HELLO, "htdocs/foo/bar/b.html": HELLO,
    })
    get(srv, "/foo/a.html")
    r = get(srv, "/foo/bar/b.html")
    assert r.status_code == 200 and r.text == HELLO
    log = srv.error_log()
    assert f'handler "x-parsed" not found for: {srv.root}/htdocs/foo/a.html' in log
    assert "foo/bar/b.html" not in log


def test_remove_encoding_example_from_the_manual(make_server: Any) -> None:
    # foo.gz is gzip-encoded, foo.gz.asc an unencoded plain-text file
    srv = make_server(SERVER, files={
        "htdocs/sig/.htaccess": 'AddEncoding x-gzip .gz\nAddType text/plain .asc\n'
                                '<Files "*.gz.asc">\n    RemoveEncoding .gz\n</Files>\n',
        "htdocs/sig/foo.gz": HELLO, "htdocs/sig/foo.gz.asc": HELLO,
    })
    assert get(srv, "/sig/foo.gz").headers["Content-Encoding"] == "x-gzip"
    h = get(srv, "/sig/foo.gz.asc").headers
    assert "Content-Encoding" not in h
    assert h["Content-Type"] == "text/plain"


def test_remove_type_then_add_type_in_one_context(make_server: Any) -> None:
    srv = make_server(SERVER + "RemoveType .one\nAddType text/x-one .one\n"
                               "AddType text/x-two .two\nRemoveType .two\n",
                      files={"htdocs/a.one": HELLO, "htdocs/a.two": HELLO})
    assert get(srv, "/a.one").headers["Content-Type"] == "text/x-one"
    assert get(srv, "/a.two").headers["Content-Type"] == "application/x-default"


def test_multiviews_match_accepted_in_htaccess(make_server: Any) -> None:
    srv = make_server(SERVER, files={"htdocs/mv/.htaccess": "MultiviewsMatch Handlers Filters\n",
                                     "htdocs/mv/a.html": HELLO})
    r = get(srv, "/mv/a.html")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html"


def test_types_config_relative_to_server_root(make_server: Any) -> None:
    srv = make_server("TypesConfig conf/site.types\n", files={
        "conf/site.types": "# site types\ntext/x-site site SITE2\ntext/html html\n",
        "htdocs/a.site": HELLO, "htdocs/b.site2": HELLO, "htdocs/c.html": HELLO,
        "htdocs/d.png": HELLO,
    })
    assert get(srv, "/a.site").headers["Content-Type"] == "text/x-site"
    assert get(srv, "/b.site2").headers["Content-Type"] == "text/x-site"
    assert get(srv, "/c.html").headers["Content-Type"] == "text/html"
    assert get(srv, "/d.png").headers["Content-Type"] == "text/plain"   # not in this file


@pytest.mark.parametrize("conf,message", [
    ("TypesConfig conf/missing.types\n",
     "could not open mime types config file @ROOT@/conf/missing.types."),
    ("<Location /x>\nMultiviewsMatch Any\n</Location>\n",
     "MultiviewsMatch cannot occur within <Location> section"),
    ("MultiviewsMatch Any Handlers\n", "Handlers is incompatible with Any and NegotiatedOnly"),
    ("ModMimeUsePathInfo On\n", "ModMimeUsePathInfo not allowed here"),
    ("AddType text/html\n", "AddType requires at least two arguments, a mime type followed "
                            "by one or more file extensions"),
])
def test_configuration_errors_stop_the_server(make_server: Any, conf: str, message: str) -> None:
    srv = make_server(conf, start=False)
    with pytest.raises(RuntimeError) as ei:
        srv.start()
    assert message.replace("@ROOT@", str(srv.root)) in str(ei.value)
