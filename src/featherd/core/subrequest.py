"""Sub-requests (ap_sub_req_lookup_uri / ap_sub_req_lookup_file / ap_run_sub_req):
a URI or a file beside the current one mapped through the phases up to fixups, without
a coroutine when no hook waits, then its handler run with the output going into the
including response (or a sink)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from featherd.config.merge import UNSET
from featherd.core.access import check_access
from featherd.core.core_module import core
from featherd.core.hooks import DECLINED, DONE, OK, call_all, call_first
from featherd.core.http_request import release_request
from featherd.core.request import BadURI, Request, invoke_handler, parse_uri
from featherd.core.walk import WalkError, location_confs, location_walk
from featherd.errors import HTTPError
from featherd.filters.chain import pass_brigade

ERROR = 3


async def lookup_uri(r: Request, uri: str, *, method: str | None = None) -> Request:
    """ap_sub_req_lookup_uri: map ``uri`` (relative to r.uri's directory when it does not
    start with '/') through the phases up to fixups; sub.status tells the outcome."""
    sub, aw = start_lookup_uri(r, uri, method)
    if aw is not None:
        await aw
    return sub


def start_lookup_uri(r: Request, uri: str, method: str | None = None
                     ) -> tuple[Request, Awaitable[None] | None]:
    """lookup_uri without a coroutine when no phase waits: the sub-request, and an
    awaitable to finish its phases (None when they are done)."""
    if uri[:1] != "/":
        uri = r.uri.rsplit("/", 1)[0] + "/" + uri
    sub = _new_sub(r)
    sub.method = method or ("GET" if r.method == "HEAD" else r.method)
    try:
        parse_uri(sub, uri)
    except BadURI as e:
        sub.status = e.status
        return sub, None
    return sub, _sub_phases(sub, 0)


async def lookup_file(r: Request, filename: str) -> Request:
    """ap_sub_req_lookup_file: a file beside r.filename (same URI directory)."""
    sub, aw = start_lookup_file(r, filename)
    if aw is not None:
        await aw
    return sub


def start_lookup_file(r: Request, filename: str
                      ) -> tuple[Request, Awaitable[None] | None]:
    """lookup_file without a coroutine when no phase waits (see start_lookup_uri)."""
    sub = _new_sub(r)
    sub.method = "GET" if r.method == "HEAD" else r.method
    sub.uri = r.uri.rsplit("/", 1)[0] + "/" + filename[filename.rfind("/") + 1:]
    sub.filename = filename
    return sub, _sub_phases(sub, 1)


def _new_sub(r: Request) -> Request:
    """make_sub_request + ap_set_sub_req_protocol: what Apache copies from the parent."""
    sub = Request(r.connection, r.server, r.tree, r.headers_in, r.request_time)
    sub.main = r
    sub.is_subrequest = True
    sub.the_request = r.the_request
    sub.protocol = r.protocol
    sub.proto_num = r.proto_num
    sub.hostname = r.hostname
    sub.subprocess_env = r.subprocess_env.copy()
    sub.user = r.user
    sub.ap_auth_type = r.ap_auth_type
    # header_only is False (the class default): a sub-request always makes its body
    sub.no_local_copy = True     # ap_set_sub_req_protocol: never a 304 for a fragment
    d = r.redirect_depth + 1
    m = r.main
    while m is not None:
        d += 1
        m = m.main
    sub.redirect_depth = d
    return sub


async def _run_sub_phases(sub: Request, translate: bool) -> None:
    aw = _sub_phases(sub, 0 if translate else 1)
    if aw is not None:
        await aw


# The phases a sub-request goes through (ap_process_request_internal for r->main):
# translate_name, map_to_storage, the access checks (header_parser runs only on the
# main request, as in Apache), type_checker, fixups. Each step answers a status, or an
# awaitable when a hook must wait.
def _step_translate(sub: Request) -> Any:
    return call_first(sub.tree.hooks.by_name["translate_name"], sub)


def _step_storage(sub: Request) -> Any:
    locs = location_walk(sub)
    sub.location_sections = tuple(locs)
    sub.per_dir_config = location_confs(sub, locs)
    return call_first(sub.tree.hooks.by_name["map_to_storage"], sub)


def _step_types(sub: Request) -> Any:
    return call_first(sub.tree.hooks.by_name["type_checker"], sub)


def _step_fixups(sub: Request) -> Any:
    return call_all(sub.tree.hooks.by_name["fixups"], sub)


# What each step accepts to go on; anything else is the sub-request's status (DECLINED
# from translate_name: 500, no module mapped the URI).
_GO_TRANSLATE = frozenset((OK, DONE))
_GO_STORAGE = frozenset((OK, DECLINED, DONE))
_GO_OK = frozenset((OK,))
_GO_TYPES = frozenset((OK, DECLINED))

_SUB_STEPS: tuple[tuple[Any, frozenset[int]], ...] = (
    (_step_translate, _GO_TRANSLATE),
    (_step_storage, _GO_STORAGE),
    (check_access, _GO_OK),
    (_step_types, _GO_TYPES),
    (_step_fixups, _GO_OK),
)


def _sub_phases(sub: Request, first: int) -> Awaitable[None] | None:
    """The nesting limit, then the steps from ``first`` (0: with translate_name; 1: a
    file's sub-request); an awaitable for the rest when a hook waits."""
    sc = sub.server.module_config[core.index]
    limit = sc.subreq_limit if sc.subreq_limit is not UNSET else 10
    if sub.redirect_depth > limit:
        sub.log_error(ERROR, f"Request exceeded the limit of {limit} subrequest nesting "
                             "levels due to probable confguration error. Use "
                             "'LimitInternalRecursion' to increase the limit if "
                             "necessary. Use 'LogLevel debug' to get a backtrace.")
        sub.status = 500
        return None
    return _sub_steps(sub, first)


def _sub_steps(sub: Request, first: int) -> Awaitable[None] | None:
    try:
        for i in range(first, 5):
            step, go = _SUB_STEPS[i]
            rv = step(sub)
            if rv.__class__ is not int:
                return _sub_phases_wait(sub, i, rv)
            if rv not in go:
                sub.status = 500 if rv == DECLINED else rv
                return None
    except WalkError as e:
        if e.log:
            sub.log_error(e.level, e.log)
        sub.status = e.status
    return None


async def _sub_phases_wait(sub: Request, i: int, pending: Any) -> None:
    try:
        rv = await pending
    except WalkError as e:
        if e.log:
            sub.log_error(e.level, e.log)
        sub.status = e.status
        return
    if rv not in _SUB_STEPS[i][1]:
        sub.status = 500 if rv == DECLINED else rv
        return
    if i == 4:
        return
    aw = _sub_steps(sub, i + 1)
    if aw is not None:
        await aw


async def run_sub_req(sub: Request, sink: Any = None) -> int:
    """ap_run_sub_req: run the handler; its body goes into the main request's chain, or to
    ``sink(buckets)`` (Apache's next_filter: mod_include passes the filters after its own)."""
    main = sub.main
    assert main is not None
    sub.ctx["sub_sink"] = sink if sink is not None else \
        (lambda bb: pass_brigade(main, bb) if bb else None)
    try:
        rv = await invoke_handler(sub)
    except HTTPError as e:
        rv = e.status
    finally:
        release_request(sub)          # ap_destroy_sub_req: its filters are done
    if rv not in (OK, DONE):
        sub.status = rv
    return rv
