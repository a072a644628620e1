"""mod_autoindex's per-directory record, its merge and its directive rows (Apache 2.2's
autoindex_config_rec, merge_autoindex_configs and autoindex_cmds).

Icon, alt, ignore, header and readme items are kept as Apache keeps them: the section's
path plus "*" (``apply_path``) and the pattern (``apply_to``); a child's items come before
its parent's, so the nearest section wins. Option bits merge as in Apache: a directory with
unprefixed keywords starts afresh from them; one with only +/- keywords applies them to
what it inherits. Widths, Charset= and Type= inherit on their own. Everything is stored in
"byte space" (see :mod:`.util`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.generators.autoindex.util import bstr, fnmatch_test, is_matchexp

# IndexOptions bits (mod_autoindex.c)
NO_OPTIONS = 1 << 0
ICONS_ARE_LINKS = 1 << 1
SCAN_HTML_TITLES = 1 << 2
SUPPRESS_ICON = 1 << 3
SUPPRESS_LAST_MOD = 1 << 4
SUPPRESS_SIZE = 1 << 5
SUPPRESS_DESC = 1 << 6
SUPPRESS_PREAMBLE = 1 << 7
SUPPRESS_COLSORT = 1 << 8
SUPPRESS_RULES = 1 << 9
FOLDERS_FIRST = 1 << 10
VERSION_SORT = 1 << 11
TRACK_MODIFIED = 1 << 12
FANCY_INDEXING = 1 << 13
TABLE_INDEXING = 1 << 14
IGNORE_CLIENT = 1 << 15
IGNORE_CASE = 1 << 16
EMIT_XHTML = 1 << 17
SHOW_FORBIDDEN = 1 << 18
OPTION_UNSET = 1 << 19
ADD_ALT_CLASS = 1 << 20      # 2.4: accepted; the 2.2 table has no CSS classes

KEYWORDS = {
    "fancyindexing": FANCY_INDEXING,
    "foldersfirst": FOLDERS_FIRST,
    "htmltable": TABLE_INDEXING,
    "iconsarelinks": ICONS_ARE_LINKS,
    "ignorecase": IGNORE_CASE,
    "ignoreclient": IGNORE_CLIENT,
    "scanhtmltitles": SCAN_HTML_TITLES,
    "suppresscolumnsorting": SUPPRESS_COLSORT,
    "suppressdescription": SUPPRESS_DESC,
    "suppresshtmlpreamble": SUPPRESS_PREAMBLE,
    "suppressicon": SUPPRESS_ICON,
    "suppresslastmodified": SUPPRESS_LAST_MOD,
    "suppresssize": SUPPRESS_SIZE,
    "suppressrules": SUPPRESS_RULES,
    "trackmodified": TRACK_MODIFIED,
    "versionsort": VERSION_SORT,
    "xhtml": EMIT_XHTML,
    "showforbidden": SHOW_FORBIDDEN,
    "addaltclass": ADD_ALT_CLASS,
    "useolddateformat": 0,       # 2.4: the 2.2 date format is the only one here
}

K_NOADJUST, K_ADJUST, K_UNSET = 0, 1, 2
K_NAME, K_LAST_MOD, K_SIZE, K_DESC = "N", "M", "S", "D"
D_ASCENDING, D_DESCENDING = "A", "D"
DEFAULT_ICON_WIDTH = 20
DEFAULT_ICON_HEIGHT = 22
DEFAULT_NAME_WIDTH = 23
DEFAULT_DESC_WIDTH = 23

# item types (c_by_path, c_by_type, c_by_encoding; 0 for ignore/header/readme)
BY_NONE, BY_PATH, BY_TYPE, BY_ENCODING = 0, 1, 2, 3


@dataclass(slots=True, frozen=True)
class Item:
    """struct item: what applies to which names, below which section path."""

    type: int
    apply_to: str
    apply_path: str
    data: str | None


@dataclass(slots=True, frozen=True)
class Desc:
    """ai_desc_t: an AddDescription pattern."""

    pattern: str
    description: str
    full_path: bool
    wildcards: bool


@dataclass(slots=True)
class AutoindexConfig:
    """autoindex_config_rec, with create_autoindex_config's defaults."""

    default_icon: str | None = None
    style_sheet: str | None = None
    head_insert: str | None = None
    opts: int = OPTION_UNSET
    incremented_opts: int = 0
    decremented_opts: int = 0
    name_width: int = DEFAULT_NAME_WIDTH
    name_adjust: int = K_UNSET
    desc_width: int = DEFAULT_DESC_WIDTH
    desc_adjust: int = K_UNSET
    icon_width: int = 0
    icon_height: int = 0
    default_keyid: str = ""
    default_direction: str = ""
    icon_list: tuple[Item, ...] = ()
    alt_list: tuple[Item, ...] = ()
    desc_list: tuple[Desc, ...] = ()
    ign_list: tuple[Item, ...] = ()
    hdr_list: tuple[Item, ...] = ()
    rdme_list: tuple[Item, ...] = ()
    ign_noinherit: bool = False      # IndexIgnoreReset (2.4)
    ctype: str | None = None
    charset: str | None = None

    def effective_opts(self) -> int:
        """The option bits in force (a record never merged still owes its +/-)."""
        if self.opts & NO_OPTIONS:
            return self.opts
        return (self.opts | self.incremented_opts) & ~self.decremented_opts


