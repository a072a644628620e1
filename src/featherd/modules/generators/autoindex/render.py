"""Building the listing: lookups in the configured lists, the query arguments, the sort
and the HTML of mod_autoindex.c (2.2), byte for byte. Pure functions of their inputs;
every string is in byte space (see :mod:`.util`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from featherd.modules.generators.autoindex.config import (
    BY_ENCODING,
    BY_PATH,
    BY_TYPE,
    D_ASCENDING,
    D_DESCENDING,
    EMIT_XHTML,
    FANCY_INDEXING,
    ICONS_ARE_LINKS,
    IGNORE_CASE,
    K_ADJUST,
    K_DESC,
    K_LAST_MOD,
    K_NAME,
    K_SIZE,
    K_UNSET,
    SUPPRESS_COLSORT,
    SUPPRESS_DESC,
    SUPPRESS_ICON,
    SUPPRESS_LAST_MOD,
    SUPPRESS_RULES,
    SUPPRESS_SIZE,
    TABLE_INDEXING,
    VERSION_SORT,
    AutoindexConfig,
    Item,
)
from featherd.modules.generators.autoindex.util import (
    fnmatch,
    natkey,
    os_escape_path,
    strcasecmp_match,
    strcmp_match,
    strfsize,
    unescape_url,
)
from featherd.util.escape import escape_html

DIR_MAGIC_TYPE = "httpd/unix-directory"
INCLUDES_MAGIC_TYPE = "text/x-server-parsed-html"
DOCTYPE_HTML_3_2 = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
DOCTYPE_XHTML_1_0T = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
                      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n')
MAX_STRING_LEN = 8192
AP_IOBUFSIZE = 8192
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(slots=True)
class Entry:
    """struct ent: one line of the listing."""

    name: str                    # "file", "dir/", or for the parent its URI path
    icon: str | None = None
    alt: str | None = None
    desc: str | None = None
    size: int = -1
    lm: int = -1                 # microseconds, -1 when unknown
    isdir: bool = False          # only with FoldersFirst


def field_noparam(ct: str | None) -> str | None:
    """ap_field_noparam: a header value without its parameters."""
    if ct is None:
        return None
    return ct.split(";", 1)[0].rstrip(" \t")


# --- the configured lists ---------------------------------------------------------------
def find_item(items: tuple[Item, ...], path: str, content_type: str | None,
              content_encoding: str | None, path_only: bool) -> str | None:
    """find_item: the first item matching the file name (or, for files, its type or
    encoding); names starting with '^' are the ^^DIRECTORY^^-style pseudo names."""
    ct = field_noparam(content_type)
    special = path.startswith("^")
    for it in items:
        if not (special or strcmp_match(path, it.apply_path)):
            continue
        if not it.apply_to:
            return it.data
        if it.type == BY_PATH or special:
            if strcmp_match(path, it.apply_to):
                return it.data
        elif not path_only:
            if not content_encoding:
                if it.type == BY_TYPE and ct and strcasecmp_match(ct, it.apply_to):
                    return it.data
            elif it.type == BY_ENCODING and strcasecmp_match(content_encoding, it.apply_to):
                return it.data
    return None


def find_default_item(items: tuple[Item, ...], name: str) -> str | None:
    return find_item(items, name, None, None, True)


def wants_type(conf: AutoindexConfig) -> bool:
    """Whether any icon or alt depends on a file's content type or encoding."""
    for it in conf.icon_list + conf.alt_list:
        if it.type in (BY_TYPE, BY_ENCODING) and it.apply_to:
            return True
    return False


def find_desc(conf: AutoindexConfig, filename_full: str) -> str | None:
    """find_desc: the first AddDescription whose pattern matches (the full path only
    for patterns holding a '/')."""
    if not conf.desc_list:
        return None
    only = filename_full.rsplit("/", 1)[-1]
    for d in conf.desc_list:
        fn = filename_full if d.full_path else only
        if d.wildcards:
            if fnmatch(d.pattern, fn):
                return d.description
        elif d.pattern in fn:
            return d.description
    return None


def ignore_entry(conf: AutoindexConfig, path: str) -> bool:
    """ignore_entry: IndexIgnore patterns match the last path segment."""
    tt = path.rsplit("/", 1)[-1]
    for it in conf.ign_list:
        ap = it.apply_to.rsplit("/", 1)[-1]
        if strcmp_match(path, it.apply_path) and strcmp_match(tt, ap):
            return True
    return False


