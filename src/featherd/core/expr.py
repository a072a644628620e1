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
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import re
import stat
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from featherd.modules.aaa.common import BadIP, parse_subnet
from featherd.modules.mappers.rewrite.regex import PCREError, compile_pcre

FLAG_DONT_VARY = 2
FLAG_RESTRICTED = 4
FLAG_STRING_RESULT = 8

MAX_STRING_LEN = 8192
MAX_REG_MATCH = 10
API_VERSION = "20051115"        # MODULE_MAGIC_NUMBER_MAJOR (featherd is 2.2)


class ExprSyntaxError(ValueError):
    """A parse failure; ``str()`` is Apache's text (after "Cannot parse expression in
    require line: " for Require expr)."""


class ExprEvalError(RuntimeError):
    """An evaluation failure (ap_expr_exec returned -1), e.g. "Unable to open file x"."""


# --- scanner (util_expr_scan.l) ----------------------------------------------------------
_TOKEN_NAMES = (
    "$end", "error", "$undefined", "T_TRUE", "T_FALSE", "T_EXPR_BOOL", "T_EXPR_STRING",
    "T_ERROR", "T_DIGIT", "T_ID", "T_STRING", "T_REGEX", "T_REGEX_I", "T_REGEX_BACKREF",
    "T_OP_UNARY", "T_OP_BINARY", "T_STR_BEGIN", "T_STR_END", "T_VAR_BEGIN", "T_VAR_END",
    "T_OP_EQ", "T_OP_NE", "T_OP_LT", "T_OP_LE", "T_OP_GT", "T_OP_GE", "T_OP_REG", "T_OP_NRE",
    "T_OP_IN", "T_OP_STR_EQ", "T_OP_STR_NE", "T_OP_STR_LT", "T_OP_STR_LE", "T_OP_STR_GT",
    "T_OP_STR_GE", "T_OP_CONCAT", "T_OP_OR", "T_OP_AND", "T_OP_NOT", "'('", "')'", "'{'",
    "'}'", "','", "':'")
_REGEX_DELIMS = frozenset("/#$%^,;:_?|-!.'\"")
_WORDS = {"and": "T_OP_AND", "or": "T_OP_OR", "not": "T_OP_NOT", "lt": "T_OP_LT",
          "le": "T_OP_LE", "gt": "T_OP_GT", "ge": "T_OP_GE", "ne": "T_OP_NE", "eq": "T_OP_EQ",
          "in": "T_OP_IN", "true": "T_TRUE", "false": "T_FALSE"}
_DASH_WORDS = {"-in": "T_OP_IN", "-eq": "T_OP_EQ", "-ne": "T_OP_NE", "-ge": "T_OP_GE",
               "-le": "T_OP_LE", "-gt": "T_OP_GT", "-lt": "T_OP_LT"}
_OPS2 = {"==": "T_OP_STR_EQ", "!=": "T_OP_STR_NE", "<=": "T_OP_STR_LE", ">=": "T_OP_STR_GE",
         "=~": "T_OP_REG", "!~": "T_OP_NRE", "&&": "T_OP_AND", "||": "T_OP_OR"}
_OPS1 = {"=": "T_OP_STR_EQ", "<": "T_OP_STR_LT", ">": "T_OP_STR_GT", "!": "T_OP_NOT",
         ".": "T_OP_CONCAT", "(": "'('", ")": "')'", "{": "'{'", "}": "'}'", ",": "','",
         ":": "':'"}
