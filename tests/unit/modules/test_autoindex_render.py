"""mod_autoindex's listing: APR helpers (apr_strfsize, apr_strnatcmp, apr_fnmatch,
ap_strcmp_match, ap_os_escape_path), the query arguments, the sort and the three HTML
forms of Apache 2.2's mod_autoindex.c, byte for byte."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featherd.modules.generators.autoindex.config import (
    EMIT_XHTML,
    FANCY_INDEXING,
    FOLDERS_FIRST,
    ICONS_ARE_LINKS,
    IGNORE_CASE,
    K_ADJUST,
    SUPPRESS_COLSORT,
    SUPPRESS_DESC,
    SUPPRESS_ICON,
    SUPPRESS_LAST_MOD,
    SUPPRESS_RULES,
    SUPPRESS_SIZE,
    TABLE_INDEXING,
    VERSION_SORT,
    AutoindexConfig,
    apply_index_options,
    push_item,
)
from featherd.modules.generators.autoindex.render import (
    Entry,
    emit_link,
    emit_plain,
    find_default_item,
    find_desc,
    find_item,
    find_title,
    ignore_entry,
    output_directories,
    parent_uri,
    parse_query,
    pattern_match,
    preamble,
    sort_entries,
    terminate_description,
)
from featherd.modules.generators.autoindex.util import (
    fnmatch,
    fnmatch_test,
    natkey,
    os_escape_path,
    strcasecmp_match,
    strcmp_match,
    strfsize,
    strnatcmp,
    unescape_url,
)
from featherd.util.escape import escape_html


# --- apr_strfsize -------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "text"), [
    (-1, "  - "), (0, "  0 "), (3, "  3 "), (972, "972 "), (973, "1.0K"), (1023, "1.0K"),
    (1024, "1.0K"), (1500, "1.5K"), (9 * 1024 + 972, "9.9K"), (9 * 1024 + 973, " 10K"),
    (10 * 1024, " 10K"), (10 * 1024 + 511, " 10K"), (10 * 1024 + 512, " 11K"),
    (972 * 1024, "972K"), (972 * 1024 + 511, "972K"), (972 * 1024 + 512, "973K"),
    (973 * 1024, "1.0M"), (1024 ** 2 + 100 * 1024, "1.1M"),
    (2_000_000, "1.9M"), (5 * 1024 ** 3, "5.0G"), (3 * 1024 ** 4, "3.0T"),
])
def test_strfsize(size: int, text: str) -> None:
    assert strfsize(size) == text


# --- apr_strnatcmp --------------------------------------------------------------------------
def _sc(c: int) -> int:
    return c - 256 if c >= 128 else c


def ref_strnatcmp(a: str, b: str, fold: bool = False) -> int:
    """A line-by-line port of APR's strnatcmp.c (signed chars, as on x86)."""
    A = [ord(c) for c in a] + [0]
    B = [ord(c) for c in b] + [0]

    def dig(c: int) -> bool:
        return 48 <= c <= 57

    def space(c: int) -> bool:
        return c in (32, 9, 10, 11, 12, 13)

    def right(i: int, j: int) -> int:
        bias = 0
        while True:
            ca, cb = A[i], B[j]
            if not dig(ca) and not dig(cb):
                return bias
            if not dig(ca):
                return -1
            if not dig(cb):
                return 1
            if ca < cb:
                bias = bias or -1
            elif ca > cb:
                bias = bias or 1
            i += 1
            j += 1

    def left(i: int, j: int) -> int:
        while True:
            ca, cb = A[i], B[j]
            if not dig(ca) and not dig(cb):
                return 0
            if not dig(ca):
                return -1
            if not dig(cb):
                return 1
            if ca != cb:
                return -1 if ca < cb else 1
            i += 1
            j += 1

    ai = bi = 0
    while True:
        ca, cb = A[ai], B[bi]
        while space(ca):
            ai += 1
            ca = A[ai]
        while space(cb):
            bi += 1
            cb = B[bi]
        if dig(ca) and dig(cb):
            r = left(ai, bi) if (ca == 48 or cb == 48) else right(ai, bi)
            if r:
                return r
        if not ca and not cb:
            return 0
        if fold:
            ca = ca - 32 if 97 <= ca <= 122 else ca
            cb = cb - 32 if 97 <= cb <= 122 else cb
        sa, sb = _sc(ca), _sc(cb)
        if sa < sb:
            return -1
        if sa > sb:
            return 1
        ai += 1
        bi += 1


