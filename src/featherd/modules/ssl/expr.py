"""SSLRequire's expression language (ssl_expr_scan.l, ssl_expr_parse.y, ssl_expr_eval.c).

::

    expr     ::= "true" | "false" | "!" expr | expr "&&" expr | expr "||" expr
               | "(" expr ")" | comp
    comp     ::= word "==" word | word "eq" word | word "!=" word | word "ne" word
               | word "<"  word | word "lt" word | word "<=" word | word "le" word
               | word ">"  word | word "gt" word | word ">=" word | word "ge" word
               | word "in" "{" wordlist "}" | word "in" "OID(" word ")"
               | word "=~" regex | word "!~" regex
    wordlist ::= word | wordlist "," word
    word     ::= digit | cstring | variable | function
    variable ::= "%{" varname "}"
    function ::= funcname "(" funcargs ")"

``not``, ``and``, ``or`` are the word forms of ``!``, ``&&``, ``||``; regexes are
``/re/`` or ``m#re#`` (any of ``/#$%^,;:_?|-!.'"`` as delimiter), with an ``i`` after
them for case-insensitive matching. The ordering operators compare the length first,
then the bytes (ssl_expr_eval_strcmplex). From 2.4 the ap_expr forms are accepted too:
``-eq -ne -lt -le -gt -ge`` (integers), ``PeerExtList(...)`` for ``OID(...)``, and the
functions ``file filesize tolower toupper escape unescape base64 unbase64 md5 sha1
sha256 req http resp reqenv osenv env note``.

The expression is compiled once when the configuration is read; a syntax error is the
directive's error ("SSLRequire: ..."). Evaluation looks variables up through a function
(mod_ssl's :func:`ssl_var_lookup`), so the module stays testable without sockets.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from featherd.util.pcre import PCREError, compile_pcre


class ExprError(ValueError):
    """A syntax error; ``str()`` is the text after "SSLRequire: "."""


# --- scanner -----------------------------------------------------------------------------
_REGEX_DELIMS = "/#$%^,;:_?|-!.'\""
_KEYWORDS = {"true": "TRUE", "false": "FALSE", "not": "NOT", "and": "AND", "or": "OR",
             "eq": "EQ", "ne": "NE", "lt": "LT", "le": "LE", "gt": "GT", "ge": "GE",
             "in": "IN"}
_OPS = [("&&", "AND"), ("||", "OR"), ("==", "EQ"), ("!=", "NE"), ("<=", "LE"),
        (">=", "GE"), ("=~", "REG"), ("!~", "NREG"), ("<", "LT"), (">", "GT"), ("!", "NOT"),
        ("(", "("), (")", ")"), ("{", "{"), ("}", "}"), (",", ",")]
_INT_OPS = {"-eq": "IEQ", "-ne": "INE", "-lt": "ILT", "-le": "ILE", "-gt": "IGT",
            "-ge": "IGE"}
_ID = re.compile(r"[a-zA-Z][a-zA-Z0-9_:\-]*")
_VAR = re.compile(r"%\{([a-zA-Z][a-zA-Z0-9_:\-]*)\}")
_OCTAL = re.compile(r"[0-7]{1,3}")


@dataclass(slots=True)
class Tok:
    kind: str
    value: Any = None


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r":
            i += 1
            continue
        if c == '"':
            s, i = _string(text, i + 1)
            out.append(Tok("STRING", s))
            continue
        if c.isdigit():
            j = i
            while j < n and text[j].isdigit():
                j += 1
            out.append(Tok("DIGIT", text[i:j]))
            i = j
            continue
        if c == "%" and text.startswith("%{", i):
            m = _VAR.match(text, i)
            if m is None:
                raise ExprError("Parser error: syntax error")
            out.append(Tok("VAR", m.group(1)))
            i = m.end()
            continue
        if out and out[-1].kind in ("REG", "NREG") and (c == "/" or (
                c == "m" and i + 1 < n and text[i + 1] in _REGEX_DELIMS)):
            if c == "m":
                i += 1
            delim = text[i]
            end = text.find(delim, i + 1)
            if end < 0:
                raise ExprError("Unterminated regex")
            body = text[i + 1:end]
            i = end + 1
            nocase = i < n and text[i] == "i"
            if nocase:
                i += 1
            try:
                rx = compile_pcre(body, nocase)
            except (PCREError, re.error):
                raise ExprError("Failed to compile regular expression") from None
            out.append(Tok("REGEX", rx))
            continue
        if c == "-" and text[i:i + 3] in _INT_OPS:
            out.append(Tok(_INT_OPS[text[i:i + 3]]))
            i += 3
            continue
        for op, kind in _OPS:
            if text.startswith(op, i):
                out.append(Tok(kind))
                i += len(op)
                break
        else:
            m = _ID.match(text, i)
            if m is None:
                raise ExprError(f"Parser error: unexpected character '{c}'")
            word = m.group(0)
            kind = _KEYWORDS.get(word)
            out.append(Tok(kind) if kind else Tok("ID", word))
            i = m.end()
    out.append(Tok("EOF"))
    return out


def _string(text: str, i: int) -> tuple[str, int]:
    buf: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(buf), i + 1
        if c == "\n":
            break
        if c == "\\" and i + 1 < n:
            d = text[i + 1]
            m = _OCTAL.match(text, i + 1)
            if m:
                val = int(m.group(0), 8)
                if val > 0xFF:
                    raise ExprError("Escape sequence out of bound")
                buf.append(chr(val))
                i = m.end()
                continue
            if d.isdigit():
                raise ExprError("Bad escape sequence")
            buf.append({"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}.get(d, d))
            i += 2
            continue
        buf.append(c)
        i += 1
    raise ExprError("Unterminated string")


# --- parser: a tree of tuples ------------------------------------------------------------
Node = tuple[Any, ...]
_CMP = {"EQ", "NE", "LT", "LE", "GT", "GE", "IEQ", "INE", "ILT", "ILE", "IGT", "IGE"}
FUNCTIONS = ("file", "filesize", "tolower", "toupper", "escape", "unescape", "base64",
             "unbase64", "md5", "sha1", "sha256", "req", "http", "resp", "reqenv", "osenv",
             "env", "note")


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None) -> Tok:
        t = self.toks[self.i]
        if kind is not None and t.kind != kind:
            raise ExprError("Parser error: syntax error")
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "EOF":
            raise ExprError("Parser error: syntax error")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().kind == "OR":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek().kind == "AND":
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek().kind == "NOT":
            self.take()
            return ("not", self.not_())
        return self.primary()

    def primary(self) -> Node:
        t = self.peek()
        if t.kind == "TRUE":
            self.take()
            return ("true",)
        if t.kind == "FALSE":
            self.take()
            return ("false",)
        if t.kind == "(":
            self.take()
            node = self.or_()
            self.take(")")
            return node
        return self.comp()

    def comp(self) -> Node:
        left = self.word()
        op = self.take()
        if op.kind in _CMP:
            return ("cmp", op.kind, left, self.word())
        if op.kind in ("REG", "NREG"):
            rx = self.take("REGEX")
            return ("reg" if op.kind == "REG" else "nreg", left, rx.value)
        if op.kind == "IN":
            t = self.peek()
            if t.kind == "{":
                self.take()
                words = [self.word()]
                while self.peek().kind == ",":
                    self.take()
                    words.append(self.word())
                self.take("}")
                return ("in", left, tuple(words))
            if t.kind == "ID" and t.value in ("OID", "PeerExtList"):
                self.take()
                self.take("(")
                arg = self.word()
                self.take(")")
                return ("oid", left, arg)
        raise ExprError("Parser error: syntax error")

    def word(self) -> Node:
        t = self.take()
        if t.kind in ("DIGIT", "STRING"):
            return ("str", t.value)
        if t.kind == "VAR":
            return ("var", t.value)
        if t.kind == "ID" and self.peek().kind == "(":
            name = t.value
            if name not in FUNCTIONS:
                raise ExprError(f"Parser error: unknown function '{name}'")
            self.take("(")
            arg = self.word()
            self.take(")")
            return ("func", name, arg)
        raise ExprError("Parser error: syntax error")


@dataclass(slots=True, frozen=True)
class Require:
    """One compiled SSLRequire: its text (for "Failed expression:" logs) and tree."""

    text: str
    tree: Node


def compile_expr(text: str) -> Require:
    return Require(text, _Parser(tokenize(text)).parse())


# --- evaluation --------------------------------------------------------------------------
class EvalError(Exception):
    """A run-time failure (the request is refused with "Failed to execute ...")."""


Lookup = Callable[[str], str]


@dataclass(slots=True)
class EvalContext:
    """What an expression may read: variables, request parts, certificate extensions."""

    lookup: Lookup
    r: Any = None
    peer_extensions: Callable[[str], list[str]] | None = None


def strcmplex(a: str, b: str) -> int:
    """ssl_expr_eval_strcmplex: longer is bigger, then byte order."""
    if len(a) != len(b):
        return 1 if len(a) > len(b) else -1
    return (a > b) - (a < b)


def _int(s: str) -> int:
    try:
        return int(s.strip())
    except ValueError:
        raise EvalError(f"Not a number: '{s}'") from None


def evaluate(req: Require, ctx: EvalContext) -> bool:
    return _eval(req.tree, ctx)


def _eval(n: Node, ctx: EvalContext) -> bool:
    k = n[0]
    if k == "true":
        return True
    if k == "false":
        return False
    if k == "not":
        return not _eval(n[1], ctx)
    if k == "and":
        return _eval(n[1], ctx) and _eval(n[2], ctx)
    if k == "or":
        return _eval(n[1], ctx) or _eval(n[2], ctx)
    if k == "cmp":
        op, a, b = n[1], _word(n[2], ctx), _word(n[3], ctx)
        if op == "EQ":
            return a == b
        if op == "NE":
            return a != b
        if op[0] == "I":
            x, y = _int(a), _int(b)
            return {"IEQ": x == y, "INE": x != y, "ILT": x < y, "ILE": x <= y,
                    "IGT": x > y, "IGE": x >= y}[op]
        c = strcmplex(a, b)
        return {"LT": c < 0, "LE": c <= 0, "GT": c > 0, "GE": c >= 0}[op]
    if k == "reg":
        return n[2].search(_word(n[1], ctx)) is not None
    if k == "nreg":
        return n[2].search(_word(n[1], ctx)) is None
    if k == "in":
        a = _word(n[1], ctx)
        return any(a == _word(w, ctx) for w in n[2])
    if k == "oid":
        a = _word(n[1], ctx)
        oid = _word(n[2], ctx)
        values = ctx.peer_extensions(oid) if ctx.peer_extensions else []
        return a in values
    raise EvalError(f"Internal evaluation error: Unknown expression node '{k}'")


def _word(n: Node, ctx: EvalContext) -> str:
    k = n[0]
    if k == "str":
        return str(n[1])
    if k == "var":
        v = ctx.lookup(n[1])
        return "" if v is None else str(v)
    if k == "func":
        return _func(n[1], _word(n[2], ctx), ctx)
    raise EvalError(f"Internal evaluation error: Unknown word node '{k}'")


def _func(name: str, arg: str, ctx: EvalContext) -> str:
    if name == "file":
        try:
            with open(arg, "rb") as f:
                return f.read().decode("latin-1")
        except OSError:
            raise EvalError(f"Unable to open file '{arg}'") from None
    if name == "filesize":
        try:
            st = os.stat(arg)
        except OSError:
            return "0"
        return str(st.st_size) if os.path.isfile(arg) else "0"
    if name == "tolower":
        return arg.lower()
    if name == "toupper":
        return arg.upper()
    if name == "escape":
        return quote(arg, safe="/")
    if name == "unescape":
        return unquote(arg, encoding="latin-1")
    if name == "base64":
        return base64.b64encode(arg.encode("latin-1")).decode("ascii")
    if name == "unbase64":
        try:
            return base64.b64decode(arg.encode("latin-1")).decode("latin-1")
        except ValueError:
            return ""
    if name in ("md5", "sha1", "sha256"):
        return hashlib.new(name, arg.encode("latin-1")).hexdigest()
    r = ctx.r
    if name in ("req", "http"):
        return (r.headers_in.get(arg) or "") if r is not None else ""
    if name == "resp":
        return (r.headers_out.get(arg) or "") if r is not None else ""
    if name == "reqenv":
        return r.subprocess_env.get(arg, "") if r is not None else ""
    if name == "osenv":
        return os.environ.get(arg, "")
    if name == "note":
        return r.notes.get(arg, "") if r is not None else ""
    if name == "env":
        if r is not None:
            v = r.notes.get(arg)
            if v is None:
                v = r.subprocess_env.get(arg)
            if v is not None:
                return str(v)
        return os.environ.get(arg, "")
    raise EvalError(f"Internal evaluation error: Unknown function '{name}'")


__all__ = ["EvalContext", "EvalError", "ExprError", "Require", "compile_expr", "evaluate",
           "strcmplex", "tokenize"]