_ID_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
_DASH_RE = re.compile(r"-[a-zA-Z_][a-zA-Z_0-9]*")
_DIGIT_RE = re.compile(r"-?[0-9]+")
_STR_CHARS = re.compile(r"[^\\\n\"'%}$]+")
_VARARG_CHARS = re.compile(r"[^%$}]+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


class _Lex:
    """The scanner: ``next()`` returns (token name, value); errors set ``error2`` and
    return T_ERROR as PERROR does."""

    def __init__(self, text: str, string_result: bool) -> None:
        self.s = text
        self.i = 0
        self.string_result = string_result
        self.at_start = True
        self.stack = ["INITIAL"]
        self.buf: list[str] = []
        self.delim = ""
        self.error2: str | None = None

    def _err(self, msg: str) -> tuple[str, Any]:
        self.error2 = msg
        return "T_ERROR", None

    def _append(self, c: str) -> tuple[str, Any] | None:
        if len(self.buf) >= MAX_STRING_LEN - 1:
            return self._err("String too long")
        self.buf.append(c)
        return None

    def _flush(self) -> tuple[str, Any]:
        v = "".join(self.buf)
        self.buf = []
        return "T_STRING", v

    def next(self) -> tuple[str, Any]:
        if self.at_start:
            self.at_start = False
            if self.string_result:
                self.stack.append("str")
                return "T_EXPR_STRING", None
            return "T_EXPR_BOOL", None
        while True:
            st = self.stack[-1]
            tok = self._str() if st == "str" else self._var() if st == "var" else \
                self._vararg() if st == "vararg" else self._initial()
            if tok is not None:
                return tok

    def _initial(self) -> tuple[str, Any] | None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in " \t\n":
            i += 1
        self.i = i
        if i >= n:
            return "$end", None
        c = s[i]
        nxt = s[i + 1] if i + 1 < n else ""
        if c in "\"'":
            self.delim = c
            self.buf = []
            self.stack[-1] = "str"
            self.i = i + 1
            return "T_STR_BEGIN", None
        if c == "%" and nxt == "{":
            self.stack.append("var")
            self.i = i + 2
            return "T_VAR_BEGIN", None
        if c == "$" and nxt.isdigit() and nxt.isascii():
            self.i = i + 2
            return "T_REGEX_BACKREF", int(nxt)
        idm = _ID_RE.match(s, i)
        if c == "/" or (c == "m" and nxt in _REGEX_DELIMS and nxt
                        and (idm is None or idm.end() - i <= 2)):
            return self._regex(i + (1 if c == "/" else 2), s[i + (0 if c == "/" else 1)])
        if c == "-":
            dm = _DASH_RE.match(s, i)
            if dm is not None:
                w = dm.group(0)
                self.i = dm.end()
                if w in _DASH_WORDS:
                    return _DASH_WORDS[w], None
                if len(w) == 2:
                    return "T_OP_UNARY", w[1:]
                return "T_OP_BINARY", w[1:]
        dg = _DIGIT_RE.match(s, i)
        if dg is not None:
            self.i = dg.end()
            return "T_DIGIT", dg.group(0)
        if idm is not None:
            w = idm.group(0)
            self.i = idm.end()
            return _WORDS.get(w, "T_ID"), w
        two = s[i:i + 2]
        if two in _OPS2:
            self.i = i + 2
            return _OPS2[two], None
        if c in _OPS1:
            self.i = i + 1
            return _OPS1[c], None
        self.i = i + 1
        return self._err(f"Parse error near '{c}'")

    def _regex(self, start: int, delim: str) -> tuple[str, Any]:
        s = self.s
        end = s.find(delim, start)
        if end < 0:
            self.i = len(s)
            if len(s) - start >= MAX_STRING_LEN:
                return self._err("Regexp too long")
            return "$end", None
        if end - start >= MAX_STRING_LEN:
            self.i = end + 1
            return self._err("Regexp too long")
        body = s[start:end]
        self.i = end + 1
        if self.i < len(s) and s[self.i] == "i":
            self.i += 1
            return "T_REGEX_I", body
        return "T_REGEX", body

    def _str(self) -> tuple[str, Any] | None:
        s, i, n = self.s, self.i, len(self.s)
        if i >= n:
            if not self.string_result:
                return self._err("Unterminated string or variable")
            self.stack[-1] = "INITIAL"
            return self._flush()
        c = s[i]
        if c in "\"'":
            if c == self.delim:
                if not self.buf:
                    self.i = i + 1
                    self.stack[-1] = "INITIAL"
                    return "T_STR_END", None
                return self._flush()
            self.i = i + 1
            return self._append(c)
        if c == "\n":
            self.i = i + 1
            return self._err("Unterminated string or variable")
        if c == "\\":
            if i + 1 >= n:
                self.i = i + 1
                return self._append(c)
            d = s[i + 1]
            if d.isdigit() and d.isascii():
                j = i + 1
                while j < n and s[j].isdigit() and s[j].isascii():
                    j += 1
                k = i + 1
                while k < n and k < i + 4 and s[k] in "01234567":
                    k += 1
                if j > k or k == i + 1:
                    self.i = j
                    return self._err("Bad escape sequence")
                self.i = k
                v = int(s[i + 1:k], 8)
                if v > 0xFF:
                    return self._err("Escape sequence out of bound")
                return self._append(chr(v))
            self.i = i + 2
            return self._append(_ESCAPES.get(d, d))
        if c == "$" and i + 1 < n and s[i + 1].isdigit() and s[i + 1].isascii():
            if self.buf:
                return self._flush()
            self.i = i + 2
            return "T_REGEX_BACKREF", int(s[i + 1])
        if c == "%" and s.startswith("%{", i):
            if self.buf:
                return self._flush()
            self.i = i + 2
            self.stack.append("var")
            return "T_VAR_BEGIN", None
        m = _STR_CHARS.match(s, i)
        if m is not None:
            self.i = m.end()
            if len(self.buf) + m.end() - i >= MAX_STRING_LEN - 1:
                return self._err("String too long")
            self.buf.append(m.group(0))
            return None
        self.i = i + 1
        return self._append(c)

    def _var(self) -> tuple[str, Any] | None:
        s, i = self.s, self.i
        if i >= len(s):
            return self._err("Unterminated string or variable")
        c = s[i]
        m = _ID_RE.match(s, i)
        if m is not None:
            self.i = m.end()
            return "T_ID", m.group(0)
        self.i = i + 1
        if c == "}":
            self.stack.pop()
            return "T_VAR_END", None
        if c == ":":
            self.stack[-1] = "vararg"
            return "':'", None
        if c == "\n":
            return self._err("Unterminated string or variable")
        return self._err(f"Invalid character in variable name '{c}'")

    def _vararg(self) -> tuple[str, Any] | None:
        s, i, n = self.s, self.i, len(self.s)
        if i >= n:
            return self._err("Unterminated string or variable")
        c = s[i]
        if c == "}":
            if self.buf:
                return self._flush()
            self.i = i + 1
            self.stack.pop()
            return "T_VAR_END", None
        if c == "$" and i + 1 < n and s[i + 1].isdigit() and s[i + 1].isascii():
            if self.buf:
                return self._flush()
            self.i = i + 2
            return "T_REGEX_BACKREF", int(s[i + 1])
        if c == "%" and s.startswith("%{", i):
            if self.buf:
                return self._flush()
            self.i = i + 2
            self.stack.append("var")
            return "T_VAR_BEGIN", None
        if c in "%$":
            self.i = i + 1
            return self._append(c)
        m = _VARARG_CHARS.match(s, i)
        assert m is not None
        self.i = m.end()
        if len(self.buf) + m.end() - i >= MAX_STRING_LEN - 1:
            return self._err("String too long")
        self.buf.append(m.group(0))
        return None


# --- grammar (util_expr_parse.y) and its LALR(1) tables ------------------------------------
_CMP_OPS = ("T_OP_EQ", "T_OP_NE", "T_OP_LT", "T_OP_LE", "T_OP_GT", "T_OP_GE", "T_OP_STR_EQ",
            "T_OP_STR_NE", "T_OP_STR_LT", "T_OP_STR_LE", "T_OP_STR_GT", "T_OP_STR_GE")
#: (lhs, rhs, action); rule 0 is $accept
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("$accept", ("root", "$end"), "accept"),
    ("root", ("T_EXPR_BOOL", "expr"), "root"),
    ("root", ("T_EXPR_STRING", "string"), "root"),
    ("root", ("T_ERROR",), "abort"),
    ("expr", ("T_TRUE",), "true"),
    ("expr", ("T_FALSE",), "false"),
    ("expr", ("T_OP_NOT", "expr"), "not"),
    ("expr", ("expr", "T_OP_OR", "expr"), "or"),
    ("expr", ("expr", "T_OP_AND", "expr"), "and"),
    ("expr", ("comparison",), "comp"),
    ("expr", ("T_OP_UNARY", "word"), "unary"),
    ("expr", ("word", "T_OP_BINARY", "word"), "binary"),
    ("expr", ("'('", "expr", "')'"), "paren"),
    ("expr", ("T_ERROR",), "abort"),
    *(("comparison", ("word", op, "word"), "cmp") for op in _CMP_OPS),
    ("comparison", ("word", "T_OP_IN", "wordlist"), "in"),
    ("comparison", ("word", "T_OP_REG", "regex"), "reg"),
    ("comparison", ("word", "T_OP_NRE", "regex"), "nre"),
    ("wordlist", ("lstfunccall",), "pass"),
    ("wordlist", ("'{'", "words", "'}'"), "list"),
    ("words", ("word",), "words1"),
    ("words", ("words", "','", "word"), "words"),
    ("string", ("string", "strpart"), "concat2"),
    ("string", ("strpart",), "pass"),
    ("string", ("T_ERROR",), "abort"),
    ("strpart", ("T_STRING",), "string"),
    ("strpart", ("var",), "pass"),
    ("strpart", ("backref",), "pass"),
    ("var", ("T_VAR_BEGIN", "T_ID", "T_VAR_END"), "var"),
    ("var", ("T_VAR_BEGIN", "T_ID", "':'", "string", "T_VAR_END"), "varfunc"),
    ("word", ("word", "T_OP_CONCAT", "word"), "concat"),
    ("word", ("T_DIGIT",), "digit"),
    ("word", ("T_STR_BEGIN", "T_STR_END"), "empty"),
    ("word", ("T_STR_BEGIN", "string", "T_STR_END"), "quoted"),
    ("word", ("var",), "pass"),
    ("word", ("backref",), "pass"),
    ("word", ("strfunccall",), "pass"),
    ("regex", ("T_REGEX",), "regex"),
    ("regex", ("T_REGEX_I",), "regex_i"),
    ("backref", ("T_REGEX_BACKREF",), "backref"),
    ("lstfunccall", ("T_ID", "'('", "word", "')'"), "listfunc"),
    ("strfunccall", ("T_ID", "'('", "word", "')'"), "func"),
)
#: %right T_OP_OR / T_OP_AND / T_OP_NOT / T_OP_CONCAT (later is tighter)
_PREC = {"T_OP_OR": 1, "T_OP_AND": 2, "T_OP_NOT": 3, "T_OP_CONCAT": 4}
_TERMS = frozenset(_TOKEN_NAMES)


