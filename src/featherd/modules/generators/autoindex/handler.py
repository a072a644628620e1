"""The content handler of mod_autoindex (handle_autoindex and index_directory).

It answers requests whose handler (or content type) is ``httpd/unix-directory`` once
mod_dir has declined them (mod_dir chains the handlers of that name, its own first): 403 without ``Options Indexes``, else the listing. HeaderName
and ReadmeName files come through sub-requests (text/html is run, other text/* is shown
in <pre>). Every entry is checked as Apache checks it with a sub-request, but only when
the answer can differ from the directory's own: a directory, a symbolic link without
FollowSymLinks, a name some <Files> or <Location> section applies to. Other files share
the directory's configuration, so only the type_checker and fixups phases run for them,
and only when an icon, alt or ScanHTMLTitles depends on the content type.
"""

from __future__ import annotations

import os
import stat as stat_mod
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core, options
from featherd.core.handlers import set_last_modified
from featherd.core.hooks import DECLINED, DONE, LAST, OK, run_all, run_first
from featherd.core.http_request import signature
from featherd.core.request import invoke_handler
from featherd.core.subrequest import _new_sub, lookup_file, lookup_uri
from featherd.core.walk import file_walk, location_walk
from featherd.errors import HTTPError
from featherd.filters.buckets import EOS, flatten
from featherd.filters.chain import pass_brigade
from featherd.http.etag import ALL_COMPONENTS, is_weak, make_etag
from featherd.modules.generators.autoindex.config import (
    D_ASCENDING,
    EMIT_XHTML,
    FANCY_INDEXING,
    FOLDERS_FIRST,
    IGNORE_CLIENT,
    K_LAST_MOD,
    K_NAME,
    SCAN_HTML_TITLES,
    SHOW_FORBIDDEN,
    SUPPRESS_COLSORT,
    SUPPRESS_PREAMBLE,
    TABLE_INDEXING,
    TRACK_MODIFIED,
    AutoindexConfig,
    autoindex_module,
)
from featherd.modules.generators.autoindex.render import (
    DIR_MAGIC_TYPE,
    INCLUDES_MAGIC_TYPE,
    MAX_STRING_LEN,
    Entry,
    emit_plain,
    field_noparam,
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
    wants_type,
)
from featherd.modules.generators.autoindex.util import bstr, fsname
from featherd.util.escape import escape_html

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3


@autoindex_module.hook("type_checker", order=LAST)
def directory_type(r: Request) -> int:
    """A directory nobody typed gets DIR_MAGIC_TYPE (mod_mime does this in Apache)."""
    if r.content_type is None and r.finfo is not None and stat_mod.S_ISDIR(r.finfo.st_mode):
        r.content_type = DIR_MAGIC_TYPE
    return DECLINED


@autoindex_module.handler(DIR_MAGIC_TYPE)
async def handle_autoindex(r: Request) -> int:
    name = r.handler or field_noparam(r.content_type)
    if name != DIR_MAGIC_TYPE:
        return DECLINED
    r.allowed_methods.add("GET")
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    if "Indexes" not in options(r.per_dir_config[core.index]):
        r.log_error(ERROR, f"Directory index forbidden by Options directive: {r.filename}")
        return 403
    if r.filename is None:
        return DECLINED
    # make the sub-request lookups happen in the right directory
    if not r.filename.endswith("/"):
        r.filename += "/"
    return await index_directory(r, r.per_dir_config[autoindex_module.index])


