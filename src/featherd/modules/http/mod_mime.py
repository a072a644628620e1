"""mod_mime: content metadata (type, charset, language, encoding), handler and filters
from the requested file name's extensions, as in Apache 2.2.

Directives (manual page "mod_mime"): TypesConfig, AddType, AddEncoding, AddCharset,
AddLanguage, AddHandler, AddInputFilter, AddOutputFilter, their Remove* forms,
DefaultLanguage, ModMimeUsePathInfo and MultiviewsMatch.

How a file name is read ("Files with Multiple Extensions"): the part before the first dot
is the base name; every later dot-separated part is an extension, looked at left to
right, case-insensitively (a leading dot, as in ".png", makes an empty base name, as in
2.2). A later type (or charset) replaces an earlier one; languages
and encodings accumulate (``Content-Language: en,de``, ``Content-Encoding: pkzip,
x-gzip``); a handler or filter of any extension applies (``file.cgi.html`` with
``AddHandler cgi-script .cgi`` runs as a CGI script and is typed text/html). An
extension nothing knows is skipped and recorded in the "exceptions list" for
mod_negotiation (``r.ctx["ap-mime-exceptions-list"]``, set only when some extension was
recognised, like Apache's ``ap-mime-exceptions-list`` note). Directories get the type
``httpd/unix-directory`` (DIR_MAGIC_TYPE), which mod_dir and mod_autoindex handle.

Merging follows merge_mime_dir_configs: a child's Add* entry overlays the parent's entry
for the same extension field by field; Remove* of a section clears that field of the
inherited entry (not of the section's own Add*); RemoveType is an AddType of "nothing",
so it also hides the mime.types entry and the later of AddType/RemoveType in one section
wins. Remove* written directly at server level are never merged and so have no effect,
as in Apache. The merged table of extensions is resolved once per merged configuration
(with mime.types folded in on first use), so a request costs one dict lookup per
extension. The types file is the main server's (Apache keeps one global table), read at
start-up and cached by path, mtime and size.

Precedence (Apache 2.2): ForceType and SetHandler are core directives applied in the
core's fixups, after this type checker, so they beat AddType and AddHandler.

Output filters named by AddOutputFilter go to ``r.ctx["mime_filters"]`` (added by
filters.chain.insert_filters); input filters to ``r.ctx["mime_input_filters"]``.
MultiviewsMatch is stored as a bit mask (``MULTIMATCH_*``) in ``MimeDirConfig.multimatch``
for mod_negotiation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms
from featherd.config.tree import split_args
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.errors import ConfigError, DirectiveError
from featherd.modules.http.content_type import finish_ct

if TYPE_CHECKING:
    from featherd.core.request import Request

#: Apache's DIR_MAGIC_TYPE: the content type of a directory.
DIR_MAGIC_TYPE = "httpd/unix-directory"

# Fields of an extension entry (Apache's extension_info), in this order.
TYPE, ENCODING, LANGUAGE, HANDLER, CHARSET, INPUT_FILTERS, OUTPUT_FILTERS = range(7)
_NO_INFO: tuple[str | None, ...] = (None,) * 7

MULTIMATCH_UNSET = 0
MULTIMATCH_ANY = 1
MULTIMATCH_NEGOTIATED = 2
MULTIMATCH_HANDLERS = 4
MULTIMATCH_FILTERS = 8

WARN = 4
_S_IFMT = 0o170000
_S_IFDIR = 0o040000


# --- the types file ---------------------------------------------------------------------
class ExtEntry:
    """What one extension contributes, resolved once (type already includes mime.types)."""

    __slots__ = ("type", "charset", "language", "encoding", "handler", "input_filters",
                 "output_filters", "negotiated", "simple", "plain")

    def __init__(self, type_: str | None, charset: str | None = None,
                 language: str | None = None, encoding: str | None = None,
                 handler: str | None = None, input_filters: tuple[str, ...] = (),
                 output_filters: tuple[str, ...] = ()) -> None:
        self.type = type_
        self.charset = charset
        self.language = language
        self.encoding = encoding
        self.handler = handler
        self.input_filters = input_filters
        self.output_filters = output_filters
        # "found" for negotiation: type, charset, language or encoding
        self.negotiated = bool(type_ or charset or language or encoding)
        # a type and nothing else (most mime.types rows): the type checker's fast path
        self.simple = bool(type_) and not (charset or language or encoding or handler
                                           or input_filters or output_filters)
        # "type/subtype" needing no re-serialisation
        self.plain = bool(type_) and "/" in type_ and ";" not in type_ and " " not in type_ \
            and "\t" not in type_  # type: ignore[operator]

    def __repr__(self) -> str:
        return (f"ExtEntry(type={self.type!r}, charset={self.charset!r}, "
                f"language={self.language!r}, encoding={self.encoding!r}, "
                f"handler={self.handler!r}, input_filters={self.input_filters!r}, "
                f"output_filters={self.output_filters!r})")


class TypesTable:
    """A parsed mime.types: extension -> media type, and the same as ExtEntry rows."""

    __slots__ = ("path", "types", "entries")

    def __init__(self, path: str, types: dict[str, str]) -> None:
        self.path = path
        self.types = types
        self.entries = {ext: ExtEntry(t) for ext, t in types.items()}


def parse_types(text: str) -> dict[str, str]:
    """mime_post_config's reading: "type ext ext ...", lines starting with # skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        words = split_args(line)
        if len(words) < 2:
            continue
        ct = words[0]
        for ext in words[1:]:
            out[ext.lower()] = ct
    return out


