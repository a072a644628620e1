"""mod_mime's type checker on requests built in memory (no sockets): the manual's "Files
with Multiple Extensions", charsets, languages, encodings, handlers, filters,
DefaultLanguage, ModMimeUsePathInfo, MultiviewsMatch and directories."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import ServerConfigTree, load_config
from featherd.core.hooks import DECLINED, OK
from featherd.core.request import Request
from featherd.filters.chain import insert_filters
from featherd.modules import builtin_modules
from featherd.modules.http.content_type import analyze_ct, finish_ct
from featherd.modules.http.mod_mime import DIR_MAGIC_TYPE, find_ct

CONF = """
AddLanguage en .en
AddLanguage de .de
AddLanguage fr .fr
AddLanguage ja .ja
AddEncoding x-gzip .gz
AddEncoding x-compress .Z
AddEncoding pkzip .zip
AddCharset EUC-JP .euc
AddCharset ISO-2022-JP .jis
AddCharset UTF-8 .utf8
AddHandler imap-file .imap
AddHandler cgi-script .cgi
AddType "text/x-foo; q=1" .foo
AddType application/rss+xml;qs=0.8 .rss
AddType "text/csv; charset=latin1; x=y" .csv
AddType "text/x-two; charset=a; charset=b" .two
AddType nonsense .bad
AddOutputFilter INCLUDES;DEFLATE shtml
AddOutputFilter BUFFER .buf
AddInputFilter UPLOAD .up
"""


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, msg: str, **kw: Any) -> None:
        self.lines.append((level, msg))


@pytest.fixture
def tree(tmp_path: Path) -> ServerConfigTree:
    t = load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text="ServerName unit.test\n" + CONF)
    t.main.error_log = Log()
    return t


def request(tree: ServerConfigTree, filename: str, confs: list[Any] | None = None,
            finfo: Any = None, path_info: str = "") -> Request:
    r = Request(SimpleNamespace(client_ip="127.0.0.1"), tree.main, tree)
    r.filename = filename
    r.finfo = finfo
    r.path_info = path_info
    if confs is not None:
        r.per_dir_config = confs
    return r


def typed(tree: ServerConfigTree, name: str, **kw: Any) -> Request:
    r = request(tree, "/srv/www/" + name, **kw)
    find_ct(r)
    return r


def with_section(tree: ServerConfigTree, text: str) -> list[Any]:
    t2 = load_config(None, builtin_modules(), server_root=tree.server_root,
                     text="ServerName unit.test\n" + CONF + "<Directory /srv>\n" + text
                     + "\n</Directory>\n")
    t2.main.error_log = tree.main.error_log
    tree.__dict__.update(t2.__dict__)
    return tree.merge_dir_confs(tree.main.lookup_defaults, tree.main.sec_dir[0].confs)


# --- multiple extensions (manual: "Files with Multiple Extensions") ---------------------------
@pytest.mark.parametrize("name,ctype", [
    ("welcome.gif.html", "text/html"),      # the one to the right wins
    ("welcome.html.gif", "image/gif"),
    ("welcome.html.fr", "text/html"),
    ("welcome.fr.html", "text/html"),
    ("INDEX.HTML", "text/html"),            # extensions are case-insensitive
    ("a.Png", "image/png"),
    ("bad..html", "text/html"),             # an empty extension is ignored
    ("page.html.unknownext", "text/html"),  # an unknown extension is ignored
    ("page.unknownext.html", "text/html"),
    ("archive.tar.gz", "application/gzip"),
])
def test_content_type_by_extensions(tree: ServerConfigTree, name: str, ctype: str) -> None:
    r = typed(tree, name)
    assert r.content_type == ctype


def test_order_of_extensions_is_irrelevant_for_other_metadata(tree: ServerConfigTree) -> None:
    a = typed(tree, "welcome.html.fr")
    b = typed(tree, "welcome.fr.html")
    assert (a.content_type, a.content_languages) == (b.content_type, b.content_languages) \
        == ("text/html", ["fr"])


def test_languages_accumulate(tree: ServerConfigTree) -> None:
    r = typed(tree, "welcome.html.en.de")
    assert r.content_languages == ["en", "de"]
    assert r.content_type == "text/html"


def test_encodings_accumulate_in_order(tree: ServerConfigTree) -> None:
    r = typed(tree, "Resume.doc.zip.gz")
    assert r.content_encoding == "pkzip, x-gzip"
    # mime.types also types .zip and .gz; the last type wins (as Apache with this file)
    assert r.content_type == "application/gzip"
    assert typed(tree, "xxxx.en.Z").content_encoding == "x-compress"


def test_charset_from_either_position(tree: ServerConfigTree) -> None:
    # manual, AddCharset: xxxx.ja.jis and xxxx.jis.ja
    for name in ("xxxx.html.ja.jis", "xxxx.html.jis.ja"):
        r = typed(tree, name)
        assert r.content_type == "text/html; charset=iso-2022-jp"
        assert r.content_languages == ["ja"]


def test_charset_without_a_type_is_dropped(tree: ServerConfigTree) -> None:
    r = typed(tree, "file.utf8")
    assert r.content_type is None


def test_handler_from_any_extension_with_type_from_the_last(tree: ServerConfigTree) -> None:
    # manual: world.imap.html gets the imap-file handler and text/html
    r = typed(tree, "world.imap.html")
    assert r.handler == "imap-file"
    assert r.content_type == "text/html"
    r = typed(tree, "file.cgi.html")
    assert r.handler == "cgi-script"
    assert r.content_type == "text/html"
    r = typed(tree, "file.html.cgi")
    assert r.handler == "cgi-script"


def test_media_type_parameters_are_normalised(tree: ServerConfigTree) -> None:
    assert typed(tree, "a.foo").content_type == "text/x-foo; q=1"
    assert typed(tree, "a.rss").content_type == "application/rss+xml; qs=0.8"
    # AddCharset replaces the first charset parameter in place, drops the others
    assert typed(tree, "a.csv.utf8").content_type == "text/csv; charset=utf-8; x=y"
    assert typed(tree, "a.csv").content_type == "text/csv; charset=latin1; x=y"
    assert typed(tree, "a.two.utf8").content_type == "text/x-two; charset=utf-8"


def test_unparsable_type_is_kept_with_a_warning(tree: ServerConfigTree) -> None:
    r = typed(tree, "x.bad")
    assert r.content_type == "nonsense"
    assert (4, "Cannot get media type from 'nonsense'") in tree.main.error_log.lines


def test_no_extension_declines(tree: ServerConfigTree) -> None:
    r = request(tree, "/srv/www/Makefile")
    assert find_ct(r) == DECLINED
    assert r.content_type is None and r.content_languages is None
    r = request(tree, "/srv/www/unknown.zzzq")
    assert find_ct(r) == DECLINED


def test_no_filename_declines(tree: ServerConfigTree) -> None:
    r = request(tree, "")
    r.filename = None
    assert find_ct(r) == DECLINED


def test_directory_gets_dir_magic_type(tree: ServerConfigTree, tmp_path: Path) -> None:
    st = os.stat(tmp_path)
    r = request(tree, str(tmp_path) + "/x.html.en", finfo=st)
    assert find_ct(r) == OK
    assert r.content_type == DIR_MAGIC_TYPE == "httpd/unix-directory"
    assert r.content_languages is None


def test_leading_dot_is_an_empty_base_name_as_in_2_2(tree: ServerConfigTree) -> None:
    assert typed(tree, ".png").content_type == "image/png"


# --- filters and the exceptions list ------------------------------------------------------
def test_output_and_input_filters_go_to_ctx(tree: ServerConfigTree) -> None:
    r = typed(tree, "page.shtml")
    assert r.ctx["mime_filters"] == ["includes", "deflate"]
    r = typed(tree, "page.shtml.buf")
    assert r.ctx["mime_filters"] == ["includes", "deflate", "buffer"]
    r = typed(tree, "form.up")
    assert r.ctx["mime_input_filters"] == ["upload"]
    assert "mime_filters" not in r.ctx


def test_chain_inserts_the_mime_filters(tree: ServerConfigTree) -> None:
    class Upper:
        def __init__(self, r: Any) -> None:
            pass

        def filter(self, r: Any, bb: list[Any]) -> list[Any]:
            return bb

    tree.filters["buffer"] = (20, Upper, None)
    r = typed(tree, "page.html.buf")
    insert_filters(r)
    assert [f.filter_name for f in r.output_filters] == ["buffer"]


def test_exceptions_list_for_negotiation(tree: ServerConfigTree) -> None:
    r = typed(tree, "index.html.bak2.en")
    assert r.ctx["ap-mime-exceptions-list"] == ["index", "bak2"]
    # nothing recognised: no list (mod_negotiation: "we are clueless")
    r = typed(tree, "index.qqq")
    assert "ap-mime-exceptions-list" not in r.ctx
    # a handler alone is not negotiation metadata by default
    r = typed(tree, "index.cgi")
    assert "ap-mime-exceptions-list" not in r.ctx


@pytest.mark.parametrize("mm,name,expected", [
    ("Handlers", "index.cgi.qqq", ["index", "qqq"]),
    ("Filters", "index.shtml", ["index"]),
    ("NegotiatedOnly", "index.cgi.html", ["index", "cgi"]),
    ("Any", "index.qqq.html", ["index"]),
])
def test_multiviews_match_changes_what_counts(tree: ServerConfigTree, mm: str, name: str,
                                              expected: list[str]) -> None:
    confs = with_section(tree, f"MultiviewsMatch {mm}")
    r = request(tree, "/srv/www/" + name, confs=confs)
    find_ct(r)
    assert r.ctx["ap-mime-exceptions-list"] == expected


# --- per-directory settings -----------------------------------------------------------------
def test_default_language_only_without_a_language_extension(tree: ServerConfigTree) -> None:
    confs = with_section(tree, "DefaultLanguage nl")
    r = request(tree, "/srv/www/a.html", confs=confs)
    find_ct(r)
    assert r.content_languages == ["nl"]
    r = request(tree, "/srv/www/a.html.de", confs=confs)
    find_ct(r)
    assert r.content_languages == ["de"]
    r = request(tree, "/srv/www/Makefile", confs=confs)
    assert find_ct(r) == DECLINED
    assert r.content_languages == ["nl"]


def test_mod_mime_use_path_info(tree: ServerConfigTree) -> None:
    confs = with_section(tree, "ModMimeUsePathInfo On")
    r = request(tree, "/srv/www/index.gif", confs=confs, path_info="/foo.shtml")
    find_ct(r)
    assert r.content_type == "text/html"
    assert r.ctx["mime_filters"] == ["includes", "deflate"]
    r = request(tree, "/srv/www/index.gif", path_info="/foo.shtml")
    find_ct(r)
    assert r.content_type == "image/gif"
    assert "mime_filters" not in r.ctx


def test_section_overrides_and_removals(tree: ServerConfigTree) -> None:
    confs = with_section(tree, "RemoveType .html\nRemoveHandler cgi\nRemoveCharset .utf8\n"
                               "RemoveLanguage .en\nRemoveEncoding .gz\n"
                               "RemoveOutputFilter shtml\nAddType text/x-gif .gif")
    r = request(tree, "/srv/www/a.cgi.html.utf8.en", confs=confs)
    assert find_ct(r) == DECLINED
    assert (r.content_type, r.handler, r.content_languages) == (None, None, None)
    r = request(tree, "/srv/www/a.txt.gz", confs=confs)
    find_ct(r)
    assert (r.content_type, r.content_encoding) == ("application/gzip", None)
    r = request(tree, "/srv/www/a.shtml", confs=confs)
    find_ct(r)
    assert "mime_filters" not in r.ctx
    r = request(tree, "/srv/www/a.gif", confs=confs)
    find_ct(r)
    assert r.content_type == "text/x-gif"


def test_resolved_table_is_built_once_per_configuration(tree: ServerConfigTree) -> None:
    confs = with_section(tree, "AddType text/x-q .q")
    from featherd.modules.http.mod_mime import mime

    c = confs[mime.index]
    r = request(tree, "/srv/www/a.q", confs=confs)
    find_ct(r)
    first = c.table.combined
    r = request(tree, "/srv/www/b.q", confs=confs)
    find_ct(r)
    assert c.table.combined is first
    assert r.content_type == "text/x-q"


# --- analyze_ct ---------------------------------------------------------------------------
@pytest.mark.parametrize("ct,expected", [
    ("text/html", ("text/html", [])),
    (" text / html ", ("text/html", [])),
    ("text/html;charset=utf-8", ("text/html", [("charset", "utf-8")])),
    ('text/plain; format="a b"; x=1', ("text/plain", [("format", '"a b"'), ("x", "1")])),
    ("text", "Cannot get media type from 'text'"),
    ("text;x=1", "Cannot get media type from 'text;x=1'"),
    ("text/", "Cannot get media subtype."),
    ("text/html;", "Cannot get media parameter."),
    ("text/html; x", ("text/html", [])),      # a bare attribute is dropped, as in Apache
    ("text/html; x=", "Cannot get media parameter."),
    ("text/html; x=a b", "Cannot get media parameter."),
])
def test_analyze_ct(ct: str, expected: Any) -> None:
    assert analyze_ct(ct) == expected


def test_finish_ct() -> None:
    assert finish_ct("text/html", "utf-8") == ("text/html; charset=utf-8", None)
    assert finish_ct("text/html;charset=x", None) == ("text/html; charset=x", None)
    assert finish_ct("text", None) == ("text", "Cannot get media type from 'text'")
