"""mod_negotiation: content negotiation, as in Apache 2.2 (manual pages "mod_negotiation"
and "Content Negotiation").

Two ways to give a resource variants:

* **MultiViews** (``Options MultiViews``): a request for a file that does not exist, say
  ``/dir/foo``, looks in ``dir`` for ``foo.*``. Each candidate is looked up with a
  sub-request (so its <Directory>/<Files>/.htaccess configuration applies and mod_mime
  gives its type, language, charset and encoding); one with an extension nothing knows
  is skipped unless that part of the name was requested (``MultiviewsMatch`` widens this
  to handlers and filters, or to anything), one that is a type map replaces the
  listing. The chosen variant then takes over the request (a fast internal redirect).
* **Type maps** (handler ``type-map``, e.g. ``AddHandler type-map .var``): the variants
  listed in the file (see typemap.py); the chosen one is served by an internal
  redirect, or from the map itself for a ``Body:`` variant.

The choice (algorithm.py) follows Accept, Accept-Language, Accept-Charset and
Accept-Encoding with their q-values, the variants' source qualities, LanguagePriority
and ForceLanguagePriority, the ``prefer-language``, ``no-gzip`` and
``gzip-only-text/html`` variables. The response gets ``Vary`` for the dimensions in which
the variants differ; a GET for a resource whose variants are all beside it is
"transparently negotiable" (RFC 2295): ``Vary: negotiate``, ``TCN``, ``Content-Location``,
and, for a client that sends ``Negotiate: trans`` or ``vlist``, an ``Alternates`` list
(and ``300 Multiple Choices`` when nothing is chosen). No acceptable variant is a 406
whose page lists the variants. HTTP/1.0 answers chosen from several variants carry
``Expires`` (uncacheable) unless ``CacheNegotiatedDocs On``.
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms
from featherd.core.core_module import core, options
from featherd.core.hooks import DECLINED, FIRST, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.buckets import EOS, FileBucket
from featherd.filters.chain import pass_brigade
from featherd.modules.mappers.negotiation.accept import (
    CGI_MAGIC_TYPE,
    MAP_FILE_MAGIC_TYPE,
    header_line,
)
from featherd.modules.mappers.negotiation.algorithm import (
    ALG_LIST,
    FLP_FALLBACK,
    FLP_NONE,
    FLP_PREFER,
    FLP_UNDEF,
    Negotiation,
    Variant,
    best_match,
    escape_path_segment,
    maybe_add_default_accepts,
    parse_accept_headers,
    parse_negotiate_header,
    set_neg_headers,
    store_variant_list,
)
from featherd.modules.mappers.negotiation.typemap import TypeMapError, read_type_map

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR, DEBUG = 3, 7
HTTP_VARIANT_ALSO_VARIES = 506


@dataclass(slots=True)
class NegDirConfig:
    """neg_dir_config."""

    force: Any = UNSET        # ForceLanguagePriority flags (FLP_*)
    priority: Any = UNSET     # LanguagePriority: tuple of language tags


@dataclass(slots=True)
class NegServerConfig:
    cache: Any = UNSET        # CacheNegotiatedDocs


negotiation = Module("negotiation_module", "mod_negotiation.c", dir_config=NegDirConfig,
                     server_config=NegServerConfig,
                     description="Provides for content negotiation")
negotiation_module = negotiation


@negotiation.directive("CacheNegotiatedDocs", args=ArgSpec.FLAG, context=Context.RSRC,
                       syntax="CacheNegotiatedDocs On|Off",
                       help="Either 'on' or 'off' (default)")
def cache_negotiated_docs(cmd: CmdParms, conf: NegServerConfig, on: bool) -> None:
    conf.cache = on


@negotiation.directive("LanguagePriority", args=ArgSpec.ITERATE, context=Context.ALL_DIR,
                       override=Override.FILEINFO,
                       syntax="LanguagePriority MIME-lang [MIME-lang] ...",
                       help="space-delimited list of MIME language abbreviations")
def language_priority(cmd: CmdParms, conf: NegDirConfig, lang: str) -> None:
    conf.priority = (*(conf.priority or ()), lang)


@negotiation.directive("ForceLanguagePriority", args=ArgSpec.ITERATE,
                       context=Context.ALL_DIR, override=Override.FILEINFO,
                       syntax="ForceLanguagePriority None|Prefer|Fallback [Prefer|Fallback]",
                       help="Force LanguagePriority elections, either None, or Fallback "
                            "and/or Prefer")
def force_language_priority(cmd: CmdParms, conf: NegDirConfig, word: str) -> None:
    cur = FLP_UNDEF if conf.force is UNSET else conf.force
    w = word.lower()
    if w == "none":
        if cur & ~FLP_NONE:
            raise DirectiveError("Cannot combine ForceLanguagePriority options with None")
        conf.force = FLP_NONE
    elif w == "prefer":
        if cur & FLP_NONE:
            raise DirectiveError("Cannot combine ForceLanguagePriority options None and "
                                 "Prefer")
        conf.force = cur | FLP_PREFER
    elif w == "fallback":
        if cur & FLP_NONE:
            raise DirectiveError("Cannot combine ForceLanguagePriority options None and "
                                 "Fallback")
        conf.force = cur | FLP_FALLBACK
    else:
        raise DirectiveError(f"Invalid ForceLanguagePriority option {word}")


# --- per request ------------------------------------------------------------------------
def _new_state(r: Request) -> Negotiation:
    c: NegDirConfig = r.per_dir_config[negotiation.index]
    force = FLP_UNDEF if c.force is UNSET else c.force
    prio = () if c.priority is UNSET else c.priority
    return parse_accept_headers(r, force, prio)


def _uri_dir(r: Request) -> str:
    """The request's URI directory, with any path info taken off first."""
    uri = r.uri
    if r.path_info and uri.endswith(r.path_info):
        uri = uri[:len(uri) - len(r.path_info)]
    return uri[:uri.rfind("/") + 1]