class _Tables:
    """LALR(1) actions: ``action[state][token]`` is ("s", state) or ("r", rule);
    ``default[state]`` a rule or None; ``goto[state][nonterminal]``."""

    def __init__(self) -> None:
        rules = _RULES
        by_lhs: dict[str, list[int]] = {}
        for k, (lhs, _, _) in enumerate(rules):
            by_lhs.setdefault(lhs, []).append(k)
        first: dict[str, set[str]] = {t: {t} for t in _TERMS}
        for nt in by_lhs:
            first[nt] = set()
        changed = True
        while changed:
            changed = False
            for lhs, rhs, _ in rules:
                add = first[rhs[0]] - first[lhs]
                if add:
                    first[lhs] |= add
                    changed = True

        def closure0(kernel: frozenset[tuple[int, int]]) -> set[tuple[int, int]]:
            out = set(kernel)
            todo = list(kernel)
            while todo:
                r, d = todo.pop()
                rhs = rules[r][1]
                if d < len(rhs) and rhs[d] in by_lhs:
                    for k in by_lhs[rhs[d]]:
                        if (k, 0) not in out:
                            out.add((k, 0))
                            todo.append((k, 0))
            return out

        start = frozenset({(0, 0)})
        kernels = [start]
        index = {start: 0}
        trans: list[dict[str, int]] = []
        k = 0
        while k < len(kernels):
            items = closure0(kernels[k])
            moves: dict[str, set[tuple[int, int]]] = {}
            for r, d in sorted(items):
                rhs = rules[r][1]
                if d < len(rhs) and rhs[d] != "$end":
                    moves.setdefault(rhs[d], set()).add((r, d + 1))
            t: dict[str, int] = {}
            for sym, nk in moves.items():
                fk = frozenset(nk)
                if fk not in index:
                    index[fk] = len(kernels)
                    kernels.append(fk)
                t[sym] = index[fk]
            trans.append(t)
            k += 1
        # lookaheads, propagated to a fixpoint
        la: list[dict[tuple[int, int], set[str]]] = [{it: set() for it in kern}
                                                     for kern in kernels]
        la[0][(0, 0)].add("$end")
        reduce_la: list[dict[int, set[str]]] = [{} for _ in kernels]
        changed = True
        while changed:
            changed = False
            for st, kern in enumerate(kernels):
                cl: dict[tuple[int, int], set[str]] = {it: set(la[st][it]) for it in kern}
                todo = list(kern)
                while todo:
                    it = todo.pop()
                    r, d = it
                    rhs = rules[r][1]
                    if d < len(rhs) and rhs[d] in by_lhs:
                        follow = first[rhs[d + 1]] if d + 1 < len(rhs) else cl[it]
                        for k2 in by_lhs[rhs[d]]:
                            cur = cl.setdefault((k2, 0), set())
                            if not follow <= cur:
                                cur |= follow
                                todo.append((k2, 0))
                for (r, d), look in cl.items():
                    rhs = rules[r][1]
                    if d == len(rhs):
                        cur = reduce_la[st].setdefault(r, set())
                        if not look <= cur:
                            cur |= look
                            changed = True
                    elif rhs[d] != "$end":
                        tgt = la[trans[st][rhs[d]]][(r, d + 1)]
                        if not look <= tgt:
                            tgt |= look
                            changed = True
        self.action: list[dict[str, tuple[str, int]]] = []
        self.default: list[int | None] = []
        self.goto: list[dict[str, int]] = []
        self.reads: list[bool] = []
        self.accept: set[int] = set()
        for st, kern in enumerate(kernels):
            row: dict[str, tuple[str, int]] = {}
            if (0, 1) in kern:
                self.accept.add(st)
                row["$end"] = ("a", 0)
            for sym, tgt in trans[st].items():
                if sym in _TERMS:
                    row[sym] = ("s", tgt)
            for r in sorted(reduce_la[st]):
                rp = _PREC.get(next((s for s in reversed(rules[r][1]) if s in _TERMS), ""))
                for tok in reduce_la[st][r]:
                    cur = row.get(tok)
                    if cur is None:
                        row[tok] = ("r", r)
                    elif cur[0] == "s":
                        tp = _PREC.get(tok)
                        if rp is not None and tp is not None and rp > tp:
                            row[tok] = ("r", r)     # %right: equal precedence shifts
            default = None
            best = 0
            for r in sorted(reduce_la[st]):
                count = sum(1 for a in row.values() if a == ("r", r))
                if count > best:
                    best, default = count, r
            if default is not None:
                row = {t: a for t, a in row.items() if a != ("r", default)}
            self.action.append(row)
            self.default.append(default)
            self.goto.append({s: t for s, t in trans[st].items() if s not in _TERMS})
            self.reads.append(bool(row))


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    return _Tables()


