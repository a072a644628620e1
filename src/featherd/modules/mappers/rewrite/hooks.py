"""mod_rewrite's hooks: ``translate_name`` (server-context rules, hook_uri2file),
``fixups`` (per-directory rules, hook_fixup; [T]/[H], hook_mimetype) and the
``redirect-handler`` that performs the internal redirect a per-directory rewrite asks for.

Server context: the rules run before mod_alias on the URL-path. The result is a redirect
([R] or an absolute URL), a proxy request ([P]), a status ([F], [G], [R=4xx]), a
URL-path handed on to the next translators ([PT]), or a filename (a path whose first
segment does not exist on disk gets the DocumentRoot in front).

Per-directory context (<Directory>, .htaccess): the rules run in ``fixups``, after the
directory walk. A changed result becomes an internal redirect: the directory prefix is
replaced by RewriteBase (or the DocumentRoot is stripped), and the request restarts
with the new URL-path, bounded by LimitInternalRecursion.

[P] hands the request to mod_proxy the way Apache does (``r.filename = "proxy:URL"``,
handler ``proxy-server``, ``r.ctx["proxyreq"]``); until a proxy_module is loaded the
request ends with 502 and an error-log line saying so.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from featherd.core.core_module import core, options
from featherd.core.handlers import core_translate, document_root
from featherd.core.hooks import DECLINED, FIRST, OK, REALLY_LAST
from featherd.core.http_request import internal_redirect
from featherd.core.vhost import server_port
from featherd.core.walk import location_walk
from featherd.modules.mappers.rewrite.engine import (
    ACTION_NOESCAPE,
    ACTION_STATUS,
    FORCED_HANDLER,
    FORCED_MIMETYPE,
    RewriteCtx,
    _end_flag,
    apply_rewrite_list,
)
from featherd.modules.mappers.rewrite.expand import _server_name, scheme
from featherd.modules.mappers.rewrite.module import (
    OPTION_ANYURI,
    OPTION_NOSLASH,
    RewriteDirConfig,
    RewriteServerConfig,
    rewrite,
)
from featherd.modules.mappers.rewrite.uri import (
    _default_port,
    _sanitize,
    escape_absolute_uri,
    is_absolute_uri,
    subst_prefix_path,
)
from featherd.modules.mappers.rewrite.util import escape_uri

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
REDIRECT_HANDLER = "redirect-handler"
PROXYREQ_REVERSE = 2


def _proxy_available(r: Request) -> bool:
    return "proxy_module" in r.tree.loaded

def _go_proxy(r: Request, ctx: RewriteCtx, rulestatus: int, perdir: bool) -> int:
    """Hand a proxy: filename to mod_proxy (the hook point it will take over)."""
    fn = r.filename or ""
    if not perdir and r.path_info:
        fn += r.path_info
    if r.args is not None and (perdir or rulestatus == ACTION_NOESCAPE
                               or r.ctx.get("proxyreq") == 1):
        fn += "?" + r.args
    r.filename = fn
    if ctx.tracer is not None:
        shown = fn[6:]
        if r.args is not None and "?" not in shown:
            shown += "?" + r.args
        ctx.trace("result", kind="proxy", target=shown)
    if not _proxy_available(r):
        r.log_error(ERROR, "attempt to make remote request from mod_rewrite without proxy "
                           f"enabled (mod_proxy is not available): {fn}")
        return 502
    if rulestatus == ACTION_NOESCAPE and not perdir:
        r.notes["proxy-nocanon"] = "1"
    if not r.ctx.get("proxyreq"):
        r.ctx["proxyreq"] = PROXYREQ_REVERSE
    r.handler = "proxy-server"
    if ctx.loglevel >= 1:
        ctx.log(1, f"go-ahead with proxy request {fn} [OK]", perdir=perdir)
    return OK

def _external_redirect(r: Request, ctx: RewriteCtx, rulestatus: int, skip: int,
                       oargs: str | None, perdir: bool) -> int:
    if rulestatus != ACTION_NOESCAPE:
        if ctx.loglevel >= 1:
            ctx.log(1, f"escaping {r.filename} for redirect", perdir=perdir)
        r.filename = escape_absolute_uri(r.filename or "", skip)
    if r.args:
        noescape = rulestatus == ACTION_NOESCAPE or (oargs is not None and r.args == oargs)
        esc = r.args if noescape else escape_uri(r.args)
        r.filename = f"{r.filename}?{esc}"
        if ctx.loglevel >= 1:
            ctx.log(1, f"{'copying' if noescape else 'escaping'} {r.args} to query string "
                       f"for redirect {'' if noescape else esc}", perdir=perdir)
    if 300 <= r.status <= 399:
        n = r.status
        r.status = 200
    else:
        n = 302
    loc = _sanitize(r.filename or "")
    r.headers_out.set("Location", loc)
    if ctx.loglevel >= 1:
        ctx.log(1, f"redirect to {loc} [REDIRECT/{n}]", perdir=perdir)
    if ctx.tracer is not None:
        ctx.trace("result", kind="redirect", status=n, location=loc)
    return n

def _expand_tildepaths(path: str) -> str:
    if path.startswith("/~") and len(path) > 2:
        end = path.find("/", 2)
        user = path[2:] if end < 0 else path[2:end]
        if user:
            try:
                import pwd

                home = pwd.getpwnam(user).pw_dir
            except (KeyError, ImportError):
                return path
            if end < 0:
                return home
            return home.rstrip("/") + path[end:]
    return path

def _prefix_stat(path: str) -> bool:
    """Does the first segment of ``path`` exist on disk?"""
    seg = path[1:].split("/", 1)[0] if path.startswith("/") else path.split("/", 1)[0]
    try:
        os.stat("/" + seg)
        return True
    except (OSError, ValueError):
        return False

def _status_result(r: Request, ctx: RewriteCtx) -> int:
    n = r.status
    r.status = 200
    if ctx.tracer is not None:
        ctx.trace("result", kind="status", status=n)
    return n

@rewrite.hook("translate_name", order=FIRST - 1, needs=("RewriteEngine",))
async def hook_uri2file(r: Request) -> int:
    dconf: RewriteDirConfig = r.per_dir_config[rewrite.index]
    if dconf is None or not dconf.state:
        return DECLINED
    conf: RewriteServerConfig = r.server.module_config[rewrite.index]
    if _end_flag(r):
        return DECLINED
    ctx = RewriteCtx(r, None)
    if not dconf.options & OPTION_ANYURI and (r.unparsed_uri == "*" or not r.uri
                                              or r.uri[0] != "/"):
        if ctx.loglevel >= 8:
            ctx.log(8, f"Declining, request-URI '{r.uri}' is not a URL-path. Consult the "
                       "manual entry for the RewriteOptions directive for options and "
                       "caveats about matching other strings.")
        return DECLINED
    oargs = r.args
    env = r.subprocess_env
    if r.main is None:
        env["SCRIPT_URL"] = env.get("REDIRECT_SCRIPT_URL") or r.uri
    else:
        v = r.main.subprocess_env.get("SCRIPT_URL")
        if v is not None:
            env["SCRIPT_URL"] = v
    host = _server_name(r)
    port = server_port(r)
    tp = "" if port == _default_port(r) else f":{port}"
    env["SCRIPT_URI"] = f"{scheme(r)}://{host}{tp}{env.get('SCRIPT_URL', '')}"
    if ctx.tracer is not None:
        ctx.trace("begin", context="server", uri=r.uri, rules=conf.rules)
    saved = r.ctx.get("rewrite_status")
    if saved is None:
        if r.filename is None:
            r.filename = r.uri
            if ctx.loglevel >= 2:
                ctx.log(2, f"init rewrite engine with requested uri {r.filename}")
        elif ctx.loglevel >= 2:
            ctx.log(2, f"init rewrite engine with passed filename {r.filename}. Original "
                       f"uri = {r.uri}")
        rulestatus = await apply_rewrite_list(r, conf.rules, None, ctx)
        r.ctx["rewrite_status"] = rulestatus
    else:
        rulestatus = saved
        if ctx.loglevel >= 2:
            ctx.log(2, f"uri already rewritten. Status {saved}, Uri {r.uri}, r->filename "
                       f"{r.filename}")
    if not rulestatus:
        if ctx.loglevel >= 1:
            ctx.log(1, f"pass through {r.filename}")
        if ctx.tracer is not None:
            ctx.trace("result", kind="pass")
        return DECLINED
    if rulestatus == ACTION_STATUS:
        return _status_result(r, ctx)
    fn = r.filename or ""
    if len(fn) > 6 and fn.startswith("proxy:"):
        return _go_proxy(r, ctx, rulestatus, False)
    skip = is_absolute_uri(fn)[0]
    if skip:
        return _external_redirect(r, ctx, rulestatus, skip, oargs, False)
    if len(fn) > 12 and fn.startswith("passthrough:"):
        r.uri = fn[12:]
        r.location_sections = tuple(location_walk(r))
        if ctx.tracer is not None:
            ctx.trace("result", kind="passthrough", uri=r.uri)
        return DECLINED
    fn = _expand_tildepaths(fn)
    r.filename = fn
    if ctx.loglevel >= 2:
        ctx.log(2, f"local path result: {fn}")
    if not fn.startswith("/"):
        return 400
    ok = _prefix_stat(fn)
    lastsub = r.ctx.get("rewrite_lastsub")
    if ok and lastsub is not None and not lastsub.unsafe_prefix_stat and \
            lastsub.output.text[:1] in ("$", "%"):
        # CVE-2024-38475 (Apache 2.4.60): a substitution that starts with a variable or
        # back reference maps to the filesystem only inside the DocumentRoot
        root = document_root(r).rstrip("/")
        ok = fn == root or fn.startswith(root + "/")
        if ctx.loglevel >= 3:
            ctx.log(3, f"prefix_stat of {fn} from substitution {lastsub.output.text}: "
                       f"{'inside' if ok else 'outside'} the document root")
    if not ok:
        tmp = r.uri
        r.uri = fn
        try:
            res = core_translate(r)
        finally:
            r.uri = tmp
        if res != OK:
            if ctx.loglevel >= 1:
                ctx.log(1, f"prefixing with document_root of {fn} FAILED")
            return res
        if ctx.loglevel >= 2:
            ctx.log(2, f"prefixed with document_root to {r.filename}")
    if ctx.loglevel >= 1:
        ctx.log(1, f"go-ahead with {r.filename} [OK]")
    if ctx.tracer is not None:
        ctx.trace("result", kind="file", filename=r.filename)
    return OK

def _symlinks_allowed(r: Request) -> bool:
    c = r.per_dir_config[core.index]
    opts = options(c)
    return "FollowSymLinks" in opts or "SymLinksIfOwnerMatch" in opts

@rewrite.hook("fixups", order=FIRST, needs=("RewriteEngine",))
async def hook_fixup(r: Request) -> int:
    dconf: RewriteDirConfig = r.per_dir_config[rewrite.index]
    if dconf is None or not dconf.state or dconf.directory is None:
        return DECLINED
    directory = dconf.directory
    fn0 = r.filename
    is_proxyreq = bool(r.ctx.get("proxyreq")) and bool(fn0) and fn0.startswith("proxy:")
    if not is_proxyreq and not dconf.options & OPTION_NOSLASH:
        if fn0 is not None and fn0 == directory[:-1]:
            return DECLINED
    if _end_flag(r):
        return DECLINED
    ctx = RewriteCtx(r, directory)
    if not _symlinks_allowed(r):
        r.log_error(ERROR, "Options FollowSymLinks or SymLinksIfOwnerMatch is off which "
                           "implies that RewriteRule directive is forbidden: "
                           f"{r.filename}")
        return 403
    ofilename = r.filename
    oargs = r.args
    if r.filename is None:
        r.filename = r.uri
        if ctx.loglevel >= 2:
            ctx.log(2, f"init rewrite engine with requested uri {r.filename}")
    if ctx.tracer is not None:
        ctx.trace("begin", context="dir", directory=directory, rules=dconf.rules,
                  filename=r.filename, path_info=r.path_info)
    rulestatus = await apply_rewrite_list(r, dconf.rules, directory, ctx)
    if not rulestatus:
        if ctx.loglevel >= 1:
            ctx.log(1, f"pass through {r.filename}")
        r.filename = ofilename
        if ctx.tracer is not None:
            ctx.trace("result", kind="pass")
        return DECLINED
    if rulestatus == ACTION_STATUS:
        return _status_result(r, ctx)
    fn = r.filename or ""
    if len(fn) > 6 and fn.startswith("proxy:"):
        return _go_proxy(r, ctx, rulestatus, True)
    skip = is_absolute_uri(fn)[0]
    if skip:
        if dconf.baseurl is not None:
            slash = fn.find("/", skip)
            if slash >= 0 and slash + 1 < len(fn):
                cp = slash + 1
                if ctx.loglevel >= 2:
                    ctx.log(2, f"trying to replace prefix {directory} with {dconf.baseurl}")
                tail = fn[cp:]
                new = subst_prefix_path(r, tail, directory[1:] if directory.startswith("/")
                                        else directory, dconf.baseurl[1:], ctx)
                if new != tail:
                    r.filename = fn[:cp] + new
        return _external_redirect(r, ctx, rulestatus, skip, oargs, True)
    if len(fn) > 12 and fn.startswith("passthrough:"):
        fn = fn[12:]
        r.filename = fn
    if ctx.loglevel >= 2:
        ctx.log(2, f"local path result: {fn}", perdir=False)
    if not fn.startswith("/"):
        return 400
    if ofilename is not None and fn == ofilename:
        if ctx.loglevel >= 1:
            ctx.log(1, f"initial URL equal rewritten URL: {fn} [IGNORING REWRITE]")
        if ctx.tracer is not None:
            ctx.trace("result", kind="same", filename=fn)
        return OK
    if dconf.baseurl is not None:
        if ctx.loglevel >= 2:
            ctx.log(2, f"trying to replace prefix {directory} with {dconf.baseurl}")
        fn = subst_prefix_path(r, fn, directory, dconf.baseurl, ctx)
    else:
        root = document_root(r)
        n = len(root)
        if root.endswith("/"):
            n -= 1
        if fn[:n] == root[:n] and len(fn) > n and fn[n] == "/":
            if ctx.loglevel >= 2:
                ctx.log(2, f"strip document_root prefix: {fn} -> {fn[n:]}")
            fn = fn[n:]
    r.notes["redirect-keeps-vary"] = ""
    # [T] and [H] do not survive the internal redirect (the manual: they have no effect
    # in per-directory context with a substitution)
    r.notes.pop(FORCED_MIMETYPE, None)
    r.notes.pop(FORCED_HANDLER, None)
    if ctx.loglevel >= 1:
        ctx.log(1, f"internal redirect with {fn} [INTERNAL REDIRECT]")
    if ctx.tracer is not None:
        ctx.trace("result", kind="internal", uri=fn, args=r.args)
    r.filename = "redirect:" + fn
    r.handler = REDIRECT_HANDLER
    r.ctx["rewrite_redirect"] = True
    return OK

@rewrite.hook("fixups", order=REALLY_LAST, needs=("RewriteEngine",))
def hook_mimetype(r: Request) -> int:
    """[T=...] and [H=...]: after every other fixup (the core's SetHandler included)."""
    if r.ctx.get("rewrite_redirect"):
        r.handler = REDIRECT_HANDLER
        return OK
    notes = r.notes
    if not notes:
        return OK
    t = notes.get(FORCED_MIMETYPE)
    if t:
        r.content_type = t
    h = notes.get(FORCED_HANDLER)
    if h:
        r.handler = h
    return OK

@rewrite.handler(REDIRECT_HANDLER)
async def handler_redirect(r: Request) -> int:
    fn = r.filename or ""
    if not fn.startswith("redirect:"):
        return DECLINED
    target = fn[9:] + (f"?{r.args}" if r.args else "")
    vary = r.headers_out.get("Vary")
    if vary and "redirect-keeps-vary" in r.notes:
        # the new request answers with the Vary this one collected
        r.err_headers_out.merge("Vary", vary)
    await internal_redirect(r, target)
    return OK


__all__ = ["REDIRECT_HANDLER", "handler_redirect", "hook_fixup", "hook_mimetype",
           "hook_uri2file"]
