"""The small helpers mod_autoindex borrows from APR and httpd's util.c, with their exact
behaviour: ``ap_strcmp_match`` wildcards, ``apr_fnmatch``, ``apr_fnmatch_test``,
``ap_os_escape_path``, ``apr_strfsize`` and a sort key equivalent to
``apr_strnatcmp``.

Every string here lives in "byte space": one character per byte (latin-1), so that
lengths, escapes and comparisons are those of the C code. :func:`bstr` converts a
configuration or file-system string (UTF-8 with surrogate escapes) to it.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

_OS_PATH_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$-_.+!*'(),:@&=/~")


def bstr(s: str) -> str:
    """A str from the configuration or os.* (UTF-8, surrogateescape) in byte space."""
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


def fsname(name: str) -> str:
    """A file name from os.scandir in byte space."""
    if name.isascii():
        return name
    return os.fsencode(name).decode("latin-1")


# --- ap_strcmp_match / ap_strcasecmp_match -------------------------------------------
@lru_cache(maxsize=1024)
def _wild_regex(expected: str, nocase: bool) -> re.Pattern[str]:
    out = []
    for c in expected:
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        else:
            out.append(re.escape(c))
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if nocase else 0)
    return re.compile("".join(out), flags)


def strcmp_match(s: str, expected: str) -> bool:
    """ap_strcmp_match(s, expected) == 0: '*' any run, '?' any one character."""
    if "*" not in expected and "?" not in expected:
        return s == expected
    return _wild_regex(expected, False).fullmatch(s) is not None


def strcasecmp_match(s: str, expected: str) -> bool:
    """ap_strcasecmp_match(s, expected) == 0."""
    return _wild_regex(expected, True).fullmatch(s) is not None


def is_matchexp(s: str) -> bool:
    """ap_is_matchexp: does the string hold '*' or '?'."""
    return "*" in s or "?" in s


# --- apr_fnmatch ---------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _fn_regex(pattern: str, noescape: bool, casefold: bool) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1
            neg = False
            if j < n and pattern[j] in "!^":
                neg = True
                j += 1
            items: list[str] = []
            first = True
            closed = False
            while j < n:
                ch = pattern[j]
                if ch == "]" and not first:
                    closed = True
                    break
                first = False
                if ch == "\\" and not noescape and j + 1 < n:
                    j += 1
                    ch = pattern[j]
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    hi = pattern[j + 2]
                    k = j + 2
                    if hi == "\\" and not noescape and k + 1 < n:
                        k += 1
                        hi = pattern[k]
                    items.append(re.escape(ch) + "-" + re.escape(hi)
                                 if ord(ch) <= ord(hi) else "(?!)")
                    j = k + 1
                    continue
                items.append(re.escape(ch))
                j += 1
            if not closed:
                out.append(re.escape("["))
            else:
                body = "".join(items) or "(?!)"
                out.append(("[^" if neg else "[") + body + "]")
                i = j
        elif c == "\\" and not noescape and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if casefold else 0)
    return re.compile("".join(out), flags)


def fnmatch(pattern: str, s: str, *, noescape: bool = False, period: bool = False,
            casefold: bool = False) -> bool:
    """apr_fnmatch(pattern, s, flags) == APR_SUCCESS, without APR_FNM_PATHNAME."""
    if period and s.startswith("."):
        # a leading period must be matched by a literal period
        if not (pattern.startswith(".") or (not noescape and pattern.startswith("\\."))):
            return False
    return _fn_regex(pattern, noescape, casefold).fullmatch(s) is not None


def fnmatch_test(pattern: str) -> bool:
    """apr_fnmatch_test: does the pattern hold wildcards ('?', '*', '[...]')."""
    nesting = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c in "?*":
            return True
        if c == "\\":
            i += 1
            if i >= n:
                return False
        elif c == "[":
            nesting += 1
        elif c == "]" and nesting:
            return True
        i += 1
    return False


# --- escaping --------------------------------------------------------------------------
_PATH_SAFE_RE = re.compile(r"[A-Za-z0-9$\-_.+!*'(),@&=/~]*")


def os_escape_path(path: str, partial: bool) -> str:
    """ap_os_escape_path: %-escape all but RFC 2396 pchar and '/' (lower-case hex);
    unless partial, a colon before the first '/' gets a "./" prefix."""
    if _PATH_SAFE_RE.fullmatch(path):
        return path
    out = []
    if not partial:
        colon = path.find(":")
        slash = path.find("/")
        if colon >= 0 and (slash < 0 or colon < slash):
            out.append("./")
    for c in path:
        if c in _OS_PATH_SAFE:
            out.append(c)
        else:
            out.append(f"%{ord(c):02x}")
    return "".join(out)


_HEX = "0123456789abcdefABCDEF"


def unescape_url(s: str) -> str | None:
    """ap_unescape_url, or None where it fails (bad escape, %2F or %00)."""
    if "%" not in s:
        return s
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "%":
            h = s[i + 1:i + 3]
            if len(h) < 2 or h[0] not in _HEX or h[1] not in _HEX:
                return None
            ch = chr(int(h, 16))
            if ch in "/\0":
                return None
            out.append(ch)
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


# --- apr_strfsize ----------------------------------------------------------------------
def strfsize(size: int) -> str:
    """apr_strfsize: a size in four characters ("  3 ", "1.5K", " 12M", "  - ")."""
    if size < 0:
        return "  - "
    if size < 973:
        s = f"{size:3d} "
        return s if len(s) <= 4 else "****"
    order = "KMGTPE"
    o = 0
    while True:
        remain = size & 1023
        size >>= 10
        if size >= 973:
            o += 1
            continue
        if size < 9 or (size == 9 and remain < 973):
            remain = (remain * 5 + 256) // 512
            if remain >= 10:
                size += 1
                remain = 0
            return f"{size}.{remain}{order[o]}"[:4]
        if remain >= 512:
            size += 1
        return f"{size:3d}{order[o]}"[:4]


# --- apr_strnatcmp as a sort key -------------------------------------------------------
_RUNS = re.compile(r"([0-9]+)")


def _char_table(fold: bool) -> dict[int, str | None]:
    """Each byte-space character as C's signed char, shifted to 1..256; white space
    is dropped (strnatcmp skips it)."""
    t: dict[int, str | None] = {}
    for o in range(256):
        v = o - 32 if fold and 97 <= o <= 122 else o
        t[o] = chr((v - 256 if v >= 128 else v) + 129)
    for c in " \t\n\v\f\r":
        t[ord(c)] = None
    return t


_CHARS = _char_table(False)
_CHARS_FOLD = _char_table(True)
_RUN_MARK = chr(48 + 129)     # a run of digits sorts where the character '0' would
_END = chr(129)               # the terminating NUL


def natkey(s: str, fold: bool = False) -> str:
    """A key k with k(a) < k(b) exactly when apr_strnatcmp(a, b) < 0 (strnatcasecmp
    when ``fold``). White space is skipped; characters compare as C's signed char;
    runs of digits compare as integers unless one of the two starts with '0', where
    they compare left-aligned (as a fraction). So a run starting with '0' sorts before
    every run that does not and such runs sort among themselves as strings (ended by a
    mark below every digit); other runs sort by length, then digits. A run sorts after
    every character below '0' and before every one above '9'."""
    table = _CHARS_FOLD if fold else _CHARS
    parts = _RUNS.split(s)
    out = []
    for i, part in enumerate(parts):
        if i & 1:
            if part[0] == "0":
                out.append(_RUN_MARK + "\x01" + part + "\x01")
            else:
                out.append(_RUN_MARK + "\x02" + chr(len(part)) + part)
        elif part:
            out.append(part.translate(table))
    out.append(_END)
    return "".join(out)


def strnatcmp(a: str, b: str, fold: bool = False) -> int:
    ka, kb = natkey(a, fold), natkey(b, fold)
    return (ka > kb) - (ka < kb)
