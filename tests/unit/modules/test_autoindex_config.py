"""mod_autoindex's directives: parsing of every IndexOptions keyword and its +/- forms,
the merge of option bits across sections (manual: "Incremental IndexOptions", and
merge_autoindex_configs of Apache 2.2's mod_autoindex.c), and the item lists."""

from __future__ import annotations

import pytest

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.errors import DirectiveError
from featherd.modules.generators.autoindex.config import (
    ADD_ALT_CLASS,
    BY_ENCODING,
    BY_NONE,
    BY_PATH,
    BY_TYPE,
    D_DESCENDING,
    EMIT_XHTML,
    FANCY_INDEXING,
    FOLDERS_FIRST,
    ICONS_ARE_LINKS,
    IGNORE_CASE,
    IGNORE_CLIENT,
    K_ADJUST,
    K_NOADJUST,
    K_SIZE,
    K_UNSET,
    NO_OPTIONS,
    OPTION_UNSET,
    SCAN_HTML_TITLES,
    SHOW_FORBIDDEN,
    SUPPRESS_COLSORT,
    SUPPRESS_DESC,
    SUPPRESS_ICON,
    SUPPRESS_LAST_MOD,
    SUPPRESS_PREAMBLE,
    SUPPRESS_RULES,
    SUPPRESS_SIZE,
    TABLE_INDEXING,
    TRACK_MODIFIED,
    VERSION_SORT,
    AutoindexConfig,
    Desc,
    Item,
    autoindex_module,
    merge_configs,
)


def apply(conf: AutoindexConfig, line: str, path: str | None = None) -> AutoindexConfig:
    """Run one configuration line through its directive row, as the parser does."""
    name, _, raw = line.partition(" ")
    row = next(d for d in autoindex_module.directives if d.name.lower() == name.lower())
    cmd = CmdParms(tree=None, server=None, where=Context.DIRECTORY,  # type: ignore[arg-type]
                   dir_confs=None, path=path, info=row)
    args = row.split(raw)
    if row.args is ArgSpec.ITERATE:
        for a in args:
            row.func(cmd, conf, a)
    elif row.args is ArgSpec.ITERATE2:
        for a in args[1:]:
            row.func(cmd, conf, args[0], a)
    else:
        row.func(cmd, conf, *args)
    return conf


def conf_of(*lines: str, path: str | None = None) -> AutoindexConfig:
    c = AutoindexConfig()
    for line in lines:
        apply(c, line, path)
    return c


KEYWORD_BITS = [
    ("FancyIndexing", FANCY_INDEXING), ("FoldersFirst", FOLDERS_FIRST),
    ("HTMLTable", TABLE_INDEXING), ("IconsAreLinks", ICONS_ARE_LINKS),
    ("IgnoreCase", IGNORE_CASE), ("IgnoreClient", IGNORE_CLIENT),
    ("ScanHTMLTitles", SCAN_HTML_TITLES), ("SuppressColumnSorting", SUPPRESS_COLSORT),
    ("SuppressDescription", SUPPRESS_DESC), ("SuppressHTMLPreamble", SUPPRESS_PREAMBLE),
    ("SuppressIcon", SUPPRESS_ICON), ("SuppressLastModified", SUPPRESS_LAST_MOD),
    ("SuppressRules", SUPPRESS_RULES), ("SuppressSize", SUPPRESS_SIZE),
    ("TrackModified", TRACK_MODIFIED), ("VersionSort", VERSION_SORT), ("XHTML", EMIT_XHTML),
    ("ShowForbidden", SHOW_FORBIDDEN),
]


@pytest.mark.parametrize(("word", "bit"), KEYWORD_BITS)
def test_each_keyword_sets_its_bit(word: str, bit: int) -> None:
    c = conf_of(f"IndexOptions {word}")
    assert c.opts == OPTION_UNSET | bit
    assert c.effective_opts() & bit
    assert conf_of(f"IndexOptions {word.upper()}").opts == c.opts     # case-blind


