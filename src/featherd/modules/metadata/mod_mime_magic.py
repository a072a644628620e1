"""mod_mime_magic: content types from the file's first bytes, as in Apache 2.2.

``MimeMagicFile file`` (server config, virtual host; a virtual host without one uses the
main server's) loads a magic file in Apache's subset of file(1)'s format; the bundled
``featherd/data/magic`` is Debian's ``/etc/apache2/magic``. Each line is::

    [>...]offset  [u]type[&mask]  [relation]value  mime-type [encoding]

``>`` marks continuations (tried after a match of the line above them, each level
under the one before), ``>(off.[bsl][+-n])`` an indirect offset; the types are byte,
short, long, string, date and their be/le forms; relations ``=`` (default), ``<``,
``>``, ``&`` (all mask bits set), ``^`` (some clear), ``!`` and ``x`` (anything). The
messages of the matching line and its matching continuations, joined, give the type
and an optional encoding.

It runs only for files to which mod_mime gave no type (after mod_mime), reading the
first 4 KB (a rule needs 64 bytes from its offset, as in Apache, where the value union
is that large). Failing the magic tests: troff, Fortran, the keywords of file(1)'s
"names" table (HTML, C, mail, news... in the first KB) and tar archives. Compressed files
(gzip, compress, pack) are uncompressed and their content typed, the compression
becoming the Content-Encoding; ``MimeMagicDecompression Off`` (2.4.x) turns that off.
A name ending in ``@<digits>`` (a revision suffix) takes the type of the name without it.

Apache's numeric semantics on a 64-bit system are kept (an ``unsigned long`` of 64 bits,
a be/le ``long`` sign-extended from 32 bits), so a rule matches exactly when Debian's
apache2 says it does. Two Apache slips are not copied: its rsl_strdup takes one
character too many (``Content-Type: application/x-tar<TAB>``, and an encoding ending in
a raw newline), and 2.4 leaves ``Content-Encoding: x-gzip`` on a compressed file whose
content it could not type (2.2, and featherd, set the encoding only with a type).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat as stat_mod
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
MODNAME = "mod_mime_magic"
MIME_BINARY_UNKNOWN = "application/octet-stream"
MIME_TEXT_UNKNOWN = "text/plain"
DIR_MAGIC_TYPE = "httpd/unix-directory"
HOWMANY = 4096
SMALL_HOWMANY = 1024
MAXDESC = 50
MAXSTRING = 64
VALUESIZE = 64                  # sizeof(union VALUETYPE)
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


COMPR = ((b"\037\235", "x-compress", False), (b"\037\213", "x-gzip", True),
         (b"\037\036", "x-gzip", False))


# --- configuration ------------------------------------------------------------------------
@dataclass(slots=True)
class MagicServerConfig:
    magicfile: str | None = None
    decompression: bool | None = None
    rules: list[Magic] | None = field(default=None)


class MimeMagicModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return MagicServerConfig(new.magicfile or base.magicfile,
                                 new.decompression if new.decompression is not None
                                 else base.decompression, None)


mime_magic = MimeMagicModule("mime_magic_module", "mod_mime_magic.c",
                             server_config=MagicServerConfig,
                             description="Determines the MIME type of a file by looking "
                                         "at a few bytes of its contents")
mime_magic_module = mime_magic


@mime_magic.directive("MimeMagicFile", args=ArgSpec.TAKE1, context=Context.RSRC,
                      syntax="MimeMagicFile file-path",
                      help="Path to MIME Magic file (in file(1) format)")
def set_magicfile(cmd: CmdParms, conf: MagicServerConfig, path: str) -> None:
    conf.magicfile = path


@mime_magic.directive("MimeMagicDecompression", args=ArgSpec.FLAG, context=Context.RSRC,
                      syntax="MimeMagicDecompression On|Off",
                      help="Enable decompression of compressed files for content type "
                           "detection")
def set_decompression(cmd: CmdParms, conf: MagicServerConfig, on: bool) -> None:
    conf.decompression = on


_RULES_CACHE: dict[tuple[str, int, int], tuple[list[Magic], list[str]]] = {}


def load_magic(path: str) -> tuple[list[Magic], list[str]]:
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    hit = _RULES_CACHE.get(key)
    if hit is None:
        with open(path, encoding="latin-1") as f:
            hit = parse_magic(f.read())
        _RULES_CACHE[key] = hit
    return hit


@mime_magic.hook("post_config")
def magic_init(tree: Any) -> int:
    """Load each server's magic file (a virtual host without one uses the main one's)."""
    main = tree.main
    log = main.error_log
    main_conf: MagicServerConfig = main.module_config[mime_magic.index]
    for s in tree.all_servers():
        conf: MagicServerConfig = s.module_config[mime_magic.index]
        if conf.magicfile is None or (s is not main and conf.magicfile == main_conf.magicfile
                                      and main_conf.rules is not None):
            if s is not main:
                conf.rules = main_conf.rules
            continue
        path = tree.server_root_relative(conf.magicfile)
        try:
            rules, errors = load_magic(path)
        except OSError as e:
            tree.warnings.append(f"({e.errno}){e.strerror}: {MODNAME}: can't read magic "
                                 f"file {path}")
            return OK
        for msg in errors:
            if log is not None:
                log.log(ERROR, msg)
            else:
                tree.warnings.append(msg)
        conf.rules = rules
    return OK


# --- the type checker --------------------------------------------------------------------
async def _uncompress(r: Request, method: int, buf: bytes) -> bytes | None:
    """The first HOWMANY bytes of the decompressed file (gzip in-process, the rest with
    ``gzip -dcq`` as Apache does)."""
    if COMPR[method][0] == b"\037\213":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        try:
            with open(r.filename or "", "rb") as f:
                while len(out) < HOWMANY:
                    chunk = f.read(16384)
                    if not chunk:
                        break
                    out += d.decompress(chunk, HOWMANY - len(out))
                    while d.unconsumed_tail and len(out) < HOWMANY:
                        out += d.decompress(d.unconsumed_tail, HOWMANY - len(out))
        except (OSError, zlib.error):
            pass
        if out:
            return bytes(out[:HOWMANY])
    gz = shutil.which("gzip")
    if gz is None:
        r.log_error(ERROR, f"{MODNAME}: could not execute `gzip'.")
        return None
    proc = await asyncio.create_subprocess_exec(
        gz, "-dcq", r.filename or "", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        cwd=os.path.dirname(r.filename or "/") or "/")
    assert proc.stdout is not None
    data = b""
    try:
        data = await asyncio.wait_for(proc.stdout.read(HOWMANY), 30)
    except TimeoutError:
        pass
    finally:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        await proc.wait()
    if not data:
        r.log_error(ERROR, f"{MODNAME}: read failed from uncompress of {r.filename}")
        return None
    return data


async def tryit(r: Request, conf: MagicServerConfig, buf: bytes, nbytes: int,
                checkz: bool, result: dict[str, Any]) -> list[str] | None:
    if checkz and conf.decompression is not False:
        for i, (sig, enc, _silent) in enumerate(COMPR):
            if nbytes >= len(sig) and buf.startswith(sig):
                new = await _uncompress(r, i, buf)
                if new is None:
                    return []                 # recognised: "typed" as nothing
                inner = await tryit(r, conf, new + b"\0", len(new) + 1, False, result)
                if inner is not None:
                    result["encoding"] = enc
                    return inner
                break                         # not typed: look at the compressed bytes
    rules = conf.rules or []
    found = softmagic(rules, buf, nbytes, r)
    if found is not None:
        return found
    return ascmagic(buf, nbytes)


def rsl_to_type(frags: list[str]) -> tuple[str, str | None] | None:
    """magic_rsl_to_request: "type/subtype [encoding]" from the joined messages."""
    text = "".join(frags)
    state = 0                 # leading space, type, subtype, separator, encoding
    typ: list[str] = []
    enc: list[str] = []
    for c in text:
        if c.isspace():
            if state == 1:
                return None
            if state == 2:
                state = 3
            elif state == 4:
                break
            continue
        if state == 1 and c == "/":
            typ.append(c)
            state = 2
        elif state == 0:
            state = 1
            typ.append(c)
        elif state in (1, 2):
            typ.append(c)
        elif state == 3:
            state = 4
            enc.append(c)
        else:
            enc.append(c)
    if state < 2:
        return None
    t = "".join(typ)
    semi = t.find(";")
    t = t.lower() if semi < 0 else t[:semi].lower() + t[semi:]
    return t, ("".join(enc).lower() if state == 4 else None)


async def revision_suffix(r: Request) -> bool:
    from featherd.core.http_request import lookup_file

    fn = r.filename or ""
    k = len(fn) - 1
    if k < 0 or not fn[k].isdigit():
        return False
    while k >= 0 and fn[k].isdigit():
        k -= 1
    if k < 0 or fn[k] != "@":
        return False
    sub = await lookup_file(r, fn[:k])
    if not sub.content_type:
        return False
    r.content_type = sub.content_type
    if sub.content_encoding:
        r.content_encoding = sub.content_encoding
    if sub.content_languages:
        r.content_languages = list(sub.content_languages)
    return True


@mime_magic.hook("type_checker", order=MIDDLE + 1, needs=("MimeMagicFile",))
async def magic_find_ct(r: Request) -> int:
    st = r.finfo
    if st is None or not r.filename or r.content_type:
        return DECLINED
    conf: MagicServerConfig = r.server.module_config[mime_magic.index]
    if not conf.rules:
        return DECLINED
    if await revision_suffix(r):
        return OK
    result: dict[str, Any] = {}
    if stat_mod.S_ISDIR(st.st_mode):
        frags: list[str] | None = [DIR_MAGIC_TYPE]
    elif not stat_mod.S_ISREG(st.st_mode):
        frags = [MIME_BINARY_UNKNOWN]
    elif st.st_size == 0:
        frags = [MIME_TEXT_UNKNOWN]
    else:
        try:
            with open(r.filename, "rb") as f:
                data = f.read(HOWMANY)
        except OSError:
            r.log_error(ERROR, f"{MODNAME}: can't read `{r.filename}'")
            return DECLINED
        if not data:
            return DECLINED
        frags = await tryit(r, conf, data + b"\0", len(data) + 1, True, result)
        if frags is None:
            return DECLINED
    res = rsl_to_type(frags)
    if res is None:
        return DECLINED
    r.content_type, enc = res
    if enc is not None:
        r.content_encoding = enc
    elif "encoding" in result:
        r.content_encoding = result["encoding"]
    return OK


__all__ = ["mime_magic", "mime_magic_module", "parse_magic", "softmagic"]
