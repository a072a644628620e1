"""Evaluating a RewriteCond (apply_rewrite_cond): the TestString is expanded, then
tested against the CondPattern: a regex (whose groups become %N), a lexicographic
comparison (``<``, ``>``, ``=``, 2.4's ``<=``, ``>=``), an integer comparison (2.4's
``-lt`` ...), a file test (``-d -f -s -l -x``) or a sub-request (``-U``, ``-F``)."""

from __future__ import annotations

import os
import stat as stat_mod
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING

from featherd.core.walk import walk_finfo
from featherd.modules.mappers.rewrite.expand import expand, expand_sync, subreq_ok
from featherd.modules.mappers.rewrite.rules import (
    FILE_DIR,
    FILE_EXISTS,
    FILE_LINK,
    FILE_SIZE,
    FILE_XBIT,
    INT_EQ,
    INT_GE,
    INT_GT,
    INT_LE,
    INT_LT,
    LU_FILE,
    LU_URL,
    REGEX,
    STR_EQ,
    STR_GE,
    STR_GT,
    STR_LE,
    STR_LT,
    CondEntry,
)

if TYPE_CHECKING:
    from featherd.modules.mappers.rewrite.engine import RewriteCtx


def compare_lexicography(a: str, b: str) -> int:
    """mod_rewrite's comparison for < and >: the longer string is greater; strings of
    the same length compare byte by byte."""
    if len(a) != len(b):
        return 1 if len(a) > len(b) else -1
    if a == b:
        return 0
    return 1 if a > b else -1


def _casecmp(a: str, b: str) -> int:
    x, y = a.lower(), b.lower()
    return (x > y) - (x < y)


def atoi(s: str) -> int:
    """C's atoi: leading blanks, a sign, digits; anything else ends the number."""
    s = s.lstrip(" \t\n\r\f\v")
    i = 0
    if s[:1] in "+-":
        i = 1
    j = i
    while j < len(s) and s[j].isdigit() and s[j].isascii():
        j += 1
    if j == i:
        return 0
    return int(s[:j])


def _stat(path: str, follow: bool = True) -> os.stat_result | None:
    if not path:
        return None
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        return None


def _fstat(path: str, ctx: RewriteCtx) -> os.stat_result | None:
    """stat() for -f -s -d -x: when ``path`` is the request's filename (the usual
    %{REQUEST_FILENAME}) and the directory walk found it, the walk's stat is the answer.
    A name the walk did not find is looked at again: the walk's "nothing" may be about a
    longer path (``file/`` fails with ENOTDIR though ``file`` exists)."""
    known, st = walk_finfo(ctx.r, path)
    if known and st is not None:
        return st
    return _stat(path)


def _test(c: CondEntry, value: str, ctx: RewriteCtx) -> bool:
    """The synchronous tests; sets the %N back references on a regex match."""
    t = c.ptype
    if t == REGEX:
        assert c.regex is not None
        m = c.regex.search(value)
        if m is not None and not c.notmatch:
            ctx.rc_m = m
        return m is not None
    if t == FILE_EXISTS:
        st = _fstat(value, ctx)
        return st is not None and S_ISREG(st.st_mode)
    if t == FILE_SIZE:
        st = _fstat(value, ctx)
        return st is not None and S_ISREG(st.st_mode) and st.st_size > 0
    if t == FILE_DIR:
        st = _fstat(value, ctx)
        return st is not None and S_ISDIR(st.st_mode)
    if t == FILE_LINK:
        st = _stat(value, follow=False)
        return st is not None and stat_mod.S_ISLNK(st.st_mode)
    if t == FILE_XBIT:
        st = _fstat(value, ctx)
        return st is not None and bool(st.st_mode & 0o111)
    p = c.pattern
    if t == STR_EQ:
        return value.lower() == p.lower() if c.nocase else value == p
    if t in (STR_LT, STR_LE, STR_GT, STR_GE):
        cmp = _casecmp(value, p) if c.nocase else compare_lexicography(value, p)
        if t == STR_LT:
            return cmp < 0
        if t == STR_LE:
            return cmp <= 0
        if t == STR_GT:
            return cmp > 0
        return cmp >= 0
    a, b = atoi(value), atoi(p)
    if t == INT_LT:
        return a < b
    if t == INT_LE:
        return a <= b
    if t == INT_GT:
        return a > b
    if t == INT_GE:
        return a >= b
    if t == INT_EQ:
        return a == b
    return False


async def _lookup_test(c: CondEntry, value: str, ctx: RewriteCtx) -> bool:
    from featherd.core.subrequest import lookup_file, lookup_uri

    r = ctx.r
    if not value or not subreq_ok(r):
        return False
    if c.ptype == LU_URL:
        sub = await lookup_uri(r, value)
        ok = sub.status < 400
        if ctx.loglevel >= 5:
            ctx.log(5, f"RewriteCond URI (-U check: path={value} -> status={sub.status}")
        return ok
    sub = await lookup_file(r, value)
    ok = sub.status < 300 and _stat(sub.filename or "") is not None
    if ctx.loglevel >= 5:
        ctx.log(5, f"RewriteCond file (-F check: path={value} -> file={sub.filename} "
                   f"status={sub.status}")
    return ok


def _done(c: CondEntry, value: str, rc: bool, ctx: RewriteCtx) -> bool:
    if c.notmatch:
        rc = not rc
    if ctx.loglevel >= 4:
        ctx.log(4, f"RewriteCond: input='{value}' pattern='{c.pattern_text}'"
                   f"{' [NC]' if c.nocase else ''} => {'matched' if rc else 'not-matched'}")
    if ctx.tracer is not None:
        ctx.trace("cond", cond=c, input=value, matched=rc,
                  groups=_groups(ctx.rc_m) if c.ptype == REGEX and rc and not c.notmatch
                  else None)
    return rc


def _groups(m: object) -> list[str] | None:
    if m is None:
        return None
    return [m.group(i) or "" for i in range(min(m.re.groups, 9) + 1)]  # type: ignore[attr-defined]


def apply_cond_sync(c: CondEntry, ctx: RewriteCtx) -> bool:
    tpl = c.input
    value = tpl.literal
    if value is None:
        get = tpl.single_var
        value = get(ctx) if get is not None else expand_sync(tpl, ctx)
    rc = _test(c, value, ctx)
    if ctx.loglevel < 4 and ctx.tracer is None:
        return rc != c.notmatch
    return _done(c, value, rc, ctx)


async def apply_cond(c: CondEntry, ctx: RewriteCtx) -> bool:
    if not c.is_async:
        return apply_cond_sync(c, ctx)
    value = await expand(c.input, ctx)
    if c.ptype in (LU_URL, LU_FILE):
        rc = await _lookup_test(c, value, ctx)
    else:
        rc = _test(c, value, ctx)
    return _done(c, value, rc, ctx)


__all__ = ["apply_cond", "apply_cond_sync", "atoi", "compare_lexicography"]
