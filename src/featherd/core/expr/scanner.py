"""ap_expr's scanner (util_expr_scan.l): flex's longest-match rules and start
conditions (INITIAL, str, var, vararg) by hand; errors are reported as PERROR does."""

from __future__ import annotations

import re
from typing import Any

from featherd.core.expr.base import MAX_STRING_LEN

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
