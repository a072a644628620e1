"""The ``#if``/``#elif`` expression language of Apache 2.2 (2.4's SSILegacyExprParser).

A port of mod_include's get_ptoken/parse_expr, so that odd expressions parse (or fail)
as they do there: strings (bare words joined by one space, or 'quoted'), ``$VAR`` and
``${VAR}`` substituted when compared, ``=``/``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``
(strcmp), ``/regex/`` on the right of ``=``/``!=`` (its groups become ``$0``..``$9``),
``!``, ``&&`` and ``||`` (same precedence, left to right, short-circuited unless a
regex is still to be evaluated), parentheses, and ``-A url`` (may the URL be accessed).
A backslash makes the next character literal in every token, slashes in regexes too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

STRING, RE, AND, OR, NOT, EQ, NE, RBRACE, LBRACE, GROUP, GE, LE, GT, LT, ACCESS = range(15)
NAMES = ("STRING", "RE", "AND", "OR", "NOT", "EQ", "NE", "RBRACE", "LBRACE", "GROUP",
         "GE", "LE", "GT", "LT", "ACCESS")
WS = " \t\n\v\f\r"
INVALID = 'Invalid expression "{expr}" in file {file}'


class ExprError(Exception):
    """The expression can't be parsed or evaluated; the message is the log line's
    pattern ({expr} and {file} to fill)."""


@dataclass(slots=True, eq=False)
class Node:
    type: int
    value: str | None = None
    left: Node | None = None
    right: Node | None = None
    parent: Node | None = None
    done: bool = False
    val: int = 0


def get_ptoken(s: str, i: int, prev: int | None) -> tuple[Node | None, int]:
    """The next token from s[i:] (None at the end) and where scanning goes on."""
    n = len(s)
    while i < n and s[i] in WS:
        i += 1
    if i >= n:
        return None, n
    c = s[i]
    i += 1
    ttype = STRING
    unmatched = ""
    nxt = s[i] if i < n else ""
    if c == "(":
        return Node(LBRACE), i
    if c == ")":
        return Node(RBRACE), i
    if c == "=":
        return Node(EQ), i + 1 if nxt == "=" else i
    if c == "!":
        return (Node(NE), i + 1) if nxt == "=" else (Node(NOT), i)
    if c == "'":
        unmatched = "'"
    elif c == "/":
        if prev != ACCESS:
            ttype = RE
            unmatched = "/"
    elif c == "|":
        if nxt == "|":
            return Node(OR), i + 1
    elif c == "&":
        if nxt == "&":
            return Node(AND), i + 1
    elif c == ">":
        return (Node(GE), i + 1) if nxt == "=" else (Node(GT), i)
    elif c == "<":
        return (Node(LE), i + 1) if nxt == "=" else (Node(LT), i)
    elif c == "-":
        if nxt == "A":
            return Node(ACCESS), i + 1
    j = i if unmatched else i - 1
    chars: list[str] = []
    while j < n:
        ch = s[j]
        if ch == "\\":
            if j + 1 >= n:
                chars.append(ch)       # a trailing backslash stays
                j += 1
                break
            chars.append(s[j + 1])
            j += 2
            continue
        if unmatched:
            if ch == unmatched:
                unmatched = ""
                j += 1
                break
        elif ch in WS:
            break
        elif ch in "()=!<>":
            break
        elif ch in "|&" and j + 1 < n and s[j + 1] == ch:
            break
        chars.append(ch)
        j += 1
    value = "" if unmatched else "".join(chars)
    return Node(ttype, value), j


def parse(expr: str) -> tuple[Node | None, int]:
    """Build the parse tree; (root, number of regexes). ExprError on a syntax error."""
    root: Node | None = None
    cur: Node | None = None
    regex = 0
    i = 0
    while True:
        new, i = get_ptoken(expr, i, cur.type if cur is not None else None)
        if new is None:
            break
        t = new.type
        if cur is None:
            if t in (STRING, NOT, ACCESS, LBRACE):
                root = cur = new
                continue
            raise ExprError(INVALID)
        if t == STRING:
            ct = cur.type
            if ct == STRING:
                cur.value = (cur.value or "") + (" " if cur.value else "") + (new.value or "")
                continue
            if ct not in (RE, RBRACE, GROUP):
                new.parent = cur
                cur.right = new
                cur = new
                continue
        elif t == RE:
            if cur.type in (EQ, NE):
                new.parent = cur
                cur.right = new
                cur = new
                regex += 1
                continue
        elif t in (AND, OR):
            if cur.type in (STRING, RE, GROUP):
                cur = cur.parent
                while cur is not None and cur.type not in (AND, OR, LBRACE):
                    cur = cur.parent
                if cur is None:
                    assert root is not None
                    new.left = root
                    root.parent = new
                    cur = root = new
                    continue
                new.left = cur.right
                assert new.left is not None
                new.left.parent = new
                new.parent = cur
                cur.right = new
                cur = new
                continue
        elif t in (EQ, NE, GE, GT, LE, LT):
            if cur.type == STRING:
                cur = cur.parent
                if cur is None:
                    assert root is not None
                    new.left = root
                    root.parent = new
                    cur = root = new
                    continue
                if cur.type in (LBRACE, AND, OR):
                    new.left = cur.right
                    assert new.left is not None
                    new.left.parent = new
                    new.parent = cur
                    cur.right = new
                    cur = new
                    continue
        elif t == RBRACE:
            while cur is not None and cur.type != LBRACE:
                cur = cur.parent
            if cur is not None:
                cur.type = GROUP
                continue
            raise ExprError("Unmatched ')' in \"{expr}\" in file {file}")
        elif t in (NOT, ACCESS, LBRACE):
            if cur.type not in (STRING, RE, RBRACE, GROUP):
                cur.right = new
                new.parent = cur
                cur = new
                continue
        raise ExprError(INVALID)
    return root, regex


_PARSED: dict[str, tuple[Node | None, int, bool] | ExprError] = {}


def parse_cached(expr: str) -> tuple[Node | None, int, bool]:
    """parse() of a page's expression, remembered (a page's #if lines come back with
    every request): a fresh copy of the tree (evaluate() writes into it), the number of
    regexes, and whether it has ``-A`` nodes."""
    hit = _PARSED.get(expr)
    if hit is None:
        try:
            root, regex = parse(expr)
            hit = (root, regex, bool(access_nodes(root)))
        except ExprError as e:
            hit = e
        if len(_PARSED) >= 1024:
            _PARSED.clear()
        _PARSED[expr] = hit
    if isinstance(hit, ExprError):
        raise ExprError(*hit.args)
    root, regex, acc = hit
    return (_clone(root, None) if root is not None else None), regex, acc


def _clone(nd: Node, parent: Node | None) -> Node:
    c = Node(nd.type, nd.value, None, None, parent)
    if nd.left is not None:
        c.left = _clone(nd.left, c)
    if nd.right is not None:
        c.right = _clone(nd.right, c)
    return c


def release(root: Node | None) -> None:
    """Unlink an evaluated copy's parent pointers: freed at once, not by the cyclic
    garbage collector."""
    todo = [root] if root is not None else []
    while todo:
        nd = todo.pop()
        nd.parent = None
        if nd.left is not None:
            todo.append(nd.left)
        if nd.right is not None:
            todo.append(nd.right)


def access_nodes(root: Node | None) -> list[Node]:
    """The ``-A`` nodes (their URLs are looked up before the evaluation)."""
    out: list[Node] = []
    todo = [root] if root is not None else []
    while todo:
        nd = todo.pop()
        if nd.type == ACCESS:
            out.append(nd)
        todo += [x for x in (nd.left, nd.right) if x is not None]
    return out


def evaluate(root: Node | None, regex: int, expand: Callable[[str], str],
             re_check: Callable[[str, str], int], access: Callable[[str], bool]) -> bool:
    """parse_expr's evaluation loop: ``expand`` substitutes variables, ``re_check``
    matches (and records the groups, -1 when the pattern is bad), ``access`` answers
    ``-A``. ExprError for a tree that can't be evaluated."""
    cur = root
    while cur is not None:
        t = cur.type
        if t == STRING:
            cur.value = expand(cur.value or "")
            cur.val = 1 if cur.value else 0
        elif t in (AND, OR):
            left, right = cur.left, cur.right
            if left is None or right is None:
                raise ExprError(INVALID)
            if not left.done:
                if left.type == STRING:
                    left.value = expand(left.value or "")
                    left.val = 1 if left.value else 0
                    left.done = True
                else:
                    cur = left
                    continue
            if not right.done and not regex and (
                    (t == AND and not left.val) or (t == OR and left.val)):
                cur.val = left.val
            else:
                if not right.done:
                    if right.type == STRING:
                        right.value = expand(right.value or "")
                        right.val = 1 if right.value else 0
                        right.done = True
                    else:
                        cur = right
                        continue
                if t == AND:
                    cur.val = 1 if (left.val and right.val) else 0
                else:
                    cur.val = 1 if (left.val or right.val) else 0
        elif t in (EQ, NE):
            left, right = cur.left, cur.right
            if left is None or right is None or left.type != STRING or \
                    right.type not in (STRING, RE):
                raise ExprError(INVALID)
            left.value = expand(left.value or "")
            right.value = expand(right.value or "")
            if right.type == RE:
                cur.val = re_check(left.value, right.value)
                regex -= 1
            else:
                cur.val = 1 if left.value == right.value else 0
            if t == NE:
                cur.val = 0 if cur.val else 1
        elif t in (GE, GT, LE, LT):
            left, right = cur.left, cur.right
            if left is None or right is None or left.type != STRING or \
                    right.type != STRING:
                raise ExprError(INVALID)
            a = expand(left.value or "")
            b = expand(right.value or "")
            left.value, right.value = a, b
            cmp = _strcmp(a, b)
            cur.val = int({GE: cmp >= 0, GT: cmp > 0, LE: cmp <= 0, LT: cmp < 0}[t])
        elif t in (NOT, GROUP):
            if cur.right is not None:
                if not cur.right.done:
                    cur = cur.right
                    continue
                cur.val = cur.right.val
            else:
                cur.val = 1
            if t == NOT:
                cur.val = 0 if cur.val else 1
        elif t == ACCESS:
            right = cur.right
            if cur.left is not None or right is None or right.type not in (STRING, RE):
                raise ExprError(INVALID + ": Token '-A' must be followed by a URI string.")
            right.value = expand(right.value or "")
            cur.val = 1 if access(right.value) else 0
        elif t == RE:
            raise ExprError("No operator before regex in expr \"{expr}\" in file {file}")
        elif t == LBRACE:
            raise ExprError("Unmatched '(' in \"{expr}\" in file {file}")
        else:
            raise ExprError("internal parser error in \"{expr}\" in file {file}")
        cur.done = True
        cur = cur.parent
    return bool(root.val) if root is not None else False


def _strcmp(a: str, b: str) -> int:
    ab, bb = _bytes(a), _bytes(b)
    return (ab > bb) - (ab < bb)


def _bytes(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape")


_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
    "lower": "a-z", "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "punct":
    "!-/:-@\\[-`{-~", "xdigit": "0-9A-Fa-f", "word": "\\w", "cntrl": "\\x00-\\x1f\\x7f",
    "print": " -~", "graph": "!-~",
}
_POSIX_RE = re.compile(r"\[:(\w+):\]")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """A PCRE pattern as Python's re reads it (POSIX classes like [[:alpha:]] made
    explicit)."""
    if "[:" in pattern:
        pattern = _POSIX_RE.sub(lambda m: _POSIX_CLASSES.get(m.group(1), m.group(0)),
                                pattern)
    return re.compile(pattern)
