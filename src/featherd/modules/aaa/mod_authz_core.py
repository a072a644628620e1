"""The 2.4 authorisation syntax (mod_authz_core), layered over 2.2's Require.

2.2 configurations keep 2.2's behaviour: the core stores each ``Require`` line and the
mod_authz_* modules' auth_checker hooks judge them in turn (the *Authoritative chain).
As soon as the lines that apply to a request use 2.4's syntax -- a provider that only
2.4 has (``all``, ``ip``, ``host``, ``local``, ``env``, ``method``), ``Require not``, a
<RequireAll>/<RequireAny>/<RequireNone> container or AuthMerging -- they are judged as
2.4's mod_authz_core does: a tree of providers evaluated to granted / denied / neutral /
"denied, no user" (apply_authz_sections), first without a user (access_checker_ex),
then after authentication (auth_checker).

Containers are kept as entries of the core's Require list whose line is an
:class:`AuthzSection`; AuthMerging puts a marker there that the core's merge hands to
:meth:`MergeMarker.merge_requires`.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import auth_type
from featherd.core.core_module import core
from featherd.core.expr import ExprEvalError, ExprSyntaxError
from featherd.core.expr import parse as expr_parse
from featherd.core.hooks import DECLINED, FIRST, OK
from featherd.core.module import Module
from featherd.errors import ConfigError, DirectiveError
from featherd.modules.aaa.common import (
    AUTHZ_DENIED,
    AUTHZ_DENIED_NO_USER,
    AUTHZ_GENERAL_ERROR,
    AUTHZ_GRANTED,
    AUTHZ_NEUTRAL,
    DEBUG,
    ERROR,
    maybe_await,
    method_number,
    note_auth_failure,
    require_words,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

AND, OR = "and", "or"
#: providers that exist only in 2.4: a Require line naming one is judged the 2.4 way
V24_ONLY = frozenset({"all", "ip", "host", "local", "env", "method", "expr", "forward-dns",
                      "ssl", "ssl-verify-client"})   # the last two: mod_ssl's


def _spec(methods: Any) -> tuple[frozenset[str], bool] | None:
    """The core's (methods or None, with "__except__" for <LimitExcept>) as a spec."""
    if methods is None:
        return None
    if "__except__" in methods:
        return (frozenset(methods) - {"__except__"}, True)
    return (frozenset(methods), False)


class Node:
    """One authz_section_conf: a provider line or a container of them."""

    __slots__ = ("limited", "negate", "op", "children", "provider_name", "provider", "args",
                 "parsed", "tag")

    def __init__(self) -> None:
        self.limited: list[Any] | None = []    # specs, None = every method
        self.negate = False
        self.op = OR
        self.children: list[Node] = []
        self.provider_name = ""
        self.provider: Any = None
        self.args = ""
        self.parsed: Any = None
        self.tag = "RequireAny"

    def applies(self, method: str) -> bool:
        if self.limited is None:
            return True
        m = method_number(method)
        for spec in self.limited:
            if spec is None or (m in spec[0]) != spec[1]:
                return True
        return False

    def add_limited(self, lim: list[Any] | None) -> None:
        if self.limited is None or lim is None:
            self.limited = None
        else:
            self.limited = [*self.limited, *lim]


class AuthzSection:
    """A <RequireAll|Any|None> container stored as a Require entry."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node


class MergeMarker:
    """AuthMerging Off|And|Or, as an entry of the core's Require list."""

    __slots__ = ("op",)
    is_marker = True

    def __init__(self, op: str) -> None:
        self.op = op

    def merge_requires(self, base: Any, new: Any) -> Any:
        mine = [e for e in new if not getattr(e[1], "is_marker", False)]
        if not mine:
            return base
        if self.op == "off" or base is UNSET or not base:
            return mine
        return [(None, _Combined(self.op, base, mine))]


