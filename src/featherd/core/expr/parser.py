"""ap_expr's parser: the LR(1) driver over the tables of :mod:`.grammar` and the
semantic actions (ap_expr_make and friends) that turn each rule into a closure; names
are looked up here, at parse time, so that a bad one fails with Apache's words."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from featherd.core.expr.base import (
    FLAG_RESTRICTED,
    FLAG_STRING_RESULT,
    Ctx,
    ExprSyntaxError,
    WordFn,
)
from featherd.core.expr.functions import (
    _BINARY,
    _EXT_BINARY,
    _EXT_FUNCS,
    _EXT_UNARY,
    _FUNCS,
    _LIST_FUNCS,
    _SSL_FUNCS,
    _UNARY,
    _client_ip,
)
from featherd.core.expr.grammar import _RULES, _Tables, _tables
from featherd.core.expr.scanner import _TOKEN_NAMES, _Lex
from featherd.core.expr.variables import _lookup_var
from featherd.util.ipsubnet import BadIP, parse_subnet
from featherd.util.pcre import PCREError, compile_pcre


class _Const:
    """A word that is a literal string (op_String) or digits (op_Digit)."""

    __slots__ = ("value", "kind")

    def __init__(self, value: str, kind: str = "string") -> None:
        self.value = value
        self.kind = kind        # "string" (op_String), "digit", or "concat" of constants


class _LookupError(Exception):
    pass


class _Abort(Exception):
    pass


def _subnet(name: str, arg: Any) -> Any:
    """subnet_parse_arg: -R / -ipmatch want a constant 'net[/mask]'."""
    if not isinstance(arg, _Const) or arg.kind != "string":
        raise _LookupError(f"-{name} requires subnet/netmask as constant argument")
    addr = arg.value
    try:
        return parse_subnet(addr)
    except (BadIP, ValueError):
        raise _LookupError("parsing of subnet/netmask failed") from None


def _word_fn(w: Any) -> WordFn:
    if isinstance(w, _Const):
        v = w.value
        return lambda ctx: v
    return w  # type: ignore[no-any-return]


def _atoi64(s: str) -> int:
    """apr_atoi64: strtoll(s, NULL, 10), clamped, 0 when there are no digits."""
    m = re.match(r"[ \t\n\r\f\v]*([+-]?[0-9]+)", s)
    if m is None:
        return 0
    v = int(m.group(1))
    return max(min(v, 2**63 - 1), -2**63)


_CMP_FN: dict[str, Callable[[Any, Any], bool]] = {
    "T_OP_EQ": lambda a, b: a == b, "T_OP_NE": lambda a, b: a != b,
    "T_OP_LT": lambda a, b: a < b, "T_OP_LE": lambda a, b: a <= b,
    "T_OP_GT": lambda a, b: a > b, "T_OP_GE": lambda a, b: a >= b,
}


class _Builder:
    """The semantic actions, with ctx->error kept as Apache keeps it."""

    def __init__(self, flags: int, lex: _Lex) -> None:
        self.flags = flags
        self.lex = lex
        self.error: str | None = None       # ctx->error (the parser's)
        self.vars: set[str] = set()
        self.subreq = False

    def fail(self, msg: str) -> None:
        """A failed lookup: ctx->error2, where the scanner's errors go too."""
        self.lex.error2 = msg

    def lookup_func(self, name: str) -> Callable[[Ctx, str], str | None] | None:
        hit = _FUNCS.get(name.lower())
        if hit is not None:
            fn, restricted = hit
            if restricted and self.flags & FLAG_RESTRICTED:
                self.fail(f"{name.lower()} not available in restricted context")
                return None
            return fn
        fn2 = _EXT_FUNCS.get(name.lower()) or _SSL_FUNCS.get(name)
        if fn2 is None:
            self.fail(f"Function '{name}' does not exist")
        return fn2

    def act(self, kind: str, v: list[Any], rhs: tuple[str, ...]) -> Any:
        if kind in ("pass", "root"):
            return v[-1]
        if kind == "abort":
            raise _Abort
        if kind == "true":
            return lambda ctx: True
        if kind == "false":
            return lambda ctx: False
        if kind == "not":
            e = v[1]
            return None if e is None else (lambda ctx: not e(ctx))
        if kind in ("or", "and"):
            a, b = v[0], v[2]
            if a is None or b is None:
                return None
            if kind == "or":
                return lambda ctx: a(ctx) or b(ctx)
            return lambda ctx: a(ctx) and b(ctx)
        if kind == "paren":
            return v[1]
        if kind == "comp":
            return v[0]
        if kind == "cmp":
            return self.cmp(rhs[1], v[0], v[2])
        if kind in ("reg", "nre"):
            return self.regex_match(v[0], v[2], kind == "nre")
        if kind == "in":
            return self.in_list(v[0], v[2])
        if kind == "list":
            return ("list", v[1])
        if kind == "words1":
            return [v[0]]
        if kind == "words":
            return [*v[0], v[2]]
        if kind in ("concat2", "concat"):
            return self.concat(v[0], v[-1])
        if kind in ("string", "empty"):
            return _Const(v[0] if kind == "string" else "")
        if kind == "quoted":
            return v[1]
        if kind == "digit":
            return _Const(v[0], "digit")
        if kind == "var":
            return self.var(v[1])
        if kind in ("varfunc", "func"):
            return self.func(v[1] if kind == "varfunc" else v[0], v[3] if kind == "varfunc"
                             else v[2])
        if kind in ("regex", "regex_i"):
            try:
                return compile_pcre(v[0], kind == "regex_i")
            except (PCREError, re.error):
                self.error = "Failed to compile regular expression"
                raise _Abort from None
        if kind == "backref":
            n = v[0]
            return lambda ctx: ctx.backref(n)
        if kind == "listfunc":
            return self.list_func(v[0], v[2])
        if kind == "unary":
            return self.unary(v[0], v[1])
        if kind == "binary":
            return self.binary(v[1], v[0], v[2])
        raise AssertionError(kind)

    def var(self, name: str) -> Any:
        fn = _lookup_var(name)
        if fn is None:
            self.fail(f"Variable '{name}' does not exist")
            return None
        self.vars.add(name.upper())
        f = fn
        return lambda ctx: f(ctx) or ""

    def func(self, name: str, arg: Any) -> Any:
        fn = self.lookup_func(name)
        if fn is None or arg is None:
            return None
        a = _word_fn(arg)
        f = fn
        return lambda ctx: f(ctx, a(ctx)) or ""

    def list_func(self, name: str, arg: Any) -> Any:
        fn = _LIST_FUNCS.get(name)
        if fn is None:
            self.fail(f"List-returning function '{name}' does not exist")
            return None
        return ("func", fn, arg)

    def concat(self, a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(a.value + b.value, "concat")
        fa, fb = _word_fn(a), _word_fn(b)
        return lambda ctx: fa(ctx) + fb(ctx)

    def cmp(self, op: str, a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        fa, fb = _word_fn(a), _word_fn(b)
        if op.startswith("T_OP_STR_"):
            t = _CMP_FN["T_OP_" + op[9:]]
            return lambda ctx: t(fa(ctx), fb(ctx))
        t = _CMP_FN[op]
        return lambda ctx: t(_atoi64(fa(ctx)), _atoi64(fb(ctx)))

    def regex_match(self, a: Any, rx: Any, negate: bool) -> Any:
        if a is None or rx is None:
            return None
        fa = _word_fn(a)
        if rx.groups > 0:
            def match(ctx: Ctx) -> bool:
                s = fa(ctx)
                m = rx.search(s)
                ctx.re_match = m
                return (m is None) if negate else (m is not None)
            return match
        return lambda ctx: (rx.search(fa(ctx)) is None) == negate

    def in_list(self, a: Any, lst: Any) -> Any:
        if a is None or lst is None:
            return None
        fa = _word_fn(a)
        if lst[0] == "list":
            if any(w is None for w in lst[1]):
                return None
            consts = [w.value for w in lst[1] if isinstance(w, _Const)]
            if len(consts) == len(lst[1]):
                cset = frozenset(consts)
                return lambda ctx: fa(ctx) in cset
            fns = [_word_fn(w) for w in reversed(lst[1])]
            return lambda ctx: (lambda s: any(s == f(ctx) for f in fns))(fa(ctx))
        _, fn, arg = lst
        if arg is None:
            return None
        farg = _word_fn(arg)

        def in_func(ctx: Ctx) -> bool:
            needle = fa(ctx)
            hay = fn(ctx, farg(ctx))
            return hay is not None and needle in hay
        return in_func

    def unary(self, name: str, arg: Any) -> Any:
        if name == "R":
            try:
                sub = _subnet("R", arg)
            except _LookupError as e:
                self.fail(str(e))
                return None
            return lambda ctx: sub.test(_client_ip(ctx))
        hit = _UNARY.get(name)
        fn: Any = None
        if hit is not None:
            fn, restricted = hit
            if restricted and self.flags & FLAG_RESTRICTED:
                self.fail(f"-{name} not available in restricted context")
                return None
        else:
            fn = _EXT_UNARY.get(name)
        if fn is None:
            self.fail(f"Unary operator '-{name}' does not exist")
            return None
        if arg is None:
            return None
        if name in "FUA":
            self.subreq = True
        fa = _word_fn(arg)
        f = fn
        return lambda ctx: f(ctx, fa(ctx))

    def binary(self, name: str, a: Any, b: Any) -> Any:
        lname = name.lower()
        if lname == "ipmatch":
            try:
                sub = _subnet("ipmatch", b)
            except _LookupError as e:
                self.fail(str(e))
                return None
            if a is None:
                return None
            fa0 = _word_fn(a)
            return lambda ctx: sub.test(fa0(ctx))
        fn = _BINARY.get(lname) or _EXT_BINARY.get(lname)
        if fn is None:
            self.fail(f"Binary operator '-{name}' does not exist")
            return None
        if a is None or b is None:
            return None
        fa, fb = _word_fn(a), _word_fn(b)
        return lambda ctx: fn(ctx, fa(ctx), fb(ctx))


def _syntax_error(t: _Tables, state: int, tok: str) -> str:
    expected = [x for x in _TOKEN_NAMES if x in t.action[state] and x != "error"]
    msg = f"syntax error, unexpected {tok}"
    if 0 < len(expected) < 5:
        msg += ", expecting " + " or ".join(expected)
    return msg


def _parse(text: str, flags: int) -> tuple[Any, _Builder]:
    t = _tables()
    lex = _Lex(text, bool(flags & FLAG_STRING_RESULT))
    b = _Builder(flags, lex)
    states = [0]
    values: list[Any] = [None]
    look: tuple[str, Any] | None = None
    result: Any = None
    try:
        while True:
            st = states[-1]
            if t.reads[st] and look is None:
                look = lex.next()
            act = t.action[st].get(look[0]) if look is not None else None
            if act is not None and act[0] == "a":
                result = values[-1]
                break
            if act is None:
                d = t.default[st]
                if d is None:
                    assert look is not None
                    b.error = _syntax_error(t, st, look[0])
                    raise _Abort
                act = ("r", d)
            if act[0] == "s":
                assert look is not None
                states.append(act[1])
                values.append(look[1])
                look = None
                continue
            lhs, rhs, kind = _RULES[act[1]]
            n = len(rhs)
            args = values[-n:]
            del states[-n:]
            del values[-n:]
            values.append(b.act(kind, args, rhs))
            states.append(t.goto[states[-1]][lhs])
    except _Abort:
        result = None
    if b.error is not None or lex.error2 is not None:
        if b.error is not None and lex.error2 is not None:
            raise ExprSyntaxError(f"{b.error}: {lex.error2}")
        raise ExprSyntaxError(b.error or lex.error2)
    if result is None:
        raise ExprSyntaxError("syntax error")
    return result, b