# --- lookups: variables, functions, operators ----------------------------------------------
Ctx = Any      # an _EvalCtx
WordFn = Callable[[Ctx], str]
BoolFn = Callable[[Ctx], bool]

_HEADER_VARS = {"HTTP_USER_AGENT": "User-Agent", "HTTP_PROXY_CONNECTION": "Proxy-Connection",
                "HTTP_REFERER": "Referer", "HTTP_COOKIE": "Cookie",
                "HTTP_FORWARDED": "Forwarded", "HTTP_HOST": "Host", "HTTP_ACCEPT": "Accept"}


def _header_var(header: str) -> Callable[[Ctx], str | None]:
    def get(ctx: Ctx) -> str | None:
        r = ctx.r
        if r is None:
            return ""
        if header != "Host":
            ctx.add_vary(header)
        return r.headers_in.get(header)
    return get


def _scheme(r: Any) -> str:
    if r.server is not None and getattr(r.server, "server_scheme", None):
        return str(r.server.server_scheme)
    return "https" if _is_https(r.connection) else "http"


def _is_https(c: Any) -> bool:
    if c is None:
        return False
    from featherd.modules.ssl.vars import is_https

    return is_https(c) or bool(getattr(c, "is_tls", False))


def _server_name(r: Any) -> str:
    from featherd.core.vhost import server_name

    return server_name(r)