_TYPES_CACHE: dict[str, tuple[tuple[int, int, int], TypesTable]] = {}


def default_types_path() -> str:
    """The bundled mime.types (featherd/data/mime.types)."""
    return str(resources.files("featherd").joinpath("data", "mime.types"))


def load_types(path: str) -> TypesTable:
    """Read a types file once per (path, mtime, size); raise Apache's error if unreadable."""
    try:
        st = os.stat(path)
        ver = (st.st_mtime_ns, st.st_size, st.st_ino)
        hit = _TYPES_CACHE.get(path)
        if hit is not None and hit[0] == ver:
            return hit[1]
        with open(path, encoding="latin-1") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"({e.errno}){e.strerror}: could not open mime types config "
                          f"file {path}.") from None
    table = TypesTable(path, parse_types(text))
    _TYPES_CACHE[path] = (ver, table)
    return table


# --- configuration records -----------------------------------------------------------------
def _split_filters(v: str | None) -> tuple[str, ...]:
    return tuple(f for f in v.split(";") if f) if v else ()


def make_entry(info: tuple[str | None, ...], mime_type: str | None) -> ExtEntry:
    """Resolve one extension_info against the mime.types type of the same extension."""
    ft = info[TYPE]
    if ft is None:
        t = mime_type
    else:
        t = ft or None          # "" is RemoveType: no type, mime.types hidden
    return ExtEntry(t, info[CHARSET], info[LANGUAGE], info[ENCODING], info[HANDLER],
                    _split_filters(info[INPUT_FILTERS]), _split_filters(info[OUTPUT_FILTERS]))


class ExtTable:
    """The extension_mappings of one (merged) configuration, and their resolved form."""

    __slots__ = ("mappings", "combined", "types")

    def __init__(self, mappings: dict[str, tuple[str | None, ...]]) -> None:
        self.mappings = mappings
        self.combined: dict[str, ExtEntry] | None = None
        self.types: TypesTable | None = None

    def build(self, types: TypesTable) -> dict[str, ExtEntry]:
        combined = dict(types.entries)
        tget = types.types.get
        for ext, info in self.mappings.items():
            combined[ext] = make_entry(info, tget(ext))
        self.combined = combined
        self.types = types
        return combined


@dataclass(slots=True)
class MimeDirConfig:
    """mime_dir_config. ``table`` is None when no extension is mapped here or above."""

    table: ExtTable | None = None
    removals: tuple[tuple[str, int], ...] | None = None   # this section's Remove*
    default_language: str | None = None
    multimatch: int = MULTIMATCH_UNSET
    use_path_info: bool | None = None


@dataclass(slots=True)
class MimeServerConfig:
    types_config: Any = UNSET       # TypesConfig as written
    types: TypesTable | None = None  # the table in force (the main server's), post_config


def _overlay(base: tuple[str | None, ...], add: tuple[str | None, ...]) -> tuple[str | None, ...]:
    return tuple(a if a is not None else b for a, b in zip(add, base, strict=True))


