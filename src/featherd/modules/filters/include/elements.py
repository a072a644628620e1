"""The SSI elements: config, echo, set, printenv, comment, if/elif/else/endif,
fsize, flastmod and include (mod_cgi adds exec). Each gets the filter (the parse
context) and the element's arguments; one that must wait (a sub-request) returns an
awaitable, which the filter runs before going on with the document."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from featherd.core.hooks import DONE, OK
from featherd.core.subrequest import lookup_uri, run_sub_req, start_lookup_file, start_lookup_uri
from featherd.modules.filters.include import expr as expr_mod
from featherd.modules.filters.include.values import (
    _decode,
    _encode,
    _latin1,
    ht_time,
    strfsize,
)
from featherd.util.escape import escape_html

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.filters.include.mod_include import IncludesFilter

ERROR, WARN, DEBUG = 3, 4, 7
PRINTING, COND_TRUE, SIZE_IN_BYTES = 1, 2, 4
Args = list[tuple[str | None, str | None]]


def _prelude(ctx: IncludesFilter, args: Args, element: str, ok: bool) -> bool:
    """The common start of most handlers: log a missing argument, skip when not printing.
    True when the element should run."""
    fn = ctx.r.filename
    if not ok:
        ctx.log(ERROR if ctx.printing else WARN,
                f"missing argument for {element} element in {fn}")
    if not ctx.printing:
        return False
    if not ok:
        ctx.error()
        return False
    return True


def handle_config(ctx: IncludesFilter, args: Args) -> None:
    if not _prelude(ctx, args, "config", bool(args)):
        return
    r = ctx.r
    for tag, raw in args:
        if tag is None or raw is None:
            break
        if tag == "errmsg":
            ctx.error_str = ctx.parse_string(raw)
        elif tag == "echomsg":
            ctx.echo_msg = ctx.parse_string(raw)
        elif tag == "timefmt":
            ctx.time_str = ctx.parse_string(raw)
            env = r.subprocess_env
            env["DATE_LOCAL"] = ht_time(r.request_time, ctx.time_str, False)
            env["DATE_GMT"] = ht_time(r.request_time, ctx.time_str, True)
            mtime = r.finfo.st_mtime if r.finfo is not None else 0.0
            if r.main is not None and r.ctx.get("ssi_parent") is not None:
                m = r.main
                mtime = m.finfo.st_mtime if m.finfo is not None else mtime
            env["LAST_MODIFIED"] = ht_time(mtime, ctx.time_str, False)
        elif tag == "sizefmt":
            v = ctx.parse_string(raw)
            if v == "bytes":
                ctx.flags |= SIZE_IN_BYTES
            elif v == "abbrev":
                ctx.flags &= ~SIZE_IN_BYTES
            else:
                ctx.log(ERROR, f"unknown value \"{v}\" to parameter \"sizefmt\" of tag config "
                               f"in {r.filename}")
                ctx.error()
                break
        else:
            ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag config in {r.filename}")
            ctx.error()
            break


_CODINGS = ("none", "url", "urlencoded", "base64", "entity")


def _codings(v: str) -> list[str] | None:
    out = [c.strip().lower() for c in v.split(",")]
    return out if all(c in _CODINGS for c in out) else None


def handle_echo(ctx: IncludesFilter, args: Args) -> None:
    if not _prelude(ctx, args, "echo", bool(args)):
        return
    fn = ctx.r.filename
    encode = ["entity"]
    decode = ["none"]
    for tag, raw in args:
        if tag is None or raw is None:
            break
        val = ctx.decode(raw)
        if tag == "var":
            v = ctx.get_var(ctx.parse_string(val))
            if v is None:
                ctx.emit(_latin1(ctx.echo_msg))
                continue
            for d in decode:
                v = _decode(v, d)
            for e in encode:
                v = _encode(v, e)
            ctx.emit(_latin1(v))
        elif tag in ("encoding", "decoding"):
            c = _codings(val)
            if c is None:
                ctx.log(ERROR, f"unknown value \"{val}\" to parameter \"{tag}\" of tag echo "
                               f"in {fn}")
                ctx.error()
                break
            if tag == "encoding":
                encode = c
            else:
                decode = c
        else:
            ctx.log(ERROR, f"unknown parameter \"{tag}\" in tag echo of {fn}")
            ctx.error()
            break


def handle_set(ctx: IncludesFilter, args: Args) -> None:
    if not _prelude(ctx, args, "set", len(args) >= 2):
        return
    fn = ctx.r.filename
    var: str | None = None
    encode = ["none"]
    decode = ["none"]
    for tag, raw in args:
        if tag is None or raw is None:
            break
        val = ctx.decode(raw)
        if tag == "var":
            var = ctx.parse_string(val)
        elif tag == "value":
            if var is None:
                ctx.log(ERROR, f"variable must precede value in set directive in {fn}")
                ctx.error()
                break
            v = ctx.parse_string(val)
            for d in decode:
                v = _decode(v, d)
            for e in encode:
                v = _encode(v, e)
            ctx.set_var(var, v)
        elif tag in ("encoding", "decoding"):
            c = _codings(val)
            if c is None:
                ctx.log(ERROR, f"unknown value \"{val}\" to parameter \"{tag}\" of tag set "
                               f"in {fn}")
                ctx.error()
                break
            if tag == "encoding":
                encode = c
            else:
                decode = c
        else:
            ctx.log(ERROR, f"Invalid tag for set directive in {fn}")
            ctx.error()
            break


def handle_printenv(ctx: IncludesFilter, args: Args) -> None:
    fn = ctx.r.filename
    if args:
        ctx.log(ERROR if ctx.printing else WARN, f"printenv directive does not take tags in "
                                                 f"{fn}")
    if not ctx.printing:
        return
    if args:
        ctx.error()
        return
    parts = [f"{escape_html(k)}={escape_html(v)}\n"
             for k, v in ctx.r.subprocess_env.items() if v is not None]
    ctx.emit(_latin1("".join(parts)))


def handle_comment(ctx: IncludesFilter, args: Args) -> None:
    """2.4.21: <!--#comment ... --> outputs nothing."""