async def lookup_dirent(r: Request, name: str, merge_args: bool) -> Request:
    """ap_sub_req_lookup_dirent / ap_sub_req_lookup_file: a sub-request for the file
    ``name`` (relative to r.filename's directory, and to r.uri's)."""
    from featherd.core.subrequest import _new_sub, _run_sub_phases

    sub = _new_sub(r)
    sub.method = "GET"
    fn = r.filename or ""
    fdir = fn[:fn.rfind("/") + 1]
    sub.uri = _uri_dir(r) + name
    sub.filename = os.path.normpath(fdir + name) if "/" in name else fdir + name
    if merge_args:
        if r.path_info:
            sub.uri += r.path_info
            sub.path_info = r.path_info
        sub.args = r.args
    await _run_sub_phases(sub, translate=False)
    return sub


def set_vlist_validator(r: Request, st: os.stat_result | None, listing: bool) -> None:
    """The variant-list validator, for the chosen variant's ETag: the entity tag of the
    type map, or for MultiViews (where the requested file does not exist: ap_make_etag's
    "no file" form) the directory's modification time alone."""
    from featherd.core.handlers import _etag_components
    from featherd.http.etag import is_weak, make_etag

    if st is None:
        return
    weak = is_weak(st.st_mtime_ns, r.request_time)
    if listing:
        tag = ("W/" if weak else "") + f'"{st.st_mtime_ns // 1000:x}"'
    else:
        comps = _etag_components(r.per_dir_config[core.index])
        tag = make_etag(st, comps, weak) if comps else ""
    if tag:
        r.vlist_validator = tag