def merge_mime(base: MimeDirConfig, add: MimeDirConfig) -> MimeDirConfig:
    """merge_mime_dir_configs."""
    new = MimeDirConfig()
    bt, at = base.table, add.table
    if at is None and not add.removals:
        new.table = bt            # shared: its resolved table is built once
    else:
        m = dict(bt.mappings) if bt is not None else {}
        if at is not None:
            for ext, info in at.mappings.items():
                cur = m.get(ext)
                m[ext] = info if cur is None else _overlay(cur, info)
        for ext, field in add.removals or ():
            cur = m.get(ext)
            if cur is not None and cur[field] is not None:
                m[ext] = cur[:field] + (None,) + cur[field + 1:]
        new.table = ExtTable(m) if m else None
    new.default_language = (add.default_language if add.default_language is not None
                            else base.default_language)
    new.multimatch = add.multimatch if add.multimatch != MULTIMATCH_UNSET else base.multimatch
    new.use_path_info = add.use_path_info if add.use_path_info is not None else base.use_path_info
    return new


class MimeModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return merge_mime(base, new)


mime = MimeModule("mime_module", "mod_mime.c", dir_config=MimeDirConfig,
                  server_config=MimeServerConfig,
                  description="Determining document types using file extensions")
#: the name Apache gives it
mime_module = mime

ALL = Context.ALL_DIR
FILEINFO = Override.FILEINFO


# --- directives --------------------------------------------------------------------------
def _add_info(conf: MimeDirConfig, field: int, value: str, ext: str) -> None:
    """add_extension_info: value and extension lower-cased, leading dot dropped."""
    key = ext.lower()
    if key.startswith("."):
        key = key[1:]
    if conf.table is None:
        conf.table = ExtTable({})
    cur = conf.table.mappings.get(key, _NO_INFO)
    conf.table.mappings[key] = cur[:field] + (value.lower(),) + cur[field + 1:]


def _remove_info(conf: MimeDirConfig, field: int, ext: str) -> None:
    """remove_extension_info: recorded, applied to the inherited table when merging."""
    key = ext[1:] if ext.startswith(".") else ext
    conf.removals = (*(conf.removals or ()), (key.lower(), field))


def _adder(name: str, field: int, help: str, syntax: str) -> None:
    def fn(cmd: CmdParms, conf: MimeDirConfig, value: str, ext: str) -> None:
        _add_info(conf, field, value, ext)
    fn.__name__ = name.lower()
    mime.directive(name, args=ArgSpec.ITERATE2, context=ALL, override=FILEINFO,
                   syntax=syntax, help=help)(fn)


def _remover(name: str, field: int) -> None:
    def fn(cmd: CmdParms, conf: MimeDirConfig, ext: str) -> None:
        _remove_info(conf, field, ext)
    fn.__name__ = name.lower()
    mime.directive(name, args=ArgSpec.ITERATE, context=ALL, override=FILEINFO,
                   syntax=f"{name} extension [extension] ...",
                   help="one or more file extensions")(fn)


_adder("AddCharset", CHARSET, "a charset (e.g., iso-2022-jp), followed by one or more file "
       "extensions", "AddCharset charset extension [extension] ...")
_adder("AddEncoding", ENCODING, "an encoding (e.g., gzip), followed by one or more file "
       "extensions", "AddEncoding encoding extension [extension] ...")
_adder("AddHandler", HANDLER, "a handler name followed by one or more file extensions",
       "AddHandler handler-name extension [extension] ...")
_adder("AddInputFilter", INPUT_FILTERS, "input filter name (or ; delimited names) followed by "
       "one or more file extensions", "AddInputFilter filter[;filter...] extension "
       "[extension] ...")
_adder("AddLanguage", LANGUAGE, "a language (e.g., fr), followed by one or more file "
       "extensions", "AddLanguage language-tag extension [extension] ...")
_adder("AddOutputFilter", OUTPUT_FILTERS, "output filter name (or ; delimited names) followed "
       "by one or more file extensions", "AddOutputFilter filter[;filter...] extension "
       "[extension] ...")
_adder("AddType", TYPE, "a mime type followed by one or more file extensions",
       "AddType media-type extension [extension] ...")
_remover("RemoveCharset", CHARSET)
_remover("RemoveEncoding", ENCODING)
_remover("RemoveHandler", HANDLER)
_remover("RemoveInputFilter", INPUT_FILTERS)
_remover("RemoveLanguage", LANGUAGE)
_remover("RemoveOutputFilter", OUTPUT_FILTERS)