def merge_configs(base: AutoindexConfig, add: AutoindexConfig) -> AutoindexConfig:
    """merge_autoindex_configs."""
    new = AutoindexConfig()
    new.default_icon = base.default_icon if add.default_icon is None else add.default_icon
    new.style_sheet = base.style_sheet if add.style_sheet is None else add.style_sheet
    new.head_insert = base.head_insert if add.head_insert is None else add.head_insert
    new.icon_height = add.icon_height if add.icon_height else base.icon_height
    new.icon_width = add.icon_width if add.icon_width else base.icon_width
    new.ctype = base.ctype if add.ctype is None else add.ctype
    new.charset = base.charset if add.charset is None else add.charset
    new.alt_list = add.alt_list + base.alt_list
    new.ign_list = add.ign_list if add.ign_noinherit else add.ign_list + base.ign_list
    new.ign_noinherit = False
    new.hdr_list = add.hdr_list + base.hdr_list
    new.desc_list = add.desc_list + base.desc_list
    new.icon_list = add.icon_list + base.icon_list
    new.rdme_list = add.rdme_list + base.rdme_list
    if add.opts == NO_OPTIONS:
        # an explicit "None" also stops incremental settings from above
        new.opts = NO_OPTIONS
        new.incremented_opts = 0
        new.decremented_opts = 0
    else:
        if add.opts == OPTION_UNSET:
            # only incremental settings here: inherit, then apply them
            new.incremented_opts = ((base.incremented_opts | add.incremented_opts)
                                    & ~add.decremented_opts)
            new.decremented_opts = base.decremented_opts | add.decremented_opts
            new.opts = base.opts & ~NO_OPTIONS
        else:
            # unprefixed keywords here: they are the new base; nothing is inherited
            # (as in Apache, +/- keywords that followed them in this directory are lost)
            new.opts = add.opts
        new.opts |= new.incremented_opts
        new.opts &= ~new.decremented_opts
    if add.name_adjust == K_UNSET:
        new.name_width = base.name_width
        new.name_adjust = base.name_adjust
    else:
        new.name_width = add.name_width
        new.name_adjust = add.name_adjust
    if add.desc_adjust == K_UNSET:
        new.desc_width = base.desc_width
        new.desc_adjust = base.desc_adjust
    else:
        new.desc_width = add.desc_width
        new.desc_adjust = add.desc_adjust
    new.default_keyid = add.default_keyid or base.default_keyid
    new.default_direction = add.default_direction or base.default_direction
    return new


class AutoindexModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return merge_configs(base, new)


autoindex_module = AutoindexModule(
    "autoindex_module", "mod_autoindex.c", dir_config=AutoindexConfig,
    description="Generates directory indexes, automatically, similar to the Unix ls "
                "command or the Win32 dir shell command")

_CTX = Context.ALL_DIR
_OVR = Override.INDEXES


# --- directive handlers ------------------------------------------------------------------
def _section_path(cmd: CmdParms) -> str:
    return bstr(cmd.path or "")


