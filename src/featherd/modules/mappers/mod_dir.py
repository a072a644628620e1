"""mod_dir: trailing-slash redirects, DirectoryIndex and FallbackResource, as in Apache 2.2
(with the 2.4 additions DirectoryIndexRedirect, DirectoryCheckHandler and the
"disabled" arguments accepted).

A request whose file is a directory gets the content type ``httpd/unix-directory`` from
mod_mime's type checker; its handler here (2.2's handle_index):

- without a trailing slash: a 301 to the same URL with the slash (query string kept),
  unless ``DirectorySlash Off`` (or a non-GET request with ``redirect-carefully`` set);
- with it: each DirectoryIndex URL in turn (relative to the directory, or a full local
  path such as /cgi-bin/index.pl) is looked up with a sub-request; the first that is a
  regular file wins and the request is internally redirected to it (arguments kept),
  or, with DirectoryIndexRedirect, externally redirected;
- a redirect, or a lone 401/406, from a lookup is passed on to the client; any other
  error of a lookup (not 404) is returned if no index is found, so that no listing is
  generated where an index was refused;
- no index: DECLINED with the note ``dir-index-names``, so that mod_autoindex (which
  shares the handler name: this module installs a chain running its own handler first,
  then any other module's handler for the same name, as Apache's handler hook does)
  lists the directory or refuses.

FallbackResource (2.2.16+) is a fixup: a request that maps to no file and has no handler
is served by the given local URL (Apache's ap_internal_fast_redirect: the request takes
over the sub-request's file, type and configuration). It applies to sub-requests too,
so a directory with no index file is served by the fallback, as in Apache.

``DirectoryCheckHandler Off`` (2.4.8) lets mod_dir act on directories that have another
handler (SetHandler); the index is then taken over in fixups, as 2.4 does.
"""

from __future__ import annotations

import stat as stat_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.config.parser import CmdParms
from featherd.config.tree import split_args
from featherd.core.core_module import core
from featherd.core.hooks import DECLINED, LAST, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.http.status import is_redirect

if TYPE_CHECKING:
    from featherd.core.request import Request

DIR_MAGIC_TYPE = "httpd/unix-directory"
AP_DEFAULT_INDEX = "index.html"


@dataclass(slots=True)
class DirConfig:
    """dir_config_rec; every field: the child's value where set, else the parent's."""

    index_names: Any = unset_field()     # tuple of local URLs; () after "disabled"
    do_slash: Any = UNSET                # DirectorySlash (default On)
    redirect_index: Any = UNSET          # DirectoryIndexRedirect: 0 (off) or a 3xx
    dflt: Any = UNSET                    # FallbackResource; None for "disabled"
    check_handler: Any = UNSET           # DirectoryCheckHandler (default On in 2.2)


dir_mod = Module("dir_module", "mod_dir.c", dir_config=DirConfig,
                 description="Provides for \"trailing slash\" redirects and serving "
                             "directory index files")
#: the names the module list uses (BUILTIN: "dir")
dir = dir_module = dir_mod  # noqa: A001

ALL = Context.ALL_DIR
INDEXES = Override.INDEXES


# --- directives --------------------------------------------------------------------------
@dir_mod.directive("DirectoryIndex", args=ArgSpec.RAW_ARGS, context=ALL, override=INDEXES,
                   syntax="DirectoryIndex disabled | local-url [local-url] ...",
                   help="a list of file names")
def directory_index(cmd: CmdParms, conf: DirConfig, raw: str) -> None:
    words = split_args(raw)
    if not words:
        raise DirectiveError("DirectoryIndex requires at least one argument, a list of "
                             "file names")
    if len(words) == 1 and words[0].lower() == "disabled":
        conf.index_names = ()
        return
    # several DirectoryIndex lines in one context add to the list
    conf.index_names = (*(conf.index_names or ()), *words)


@dir_mod.directive("DirectorySlash", args=ArgSpec.FLAG, context=ALL, override=INDEXES,
                   syntax="DirectorySlash On|Off", help="On or Off")
def directory_slash(cmd: CmdParms, conf: DirConfig, on: bool) -> None:
    conf.do_slash = on


_REDIRECT_WORDS = {"on": 302, "off": 0, "permanent": 301, "temp": 302, "seeother": 303}


@dir_mod.directive("DirectoryIndexRedirect", args=ArgSpec.TAKE1, context=ALL,
                   override=INDEXES,
                   syntax="DirectoryIndexRedirect on | off | permanent | temp | seeother | "
                          "3xx-code",
                   help="On, Off, or a 3xx status code.")
