"""ap_expr's evaluation: :class:`Expr` (ap_expr_exec and ap_expr_str_exec), its
context (the request, the connection, Vary, the last regex match), the sub-requests
of -F/-U/-A, and :func:`parse` with its cache."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from featherd.core.expr.base import (
    FLAG_DONT_VARY,
    FLAG_STRING_RESULT,
    ExprEvalError,
    _NeedSubreq,
)
from featherd.core.expr.parser import _Builder, _parse, _word_fn


class _EvalCtx:
    __slots__ = ("r", "c", "vary", "re_match", "err", "subreqs", "dont_vary")

    def __init__(self, r: Any, c: Any, vary: list[str] | None, dont_vary: bool) -> None:
        self.r = r
        self.c = c
        self.vary = vary
        self.dont_vary = dont_vary
        self.re_match: Any = None
        self.err: str | None = None
        self.subreqs: dict[tuple[str, str], bool] = {}

    def add_vary(self, name: str) -> None:
        if self.vary is not None and not self.dont_vary and name not in self.vary:
            self.vary.append(name)

    def backref(self, n: int) -> str:
        m = self.re_match
        if m is None or not m.string or n > m.re.groups:
            return ""
        return m.group(n) or ""


class Expr:
    """A parsed expression: ``exec(r)`` (bool), ``aexec(r)`` (with -F/-U sub-requests),
    ``exec_string(r)`` (string expressions, FLAG_STRING_RESULT)."""

    __slots__ = ("text", "flags", "filename", "line", "root", "vars", "needs_subreq")

    def __init__(self, text: str, flags: int, root: Any, b: _Builder,
                 filename: str | None, line: int) -> None:
        self.text = text
        self.flags = flags
        self.root = root
        self.vars = frozenset(b.vars)
        self.needs_subreq = b.subreq
        self.filename = filename
        self.line = line

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def references(self, var: str) -> bool:
        """Does the expression name %{var} (e.g. REMOTE_USER, for Require expr)?"""
        return var.upper() in self.vars

    def _ctx(self, r: Any, vary: list[str] | None, c: Any) -> _EvalCtx:
        if c is None and r is not None:
            c = r.connection
        return _EvalCtx(r, c, vary, bool(self.flags & FLAG_DONT_VARY))

    def _run(self, ctx: _EvalCtx) -> Any:
        ctx.re_match = None
        ctx.err = None
        root = self.root
        if self.flags & FLAG_STRING_RESULT:
            v: Any = _word_fn(root)(ctx)
        else:
            v = bool(root(ctx))
        if ctx.err is not None:
            raise ExprEvalError(ctx.err)
        return v

    def exec(self, r: Any, vary: list[str] | None = None, c: Any = None) -> bool:
        """ap_expr_exec: True/False; ExprEvalError when evaluation fails. An expression
        with -F/-U/-A needs :meth:`aexec` (their sub-requests are asynchronous)."""
        try:
            return bool(self._run(self._ctx(r, vary, c)))
        except _NeedSubreq:
            raise ExprEvalError("-F/-U need a sub-request: use aexec()") from None

    async def aexec(self, r: Any, vary: list[str] | None = None, c: Any = None) -> bool:
        ctx = self._ctx(r, vary, c)
        while True:
            try:
                return bool(self._run(ctx))
            except _NeedSubreq as need:
                kind, arg = need.key
                # through the package, where it can be replaced (the tests do)
                from featherd.core import expr as pkg

                ctx.subreqs[need.key] = await pkg._subreq_test(r, kind, arg)

    def exec_string(self, r: Any, vary: list[str] | None = None, c: Any = None) -> str:
        try:
            return str(self._run(self._ctx(r, vary, c)))
        except _NeedSubreq:
            raise ExprEvalError("-F/-U need a sub-request") from None


async def _subreq_test(r: Any, kind: str, arg: str) -> bool:
    from featherd.core import subrequest

    if kind == "U":
        sub = await subrequest.lookup_uri(r, arg)
        return bool(sub.status < 300)
    path = arg
    if not os.path.isabs(path) and r.filename:
        path = os.path.join(os.path.dirname(r.filename), path)
    sub = await subrequest.lookup_file(r, path)
    if sub.status >= 300 or not sub.filename:
        return False
    try:
        os.stat(sub.filename)
    except OSError:
        return False
    return True


@lru_cache(maxsize=4096)
def _parse_cached(text: str, flags: int) -> tuple[Any, _Builder]:
    return _parse(text, flags)


def parse(text: str, flags: int = 0, filename: str | None = None, line: int = 0) -> Expr:
    """ap_expr_parse: ExprSyntaxError with Apache's wording when ``text`` is not an
    expression."""
    root, b = _parse_cached(text, flags)
    return Expr(text, flags, root, b, filename, line)


def parse_cmd(cmd: Any, text: str, flags: int = 0) -> Expr:
    """ap_expr_parse_cmd: remembers the directive's file and line for log messages."""
    node = getattr(cmd, "node", None)
    return parse(text, flags, getattr(node, "filename", None), getattr(node, "line", 0))