def push_item(kind: int, to: str | None, path: str, data: str | None) -> Item:
    """push_item: the section path becomes a prefix pattern; a file name without
    wildcards becomes a suffix pattern."""
    to = to or ""
    apply_to = "*" + to if kind == BY_PATH and not is_matchexp(to) else to
    return Item(kind, apply_to, path + "*", data)


def _target(kind: int, to: str) -> str:
    if kind == BY_PATH and to == "**DIRECTORY**":
        return "^^DIRECTORY^^"
    if kind == BY_ENCODING:
        return to.lower()
    return to


def _add_alt(cmd: CmdParms, conf: AutoindexConfig, alt: str, to: str) -> None:
    kind = cmd.info.cmd_data if cmd.info else BY_PATH
    conf.alt_list += (push_item(kind, _target(kind, bstr(to)), _section_path(cmd), bstr(alt)),)


def _add_icon(cmd: CmdParms, conf: AutoindexConfig, icon: str, to: str) -> None:
    kind = cmd.info.cmd_data if cmd.info else BY_PATH
    icon = bstr(icon)
    if icon.startswith("("):
        cl = icon.find(")")
        if cl < 0:
            raise DirectiveError("missing closing paren")
        comma = icon.find(",")
        if comma < 0:
            alt, icon = icon[1:cl], ""
        elif cl < comma:
            alt, icon = icon[1:cl], icon[comma + 1:]
        else:
            alt, icon = icon[1:comma], icon[comma + 1:cl]
        conf.alt_list += (push_item(kind, _target(kind, bstr(to)), _section_path(cmd), alt),)
    conf.icon_list += (push_item(kind, _target(kind, bstr(to)), _section_path(cmd), icon),)


_ICON_HELP = {
    BY_PATH: "an icon URL followed by one or more filenames",
    BY_TYPE: "an icon URL followed by one or more MIME types",
    BY_ENCODING: "an icon URL followed by one or more content encodings",
}
_ALT_HELP = {
    BY_PATH: "alternate descriptive text followed by one or more filenames",
    BY_TYPE: "alternate descriptive text followed by one or more MIME types",
    BY_ENCODING: "alternate descriptive text followed by one or more content encodings",
}

for _name, _kind, _syntax in (
        ("AddIcon", BY_PATH, "AddIcon icon name [name] ..."),
        ("AddIconByType", BY_TYPE, "AddIconByType icon MIME-type [MIME-type] ..."),
        ("AddIconByEncoding", BY_ENCODING,
         "AddIconByEncoding icon MIME-encoding [MIME-encoding] ...")):
    autoindex_module.directive(_name, args=ArgSpec.ITERATE2, context=_CTX, override=_OVR,
                               syntax=_syntax, help=_ICON_HELP[_kind],
                               cmd_data=_kind)(_add_icon)

for _name, _kind, _syntax in (
        ("AddAlt", BY_PATH, "AddAlt string file [file] ..."),
        ("AddAltByType", BY_TYPE, "AddAltByType string MIME-type [MIME-type] ..."),
        ("AddAltByEncoding", BY_ENCODING,
         "AddAltByEncoding string MIME-encoding [MIME-encoding] ...")):
    autoindex_module.directive(_name, args=ArgSpec.ITERATE2, context=_CTX, override=_OVR,
                               syntax=_syntax, help=_ALT_HELP[_kind],
                               cmd_data=_kind)(_add_alt)


@autoindex_module.directive("AddDescription", args=ArgSpec.ITERATE2, context=_CTX,
                            override=_OVR, syntax="AddDescription string file [file] ...",
                            help="Descriptive text followed by one or more filenames")
def add_description(cmd: CmdParms, conf: AutoindexConfig, desc: str, to: str) -> None:
    """add_desc: a name with '/' matches the full path ("*/" prefix); one with wildcards
    is surrounded by '*'; a plain one is looked for as a substring of the file name."""
    to = bstr(to)
    full_path = "/" in to
    wildcards = full_path or fnmatch_test(to)
    if wildcards:
        pattern = ("*/" if full_path else "*") + to + "*"
    else:
        pattern = to
    conf.desc_list += (Desc(pattern, bstr(desc), full_path, wildcards),)