def _expr_of(ctx: IncludesFilter, args: Args, element: str) -> str | None:
    fn = ctx.r.filename
    tag, value = args[0]
    if tag != "expr":
        ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag if in {fn}")
        ctx.error()
        return None
    if value is None:
        ctx.log(ERROR, f"missing expr value for if element in {fn}" if element == "if"
                else f"missing expr in elif statement: {fn}")
        ctx.error()
        return None
    return value


def _condition(ctx: IncludesFilter, expr: str, done: Callable[[bool], None]
               ) -> Awaitable[None] | None:
    """Evaluate; call done(result) (or emit the error). Async only for -A."""
    fn = ctx.r.filename or ""
    try:
        root, regex, has_access = expr_mod.parse_cached(expr)
    except expr_mod.ExprError as e:
        ctx.log(ERROR, str(e).format(expr=expr, file=fn))
        ctx.error()
        return None
    acc = expr_mod.access_nodes(root) if has_access else []

    def run(results: dict[str, bool]) -> None:
        try:
            val = expr_mod.evaluate(root, regex, ctx.parse_string, ctx.re_check,
                                    lambda u: results.get(u, False))
        except expr_mod.ExprError as e:
            ctx.log(ERROR, str(e).format(expr=expr, file=fn))
            ctx.error()
            return
        finally:
            expr_mod.release(root)
        done(val)

    if not acc:
        run({})
        return None
    return _with_access(ctx, acc, run)


async def _with_access(ctx: IncludesFilter, nodes: list[expr_mod.Node],
                       run: Callable[[dict[str, bool]], None]) -> None:
    """-A url: true when a sub-request for url passes the access checks (< 400)."""
    results: dict[str, bool] = {}
    for nd in nodes:
        if nd.right is None or nd.right.value is None:
            continue
        url = ctx.parse_string(nd.right.value)
        if url in results:
            continue
        rr = await lookup_uri(ctx.r, url, method="GET")
        results[url] = rr.status < 400
        if not results[url]:
            ctx.log(DEBUG, f"mod_include: The tested subrequest -A \"{url}\" returned an "
                           "error code.")
    run(results)


def _set_cond(ctx: IncludesFilter, val: bool) -> None:
    if val:
        ctx.flags |= PRINTING | COND_TRUE
    else:
        ctx.flags &= ~(PRINTING | COND_TRUE)