@pytest.mark.parametrize(("word", "bit"), KEYWORD_BITS)
def test_plus_and_minus_forms(word: str, bit: int) -> None:
    c = conf_of(f"IndexOptions +{word}")
    assert (c.opts, c.incremented_opts, c.decremented_opts) == (OPTION_UNSET, bit, 0)
    c = conf_of(f"IndexOptions -{word}")
    assert (c.opts, c.incremented_opts, c.decremented_opts) == (OPTION_UNSET, 0, bit)
    c = conf_of(f"IndexOptions +{word} -{word}")
    assert (c.incremented_opts, c.decremented_opts) == (0, bit)


def test_multiple_lines_in_one_directory_merge() -> None:
    c = conf_of("IndexOptions HTMLTable", "IndexOptions SuppressColumnsorting")
    assert c.effective_opts() & (TABLE_INDEXING | SUPPRESS_COLSORT) == \
        TABLE_INDEXING | SUPPRESS_COLSORT


def test_unprefixed_keyword_discards_earlier_increments() -> None:
    c = conf_of("IndexOptions +ScanHTMLTitles -IconsAreLinks FancyIndexing")
    assert c.opts == OPTION_UNSET | FANCY_INDEXING
    assert c.incremented_opts == c.decremented_opts == 0


def test_merge_incremental_child_inherits_and_applies() -> None:
    parent = conf_of("IndexOptions FancyIndexing IconsAreLinks")
    child = conf_of("IndexOptions +SuppressSize -IconsAreLinks")
    m = merge_configs(merge_configs(AutoindexConfig(), parent), child)
    opts = m.effective_opts()
    assert opts & FANCY_INDEXING and opts & SUPPRESS_SIZE
    assert not opts & ICONS_ARE_LINKS
    # and further down, the increments keep applying
    grand = conf_of("IndexOptions +FoldersFirst")
    g = merge_configs(m, grand).effective_opts()
    assert g & FOLDERS_FIRST and g & SUPPRESS_SIZE and not g & ICONS_ARE_LINKS


def test_merge_unprefixed_child_replaces_everything() -> None:
    parent = conf_of("IndexOptions FancyIndexing IconsAreLinks SuppressSize")
    child = conf_of("IndexOptions HTMLTable")
    opts = merge_configs(parent, child).effective_opts()
    assert opts & TABLE_INDEXING
    assert not opts & (FANCY_INDEXING | ICONS_ARE_LINKS | SUPPRESS_SIZE)


def test_merge_loses_increments_after_unprefixed_in_same_directory() -> None:
    """Apache's merge keeps only the unprefixed bits of such a directory (checked
    against apache2 in the e2e comparison, case "lost")."""
    parent = AutoindexConfig()
    child = conf_of("IndexOptions FancyIndexing +SuppressSize")
    opts = merge_configs(parent, child).effective_opts()
    assert opts & FANCY_INDEXING and not opts & SUPPRESS_SIZE


def test_none_and_its_merge() -> None:
    c = conf_of("IndexOptions None")
    assert c.opts == NO_OPTIONS
    parent = conf_of("IndexOptions FancyIndexing", "IndexOptions +IconsAreLinks")
    m = merge_configs(parent, c)
    assert m.opts == NO_OPTIONS and m.incremented_opts == m.decremented_opts == 0
    # a child with increments below "None" does not inherit "None" itself
    below = merge_configs(m, conf_of("IndexOptions +FancyIndexing"))
    assert below.effective_opts() == FANCY_INDEXING


@pytest.mark.parametrize(("line", "msg"), [
    ("IndexOptions +None", "Cannot combine '+' or '-' with 'None' keyword"),
    ("IndexOptions None FancyIndexing",
     "Cannot combine other IndexOptions keywords with 'None'"),
    ("IndexOptions Bogus", "Invalid directory indexing option"),
    ("IndexOptions -IconWidth=3", "Cannot combine '-' with IconWidth=n"),
    ("IndexOptions -IconHeight=3", "Cannot combine '-' with IconHeight=n"),
    ("IndexOptions NameWidth", "NameWidth with no value may only appear as '-NameWidth'"),
    ("IndexOptions -NameWidth=9", "Cannot combine '-' with NameWidth=n"),
    ("IndexOptions NameWidth=4", "NameWidth value must be greater than 5"),
    ("IndexOptions DescriptionWidth",
     "DescriptionWidth with no value may only appear as '-DescriptionWidth'"),
    ("IndexOptions -DescriptionWidth=20", "Cannot combine '-' with DescriptionWidth=n"),
    ("IndexOptions DescriptionWidth=11", "DescriptionWidth value must be greater than 12"),
    ("IndexOrderDefault Up Name", "First keyword must be 'Ascending' or 'Descending'"),
    ("IndexOrderDefault Ascending Colour",
     "Second keyword must be 'Name', 'Date', 'Size', or 'Description'"),
    ("AddIcon (ALT /x.gif foo", "missing closing paren"),
    ("FancyIndexing on",
     "The FancyIndexing directive is no longer supported. Use IndexOptions FancyIndexing."),
])
def test_errors_in_apache_words(line: str, msg: str) -> None:
    with pytest.raises(DirectiveError) as ei:
        conf_of(line)
    assert ei.value.message == msg