@autoindex_module.directive("IndexIgnore", args=ArgSpec.ITERATE, context=_CTX, override=_OVR,
                            syntax="IndexIgnore file [file] ...",
                            help="one or more file extensions")
def index_ignore(cmd: CmdParms, conf: AutoindexConfig, ext: str) -> None:
    conf.ign_list += (push_item(BY_NONE, bstr(ext), _section_path(cmd), None),)


@autoindex_module.directive("IndexIgnoreReset", args=ArgSpec.FLAG, context=_CTX,
                            override=_OVR, syntax="IndexIgnoreReset ON|OFF",
                            help="Reset the inherited list of IndexIgnore filenames")
def index_ignore_reset(cmd: CmdParms, conf: AutoindexConfig, flag: bool) -> None:
    conf.ign_noinherit = flag


@autoindex_module.directive("HeaderName", args=ArgSpec.TAKE1, context=_CTX, override=_OVR,
                            syntax="HeaderName filename", help="a filename")
def header_name(cmd: CmdParms, conf: AutoindexConfig, name: str) -> None:
    conf.hdr_list += (push_item(BY_NONE, None, _section_path(cmd), bstr(name)),)


@autoindex_module.directive("ReadmeName", args=ArgSpec.TAKE1, context=_CTX, override=_OVR,
                            syntax="ReadmeName filename", help="a filename")
def readme_name(cmd: CmdParms, conf: AutoindexConfig, name: str) -> None:
    conf.rdme_list += (push_item(BY_NONE, None, _section_path(cmd), bstr(name)),)


@autoindex_module.directive("DefaultIcon", args=ArgSpec.TAKE1, context=_CTX, override=_OVR,
                            syntax="DefaultIcon url-path", help="an icon URL")
def default_icon(cmd: CmdParms, conf: AutoindexConfig, url: str) -> None:
    conf.default_icon = bstr(url)


@autoindex_module.directive("IndexStyleSheet", args=ArgSpec.TAKE1, context=_CTX,
                            override=_OVR, syntax="IndexStyleSheet url-path",
                            help="URL to style sheet")
def index_style_sheet(cmd: CmdParms, conf: AutoindexConfig, url: str) -> None:
    conf.style_sheet = bstr(url)


@autoindex_module.directive("IndexHeadInsert", args=ArgSpec.TAKE1, context=_CTX,
                            override=_OVR, syntax='IndexHeadInsert "markup ..."',
                            help="String to insert in HTML HEAD section")
def index_head_insert(cmd: CmdParms, conf: AutoindexConfig, markup: str) -> None:
    conf.head_insert = bstr(markup)


@autoindex_module.directive("IndexOrderDefault", args=ArgSpec.TAKE2, context=_CTX,
                            override=_OVR,
                            syntax="IndexOrderDefault Ascending|Descending "
                                   "Name|Date|Size|Description",
                            help="{Ascending,Descending} {Name,Size,Description,Date}")
def index_order_default(cmd: CmdParms, conf: AutoindexConfig, direction: str,
                        key: str) -> None:
    d = direction.lower()
    if d == "ascending":
        conf.default_direction = D_ASCENDING
    elif d == "descending":
        conf.default_direction = D_DESCENDING
    else:
        raise DirectiveError("First keyword must be 'Ascending' or 'Descending'")
    k = {"name": K_NAME, "date": K_LAST_MOD, "size": K_SIZE,
         "description": K_DESC}.get(key.lower())
    if k is None:
        raise DirectiveError("Second keyword must be 'Name', 'Date', 'Size', or "
                             "'Description'")
    conf.default_keyid = k


@autoindex_module.directive("FancyIndexing", args=ArgSpec.RAW_ARGS, context=_CTX,
                            override=Override.ALL, syntax="FancyIndexing On|Off",
                            help="The FancyIndexing directive is no longer supported. "
                                 "Use IndexOptions FancyIndexing.")
def fancy_indexing(cmd: CmdParms, conf: AutoindexConfig, raw: str) -> None:
    """Apache 1.3's directive; 2.x answers it with ap_set_deprecated (an error)."""
    raise DirectiveError("The FancyIndexing directive is no longer supported. "
                         "Use IndexOptions FancyIndexing.")