class _Combined:
    """The result of AuthMerging And/Or: parent's and child's Require sets."""

    __slots__ = ("op", "base", "new")

    def __init__(self, op: str, base: list[Any], new: list[Any]) -> None:
        self.op, self.base, self.new = op, base, new


def make_provider_node(tree: Any, line: str, limited: list[Any] | None) -> Node:
    """add_authz_provider: parse one Require line; DirectiveError as Apache words it."""
    words = line.split(None, 1)
    name = words[0] if words else ""
    rest = words[1] if len(words) > 1 else ""
    n = Node()
    if name.lower() == "not":
        n.negate = True
        parts = rest.split(None, 1)
        name = parts[0] if parts else ""
        rest = parts[1] if len(parts) > 1 else ""
    prov = tree.providers.get(("authz", name.lower()))
    if prov is None:
        raise DirectiveError(f"Unknown Authz provider: {name}")
    n.provider_name = name
    n.provider = prov
    n.args = rest
    n.limited = limited
    parse = getattr(prov, "parse", None)
    n.parsed = parse(rest) if parse is not None else None
    return n


def _entries_node(tree: Any, entries: list[Any], op: str, tag: str) -> Node:
    top = Node()
    top.op = op
    top.tag = tag
    for methods, line in entries:
        if getattr(line, "is_marker", False):
            continue
        lim = [_spec(methods)] if methods is not None else None
        if isinstance(line, AuthzSection):
            child = line.node
        elif isinstance(line, _Combined):
            child = Node()
            child.op = AND if line.op == "and" else OR
            child.tag = "AuthMerging"
            for part in (line.base, line.new):
                sub = _entries_node(tree, part, OR, "RequireAny")
                child.children.append(sub)
                child.add_limited(sub.limited)
        else:
            child = make_provider_node(tree, line, lim)
            if child.negate and op == OR:
                raise DirectiveError(f"negative Require directive has no effect in <{tag}> "
                                     "directive")
        if not child.negate and child.op == op and child.provider is None \
                and isinstance(line, AuthzSection):
            for c in child.children:        # be associative
                top.children.append(c)
        else:
            top.children.append(child)
        top.add_limited(child.limited)
    return top


def is_24(entries: list[Any]) -> bool:
    for _, line in entries:
        if not isinstance(line, str):
            return True
        w, rest = require_words(line)
        lw = w.lower()
        if lw == "not" or lw in V24_ONLY:
            return True
    return False


# --- the module ------------------------------------------------------------------------------
authz_core = Module("authz_core_module", "mod_authz_core.c",
                    description="Core Authorization (2.4 syntax)")

_CONTAINERS = {"requireall": (AND, False, "RequireAll"), "requireany": (OR, False, "RequireAny"),
               "requirenone": (OR, True, "RequireNone")}


def _core_conf(cmd: CmdParms) -> Any:
    confs = cmd.dir_confs if cmd.dir_confs is not None else cmd.server.lookup_defaults
    return confs[core.index]


def _container(cmd: CmdParms, raw: str) -> None:
    """add_authz_section: gather the Require lines inside into one node."""
    assert cmd.node is not None and cmd.node.children is not None
    op, negate, tag = _CONTAINERS[cmd.node.name.lower()]
    if raw.strip():
        raise DirectiveError(f"<{tag}> directive doesn't take additional arguments")
    c = _core_conf(cmd)
    saved = c.requires
    c.requires = UNSET
    try:
        cmd.child(extra={**cmd.extra, "authz_op": op, "authz_tag": tag}).walk(
            cmd.node.children)
        collected = c.requires if c.requires is not UNSET else []
    finally:
        c.requires = saved
    markers = [e for e in collected if getattr(e[1], "is_marker", False)]
    entries = [e for e in collected if not getattr(e[1], "is_marker", False)]
    if not entries:
        raise DirectiveError(f"<{tag}> directive contains no authorization directives")
    node = _entries_node(cmd.tree, entries, op, tag)
    node.negate = negate
    outer_op = cmd.extra.get("authz_op", OR)
    outer_tag = cmd.extra.get("authz_tag", "RequireAny")
    if negate and outer_op == OR:
        raise DirectiveError(f"<{tag}> directive has no effect in <{outer_tag}> directive")
    if all(ch.negate for ch in node.children):
        raise DirectiveError(f"<{tag}> directive contains only negative authorization "
                             "directives")
    methods = cmd.limited
    if cmd.limit_except and methods is not None:
        methods = frozenset({"__except__", *methods})
    c.requires = [*(c.requires or []), (methods, AuthzSection(node)), *markers]