def _server_port(r: Any) -> str:
    from featherd.core.vhost import server_port

    return str(server_port(r))


def _document_root(r: Any) -> str:
    from featherd.core.handlers import document_root

    return document_root(r)


def _owner(r: Any, group: bool) -> str:
    st = r.finfo
    if st is None:
        return ""
    try:
        return grp.getgrgid(st.st_gid).gr_name if group else pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return ""


def _stamp(t: float | None) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.localtime(t or 0))


def _ipv6(c: Any) -> str:
    ip = getattr(c, "client_ip", "") or ""
    return "on" if ":" in ip and not ip.lower().startswith("::ffff:") else "off"


def _banner(r: Any) -> str:
    from featherd.core.worker import server_banner

    return server_banner(r.tree) if r is not None else ""


_R = Callable[[Any], Any]
_REQUEST_VARS: dict[str, _R] = {
    "REQUEST_METHOD": lambda r: r.method,
    "REQUEST_SCHEME": _scheme,
    "REQUEST_URI": lambda r: r.uri,
    "REQUEST_FILENAME": lambda r: r.filename,
    "REMOTE_HOST": lambda r: r.connection.remote_host or r.connection.client_ip,
    "REMOTE_IDENT": lambda r: r.connection.remote_logname,
    "REMOTE_USER": lambda r: r.user,
    "SERVER_ADMIN": lambda r: r.server.server_admin,
    "SERVER_NAME": _server_name,
    "SERVER_PORT": _server_port,
    "SERVER_PROTOCOL": lambda r: r.protocol,
    "SCRIPT_FILENAME": lambda r: r.filename,
    "PATH_INFO": lambda r: r.path_info,
    "QUERY_STRING": lambda r: r.args,
    "IS_SUBREQ": lambda r: "true" if r.main is not None else "false",
    "DOCUMENT_ROOT": _document_root,
    "AUTH_TYPE": lambda r: r.ap_auth_type,
    "THE_REQUEST": lambda r: r.the_request,
    "CONTENT_TYPE": lambda r: r.content_type,
    "HANDLER": lambda r: r.handler,
    "REQUEST_LOG_ID": lambda r: r.log_id,
    "SCRIPT_USER": lambda r: _owner(r, False),
    "SCRIPT_GROUP": lambda r: _owner(r, True),
    "DOCUMENT_URI": lambda r: r.uri,
    "LAST_MODIFIED": lambda r: _stamp(r.mtime),
    "CONTEXT_PREFIX": lambda r: "",
    "CONTEXT_DOCUMENT_ROOT": _document_root,
    "REQUEST_STATUS": lambda r: str(r.status) if r.status else "",
    "REMOTE_ADDR": lambda r: r.connection.client_ip,
    "REMOTE_PORT": lambda r: str(r.connection.client_port),
}
_CONN_VARS: dict[str, _R] = {
    "HTTPS": lambda c: "on" if _is_https(c) else "off",
    "IPV6": _ipv6,
    "CONN_LOG_ID": lambda c: getattr(c, "log_id", None),
    "CONN_REMOTE_ADDR": lambda c: c.client_ip,
    "HTTP2": lambda c: "off",
}
_TIME_VARS: dict[str, Callable[[time.struct_time], str]] = {
    "TIME_YEAR": lambda t: f"{t.tm_year:04d}", "TIME_MON": lambda t: f"{t.tm_mon:02d}",
    "TIME_DAY": lambda t: f"{t.tm_mday:02d}", "TIME_HOUR": lambda t: f"{t.tm_hour:02d}",
    "TIME_MIN": lambda t: f"{t.tm_min:02d}", "TIME_SEC": lambda t: f"{t.tm_sec:02d}",
    "TIME_WDAY": lambda t: str((t.tm_wday + 1) % 7),
    "TIME": lambda t: time.strftime("%Y%m%d%H%M%S", t),
}
VARIABLES = (*_HEADER_VARS, *_REQUEST_VARS, *_TIME_VARS, "SERVER_SOFTWARE", "API_VERSION",
             *_CONN_VARS)