def test_valued_options() -> None:
    c = conf_of("IndexOptions IconWidth IconHeight")
    assert (c.icon_width, c.icon_height) == (20, 22)
    c = conf_of("IndexOptions IconWidth=16 IconHeight=12")
    assert (c.icon_width, c.icon_height) == (16, 12)
    c = conf_of("IndexOptions IconWidth=16 -IconWidth -IconHeight")
    assert (c.icon_width, c.icon_height) == (0, 0)
    c = conf_of("IndexOptions NameWidth=*")
    assert c.name_adjust == K_ADJUST
    c = conf_of("IndexOptions NameWidth=30")
    assert (c.name_width, c.name_adjust) == (30, K_NOADJUST)
    c = conf_of("IndexOptions NameWidth=30 -NameWidth")
    assert (c.name_width, c.name_adjust) == (23, K_NOADJUST)
    c = conf_of("IndexOptions DescriptionWidth=*")
    assert c.desc_adjust == K_ADJUST
    c = conf_of("IndexOptions DescriptionWidth=40")
    assert (c.desc_width, c.desc_adjust) == (40, K_NOADJUST)
    c = conf_of("IndexOptions Type=text/plain Charset=UTF-8")
    assert (c.ctype, c.charset) == ("text/plain", "UTF-8")
    # 2.4 keywords: accepted (2.2's date format is the only one; no CSS classes in 2.2)
    assert conf_of("IndexOptions UseOldDateFormat").opts == OPTION_UNSET
    assert conf_of("IndexOptions AddAltClass").opts == OPTION_UNSET | ADD_ALT_CLASS


def test_valued_options_inherit_on_their_own() -> None:
    parent = conf_of("IndexOptions FancyIndexing NameWidth=40 DescriptionWidth=30 "
                     "IconWidth=10 Charset=UTF-8 Type=text/x-listing")
    child = conf_of("IndexOptions HTMLTable")
    m = merge_configs(parent, child)
    assert (m.name_width, m.desc_width, m.icon_width) == (40, 30, 10)
    assert (m.charset, m.ctype) == ("UTF-8", "text/x-listing")
    assert merge_configs(AutoindexConfig(), AutoindexConfig()).name_adjust == K_UNSET


def test_icon_items_and_alt_from_parenthesised_icon() -> None:
    c = conf_of("AddIcon (IMG,/icons/image2.gif) .gif .jpg", path="/srv/www/")
    assert c.icon_list == (Item(BY_PATH, "*.gif", "/srv/www/*", "/icons/image2.gif"),
                           Item(BY_PATH, "*.jpg", "/srv/www/*", "/icons/image2.gif"))
    assert [a.data for a in c.alt_list] == ["IMG", "IMG"]
    c = conf_of("AddIcon /icons/dir.gif **DIRECTORY**", "AddIcon /icons/b.gif *~ core")
    assert [i.apply_to for i in c.icon_list] == ["*^^DIRECTORY^^", "*~", "*core"]
    assert c.icon_list[0].apply_path == "*"
    c = conf_of("AddIconByType (TXT,/t.gif) text/*", "AddIconByEncoding /z.gif X-GZIP")
    assert c.icon_list == (Item(BY_TYPE, "text/*", "*", "/t.gif"),
                           Item(BY_ENCODING, "x-gzip", "*", "/z.gif"))
    assert c.alt_list == (Item(BY_TYPE, "text/*", "*", "TXT"),)