@mime.directive("RemoveType", args=ArgSpec.ITERATE, context=ALL, override=FILEINFO,
                syntax="RemoveType extension [extension] ...",
                help="one or more file extensions")
def remove_type(cmd: CmdParms, conf: MimeDirConfig, ext: str) -> None:
    # As RemoveType should also override mime.types, it adds an empty type.
    _add_info(conf, TYPE, "", ext)


@mime.directive("DefaultLanguage", args=ArgSpec.TAKE1, context=ALL, override=FILEINFO,
                syntax="DefaultLanguage language-tag",
                help="language to use for documents with no other language file extension")
def default_language(cmd: CmdParms, conf: MimeDirConfig, lang: str) -> None:
    conf.default_language = lang


@mime.directive("MultiviewsMatch", args=ArgSpec.ITERATE, context=ALL, override=FILEINFO,
                syntax="MultiviewsMatch Any|NegotiatedOnly|Filters|Handlers "
                       "[Handlers|Filters]",
                help="NegotiatedOnly (default), Handlers and/or Filters, or Any")
def multiviews_match(cmd: CmdParms, conf: MimeDirConfig, word: str) -> None:
    if cmd.where is Context.LOCATION:
        tag = "<LocationMatch" if cmd.section_regex is not None else "<Location"
        raise DirectiveError(f"MultiviewsMatch cannot occur within {tag}> section")
    m = conf.multimatch
    w = word.lower()
    if w == "any":
        if m and m & ~MULTIMATCH_ANY:
            raise DirectiveError("Any is incompatible with NegotiatedOnly, Filters and Handlers")
        m |= MULTIMATCH_ANY
    elif w == "negotiatedonly":
        if m and m & ~MULTIMATCH_NEGOTIATED:
            raise DirectiveError("NegotiatedOnly is incompatible with Any, Filters and Handlers")
        m |= MULTIMATCH_NEGOTIATED
    elif w == "filters":
        if m and m & (MULTIMATCH_NEGOTIATED | MULTIMATCH_ANY):
            raise DirectiveError("Filters is incompatible with Any and NegotiatedOnly")
        m |= MULTIMATCH_FILTERS
    elif w == "handlers":
        if m and m & (MULTIMATCH_NEGOTIATED | MULTIMATCH_ANY):
            raise DirectiveError("Handlers is incompatible with Any and NegotiatedOnly")
        m |= MULTIMATCH_HANDLERS
    else:
        raise DirectiveError(f"Unrecognized option '{word}'")
    conf.multimatch = m


@mime.directive("ModMimeUsePathInfo", args=ArgSpec.FLAG, context=Context.DIR,
                syntax="ModMimeUsePathInfo On|Off",
                help="Set to 'yes' to allow mod_mime to use path info for type checking")
def mod_mime_use_path_info(cmd: CmdParms, conf: MimeDirConfig, on: bool) -> None:
    conf.use_path_info = on


@mime.directive("TypesConfig", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="TypesConfig file-path", help="the MIME types config file")
def types_config(cmd: CmdParms, conf: MimeServerConfig, path: str) -> None:
    conf.types_config = path


@mime.hook("post_config")
def load_types_config(tree: Any) -> int:
    """mime_post_config: the main server's TypesConfig (or the bundled file), for all."""
    main = tree.main
    sc = main.module_config[mime.index]
    name = sc.types_config
    path = default_types_path() if name is UNSET else tree.server_root_relative(name)
    table = load_types(path)
    for s in tree.all_servers():
        c = s.module_config[mime.index]
        if c is not None:
            c.types = table
    return OK


# --- the type checker ----------------------------------------------------------------------
# What find_ct did for a file name, when it started from a fresh request (no type,
# languages, encoding or filters yet): the same name, extension table and settings give
# the same answer, so the next request only copies it. Keyed by the table's id, the
# table itself kept in the entry and compared (a rebuilt table never matches).
_RESULTS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_RESULTS_MAX = 4096