async def read_types_multi(neg: Negotiation) -> int:
    """The variants of a MultiViews request: the files beside it named ``name.*``."""
    r = neg.r
    fn = r.filename
    if not fn or not fn.startswith("/"):
        return DECLINED
    filp = fn[fn.rfind("/") + 1:]
    try:
        entries = list(os.scandir(neg.dir_name))
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){e.strerror}: cannot read directory for multi: "
                           f"{neg.dir_name}")
        return 403
    anymatch = False
    prefix = filp + "."
    for de in entries:
        if not de.name.startswith(prefix):
            continue
        try:
            if de.is_dir(follow_symlinks=False):
                continue
        except OSError:
            pass
        anymatch = True
        sub = await lookup_dirent(r, de.name, merge_args=True)
        st = sub.finfo
        if st is None or not stat_mod.S_ISREG(st.st_mode):
            continue
        if sub.handler and not sub.content_type:
            sub.content_type = CGI_MAGIC_TYPE
        exceptions = sub.ctx.get("ap-mime-exceptions-list")
        if not exceptions:
            continue
        # every unrecognised part must be a part of the requested name, in order
        left = list(exceptions)
        for seg in filp.split("."):
            if not left:
                break
            if seg == left[0]:
                left.pop(0)
        if left:
            continue
        if sub.status != 200 or not sub.content_type:
            continue
        if sub.content_type == MAP_FILE_MAGIC_TYPE or sub.handler == "type-map":
            neg.avail = []
            return read_type_map_file(neg, sub)
        v = Variant(file_name=de.name, sub_req=sub)
        v.content_encoding = sub.content_encoding or None
        if sub.content_languages:
            v.content_languages = list(sub.content_languages)
        v.set_content_type(sub.content_type)
        neg.avail.append(v)
        neg.count_multiviews_variants += 1
    if anymatch and not neg.avail:
        r.log_error(ERROR, f"Negotiation: discovered file(s) matching request: {fn} (None "
                           "could be negotiated).")
        return 404
    try:
        set_vlist_validator(r, os.stat(neg.dir_name), True)
    except OSError:
        pass
    neg.avail.sort(key=lambda v: (-v.source_quality, os.fsencode(v.file_name)))
    return OK


def read_type_map_file(neg: Negotiation, rr: Request) -> int:
    """read_type_map for the map file of rr (neg.r itself or a MultiViews candidate)."""
    r = neg.r
    neg.count_multiviews_variants = 0
    path = rr.filename or ""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){e.strerror}: cannot access type map file: {path}")
        return 404 if isinstance(e, (FileNotFoundError, NotADirectoryError)) else 403
    try:
        tm = read_type_map(data, os.path.basename(path), r.filename or path)
    except TypeMapError as e:
        r.log_error(ERROR, str(e))
        return 500
    for msg in tm.errors:
        r.log_error(ERROR, msg)
    neg.avail.extend(tm.variants)
    st = rr.finfo
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            st = None
    set_vlist_validator(r, st, False)
    return OK


async def setup_choice_response(r: Request, neg: Negotiation, v: Variant) -> int:
    if v.sub_req is None:
        sub = await lookup_dirent(r, v.file_name, merge_args=False)
        if sub.status != 200 and sub.err_headers_out.get("TCN") is None:
            return sub.status
        v.sub_req = sub
    sub = v.sub_req
    if neg.is_transparent and sub.err_headers_out.get("TCN") is not None:
        return HTTP_VARIANT_ALSO_VARIES
    if sub.handler == "type-map":
        return HTTP_VARIANT_ALSO_VARIES
    sub_vary = sub.err_headers_out.get("Vary")
    if sub_vary is not None:
        r.err_headers_out.set("Variant-Vary", sub_vary)
        r.err_headers_out.set("Vary", sub_vary)
        sub.err_headers_out.unset("Vary")
    r.err_headers_out.set("Content-Location", escape_path_segment(v.file_name))
    set_neg_headers(r, neg, 1)
    return 0


async def do_negotiation(r: Request, neg: Negotiation,
                         prefer_scripts: bool) -> tuple[int, Variant | None]:
    if r.method in ("GET", "HEAD"):
        neg.is_transparent = True
        if r.path_info:
            neg.is_transparent = False       # a map in the middle of the URI
        for v in neg.avail:
            if "/" in v.file_name or v.body:
                neg.is_transparent = False
    if neg.is_transparent:
        parse_negotiate_header(r, neg)
    else:
        neg.may_choose = True
    maybe_add_default_accepts(neg, prefer_scripts)
    alg, best = best_match(neg)
    if alg == ALG_LIST:
        neg.send_alternates = True
        set_neg_headers(r, neg, alg)
        store_variant_list(r, neg)
        if neg.is_transparent and neg.ua_supports_trans:
            return 300, best
        if best is None:
            r.log_error(ERROR, f"no acceptable variant: {r.filename}")
            return 406, None
    assert best is not None
    if neg.is_transparent:
        res = await setup_choice_response(r, neg, best)
        if res:
            return res, best
    else:
        set_neg_headers(r, neg, alg)
    sc: NegServerConfig = r.server.module_config[negotiation.index]
    if sc.cache is not True and r.proto_num < 1001 and neg.count_multiviews_variants != 1:
        r.no_cache = True
    return OK, best