_HELP = {"RequireAll": "of which none must fail for this directive to succeed",
         "RequireAny": "of which one must succeed for this directive to succeed",
         "RequireNone": "of which none must succeed for this directive to not fail"}


def _container_directive(cmd: CmdParms, conf: Any, raw: str) -> None:
    _container(cmd, raw)


for _tag in ("RequireAll", "RequireAny", "RequireNone"):
    authz_core.directive(_tag, args=ArgSpec.RAW_ARGS, context=Context.DIR_HTACCESS,
                         override=Override.AUTHCFG, container=True,
                         syntax=f"<{_tag}> ... </{_tag}>",
                         help="container for grouping authorization directives "
                              + _HELP[_tag])(_container_directive)


@authz_core.directive("AuthMerging", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                      override=Override.AUTHCFG, syntax="AuthMerging Off | And | Or",
                      help="controls how a <Directory>, <Location>, or similar directive's "
                           "authorization directives are combined with those of its "
                           "predecessor")
def auth_merging(cmd: CmdParms, conf: Any, v: str) -> None:
    lv = v.lower()
    if lv not in ("off", "and", "or"):
        raise DirectiveError("AuthMerging must be one of: Off | And | Or")
    c = _core_conf(cmd)
    cur = [e for e in (c.requires or []) if not getattr(e[1], "is_marker", False)]
    c.requires = [*cur, (None, MergeMarker(lv))]


# --- evaluation (apply_authz_sections) ----------------------------------------------------------
def _fold(op: str, res: int, cr: int) -> tuple[int, bool]:
    """One child's result folded into its container's (apply_authz_sections): the new
    result, and whether the container is decided."""
    if cr == AUTHZ_NEUTRAL:
        return res, False
    if op == AND:
        if cr == AUTHZ_DENIED:
            return cr, True
        if (cr == AUTHZ_DENIED_NO_USER and res != AUTHZ_DENIED) or res == AUTHZ_NEUTRAL:
            return cr, False
        return res, False
    if cr == AUTHZ_GRANTED:
        return cr, True
    if (cr == AUTHZ_DENIED_NO_USER and res == AUTHZ_DENIED) or res == AUTHZ_NEUTRAL:
        return cr, False
    return res, False


def _negated(node: Node, res: int) -> int:
    if node.negate:
        if res == AUTHZ_GRANTED:
            return AUTHZ_DENIED
        if res in (AUTHZ_DENIED, AUTHZ_DENIED_NO_USER):
            return AUTHZ_NEUTRAL
    return res


class _NeedAsync(Exception):
    """A provider answered with an awaitable: finish the evaluation in async mode."""


def _apply_sync(r: Request, node: Node, parent_op: str, memo: dict[int, Any]) -> int:
    """apply_sections without a coroutine, for trees whose providers answer at once
    (Require all/env/method/ip...). Each provider's answer goes into ``memo``; the first
    awaitable stops the walk, and apply_sections carries on from the memo, so no
    provider is asked twice."""
    if not node.applies(r.method):
        return AUTHZ_GRANTED if parent_op == AND else AUTHZ_NEUTRAL
    if node.provider is not None:
        r.notes["authz_provider_name"] = node.provider_name
        try:
            res = node.provider.check(r, node.args, node.parsed)
        finally:
            r.notes.pop("authz_provider_name", None)
        memo[id(node)] = res
        if res.__class__ is not int and inspect.isawaitable(res):
            raise _NeedAsync
    else:
        res = AUTHZ_NEUTRAL
        for child in node.children:
            cr = _apply_sync(r, child, node.op, memo)
            if cr == AUTHZ_GENERAL_ERROR:
                return AUTHZ_GENERAL_ERROR
            res, stop = _fold(node.op, res, cr)
            if stop:
                break
    return _negated(node, res)


