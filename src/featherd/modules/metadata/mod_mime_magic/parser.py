"""mod_mime_magic's magic-file parser: Apache's subset of file(1)'s format, each line
one :class:`Magic` rule (apprentice() and parse() of mod_mime_magic.c), with C's integer
semantics on a 64-bit system."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = 3
MODNAME = "mod_mime_magic"
MAXDESC = 50
MAXSTRING = 64
BUFSIZ = 8192
U64 = (1 << 64) - 1

BYTE, SHORT, LONG, STRING, DATE, BESHORT, BELONG, BEDATE, LESHORT, LELONG, LEDATE = \
    1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12
TYPES = (("byte", BYTE), ("short", SHORT), ("long", LONG), ("string", STRING),
         ("date", DATE), ("beshort", BESHORT), ("belong", BELONG), ("bedate", BEDATE),
         ("leshort", LESHORT), ("lelong", LELONG), ("ledate", LEDATE))
INDIR, UNSIGNED = 1, 2


# --- C integer helpers (LP64) ----------------------------------------------------------
def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _u64(v: int) -> int:
    return v & U64


def strtol(s: str, i: int = 0) -> tuple[int, int]:
    """C strtol(s + i, &end, 0): (value clamped to a 64-bit long, end index)."""
    n = len(s)
    j = i
    while j < n and s[j] in " \t\n\v\f\r":
        j += 1
    neg = False
    if j < n and s[j] in "+-":
        neg = s[j] == "-"
        j += 1
    base = 10
    if s[j:j + 2].lower() == "0x" and j + 2 < n and s[j + 2] in "0123456789abcdefABCDEF":
        base = 16
        j += 2
    elif j < n and s[j] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    start = j
    v = 0
    while j < n and s[j].lower() in digits:
        v = v * base + int(s[j], 16)
        j += 1
    if j == start:
        return 0, i
    v = -v if neg else v
    v = max(min(v, (1 << 63) - 1), -(1 << 63))
    return v, j


@dataclass(slots=True)
class Magic:
    """struct magic: one rule."""

    lineno: int
    cont_level: int = 0
    flag: int = 0
    in_type: int = LONG
    in_offset: int = 0
    offset: int = 0
    reln: str = "="
    type: int = 0
    value: int = 0                 # unsigned long, 64 bits
    svalue: bytes = b""            # string value
    mask: int = U64
    nospflag: bool = False
    desc: str = ""


def signextend(m: Magic, v: int) -> int:
    if not m.flag & UNSIGNED:
        if m.type == BYTE:
            v = _signed(v, 8)
        elif m.type in (SHORT, BESHORT, LESHORT):
            v = _signed(v, 16)
        elif m.type != STRING:
            v = _signed(v, 64)
    return _u64(v)


def getstr(s: str, i: int) -> tuple[bytes, int, bool]:
    """A string value with C escapes, up to white space: (value, end, too_long)."""
    out = bytearray()
    n = len(s)
    too_long = False
    while i < n:
        c = s[i]
        i += 1
        if c.isspace():
            break
        if len(out) >= MAXSTRING - 1:
            too_long = True
            break
        if c != "\\":
            out += c.encode("latin-1", "replace")
            continue
        if i >= n:
            break
        c = s[i]
        i += 1
        esc = {"n": 10, "r": 13, "b": 8, "t": 9, "f": 12, "v": 11}
        if c in esc:
            out.append(esc[c])
        elif c in "01234567":
            val = int(c)
            for _ in range(2):
                if i < n and s[i] in "01234567":
                    val = (val << 3) | int(s[i])
                    i += 1
                else:
                    break
            out.append(val & 0xFF)
        elif c == "x":
            val = ord("x")
            k = 0
            while k < 3 and i < n and s[i] in "0123456789abcdefABCDEF":
                val = int(s[i], 16) if k == 0 else (val << 4) + int(s[i], 16)
                i += 1
                k += 1
            out.append(val & 0xFF)
        else:
            out += c.encode("latin-1", "replace")
    return bytes(out), i, too_long


def parse_line(line: str, lineno: int, errors: list[str]) -> Magic | None:
    """parse(): one rule, or None (with an error) for an unknown type."""
    m = Magic(lineno)
    i = 0
    n = len(line)
    while i < n and line[i] == ">":
        i += 1
        m.cont_level += 1
    if m.cont_level and i < n and line[i] == "(":
        i += 1
        m.flag |= INDIR
    off, t = strtol(line, i)
    if t == i:
        errors.append(f"{MODNAME}: offset {line[i:]} invalid")
    m.offset = _signed(off, 32)
    i = t
    if m.flag & INDIR:
        if i < n and line[i] == ".":
            i += 1
            c = line[i] if i < n else ""
            if c in ("l", "s", "b"):
                m.in_type = {"l": LONG, "s": SHORT, "b": BYTE}[c]
            else:
                errors.append(f"{MODNAME}: indirect offset type {c} invalid")
            i += 1
        sign = line[i] if i < n else ""
        if sign in "+-" and sign:
            i += 1
        if i < n and line[i].isdigit():
            v, t = strtol(line, i)
            m.in_offset = -v if sign == "-" else v
        else:
            t = i
        if t >= n or line[t] != ")":
            errors.append(f"{MODNAME}: missing ')' in indirect offset")
        i = t + 1
    while i < n and line[i].isdigit():
        i += 1
    while i < n and line[i].isspace():
        i += 1
    if i < n and line[i] == "u":
        i += 1
        m.flag |= UNSIGNED
    for name, code in TYPES:
        if line.startswith(name, i):
            m.type = code
            i += len(name)
            break
    else:
        errors.append(f"{MODNAME}: type {line[i:]} invalid")
        return None
    if i < n and line[i] == "&":
        v, i = strtol(line, i + 1)
        m.mask = signextend(m, v)
    while i < n and line[i].isspace():
        i += 1
    c = line[i] if i < n else ""
    desc_now = False
    if c in (">", "<", "&", "^", "=") and c:
        m.reln = c
        i += 1
    elif c == "!" and m.type != STRING:
        m.reln = c
        i += 1
    elif c == "x" and i + 1 < n and line[i + 1].isspace():
        m.reln = "x"
        i += 1
        desc_now = True
    else:
        m.reln = "="
    if not desc_now:
        while i < n and line[i].isspace():
            i += 1
        if m.type == STRING:
            m.svalue, i, too_long = getstr(line, i)
            if too_long:
                errors.append(f"{MODNAME}: string too long: {line[i:]}")
        elif m.reln != "x":
            v, i = strtol(line, i)
            m.value = signextend(m, v)
    while i < n and line[i].isspace():
        i += 1
    if line.startswith("\b", i):
        i += 1
        m.nospflag = True
    elif line.startswith("\\b", i):
        i += 2
        m.nospflag = True
    m.desc = line[i:i + MAXDESC - 1]
    return m


def parse_magic(text: str) -> tuple[list[Magic], list[str]]:
    """apprentice(): the rules of a magic file and the parse errors."""
    rules: list[Magic] = []
    errors: list[str] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw[:BUFSIZ - 1].rstrip()
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        m = parse_line(stripped, lineno, errors)
        if m is not None:
            rules.append(m)
    return rules, errors