def test_alt_items() -> None:
    c = conf_of('AddAlt "PDF file" *.pdf', "AddAltByType 'plain text' text/plain",
                "AddAltByEncoding gzip x-GZIP")
    assert c.alt_list == (Item(BY_PATH, "*.pdf", "*", "PDF file"),
                          Item(BY_TYPE, "text/plain", "*", "plain text"),
                          Item(BY_ENCODING, "x-gzip", "*", "gzip"))


def test_descriptions() -> None:
    c = conf_of('AddDescription "The planet Mars" mars.gif',
                'AddDescription "My friend" friends/mars.gif',
                'AddDescription "Images" *.gif')
    assert c.desc_list == (Desc("mars.gif", "The planet Mars", False, False),
                           Desc("*/friends/mars.gif*", "My friend", True, True),
                           Desc("**.gif*", "Images", False, True))


def test_ignore_header_readme_strings() -> None:
    c = conf_of("IndexIgnore .??* *~ README*", "HeaderName HEADER.html",
                "ReadmeName /inc/FOOTER.txt", "DefaultIcon /icons/unknown.gif",
                "IndexStyleSheet /s.css", 'IndexHeadInsert "<meta x>"',
                "IndexOrderDefault Descending Size", path="/d/")
    assert [i.apply_to for i in c.ign_list] == [".??*", "*~", "README*"]
    assert all(i.type == BY_NONE and i.apply_path == "/d/*" for i in c.ign_list)
    assert c.hdr_list == (Item(BY_NONE, "", "/d/*", "HEADER.html"),)
    assert c.rdme_list == (Item(BY_NONE, "", "/d/*", "/inc/FOOTER.txt"),)
    assert (c.default_icon, c.style_sheet, c.head_insert) == ("/icons/unknown.gif", "/s.css",
                                                              "<meta x>")
    assert (c.default_direction, c.default_keyid) == (D_DESCENDING, K_SIZE)


def test_lists_merge_child_first() -> None:
    parent = conf_of("AddIcon /p.gif .txt", "HeaderName P.html", "IndexIgnore *.p")
    child = conf_of("AddIcon /c.gif .txt", "HeaderName C.html", "IndexIgnore *.c")
    m = merge_configs(parent, child)
    assert [i.data for i in m.icon_list] == ["/c.gif", "/p.gif"]
    assert [i.data for i in m.hdr_list] == ["C.html", "P.html"]
    assert [i.apply_to for i in m.ign_list] == ["*.c", "*.p"]


def test_index_ignore_reset() -> None:
    parent = conf_of("IndexIgnore *.p")
    child = conf_of("IndexIgnoreReset on", "IndexIgnore *.c")
    m = merge_configs(parent, child)
    assert [i.apply_to for i in m.ign_list] == ["*.c"]
    assert merge_configs(m, AutoindexConfig()).ign_list == m.ign_list
    child_off = conf_of("IndexIgnoreReset off", "IndexIgnore *.c")
    assert len(merge_configs(parent, child_off).ign_list) == 2


def test_scalar_merges() -> None:
    parent = conf_of("DefaultIcon /p.gif", "IndexOrderDefault Descending Date",
                     "IndexStyleSheet /p.css")
    child = conf_of("IndexStyleSheet /c.css")
    m = merge_configs(parent, child)
    assert (m.default_icon, m.style_sheet, m.default_keyid, m.default_direction) == \
        ("/p.gif", "/c.css", "M", "D")


def test_directive_rows() -> None:
    names = {d.name for d in autoindex_module.directives}
    assert names == {"AddAlt", "AddAltByEncoding", "AddAltByType", "AddDescription",
                     "AddIcon", "AddIconByEncoding", "AddIconByType", "DefaultIcon",
                     "HeaderName", "IndexHeadInsert", "IndexIgnore", "IndexIgnoreReset",
                     "IndexOptions", "IndexOrderDefault", "IndexStyleSheet", "ReadmeName",
                     "FancyIndexing"}
    for d in autoindex_module.directives:
        assert d.help and d.syntax
        assert d.context == Context.ALL_DIR
        expected = Override.ALL if d.name == "FancyIndexing" else Override.INDEXES
        assert d.override == expected
