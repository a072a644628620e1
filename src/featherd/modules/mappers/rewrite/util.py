"""URL helpers shared by mod_rewrite and mod_alias, with Apache's exact escaping rules
(server/util.c: ap_os_escape_path, ap_escape_uri, ap_unescape_url, ap_pregsub,
ap_is_url)."""

from __future__ import annotations

import re

__all__ = ["escape_backref", "escape_uri", "is_url", "pregsub", "unescape_url"]

# T_OS_ESCAPE_PATH: everything but alphanumerics and $-_.+!*'(),:@&=/~ (gen_test_char.c)
_PATH_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       b"$-_.+!*'(),:@&=/~")
_HEX = "0123456789abcdef"   # Apache's c2x() writes lower-case hex
_ESC_TABLE = [chr(c) if c in _PATH_SAFE else f"%{_HEX[c >> 4]}{_HEX[c & 15]}"
              for c in range(256)]


def escape_uri(s: str) -> str:
    """ap_escape_uri / ap_os_escape_path(partial=1)."""
    if all(ord(c) < 128 and ord(c) in _PATH_SAFE for c in s):
        return s
    try:
        b = s.encode("latin-1")
    except UnicodeEncodeError:
        b = s.encode("utf-8")
    return "".join(_ESC_TABLE[c] for c in b)


def escape_backref(s: str, escapeme: str | None = None, noplus: bool = False) -> str:
    """mod_rewrite's escape_backref ([B] flag): alphanumerics and '_' stay, ' ' is '+'
    (unless [BNP]), the rest %xx; with B=chars only those chars are escaped."""
    try:
        b = s.encode("latin-1")
    except UnicodeEncodeError:
        b = s.encode("utf-8")
    out = []
    for c in b:
        ch = chr(c)
        if escapeme is None:
            if (ch.isascii() and ch.isalnum()) or ch == "_":
                out.append(ch)
                continue
        elif ch not in escapeme:
            out.append(ch)
            continue
        if ch == " " and not noplus:
            out.append("+")
        else:
            out.append(f"%{_HEX[c >> 4]}{_HEX[c & 15]}")
    return "".join(out)


_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def unescape_url(s: str) -> str:
    """ap_unescape_url as mod_rewrite's int:unescape uses it: %xx decoded, a bad escape
    kept as it is, the result cut at a decoded NUL (a C string)."""
    if "%" not in s:
        return s
    out = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%" and i + 2 < n and s[i + 1] in _HEXDIGITS and s[i + 2] in _HEXDIGITS:
            ch = chr(int(s[i + 1:i + 3], 16))
            if ch == "\x00":
                break
            out.append(ch)
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


_URL_RE = re.compile(r"[A-Za-z0-9+.\-]+:")


def is_url(u: str) -> bool:
    """ap_is_url: a scheme (alphanumerics, '+', '-', '.') followed by ':'."""
    return _URL_RE.match(u) is not None


def pregsub(template: str, source: str, m: re.Match[str] | None) -> str:
    """ap_pregsub: ``$0``-``$9`` and ``&`` (the whole match); ``\\$`` and ``\\&`` are
    literal. A group that did not take part gives nothing."""
    if "$" not in template and "&" not in template and "\\" not in template:
        return template
    out = []
    i = 0
    n = len(template)
    while i < n:
        c = template[i]
        no = 10
        if c == "&":
            no = 0
        elif c == "$" and i + 1 < n and template[i + 1].isdigit():
            no = ord(template[i + 1]) - 48
            i += 1
        if no > 9:
            if c == "\\" and i + 1 < n and template[i + 1] in "$&":
                i += 1
                c = template[i]
            out.append(c)
        elif m is not None and no <= (m.re.groups if m.re else 0):
            g = m.group(no)
            if g:
                out.append(g)
        i += 1
    return "".join(out)
