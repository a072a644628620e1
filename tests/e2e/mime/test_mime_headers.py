"""mod_mime against a real featherd: Content-Type, charset, Content-Language,
Content-Encoding and handlers from file extensions (manual: mod_mime, "Files with Multiple
Extensions", AddType ... DefaultLanguage, ModMimeUsePathInfo). Expected values were
checked against Apache httpd with the same mime.types."""

from __future__ import annotations

from typing import Any

import requests

HELLO = "hello\n"

CONF = """
AddLanguage en .en
AddLanguage de .de
AddLanguage fr .fr
AddLanguage ja .ja
AddEncoding x-gzip .gz
AddEncoding x-compress .Z
AddEncoding pkzip .zip
AddCharset ISO-2022-JP .jis
AddCharset UTF-8 .utf8
AddHandler x-imagemap .imap
AddHandler x-test-script .cgi
AddType "text/x-foo; q=1" .foo
AddType application/rss+xml;qs=0.8 .rss
AddType "text/csv; charset=latin1; x=y" .csv
AddType Text/X-Upper .UPPER
DefaultType application/x-default
AddDefaultCharset Off
"""


def get(srv: Any, path: str, method: str = "GET", headers: dict[str, str] | None = None,
        **kw: Any) -> requests.Response:
    """A request whose body is kept as sent (no Content-Encoding decoding). No gzip in
    Accept-Encoding: mod_negotiation would respell x-gzip as the client's "gzip"."""
    h = {"Accept-Encoding": "identity", **(headers or {})}
    r = requests.request(method, srv.url(path), allow_redirects=False, timeout=5,
                         stream=True, headers=h, **kw)
    r._content = r.raw.read(decode_content=False)
    return r


def serve(make_server: Any, names: list[str], conf: str = CONF, **files: str) -> Any:
    fs = {f"htdocs/{n}": HELLO for n in names}
    fs.update(files)
    return make_server(conf, files=fs)


def test_types_from_the_bundled_mime_types(make_server: Any) -> None:
    names = ["a.html", "a.css", "a.png", "a.gif", "a.jpg", "a.txt", "a.pdf", "a.json",
             "a.svg", "a.HTML", "a.Png"]
    srv = serve(make_server, names)
    expect = {"a.html": "text/html", "a.css": "text/css", "a.png": "image/png",
              "a.gif": "image/gif", "a.jpg": "image/jpeg", "a.txt": "text/plain",
              "a.pdf": "application/pdf", "a.json": "application/json",
              "a.svg": "image/svg+xml", "a.HTML": "text/html", "a.Png": "image/png"}
    for name, ctype in expect.items():
        r = get(srv, "/" + name)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"] == ctype, name
        assert r.text == HELLO
        assert "Content-Language" not in r.headers
        assert "Content-Encoding" not in r.headers


def test_untyped_files_get_default_type(make_server: Any) -> None:
    srv = serve(make_server, ["Makefile", "data.qqqunknown"])
    assert get(srv, "/Makefile").headers["Content-Type"] == "application/x-default"
    assert get(srv, "/data.qqqunknown").headers["Content-Type"] == "application/x-default"


def test_multiple_extensions_from_the_manual(make_server: Any) -> None:
    names = ["welcome.gif.html", "welcome.html.gif", "welcome.html.fr", "welcome.fr.html",
             "welcome.html.en.de", "page.html.bak7", "page.bak7.html", "bad..html"]
    srv = serve(make_server, names)
    h = get(srv, "/welcome.gif.html").headers          # the rightmost type wins
    assert h["Content-Type"] == "text/html"
    assert get(srv, "/welcome.html.gif").headers["Content-Type"] == "image/gif"
    for n in ("welcome.html.fr", "welcome.fr.html"):   # order is irrelevant
        h = get(srv, "/" + n).headers
        assert (h["Content-Type"], h["Content-Language"]) == ("text/html", "fr")
    h = get(srv, "/welcome.html.en.de").headers        # languages accumulate
    assert h["Content-Language"] == "en,de"
    assert h["Content-Type"] == "text/html"
    for n in ("page.html.bak7", "page.bak7.html", "bad..html"):   # unknown/empty: ignored
        assert get(srv, "/" + n).headers["Content-Type"] == "text/html", n


def test_encodings_accumulate_and_content_encoding_is_sent(make_server: Any) -> None:
    srv = serve(make_server, ["notes.txt.gz", "Resume.txt.zip.gz", "xxxx.en.Z", "xxxx.Z.en"])
    r = get(srv, "/notes.txt.gz")
    assert r.headers["Content-Encoding"] == "x-gzip"
    assert r.headers["Content-Type"] == "application/gzip"
    assert r.content == HELLO.encode()
    h = get(srv, "/Resume.txt.zip.gz").headers
    assert h["Content-Encoding"] == "pkzip, x-gzip"
    for n in ("xxxx.en.Z", "xxxx.Z.en"):               # manual, AddLanguage example
        h = get(srv, "/" + n).headers
        assert h["Content-Encoding"] == "x-compress"
        assert h["Content-Language"] == "en"