async def apply_sections(r: Request, node: Node, parent_op: str,
                         memo: dict[int, Any] | None = None) -> int:
    if not node.applies(r.method):
        return AUTHZ_GRANTED if parent_op == AND else AUTHZ_NEUTRAL
    if node.provider is not None:
        if memo is not None and id(node) in memo:
            res = await maybe_await(memo[id(node)])     # asked already by _apply_sync
        else:
            r.notes["authz_provider_name"] = node.provider_name
            try:
                res = await maybe_await(node.provider.check(r, node.args, node.parsed))
            finally:
                r.notes.pop("authz_provider_name", None)
    else:
        res = AUTHZ_NEUTRAL
        for child in node.children:
            cr = await apply_sections(r, child, node.op, memo)
            if cr == AUTHZ_GENERAL_ERROR:
                return AUTHZ_GENERAL_ERROR
            res, stop = _fold(node.op, res, cr)
            if stop:
                break
    return _negated(node, res)


_TREES: dict[int, tuple[Any, Node | None, str | None]] = {}


def tree_for(r: Request) -> Node | None:
    """The 2.4 tree for this request's Require lines, or None in 2.2 mode."""
    reqs = r.per_dir_config[core.index].requires
    if reqs is UNSET or not reqs:
        return None
    hit = _TREES.get(id(reqs))
    if hit is None or hit[0] is not reqs:
        node: Node | None = None
        err = None
        if is_24(reqs):
            try:
                node = _entries_node(r.tree, reqs, OR, "RequireAny")
            except DirectiveError as e:
                err = e.message
        if len(_TREES) > 10000:
            _TREES.clear()
        hit = (reqs, node, err)
        _TREES[id(reqs)] = hit
    if hit[2] is not None:
        raise DirectiveError(hit[2])
    return hit[1]


def _authorize(r: Request, after_authn: bool) -> Any:
    """DECLINED at once where no Require applies; otherwise an awaitable."""
    try:
        node = tree_for(r)
    except DirectiveError as e:
        r.log_error(ERROR, f"{e}")
        return 500
    if node is None:
        return DECLINED
    memo: dict[int, Any] = {}
    try:
        res = _apply_sync(r, node, AND, memo)
    except _NeedAsync:
        return _authorize_node(r, node, after_authn, memo)
    return _judge(r, res, after_authn)


async def _authorize_node(r: Request, node: Node, after_authn: bool,
                          memo: dict[int, Any]) -> int:
    return _judge(r, await apply_sections(r, node, AND, memo), after_authn)


def _judge(r: Request, res: int, after_authn: bool) -> int:
    if res == AUTHZ_GRANTED:
        r.log_error(DEBUG, f"authorization result: granted ({r.uri})")
        return OK
    if res == AUTHZ_DENIED_NO_USER:
        if after_authn:
            r.log_error(ERROR, f"authorization failure (no authenticated user): {r.uri}")
            if r.user:                      # 2.4: try again (authorize_user_core)
                note_auth_failure(r)
            return 401
        return DECLINED
    if res in (AUTHZ_DENIED, AUTHZ_NEUTRAL):
        if not after_authn or auth_type(r) is None:
            r.log_error(ERROR, "client denied by server configuration: "
                        + (r.filename if r.filename else "uri " + r.uri))
            return 403
        r.log_error(ERROR, f"user {r.user}: authorization failure for \"{r.uri}\": ")
        if r.user:
            note_auth_failure(r)
        return 401
    return 500


@authz_core.hook("access_checker_ex", needs=("Require", "RequireAll", "RequireAny", "RequireNone"))
def authorize_userless(r: Request) -> Any:
    return _authorize(r, False)