# --- MultiViews ----------------------------------------------------------------------
@negotiation.hook("type_checker", order=FIRST)
def handle_multi(r: Request) -> Any:
    """MultiViews for a file that does not exist; an awaitable only then (an existing
    file costs no coroutine: see hooks.call_first)."""
    if r.finfo is not None or "MultiViews" not in options(r.per_dir_config[core.index]):
        return DECLINED
    return _handle_multi(r)


async def _handle_multi(r: Request) -> int:
    neg = _new_state(r)
    res = await read_types_multi(neg)
    if res != OK:
        return res
    if not neg.avail:
        return DECLINED
    res, best = await do_negotiation(
        r, neg, r.method != "GET" and r.method != "HEAD" or r.args is not None
        or bool(r.path_info))
    if res != OK:
        return res
    assert best is not None
    sub = best.sub_req
    if sub is None:
        sub = await lookup_dirent(r, best.file_name, merge_args=False)
        if sub.status != 200:
            return sub.status
    if sub.args is None:
        sub.args = r.args
    from featherd.modules.mappers.mod_dir import fast_redirect

    fast_redirect(sub, r)          # r.no_cache survives only if sub's is set too
    r.mtime = None
    return OK


# --- type maps ----------------------------------------------------------------------------
@negotiation.handler("type-map", MAP_FILE_MAGIC_TYPE)
async def handle_map_file(r: Request) -> int:
    from featherd.core.http_request import internal_redirect

    if r.handler not in (None, "type-map", MAP_FILE_MAGIC_TYPE):
        return DECLINED
    neg = _new_state(r)
    res = read_type_map_file(neg, r)
    if res:
        return res
    res, best = await do_negotiation(r, neg, False)
    if res != OK:
        return res
    assert best is not None
    if best.body:
        return _send_body(r, best)
    uri = r.uri
    if r.path_info and uri.endswith(r.path_info):
        uri = uri[:len(uri) - len(r.path_info)]
    from featherd.modules.mappers.mod_dir import escape_path

    udir = escape_path(uri[:uri.rfind("/") + 1])
    new = udir + best.file_name + (r.path_info or "")
    if r.args is not None:
        new += "?" + r.args
    await internal_redirect(r, new)
    return OK


def _send_body(r: Request, best: Variant) -> int:
    """A Body: variant, sent from the type map itself."""
    from featherd.http import conditional

    r.allowed_methods.update(("GET", "OPTIONS", "POST"))
    if r.method not in ("GET", "HEAD", "POST"):
        return 405
    r.headers_out.set("Accept-Ranges", "bytes")
    if best.mime_type:
        r.content_type = (f"{best.mime_type}; charset={best.content_charset}"
                          if best.content_charset else best.mime_type)
    if best.content_languages:
        r.content_languages = list(best.content_languages)
    if best.content_encoding:
        r.content_encoding = best.content_encoding
    rv = conditional.evaluate(r.method, r.headers_in.get, None, None, r.request_time)
    if rv:
        return rv  # type: ignore[no-any-return]
    if r.body is not None and r.body.check_limit(r):
        return 413
    try:
        fd = os.open(r.filename or "", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return 403
    pass_brigade(r, [FileBucket(fd, best.body, best.bytes, r.filename or ""), EOS])
    return OK


# --- Content-Encoding spelled as the client spelled it ----------------------------------
@negotiation.hook("fixups", order=MIDDLE)
def fix_encoding(r: Request) -> int:
    """Send ``gzip`` or ``x-gzip`` as the client's Accept-Encoding names it."""
    enc = r.content_encoding
    if not enc:
        return DECLINED
    if enc.startswith("x-"):
        enc = enc[2:]
    accepts = header_line(r.headers_in.get("Accept-Encoding"))
    if accepts is None:
        return DECLINED
    x_enc = None
    for a in accepts:
        if a.name == enc:
            r.content_encoding = a.name
            return OK
        if a.name.startswith("x-") and a.name[2:] == enc:
            x_enc = a.name
    if x_enc is not None:
        r.content_encoding = x_enc
        return OK
    return DECLINED


__all__ = ["negotiation", "negotiation_module"]