def test_body_of_an_encoded_file_is_sent_as_is(make_server: Any) -> None:
    import gzip

    data = gzip.compress(b"compressed body\n")
    srv = make_server(CONF, files={"htdocs/c.txt.gz": data})
    raw = srv.raw(b"GET /c.txt.gz HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r\nContent-Encoding: x-gzip\r\n" in head
    assert body == data


def test_charsets(make_server: Any) -> None:
    srv = serve(make_server, ["xxxx.html.ja.jis", "xxxx.html.jis.ja", "e.html.utf8",
                              "t.csv", "t.csv.utf8", "x.utf8"])
    for n in ("xxxx.html.ja.jis", "xxxx.html.jis.ja"):  # manual, AddCharset example
        h = get(srv, "/" + n).headers
        assert h["Content-Type"] == "text/html; charset=iso-2022-jp"
        assert h["Content-Language"] == "ja"
    assert get(srv, "/e.html.utf8").headers["Content-Type"] == "text/html; charset=utf-8"
    assert get(srv, "/t.csv").headers["Content-Type"] == "text/csv; charset=latin1; x=y"
    assert get(srv, "/t.csv.utf8").headers["Content-Type"] == "text/csv; charset=utf-8; x=y"
    # a charset alone gives no type: DefaultType, without the charset
    assert get(srv, "/x.utf8").headers["Content-Type"] == "application/x-default"


def test_types_with_parameters_and_case(make_server: Any) -> None:
    srv = serve(make_server, ["a.foo", "a.rss", "a.upper"])
    assert get(srv, "/a.foo").headers["Content-Type"] == "text/x-foo; q=1"
    assert get(srv, "/a.rss").headers["Content-Type"] == "application/rss+xml; qs=0.8"
    assert get(srv, "/a.upper").headers["Content-Type"] == "text/x-upper"


def test_head_carries_the_same_metadata(make_server: Any) -> None:
    srv = serve(make_server, ["w.html.en.gz"])
    r = get(srv, "/w.html.en.gz", "HEAD")
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "x-gzip"
    assert r.headers["Content-Language"] == "en"
    assert r.content == b""


def test_error_pages_do_not_inherit_metadata(make_server: Any) -> None:
    srv = serve(make_server, [])
    r = get(srv, "/missing.html.en.gz")
    assert r.status_code == 404
    assert "Content-Encoding" not in r.headers
    assert "Content-Language" not in r.headers
    assert r.headers["Content-Type"] == "text/html; charset=iso-8859-1"


def test_not_modified_carries_no_content_encoding(make_server: Any) -> None:
    srv = serve(make_server, ["n.txt.gz"])
    lm = get(srv, "/n.txt.gz").headers["Last-Modified"]
    r = get(srv, "/n.txt.gz", headers={"If-Modified-Since": lm})
    assert r.status_code == 304
    assert "Content-Encoding" not in r.headers


def test_handler_from_any_extension(make_server: Any) -> None:
    # world.imap.html: the handler of .imap with the type of .html; file.cgi.html the same
    srv = serve(make_server, ["world.imap.html", "file.cgi.html", "file.html.cgi"])
    r = get(srv, "/world.imap.html")
    assert r.headers["Content-Type"] == "text/html"
    r = get(srv, "/file.cgi.html")
    assert r.headers["Content-Type"] == "text/html"
    get(srv, "/file.html.cgi")
    log = srv.error_log()
    assert 'handler "x-imagemap" not found for: ' in log and "world.imap.html" in log
    assert f'handler "x-test-script" not found for: {srv.root}/htdocs/file.cgi.html' in log
    assert f'handler "x-test-script" not found for: {srv.root}/htdocs/file.html.cgi' in log


def test_sethandler_beats_addhandler_and_forcetype_beats_addtype(make_server: Any) -> None:
    conf = CONF + """
AddHandler from-addhandler .hx
AddType text/x-added .fx
AddCharset UTF-8 .fx
<Files "set.*">
    SetHandler from-sethandler
</Files>
<Files "forced.*">
    ForceType text/x-forced
</Files>
"""
    srv = serve(make_server, ["set.hx", "other.hx", "forced.fx", "plain.fx"], conf=conf)
    get(srv, "/set.hx")
    get(srv, "/other.hx")
    log = srv.error_log()
    assert f'handler "from-sethandler" not found for: {srv.root}/htdocs/set.hx' in log
    assert f'handler "from-addhandler" not found for: {srv.root}/htdocs/other.hx' in log
    assert "set.hx" not in log.split('"from-addhandler"')[-1].split("\n")[0]
    assert get(srv, "/forced.fx").headers["Content-Type"] == "text/x-forced"
    assert get(srv, "/plain.fx").headers["Content-Type"] == "text/x-added; charset=utf-8"


def test_default_language(make_server: Any) -> None:
    conf = CONF + """
<Directory "@ROOT@/htdocs/nl">
    DefaultLanguage nl-BE
</Directory>
"""
    srv = serve(make_server, ["nl/a.html", "nl/b.html.de", "nl/Makefile", "top.html"],
                conf=conf)
    assert get(srv, "/nl/a.html").headers["Content-Language"] == "nl-BE"
    assert get(srv, "/nl/b.html.de").headers["Content-Language"] == "de"
    assert get(srv, "/nl/Makefile").headers["Content-Language"] == "nl-BE"
    assert "Content-Language" not in get(srv, "/top.html").headers


def test_mod_mime_use_path_info(make_server: Any) -> None:
    conf = CONF + """
AcceptPathInfo On
<Location /virt>
    ModMimeUsePathInfo On
</Location>
"""
    srv = serve(make_server, ["virt/index.html", "plain/index.html"], conf=conf)
    r = get(srv, "/virt/index.html/x.gif")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/gif"
    r = get(srv, "/plain/index.html/x.gif")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html"


def test_add_output_filter_with_an_unknown_filter_still_serves(make_server: Any) -> None:
    srv = serve(make_server, ["p.shtml"], conf=CONF + "AddOutputFilter NOSUCHFILTER .shtml\n"
                                                      "AddInputFilter NOSUCHINPUT .shtml\n")
    r = get(srv, "/p.shtml")
    assert r.status_code == 200
    assert r.text == HELLO