async def index_directory(r: Request, conf: AutoindexConfig) -> int:
    assert r.filename is not None
    try:
        with os.scandir(r.filename) as it:
            dirents = list(it)
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){e.strerror}: Can't open directory for index: "
                           f"{r.filename}")
        return 403
    opts = conf.effective_opts()
    ctype = conf.ctype if conf.ctype is not None else "text/html"
    charset = conf.charset if conf.charset is not None else "ISO-8859-1"
    r.content_type = f"{ctype};charset={charset}" if charset else ctype
    if opts & TRACK_MODIFIED and r.finfo is not None:
        set_last_modified(r, r.finfo.st_mtime)
        comps = r.per_dir_config[core.index].etag
        comps = ALL_COMPONENTS if comps is UNSET else comps
        if comps:
            et = make_etag(r.finfo, comps, is_weak(r.finfo.st_mtime_ns, r.request_time))
            if et:
                r.etag = et
                r.headers_out.set("ETag", et)
    if r.header_only:
        pass_brigade(r, [EOS])
        return OK

    keyid = conf.default_keyid or K_NAME
    direction = conf.default_direction or D_ASCENDING
    pattern: str | None = None
    if opts & IGNORE_CLIENT:
        opts |= SUPPRESS_COLSORT
        colargs = ""
    else:
        opts, keyid, direction, colargs, pattern = parse_query(r.args, opts, keyid, direction)

    title = escape_html(r.uri)
    while len(title) > 1 and title.endswith("/"):
        title = title[:-1]

    dir_b = bstr(r.filename)
    out: list[str] = []
    header = find_item(conf.hdr_list, dir_b, r.content_type, r.content_encoding, False)
    await emit_head(r, conf, out, header, bool(opts & SUPPRESS_PREAMBLE),
                    bool(opts & EMIT_XHTML), title)

    entries: list[Entry] = []
    parent = make_parent_entry(r, conf, opts, dir_b)
    if parent is not None:
        entries.append(parent)
    ctx = _ListingContext(r, conf, opts, keyid, dir_b)
    for de in dirents:
        e = await ctx.make_entry(de, pattern)
        if e is not None:
            entries.append(e)
    entries = sort_entries(entries, keyid, direction, opts)
    out.append(output_directories(entries, conf, opts, keyid, direction, colargs))

    readme = find_item(conf.rdme_list, dir_b, r.content_type, r.content_encoding, False)
    await emit_tail(r, out, readme, bool(opts & SUPPRESS_PREAMBLE))
    pass_brigade(r, ["".join(out).encode("latin-1", "replace"), EOS])
    return OK


def make_parent_entry(r: Request, conf: AutoindexConfig, opts: int,
                      dir_b: str) -> Entry | None:
    """make_parent_entry: "Parent Directory", unless at the root or ignored (IndexIgnore
    has always compared "/this/path/..")."""
    name = parent_uri(r.uri)
    if name is None:
        return None
    testpath = dir_b + ".."
    if ignore_entry(conf, testpath):
        return None
    e = Entry(name)
    if opts & FANCY_INDEXING:
        e.icon = (find_default_item(conf.icon_list, testpath)
                  or find_default_item(conf.icon_list, "^^DIRECTORY^^"))
        e.alt = (find_default_item(conf.alt_list, testpath)
                 or find_default_item(conf.alt_list, "^^DIRECTORY^^") or "DIR")
        e.desc = find_desc(conf, testpath)
    return e


class _Uri:
    """What location_walk reads of a request."""

    __slots__ = ("uri", "server")

    def __init__(self, uri: str, server: Any) -> None:
        self.uri = uri
        self.server = server