@autoindex_module.directive("IndexOptions", args=ArgSpec.TAKE_ARGV, context=_CTX,
                            override=_OVR,
                            syntax="IndexOptions [+|-]option [[+|-]option] ...",
                            help="one or more index options [+|-][]")
def index_options(cmd: CmdParms, conf: AutoindexConfig, words: list[str]) -> None:
    apply_index_options(conf, words)


def apply_index_options(conf: AutoindexConfig, words: list[str]) -> None:
    """add_opts: keywords, their +/- forms and the valued options."""
    opts = conf.opts
    opts_add = conf.incremented_opts
    opts_remove = conf.decremented_opts
    for word in words:
        w = word
        action = ""
        if w[:1] in ("+", "-"):
            action, w = w[0], w[1:]
        lw = w.lower()
        option = 0
        if lw in KEYWORDS:
            option = KEYWORDS[lw]
        elif lw == "none":
            if action:
                raise DirectiveError("Cannot combine '+' or '-' with 'None' keyword")
            opts = NO_OPTIONS
            opts_add = 0
            opts_remove = 0
        elif lw == "iconwidth":
            conf.icon_width = DEFAULT_ICON_WIDTH if action != "-" else 0
        elif lw.startswith("iconwidth="):
            if action == "-":
                raise DirectiveError("Cannot combine '-' with IconWidth=n")
            conf.icon_width = _atoi(w[10:])
        elif lw == "iconheight":
            conf.icon_height = DEFAULT_ICON_HEIGHT if action != "-" else 0
        elif lw.startswith("iconheight="):
            if action == "-":
                raise DirectiveError("Cannot combine '-' with IconHeight=n")
            conf.icon_height = _atoi(w[11:])
        elif lw == "namewidth":
            if action != "-":
                raise DirectiveError("NameWidth with no value may only appear as "
                                     "'-NameWidth'")
            conf.name_width = DEFAULT_NAME_WIDTH
            conf.name_adjust = K_NOADJUST
        elif lw.startswith("namewidth="):
            if action == "-":
                raise DirectiveError("Cannot combine '-' with NameWidth=n")
            if w[10:11] == "*":
                conf.name_adjust = K_ADJUST
            else:
                width = _atoi(w[10:])
                if width and width < 5:
                    raise DirectiveError("NameWidth value must be greater than 5")
                conf.name_width = width
                conf.name_adjust = K_NOADJUST
        elif lw == "descriptionwidth":
            if action != "-":
                raise DirectiveError("DescriptionWidth with no value may only appear as "
                                     "'-DescriptionWidth'")
            conf.desc_width = DEFAULT_DESC_WIDTH
            conf.desc_adjust = K_NOADJUST
        elif lw.startswith("descriptionwidth="):
            if action == "-":
                raise DirectiveError("Cannot combine '-' with DescriptionWidth=n")
            if w[17:18] == "*":
                conf.desc_adjust = K_ADJUST
            else:
                width = _atoi(w[17:])
                if width and width < 12:
                    raise DirectiveError("DescriptionWidth value must be greater than 12")
                conf.desc_width = width
                conf.desc_adjust = K_NOADJUST
        elif lw.startswith("type="):
            conf.ctype = bstr(w[5:])
        elif lw.startswith("charset="):
            conf.charset = bstr(w[8:])
        else:
            raise DirectiveError("Invalid directory indexing option")
        if not action:
            opts |= option
            opts_add = 0
            opts_remove = 0
        elif action == "+":
            opts_add |= option
            opts_remove &= ~option
        else:
            opts_remove |= option
            opts_add &= ~option
    if (opts & NO_OPTIONS) and (opts & ~NO_OPTIONS):
        raise DirectiveError("Cannot combine other IndexOptions keywords with 'None'")
    conf.incremented_opts = opts_add
    conf.decremented_opts = opts_remove
    conf.opts = opts


def _atoi(s: str) -> int:
    """C's atoi: leading white space, a sign, digits; 0 when there are none."""
    s = s.lstrip(" \t\n\v\f\r")
    i = 0
    if s[:1] in ("+", "-"):
        i = 1
    j = i
    while j < len(s) and s[j].isdigit() and s[j].isascii():
        j += 1
    if j == i:
        return 0
    return int(s[:j])
