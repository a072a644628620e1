"""Hook specifications and the runners, with Apache's names and policies.

RUN_FIRST: stop at the first result other than DECLINED. RUN_ALL: run all; stop at the
first result other than OK or DECLINED. VOID: run all, results ignored. Hooks are plain
functions or coroutines; the runner awaits only the coroutines.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Any

OK = 0
DECLINED = -1
DONE = -2

REALLY_FIRST = -10
FIRST = 0
MIDDLE = 10
LAST = 20
REALLY_LAST = 30


class Policy(enum.Enum):
    RUN_FIRST = "first"
    RUN_ALL = "all"
    VOID = "void"


#: Every hook a module may register, with its policy, in the order of a request.
HOOK_SPECS: dict[str, Policy] = {
    # server life cycle
    "pre_config": Policy.VOID,
    "post_config": Policy.RUN_ALL,
    "child_init": Policy.VOID,       # (tree, loop) in each worker, inside its event loop
    "child_exit": Policy.VOID,       # (tree) when a worker stops: flush buffers (an
                                     # awaitable returned is awaited: ASGI lifespan)
    "open_logs": Policy.RUN_ALL,     # (tree) after post_config, in the process that serves
    # connection
    "pre_connection": Policy.RUN_ALL,
    "process_connection": Policy.RUN_FIRST,  # (conn) OK: a module took the connection over
    # request phases
    "post_read_request": Policy.RUN_ALL,
    "translate_name": Policy.RUN_FIRST,
    "map_to_storage": Policy.RUN_FIRST,
    "header_parser": Policy.RUN_ALL,
    "access_checker": Policy.RUN_ALL,
    "access_checker_ex": Policy.RUN_FIRST,  # 2.4: authz without a user (mod_authz_core)
    "check_user_id": Policy.RUN_FIRST,
    "auth_checker": Policy.RUN_FIRST,
    "type_checker": Policy.RUN_FIRST,
    "fixups": Policy.RUN_ALL,
    "insert_filter": Policy.VOID,
    "insert_error_filter": Policy.VOID,  # (r) ap_send_error_response restarts the chain
    "handler": Policy.RUN_FIRST,
    "log_transaction": Policy.RUN_ALL,
    # misc
    "quick_handler": Policy.RUN_FIRST,
    "error_log": Policy.VOID,
}


class Hook:
    """The sorted functions of one hook and whether any must be awaited."""

    __slots__ = ("name", "policy", "funcs", "fns", "entries", "any_async")

    def __init__(self, name: str, policy: Policy) -> None:
        self.name = name
        self.policy = policy
        self.entries: list[tuple[int, int, Callable[..., Any], str]] = []
        self.funcs: tuple[tuple[Callable[..., Any], bool], ...] = ()
        self.fns: tuple[Callable[..., Any], ...] = ()     # funcs without the flags
        self.any_async = False

    def add(self, fn: Callable[..., Any], order: int, seq: int, module: str) -> None:
        self.entries.append((order, seq, fn, module))
        self.entries.sort(key=lambda e: (e[0], e[1]))
        self.funcs = tuple((e[2], inspect.iscoroutinefunction(e[2])) for e in self.entries)
        self.fns = tuple(f for f, _ in self.funcs)
        self.any_async = any(a for _, a in self.funcs)

    def modules(self) -> list[str]:
        return [e[3] for e in self.entries]

    def keep_only(self, active: Callable[[str, Callable[..., Any], str], bool]) -> None:
        """Run only the functions ``active`` accepts (``entries`` keeps them all, for
        mod_info and -L); decided once per configuration."""
        self.funcs = tuple((e[2], inspect.iscoroutinefunction(e[2])) for e in self.entries
                           if active(self.name, e[2], e[3]))
        self.fns = tuple(f for f, _ in self.funcs)
        self.any_async = any(a for _, a in self.funcs)


class Hooks:
    """All hooks of a configured server."""

    def __init__(self) -> None:
        self.by_name = {n: Hook(n, p) for n, p in HOOK_SPECS.items()}
        self._seq = 0
        self.pruned = False        # prune() ran: a directive read later prunes again

    def register(self, name: str, fn: Callable[..., Any], order: int, module: str) -> None:
        if name not in self.by_name:
            raise ValueError(f"unknown hook {name!r}")
        self._seq += 1
        self.by_name[name].add(fn, order, self._seq, module)

    def __getitem__(self, name: str) -> Hook:
        return self.by_name[name]

    def prune(self, tree: Any) -> None:
        """Leave out of every hook the functions whose ``needs`` the configuration does
        not meet (see Module.hook): a module with nothing configured costs a request
        nothing. A directive is present once it has been read: from the configuration
        at start-up, or from an .htaccess file later (config/parser.invoke prunes again
        when a directive turns up for the first time; everything an .htaccess file can
        change is read after map_to_storage, so the hooks are back before it matters)."""
        mods = {m.name: m for m in tree.modules}
        used = {n.lower() for n in tree.used_directives}

        def active(hook_name: str, fn: Callable[..., Any], module: str) -> bool:
            m = mods.get(module)
            needs = m.hook_needs.get((hook_name, fn)) if m is not None else None
            if needs is None:
                return True
            if callable(needs):
                return bool(needs(tree))
            if needs is True:
                assert m is not None
                return any(d.name.lower() in used for d in m.directives)
            return any(n.lower() in used for n in needs)

        for hook in self.by_name.values():
            if any(e[3] in mods and mods[e[3]].hook_needs for e in hook.entries):
                hook.keep_only(active)
        self.pruned = True


def run_first_sync(hook: Hook, *args: Any) -> Any:
    for fn, _ in hook.funcs:
        rv = fn(*args)
        if rv != DECLINED:
            return rv
    return DECLINED


async def run_first(hook: Hook, r: Any) -> Any:
    """call_first, awaited (for callers that are coroutines anyway)."""
    rv = call_first(hook, r)
    if rv.__class__ is not int and hasattr(rv, "__await__"):
        rv = await rv
    return rv


def run_all_sync(hook: Hook, *args: Any) -> Any:
    for fn, _ in hook.funcs:
        rv = fn(*args)
        if rv != OK and rv != DECLINED:
            return rv
    return OK


async def run_all(hook: Hook, r: Any) -> Any:
    """call_all, awaited (for callers that are coroutines anyway)."""
    rv = call_all(hook, r)
    if rv.__class__ is not int and hasattr(rv, "__await__"):
        rv = await rv
    return rv


# -- the request path's runners: no coroutine unless a function needs to wait -----------
# A hook function may be a coroutine function, or a plain function that returns an int
# when it can answer at once and an awaitable only when it must wait (the cheap common
# case costs no coroutine). call_first/call_all return the result, or an awaitable the
# caller awaits: ``rv = call_all(h, r); if rv.__class__ is not int: rv = await rv``.
def call_first(hook: Hook, r: Any) -> Any:
    fns = hook.fns
    for fn in fns:
        rv = fn(r)
        if rv.__class__ is not int and hasattr(rv, "__await__"):
            return _first_rest(fns, fns.index(fn), rv, r)
        if rv != DECLINED:
            return rv
    return DECLINED


async def _first_rest(fns: Any, i: int, rv: Any, r: Any) -> Any:
    rv = await rv
    if rv != DECLINED:
        return rv
    for fn in fns[i + 1:]:
        rv = fn(r)
        if rv.__class__ is not int and hasattr(rv, "__await__"):
            rv = await rv
        if rv != DECLINED:
            return rv
    return DECLINED


def call_all(hook: Hook, r: Any) -> Any:
    fns = hook.fns
    for fn in fns:
        rv = fn(r)
        if rv.__class__ is not int:
            if hasattr(rv, "__await__"):
                return _all_rest(fns, fns.index(fn), rv, r)
            continue              # None (a void-style function): as OK
        if rv != OK and rv != DECLINED:
            return rv
    return OK


async def _all_rest(fns: Any, i: int, rv: Any, r: Any) -> Any:
    rv = await rv
    if rv != OK and rv != DECLINED and rv is not None:
        return rv
    for fn in fns[i + 1:]:
        rv = fn(r)
        if rv.__class__ is not int and hasattr(rv, "__await__"):
            rv = await rv
        if rv != OK and rv != DECLINED and rv is not None:
            return rv
    return OK


def run_void_sync(hook: Hook, *args: Any) -> None:
    for fn, _ in hook.funcs:
        fn(*args)