@mime.hook("type_checker")
def find_ct(r: Request) -> int:
    """Set r.content_type, content_encoding, content_languages, handler and filters."""
    st = r.finfo
    if st is not None and st.st_mode & _S_IFMT == _S_IFDIR:
        r.content_type = DIR_MAGIC_TYPE
        return OK
    fn = r.filename
    if not fn:
        return DECLINED
    conf: MimeDirConfig = r.per_dir_config[mime.index]
    types = r.server.module_config[mime.index].types
    tbl = conf.table
    if tbl is None:
        lookup = types.entries
    else:
        lookup = tbl.combined  # type: ignore[assignment]
        if lookup is None or tbl.types is not types:
            lookup = tbl.build(types)
    if conf.use_path_info and r.path_info:
        fn = fn + r.path_info
    name = fn[fn.rfind("/") + 1:]
    ctx = r.ctx
    fresh = not r.content_type and r.content_languages is None and \
        r.content_encoding is None and "mime_filters" not in ctx and \
        "mime_input_filters" not in ctx
    key = None
    if fresh:
        key = (name, id(lookup), conf.multimatch, conf.default_language)
        hit = _RESULTS.get(key)
        if hit is not None and hit[0] is lookup:
            _, ct, langs, enc, handler, ifl, ofl, exceptions = hit
            if ct:
                r.content_type = ct
            if langs is not None:
                r.content_languages = list(langs)
            if enc is not None:
                r.content_encoding = enc
            if handler is not None:
                r.handler = handler
            if ifl is not None:
                ctx["mime_input_filters"] = list(ifl)
            if ofl is not None:
                ctx["mime_filters"] = list(ofl)
            if exceptions is not None:
                ctx["ap-mime-exceptions-list"] = list(exceptions)
            return OK if ct else DECLINED
    handler, warning = _find_ct(r, conf, lookup, name)
    if key is not None and warning is None:
        if len(_RESULTS) >= _RESULTS_MAX:
            _RESULTS.clear()
        langs = r.content_languages
        exc = ctx.get("ap-mime-exceptions-list")
        ifl = ctx.get("mime_input_filters")
        ofl = ctx.get("mime_filters")
        _RESULTS[key] = (lookup, r.content_type,
                         tuple(langs) if langs is not None else None,
                         r.content_encoding, handler,
                         tuple(ifl) if ifl is not None else None,
                         tuple(ofl) if ofl is not None else None,
                         tuple(exc) if exc is not None else None)
    return OK if r.content_type else DECLINED


def _find_ct(r: Request, conf: MimeDirConfig, lookup: dict[str, Any], name: str
             ) -> tuple[str | None, str | None]:
    """mod_mime's find_ct on the request: (the handler it set, a warning it logged)."""
    ct = r.content_type
    plain = False                 # ct is a bare "type/subtype" from an entry
    charset = None
    handler = None
    warning = None
    if "." in name:
        exts = name.split(".")
        exceptions = [exts[0]]
        mm = conf.multimatch
        found_metadata = False
        get = lookup.get
        for ext in exts[1:]:
            if not ext:                       # "bad..html"
                continue
            e = get(ext.lower())
            if e is None:
                if mm & MULTIMATCH_ANY:
                    found_metadata = True
                else:
                    exceptions.append(ext)
                continue
            if e.simple:
                ct = e.type
                plain = e.plain
                found_metadata = True
                continue
            found = e.negotiated
            if e.type:
                ct = e.type
                plain = e.plain
            if e.charset:
                charset = e.charset
            if e.language:
                if r.content_languages is None:
                    r.content_languages = []
                r.content_languages.append(e.language)
            if e.encoding:
                enc = r.content_encoding
                r.content_encoding = e.encoding if not enc else f"{enc}, {e.encoding}"
            if e.handler:
                r.handler = handler = e.handler
                if mm & MULTIMATCH_HANDLERS:
                    found = True
            if e.input_filters:
                r.ctx["mime_input_filters"] = [*r.ctx.get("mime_input_filters", ()),
                                               *e.input_filters]
                if mm & MULTIMATCH_FILTERS:
                    found = True
            if e.output_filters:
                r.ctx["mime_filters"] = [*r.ctx.get("mime_filters", ()), *e.output_filters]
                if mm & MULTIMATCH_FILTERS:
                    found = True
            if found or mm & MULTIMATCH_ANY:
                found_metadata = True
            else:
                exceptions.append(ext)
        if found_metadata:
            r.ctx["ap-mime-exceptions-list"] = exceptions
    if ct:
        if plain and charset is None:
            r.content_type = ct
        else:
            ct, warning = finish_ct(ct, charset)
            if warning:
                r.log_error(WARN, warning)
            r.content_type = ct
    if not r.content_languages and conf.default_language:
        r.content_languages = [conf.default_language]
    return handler, warning