def directory_index_redirect(cmd: CmdParms, conf: DirConfig, arg: str) -> None:
    lv = arg.lower()
    if lv in _REDIRECT_WORDS:
        conf.redirect_index = _REDIRECT_WORDS[lv]
        return
    if arg[:1].isdigit():
        digits = ""
        for ch in arg:
            if not ch.isdigit():
                break
            digits += ch
        status = int(digits)
        if not 300 <= status < 400:
            raise DirectiveError("DirectoryIndexRedirect only accepts values between 300 "
                                 "and 399")
        conf.redirect_index = status
        return
    raise DirectiveError("DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx")


@dir_mod.directive("FallbackResource", args=ArgSpec.TAKE1, context=ALL, override=INDEXES,
                   syntax="FallbackResource disabled | local-url",
                   help="Set a default handler")
def fallback_resource(cmd: CmdParms, conf: DirConfig, url: str) -> None:
    conf.dflt = None if url.lower() == "disabled" else url


@dir_mod.directive("DirectoryCheckHandler", args=ArgSpec.FLAG, context=ALL,
                   override=INDEXES, syntax="DirectoryCheckHandler On|Off",
                   help="On or Off")
def directory_check_handler(cmd: CmdParms, conf: DirConfig, on: bool) -> None:
    conf.check_handler = on


# --- helpers -----------------------------------------------------------------------------
_PATH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "$-_.+!*'(),:;@&=/~")


def escape_path(path: str) -> str:
    """ap_escape_uri (ap_os_escape_path, partial): %xx (lower-case hex) for every byte
    outside the path-safe set; r.uri holds bytes as latin-1 characters."""
    if all(c in _PATH_SAFE for c in path):
        return path
    out = []
    for c in path:
        if c in _PATH_SAFE:
            out.append(c)
        else:
            raw = bytes([ord(c)]) if ord(c) < 256 else c.encode("utf-8", "surrogatepass")
            out.extend(f"%{b:02x}" for b in raw)
    return "".join(out)


def _is_dir(st: Any) -> bool:
    return st is not None and stat_mod.S_ISDIR(st.st_mode)


def _is_reg(st: Any) -> bool:
    return st is not None and stat_mod.S_ISREG(st.st_mode)


def _core_handler(r: Request) -> str | None:
    """The handler in force: the core's SetHandler (applied in the core's fixups, which
    run after this module's) or what mod_mime and others set."""
    h = r.per_dir_config[core.index].handler
    if h is not UNSET and h:
        return h  # type: ignore[no-any-return]
    return r.handler


def _copy_outcome(rr: Request, r: Request) -> None:
    """A refused lookup's headers go with the response (WWW-Authenticate, Location)."""
    for k, v in rr.notes.items():
        r.notes.setdefault(k, v)
    r.headers_out.extend(rr.headers_out)
    r.err_headers_out.extend(rr.err_headers_out)


def fast_redirect(rr: Request, r: Request) -> None:
    """ap_internal_fast_redirect: r takes over the looked-up sub-request's mapping."""
    r.no_cache = r.no_cache and rr.no_cache
    r.no_local_copy = r.no_local_copy and rr.no_local_copy
    r.mtime = rr.mtime
    r.uri = rr.uri
    r.filename = rr.filename
    r.canonical_filename = rr.canonical_filename
    r.path_info = rr.path_info
    r.args = rr.args
    r.finfo = rr.finfo
    r.handler = rr.handler
    r.content_type = rr.content_type
    r.content_encoding = rr.content_encoding
    r.content_languages = rr.content_languages
    r.per_dir_config = rr.per_dir_config
    r.location_sections = rr.location_sections
    r.notes.update(rr.notes)
    merged = rr.headers_out.copy()
    merged.extend(r.headers_out)
    r.headers_out = merged
    merged = rr.err_headers_out.copy()
    merged.extend(r.err_headers_out)
    r.err_headers_out = merged
    r.subprocess_env.update(rr.subprocess_env)
    # per-request filter choices made by the sub-request's type checker
    for key in ("mime_filters", "mime_input_filters", "ap-mime-exceptions-list"):
        if key in rr.ctx:
            r.ctx[key] = rr.ctx[key]
        else:
            r.ctx.pop(key, None)


def local_url(r: Request, name: str) -> str:
    """ap_sub_req_lookup_uri's base for a relative URL: r.uri's directory, re-escaped."""
    if name.startswith("/"):
        return name
    return escape_path(r.uri[:r.uri.rfind("/") + 1]) + name


def _conf(r: Request) -> DirConfig:
    return r.per_dir_config[dir_mod.index]  # type: ignore[no-any-return]