@pytest.mark.parametrize(("a", "b", "want"), [
    ("foo-1.7", "foo-1.7.2", -1), ("foo-1.7.2", "foo-1.7.12", -1),
    ("foo-1.7.12", "foo-1.8.2", -1), ("foo-1.8.2", "foo-1.8.2a", -1),
    ("foo-1.8.2a", "foo-1.12", -1), ("foo-1.001", "foo-1.002", -1),
    ("foo-1.002", "foo-1.030", -1), ("foo-1.030", "foo-1.04", -1),
    ("file9", "file10", -1), ("a b", "ab", 0), ("x05", "x5", -1), ("abc", "ABD", 1),
])
def test_strnatcmp_examples(a: str, b: str, want: int) -> None:
    assert strnatcmp(a, b) == want == ref_strnatcmp(a, b)


def test_strnatcasecmp() -> None:
    assert strnatcmp("abc", "ABD", fold=True) == -1 == ref_strnatcmp("abc", "ABD", True)


_alphabet = st.sampled_from(list("0012 9a-_.Zz~\t\xe9\x80") + ["10", "007", "99"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_alphabet, max_size=8).map("".join), st.lists(_alphabet, max_size=8).map("".join),
       st.booleans())
def test_natkey_orders_as_apr_strnatcmp(a: str, b: str, fold: bool) -> None:
    ka, kb = natkey(a, fold), natkey(b, fold)
    assert ((ka > kb) - (ka < kb)) == ref_strnatcmp(a, b, fold)


# --- matching -----------------------------------------------------------------------------
def test_strcmp_match() -> None:
    assert strcmp_match("/srv/www/a.txt", "/srv/www/*")
    assert strcmp_match("a.txt", "*.txt") and not strcmp_match("a.txt", "*.TXT")
    assert strcmp_match("ab", "a?") and not strcmp_match("abc", "a?")
    assert strcmp_match("x/y/z", "*y*") and strcmp_match("[a]", "[a]")
    assert strcasecmp_match("TEXT/Plain", "text/*")
    assert not strcasecmp_match("image/png", "text/*")


def test_fnmatch() -> None:
    assert fnmatch("*.txt", "a.txt") and not fnmatch("*.txt", "a.txt.gz")
    assert fnmatch("[a-c]*", "beta") and not fnmatch("[!a-c]*", "beta")
    assert fnmatch("[^a-c]*", "delta")
    assert fnmatch("*", ".hidden")
    assert not pattern_match("*", ".hidden")        # APR_FNM_PERIOD
    assert pattern_match(".h*", ".hidden")
    assert pattern_match("a\\b", "a\\b")             # APR_FNM_NOESCAPE
    assert fnmatch("a\\*b", "a*b") and not fnmatch("a\\*b", "axb")
    assert fnmatch("*/friends/mars.gif*", "/srv/www/friends/mars.gif")
    assert fnmatch("[", "[") and fnmatch("a[", "a[")
    assert fnmatch_test("*.gif") and fnmatch_test("a?") and fnmatch_test("[ab]")
    assert not fnmatch_test("mars.gif") and not fnmatch_test("[ab") and not fnmatch_test("\\*")