def _lookup_var(name: str) -> Callable[[Ctx], str | None] | None:
    u = name.upper()
    if u in _HEADER_VARS:
        return _header_var(_HEADER_VARS[u])
    f = _REQUEST_VARS.get(u)
    if f is not None:
        rf = f
        return lambda ctx: "" if ctx.r is None else rf(ctx.r)
    t = _TIME_VARS.get(u)
    if t is not None:
        tf = t
        return lambda ctx: tf(time.localtime())
    if u == "SERVER_SOFTWARE":
        return lambda ctx: _banner(ctx.r)
    if u == "API_VERSION":
        return lambda ctx: API_VERSION
    cf = _CONN_VARS.get(u)
    if cf is not None:
        cff = cf
        return lambda ctx: "" if ctx.c is None else cff(ctx.c)
    ext = _EXT_VARS.get(u)
    if ext is not None:
        return ext
    if name.startswith("SSL_"):           # mod_ssl's ssl_expr_lookup (case-sensitive)
        var = name[4:]

        def ssl_var(ctx: Ctx) -> str | None:
            from featherd.modules.ssl.vars import _ssl_var, sslconn_of

            t = sslconn_of(ctx.c) if ctx.c is not None else None
            return _ssl_var(t, var) if t is not None and t.sslobj is not None else None
        return ssl_var
    return None


# functions: name -> (fn(ctx, arg) -> str|None, restricted)
def _table_get(which: str) -> Callable[[Ctx, str], str | None]:
    def get(ctx: Ctx, arg: str) -> str | None:
        r = ctx.r
        if r is None:
            return ""
        if which == "resp":
            v = r.headers_out.get(arg)
            return v if v is not None else r.err_headers_out.get(arg)
        if which == "note":
            return r.notes.get(arg)
        if which == "reqenv":
            return r.subprocess_env.get(arg)
        if which == "req" and arg.lower() != "host":
            ctx.add_vary(arg)
        return r.headers_in.get(arg)
    return get


def _env(ctx: Ctx, arg: str) -> str | None:
    r = ctx.r
    if r is not None:
        v = r.notes.get(arg)
        if v is None:
            v = r.subprocess_env.get(arg)
        if v is not None:
            return str(v)
    return os.environ.get(arg)


def _unescape(ctx: Ctx, arg: str) -> str:
    """ap_unescape_url_keep2f(s, 0): %2F stays, a bad escape or %00 gives ""."""
    if "%" not in arg:
        return arg
    out: list[str] = []
    i, n = 0, len(arg)
    hexd = "0123456789abcdefABCDEF"
    while i < n:
        c = arg[i]
        if c == "%":
            h = arg[i + 1:i + 3]
            if len(h) < 2 or h[0] not in hexd or h[1] not in hexd:
                return ""
            ch = chr(int(h, 16))
            if ch == "\0":
                return ""
            out.append(arg[i:i + 3] if ch == "/" else ch)
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


_B64 = {c: k for k, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789+/")}


def _unbase64(ctx: Ctx, arg: str) -> str:
    """apr_base64_decode: up to the first non-alphabet character; cut at a NUL."""
    vals: list[int] = []
    for c in arg:
        v = _B64.get(c)
        if v is None:
            break
        vals.append(v)
    out = bytearray()
    for k in range(0, len(vals) - len(vals) % 4, 4):
        a, b, c, d = vals[k:k + 4]
        out += bytes((((a << 2) | (b >> 4)) & 255, ((b << 4) | (c >> 2)) & 255,
                      ((c << 6) | d) & 255))
    rest = vals[len(vals) - len(vals) % 4:]
    if len(rest) > 1:
        out.append(((rest[0] << 2) | (rest[1] >> 4)) & 255)
    if len(rest) > 2:
        out.append(((rest[1] << 4) | (rest[2] >> 2)) & 255)
    return bytes(out).split(b"\0", 1)[0].decode("latin-1")


# T_OS_ESCAPE_PATH of 2.4's gen_test_char.c: all but alphanumerics and $-_.+!*'(),:;@&=/~
_PATH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "$-_.+!*'(),:;@&=/~")


def _escape(arg: str) -> str:
    """ap_escape_uri: %-escape (lower-case hex) what a path may not hold."""
    if all(c in _PATH_SAFE for c in arg):
        return arg
    return "".join(chr(b) if chr(b) in _PATH_SAFE else f"%{b:02x}" for b in _bytes(arg))


