"""ap_expr's flags, limits, exceptions and the types its tables share
(ap_expr.h, util_expr_private.h)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FLAG_DONT_VARY = 2
FLAG_RESTRICTED = 4
FLAG_STRING_RESULT = 8

MAX_STRING_LEN = 8192
MAX_REG_MATCH = 10
API_VERSION = "20051115"        # MODULE_MAGIC_NUMBER_MAJOR (featherd is 2.2)

Ctx = Any      # an _EvalCtx (featherd.core.expr.evaluate)
WordFn = Callable[[Ctx], str]
BoolFn = Callable[[Ctx], bool]


class ExprSyntaxError(ValueError):
    """A parse failure; ``str()`` is Apache's text (after "Cannot parse expression in
    require line: " for Require expr)."""


class ExprEvalError(RuntimeError):
    """An evaluation failure (ap_expr_exec returned -1), e.g. "Unable to open file x"."""


class _NeedSubreq(Exception):
    """Raised during a synchronous pass: -F/-U needs a sub-request first."""

    def __init__(self, key: tuple[str, str]) -> None:
        super().__init__(key)
        self.key = key
