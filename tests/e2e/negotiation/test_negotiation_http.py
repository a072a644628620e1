"""mod_negotiation through a real server: MultiViews, type maps (with Body:), the
negotiation headers, 406 and 300 pages, LanguagePriority/ForceLanguagePriority in
.htaccess, MultiviewsMatch, CacheNegotiatedDocs and Content-Encoding spelling. The
expected answers are Apache's (checked against Debian's apache2, see
test_negotiation_apache.py)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

CONF = """
<Directory @ROOT@/htdocs>
Options +MultiViews
AllowOverride All
</Directory>
AddLanguage en .en
AddLanguage fr .fr
AddLanguage de .de
AddEncoding x-gzip .gz
AddHandler type-map .var
@EXTRA@
"""

FILES: dict[str, str | bytes] = {
    "htdocs/foo.html.en": "english\n",
    "htdocs/foo.html.fr": "french\n",
    "htdocs/bar.txt": "x",
    "htdocs/bar.html": "y\n",
    "htdocs/z.txt.gz": "gzipped\n",
    "htdocs/z.txt": "plain text here\n",
    "htdocs/m.var": "URI: m\n\nURI: m.html.en\nContent-Type: text/html\nContent-Language: en\n"
                    "\nURI: m.html.fr\nContent-Type: text/html; qs=0.8\nContent-Language: fr\n"
                    "Description: French (france)\n",
    "htdocs/m.html.en": "M en\n",
    "htdocs/m.html.fr": "M fr\n",
    "htdocs/b.var": "Content-Type: text/plain\nContent-Language: en\nBody:----xyz----\n"
                    "Hello body\n----xyz----\n\nContent-Type: text/plain\n"
                    "Content-Language: de\nBody:--de--\nHallo\n--de--\n",
    "htdocs/lp/.htaccess": "LanguagePriority de fr en\n",
    "htdocs/lp/doc.html.en": "english doc\n",
    "htdocs/lp/doc.html.fr": "fr\n",
    "htdocs/lp/doc.html.de": "deutsch\n",
    "htdocs/fb/.htaccess": "LanguagePriority de fr en\nForceLanguagePriority Fallback\n",
    "htdocs/fb/doc.html.en": "english doc\n",
    "htdocs/fb/doc.html.de": "deutsch\n",
    "htdocs/any/a.html": "html\n",
    "htdocs/any/a.weird": "weird\n",
    "htdocs/any/b.weird.html": "bw\n",
    "htdocs/c.weird.html": "cw\n",
    "htdocs/hand/h.var": "URI: h.html.en\nContent-Type: text/html\nContent-Language: en\n",
    "htdocs/hand/h.html.en": "hen\n",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from featherd_testlib import Server, base_conf, free_port

    root = tmp_path_factory.mktemp("neg")
    for rel, content in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content) if isinstance(content, str) else p.write_bytes(content)
    (root / "logs").mkdir()
    extra = ("<Directory @ROOT@/htdocs/any>\nMultiviewsMatch Any\n</Directory>\n"
             "<Directory @ROOT@/htdocs/hand>\nMultiviewsMatch Handlers\n</Directory>\n"
             "SetEnvIf Request_URI ^/lp/pref prefer-language=en\n")
    port = free_port()
    conf = base_conf(port, CONF.replace("@EXTRA@", extra).replace("@ROOT@", str(root)))
    s = Server(root, conf, port).start()
    yield s
    s.stop()


def get(srv: Any, path: str, **headers: str) -> requests.Response:
    return requests.get(srv.url(path), headers={k.replace("_", "-"): v
                                                for k, v in headers.items()},
                        allow_redirects=False, timeout=10)


def test_multiviews_choice_headers(srv: Any) -> None:
    r = get(srv, "/foo", Accept_Language="en")
    assert r.status_code == 200 and r.text == "english\n"
    assert r.headers["Content-Location"] == "foo.html.en"
    assert r.headers["Vary"] == "negotiate,accept-language"
    assert r.headers["TCN"] == "choice"
    assert r.headers["Content-Language"] == "en"
    assert r.headers["Content-Type"] == "text/html"
    # the variant list's validator is part of the entity tag
    assert ";" in r.headers["ETag"]


def test_multiviews_smallest_variant_when_all_else_is_equal(srv: Any) -> None:
    assert get(srv, "/foo").text == "french\n"


def test_406_lists_the_variants(srv: Any) -> None:
    r = get(srv, "/foo", Accept_Language="de")
    assert r.status_code == 406
    assert r.headers["TCN"] == "list"
    assert r.headers["Alternates"] == ('{"foo.html.en" 1 {type text/html} {language en} '
                                       '{length 8}}, {"foo.html.fr" 1 {type text/html} '
                                       '{language fr} {length 7}}')
    assert ("<p>An appropriate representation of the requested resource /foo could not be "
            "found on this server.</p>\nAvailable variants:\n<ul>\n<li><a href=\"foo.html.en"
            "\">foo.html.en</a> , type text/html, language en</li>\n<li><a href=\"foo.html.fr"
            "\">foo.html.fr</a> , type text/html, language fr</li>\n</ul>\n") in r.text
    assert "no acceptable variant: " in srv.error_log()


def test_300_for_transparent_negotiation(srv: Any) -> None:
    r = get(srv, "/foo", Accept_Language="de", Negotiate="trans")
    assert r.status_code == 300
    assert "<title>300 Multiple Choices</title>" in r.text
    assert "Available variants:" in r.text and "Alternates" in r.headers
    r = get(srv, "/foo", Negotiate="vlist")           # vlist: 300 as the UA chooses
    assert r.status_code == 300


def test_accept_types_and_encodings(srv: Any) -> None:
    r = get(srv, "/bar", Accept="text/html")
    assert r.text == "y\n" and r.headers["Vary"] == "negotiate,accept"
    assert get(srv, "/bar", Accept="text/plain, text/*;q=0.5").text == "x"
    r = get(srv, "/z", Accept_Encoding="identity")
    assert r.text == "plain text here\n"
    r = requests.get(srv.url("/z"), headers={"Accept-Encoding": "gzip"}, stream=True,
                     timeout=10)
    assert r.headers["Content-Encoding"] == "gzip"    # spelled as the client spelled it
    assert r.raw.read() == b"gzipped\n"
    # .gz is also a type in mime.types (application/gzip): the types differ too
    assert r.headers["Vary"] == "negotiate,accept,accept-encoding"
    r = requests.get(srv.url("/z.txt.gz"), headers={"Accept-Encoding": "x-gzip"},
                     stream=True, timeout=10)
    assert r.headers["Content-Encoding"] == "x-gzip"


def test_type_map_choice_and_description(srv: Any) -> None:
    r = get(srv, "/m.var")
    assert r.text == "M en\n" and r.headers["Content-Location"] == "m.html.en"
    assert get(srv, "/m.var", Accept_Language="fr").text == "M fr\n"
    r = get(srv, "/m.var", Accept_Language="it")
    assert r.status_code == 406
    assert '<a href="m.html.fr">m.html.fr</a> French         , type text/html' in r.text


def test_type_map_body(srv: Any) -> None:
    r = get(srv, "/b.var", Accept_Language="en")
    assert (r.status_code, r.text, r.headers["Content-Language"]) == (200, "Hello body\n",
                                                                      "en")
    assert r.headers["Content-Length"] == "11"
    assert get(srv, "/b.var").text == "Hallo\n"          # the shorter one
    assert "TCN" not in r.headers                     # Body: variants are not transparent


def test_language_priority_in_htaccess(srv: Any) -> None:
    assert get(srv, "/lp/doc").text == "deutsch\n"
    assert get(srv, "/lp/doc", Accept_Language="en, fr").text == "fr\n"
    assert get(srv, "/lp/doc", Accept_Language="es").status_code == 406
    assert get(srv, "/fb/doc", Accept_Language="es").text == "deutsch\n"


def test_prefer_language_variable(srv: Any) -> None:
    # SetEnvIf ... prefer-language=en applies to /lp/pref*; no such variant: usual choice
    assert get(srv, "/lp/pref").status_code == 404


def test_multiviews_match(srv: Any) -> None:
    assert get(srv, "/any/a", Accept="text/html").text == "html\n"
    # a variant needs a content type, even with Any
    assert get(srv, "/any/a", Accept="text/plain").status_code == 406
    # an unknown extension that was not asked for: only with MultiviewsMatch Any
    assert get(srv, "/any/b").text == "bw\n"
    assert get(srv, "/c").status_code == 404
    assert get(srv, "/hand/h").text == "hen\n"         # the type map found via Handlers


def test_none_could_be_negotiated(srv: Any) -> None:
    # b.var is found, but a handler alone is not negotiable metadata (NegotiatedOnly)
    assert get(srv, "/b").status_code == 404
    assert "(None could be negotiated)." in srv.error_log()


def test_http10_answers_are_not_cached(srv: Any) -> None:
    raw = srv.raw(b"GET /foo HTTP/1.0\r\n\r\n")
    assert b"\r\nExpires: " not in raw                # MultiViews: dropped by the redirect
    raw = srv.raw(b"GET /m.var HTTP/1.0\r\n\r\n")
    assert b"\r\nExpires: " in raw
    raw = srv.raw(b"GET /m.var HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"\r\nExpires: " not in raw


def test_cache_negotiated_docs(make_server: Any) -> None:
    s = make_server("AddHandler type-map .var\nCacheNegotiatedDocs On\n", files={
        "htdocs/m.var": "URI: a.html\nContent-Type: text/html\n\nURI: a.txt\n"
                        "Content-Type: text/plain\n",
        "htdocs/a.html": "a\n", "htdocs/a.txt": "t\n"})
    raw = s.raw(b"GET /m.var HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and b"\r\nExpires: " not in raw


def test_variant_also_varies(make_server: Any) -> None:
    s = make_server("AddHandler type-map .var\n", files={
        "htdocs/t.var": "URI: u.var\nContent-Type: text/html\n",
        "htdocs/u.var": "URI: t.html\nContent-Type: text/html\n",
        "htdocs/t.html": "t\n"})
    r = requests.get(s.url("/t.var"), timeout=10)
    assert r.status_code == 506
    assert "is itself a negotiable resource" in r.text


def test_type_map_syntax_error_is_500(make_server: Any) -> None:
    s = make_server("AddHandler type-map .var\n", files={"htdocs/e.var": "URI foo\n"})
    assert requests.get(s.url("/e.var"), timeout=10).status_code == 500
    assert "Syntax error in type map, no ':' in" in s.error_log()


def test_without_multiviews_nothing_is_negotiated(make_server: Any) -> None:
    s = make_server("AddLanguage en .en\n", files={"htdocs/foo.html.en": "x\n"})
    assert requests.get(s.url("/foo"), timeout=10).status_code == 404