def handle_if(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    fn = ctx.r.filename
    if len(args) != 1:
        ctx.log(ERROR if ctx.printing else WARN,
                f"too many arguments for if element in {fn}" if args else
                f"missing expr argument for if element in {fn}")
    if not ctx.printing:
        ctx.if_nesting += 1
        return None
    if len(args) != 1:
        ctx.error()
        return None
    expr = _expr_of(ctx, args, "if")
    if expr is None:
        return None

    def done(val: bool) -> None:
        _set_cond(ctx, val)
        ctx.if_nesting = 0

    return _condition(ctx, expr, done)


def handle_elif(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    fn = ctx.r.filename
    if len(args) != 1:
        ctx.log(WARN if ctx.if_nesting else ERROR,
                f"too many arguments for if element in {fn}" if args else
                f"missing expr argument for if element in {fn}")
    if ctx.if_nesting:
        return None
    if len(args) != 1:
        ctx.error()
        return None
    expr = _expr_of(ctx, args, "elif")
    if expr is None:
        return None
    if ctx.flags & COND_TRUE:
        ctx.flags &= ~PRINTING
        return None
    return _condition(ctx, expr, lambda val: _set_cond(ctx, val))


def handle_else(ctx: IncludesFilter, args: Args) -> None:
    if args:
        ctx.log(WARN if ctx.if_nesting else ERROR,
                f"else directive does not take tags in {ctx.r.filename}")
    if ctx.if_nesting:
        return
    if args:
        if ctx.printing:
            ctx.error()
        return
    if ctx.flags & COND_TRUE:
        ctx.flags &= ~PRINTING
    else:
        ctx.flags |= PRINTING | COND_TRUE


def handle_endif(ctx: IncludesFilter, args: Args) -> None:
    if args:
        ctx.log(WARN if ctx.if_nesting else ERROR,
                f"endif directive does not take tags in {ctx.r.filename}")
    if ctx.if_nesting:
        ctx.if_nesting -= 1
        return
    if args:
        ctx.error()
        return
    ctx.flags |= PRINTING | COND_TRUE


# include, fsize, flastmod: sub-requests
def _relative_ok(path: str) -> str | None:
    """apr_filepath_merge(NOTABSOLUTE|NOTABOVEROOT): a relative path that stays at or
    below the document's directory, normalised; None otherwise."""
    if not path or path.startswith("/"):
        return None
    depth = 0
    segs: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            depth -= 1
            if depth < 0:
                return None
            segs.pop()
            continue
        depth += 1
        segs.append(seg)
    return "/".join(segs) if segs else None


def _start_lookup_file(ctx: IncludesFilter, rel: str
                       ) -> tuple[Request, Awaitable[None] | None]:
    r = ctx.r
    fn = r.filename or "/"
    # the directory of the parsed file (with its slash) + the checked relative path
    return start_lookup_file(r, fn[:fn.rfind("/") + 1] + rel)


def _start_find(ctx: IncludesFilter, element: str, tag: str, val: str
                ) -> tuple[Request | None, Awaitable[None] | None]:
    """find_file's sub-request (None, logged, when the argument is refused); the
    awaitable finishes its phases when one waits."""
    if tag == "file":
        rel = _relative_ok(val)
        if rel is None:
            ctx.log(ERROR, f"unable to access file \"{val}\" in parsed file {ctx.r.filename}")
            return None, None
        return _start_lookup_file(ctx, rel)
    if tag == "virtual":
        return start_lookup_uri(ctx.r, val, "GET")
    ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag {element} in {ctx.r.filename}")
    return None, None


def _found(ctx: IncludesFilter, tag: str, val: str, rr: Request | None
           ) -> os.stat_result | None:
    """find_file's answer from the looked-up sub-request (errors logged)."""
    if rr is None:
        return None
    fn = ctx.r.filename
    if tag == "file":
        if rr.status == 200 and rr.finfo is not None:
            # Apache stats rr->filename again: the sub-request's own stat of it, made
            # just now, answers the same
            return rr.finfo
        ctx.log(ERROR, f"unable to lookup information about \"{val}\" in parsed file {fn}")
        return None
    if rr.status == 200 and rr.finfo is not None:
        return rr.finfo
    ctx.log(ERROR, f"unable to get information about \"{val}\" in parsed file {fn}")
    return None


async def find_file(ctx: IncludesFilter, element: str, tag: str, val: str
                    ) -> os.stat_result | None:
    rr, aw = _start_find(ctx, element, tag, val)
    if aw is not None:
        await aw
    return _found(ctx, tag, val, rr)


def _size_text(ctx: IncludesFilter, size: int) -> str:
    if not ctx.flags & SIZE_IN_BYTES:
        return strfsize(size)
    return f"{size:,}"


def handle_fsize(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    if not _prelude(ctx, args, "fsize", bool(args)):
        return None
    return _file_info(ctx, args, "fsize", 0)


def handle_flastmod(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    if not _prelude(ctx, args, "flastmod", bool(args)):
        return None
    return _file_info(ctx, args, "flastmod", 0)


def _file_info(ctx: IncludesFilter, args: Args, element: str, first: int
               ) -> Awaitable[None] | None:
    """fsize/flastmod from argument ``first`` on; without a coroutine unless a
    sub-request waits."""
    for i in range(first, len(args)):
        tag, raw = args[i]
        if tag is None or raw is None:
            break
        val = ctx.parse_string(ctx.decode(raw))
        rr, aw = _start_find(ctx, element, tag, val)
        if aw is not None:
            return _file_info_wait(ctx, args, element, i, rr, aw)
        if not _file_emit(ctx, element, _found(ctx, tag, val, rr)):
            break
    return None


async def _file_info_wait(ctx: IncludesFilter, args: Args, element: str, i: int,
                          rr: Request | None, aw: Awaitable[None]) -> None:
    await aw
    tag, raw = args[i]
    assert tag is not None and raw is not None
    val = ctx.parse_string(ctx.decode(raw))
    if _file_emit(ctx, element, _found(ctx, tag, val, rr)):
        rest = _file_info(ctx, args, element, i + 1)
        if rest is not None:
            await rest


def _file_emit(ctx: IncludesFilter, element: str, st: os.stat_result | None) -> bool:
    if st is None:
        ctx.error()
        return False
    if element == "fsize":
        ctx.emit(_size_text(ctx, st.st_size).encode("latin-1"))
    else:
        ctx.emit(_latin1(ht_time(st.st_mtime, ctx.time_str, False)))
    return True


def handle_include(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    if not _prelude(ctx, args, "include", bool(args)):
        return None
    return _include(ctx, args)


async def _include(ctx: IncludesFilter, args: Args) -> None:
    fn = ctx.r.filename
    failed = False
    for tag, raw in args:
        if tag is None or raw is None:
            break
        if tag == "virtual" or tag == "file":
            if failed:
                break                    # the last failure had no onerror
        elif tag == "onerror":
            if not failed:
                continue                 # 2.4: only after an include that failed
            tag = "virtual"
        else:
            ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag include in {fn}")
            ctx.error()
            return
        val = ctx.decode(raw)
        # _include_one, inline (one coroutine less per include)
        r = ctx.r
        parsed = ctx.parse_string(val)
        err: str | None = None
        rr: Request | None = None
        aw: Awaitable[None] | None = None
        if tag == "file":
            rel = _relative_ok(parsed)
            if rel is None:
                err = "unable to include file \"{v}\" in parsed file {f}"
            else:
                rr, aw = _start_lookup_file(ctx, rel)
        else:
            rr, aw = start_lookup_uri(r, parsed, "GET")
        if aw is not None:
            await aw
        if rr is not None:
            if rr.status != 200:
                err = "unable to include \"{v}\" in parsed file {f}"
            elif ctx.no_exec and rr.content_type and \
                    not rr.content_type.startswith("text/"):
                err = "unable to include potential exec \"{v}\" in parsed file {f}"
            elif _recursive(r, rr):
                err = "Recursive include of \"{v}\" in parsed file {f}"
            else:
                rr.ctx["ssi_parent"] = r
                rv = await run_sub_req(rr, sink=ctx.sink)
                if rv != OK and rv != DONE:
                    err = "unable to include \"{v}\" in parsed file {f}"
        failed = err is not None
        if err is not None:
            ctx.log(ERROR, err.format(v=val, f=fn))
    if failed:
        ctx.error()


def _recursive(r: Request, rr: Request) -> bool:
    """The included document is one of the documents including it (or was redirected
    from one)."""
    p: Request | None = r
    while p is not None:
        q: Request | None = p
        while q is not None:
            if (q.filename and rr.filename and q.filename == rr.filename) or \
                    (q.uri.startswith("/") and q.uri == rr.uri):
                return True
            q = q.prev
        p = p.main
    return False


ELEMENTS: dict[str, Callable[[IncludesFilter, Args], Awaitable[None] | None]] = {
    "if": handle_if, "set": handle_set, "else": handle_else, "elif": handle_elif,
    "echo": handle_echo, "endif": handle_endif, "fsize": handle_fsize,
    "config": handle_config, "include": handle_include, "flastmod": handle_flastmod,
    "printenv": handle_printenv, "comment": handle_comment,
}