# --- the directory handler -----------------------------------------------------------------
async def _index(r: Request, fast: bool) -> int:
    """fixup_dir / handle_index. ``fast``: take the index over in place (fixups) rather
    than by an internal redirect (handler)."""
    from featherd.core.http_request import internal_redirect
    from featherd.core.subrequest import lookup_uri, run_sub_req

    if r.path_info:                      # never tolerate path_info on dir requests
        return DECLINED
    d = _conf(r)
    if not r.uri.endswith("/"):
        if d.do_slash is False:
            return DECLINED
        if r.method not in ("GET", "HEAD") and "redirect-carefully" in r.subprocess_env:
            return DECLINED
        ifile = escape_path(r.uri) + "/"
        if r.args is not None:
            ifile += "?" + r.args
        r.headers_out.set("Location", r.construct_url(ifile))
        return 301
    names = d.index_names if d.index_names is not UNSET else (AP_DEFAULT_INDEX,)
    error_notfound = 0
    num = len(names)
    for name in names:
        url = local_url(r, name)
        if r.args is not None:
            url = f"{url}?{r.args}"
        rr = await lookup_uri(r, url)
        if rr.status == 200 and (rr.handler == "proxy-server" or _is_reg(rr.finfo)):
            ri = d.redirect_index
            if ri is not UNSET and ri:
                r.headers_out.set("Location", r.construct_url(rr.uri))
                return ri  # type: ignore[no-any-return]
            if fast:
                fast_redirect(rr, r)
                return OK
            new_uri = escape_path(rr.uri)
            if rr.args is not None:
                new_uri += "?" + rr.args
            elif r.args is not None:
                new_uri += "?" + r.args
            if r.main is not None:
                # a sub-request's index: run it as a sibling sub-request, whose body
                # goes to the main request like ours would
                sub = await lookup_uri(r.main, new_uri)
                if sub.status != 200:
                    return sub.status
                return await run_sub_req(sub)
            await internal_redirect(r, new_uri)
            return OK
        if (is_redirect(rr.status) or (rr.status == 406 and num == 1)
                or (rr.status == 401 and num == 1)):
            _copy_outcome(rr, r)
            return rr.status
        if rr.status and rr.status not in (404, 200):
            error_notfound = rr.status
    if error_notfound:
        return error_notfound
    # what was tried, for mod_autoindex's message
    r.notes["dir-index-names"] = ",".join(names)
    return DECLINED


@dir_mod.handler(DIR_MAGIC_TYPE)
async def handle_index(r: Request) -> int:
    if not _is_dir(r.finfo):
        return DECLINED
    return await _index(r, fast=False)


def _chain(first: Any, others: list[Any]) -> Any:
    async def chained(r: Request) -> Any:
        rv = await first(r)
        for fn in others:
            if rv != DECLINED:
                break
            rv = fn(r)
            if hasattr(rv, "__await__"):
                rv = await rv
        return rv
    chained.__name__ = "handle_index_chain"
    return chained


@dir_mod.hook("post_config")
def claim_dir_handler(tree: Any) -> int:
    """Apache runs every module's handler hook in turn; the handler table holds one
    function per name, so mod_dir's runs first, then other modules' for the same name
    (mod_autoindex) in module order."""
    others = [m.handlers[DIR_MAGIC_TYPE] for m in tree.modules
              if m is not dir_mod and m.name in tree.loaded
              and DIR_MAGIC_TYPE in m.handlers]
    tree.handlers[DIR_MAGIC_TYPE] = _chain(handle_index, others) if others else handle_index
    return OK


# --- fixups: FallbackResource, DirectoryCheckHandler Off --------------------------------
async def _fallback(r: Request, d: DirConfig) -> int:
    """fixup_dflt."""
    from featherd.core.subrequest import lookup_uri

    url = local_url(r, d.dflt)  # type: ignore[arg-type]
    if r.args is not None:
        url = f"{url}?{r.args}"
    rr = await lookup_uri(r, url)
    if rr.status == 200 and (rr.handler == "proxy-server" or _is_reg(rr.finfo)):
        fast_redirect(rr, r)
        return OK
    if is_redirect(rr.status):
        _copy_outcome(rr, r)
        return rr.status
    if rr.status and rr.status not in (404, 200):
        return rr.status
    return DECLINED


@dir_mod.hook("fixups", order=LAST)
def dir_fixups(r: Request) -> Any:
    """FallbackResource and DirectoryCheckHandler; an awaitable only when one acts (a
    plain file costs no coroutine: see hooks.call_all)."""
    d = _conf(r)
    st = r.finfo
    if st is None:
        if d.dflt is UNSET or d.dflt is None or _core_handler(r) is not None:
            return DECLINED
        return _fallback(r, d)
    if d.check_handler is False and _is_dir(st):
        h = _core_handler(r)
        if h is not None and h != DIR_MAGIC_TYPE:
            return _index(r, fast=True)
    return DECLINED
