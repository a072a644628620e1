"""access_checker, check_user_id and auth_checker with Satisfy, as 2.2's
ap_process_request_internal runs them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.core.hooks import DECLINED, OK, call_all, call_first, run_all, run_first

if TYPE_CHECKING:
    from featherd.core.request import Request


def requires_for(r: Request) -> list[str]:
    """The Require lines that apply to this request's method."""
    c = r.per_dir_config[core.index]
    reqs = c.requires
    if reqs is UNSET or not reqs:
        return []
    m = "GET" if r.method == "HEAD" else r.method   # HEAD is M_GET for <Limit>
    out = []
    for methods, line in reqs:
        if getattr(line, "is_marker", False):        # AuthMerging (mod_authz_core)
            continue
        if methods is None:
            out.append(line)
        elif "__except__" in methods:
            if m not in methods:
                out.append(line)
        elif m in methods:
            out.append(line)
    return out


def some_auth_required(r: Request) -> bool:
    return bool(requires_for(r))


def auth_type(r: Request) -> str | None:
    v = r.per_dir_config[core.index].auth_type
    return None if v is UNSET else v


def auth_name(r: Request) -> str | None:
    v = r.per_dir_config[core.index].auth_name
    return None if v is UNSET else v


def satisfies(r: Request) -> str:
    v = r.per_dir_config[core.index].satisfy
    return "all" if v is UNSET else v


def _decl_die(r: Request, status: Any, why: str) -> int:
    if status == DECLINED:
        r.log_error(3, f"configuration error:  couldn't {why}: {r.uri}")
        return 500
    return int(status)


async def _authn(r: Request) -> int:
    hooks = r.tree.hooks
    st = await run_first(hooks["check_user_id"], r)
    if st != OK or not auth_type(r):
        return _decl_die(r, st if st != OK else DECLINED,
                         "check user.  No user file?" if auth_type(r)
                         else "perform authentication. AuthType not set!")
    st = await run_first(hooks["auth_checker"], r)
    if st != OK or not auth_type(r):
        return _decl_die(r, st if st != OK else DECLINED,
                         "check access.  No groups file?" if auth_type(r)
                         else "perform authentication. AuthType not set!")
    return OK


def check_access(r: Request) -> Any:
    """The access, authentication and authorisation phases with Satisfy. Returns the
    result, or an awaitable when a hook must wait (see hooks.call_all): the common
    request (no Require, no hook that waits) makes no coroutine."""
    if r.main is not None and r.main.per_dir_config is r.per_dir_config:
        # a sub-request with the same config: Apache skips the checks
        r.user = r.main.user
        r.ap_auth_type = r.main.ap_auth_type
        return OK
    hooks = r.tree.hooks.by_name
    if satisfies(r) != "any":
        st = call_all(hooks["access_checker"], r)
        if st.__class__ is not int:
            return _check_access_all(r, st)
        if st != OK:
            return _decl_die(r, st, "check access")
        return _after_access_all(r)
    return _check_access_any(r)


def _after_access_all(r: Request) -> Any:
    # 2.4's access_checker_ex (mod_authz_core): OK grants without a user,
    # DECLINED goes on to authentication, anything else is the answer
    st = call_first(r.tree.hooks.by_name["access_checker_ex"], r)
    if st.__class__ is not int:
        return _ex_then_authn(r, st)
    if st != DECLINED:
        return int(st)
    if some_auth_required(r):
        return _authn(r)
    return OK


async def _check_access_all(r: Request, pending: Any) -> int:
    st = await pending
    if st != OK:
        return _decl_die(r, st, "check access")
    rv = _after_access_all(r)
    if rv.__class__ is not int:
        rv = await rv
    return int(rv)


async def _ex_then_authn(r: Request, pending: Any) -> int:
    st = await pending
    if st != DECLINED:
        return int(st)
    if some_auth_required(r):
        return await _authn(r)
    return OK


async def _check_access_any(r: Request) -> int:
    hooks = r.tree.hooks
    st = await run_all(hooks["access_checker"], r)
    if st != OK:
        ex = await run_first(hooks["access_checker_ex"], r)
        if ex != DECLINED:
            return int(ex)
        if not some_auth_required(r):
            return _decl_die(r, st, "check access")
        return await _authn(r)
    return OK
