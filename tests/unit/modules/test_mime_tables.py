"""mod_mime's tables: the types file, the directives' extension entries and their merge
(manual: mod_mime, AddType ... RemoveType, TypesConfig; merge_mime_dir_configs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from featherd.core.config import ServerConfigTree, load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.http import mod_mime
from featherd.modules.http.mod_mime import (
    CHARSET,
    ENCODING,
    HANDLER,
    LANGUAGE,
    MULTIMATCH_ANY,
    MULTIMATCH_FILTERS,
    MULTIMATCH_HANDLERS,
    MULTIMATCH_NEGOTIATED,
    OUTPUT_FILTERS,
    TYPE,
    MimeDirConfig,
    default_types_path,
    load_types,
    merge_mime,
    mime,
    parse_types,
)


def tree_of(tmp_path: Path, text: str) -> ServerConfigTree:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n" + text)


def section_conf(tree: ServerConfigTree, i: int = 0) -> MimeDirConfig:
    return tree.main.sec_dir[i].confs[mime.index]  # type: ignore[no-any-return]


def merged(tree: ServerConfigTree, *indexes: int) -> MimeDirConfig:
    confs: list[Any] = tree.main.lookup_defaults
    for i in indexes:
        confs = tree.merge_dir_confs(confs, tree.main.sec_dir[i].confs)
    return confs[mime.index]  # type: ignore[no-any-return]


def mapping(conf: MimeDirConfig, ext: str) -> tuple[str | None, ...] | None:
    return conf.table.mappings.get(ext) if conf.table is not None else None


# --- the types file -------------------------------------------------------------------------
def test_parse_types_skips_comments_and_lowercases_extensions() -> None:
    text = "# comment\n\ntext/html html HTM\n  # indented comment\napplication/x-empty\n" \
           "image/x-Thing THING\ntext/plain txt\ntext/x-later txt\n"
    t = parse_types(text)
    assert t["html"] == "text/html"
    assert t["htm"] == "text/html"
    assert t["thing"] == "image/x-Thing"        # the type keeps its case, as in Apache
    assert t["txt"] == "text/x-later"           # a later line wins
    assert "application/x-empty" not in t.values()
    assert "#" not in t


def test_bundled_types_file_is_the_default(tmp_path: Path) -> None:
    tree = load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n")
    types = tree.main.module_config[mime.index].types
    assert types.path == default_types_path()
    assert os.path.basename(types.path) == "mime.types"
    assert types.types["html"] == "text/html"
    assert types.types["png"] == "image/png"
    assert types.types["css"] == "text/css"


def test_types_file_is_server_root_relative_and_cached(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    p = tmp_path / "conf" / "my.types"
    p.write_text("text/x-custom cst\n")
    t1 = tree_of(tmp_path, "TypesConfig conf/my.types\n")
    t2 = tree_of(tmp_path, "TypesConfig conf/my.types\n")
    a = t1.main.module_config[mime.index].types
    b = t2.main.module_config[mime.index].types
    assert a.path == str(tmp_path / "conf" / "my.types")
    assert a.types == {"cst": "text/x-custom"}
    assert a is b                                # read once per path
    p.write_text("text/x-other cst oth\n")
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    c = load_types(str(p))
    assert c is not a and c.types["oth"] == "text/x-other"


def test_main_server_types_apply_to_virtual_hosts(tmp_path: Path) -> None:
    (tmp_path / "a.types").write_text("text/x-a aaa\n")
    (tmp_path / "b.types").write_text("text/x-b bbb\n")
    tree = tree_of(tmp_path, "TypesConfig a.types\n<VirtualHost 127.0.0.1:80>\n"
                             "TypesConfig b.types\n</VirtualHost>\n")
    v = tree.vhosts[0]
    assert v.module_config[mime.index].types.types == {"aaa": "text/x-a"}


def test_missing_types_file_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "TypesConfig /nonexistent/mime.types\n")
    assert "could not open mime types config file /nonexistent/mime.types." in str(ei.value)
    assert "No such file or directory" in str(ei.value)


def test_types_config_only_at_server_level(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "<Directory />\nTypesConfig x\n</Directory>\n")
    assert "TypesConfig" in str(ei.value)


# --- directives --------------------------------------------------------------------------
def test_add_directives_lowercase_value_and_extension_and_drop_dot(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "AddType Text/X-Foo .FOO bar .Baz\nAddCharset UTF-8 .u8\n"
                             "AddLanguage EN-GB .en\nAddEncoding X-GZIP gz\n"
                             "AddHandler My-Handler .hdl\nAddOutputFilter INCLUDES;DEFLATE shtml\n"
                             "AddInputFilter UPLOAD .up\n")
    c = tree.main.lookup_defaults[mime.index]
    for ext in ("foo", "bar", "baz"):
        assert mapping(c, ext)[TYPE] == "text/x-foo"  # type: ignore[index]
    assert mapping(c, "u8")[CHARSET] == "utf-8"  # type: ignore[index]
    assert mapping(c, "en")[LANGUAGE] == "en-gb"  # type: ignore[index]
    assert mapping(c, "gz")[ENCODING] == "x-gzip"  # type: ignore[index]
    assert mapping(c, "hdl")[HANDLER] == "my-handler"  # type: ignore[index]
    assert mapping(c, "shtml")[OUTPUT_FILTERS] == "includes;deflate"  # type: ignore[index]
    assert mapping(c, "up")[mod_mime.INPUT_FILTERS] == "upload"  # type: ignore[index]


def test_one_extension_collects_several_kinds(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "AddType text/html .x\nAddLanguage fr .x\nAddCharset koi8-r .x\n")
    assert mapping(tree.main.lookup_defaults[mime.index], "x") == (
        "text/html", None, "fr", None, "koi8-r", None, None)


def test_last_add_language_for_an_extension_wins(tmp_path: Path) -> None:
    # manual, AddLanguage: en, en-gb, en-us for .en -> en-us
    tree = tree_of(tmp_path, "AddLanguage en .en\nAddLanguage en-gb .en\nAddLanguage en-us .en\n")
    assert mapping(tree.main.lookup_defaults[mime.index], "en")[LANGUAGE] == "en-us"  # type: ignore[index]


def test_remove_type_is_an_empty_type_and_order_matters(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "RemoveType .a\nAddType text/x-a .a\nAddType text/x-b .b\n"
                             "RemoveType b\n")
    c = tree.main.lookup_defaults[mime.index]
    assert mapping(c, "a")[TYPE] == "text/x-a"  # type: ignore[index]
    assert mapping(c, "b")[TYPE] == ""  # type: ignore[index]


def test_remove_directives_are_recorded_not_applied(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "<Directory /x>\nRemoveHandler .CGI .pl\nRemoveCharset utf8\n"
                             "RemoveLanguage .en\nRemoveEncoding .gz\nRemoveOutputFilter shtml\n"
                             "RemoveInputFilter .up\n</Directory>\n")
    c = section_conf(tree)
    assert c.removals == (("cgi", HANDLER), ("pl", HANDLER), ("utf8", CHARSET),
                          ("en", LANGUAGE), ("gz", ENCODING), ("shtml", OUTPUT_FILTERS),
                          ("up", mod_mime.INPUT_FILTERS))
    assert c.table is None


def test_default_language_keeps_case(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "DefaultLanguage EN-us\n")
    assert tree.main.lookup_defaults[mime.index].default_language == "EN-us"


@pytest.mark.parametrize("args,mask", [
    ("Any", MULTIMATCH_ANY),
    ("NegotiatedOnly", MULTIMATCH_NEGOTIATED),
    ("Handlers Filters", MULTIMATCH_HANDLERS | MULTIMATCH_FILTERS),
    ("filters", MULTIMATCH_FILTERS),
])
def test_multiviews_match_is_stored(tmp_path: Path, args: str, mask: int) -> None:
    tree = tree_of(tmp_path, f"MultiviewsMatch {args}\n")
    assert tree.main.lookup_defaults[mime.index].multimatch == mask


@pytest.mark.parametrize("args,message", [
    ("Any Handlers", "Handlers is incompatible with Any and NegotiatedOnly"),
    ("Handlers Any", "Any is incompatible with NegotiatedOnly, Filters and Handlers"),
    ("NegotiatedOnly Filters", "Filters is incompatible with Any and NegotiatedOnly"),
    ("Filters NegotiatedOnly",
     "NegotiatedOnly is incompatible with Any, Filters and Handlers"),
    ("Foo", "Unrecognized option 'Foo'"),
])
def test_multiviews_match_errors(tmp_path: Path, args: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, f"MultiviewsMatch {args}\n")
    assert ei.value.message == message
    assert ei.value.line == 2


def test_multiviews_match_not_in_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "<Location /x>\nMultiviewsMatch Any\n</Location>\n")
    assert ei.value.message == "MultiviewsMatch cannot occur within <Location> section"
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "<LocationMatch ^/x>\nMultiviewsMatch Any\n</LocationMatch>\n")
    assert ei.value.message == "MultiviewsMatch cannot occur within <LocationMatch> section"


def test_mod_mime_use_path_info_only_in_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "ModMimeUsePathInfo On\n")
    assert ei.value.message == "ModMimeUsePathInfo not allowed here"
    tree = tree_of(tmp_path, "<Location /x>\nModMimeUsePathInfo On\n</Location>\n")
    assert tree.main.sec_url[0].confs[mime.index].use_path_info is True
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "<Location /x>\nModMimeUsePathInfo maybe\n</Location>\n")
    assert ei.value.message == "ModMimeUsePathInfo must be On or Off"


@pytest.mark.parametrize("line,message", [
    ("AddType text/html", "AddType requires at least two arguments, a mime type followed by "
                          "one or more file extensions"),
    ("RemoveType", "RemoveType requires at least one argument, one or more file extensions"),
    ("DefaultLanguage", "DefaultLanguage takes one argument, language to use for documents "
                        "with no other language file extension"),
])
def test_arity_errors(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, line + "\n")
    assert ei.value.message == message


def test_directives_allowed_in_htaccess_by_fileinfo() -> None:
    from featherd.config.directives import Context, Override

    rows = {d.name: d for d in mime.directives}
    for name in ("AddType", "AddCharset", "AddEncoding", "AddLanguage", "AddHandler",
                 "AddInputFilter", "AddOutputFilter", "RemoveType", "RemoveCharset",
                 "RemoveEncoding", "RemoveLanguage", "RemoveHandler", "RemoveInputFilter",
                 "RemoveOutputFilter", "DefaultLanguage", "MultiviewsMatch"):
        assert Context.HTACCESS in rows[name].context, name
        assert rows[name].override == Override.FILEINFO, name
    assert Context.HTACCESS not in rows["ModMimeUsePathInfo"].context
    assert rows["TypesConfig"].context == Context.RSRC


# --- merging -----------------------------------------------------------------------------
def test_child_entry_overlays_parent_entry_field_by_field(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "<Directory /a>\nAddType text/x-a .x\nAddLanguage fr .x\n"
                             "</Directory>\n<Directory /a/b>\nAddLanguage de .x\n"
                             "AddCharset utf-8 .x\n</Directory>\n")
    m = merged(tree, 0, 1)
    assert mapping(m, "x") == ("text/x-a", None, "de", None, "utf-8", None, None)
    # the parent's record is untouched
    assert mapping(merged(tree, 0), "x") == ("text/x-a", None, "fr", None, None, None, None)


def test_removals_clear_only_the_inherited_field(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "<Directory /a>\nAddHandler cgi-script .cgi\nAddType text/x-c .cgi\n"
                             "AddEncoding x-gzip .gz\n</Directory>\n"
                             "<Directory /a/b>\nRemoveHandler .cgi\nRemoveEncoding gz\n"
                             "AddHandler other .gz\n</Directory>\n")
    m = merged(tree, 0, 1)
    assert mapping(m, "cgi") == ("text/x-c", None, None, None, None, None, None)
    # a section's own Add* is applied before its Remove* is (overlay, then removal)
    assert mapping(m, "gz") == (None, None, None, "other", None, None, None)
    assert mapping(merged(tree, 0), "cgi")[HANDLER] == "cgi-script"  # type: ignore[index]


def test_remove_in_the_same_section_as_add_undoes_it_for_the_merge(tmp_path: Path) -> None:
    # manual, RemoveEncoding: "processed after any AddEncoding directives"
    tree = tree_of(tmp_path, "<Directory /a>\nRemoveEncoding .gz\nAddEncoding x-gzip .gz\n"
                             "</Directory>\n")
    assert mapping(merged(tree, 0), "gz") == (None,) * 7


def test_removals_do_not_inherit(tmp_path: Path) -> None:
    # "Note handler names are un-added with each per_dir_config merge": a RemoveHandler
    # does not stop a deeper section from adding the handler again
    tree = tree_of(tmp_path, "AddHandler h .x\n<Directory /a>\nRemoveHandler .x\n</Directory>\n"
                             "<Directory /a/b>\nAddHandler h2 .x\n</Directory>\n")
    assert mapping(merged(tree, 0), "x")[HANDLER] is None  # type: ignore[index]
    assert mapping(merged(tree, 0, 1), "x")[HANDLER] == "h2"  # type: ignore[index]
    assert merged(tree, 0, 1).removals is None


def test_unchanged_child_shares_the_parent_table(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "AddType text/x-a .a\n<Directory /a>\nDefaultLanguage de\n"
                             "</Directory>\n")
    base = tree.main.lookup_defaults[mime.index]
    m = merged(tree, 0)
    assert m.table is base.table
    assert m.default_language == "de"


def test_scalar_fields_merge_child_over_parent() -> None:
    a = MimeDirConfig(default_language="en", multimatch=MULTIMATCH_ANY, use_path_info=True)
    b = MimeDirConfig()
    m = merge_mime(a, b)
    assert (m.default_language, m.multimatch, m.use_path_info) == ("en", MULTIMATCH_ANY, True)
    c = MimeDirConfig(default_language="fr", multimatch=MULTIMATCH_HANDLERS,
                      use_path_info=False)
    m = merge_mime(a, c)
    assert (m.default_language, m.multimatch, m.use_path_info) == (
        "fr", MULTIMATCH_HANDLERS, False)


def test_vhost_merge_applies_its_removals(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "AddCharset utf-8 .u8\n<VirtualHost 127.0.0.1:80>\n"
                             "RemoveCharset .u8\n</VirtualHost>\n")
    v = tree.vhosts[0].lookup_defaults[mime.index]
    assert mapping(v, "u8") == (None,) * 7


def test_resolved_table_folds_in_mime_types(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "AddType text/x-h .html\nRemoveType .css\nAddLanguage fr .png\n")
    c = tree.main.lookup_defaults[mime.index]
    types = tree.main.module_config[mime.index].types
    table = c.table.build(types)  # type: ignore[union-attr]
    assert table["html"].type == "text/x-h"
    assert table["css"].type is None and not table["css"].negotiated
    assert table["png"].type == "image/png" and table["png"].language == "fr"
    assert table["gif"].type == "image/gif"
    assert table["gif"] is types.entries["gif"]
