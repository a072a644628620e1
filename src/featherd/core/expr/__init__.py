"""ap_expr, Apache 2.4's expression language (util_expr_scan.l, util_expr_parse.y,
util_expr_eval.c; the manual's expr.html), for Require expr and later <If>, Header
expr=, SetEnvIfExpr, LogMessage.

::

    expr     ::= "true" | "false" | "!" expr | expr "&&" expr | expr "||" expr
               | "(" expr ")" | comp
    comp     ::= word ("=="|"!="|"<"|"<="|">"|">=") word        string comparison
               | word ("-eq"|"-ne"|"-lt"|"-le"|"-gt"|"-ge") word  integers (apr_atoi64)
               | unaryop word | word binaryop word
               | word "-in" "{" word ["," word]... "}" | word "-in" listfunc "(" word ")"
               | word ("=~"|"!~") regex                           then $0..$9 are set
    word     ::= word "." word | digits | "'" string "'" | '"' string '"'
               | "%{" var "}" | "%{" func ":" string "}" | "$" [0-9] | func "(" word ")"

The scanner follows flex's longest-match rules, the parser is an LALR(1) automaton
built from the same grammar, precedences and symbol numbers as Apache's bison parser,
with bison's default reductions, so that a bad expression fails with the same words
("syntax error, unexpected T_OP_STR_EQ, expecting $end", "Variable 'X' does not exist",
"Parse error near '&'"). An expression is parsed once (:func:`parse`) into a tree of
closures; :meth:`Expr.exec` evaluates it for a request. Variables, functions and
operators are looked up at parse time in the tables below (case-insensitively except
unary operators); modules may add their own with :func:`register`.

Layout: :mod:`.base` (flags, limits, exceptions), :mod:`.scanner`, :mod:`.grammar` (rules
and LALR(1) tables), :mod:`.variables` and :mod:`.functions` (the lookup tables and
:func:`register`), :mod:`.parser` (semantic actions, the LR driver), :mod:`.evaluate`
(:class:`Expr`, :func:`parse`, :func:`parse_cmd`).
"""

from __future__ import annotations

from featherd.core.expr.base import API_VERSION as API_VERSION
from featherd.core.expr.base import (
    FLAG_DONT_VARY,
    FLAG_RESTRICTED,
    FLAG_STRING_RESULT,
    ExprEvalError,
    ExprSyntaxError,
)
from featherd.core.expr.base import MAX_REG_MATCH as MAX_REG_MATCH
from featherd.core.expr.base import MAX_STRING_LEN as MAX_STRING_LEN
from featherd.core.expr.base import BoolFn as BoolFn
from featherd.core.expr.base import Ctx as Ctx
from featherd.core.expr.base import WordFn as WordFn
from featherd.core.expr.evaluate import Expr, parse, parse_cmd
from featherd.core.expr.evaluate import _subreq_test as _subreq_test
from featherd.core.expr.functions import register
from featherd.core.expr.grammar import _tables as _tables
from featherd.core.expr.scanner import _Lex as _Lex
from featherd.core.expr.variables import VARIABLES

__all__ = ["FLAG_DONT_VARY", "FLAG_RESTRICTED", "FLAG_STRING_RESULT",
           "VARIABLES", "Expr", "ExprEvalError", "ExprSyntaxError", "parse", "parse_cmd",
           "register"]
