"""mod_mime_magic's matcher: the rules against a file's first bytes (mget, mcheck,
mprint and match() of mod_mime_magic.c), then the tests for text the magic rules miss
(ascmagic: troff, Fortran, file(1)'s "names" table, tar archives)."""

from __future__ import annotations

import time
from typing import Any

from featherd.modules.metadata.mod_mime_magic.parser import (
    BEDATE,
    BELONG,
    BESHORT,
    BYTE,
    DATE,
    ERROR,
    INDIR,
    LEDATE,
    LELONG,
    LESHORT,
    MAXSTRING,
    MODNAME,
    SHORT,
    STRING,
    UNSIGNED,
    Magic,
    _signed,
    _u64,
    signextend,
)

SMALL_HOWMANY = 1024
VALUESIZE = 64                  # sizeof(union VALUETYPE)


# --- matching ---------------------------------------------------------------------------
def _convert(m: Magic, raw: bytes) -> bytearray:
    """mconvert: the VALUETYPE union (64 bytes, little-endian like the host) after the
    byte-order conversion of m's type."""
    u = bytearray(raw[:VALUESIZE].ljust(VALUESIZE, b"\0"))
    t = m.type
    if t == STRING:
        u[MAXSTRING - 1] = 0
        nul = u.find(b"\0")
        nl = u.find(b"\n", 0, nul)
        if nl >= 0:
            u[nl] = 0
    elif t == BESHORT:
        u[0:2] = ((u[0] << 8) | u[1]).to_bytes(2, "little")
    elif t in (BELONG, BEDATE):
        v = _signed((u[0] << 24) | (u[1] << 16) | (u[2] << 8) | u[3], 32)
        u[0:8] = _u64(v).to_bytes(8, "little")
    elif t in (LELONG, LEDATE):
        v = _signed((u[3] << 24) | (u[2] << 16) | (u[1] << 8) | u[0], 32)
        u[0:8] = _u64(v).to_bytes(8, "little")
    return u


def _h(u: bytearray) -> int:
    return int.from_bytes(u[0:2], "little")


def _l(u: bytearray) -> int:
    return int.from_bytes(u[0:8], "little")


def mget(m: Magic, buf: bytes, nbytes: int) -> bytearray | None:
    off = m.offset
    if off < 0 or off + VALUESIZE > nbytes:
        return None
    u = _convert(m, buf[off:off + VALUESIZE])
    if m.flag & INDIR:
        if m.in_type == BYTE:
            off = u[0] + m.in_offset
        elif m.in_type == SHORT:
            off = _h(u) + m.in_offset
        else:
            off = _signed(_l(u), 64) + m.in_offset
        if off < 0 or off + VALUESIZE > nbytes:
            return None
        u = _convert(m, buf[off:off + VALUESIZE])
    return u


def _numeric(m: Magic, u: bytearray) -> int:
    if m.type == BYTE:
        return u[0]
    if m.type in (SHORT, BESHORT, LESHORT):
        return _h(u)
    return _l(u)


def mcheck(m: Magic, u: bytearray, r: Any = None) -> bool:
    if (m.type == STRING and m.svalue == b"x") or \
            (m.type != STRING and m.value & 0xFFFF == 0x78):
        if r is not None:
            r.log_error(ERROR, f"{MODNAME}: BOINK")
        return True
    lval = m.value
    if m.type == STRING:
        lval = 0
        v = 0
        for k, a in enumerate(m.svalue):
            v = u[k] - a
            if v:
                break
        v = _u64(v)
    else:
        v = _numeric(m, u)
    v = signextend(m, v) & m.mask
    rel = m.reln
    if rel == "x":
        return True
    if rel == "!":
        return v != lval
    if rel == "=":
        return v == lval
    if rel in "<>":
        a, b = (v, lval) if m.flag & UNSIGNED else (_signed(v, 64), _signed(lval, 64))
        return a > b if rel == ">" else a < b
    if rel == "&":
        return (v & lval) == lval
    if rel == "^":
        return (v & lval) != lval
    return False


def _printf(fmt: str, arg: Any) -> str:
    """The little of printf that magic messages use (%s, %d, %u, %x, %c, %%)."""
    out: list[str] = []
    i = 0
    used = False
    while i < len(fmt):
        c = fmt[i]
        if c != "%" or i + 1 >= len(fmt):
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-+ #0123456789.lh":
            j += 1
        conv = fmt[j] if j < len(fmt) else ""
        if conv == "%":
            out.append("%")
        elif conv in "sdiuxXoc" and conv and not used:
            used = True
            if conv == "s":
                out.append(arg if isinstance(arg, str) else str(arg))
            elif isinstance(arg, int):
                if conv in "di":
                    out.append(str(_signed(arg, 64)))
                elif conv == "u":
                    out.append(str(arg))
                elif conv in "xX":
                    out.append(format(arg, conv))
                elif conv == "o":
                    out.append(format(arg, "o"))
                else:
                    out.append(chr(arg & 0xFF))
        else:
            out.append(fmt[i:j + 1])
        i = j + 1
    return "".join(out)[:255]


