"""ap_expr's functions (%{func:arg}, func(arg)), list functions and unary / binary
operators (util_expr_eval.c's string funcs, file tests, fnmatch; mod_ssl's), the tables
modules extend with :func:`register`."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from collections.abc import Callable
from typing import Any

from featherd.core.expr.base import Ctx, _NeedSubreq
from featherd.core.expr.variables import _EXT_VARS


# functions: name -> (fn(ctx, arg) -> str|None, restricted)
def _table_get(which: str) -> Callable[[Ctx, str], str | None]:
    def get(ctx: Ctx, arg: str) -> str | None:
        r = ctx.r
        if r is None:
            return ""
        if which == "resp":
            v = r.headers_out.get(arg)
            return v if v is not None else r.err_headers_out.get(arg)
        if which == "note":
            return r.notes.get(arg)
        if which == "reqenv":
            return r.subprocess_env.get(arg)
        if which == "req" and arg.lower() != "host":
            ctx.add_vary(arg)
        return r.headers_in.get(arg)
    return get


def _env(ctx: Ctx, arg: str) -> str | None:
    r = ctx.r
    if r is not None:
        v = r.notes.get(arg)
        if v is None:
            v = r.subprocess_env.get(arg)
        if v is not None:
            return str(v)
    return os.environ.get(arg)


def _unescape(ctx: Ctx, arg: str) -> str:
    """ap_unescape_url_keep2f(s, 0): %2F stays, a bad escape or %00 gives ""."""
    if "%" not in arg:
        return arg
    out: list[str] = []
    i, n = 0, len(arg)
    hexd = "0123456789abcdefABCDEF"
    while i < n:
        c = arg[i]
        if c == "%":
            h = arg[i + 1:i + 3]
            if len(h) < 2 or h[0] not in hexd or h[1] not in hexd:
                return ""
            ch = chr(int(h, 16))
            if ch == "\0":
                return ""
            out.append(arg[i:i + 3] if ch == "/" else ch)
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


_B64 = {c: k for k, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789+/")}


def _unbase64(ctx: Ctx, arg: str) -> str:
    """apr_base64_decode: up to the first non-alphabet character; cut at a NUL."""
    vals: list[int] = []
    for c in arg:
        v = _B64.get(c)
        if v is None:
            break
        vals.append(v)
    out = bytearray()
    for k in range(0, len(vals) - len(vals) % 4, 4):
        a, b, c, d = vals[k:k + 4]
        out += bytes((((a << 2) | (b >> 4)) & 255, ((b << 4) | (c >> 2)) & 255,
                      ((c << 6) | d) & 255))
    rest = vals[len(vals) - len(vals) % 4:]
    if len(rest) > 1:
        out.append(((rest[0] << 2) | (rest[1] >> 4)) & 255)
    if len(rest) > 2:
        out.append(((rest[1] << 4) | (rest[2] >> 2)) & 255)
    return bytes(out).split(b"\0", 1)[0].decode("latin-1")


# T_OS_ESCAPE_PATH of 2.4's gen_test_char.c: all but alphanumerics and $-_.+!*'(),:;@&=/~
_PATH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "$-_.+!*'(),:;@&=/~")


def _escape(arg: str) -> str:
    """ap_escape_uri: %-escape (lower-case hex) what a path may not hold."""
    if all(c in _PATH_SAFE for c in arg):
        return arg
    return "".join(chr(b) if chr(b) in _PATH_SAFE else f"%{b:02x}" for b in _bytes(arg))


def _bytes(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _file(ctx: Ctx, arg: str) -> str:
    try:
        with open(arg, "rb") as f:
            data = f.read()
    except OSError:
        ctx.err = f"Unable to open file {arg}"
        return ""
    return data.split(b"\0", 1)[0].decode("latin-1")


def _filesize(ctx: Ctx, arg: str) -> str:
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return "0"
    return str(st.st_size) if stat.S_ISREG(st.st_mode) else "0"


def _filemod(ctx: Ctx, arg: str) -> str:
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return "0"
    return str(int(st.st_mtime)) if stat.S_ISREG(st.st_mode) else "0"


_LDAP_ESC = frozenset('"+,;<>\\*()\0')     # apr_escape_ldap(APR_ESCAPE_LDAP_ALL)


def _ldap(ctx: Ctx, arg: str) -> str:
    return "".join(f"\\{ord(c):02x}" if c in _LDAP_ESC else c for c in arg)


def _ssl_func(ctx: Ctx, arg: str) -> str | None:
    from featherd.modules.ssl.vars import ssl_var_lookup

    return ssl_var_lookup(ctx.r, arg, ctx.c) if arg else None


_FUNCS: dict[str, tuple[Callable[[Ctx, str], str | None], bool]] = {
    "osenv": (lambda ctx, a: os.environ.get(a), False),
    "env": (_env, False),
    "resp": (_table_get("resp"), False),
    "req": (_table_get("req"), False),
    "http": (_table_get("req"), False),
    "note": (_table_get("note"), False),
    "reqenv": (_table_get("reqenv"), False),
    "req_novary": (_table_get("req_novary"), False),
    "tolower": (lambda ctx, a: a.lower() if a.isascii() else
                "".join(c.lower() if c < "\x80" else c for c in a), False),
    "toupper": (lambda ctx, a: a.upper() if a.isascii() else
                "".join(c.upper() if c < "\x80" else c for c in a), False),
    "escape": (lambda ctx, a: _escape(a), False),
    "unescape": (_unescape, False),
    "file": (_file, True),
    "filesize": (_filesize, True),
    "filemod": (_filemod, True),
    "base64": (lambda ctx, a: base64.b64encode(_bytes(a)).decode("ascii"), False),
    "unbase64": (_unbase64, False),
    "md5": (lambda ctx, a: hashlib.md5(_bytes(a)).hexdigest(), False),
    "sha1": (lambda ctx, a: hashlib.sha1(_bytes(a)).hexdigest(), False),
    "ldap": (_ldap, False),
}
_SSL_FUNCS = {"SSL": _ssl_func}       # mod_ssl's (case-sensitive, as strcEQ)


def _peer_ext_list(ctx: Ctx, arg: str) -> list[str] | None:
    from featherd.modules.ssl.vars import peer_extensions

    return peer_extensions(ctx.r)(arg) if ctx.r is not None else None


_LIST_FUNCS: dict[str, Callable[[Ctx, str], list[str] | None]] = {
    "PeerExtList": _peer_ext_list}

_EXT_FUNCS: dict[str, Callable[[Ctx, str], str | None]] = {}
_EXT_UNARY: dict[str, Callable[[Ctx, str], bool]] = {}
_EXT_BINARY: dict[str, Callable[[Ctx, str, str], bool]] = {}


def register(kind: str, name: str, fn: Callable[..., Any]) -> None:
    """ap_hook_expr_lookup for modules: kind "var" (fn(ctx) -> str|None), "func"
    (fn(ctx, arg)), "list" (fn(ctx, arg) -> list), "unary" (fn(ctx, arg) -> bool),
    "binary" (fn(ctx, a, b) -> bool). ctx has ``r``, ``c`` and ``err``."""
    table: dict[str, Any] = {"var": _EXT_VARS, "func": _EXT_FUNCS, "list": _LIST_FUNCS,
                             "unary": _EXT_UNARY, "binary": _EXT_BINARY}[kind]
    table[name.upper() if kind == "var" else name.lower() if kind in ("func", "binary")
          else name] = fn


# unary operators
def _op_file(which: str) -> Callable[[Ctx, str], bool]:
    def test(ctx: Ctx, arg: str) -> bool:
        try:
            st = os.lstat(arg) if which in "Lh" else os.stat(arg)
        except (OSError, ValueError):
            return False
        m = st.st_mode
        if which == "d":
            return stat.S_ISDIR(m)
        if which == "f":
            return stat.S_ISREG(m)
        if which == "s":
            return stat.S_ISREG(m) and st.st_size > 0
        if which in "Lh":
            return stat.S_ISLNK(m)
        if which == "x":
            return bool(m & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
        return True
    return test


def _op_T(ctx: Ctx, arg: str) -> bool:
    if not arg:
        return False
    return arg.lower() not in ("off", "no", "false", "0")


def _op_subreq(kind: str) -> Callable[[Ctx, str], bool]:
    def test(ctx: Ctx, arg: str) -> bool:
        r = ctx.r
        if r is None:
            return False
        if r.main is not None and r.main.uri and r.uri and r.main.uri == r.uri:
            return False
        key = (kind, arg)
        if key not in ctx.subreqs:
            raise _NeedSubreq(key)
        return bool(ctx.subreqs[key])
    return test


_UNARY: dict[str, tuple[Callable[[Ctx, str], bool], bool]] = {
    "n": (lambda ctx, a: a != "", False), "z": (lambda ctx, a: a == "", False),
    "T": (_op_T, False),
    **{k: (_op_file(k), True) for k in "defsLhx"},
    "F": (_op_subreq("F"), False), "U": (_op_subreq("U"), False),
    "A": (_op_subreq("U"), False),
}


_FN_CACHE: dict[tuple[str, int], re.Pattern[str]] = {}


def _fn_regex(pat: str, flags: int) -> re.Pattern[str]:
    """apr_fnmatch as a regex: flags 1 = APR_FNM_PATHNAME, 2 = APR_FNM_CASE_BLIND."""
    hit = _FN_CACHE.get((pat, flags))
    if hit is not None:
        return hit
    any_c = "[^/]" if flags & 1 else "."
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            out.append(any_c + "*")
        elif c == "?":
            out.append(any_c)
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        elif c == "[":
            j = i + 1
            neg = j < n and pat[j] in "!^"
            if neg:
                j += 1
            items: list[str] = []
            first = True
            while j < n and (pat[j] != "]" or first):
                first = False
                ch = pat[j]
                if ch == "\\" and j + 1 < n:
                    j += 1
                    ch = pat[j]
                if j + 2 < n and pat[j + 1] == "-" and pat[j + 2] != "]":
                    hi = pat[j + 2]
                    items.append(re.escape(ch) + "-" + re.escape(hi) if ch <= hi else "(?!)")
                    j += 3
                    continue
                items.append(re.escape(ch))
                j += 1
            if j >= n:
                out.append(re.escape("["))
            else:
                body = "".join(items)
                cls = ("[^" if neg else "[") + body + "]"
                out.append(f"(?!/){cls}" if flags & 1 else cls)
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    rx = re.compile("".join(out), re.DOTALL | (re.IGNORECASE if flags & 2 else 0))
    if len(_FN_CACHE) > 1000:
        _FN_CACHE.clear()
    _FN_CACHE[(pat, flags)] = rx
    return rx


def _client_ip(ctx: Ctx) -> str:
    c = ctx.c
    return c.client_ip if c is not None else ""


_BINARY: dict[str, Callable[[Ctx, str, str], bool]] = {
    "fnmatch": lambda ctx, a, b: _fn_regex(b, 1).fullmatch(a) is not None,
    "strmatch": lambda ctx, a, b: _fn_regex(b, 0).fullmatch(a) is not None,
    "strcmatch": lambda ctx, a, b: _fn_regex(b, 2).fullmatch(a) is not None,
}
