"""Parsing what the client accepts and what a variant is, as mod_negotiation does.

``Accept``, ``Accept-Charset``, ``Accept-Language`` and ``Accept-Encoding`` share one
shape: a list of ``name; param=value`` items (do_header_line / get_entry). Names and
parameter values are lower-cased; ``q`` (and ``qs``, a variant's source quality) is read
by atoq (at most three decimals, "0"/".5"/"0.5", anything else is 1), ``level`` by atoi,
``charset`` kept. ``text/html`` (and the server-parsed types) default to level 2, as
Apache's "KLUDGE" does. Qualities are C floats: :func:`f32` rounds to single precision
so that ties and comparisons come out as in httpd.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

INCLUDES_MAGIC_TYPE = "text/x-server-parsed-html"
INCLUDES_MAGIC_TYPE3 = "text/x-server-parsed-html3"
CGI_MAGIC_TYPE = "application/x-httpd-cgi"
MAP_FILE_MAGIC_TYPE = "application/x-type-map"

_F = struct.Struct("f")


def f32(x: float) -> float:
    """x rounded to a C float."""
    return _F.unpack(_F.pack(x))[0]  # type: ignore[no-any-return]


@dataclass(slots=True)
class AcceptRec:
    """accept_rec: one item of an Accept* header (or a variant's content type)."""

    name: str
    quality: float = 1.0
    level: float = 0.0
    charset: str = ""


def get_token(s: str, pos: int, accept_white: bool) -> tuple[str, int]:
    """ap_get_token: skip white space, read up to white space (unless accept_white),
    ';' or ',' (quoted strings kept whole), skip the white space after it."""
    n = len(s)
    while pos < n and s[pos].isspace():
        pos += 1
    start = pos
    while pos < n and (accept_white or not s[pos].isspace()) and s[pos] not in ";,":
        c = s[pos]
        pos += 1
        if c == '"':
            while pos < n:
                c = s[pos]
                pos += 1
                if c == '"':
                    break
    tok = s[start:pos]
    while pos < n and s[pos].isspace():
        pos += 1
    return tok, pos


def atoq(s: str | None) -> float:
    """Quality value: "0", "0.xyz", ".xyz" (three digits at most), otherwise 1."""
    if not s:
        return 1.0
    s = s.lstrip()
    i = 0
    if not s.startswith("."):
        if not s.startswith("0"):
            return 1.0
        i = 1
    if i < len(s) and s[i] == ".":
        v = 0
        digits = s[i + 1:i + 4]
        for k, mult in enumerate((100, 10, 1)):
            if k >= len(digits) or not digits[k].isdigit():
                break
            if k == 2 and digits[k] == "0":
                break
            v += int(digits[k]) * mult
        return f32(v / 1000.0)
    return 0.0


def _atoi(s: str) -> int:
    s = s.lstrip()
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    n = 0
    for c in s:
        if not c.isdigit():
            break
        n = n * 10 + int(c)
    return sign * n


def get_entry(line: str, pos: int = 0) -> tuple[AcceptRec, int]:
    """One media range with its parameters, from ``line[pos:]``; returns the record and
    where the next item starts."""
    name, pos = get_token(line, pos, False)
    rec = AcceptRec(name.lower())
    if rec.name == "text/html" or rec.name == INCLUDES_MAGIC_TYPE:
        rec.level = 2.0
    elif rec.name == INCLUDES_MAGIC_TYPE3:
        rec.level = 3.0
    n = len(line)
    while pos < n and line[pos] == ";":
        parm, pos = get_token(line, pos + 1, True)
        i = 0
        while i < len(parm) and not parm[i].isspace() and parm[i] != "=":
            i += 1
        if i >= len(parm):
            continue                      # no '=': ignored
        var = parm[:i].lower()
        i += 1
        while i < len(parm) and (parm[i].isspace() or parm[i] == "="):
            i += 1
        if i < len(parm) and parm[i] == '"':
            i += 1
            end = i
            while end < len(parm) and parm[end] not in '\n\r"':
                end += 1
        else:
            end = i
            while end < len(parm) and not parm[end].isspace():
                end += 1
        val = parm[i:end].lower()
        if var in ("q", "qs"):
            rec.quality = atoq(val)
        elif var == "level":
            rec.level = float(_atoi(val))
        elif var == "charset":
            rec.charset = val
    if pos < n and line[pos] == ",":
        pos += 1
    return rec, pos


def header_line(value: str | None) -> list[AcceptRec] | None:
    """do_header_line: None when the header is absent, else its items (maybe none)."""
    if value is None:
        return None
    out: list[AcceptRec] = []
    pos = 0
    n = len(value)
    while pos < n:
        rec, new = get_entry(value, pos)
        if new == pos:                    # a character no token can start with
            new += 1
        out.append(rec)
        pos = new
    return out


def languages_line(value: str) -> list[str]:
    """do_languages_line: a type map's Content-Language list, lower-cased."""
    out: list[str] = []
    pos = 0
    n = len(value)
    while pos < n:
        tok, new = get_token(value, pos, False)
        out.append(tok.lower())
        if new < n and value[new] in ",;":
            new += 1
        if new == pos:
            new += 1
        pos = new
    return out


def negotiate_tokens(value: str) -> list[str]:
    """The items of a Negotiate header (ap_get_list_item: comma-separated, lower-cased)."""
    return [t.strip().lower() for t in value.split(",") if t.strip()]