class _ListingContext:
    """What every entry of one listing shares, decided once."""

    def __init__(self, r: Request, conf: AutoindexConfig, opts: int, keyid: str,
                 dir_b: str) -> None:
        self.r = r
        self.conf = conf
        self.opts = opts
        self.keyid = keyid
        self.dir_b = dir_b
        self.fancy = bool(opts & (FANCY_INDEXING | TABLE_INDEXING))
        self.need_type = self.fancy and (wants_type(conf) or bool(opts & SCAN_HTML_TITLES))
        self.follow = "FollowSymLinks" in options(r.per_dir_config[core.index])
        self.has_files = bool(r.per_dir_config[core.index].sec_file)
        self.has_locs = bool(r.server.sec_url)
        self.base_uri = r.uri.rsplit("/", 1)[0] + "/"
        self.locs = tuple(r.location_sections)

    def _needs_lookup(self, de: os.DirEntry[str], is_dir: bool) -> bool:
        if is_dir:
            return True
        if not self.follow and de.is_symlink():
            return True
        if self.has_files and file_walk(self.r.per_dir_config, de.name):
            return True
        if self.has_locs:
            uri = self.base_uri + fsname(de.name)
            locs = location_walk(_Uri(uri, self.r.server))  # type: ignore[arg-type]
            if tuple(locs) != self.locs:
                return True
        return False

    async def _light_lookup(self, de: os.DirEntry[str], st: os.stat_result) -> Request:
        """The phases of a file sub-request that can still differ from the directory's:
        type_checker and fixups, with the directory's configuration."""
        r = self.r
        sub = _new_sub(r)
        sub.method = "GET"
        sub.uri = self.base_uri + fsname(de.name)
        sub.filename = de.path
        sub.finfo = st
        sub.per_dir_config = r.per_dir_config
        sub.location_sections = r.location_sections
        hooks = r.tree.hooks
        rv = await run_first(hooks["type_checker"], sub)
        if rv not in (OK, DECLINED):
            sub.status = rv
            return sub
        rv = await run_all(hooks["fixups"], sub)
        if rv != OK:
            sub.status = rv
        return sub

    async def make_entry(self, de: os.DirEntry[str], pattern: str | None) -> Entry | None:
        """make_autoindex_entry."""
        conf = self.conf
        name = fsname(de.name)
        if pattern is not None and not pattern_match(pattern, name):
            return None
        path = self.dir_b + name
        if ignore_entry(conf, path):
            return None
        try:
            st = de.stat()
        except OSError:
            return None          # a dangling link, or nothing we may stat
        mode = st.st_mode
        is_dir = stat_mod.S_ISDIR(mode)
        if not is_dir and not stat_mod.S_ISREG(mode):
            return None
        ct: str | None = None
        enc: str | None = None
        rr: Request | None = None
        if self._needs_lookup(de, is_dir):
            rr = await lookup_file(self.r, de.path)
            status = rr.status
            shown = 200 <= status < 400 or status == 0 or (
                self.opts & SHOW_FORBIDDEN and status in (401, 403))
            rst = rr.finfo or st
            if not shown or not (stat_mod.S_ISDIR(rst.st_mode) or stat_mod.S_ISREG(rst.st_mode)):
                return None
            ct, enc = rr.content_type, rr.content_encoding
            if rr.filename:
                path = bstr(rr.filename)
        elif self.need_type:
            rr = await self._light_lookup(de, st)
            if not (200 <= rr.status < 400):
                return None
            ct, enc = rr.content_type, rr.content_encoding
        e = Entry(name + "/" if is_dir else name)
        if self.fancy:
            e.lm = st.st_mtime_ns // 1000
            if is_dir:
                if self.opts & FOLDERS_FIRST:
                    e.isdir = True
                if path.endswith("/"):
                    path = path[:-1]
                e.icon = (find_item(conf.icon_list, path, ct, enc, True)
                          or find_default_item(conf.icon_list, "^^DIRECTORY^^"))
                e.alt = (find_item(conf.alt_list, path, ct, enc, True)
                         or find_default_item(conf.alt_list, "^^DIRECTORY^^") or "DIR")
            else:
                e.icon = find_item(conf.icon_list, path, ct, enc, False)
                e.alt = find_item(conf.alt_list, path, ct, enc, False)
                e.size = st.st_size
            e.desc = find_desc(conf, path)
            if not e.desc and self.opts & SCAN_HTML_TITLES:
                e.desc = _scan_title(rr, ct, enc, de.path)
        if self.keyid == K_LAST_MOD and e.lm < 0:
            e.lm = 0
        return e