def test_escapes() -> None:
    assert os_escape_path("we<ird&na me.txt", False) == "we%3cird&na%20me.txt"
    assert os_escape_path("colon:file", False) == "./colon:file"
    assert os_escape_path("dir/colon:file", False) == "dir/colon:file"
    assert os_escape_path("colon:file", True) == "colon:file"
    assert os_escape_path("r\xc3\xa9sum\xc3\xa9;#?%", False) == "r%c3%a9sum%c3%a9%3b%23%3f%25"
    assert escape_html('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert unescape_url("%2a.txt") == "*.txt"
    assert unescape_url("%zz") is None and unescape_url("a%2fb") is None
    assert unescape_url("a%00") is None and unescape_url("a+b") == "a+b"


# --- the configured lists -------------------------------------------------------------------
def test_find_item_by_path_type_and_encoding() -> None:
    from featherd.modules.generators.autoindex.config import BY_ENCODING, BY_PATH, BY_TYPE

    items = (push_item(BY_PATH, ".gz", "", "/gz.gif"),
             push_item(BY_TYPE, "text/*", "", "/text.gif"),
             push_item(BY_ENCODING, "x-gzip", "", "/cmp.gif"),
             push_item(BY_PATH, "^^DIRECTORY^^", "", "/dir.gif"),
             push_item(BY_PATH, "..", "/only/here/", "/back.gif"))
    assert find_item(items, "/d/a.txt", "text/plain; charset=utf-8", None, False) == "/text.gif"
    assert find_item(items, "/d/a.txt", "text/plain", None, True) is None
    assert find_item(items, "/d/a.tar.gz", "application/x-tar", "x-gzip", False) == "/gz.gif"
    assert find_item(items, "/d/a.tgz", "text/plain", "X-GZIP", False) == "/cmp.gif"
    assert find_default_item(items, "^^DIRECTORY^^") == "/dir.gif"
    assert find_default_item(items, "/d/..") is None
    assert find_default_item(items, "/only/here/sub/..") == "/back.gif"


def test_find_desc() -> None:
    c = AutoindexConfig()
    from featherd.modules.generators.autoindex.config import Desc

    c.desc_list = (Desc("le.html", "substring", False, False),
                   Desc("*/friends/mars.gif*", "friend", True, True),
                   Desc("*.gif*", "gif", False, True))
    assert find_desc(c, "/srv/example.html") == "substring"
    assert find_desc(c, "/srv/friends/mars.gif") == "friend"
    assert find_desc(c, "/srv/mars.gif") == "gif"
    assert find_desc(c, "/srv/le.txt") is None


def test_ignore_entry() -> None:
    c = AutoindexConfig()
    from featherd.modules.generators.autoindex.config import BY_NONE

    c.ign_list = (push_item(BY_NONE, "*/.??*", "", None), push_item(BY_NONE, "*~", "/a/", None),
                  push_item(BY_NONE, "..", "", None))
    assert ignore_entry(c, "/x/.htaccess")
    assert not ignore_entry(c, "/x/.a")
    assert ignore_entry(c, "/a/b/file~") and not ignore_entry(c, "/b/file~")
    assert ignore_entry(c, "/x/y/..")


def test_find_title() -> None:
    assert find_title(b"<html><TITLE>\r\nMy\nTitle</title>") == "My Title"
    assert find_title(b"<title>Unclosed") == "Unclosed"
    assert find_title(b"<<title>quirk</title>") is None           # as Apache's scanner
    assert find_title(b"no title here") is None
    assert find_title(b"") is None
    assert find_title(b"\0<title>x</title>") is None
    assert find_title(b"x" * 8200 + b"<title>late</title>") is None


# --- query arguments ----------------------------------------------------------------------
def test_parse_query() -> None:
    f = FANCY_INDEXING
    assert parse_query(None, f, "N", "A") == (f, "N", "A", "", None)
    assert parse_query("C=M;O=D", f, "N", "A") == (f, "M", "D", "", None)
    assert parse_query("C=S&O=D", f, "N", "A")[1:3] == ("S", "D")
    assert parse_query("F=2", f, "N", "A")[0] == f | TABLE_INDEXING
    assert parse_query("F=0", f | TABLE_INDEXING, "N", "A")[0] == 0
    assert parse_query("F=1", TABLE_INDEXING, "N", "A")[0] == f
    assert parse_query("V=1;F=1", 0, "N", "A")[0] == VERSION_SORT | f
    assert parse_query("V=0", VERSION_SORT, "N", "A")[0] == 0
    assert parse_query("P=*.txt;C=S", f, "N", "A") == (f, "S", "A", ";P=*.txt", "*.txt")
    assert parse_query("F=2;V=1;P=a%20b*", 0, "N", "A")[3] == ";F=2;V=1;P=a%20b*"
    # parsing stops at anything it does not know
    assert parse_query("C=X;O=D", f, "N", "A")[1:3] == ("N", "A")
    assert parse_query("O=D;Q=1;C=S", f, "N", "A")[1:3] == ("N", "D")
    assert parse_query("C=SS", f, "N", "A")[1] == "N"
    assert parse_query("P=%zz", f, "N", "A")[3:] == ("", None)
    assert parse_query("P=", f, "N", "A")[3:] == ("", None)


def test_emit_link() -> None:
    assert emit_link("Name", "N", "N", "A", "", False) == '<a href="?C=N;O=D">Name</a>'
    assert emit_link("Name", "N", "N", "D", ";F=2", False) == '<a href="?C=N;O=A;F=2">Name</a>'
    assert emit_link("Size", "S", "N", "A", "", False) == '<a href="?C=S;O=A">Size</a>'
    assert emit_link("Size", "S", "N", "A", "", True) == "Size"


# --- sorting --------------------------------------------------------------------------------
def _names(es: list[Entry]) -> list[str]:
    return [e.name for e in es]


def test_sort_entries() -> None:
    def mk() -> list[Entry]:
        return [Entry("/up/"), Entry("b", size=5, lm=3, desc="x"),
                Entry("A", size=5, lm=1, desc="y"),
                Entry("z/", size=-1, lm=2, isdir=True), Entry("a", size=1, lm=4),
                Entry("file10", size=2, lm=5), Entry("file9", size=2, lm=5)]
    assert _names(sort_entries(mk(), "N", "A", 0)) == \
        ["/up/", "z/", "A", "a", "b", "file10", "file9"]
    assert _names(sort_entries(mk(), "N", "D", 0)) == \
        ["/up/", "z/", "file9", "file10", "b", "a", "A"]
    assert _names(sort_entries(mk(), "N", "A", VERSION_SORT | IGNORE_CASE))[2:] == \
        ["A", "a", "b", "file9", "file10"]
    assert _names(sort_entries(mk(), "S", "A", 0))[2:] == ["a", "file10", "file9", "A", "b"]
    assert _names(sort_entries(mk(), "S", "D", 0))[2:] == ["b", "A", "file9", "file10", "a"]
    assert _names(sort_entries(mk(), "M", "D", 0))[2:] == ["file9", "file10", "a", "b", "A"]
    assert _names(sort_entries(mk(), "D", "A", 0))[2:] == ["a", "file10", "file9", "b", "A"]
    flat = [Entry("b"), Entry("z/"), Entry("a")]
    assert _names(sort_entries(flat, "N", "A", FOLDERS_FIRST)) == ["a", "b", "z/"]


# --- HTML -----------------------------------------------------------------------------------
T = int(time.mktime((2026, 11, 27, 15, 50, 0, 0, 0, -1))) * 1_000_000


def _conf(*words: str) -> AutoindexConfig:
    from featherd.modules.generators.autoindex.config import BY_PATH, merge_configs

    c = AutoindexConfig()
    c.icon_list = (push_item(BY_PATH, "^^BLANKICON^^", "", "/icons/blank.gif"),
                   push_item(BY_PATH, "^^DIRECTORY^^", "", "/icons/folder.gif"))
    c.default_icon = "/icons/unknown.gif"
    apply_index_options(c, list(words))
    return merge_configs(AutoindexConfig(), c)


def _entries() -> list[Entry]:
    return [Entry("/", icon="/icons/back.gif", alt="DIR"),
            Entry("sub/", icon="/icons/folder.gif", alt="DIR", lm=T),
            Entry("a&b.txt", size=1500, lm=T, desc="Some <b>text</b>"),
            Entry("a_name_longer_than_twenty_three.txt", size=3, lm=T)]


def test_pre_listing_exact() -> None:
    c = _conf("FancyIndexing")
    out = output_directories(_entries(), c, c.effective_opts(), "N", "A", "")
    assert out == (
        '<pre><img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>'
        '                    <a href="?C=M;O=A">Last modified</a>      '
        '<a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr>'
        '<img src="/icons/back.gif" alt="[DIR]"> <a href="/">Parent Directory</a>'
        '                             -   \n'
        '<img src="/icons/folder.gif" alt="[DIR]"> <a href="sub/">sub/</a>'
        '                    27-Nov-2026 15:50    -   \n'
        '<img src="/icons/unknown.gif" alt="[   ]"> <a href="a&amp;b.txt">a&amp;b.txt</a>'
        '                 27-Nov-2026 15:50  1.5K  Some <b>text</b>\n'
        '<img src="/icons/unknown.gif" alt="[   ]"> '
        '<a href="a_name_longer_than_twenty_three.txt">a_name_longer_than_t..&gt;</a>'
        ' 27-Nov-2026 15:50    3   \n'
        '<hr></pre>\n')


def test_table_listing_exact() -> None:
    c = _conf("FancyIndexing", "HTMLTable")
    out = output_directories(_entries()[:3], c, c.effective_opts(), "S", "A", ";F=2")
    assert out == (
        '<table><tr><th><img src="/icons/blank.gif" alt="[ICO]"></th>'
        '<th><a href="?C=N;O=A;F=2">Name</a></th><th><a href="?C=M;O=A;F=2">Last modified</a>'
        '</th><th><a href="?C=S;O=D;F=2">Size</a></th><th><a href="?C=D;O=A;F=2">Description'
        '</a></th></tr><tr><th colspan="5"><hr></th></tr>\n'
        '<tr><td valign="top"><img src="/icons/back.gif" alt="[DIR]"></td>'
        '<td><a href="/">Parent Directory</a>       </td><td>&nbsp;</td>'
        '<td align="right">  - </td><td>&nbsp;</td></tr>\n'
        '<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td>'
        '<td><a href="sub/">sub/</a>                   </td>'
        '<td align="right">27-Nov-2026 15:50  </td><td align="right">  - </td>'
        '<td>&nbsp;</td></tr>\n'
        '<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td>'
        '<td><a href="a&amp;b.txt">a&amp;b.txt</a>                </td>'
        '<td align="right">27-Nov-2026 15:50  </td><td align="right">1.5K</td>'
        '<td>Some <b>text</b></td></tr>\n'
        '<tr><th colspan="5"><hr></th></tr>\n</table>\n')


def test_plain_list_exact() -> None:
    c = _conf()
    out = output_directories(_entries()[:3], c, c.effective_opts(), "N", "A", "")
    assert out == ('<ul><li><a href="/"> Parent Directory</a></li>\n'
                   '<li><a href="sub/"> sub/</a></li>\n'
                   '<li><a href="a&amp;b.txt"> a&amp;b.txt</a></li>\n</ul>\n')


def test_suppressed_columns_xhtml_and_links() -> None:
    c = _conf("FancyIndexing", "SuppressIcon", "SuppressLastModified", "SuppressSize",
              "SuppressDescription", "SuppressRules")
    out = output_directories(_entries()[1:2], c, c.effective_opts() | SUPPRESS_COLSORT,
                             "N", "A", "")
    assert out == '<pre>Name                    \n<a href="sub/">sub/</a>                    \n</pre>\n'
    c = _conf("FancyIndexing", "XHTML", "IconsAreLinks", "IconWidth", "IconHeight",
              "HTMLTable", "SuppressRules")
    opts = c.effective_opts()
    assert opts & EMIT_XHTML and opts & ICONS_ARE_LINKS
    out = output_directories(_entries()[1:2], c, opts, "N", "A", "")
    assert out.startswith('<table><tr><th><img src="/icons/blank.gif" alt="[ICO]" '
                          'width="20" height="22" /></th>')
    assert ('<td valign="top"><a href="sub/"><img src="/icons/folder.gif" alt="[DIR]" '
            'width="20" height="22" /></a></td>') in out
    assert out.endswith("</td></tr>\n</table>\n") and "<hr" not in out
    assert opts & SUPPRESS_RULES
    for bit in (SUPPRESS_ICON, SUPPRESS_LAST_MOD, SUPPRESS_SIZE, SUPPRESS_DESC):
        assert opts & bit == 0


def test_name_width_adjust() -> None:
    c = _conf("FancyIndexing", "NameWidth=*")
    assert c.name_adjust == K_ADJUST
    out = output_directories(_entries()[3:], c, c.effective_opts(), "N", "A", "")
    assert '">a_name_longer_than_twenty_three.txt</a> 27-Nov-2026' in out
    c = _conf("FancyIndexing", "NameWidth=8")
    out = output_directories(_entries()[2:3], c, c.effective_opts(), "N", "A", "")
    assert '<a href="?C=N;O=D">Name</a>     <a href' in out
    assert '">a&amp;b.txt</a>  27-Nov' in out           # 7 of 8, one pad, one blank
    out = output_directories(_entries()[3:], c, c.effective_opts(), "N", "A", "")
    assert '">a_nam..&gt;</a> 27-Nov' in out


def test_terminate_description() -> None:
    c = AutoindexConfig()
    assert terminate_description(c, "short", 0, 23) == "short"
    assert terminate_description(c, "x" * 30, 0, 23) == "x" * 22 + ">"
    assert terminate_description(c, "x" * 30, SUPPRESS_ICON, 23) == "x" * 28 + ">"
    assert terminate_description(c, "x" * 60, SUPPRESS_ICON | SUPPRESS_LAST_MOD |
                                 SUPPRESS_SIZE, 23) == "x" * 54 + ">"
    assert terminate_description(c, "<b>" + "y" * 23 + "</b>z", 0, 23) == \
        "<b>" + "y" * 23 + "</b>"
    assert terminate_description(c, "&amp;" * 30, 0, 23) == "&amp;" * 22 + "&amp>"
    assert terminate_description(c, "<b unclosed", 0, 1) == "<b unclosed"
    c.desc_adjust = 0    # an explicit DescriptionWidth: no extra room
    assert terminate_description(c, "x" * 30, SUPPRESS_ICON, 23) == "x" * 22 + ">"


def test_preamble_and_plain() -> None:
    c = AutoindexConfig()
    assert preamble(c, False, "/d") == (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
        "  <title>Index of /d</title>\n </head>\n <body>\n")
    c.style_sheet = "/s.css"
    c.head_insert = "<meta x>\n"
    assert preamble(c, True, "/d") == (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml">\n <head>\n  <title>Index of /d</title>\n'
        '  <link rel="stylesheet" href="/s.css" type="text/css" />\n<meta x>\n'
        " </head>\n <body>\n")
    assert emit_plain(b"a<b>&c\n") == "<pre>\na&lt;b&gt;&amp;c\n</pre>\n"
    assert emit_plain(b"ab\0cd<ef") == "<pre>\nab&lt;ef</pre>\n"


def test_parent_uri() -> None:
    assert parent_uri("/") is None
    assert parent_uri("/a/") == "/"
    assert parent_uri("/a/b/") == "/a/"
    assert parent_uri("/a/b") == "/a/"
    assert parent_uri("/a//") == "/a/"