def find_title(buf: bytes) -> str | None:
    """find_title: the text of the first <title> in the file's first 8 KiB."""
    buf = buf[:MAX_STRING_LEN - 1]
    z = buf.find(b"\0")
    if z >= 0:
        buf = buf[:z]
    if not buf:
        return None
    find = b"<title>"
    p = 0
    low = buf.lower()
    for x in range(len(low)):
        if low[x] == find[p]:
            p += 1
            if p == len(find):
                rest = buf[x + 1:]
                k = rest.find(b"<")
                if k >= 0:
                    rest = rest[:k]
                rest = rest.lstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")
                return rest.decode("latin-1")
        else:
            p = 0
    return None


# --- query arguments -------------------------------------------------------------------
def parse_query(qs: str | None, opts: int, keyid: str,
                direction: str) -> tuple[int, str, str, str, str | None]:
    """C=, O=, F=, V= and P= as index_directory reads them; it stops at the first
    argument it does not understand. Returns (opts, keyid, direction, colargs, pattern)."""
    fval = vval = ppre = epattern = ""
    pstring: str | None = None
    if not qs:
        return opts, keyid, direction, "", None
    n = len(qs)
    i = 0

    def ends(j: int) -> bool:
        return j >= n or qs[j] in "&;"

    while i < n:
        a, b = qs[i], qs[i + 1:i + 2]
        c = qs[i + 2:i + 3]
        if a == "C" and b == "=" and c and c in "NMSD" and ends(i + 3):
            keyid = c
        elif a == "O" and b == "=" and c in ("A", "D") and c and ends(i + 3):
            direction = c
        elif a == "F" and b == "=" and c and c in "012" and ends(i + 3):
            if c == "0":
                opts &= ~(FANCY_INDEXING | TABLE_INDEXING)
            elif c == "1":
                opts = (opts | FANCY_INDEXING) & ~TABLE_INDEXING
            else:
                opts |= FANCY_INDEXING | TABLE_INDEXING
            fval = ";F=" + c
        elif a == "V" and b == "=" and c in ("0", "1") and c and ends(i + 3):
            if c == "0":
                opts &= ~VERSION_SORT
            else:
                opts |= VERSION_SORT
            vval = ";V=" + c
        elif a == "P" and b == "=":
            start = eos = i + 2
            while eos < n and qs[eos] not in "&;":
                eos += 1
            if eos == start:
                pstring = None
            else:
                pstring = unescape_url(qs[start:eos])
                if pstring is not None:
                    ppre = ";P="
                    epattern = os_escape_path(pstring, True)
            if eos < n and eos + 1 < n:
                i = eos + 1
                continue
            break
        else:
            break
        i += 4
    return opts, keyid, direction, fval + vval + ppre + epattern, pstring


def pattern_match(pattern: str, name: str) -> bool:
    """The P= pattern: apr_fnmatch with APR_FNM_NOESCAPE | APR_FNM_PERIOD."""
    return fnmatch(pattern, name, noescape=True, period=True)


# --- sorting ---------------------------------------------------------------------------
def sort_entries(entries: list[Entry], keyid: str, direction: str, opts: int) -> list[Entry]:
    """qsort with dsortf: the parent first, then (FoldersFirst) directories, each part
    by the key column, ties by name; descending reverses key and name alike."""
    if not entries:
        return entries
    parent = [e for e in entries[:1] if e.name.startswith("/")]
    rest = entries[len(parent):]
    version = bool(opts & VERSION_SORT)
    fold = bool(opts & IGNORE_CASE)
    key = keyid.upper()

    def name_key(e: Entry) -> tuple[object, ...]:
        n = e.name
        if version:
            if fold:
                return (natkey(n, True), natkey(n), n.translate(_LOWER), n)
            return (natkey(n), n)
        if fold:
            return (n.translate(_LOWER), n)
        return (n,)

    def sort_key(e: Entry) -> tuple[object, ...]:
        if key == K_LAST_MOD:
            return (e.lm, *name_key(e))
        if key == K_SIZE:
            return (e.size, *name_key(e))
        if key == K_DESC:
            d = e.desc or ""
            return ((natkey(d) if version else d), *name_key(e))
        return name_key(e)

    reverse = direction.upper() != D_ASCENDING
    dirs = [e for e in rest if e.isdir]
    files = [e for e in rest if not e.isdir]
    dirs.sort(key=sort_key, reverse=reverse)
    files.sort(key=sort_key, reverse=reverse)
    return parent + dirs + files


# --- the HTML ----------------------------------------------------------------------------
def preamble(conf: AutoindexConfig, xhtml: bool, title: str) -> str:
    """emit_preamble."""
    if xhtml:
        out = [DOCTYPE_XHTML_1_0T, '<html xmlns="http://www.w3.org/1999/xhtml">\n'
               " <head>\n  <title>Index of ", title, "</title>\n"]
    else:
        out = [DOCTYPE_HTML_3_2, "<html>\n <head>\n  <title>Index of ", title, "</title>\n"]
    if conf.style_sheet is not None:
        out.append('  <link rel="stylesheet" href="' + conf.style_sheet + '" type="text/css"'
                   + (" />\n" if xhtml else ">\n"))
    if conf.head_insert is not None:
        out.append(conf.head_insert)
    out.append(" </head>\n <body>\n")
    return "".join(out)


