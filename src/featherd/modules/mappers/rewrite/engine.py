"""The rewriting engine (mod_rewrite.c's apply_rewrite_list and apply_rewrite_rule) and
its logging (rewritelog).

A rule list is applied rule by rule: the pattern is tested on the URL-path (server
context) or on the filename with the directory prefix stripped (per-directory
context); on a match the RewriteConds are evaluated ([OR], back references %N), the
substitution is expanded, [E] and [CO] are applied, the query string is split out and
the flags decide what happens next ([L], [N], [C], [S], [END], [PT], [P], [R], status).
The hooks that call it are in :mod:`.hooks`.

Tracing: when ``r.connection.notes["rewrite_tracer"]`` holds a callable, every step
(rule tried, conditions, captures, result) is reported to it; featherd-rewrite uses this
to explain a request with the real engine.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from featherd.modules.mappers.rewrite.conditions import apply_cond, apply_cond_sync
from featherd.modules.mappers.rewrite.expand import expand, expand_sync
from featherd.modules.mappers.rewrite.module import RewriteServerConfig, rewrite
from featherd.modules.mappers.rewrite.rules import RuleEntry
from featherd.modules.mappers.rewrite.uri import (
    _sanitize,
    fully_qualify_uri,
    is_absolute_uri,
    reduce_uri,
    splitout_queryargs,
)
from featherd.modules.mappers.rewrite.util import escape_uri

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3

ACTION_NONE, ACTION_NORMAL, ACTION_NOESCAPE, ACTION_STATUS = 0, 1, 2, 4
FORCED_MIMETYPE = "rewrite-forced-mimetype"
FORCED_HANDLER = "rewrite-forced-handler"


def _logtime() -> str:
    t = time.time()
    lt = time.localtime(t)
    off = lt.tm_gmtoff // 60
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return time.strftime("%d/%b/%Y:%H:%M:%S", lt) + f" {sign}{off // 60:02d}{off % 60:02d}"

_LEVELS_KEY = "rewrite_levels"

class RewriteCtx:
    """rewrite_ctx: the state of one run over a rule list."""

    __slots__ = ("r", "uri", "vary_this", "vary", "perdir", "rr_m", "rc_m", "loglevel",
                 "file_level", "err_level", "tracer", "log_target")

    def __init__(self, r: Request, perdir: str | None) -> None:
        self.r = r
        self.uri = ""
        self.vary_this: str | None = None
        self.vary: str | None = None
        self.perdir = perdir
        self.rr_m: Any = None
        self.rc_m: Any = None
        server = r.server
        sc: RewriteServerConfig = server.module_config[rewrite.index]
        # the levels depend on configuration only (and on the RewriteLog, opened after
        # the configuration is read): worked out once per server
        lv = server.cache.get(_LEVELS_KEY)
        if lv is None or lv[0] is not sc.log_target:
            file_level = sc.log_level if sc.log_target is not None else 0
            ml = r.tree.extra.get("rewrite_module_loglevel")
            if ml is None:
                ml = server.loglevel if server.loglevel is not None else 4
            lv = (sc.log_target, file_level, ml - 7, max(file_level, ml - 7))
            server.cache[_LEVELS_KEY] = lv
        self.log_target, self.file_level, self.err_level, lvl = lv
        conn = r.connection
        self.tracer = conn.notes.get("rewrite_tracer") if conn is not None else None
        if self.tracer is not None:
            lvl = max(lvl, getattr(self.tracer, "loglevel", 0))
        self.loglevel = lvl

    def log(self, level: int, text: str, perdir: bool = True) -> None:
        """rewritelog(): one line in the RewriteLog and/or, for ``LogLevel
        rewrite:traceN``, in the error log."""
        r = self.r
        pd = self.perdir if perdir else None
        if self.tracer is not None and getattr(self.tracer, "loglevel", 0) >= level:
            self.tracer(r, "log", level=level, text=text, perdir=pd)
        if level > self.file_level and level > self.err_level:
            return
        from featherd.http.message import escape_logitem

        conn = r.connection
        redir = 0
        q = r
        while q.prev is not None:
            redir += 1
            q = q.prev
        # CVE-2013-1862: client-supplied text is escaped before it reaches a log
        text = escape_logitem(text)
        rhost = escape_logitem(getattr(conn, "remote_host", None) or conn.client_ip
                               or "UNKNOWN-HOST")
        rname = escape_logitem(getattr(conn, "remote_logname", None) or "-")
        ruser = "-" if r.user is None else (escape_logitem(r.user) or '""')
        from featherd.core.vhost import server_name

        where = (f"[{server_name(r)}/sid#{id(r.server):x}][rid#{id(r):x}/"
                 f"{'subreq' if r.main is not None else 'initial'}"
                 f"{f'/redir#{redir}' if redir else ''}]")
        pdtxt = f"[perdir {pd}] " if pd else ""
        if level <= self.file_level and self.log_target is not None:
            line = (f"{rhost} {rname} {ruser} [{_logtime()}] {where} ({level}) "
                    f"{pdtxt}{text}\n")
            self.log_target.write(line)
        if level <= self.err_level:
            _errlog_trace(r, level, f"{rhost} {rname} {ruser} {where} {pdtxt}{text}")

    def trace(self, event: str, **info: Any) -> None:
        if self.tracer is not None:
            self.tracer(self.r, event, perdir=self.perdir, **info)

def _errlog_trace(r: Request, level: int, msg: str) -> None:
    from featherd.log import ctime

    log = r.server.error_log or r.tree.main.error_log
    fp = getattr(log, "fp", None) if log is not None else None
    if fp is None:
        return
    line = f"[{ctime()}] [rewrite:trace{level}] [client {r.connection.client_ip}] {msg}"
    try:
        fp.write(line.replace("\n", "\\n") + "\n")
    except (OSError, ValueError):
        pass

async def _expand(tpl: Any, ctx: RewriteCtx, rule: Any = None) -> str:
    if tpl.needs_async:
        return await expand(tpl, ctx, rule)
    return expand_sync(tpl, ctx, rule)

def _set_env(ctx: RewriteCtx, name: str) -> None:
    """One [E=VAR:VAL] or [E=!VAR], expanded."""
    r = ctx.r
    if name.startswith("!"):
        name = name[1:]
        r.subprocess_env.pop(name, None)
        if ctx.loglevel >= 5:
            ctx.log(5, f"unsetting env variable '{name}'", perdir=False)
    else:
        name, _, val = name.partition(":")
        r.subprocess_env[name] = val
        if ctx.loglevel >= 5:
            ctx.log(5, f"setting env variable '{name}' to '{val}'", perdir=False)

def _cookie_time(ts: float) -> str:
    t = time.gmtime(ts)
    return time.strftime("%a, %d-%b-%Y %H:%M:%S GMT", t)

def _add_cookie(r: Request, s: str, ctx: RewriteCtx) -> None:
    sep = ":"
    if s.startswith(";"):
        sep = ";"
        s = s[1:]
    parts = [p for p in s.split(sep) if p]   # apr_strtok skips empty tokens
    if len(parts) < 3:
        return
    var, val, domain = parts[0], parts[1], parts[2]
    rmain = r
    while rmain.main is not None:
        rmain = rmain.main
    first = rmain
    while first.prev is not None:
        first = first.prev
    done: set[str] = first.ctx.setdefault("rewrite_cookies", set())
    if var in done:
        if ctx.loglevel >= 5:
            ctx.log(5, f"skipping already set cookie '{var}'", perdir=False)
        return
    expires = parts[3] if len(parts) > 3 else None
    path = parts[4] if len(parts) > 4 else None
    secure = parts[5] if len(parts) > 5 else None
    httponly = parts[6] if len(parts) > 6 else None
    samesite = parts[7] if len(parts) > 7 else None
    cookie = f"{var}={val}; path={path or '/'}; domain={domain}"
    if expires is not None:
        from featherd.modules.mappers.rewrite.conditions import atoi

        mins = atoi(expires)
        if mins:
            cookie += "; expires=" + _cookie_time(r.request_time + 60 * mins)
    if secure is not None and secure.lower() in ("true", "1", "secure"):
        cookie += "; secure"
    if httponly is not None and httponly.lower() in ("true", "1", "httponly"):
        cookie += "; HttpOnly"
    if samesite and samesite != "0" and samesite.lower() != "false":
        cookie += f"; SameSite={samesite}"
    rmain.err_headers_out.add("Set-Cookie", _sanitize(cookie))
    done.add(var)
    if ctx.loglevel >= 5:
        ctx.log(5, f"setting cookie '{cookie}'", perdir=False)

async def _force_type_handler(rule: RuleEntry, ctx: RewriteCtx) -> None:
    r = ctx.r
    if rule.forced_type is not None:
        t = (await _expand(rule.forced_type, ctx, rule)).lower()
        if "\r" in t or "\n" in t or "\x00" in t:
            # CVE-2016-4975: never a CR, LF or NUL in a response header
            r.log_error(ERROR, f"RewriteRule [T]: refusing a MIME-type with control "
                               f"characters for {r.uri}")
            t = ""
        if t:
            if ctx.loglevel >= 2:
                ctx.log(2, f"remember {r.filename} to have MIME-type '{t}'")
            r.notes[FORCED_MIMETYPE] = t
    if rule.forced_handler is not None:
        h = (await _expand(rule.forced_handler, ctx, rule)).lower()
        if h:
            if ctx.loglevel >= 2:
                ctx.log(2, f"remember {r.filename} to have Content-handler '{h}'")
            r.notes[FORCED_HANDLER] = h

def _groups(m: Any) -> list[str] | None:
    if m is None:
        return None
    return [m.group(i) or "" for i in range(min(m.re.groups, 9) + 1)]

def _perdir_input(r: Request, perdir: str) -> str:
    """The per-directory pattern input: filename plus path_info, the directory prefix
    stripped (what _match_rule computes, without its log lines)."""
    fn = r.filename or ""
    uri = fn + r.path_info if r.path_info else fn
    if uri.startswith(perdir) and not (fn.startswith("proxy:") and r.ctx.get("proxyreq")):
        return uri[len(perdir):]
    return uri

def _match_rule(rule: RuleEntry, ctx: RewriteCtx) -> Any:
    """The pattern test of apply_rewrite_rule, synchronous (most rules stop here): the
    input is the URL-path, or in per-directory context the filename plus path_info with
    the directory prefix stripped. Returns the match (or True for a matching ``!`` rule),
    None when the rule does not apply."""
    r = ctx.r
    uri = r.filename or ""
    perdir = ctx.perdir
    if perdir:
        is_proxyreq = uri.startswith("proxy:") and bool(r.ctx.get("proxyreq"))
        if r.path_info:
            if ctx.loglevel >= 3:
                ctx.log(3, f"add path info postfix: {uri} -> {uri}{r.path_info}")
            uri = uri + r.path_info
        if not is_proxyreq and uri.startswith(perdir):
            if ctx.loglevel >= 3:
                ctx.log(3, f"strip per-dir prefix: {uri} -> {uri[len(perdir):]}")
            uri = uri[len(perdir):]
    ctx.uri = uri
    if ctx.loglevel >= 3:
        ctx.log(3, f"applying pattern '{rule.pattern}' to uri '{uri}'")
    m = rule.regex.search(uri)
    matched = (m is not None) != rule.notmatch
    if ctx.tracer is not None:
        ctx.trace("rule", rule=rule, input=uri, matched=matched,
                  groups=_groups(m) if matched and not rule.notmatch else None)
    if not matched:
        return None
    return True if rule.notmatch else m

async def apply_rewrite_rule(rule: RuleEntry, ctx: RewriteCtx) -> int:
    """0: no match; 1: matched and changed; 2: matched, no substitution; 3: a status."""
    m = _match_rule(rule, ctx)
    if m is None:
        return 0
    return await _apply_matched(rule, ctx, m)

async def _apply_matched(rule: RuleEntry, ctx: RewriteCtx, m: Any) -> int:
    r = ctx.r
    perdir = ctx.perdir
    ctx.vary_this = None
    ctx.rc_m = None
    ctx.rr_m = None if m is True else m
    conds = rule.conds
    i = 0
    nconds = len(conds)
    while i < nconds:
        c = conds[i]
        rc = await apply_cond(c, ctx) if c.is_async else apply_cond_sync(c, ctx)
        if c.novary:
            ctx.vary_this = None
        if c.ornext:
            if not rc:
                ctx.vary_this = None
                i += 1
                continue
            while i < nconds and conds[i].ornext:
                i += 1
        elif not rc:
            if ctx.tracer is not None:
                ctx.trace("rule-conds-failed", rule=rule)
            return 0
        if ctx.vary_this:
            ctx.vary = f"{ctx.vary}, {ctx.vary_this}" if ctx.vary else ctx.vary_this
            ctx.vary_this = None
        i += 1
    is_proxyreq = bool(perdir) and bool(r.ctx.get("proxyreq")) and \
        (r.filename or "").startswith("proxy:")
    newuri = None
    if not rule.nosub:
        out = rule.output
        newuri = await expand(out, ctx, rule) if out.needs_async else \
            expand_sync(out, ctx, rule)
        if ctx.loglevel >= 2:
            ctx.log(2, f"rewrite '{ctx.uri}' -> '{newuri}'")
        if ctx.tracer is not None:
            ctx.trace("subst", rule=rule, before=ctx.uri, after=newuri)
        if ("?" in newuri and not rule.unsafe_allow3f and r.unparsed_uri
                and "%3f" in r.unparsed_uri.lower() and _qmark_from_backref(rule, ctx)):
            # CVE-2024-38474 (Apache 2.4.60): a decoded %3F must not start a query
            r.log_error(ERROR, "Unsafe URL with %3f URL rewritten without UnsafeAllow3F")
            r.status = 403
            return 3
    for tpl in rule.env:
        _set_env(ctx, await expand(tpl, ctx) if tpl.needs_async else expand_sync(tpl, ctx))
    for tpl in rule.cookies:
        _add_cookie(r, await _expand(tpl, ctx), ctx)
    if rule.nosub:
        if rule.forced_type is not None or rule.forced_handler is not None:
            await _force_type_handler(rule, ctx)
        if rule.status_rule:
            if ctx.loglevel >= 2:
                ctx.log(2, f"forcing responsecode {rule.forced_status} for {r.filename}")
            r.status = rule.forced_status
        return 2
    assert newuri is not None
    r.filename = newuri
    if perdir and rule.discardpathinfo:
        r.path_info = ""
    if not splitout_queryargs(r, rule, ctx):
        r.status = 403
        return 3
    fn = r.filename or ""
    if perdir and not is_proxyreq and not fn.startswith("/") and not is_absolute_uri(fn)[0]:
        if ctx.loglevel >= 3:
            ctx.log(3, f"add per-dir prefix: {fn} -> {perdir}{fn}")
        r.filename = perdir + fn
    if rule.proxy:
        if perdir and not rule.noescape:
            old = r.filename or ""
            r.filename = escape_uri(old)
            if ctx.loglevel >= 2:
                ctx.log(2, f"escaped URI in per-dir context for proxy, {old} -> {r.filename}")
        fully_qualify_uri(r)
        if ctx.loglevel >= 2:
            ctx.log(2, f"forcing proxy-throughput with {r.filename}")
        r.filename = "proxy:" + (r.filename or "")
        return 1
    if rule.redirect:
        fully_qualify_uri(r)
        if ctx.loglevel >= 2:
            ctx.log(2, f"explicitly forcing redirect with {r.filename}")
        r.status = rule.forced_status
        return 1
    reduce_uri(r, ctx)
    if is_absolute_uri(r.filename or "")[0]:
        if ctx.loglevel >= 2:
            ctx.log(2, f"implicitly forcing redirect (rc={rule.forced_status}) with "
                       f"{r.filename}")
        r.status = rule.forced_status
        return 1
    if rule.forced_type is not None or rule.forced_handler is not None:
        await _force_type_handler(rule, ctx)
    return 1

def _qmark_from_backref(rule: RuleEntry, ctx: RewriteCtx) -> bool:
    """Does the first '?' of the substitution come from a back reference?"""
    from featherd.modules.mappers.rewrite.expand import LIT, RC, RR, _backref

    for part in rule.output.parts:
        k = part[0]
        if k == LIT:
            if "?" in part[1]:
                return False
        elif k in (RR, RC):
            if "?" in _backref(ctx.rr_m if k == RR else ctx.rc_m, part[1]):
                return True
    return False

def _limit_req_line(r: Request) -> int:
    v = r.server.limit_req_line
    if v is None:
        v = r.tree.main.limit_req_line
    return v if v is not None else 8190

_UNSET_KEY = object()

async def apply_rewrite_list(r: Request, rules: list[RuleEntry], perdir: str | None,
                             ctx: RewriteCtx | None = None) -> int:
    ctx = ctx or RewriteCtx(r, perdir)
    changed = ACTION_NONE
    rounds = 1
    n = len(rules)
    is_sub = r.main is not None
    # without tracing or per-rule log lines the pattern input is computed once per
    # (filename, path_info), not once per rule
    fast = ctx.loglevel < 3 and ctx.tracer is None
    key_fn: Any = _UNSET_KEY
    key_pi: Any = _UNSET_KEY
    uri = ""
    restart = True
    while restart:
        restart = False
        i = 0
        while i < n:
            p = rules[i]
            if is_sub and (p.nosubreq or p.redirect):
                i += 1
                continue
            ctx.vary = None
            if fast:
                fn = r.filename
                pi = r.path_info
                if fn is not key_fn or pi is not key_pi:
                    key_fn, key_pi = fn, pi
                    uri = _perdir_input(r, perdir) if perdir else (fn or "")
                ctx.uri = uri
                m = p.regex.search(uri)
                if p.notmatch:
                    m = True if m is None else None
            else:
                m = _match_rule(p, ctx)
            rc = 0 if m is None else await _apply_matched(p, ctx, m)
            if rc:
                limit = _limit_req_line(r)
                if len(r.filename or "") > 2 * limit:
                    r.log_error(ERROR, f"RewriteRule '{p.pattern}' and URI '{r.uri}' "
                                       f"exceeded maximum length ({2 * limit})")
                    r.status = 500
                    return ACTION_STATUS
                if ctx.vary:
                    r.headers_out.merge("Vary", ctx.vary)
                if p.status_rule or rc == 3:
                    return ACTION_STATUS
                if rc != 2:
                    changed = ACTION_NOESCAPE if p.noescape else ACTION_NORMAL
                    r.ctx["rewrite_lastsub"] = p
                if p.passthrough:
                    if ctx.loglevel >= 2:
                        ctx.log(2, f"forcing '{r.filename}' to get passed through to next "
                                   "API URI-to-filename handler")
                    r.filename = "passthrough:" + (r.filename or "")
                    changed = ACTION_NORMAL
                    break
                if p.end:
                    if ctx.loglevel >= 8:
                        ctx.log(8, "Rule has END flag, no further rewriting for this "
                                   "request")
                    r.ctx["rewrite_end"] = True
                    break
                if p.proxy or p.last:
                    break
                if p.next_round:
                    rounds += 1
                    if rounds >= p.maxrounds:
                        r.log_error(ERROR, f"RewriteRule '{p.pattern}' and URI '{r.uri}' "
                                           f"exceeded maximum number of rounds "
                                           f"({p.maxrounds}) via the [N] flag")
                        r.status = 500
                        return ACTION_STATUS
                    if ctx.tracer is not None:
                        ctx.trace("next-round", round=rounds)
                    restart = True
                    break
                if p.skip > 0:
                    i += p.skip
            else:
                while i < n and rules[i].chain:
                    i += 1
            i += 1
    return changed

def _end_flag(r: Request) -> bool:
    q: Request | None = r
    while q is not None:
        if q.ctx.get("rewrite_end"):
            return True
        q = q.prev
    return False


__all__ = ["ACTION_NOESCAPE", "ACTION_STATUS", "FORCED_HANDLER", "FORCED_MIMETYPE",
           "RewriteCtx", "apply_rewrite_list", "apply_rewrite_rule", "is_absolute_uri"]
