"""Apache's regular expressions are PCRE; this compiles them with Python's ``re``.

The syntax differences that matter in configurations are translated once, at
configuration time:

* named groups ``(?<name>...)`` / ``(?'name'...)`` become ``(?P<name>...)``, and the
  back references ``\\k<name>``, ``\\k'name'``, ``\\k{name}``, ``\\g{N}`` follow;
* POSIX classes inside brackets (``[[:alpha:]]``) are expanded;
* ``\\Q...\\E`` quoting, ``\\x{HH}``, ``\\e``, ``\\h``/``\\H`` and PCRE's ``\\Z``/``\\z``;
* an unknown letter escape (``\\y``) is the letter itself, as in PCRE;
* ``{,n}`` is literal text in PCRE (a quantifier in Python 3.11).

``\\d``, ``\\w``, ``\\s`` and case folding are ASCII-only, as PCRE in Apache (no UCP,
C locale). Possessive quantifiers and atomic groups are native in Python 3.11.

Used by mod_rewrite, mod_alias, SSLRequire and ap_expr; it was
featherd.modules.mappers.rewrite.regex, which still re-exports it.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["PCREError", "compile_pcre", "translate"]


class PCREError(ValueError):
    """The pattern cannot be translated or compiled."""


_POSIX = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
    "lower": "a-z", "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "punct":
    "!-/:-@\\[-`{-~", "print": " -~", "graph": "!-~", "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f", "word": "a-zA-Z0-9_", "ascii": "\\x00-\\x7f",
}

# escapes Python knows with the same meaning (outside and inside classes)
_SAME_ESCAPES = set("dDwWsSbBAntrfa0123456789")
_HSPACE = " \\t\\xa0"
_VSPACE = "\\n\\x0b\\f\\r\\x85"


def _class(p: str, i: int) -> tuple[str, int]:
    """Translate a bracket expression starting at p[i] == '['; return (text, next index)."""
    out = ["["]
    i += 1
    n = len(p)
    if i < n and p[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < n:
        c = p[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "[" and p.startswith("[:", i):
            end = p.find(":]", i + 2)
            if end > 0:
                name = p[i + 2:end]
                neg = name.startswith("^")
                if neg:
                    name = name[1:]
                if name not in _POSIX:
                    raise PCREError(f"unknown POSIX class name {name}")
                if neg:
                    # [[:^alpha:]] inside a class: approximate with a lookahead-free set
                    raise PCREError("negated POSIX classes are not supported")
                out.append(_POSIX[name])
                i = end + 2
                continue
            out.append("\\[")
            i += 1
            continue
        if c == "[":
            out.append("\\[")
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            e = p[i + 1]
            if e in _SAME_ESCAPES or e in "\\]-^[.$*+?(){}|/ ":
                out.append(p[i:i + 2])
            elif e == "x" and i + 2 < n and p[i + 2] == "{":
                end = p.find("}", i + 3)
                if end < 0:
                    raise PCREError("bad \\x{...}")
                out.append(re.escape(chr(int(p[i + 3:end], 16))))
                i = end + 1
                continue
            elif e == "x":
                out.append(p[i:i + 2])
            elif e == "e":
                out.append("\\x1b")
            elif e == "h":
                out.append(_HSPACE)
            elif e == "v":
                out.append(_VSPACE)
            elif e == "Q":
                end = p.find("\\E", i + 2)
                lit = p[i + 2:] if end < 0 else p[i + 2:end]
                out.append("".join("\\" + ch if not ch.isalnum() else ch for ch in lit))
                i = n if end < 0 else end + 2
                continue
            elif e == "E":
                pass
            elif e.isalpha():
                out.append(e)
            else:
                out.append(re.escape(e))
            i += 2
            continue
        out.append(c)
        i += 1
    raise PCREError("missing terminating ] for character class")


def translate(p: str) -> str:
    """PCRE pattern text -> Python ``re`` pattern text."""
    if not any(ch in p for ch in "\\[({"):
        return p
    out: list[str] = []
    i = 0
    n = len(p)
    while i < n:
        c = p[i]
        if c == "[":
            txt, i = _class(p, i)
            out.append(txt)
            continue
        if c == "\\" and i + 1 < n:
            e = p[i + 1]
            if e == "Q":
                end = p.find("\\E", i + 2)
                lit = p[i + 2:] if end < 0 else p[i + 2:end]
                out.append(re.escape(lit))
                i = n if end < 0 else end + 2
                continue
            if e == "E":
                i += 2
                continue
            if e == "k" and i + 2 < n and p[i + 2] in "<'{":
                close = {"<": ">", "'": "'", "{": "}"}[p[i + 2]]
                end = p.find(close, i + 3)
                if end < 0:
                    raise PCREError("bad \\k reference")
                out.append(f"(?P={p[i + 3:end]})")
                i = end + 1
                continue
            if e == "g" and i + 2 < n:
                m = re.match(r"\{(-?\d+|\w+)\}|(\d+)", p[i + 2:])
                if m:
                    ref = m.group(1) or m.group(2)
                    if ref.lstrip("-").isdigit():
                        if ref.startswith("-"):
                            raise PCREError("relative back references are not supported")
                        out.append(f"(?:\\{ref})")
                    else:
                        out.append(f"(?P={ref})")
                    i += 2 + m.end()
                    continue
            if e == "x" and i + 2 < n and p[i + 2] == "{":
                end = p.find("}", i + 3)
                if end < 0:
                    raise PCREError("bad \\x{...}")
                out.append(re.escape(chr(int(p[i + 3:end], 16))))
                i = end + 1
                continue
            if e == "z":
                out.append("\\Z")
            elif e == "Z":
                out.append("(?=\\n?\\Z)")
            elif e == "e":
                out.append("\\x1b")
            elif e == "h":
                out.append(f"[{_HSPACE}]")
            elif e == "H":
                out.append(f"[^{_HSPACE}]")
            elif e == "v":
                out.append(f"[{_VSPACE}]")
            elif e == "V":
                out.append(f"[^{_VSPACE}]")
            elif e == "R":
                out.append("(?:\\r\\n|[\\n\\x0b\\f\\r\\x85])")
            elif e == "G":
                out.append("\\A")
            elif e in _SAME_ESCAPES or e == "x" or not e.isalpha():
                out.append(p[i:i + 2])
            else:
                # PCRE: an unknown letter escape is the letter itself
                out.append(e)
            i += 2
            continue
        if c == "(" and p.startswith("(?", i):
            if p.startswith("(?<", i) and i + 3 < n and p[i + 3] not in "=!":
                out.append("(?P<")
                i += 3
                continue
            if p.startswith("(?'", i):
                end = p.find("'", i + 3)
                if end < 0:
                    raise PCREError("bad named group")
                out.append(f"(?P<{p[i + 3:end]}>")
                i = end + 1
                continue
            if p.startswith("(?P>", i) or p.startswith("(?&", i) or p.startswith("(?R)", i):
                raise PCREError("recursive patterns are not supported")
        if c == "{" and p.startswith("{,", i):
            out.append("\\{")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=2048)
def compile_pcre(pattern: str, nocase: bool = False) -> re.Pattern[str]:
    """Compile a PCRE pattern as Apache's ap_pregcomp (REG_EXTENDED[, REG_ICASE])."""
    flags = re.ASCII | (re.IGNORECASE if nocase else 0)
    try:
        return re.compile(translate(pattern), flags)
    except (re.error, ValueError, OverflowError) as e:
        raise PCREError(str(e)) from None