@authz_core.hook("auth_checker", order=FIRST)
def authorize_user(r: Request) -> Any:
    return _authorize(r, True)


@authz_core.hook("post_config")
def check_static_requires(tree: Any) -> int:
    """2.4 rejects a bad Require line at start-up: check the sections' 2.4 lines."""
    for s in tree.all_servers():
        vectors = [(s.defn_name, 0, s.lookup_defaults)]
        vectors += [(sec.filename, sec.line, sec.confs) for sec in [*s.sec_dir, *s.sec_url]]
        i = 0
        while i < len(vectors):
            fname, line, confs = vectors[i]
            i += 1
            c = confs[core.index]
            if c is None:
                continue
            for sec in c.sec_file or []:
                vectors.append((sec.filename, sec.line, sec.confs))
            reqs = c.requires
            if reqs is UNSET or not reqs or not is_24(reqs):
                continue
            try:
                _entries_node(tree, reqs, OR, "RequireAny")
            except DirectiveError as e:
                raise ConfigError(str(e), fname, line) from None
    return OK


# --- providers of mod_authz_core: all, env, method ----------------------------------------------
class AllProvider:
    def parse(self, args: str) -> bool:
        a = args.strip().lower()
        if a not in ("granted", "denied"):
            raise DirectiveError("Argument for 'Require all' must be 'granted' or 'denied'")
        return a == "granted"

    def check(self, r: Request, args: str, parsed: Any) -> int:
        return AUTHZ_GRANTED if parsed else AUTHZ_DENIED


class EnvProvider:
    def check(self, r: Request, args: str, parsed: Any) -> int:
        for w in args.split():
            if w in r.subprocess_env:
                return AUTHZ_GRANTED
        return AUTHZ_DENIED


class MethodProvider:
    def parse(self, args: str) -> frozenset[str]:
        return frozenset(method_number(w.upper()) for w in args.split())

    def check(self, r: Request, args: str, parsed: Any) -> int:
        return AUTHZ_GRANTED if method_number(r.method) in parsed else AUTHZ_DENIED


class ExprProvider:
    """Require expr (ap_expr, see featherd.core.expr): judged before authentication
    unless it names %{REMOTE_USER}, which makes it "denied, no user" until a user is
    known (expr_check_authorization)."""

    parse_at_directive = True

    def parse(self, args: str) -> tuple[Any, bool]:
        line = args
        if line.startswith('"') and line.endswith('"'):    # surrounding quotes go
            line = line[1:-1]
        try:
            e = expr_parse(line)
        except ExprSyntaxError as err:
            raise DirectiveError(f"Cannot parse expression in require line: {err}") from None
        return e, e.references("REMOTE_USER")

    def check(self, r: Request, args: str, parsed: Any) -> Any:
        e, want_user = parsed
        if want_user and not r.user:
            return AUTHZ_DENIED_NO_USER
        if e.needs_subreq:
            return self._acheck(r, e, want_user)
        try:
            ok = e.exec(r)
        except ExprEvalError as err:
            return self._failed(r, err)
        return AUTHZ_GRANTED if ok else AUTHZ_DENIED_NO_USER if want_user else AUTHZ_DENIED

    async def _acheck(self, r: Request, e: Any, want_user: bool) -> int:
        try:
            ok = await e.aexec(r)
        except ExprEvalError as err:
            return self._failed(r, err)
        return AUTHZ_GRANTED if ok else AUTHZ_DENIED_NO_USER if want_user else AUTHZ_DENIED

    @staticmethod
    def _failed(r: Request, err: Exception) -> int:
        r.log_error(ERROR, f"Error evaluating expression in 'Require expr': {err}")
        return AUTHZ_GENERAL_ERROR


authz_core.provider("authz", "all", AllProvider())
authz_core.provider("authz", "expr", ExprProvider())
authz_core.provider("authz", "env", EnvProvider())
authz_core.provider("authz", "method", MethodProvider())