def mprint(m: Magic, u: bytearray) -> str:
    if m.type == STRING:
        text = m.svalue if m.reln == "=" else bytes(u).split(b"\0", 1)[0]
        return _printf(m.desc, text.decode("latin-1"))
    if m.type in (DATE, BEDATE, LEDATE):
        try:
            when = time.ctime(_signed(_l(u), 64))
        except (OverflowError, OSError, ValueError):
            when = "?"
        return _printf(m.desc, when)
    return _printf(m.desc, signextend(m, _numeric(m, u)) & m.mask)


def softmagic(rules: list[Magic], buf: bytes, nbytes: int,
              r: Any = None) -> list[str] | None:
    """match(): the messages of the first rule that matches and its continuations."""
    out: list[str] = []
    i = 0
    n = len(rules)
    while i < n:
        m = rules[i]
        p = mget(m, buf, nbytes)
        if p is None or not mcheck(m, p, r):
            i += 1
            while i < n and rules[i].cont_level != 0:
                i += 1
            continue
        out.append(mprint(m, p))
        need_separator = bool(m.desc)
        cont_level = 1
        i += 1
        while i < n and rules[i].cont_level != 0:
            m = rules[i]
            if cont_level >= m.cont_level:
                if cont_level > m.cont_level:
                    cont_level = m.cont_level
                p = mget(m, buf, nbytes)
                if p is not None and mcheck(m, p, r):
                    if need_separator and not m.nospflag and m.desc:
                        out.append(" ")
                        need_separator = False
                    out.append(mprint(m, p))
                    if m.desc:
                        need_separator = True
                    cont_level += 1
            i += 1
        return out
    return None


NAMES = (("<html>", 0), ("<HTML>", 0), ("<head>", 0), ("<HEAD>", 0), ("<title>", 0),
         ("<TITLE>", 0), ("<h1>", 0), ("<H1>", 0), ("<!--", 0), ("<!DOCTYPE HTML", 0),
         ("/*", 1), ("#include", 1), ("char", 1), ("The", 6), ("the", 6), ("double", 1),
         ("extern", 1), ("float", 1), ("real", 1), ("struct", 1), ("union", 1),
         ("CFLAGS", 3), ("LDFLAGS", 3), ("all:", 3), (".PRECIOUS", 3), (".ascii", 5),
         (".asciiz", 5), (".byte", 5), (".even", 5), (".globl", 5), ("clr", 5),
         ("(input,", 7), ("dcl", 4), ("Received:", 8), (">From", 8), ("Return-Path:", 8),
         ("Cc:", 8), ("Newsgroups:", 9), ("Path:", 9), ("Organization:", 9))
_NAME_TYPES = ("text/html", "text/plain", "text/plain", "text/plain", "text/plain",
               "text/plain", "text/plain", "text/plain", "message/rfc822", "message/news")
_NAME_MAP: dict[str, int] = {}
for _name, _t in NAMES:
    _NAME_MAP.setdefault(_name, _t)


def _isspace(b: int) -> bool:
    return b in (9, 10, 11, 12, 13, 32)


def _isalnum(b: int) -> bool:
    return 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122


def from_oct(digs: int, where: bytes) -> int:
    i = 0
    while i < len(where) and _isspace(where[i]):
        i += 1
        digs -= 1
        if digs <= 0:
            return -1
    value = 0
    while digs > 0 and i < len(where) and 48 <= where[i] <= 55:
        value = (value << 3) | (where[i] - 48)
        i += 1
        digs -= 1
    if digs > 0 and i < len(where) and where[i] and not _isspace(where[i]):
        return -1
    return value


def is_tar(buf: bytes, nbytes: int) -> int:
    if nbytes < 512:
        return 0
    chksum = buf[148:156]
    recsum = from_oct(8, chksum)
    total = sum(buf[:512]) - sum(chksum) + 32 * 8
    if total != recsum:
        return 0
    return 2 if buf[257:265] == b"ustar  \0" else 1


def ascmagic(buf: bytes, nbytes: int) -> list[str] | None:
    if buf[:1] == b".":
        k = 1
        while k < len(buf) and _isspace(buf[k]):
            k += 1
        c0 = buf[k] if k < len(buf) else 0
        c1 = buf[k + 1] if k + 1 < len(buf) else 0
        if (_isalnum(c0) or c0 == 92) and (_isalnum(c1) or c0 == 34):
            return ["application/x-troff"]
    if buf[:1] in (b"c", b"C") and len(buf) > 1 and _isspace(buf[1]):
        return ["text/plain"]
    small = buf[:min(nbytes, SMALL_HOWMANY)].split(b"\0", 1)[0]
    has_escapes = b"\033" in buf[:min(nbytes, SMALL_HOWMANY)]
    for tok in small.replace(b"\t", b" ").replace(b"\n", b" ").replace(b"\r", b" ") \
            .replace(b"\f", b" ").split(b" "):
        if not tok:
            continue
        t = _NAME_MAP.get(tok.decode("latin-1"))
        if t is not None:
            return [_NAME_TYPES[t]] + ([" (with escape sequences)"] if has_escapes else [])
    if is_tar(buf, nbytes):
        return ["application/x-tar"]
    return None