def emit_plain(data: bytes) -> str:
    """do_emit_plain: the file in <pre>, with < > & escaped (read as the C code reads
    it: 8 KiB at a time, each piece cut at a NUL byte)."""
    out = ["<pre>\n"]
    for off in range(0, len(data), AP_IOBUFSIZE):
        chunk = data[off:off + AP_IOBUFSIZE].decode("latin-1")
        start = 0
        n = len(chunk)
        while start < n:
            i = start
            while i < n and chunk[i] not in "<>&":
                i += 1
            seg = chunk[start:i]
            z = seg.find("\0")
            out.append(seg if z < 0 else seg[:z])
            if i < n:
                out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[chunk[i]])
            start = i + 1
    out.append("</pre>\n")
    return "".join(out)


def terminate_description(conf: AutoindexConfig, desc: str, opts: int,
                          desc_width: int) -> str:
    """terminate_description: cut to the column width; tags do not count, an entity
    counts as one character; a cut description ends with '>'."""
    maxsize = desc_width
    if conf.desc_adjust == K_UNSET:
        if opts & SUPPRESS_ICON:
            maxsize += 6
        if opts & SUPPRESS_LAST_MOD:
            maxsize += 19
        if opts & SUPPRESS_SIZE:
            maxsize += 7
    n = len(desc)
    x = 0
    while x < n and (maxsize > 0 or desc[x] == "<"):
        c = desc[x]
        if c == "<":
            while x < n and desc[x] != ">":
                x += 1
            if x >= n:
                return desc
        elif c == "&":
            maxsize -= 1
            while x < n and desc[x] != ";":
                x += 1
            if x >= n:
                return desc
        else:
            maxsize -= 1
        x += 1
    if maxsize == 0 and x < n:
        return desc[:x - 1] + ">"
    return desc


def emit_link(anchor: str, column: str, curkey: str, curdirection: str, colargs: str,
              nosort: bool) -> str:
    """emit_link: a column header; the current key's link reverses the order."""
    if nosort:
        return anchor
    order = D_DESCENDING if (curkey == column and curdirection == D_ASCENDING) else D_ASCENDING
    return f'<a href="?C={column};O={order}{colargs}">{anchor}</a>'


def _dims(conf: AutoindexConfig) -> str:
    s = ""
    if conf.icon_width:
        s += f' width="{conf.icon_width}"'
    if conf.icon_height:
        s += f' height="{conf.icon_height}"'
    return s


