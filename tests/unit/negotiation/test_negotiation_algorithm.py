"""mod_negotiation without sockets: header parsing (atoq, get_entry), the qualities of
each dimension, Apache's algorithm and its tie-breaks (manual: "Content Negotiation",
"The Negotiation Methods"), RVSA/1.0, the Vary/Alternates/TCN headers, the variant list,
type-map parsing and the directives."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.http.headers import Headers
from featherd.modules import builtin_modules
from featherd.modules.mappers.negotiation import negotiation
from featherd.modules.mappers.negotiation.accept import (
    atoq,
    f32,
    get_entry,
    header_line,
    languages_line,
    negotiate_tokens,
)
from featherd.modules.mappers.negotiation.algorithm import (
    ALG_CHOICE,
    ALG_LIST,
    FLP_FALLBACK,
    FLP_NONE,
    FLP_PREFER,
    Variant,
    best_match,
    escape_path_segment,
    make_variant_list,
    maybe_add_default_accepts,
    parse_accept_headers,
    parse_negotiate_header,
    set_neg_headers,
)
from featherd.modules.mappers.negotiation.typemap import TypeMapError, read_type_map


# --- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,q", [
    (None, 1.0), ("", 1.0), ("1", 1.0), ("1.0", 1.0), ("0", 0.0), ("0.5", 0.5), (".5", 0.5),
    ("0.123", 0.123), ("0.1234", 0.123), ("0.001", 0.001), ("2", 1.0), ("junk", 1.0),
    ("  0.25", 0.25), ("0.", 0.0),
])
def test_atoq(text: str | None, q: float) -> None:
    assert atoq(text) == pytest.approx(q, abs=1e-6)


def test_get_entry_params_and_html_level() -> None:
    rec, pos = get_entry('TEXT/HTML; Q=0.5; level=3; charset="UTF-8", x/y')
    assert (rec.name, rec.quality, rec.level, rec.charset) == ("text/html", f32(0.5), 3.0,
                                                               "utf-8")
    assert get_entry("text/html")[0].level == 2.0            # Apache's level-2 kludge
    assert get_entry("text/x-server-parsed-html3")[0].level == 3.0
    assert get_entry("text/html;qs=0.25")[0].quality == f32(0.25)
    assert get_entry("a/b; novalue; q=0")[0].quality == 0.0   # a parameter without '='


def test_header_line_absent_empty_and_old_format() -> None:
    assert header_line(None) is None
    assert header_line("") == []
    names = [a.name for a in header_line("text/html text/plain, image/*;q=0.2") or []]
    assert names == ["text/html", "text/plain", "image/*"]


def test_languages_and_negotiate_lists() -> None:
    assert languages_line("EN, fr;de\n") == ["en", "fr", "de"]
    assert negotiate_tokens("Trans, VLIST ,, *") == ["trans", "vlist", "*"]


def test_escape_path_segment() -> None:
    assert escape_path_segment("a b/c;d~e.html") == "a%20b%2fc%3bd~e.html"


# --- the algorithm ----------------------------------------------------------------------
def req(headers: dict[str, str] | None = None, env: dict[str, str] | None = None) -> Any:
    return SimpleNamespace(headers_in=Headers(list((headers or {}).items())),
                           subprocess_env=env or {}, filename="/nonexistent/dir/doc",
                           main=None, notes={}, err_headers_out=Headers())


def var(name: str, ct: str = "text/html", langs: list[str] | None = None,
        enc: str | None = None, size: int = 10) -> Variant:
    v = Variant(file_name=name, content_languages=langs, content_encoding=enc, bytes=size)
    v.set_content_type(ct)
    return v


def choose(variants: list[Variant], headers: dict[str, str] | None = None, *,
           env: dict[str, str] | None = None, force: int = 0,
           priority: tuple[str, ...] = (), transparent: bool = False,
           prefer_scripts: bool = False) -> tuple[int, str | None, Any]:
    r = req(headers, env)
    neg = parse_accept_headers(r, force, priority)
    # a negotiation updates its variants (as var_rec): work on copies
    neg.avail = [dataclasses.replace(v) for v in variants]
    neg.is_transparent = transparent
    if transparent:
        parse_negotiate_header(r, neg)
    maybe_add_default_accepts(neg, prefer_scripts)
    alg, best = best_match(neg)
    return alg, (best.file_name if best else None), neg


def test_accept_q_values_and_wildcards() -> None:
    vs = [var("a.html"), var("a.txt", "text/plain"), var("a.png", "image/png")]
    assert choose(vs, {"Accept": "image/png"})[1] == "a.png"
    assert choose([var("a.html"), var("a.txt", "text/plain")],
                  {"Accept": "text/html;q=0.3, text/plain;q=0.6"})[1] == "a.txt"
    # without any q=, */* counts 0.01 and type/* 0.02: a named type wins
    def two() -> list[Variant]:       # variants keep negotiation state: fresh ones
        return [var("a.png", "image/png", size=1), var("a.txt", "text/plain", size=99)]
    assert choose(two(), {"Accept": "text/plain, */*"})[1] == "a.txt"
    assert choose(two(), {"Accept": "image/*, text/plain"})[1] == "a.txt"
    assert choose(two(), {"Accept": "image/*;q=0.5, text/plain;q=0.4"})[1] == "a.png"
    # nothing acceptable: a list result, no best variant
    assert choose([var("a.txt", "text/plain")], {"Accept": "image/*"})[:2] == (ALG_LIST, None)


def test_source_quality_multiplies_accept_quality() -> None:
    vs = [var("a.html", "text/html; qs=0.5"), var("a.txt", "text/plain")]
    assert choose(vs)[1] == "a.txt"
    assert choose(vs, {"Accept": "text/html, text/plain;q=0.4"})[1] == "a.html"
    assert choose(vs, {"Accept": "text/html, text/plain;q=0.6"})[1] == "a.txt"


def test_language_qualities_and_prefix_fiddle() -> None:
    vs = [var("d.en", langs=["en"], size=5), var("d.fr", langs=["fr"], size=9)]
    assert choose(vs)[1] == "d.en"                                # smaller, all else equal
    assert choose(vs, {"Accept-Language": "fr"})[1] == "d.fr"
    assert choose(vs, {"Accept-Language": "en;q=0.2, fr;q=0.9"})[1] == "d.fr"
    # en-US matches "en" only through the 0.001 fiddle: still chosen over nothing
    assert choose(vs, {"Accept-Language": "en-us"})[1] == "d.en"
    # "en" matches "en-gb" as a prefix up to '-'
    assert choose([var("d.gb", langs=["en-gb"]), var("d.fr", langs=["fr"])],
                  {"Accept-Language": "en"})[1] == "d.gb"
    assert choose(vs, {"Accept-Language": "de"})[:2] == (ALG_LIST, None)
    assert choose(vs, {"Accept-Language": "de, *;q=0.1"})[1] == "d.en"


def test_variant_without_language_is_last_resort() -> None:
    vs = [var("n.html", size=1), var("n.html.fr", langs=["fr"], size=50)]
    assert choose(vs, {"Accept-Language": "fr"})[1] == "n.html.fr"
    assert choose(vs, {"Accept-Language": "de"})[1] == "n.html"


def test_language_priority_prefer_and_fallback() -> None:
    vs = [var("d.de", langs=["de"], size=9), var("d.en", langs=["en"], size=1),
          var("d.fr", langs=["fr"], size=5)]
    prio = ("fr", "de", "en")
    assert choose(vs, priority=prio)[1] == "d.fr"                     # Prefer (default)
    assert choose(vs, {"Accept-Language": "en, de"}, priority=prio)[1] == "d.de"
    assert choose(vs, force=FLP_NONE, priority=prio)[1] == "d.en"     # by size
    assert choose(vs, {"Accept-Language": "es"}, priority=prio)[:2] == (ALG_LIST, None)
    assert choose(vs, {"Accept-Language": "es"}, force=FLP_FALLBACK,
                  priority=prio)[1] == "d.fr"
    # higher q beats the priority list; Prefer only breaks ties
    assert choose(vs, {"Accept-Language": "en, de;q=0.5"}, priority=prio)[1] == "d.en"


def test_prefer_language_variable() -> None:
    vs = [var("p.en", langs=["en"], size=9), var("p.fr", langs=["fr"], size=1)]
    assert choose(vs, {"Accept-Language": "fr"}, env={"prefer-language": "en"})[1] == "p.en"
    # not available: negotiated as usual
    assert choose(vs, {"Accept-Language": "fr"}, env={"prefer-language": "it"})[1] == "p.fr"


def test_charset_rules() -> None:
    vs = [var("c.iso", "text/html", size=1), var("c.utf8", "text/html; charset=utf-8", size=9)]
    # same quality: a variant in a charset other than iso-8859-1 wins
    assert choose(vs)[1] == "c.utf8"
    assert choose(vs, {"Accept-Charset": "iso-8859-1"})[1] == "c.iso"
    assert choose(vs, {"Accept-Charset": "utf-8;q=0.1, iso-8859-1;q=0.9"})[1] == "c.iso"
    # iso-8859-1 is acceptable unless named with q=0; others must be listed
    assert choose([var("k", "text/html; charset=koi8-r")],
                  {"Accept-Charset": "utf-8"})[:2] == (ALG_LIST, None)
    assert choose([var("k", "text/html; charset=koi8-r")],
                  {"Accept-Charset": "utf-8, *;q=0.2"})[1] == "k"


def test_encoding_rules_and_env() -> None:
    vs = [var("z.gz", "text/plain", enc="x-gzip", size=1), var("z.txt", "text/plain", size=9)]
    assert choose(vs)[1] == "z.txt"                         # unencoded preferred
    # a listed encoding beats identity, which is then only "acceptable" (0.0001)
    assert choose(vs, {"Accept-Encoding": "gzip"})[1] == "z.gz"
    assert choose(vs, {"Accept-Encoding": "gzip;q=0.5, identity"})[1] == "z.txt"
    assert choose([vs[1]], {"Accept-Encoding": "gzip"})[1] == "z.txt"
    assert choose([vs[0]], {"Accept-Encoding": "deflate"})[:2] == (ALG_LIST, None)
    assert choose([vs[0]], {"Accept-Encoding": "*"})[1] == "z.gz"
    assert choose([vs[0]], env={"no-gzip": "1"})[:2] == (ALG_LIST, None)
    html = var("h.gz", "text/html", enc="gzip")
    assert choose([html, vs[0]], env={"gzip-only-text/html": "1"})[1] == "h.gz"
    assert choose([vs[0]], env={"gzip-only-text/html": "1"})[:2] == (ALG_LIST, None)


def test_levels() -> None:
    vs = [var("l2", "text/html; level=2"), var("l3", "text/html; level=3")]
    assert choose(vs)[1] == "l2"                                       # lowest level
    assert choose(vs, {"Accept": "text/html;level=3"})[1] == "l3"      # highest named


def test_scripts_preferred_for_post_and_query() -> None:
    vs = [var("s.html", size=1), var("s.cgi", "application/x-httpd-cgi", size=1)]
    assert choose(vs)[1] == "s.html"
    assert choose(vs, prefer_scripts=True)[1] == "s.cgi"


def test_transparent_negotiation_and_rvsa() -> None:
    vs = [var("t.en", langs=["en"]), var("t.fr", langs=["fr"])]
    alg, best, neg = choose(vs, {"Negotiate": "trans", "Accept-Language": "de"},
                            transparent=True)
    assert (alg, neg.ua_supports_trans, neg.may_choose) == (ALG_LIST, True, False)
    alg, best, neg = choose([var("t.en", langs=["en"])],
                            {"Negotiate": "1.0", "Accept-Language": "en"}, transparent=True)
    assert (alg, best, neg.use_rvsa) == (ALG_LIST, "t.en", True)  # */* is not definite
    alg, best, neg = choose([var("t.en", langs=["en"])],
                            {"Negotiate": "1.0", "Accept-Language": "en",
                             "Accept": "text/html"}, transparent=True)
    assert (alg, best, neg.use_rvsa) == (ALG_CHOICE, "t.en", True)
    # RVSA: a choice needs a definite best variant (no wildcard match)
    alg, best, _ = choose([var("t.en", langs=["en"])],
                          {"Negotiate": "1.0", "Accept-Language": "*",
                           "Accept": "text/html"}, transparent=True)
    assert alg == ALG_LIST
    # Lynx's bare "trans" is ignored
    _, _, neg = choose(vs, {"Negotiate": "trans", "User-Agent": "Lynx/2.8"}, transparent=True)
    assert not neg.ua_supports_trans


def test_vary_alternates_tcn() -> None:
    vs = [var("v.html.en", langs=["en"], size=8), var("v.txt", "text/plain; qs=0.5", size=3,
                                                      enc="gzip")]
    r = req({"Negotiate": "vlist"})
    neg = parse_accept_headers(r, 0, ())
    neg.avail = vs
    neg.is_transparent = True
    parse_negotiate_header(r, neg)
    set_neg_headers(r, neg, ALG_CHOICE)
    h = r.err_headers_out
    assert h.get("Vary") == "negotiate, accept, accept-language, accept-encoding"
    assert h.get("TCN") == "choice"
    assert h.get("Alternates") == ('{"v.html.en" 1 {type text/html} {language en} '
                                   '{length 8}}, {"v.txt" 0.5 {type text/plain} '
                                   '{encoding gzip} {length 3}}')


def test_variant_list_html() -> None:
    v = var("x.html.fr", "text/html; charset=utf-8", langs=["fr"], enc="gzip")
    v.description = "French"
    neg = parse_accept_headers(req(), 0, ())
    neg.avail = [v, var("x.txt", "text/plain")]
    assert make_variant_list(neg) == (
        "Available variants:\n<ul>\n<li><a href=\"x.html.fr\">x.html.fr</a> French, type "
        "text/html, language fr, charset utf-8, encoding gzip</li>\n<li><a href=\"x.txt\">"
        "x.txt</a> , type text/plain</li>\n</ul>\n")


# --- type maps --------------------------------------------------------------------------
def test_type_map_records() -> None:
    text = (b"# a comment\nURI: doc\n\nURI: doc.html.en\nContent-Type: text/html;\n"
            b"  qs=0.7 (a comment)\nContent-Language: en\nContent-Length: 123\n"
            b"Description: The English\n  version\n\nURI: doc.txt\n"
            b"content-type: text/plain; charset=ISO-8859-2\nContent-Encoding: x-gzip\n")
    tm = read_type_map(text, "doc.var", "/d/doc.var")
    assert [v.file_name for v in tm.variants] == ["doc.html.en", "doc.txt"]
    en, txt = tm.variants
    assert (en.mime_type, en.source_quality, en.content_languages, en.bytes) == \
        ("text/html", f32(0.7), ["en"], 123)
    assert en.description == "The English version"
    assert (txt.content_charset, txt.content_encoding) == ("iso-8859-2", "x-gzip")


def test_type_map_body_variants() -> None:
    text = (b"Content-Type: text/plain\nContent-Language: en\nBody:--end--\nHello\n"
            b"--end--\n\nContent-Type: text/plain\nContent-Language: de\nBody:##\nHallo\n##\n")
    tm = read_type_map(text, "b.var", "/d/b.var")
    assert [v.file_name for v in tm.variants] == ["b.var", "b.var"]
    en, de = tm.variants
    assert text[en.body:en.body + en.bytes] == b"Hello\n"
    assert text[de.body:de.body + de.bytes] == b"Hallo\n"


def test_type_map_errors() -> None:
    with pytest.raises(TypeMapError, match="no ':'"):
        read_type_map(b"URI foo\n", "m.var", "/d/m.var")
    with pytest.raises(TypeMapError, match="no header body"):
        read_type_map(b"URI:   \n", "m.var", "/d/m.var")
    tm = read_type_map(b"URI: a\nContent-Type: text/html\n\nURI: b\nContent-Length: x\n"
                       b"Content-Type: text/html\n", "m.var", "/d/m.var")
    assert [v.file_name for v in tm.variants] == ["a"]
    assert "Content-Length: 'x'" in tm.errors[0]
    tm = read_type_map(b"Content-Type: text/plain\nBody:--x--\nno end tag\n", "m.var", "/m")
    assert tm.variants == [] and "no end tag '--x--'" in tm.errors[0]


# --- directives -------------------------------------------------------------------------
def nconf(tmp_path: Path, text: str) -> Any:
    tree = load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n" + text)
    return tree, tree.main.lookup_defaults[negotiation.index]


def test_directives(tmp_path: Path) -> None:
    _, c = nconf(tmp_path, "LanguagePriority en fr\nLanguagePriority de\n"
                           "ForceLanguagePriority Prefer Fallback\n")
    assert c.priority == ("en", "fr", "de")
    assert c.force == FLP_PREFER | FLP_FALLBACK
    tree, c = nconf(tmp_path, "ForceLanguagePriority None\nCacheNegotiatedDocs On\n")
    assert c.force == FLP_NONE
    assert tree.main.module_config[negotiation.index].cache is True


@pytest.mark.parametrize("text,msg", [
    ("ForceLanguagePriority Prefer None", "Cannot combine ForceLanguagePriority options "
                                          "with None"),
    ("ForceLanguagePriority None Fallback", "Cannot combine ForceLanguagePriority options "
                                            "None and Fallback"),
    ("ForceLanguagePriority Sometimes", "Invalid ForceLanguagePriority option Sometimes"),
    ("CacheNegotiatedDocs maybe", "CacheNegotiatedDocs must be On or Off"),
    ("<Directory /x>\nCacheNegotiatedDocs On\n</Directory>", "not allowed here"),
])
def test_directive_errors(tmp_path: Path, text: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        nconf(tmp_path, text + "\n")