def _bytes(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _file(ctx: Ctx, arg: str) -> str:
    try:
        with open(arg, "rb") as f:
            data = f.read()
    except OSError:
        ctx.err = f"Unable to open file {arg}"
        return ""
    return data.split(b"\0", 1)[0].decode("latin-1")


def _filesize(ctx: Ctx, arg: str) -> str:
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return "0"
    return str(st.st_size) if stat.S_ISREG(st.st_mode) else "0"


def _filemod(ctx: Ctx, arg: str) -> str:
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return "0"
    return str(int(st.st_mtime)) if stat.S_ISREG(st.st_mode) else "0"


_LDAP_ESC = frozenset('"+,;<>\\*()\0')     # apr_escape_ldap(APR_ESCAPE_LDAP_ALL)


def _ldap(ctx: Ctx, arg: str) -> str:
    return "".join(f"\\{ord(c):02x}" if c in _LDAP_ESC else c for c in arg)


def _ssl_func(ctx: Ctx, arg: str) -> str | None:
    from featherd.modules.ssl.vars import ssl_var_lookup

    return ssl_var_lookup(ctx.r, arg, ctx.c) if arg else None


_FUNCS: dict[str, tuple[Callable[[Ctx, str], str | None], bool]] = {
    "osenv": (lambda ctx, a: os.environ.get(a), False),
    "env": (_env, False),
    "resp": (_table_get("resp"), False),
    "req": (_table_get("req"), False),
    "http": (_table_get("req"), False),
    "note": (_table_get("note"), False),
    "reqenv": (_table_get("reqenv"), False),
    "req_novary": (_table_get("req_novary"), False),
    "tolower": (lambda ctx, a: a.lower() if a.isascii() else
                "".join(c.lower() if c < "\x80" else c for c in a), False),
    "toupper": (lambda ctx, a: a.upper() if a.isascii() else
                "".join(c.upper() if c < "\x80" else c for c in a), False),
    "escape": (lambda ctx, a: _escape(a), False),
    "unescape": (_unescape, False),
    "file": (_file, True),
    "filesize": (_filesize, True),
    "filemod": (_filemod, True),
    "base64": (lambda ctx, a: base64.b64encode(_bytes(a)).decode("ascii"), False),
    "unbase64": (_unbase64, False),
    "md5": (lambda ctx, a: hashlib.md5(_bytes(a)).hexdigest(), False),
    "sha1": (lambda ctx, a: hashlib.sha1(_bytes(a)).hexdigest(), False),
    "ldap": (_ldap, False),
}
_SSL_FUNCS = {"SSL": _ssl_func}       # mod_ssl's (case-sensitive, as strcEQ)


def _peer_ext_list(ctx: Ctx, arg: str) -> list[str] | None:
    from featherd.modules.ssl.vars import peer_extensions

    return peer_extensions(ctx.r)(arg) if ctx.r is not None else None


_LIST_FUNCS: dict[str, Callable[[Ctx, str], list[str] | None]] = {
    "PeerExtList": _peer_ext_list}

_EXT_VARS: dict[str, Callable[[Ctx], str | None]] = {}
_EXT_FUNCS: dict[str, Callable[[Ctx, str], str | None]] = {}
_EXT_UNARY: dict[str, Callable[[Ctx, str], bool]] = {}
_EXT_BINARY: dict[str, Callable[[Ctx, str, str], bool]] = {}


def register(kind: str, name: str, fn: Callable[..., Any]) -> None:
    """ap_hook_expr_lookup for modules: kind "var" (fn(ctx) -> str|None), "func"
    (fn(ctx, arg)), "list" (fn(ctx, arg) -> list), "unary" (fn(ctx, arg) -> bool),
    "binary" (fn(ctx, a, b) -> bool). ctx has ``r``, ``c`` and ``err``."""
    table: dict[str, Any] = {"var": _EXT_VARS, "func": _EXT_FUNCS, "list": _LIST_FUNCS,
                             "unary": _EXT_UNARY, "binary": _EXT_BINARY}[kind]
    table[name.upper() if kind == "var" else name.lower() if kind in ("func", "binary")
          else name] = fn


# unary operators
def _op_file(which: str) -> Callable[[Ctx, str], bool]:
    def test(ctx: Ctx, arg: str) -> bool:
        try:
            st = os.lstat(arg) if which in "Lh" else os.stat(arg)
        except (OSError, ValueError):
            return False
        m = st.st_mode
        if which == "d":
            return stat.S_ISDIR(m)
        if which == "f":
            return stat.S_ISREG(m)
        if which == "s":
            return stat.S_ISREG(m) and st.st_size > 0
        if which in "Lh":
            return stat.S_ISLNK(m)
        if which == "x":
            return bool(m & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
        return True
    return test


def _op_T(ctx: Ctx, arg: str) -> bool:
    if not arg:
        return False
    return arg.lower() not in ("off", "no", "false", "0")


class _NeedSubreq(Exception):
    """Raised during a synchronous pass: -F/-U needs a sub-request first."""

    def __init__(self, key: tuple[str, str]) -> None:
        super().__init__(key)
        self.key = key


def _op_subreq(kind: str) -> Callable[[Ctx, str], bool]:
    def test(ctx: Ctx, arg: str) -> bool:
        r = ctx.r
        if r is None:
            return False
        if r.main is not None and r.main.uri and r.uri and r.main.uri == r.uri:
            return False
        key = (kind, arg)
        if key not in ctx.subreqs:
            raise _NeedSubreq(key)
        return bool(ctx.subreqs[key])
    return test


_UNARY: dict[str, tuple[Callable[[Ctx, str], bool], bool]] = {
    "n": (lambda ctx, a: a != "", False), "z": (lambda ctx, a: a == "", False),
    "T": (_op_T, False),
    **{k: (_op_file(k), True) for k in "defsLhx"},
    "F": (_op_subreq("F"), False), "U": (_op_subreq("U"), False),
    "A": (_op_subreq("U"), False),
}


_FN_CACHE: dict[tuple[str, int], re.Pattern[str]] = {}


def _fn_regex(pat: str, flags: int) -> re.Pattern[str]:
    """apr_fnmatch as a regex: flags 1 = APR_FNM_PATHNAME, 2 = APR_FNM_CASE_BLIND."""
    hit = _FN_CACHE.get((pat, flags))
    if hit is not None:
        return hit
    any_c = "[^/]" if flags & 1 else "."
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            out.append(any_c + "*")
        elif c == "?":
            out.append(any_c)
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        elif c == "[":
            j = i + 1
            neg = j < n and pat[j] in "!^"
            if neg:
                j += 1
            items: list[str] = []
            first = True
            while j < n and (pat[j] != "]" or first):
                first = False
                ch = pat[j]
                if ch == "\\" and j + 1 < n:
                    j += 1
                    ch = pat[j]
                if j + 2 < n and pat[j + 1] == "-" and pat[j + 2] != "]":
                    hi = pat[j + 2]
                    items.append(re.escape(ch) + "-" + re.escape(hi) if ch <= hi else "(?!)")
                    j += 3
                    continue
                items.append(re.escape(ch))
                j += 1
            if j >= n:
                out.append(re.escape("["))
            else:
                body = "".join(items)
                cls = ("[^" if neg else "[") + body + "]"
                out.append(f"(?!/){cls}" if flags & 1 else cls)
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    rx = re.compile("".join(out), re.DOTALL | (re.IGNORECASE if flags & 2 else 0))
    if len(_FN_CACHE) > 1000:
        _FN_CACHE.clear()
    _FN_CACHE[(pat, flags)] = rx
    return rx


def _client_ip(ctx: Ctx) -> str:
    c = ctx.c
    return c.client_ip if c is not None else ""


_BINARY: dict[str, Callable[[Ctx, str, str], bool]] = {
    "fnmatch": lambda ctx, a, b: _fn_regex(b, 1).fullmatch(a) is not None,
    "strmatch": lambda ctx, a, b: _fn_regex(b, 0).fullmatch(a) is not None,
    "strcmatch": lambda ctx, a, b: _fn_regex(b, 2).fullmatch(a) is not None,
}


def _subnet(name: str, arg: Any) -> Any:
    """subnet_parse_arg: -R / -ipmatch want a constant 'net[/mask]'."""
    if not isinstance(arg, _Const) or arg.kind != "string":
        raise _LookupError(f"-{name} requires subnet/netmask as constant argument")
    addr = arg.value
    try:
        return parse_subnet(addr)
    except (BadIP, ValueError):
        raise _LookupError("parsing of subnet/netmask failed") from None


# --- parse-time node building (ap_expr_make and friends) ------------------------------------
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


# --- evaluation -------------------------------------------------------------------------------
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
                ctx.subreqs[need.key] = await _subreq_test(r, kind, arg)

    def exec_string(self, r: Any, vary: list[str] | None = None, c: Any = None) -> str:
        try:
            return str(self._run(self._ctx(r, vary, c)))
        except _NeedSubreq:
            raise ExprEvalError("-F/-U need a sub-request") from None


async def _subreq_test(r: Any, kind: str, arg: str) -> bool:
    from featherd.core import http_request

    if kind == "U":
        sub = await http_request.lookup_uri(r, arg)
        return bool(sub.status < 300)
    path = arg
    if not os.path.isabs(path) and r.filename:
        path = os.path.join(os.path.dirname(r.filename), path)
    sub = await http_request.lookup_file(r, path)
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


__all__ = ["FLAG_DONT_VARY", "FLAG_RESTRICTED", "FLAG_STRING_RESULT",
           "VARIABLES", "Expr", "ExprEvalError", "ExprSyntaxError", "parse", "parse_cmd",
           "register"]