def _date(lm: int) -> str:
    return time.strftime("%d-%b-%Y %H:%M  ", time.localtime(lm // 1000000))


def output_directories(ar: list[Entry], conf: AutoindexConfig, opts: int, keyid: str,
                       direction: str, colargs: str) -> str:
    """output_directories: the <table>, <pre> or <ul> listing."""
    out: list[str] = []
    w = out.append
    nosort = bool(opts & SUPPRESS_COLSORT)
    name_width = conf.name_width
    desc_width = conf.desc_width
    table = bool(opts & TABLE_INDEXING)
    fancy = bool(opts & FANCY_INDEXING)
    if fancy and not table:
        if conf.name_adjust == K_ADJUST:
            for e in ar:
                name_width = max(name_width, len(e.name))
        if conf.desc_adjust == K_ADJUST:
            for e in ar:
                if e.desc is not None:
                    desc_width = max(desc_width, len(e.desc))
    pad = " " * name_width
    slash = " /" if opts & EMIT_XHTML else ""
    dims = _dims(conf)
    links = bool(opts & ICONS_ARE_LINKS)
    no_icon = bool(opts & SUPPRESS_ICON)
    no_lm = bool(opts & SUPPRESS_LAST_MOD)
    no_size = bool(opts & SUPPRESS_SIZE)
    no_desc = bool(opts & SUPPRESS_DESC)
    breakrow = ""
    if table:
        cols = 1
        w("<table><tr>")
        if not no_icon:
            w("<th>")
            tp = find_default_item(conf.icon_list, "^^BLANKICON^^")
            if tp:
                w(f'<img src="{escape_html(tp)}" alt="[ICO]"{dims}{slash}></th>')
            else:
                w("&nbsp;</th>")
            cols += 1
        w("<th>")
        w(emit_link("Name", K_NAME, keyid, direction, colargs, nosort))
        if not no_lm:
            w("</th><th>")
            w(emit_link("Last modified", K_LAST_MOD, keyid, direction, colargs, nosort))
            cols += 1
        if not no_size:
            w("</th><th>")
            w(emit_link("Size", K_SIZE, keyid, direction, colargs, nosort))
            cols += 1
        if not no_desc:
            w("</th><th>")
            w(emit_link("Description", K_DESC, keyid, direction, colargs, nosort))
            cols += 1
        if not opts & SUPPRESS_RULES:
            breakrow = f'<tr><th colspan="{cols}"><hr{slash}></th></tr>\n'
        w("</th></tr>" + breakrow)
    elif fancy:
        w("<pre>")
        if not no_icon:
            tp = find_default_item(conf.icon_list, "^^BLANKICON^^")
            if tp:
                w(f'<img src="{escape_html(tp)}" alt="Icon "{dims}{slash}> ')
            else:
                w("      ")
        w(emit_link("Name", K_NAME, keyid, direction, colargs, nosort))
        w(pad[4:] + " ")
        if not no_lm:
            w(emit_link("Last modified", K_LAST_MOD, keyid, direction, colargs, nosort))
            w("      ")
        if not no_size:
            w(emit_link("Size", K_SIZE, keyid, direction, colargs, nosort))
            w("  ")
        if not no_desc:
            w(emit_link("Description", K_DESC, keyid, direction, colargs, nosort))
        w(f"<hr{slash}>" if not opts & SUPPRESS_RULES else "\n")
    else:
        w("<ul>")

    for x, e in enumerate(ar):
        t = e.name
        anchor = escape_html(os_escape_path(t, False))
        t2 = "Parent Directory" if x == 0 and t.startswith("/") else t
        if table or fancy:
            icon = ""
            if not no_icon:
                if links:
                    icon += f'<a href="{anchor}">'
                src = e.icon or conf.default_icon
                if src:
                    icon += (f'<img src="{escape_html(src)}" alt="[{e.alt or "   "}]"'
                             f"{dims}{slash}>")
                else:
                    icon += "&nbsp;" if table else "     "
                if links:
                    icon += "</a>"
            if table:
                w("<tr>")
                if not no_icon:
                    w(f'<td valign="top">{icon}</td>')
                if conf.name_adjust == K_ADJUST:
                    w(f'<td><a href="{anchor}">{escape_html(t2)}</a>')
                else:
                    nwidth = len(t2)
                    if nwidth > name_width:
                        t2 = t2[:max(name_width - 3, 0)] + "..>"
                        nwidth = name_width
                    w(f'<td><a href="{anchor}">{escape_html(t2)}</a>{pad[nwidth:]}')
                if not no_lm:
                    if e.lm != -1:
                        w('</td><td align="right">' + _date(e.lm))
                    else:
                        w("</td><td>&nbsp;")
                if not no_size:
                    w('</td><td align="right">' + strfsize(e.size))
                if not no_desc:
                    if e.desc:
                        if conf.desc_adjust == K_ADJUST:
                            w("</td><td>" + e.desc)
                        else:
                            w("</td><td>" + terminate_description(conf, e.desc, opts,
                                                                  desc_width))
                    else:
                        w("</td><td>&nbsp;")
                w("</td></tr>\n")
            else:
                if not no_icon:
                    w(icon + " ")
                nwidth = len(t2)
                if nwidth > name_width:
                    t2 = t2[:max(name_width - 3, 0)] + "..>"
                    nwidth = name_width
                w(f'<a href="{anchor}">{escape_html(t2)}</a>{pad[nwidth:]} ')
                if not no_lm:
                    w(_date(e.lm) if e.lm != -1 else " " * 19)
                if not no_size:
                    w(strfsize(e.size) + "  ")
                if not no_desc and e.desc:
                    w(terminate_description(conf, e.desc, opts, desc_width))
                w("\n")
        else:
            w(f'<li><a href="{anchor}"> {escape_html(t2)}</a></li>\n')

    if table:
        w(breakrow + "</table>\n")
    elif fancy:
        w(f"<hr{slash}></pre>\n" if not opts & SUPPRESS_RULES else "</pre>\n")
    else:
        w("</ul>\n")
    return "".join(out)


def parent_uri(uri: str) -> str | None:
    """ap_make_full_path(uri, "../") then ap_getparents; None at the root."""
    path = (uri if uri.endswith("/") else uri + "/") + "../"
    # ap_getparents: drop "./" segments, then fold "x/../"
    segs = path.split("/")
    out: list[str] = []
    for i, s in enumerate(segs):
        if s == ".":
            continue
        if s == ".." and i < len(segs) - 1:
            if len(out) > 1:
                out.pop()
            elif out == [""]:
                out = []
            continue
        out.append(s)
    res = "/".join(out)
    return res or None
