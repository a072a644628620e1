"""The same negotiation cases through Debian's apache2 (the oracle) and featherd: status,
Content-Type, Content-Length, Vary, Content-Location, TCN, Alternates, Content-Language,
Content-Encoding, Expires and body must agree. 406/300/506 pages are compared on their
variant list (2.4 no longer names the URI in the text, 2.2 does). Skipped without
apache2."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import Pair, apache_available, compare, req  # noqa: E402

pytestmark = pytest.mark.skipif(apache_available() is not None,
                                reason=f"apache2: {apache_available()}")

HEADERS = ("Content-Type", "Content-Length", "Location", "Vary", "Content-Location", "TCN",
           "Alternates", "Content-Language", "Content-Encoding", "Expires")

BODY = """
<Directory @DOCROOT@>
Options +MultiViews +ExecCGI
AllowOverride All
</Directory>
<Directory @DOCROOT@/any>
MultiviewsMatch Any
</Directory>
<Directory @DOCROOT@/hand>
MultiviewsMatch Handlers
</Directory>
SetEnvIf Request_URI "/pref" prefer-language=en
SetEnvIf Request_URI "/nogz" no-gzip
SetEnvIf Request_URI "/gzh" gzip-only-text/html=1
AddLanguage en .en
AddLanguage fr .fr
AddLanguage de .de
AddLanguage es .es
AddLanguage en-gb .en-gb
AddEncoding x-gzip .gz
AddCharset UTF-8 .utf8
AddCharset ISO-8859-2 .iso2
AddType "text/html; qs=0.5" .qs
AddHandler type-map .var
AddHandler cgi-script .cgi
"""

LANGS = {"en": "english text\n", "fr": "fr\n", "de": "deutsch!\n"}
FILES: dict[str, str | bytes] = {
    "foo.html.en": "english\n", "foo.html.fr": "french\n",
    "gb.html.en-gb": "british\n", "gb.html.fr": "fr\n",
    "bar.txt": "x", "bar.html": "y\n",
    "z.html": "html\n", "z.txt.gz": "gzipped text\n", "z.png": "png",
    "c.html.utf8": "utf8\n", "c.html.iso2": "iso2\n", "c.html": "plain html\n",
    "q.html": "qhtml\n", "q.txt.qs": "txt\n",
    "m.var": "URI: m\n\nURI: m.html.en\nContent-Type: text/html\nContent-Language: en\n\n"
             "URI: m.html.fr\nContent-Type: text/html; qs=0.8\nContent-Language: fr\n"
             "Description: French (france)\n\n",
    "m.html.en": "M en\n", "m.html.fr": "M fr\n",
    "b.var": "URI: b\n\nContent-Type: text/plain\nContent-Language: en\nBody:----xyz----\n"
             "Hello body\n----xyz----\n\nContent-Type: text/plain\nContent-Language: de\n"
             "Body:--de--\nHallo\n--de--\n",
    "lv.var": "URI: l2.html\nContent-Type: text/html; level=2\n\nURI: l3.html\n"
              "Content-Type: text/html; level=3\n\nURI: p.txt\nContent-Type: text/plain; "
              "charset=utf-8 (comment)\nDescription: plain\n  text\n",
    "l2.html": "2\n", "l3.html": "3\n", "p.txt": "p\n",
    "t.var": "URI: t.html.en\nContent-Type: text/html\nContent-Language: en\n\n"
             "URI: u.var\nContent-Type: text/html\nContent-Language: fr\n",
    "t.html.en": "ten\n", "u.var": "URI: t.html.en\nContent-Type: text/html\n",
    "s.cgi": "#!/bin/sh\necho Content-Type: text/plain\necho\necho cgi\n",
    "s.html": "static\n",
    "pi.html.en": "pi en\n", "pi.html.fr": "pi fr\n",
    "any/a.html": "html\n", "any/a.weird": "weird\n", "any/b.weird.html": "bw\n",
    "hand/h.var": "URI: h.html.en\nContent-Type: text/html\nContent-Language: en\n\n"
                  "URI: h.html.de\nContent-Type: text/html\nContent-Language: de\n",
    "hand/h.html.en": "hen\n", "hand/h.html.de": "hde\n",
}
for d, extra in (("lp", "LanguagePriority de fr en\n"),
                 ("fb", "LanguagePriority de fr en\nForceLanguagePriority Fallback\n"),
                 ("fbn", "LanguagePriority de fr en\nForceLanguagePriority None\n")):
    FILES[f"{d}/.htaccess"] = extra
    for lang, text in LANGS.items():
        FILES[f"{d}/doc.html.{lang}"] = text
    FILES.update({f"{d}/pref.html.en": "pe\n", f"{d}/pref.html.fr": "pf\n",
                  f"{d}/pref.html.es": "pes\n", f"{d}/nogz.txt.gz": "gz",
                  f"{d}/nogz.txt": "plain text\n", f"{d}/gzh.html.gz": "gz",
                  f"{d}/gzh.txt.gz": "gz2", f"{d}/nol.html": "no language\n",
                  f"{d}/nol.html.fr": "fr\n"})

CASES: list[tuple[str, ...]] = [
    ("/foo",), ("/foo", "Accept-Language: fr"), ("/foo", "Accept-Language: de"),
    ("/foo", "Accept-Language: de", "Negotiate: trans"), ("/foo", "Accept-Language: en-us"),
    ("/foo", "Accept-Language: en;q=0.5, fr;q=0.4"), ("/foo", "Accept-Language: *;q=0.1, fr;q=0"),
    ("/foo", "Negotiate: vlist"), ("/foo", "Negotiate: *"), ("/foo", "Negotiate: 1.0"),
    ("/foo", "Accept: text/html", "Negotiate: 1.0", "Accept-Language: fr"),
    ("/foo", "Negotiate: trans", "User-Agent: Lynx/2.8", "Accept-Language: de"),
    ("/gb", "Accept-Language: en"), ("/gb", "Accept-Language: en-us, de"),
    ("/bar", "Accept: image/png"), ("/bar",), ("/bar", "Accept: text/html"),
    ("/bar", "Accept: text/plain, text/*;q=0.5"), ("/bar", "Accept: text/*"),
    ("/bar", "Accept: text/html text/plain"),
    ("/z",), ("/z", "Accept-Encoding: gzip"), ("/z", "Accept-Encoding: x-gzip, identity;q=0"),
    ("/z", "Accept: text/plain"), ("/z", "Accept: text/plain", "Accept-Encoding: gzip"),
    ("/z", "Accept: image/*"), ("/z", "Accept-Encoding: "),
    ("/c",), ("/c", "Accept-Charset: utf-8"),
    ("/c", "Accept-Charset: iso-8859-2;q=0.5, utf-8;q=0.4"), ("/c", "Accept-Charset: koi8-r"),
    ("/q",), ("/q", "Accept: text/plain"), ("/q", "Accept: text/plain, text/html;q=0.4"),
    ("/m.var",), ("/m.var", "Accept-Language: fr"), ("/m.var", "Accept-Language: it"),
    ("/m.var", "Accept-Language: it", "Negotiate: trans"), ("/m",),
    ("/b.var",), ("/b.var", "Accept-Language: en"), ("/b",), ("/nothing",),
    ("/foo.html", "Accept-Language: fr"),
    ("/lv.var",), ("/lv.var", "Accept: text/html;level=3"),
    ("/lv.var", "Accept: text/html, text/plain"),
    ("/lv.var", "Accept: text/plain", "Accept-Charset: iso-8859-1"),
    ("/lv.var", "Accept: text/plain;q=0.1, image/png", "Negotiate: trans"),
    ("/t.var",), ("/t.var", "Accept-Language: fr"), ("/t.var/extra",),
    ("/s",), ("/s?x=1",), ("/s/extra",),
    ("/pi/extra/path",), ("/pi/x", "Accept-Language: fr"),
    ("/any/a",), ("/any/a", "Accept: text/plain"), ("/any/b",),
    ("/hand/h",), ("/hand/h", "Accept-Language: de"),
]
for d in ("lp", "fb", "fbn"):
    CASES += [(f"/{d}/doc",), (f"/{d}/doc", "Accept-Language: es"),
              (f"/{d}/doc", "Accept-Language: en, fr"),
              (f"/{d}/doc", "Accept-Language: es, en;q=0.5"), (f"/{d}/pref",),
              (f"/{d}/pref", "Accept-Language: fr"), (f"/{d}/pref", "Accept-Language: fr, es"),
              (f"/{d}/nogz",), (f"/{d}/nogz", "Accept-Encoding: gzip"), (f"/{d}/gzh",),
              (f"/{d}/nol",), (f"/{d}/nol", "Accept-Language: fr"),
              (f"/{d}/nol", "Accept-Language: de")]

RAW = [
    b"GET /foo HTTP/1.0\r\nAccept-Language: fr\r\n\r\n",
    b"GET /m.var HTTP/1.0\r\n\r\n",
    b"GET /b.var HTTP/1.0\r\n\r\n",
    b"HEAD /foo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"POST /pi HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
]

_LIST = re.compile(r"Available variants:.*</ul>\n", re.S)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair(BODY, FILES).start()
    yield p
    p.stop()


def _check(pair: Pair, raw: bytes, uri: str) -> None:
    method = raw.split(b" ", 1)[0].decode()
    f, a = pair.one(raw, method)
    # error pages: 2.4 no longer names the URI; compared on their variant list
    page = a.status == 300 or a.status >= 400
    diffs = compare(f, a, uri=uri, method=method, headers=HEADERS, body=not page,
                    etag=False)
    if page:
        diffs = [d for d in diffs if not d.startswith("Content-Length")]
        fl, al = _LIST.search(f.text()), _LIST.search(a.text())
        if (fl and fl.group(0)) != (al and al.group(0)):
            diffs.append(f"variant list: featherd {f.text()!r}, apache2 {a.text()!r}")
    assert not diffs, f"{raw!r}:\n  " + "\n  ".join(diffs)


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c) for c in CASES])
def test_same_as_apache(pair: Pair, case: tuple[str, ...]) -> None:
    target, *headers = case
    _check(pair, req("GET", target, *headers, "Connection: close"), target)


@pytest.mark.parametrize("raw", RAW, ids=[r.split(b"\r\n")[0].decode() for r in RAW])
def test_same_as_apache_raw(pair: Pair, raw: bytes) -> None:
    _check(pair, raw, raw.split(b" ")[1].decode())