def _scan_title(rr: Request | None, ct: str | None, enc: str | None,
                path: str) -> str | None:
    """find_title's conditions: a 200 text/html (or SSI) file without an encoding."""
    if rr is None or rr.status != 200 or ct is None or enc:
        return None
    if field_noparam(ct).lower() != "text/html" and ct != INCLUDES_MAGIC_TYPE:  # type: ignore[union-attr]
        return None
    try:
        with open(rr.filename or path, "rb") as f:
            buf = f.read(MAX_STRING_LEN - 1)
    except OSError:
        return None
    return find_title(buf)


# --- header and readme -------------------------------------------------------------------
async def _run_captured(rr: Request) -> tuple[int, str]:
    """ap_run_sub_req, with the sub-request's body kept for the listing (so that the
    listing still goes out in one piece, with a Content-Length)."""
    got: list[Any] = []
    rr.ctx["sub_sink"] = got.extend
    try:
        rv = await invoke_handler(rr)
    except HTTPError as e:
        rv = e.status
    if rv not in (OK, DONE):
        rr.status = rv
    return rv, flatten(got).decode("latin-1")


def _usable(rr: Request) -> bool:
    return (rr.status == 200 and rr.filename is not None and rr.finfo is not None
            and stat_mod.S_ISREG(rr.finfo.st_mode))


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


async def emit_head(r: Request, conf: AutoindexConfig, out: list[str], header_fname: str | None,
                    suppress_amble: bool, xhtml: bool, title: str) -> None:
    """emit_head: the preamble and the <h1>, or the HeaderName file in their place."""
    emit_amble = emit_h1 = True
    hdrs = r.headers_in
    accept = hdrs.get("Accept")
    accept_enc = hdrs.get("Accept-Encoding")
    hdrs.set("Accept", "text/html, text/plain")
    hdrs.unset("Accept-Encoding")
    try:
        if header_fname is not None and r.args:
            header_fname = header_fname + "?" + r.args
        if header_fname is not None:
            rr = await lookup_uri(r, header_fname)
            if _usable(rr) and rr.content_type is not None:
                ct = field_noparam(rr.content_type) or ""
                if ct.lower() == "text/html":
                    emit_amble = emit_h1 = False
                    if not suppress_amble:
                        out.append(preamble(conf, xhtml, title))
                    rv, body = await _run_captured(rr)
                    out.append(body)
                    if rv not in (OK, DONE):
                        emit_amble = suppress_amble
                        emit_h1 = True
                elif rr.content_type[:5].lower() == "text/":
                    data = _read(rr.filename)  # type: ignore[arg-type]
                    if data is not None:
                        out.append(preamble(conf, xhtml, title))
                        emit_amble = False
                        out.append(emit_plain(data))
                        emit_h1 = False
    finally:
        if accept is not None:
            hdrs.set("Accept", accept)
        else:
            hdrs.unset("Accept")
        if accept_enc is not None:
            hdrs.set("Accept-Encoding", accept_enc)
    if emit_amble:
        out.append(preamble(conf, xhtml, title))
    if emit_h1:
        out.append(f"<h1>Index of {title}</h1>\n")


async def emit_tail(r: Request, out: list[str], readme_fname: str | None,
                    suppress_amble: bool) -> None:
    """emit_tail: the ReadmeName file, or the server signature; then the postamble."""
    suppress_sig = suppress_post = False
    if readme_fname is not None:
        rr = await lookup_uri(r, readme_fname)
        if _usable(rr) and rr.content_type is not None:
            ct = field_noparam(rr.content_type) or ""
            if ct.lower() == "text/html":
                rv, body = await _run_captured(rr)
                out.append(body)
                if rv in (OK, DONE):
                    suppress_sig = True
                    suppress_post = suppress_amble
            elif rr.content_type[:5].lower() == "text/":
                data = _read(rr.filename)  # type: ignore[arg-type]
                if data is not None:
                    out.append(emit_plain(data))
                    suppress_sig = True
    if not suppress_sig:
        sig = signature(r)
        if sig.startswith("<hr>\n"):
            sig = sig[5:]            # ap_psignature("", r): no rule before it
        out.append(sig)
    if not suppress_post:
        out.append("</body></html>\n")
