"""Entity tags: Apache's FileETag generation and RFC 7232 comparison.

``make_etag`` reproduces httpd's ``ap_make_etag`` for a regular file: the
selected fields are printed in lower-case hex (as C ``unsigned long``) in the
fixed order inode, size, mtime, joined by ``-`` and double-quoted, with a
``W/`` prefix when weak.  The mtime is an ``apr_time_t``, i.e. microseconds.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Literal

__all__ = [
    "ALL_COMPONENTS",
    "DEFAULT_COMPONENTS",
    "etag_list_matches",
    "is_weak",
    "is_weak_tag",
    "make_etag",
    "opaque_tag",
    "parse_etag_list",
    "strong_compare",
    "weak_compare",
]

_INODE = 1
_MTIME = 2
_SIZE = 4
_NONE = 8
_ALL = _INODE | _MTIME | _SIZE

_KEYWORDS = {"inode": _INODE, "mtime": _MTIME, "size": _SIZE, "all": _ALL, "none": _NONE}

ALL_COMPONENTS: frozenset[str] = frozenset({"INode", "MTime", "Size"})
#: httpd 2.4's default ``FileETag MTime Size`` (2.2 defaulted to ``All``).
DEFAULT_COMPONENTS: frozenset[str] = frozenset({"MTime", "Size"})

_MASK64 = (1 << 64) - 1  # values are printed as a 64-bit unsigned long
_USEC_PER_SEC = 1_000_000


@lru_cache(maxsize=64)
def _bits(components: frozenset[str]) -> int:
    bits = 0
    for name in components:
        bits |= _KEYWORDS.get(name.lower(), 0)
    if bits == 0:
        # ETAG_UNSET: httpd falls back to its default set.
        bits = _bits(DEFAULT_COMPONENTS)
    return bits


_ETAGS: dict[tuple[int, int, int, frozenset[str], bool], str] = {}


def make_etag(st: os.stat_result, components: frozenset[str], weak: bool = False) -> str:
    """make_etag_uncached, remembered per (inode, size, mtime, components, weak): a file
    served again gets the same tag without formatting it again."""
    key = (st.st_ino, st.st_size, st.st_mtime_ns, components, weak)
    try:
        tag = _ETAGS.get(key)
    except TypeError:                    # a plain set of components: not cacheable
        return make_etag_uncached(st, components, weak)
    if tag is None:
        if len(_ETAGS) > 8192:
            _ETAGS.clear()
        tag = _ETAGS[key] = make_etag_uncached(st, components, weak)
    return tag


def make_etag_uncached(st: os.stat_result, components: frozenset[str],
                       weak: bool = False) -> str:
    """Build the ETag for a file as ``ap_make_etag`` does.

    *components* is a subset of {"INode", "MTime", "Size"} (case-insensitive);
    "All" means all three, "None" (anywhere in the set) means no ETag and
    returns "".  An empty set means httpd's default (``DEFAULT_COMPONENTS``).
    Example: MTime+Size of a 42-byte file -> ``"2a-5f3c1b2d4e880"``.
    """
    bits = _bits(components)
    if bits & _NONE:
        return ""
    parts: list[str] = []
    if bits & _INODE:
        parts.append(format(st.st_ino & _MASK64, "x"))
    if bits & _SIZE:
        parts.append(format(st.st_size & _MASK64, "x"))
    if bits & _MTIME:
        # apr_time_t: seconds * 1e6 + tv_nsec / 1000 (floor, as APR does).
        parts.append(format((st.st_mtime_ns // 1000) & _MASK64, "x"))
    tag = '"' + "-".join(parts) + '"'
    return "W/" + tag if weak else tag


def is_weak(mtime_ns: int, request_time: float) -> bool:
    """Whether ``ap_make_etag`` would mark the ETag weak.

    httpd emits a strong tag only when ``r->request_time - r->mtime`` exceeds
    one second (both in microseconds); a file modified within the last second
    (or in the future) could change again unnoticed, so its tag is weak.
    """
    return int(request_time * _USEC_PER_SEC) - mtime_ns // 1000 <= _USEC_PER_SEC


# --- parsing and comparison (RFC 7232 section 2.3) ---------------------------

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; anything else up to a comma or
# whitespace is kept as an opaque junk token (it can never match a real tag).
_ITEM = re.compile(r'(?:W/)?"[^"]*"?|[^\s,]+')


@lru_cache(maxsize=512)
def _parse(header: str) -> tuple[str, ...] | Literal["*"]:
    h = header.strip()
    if h.startswith("*"):
        # httpd only looks at the first character: if_match[0] == '*'.
        return "*"
    return tuple(_ITEM.findall(h))


def parse_etag_list(header: str) -> list[str] | Literal["*"]:
    """Parse an If-Match / If-None-Match value.

    Returns "*" for the wildcard, otherwise the entity-tags in order with
    their ``W/`` prefix and quotes kept, e.g. ``['"a"', 'W/"b"']``.
    """
    tags = _parse(header)
    if tags == "*":
        return "*"
    return list(tags)


def is_weak_tag(tag: str) -> bool:
    """True for a weak entity-tag (``W/"..."``)."""
    return tag.startswith("W/")


def opaque_tag(tag: str) -> str:
    """The opaque-tag (quoted part) of an entity-tag, without any ``W/``."""
    return tag[2:] if tag.startswith("W/") else tag


def strong_compare(a: str, b: str) -> bool:
    """RFC 7232 2.3.2 strong comparison: both strong and identical."""
    return a == b and not a.startswith("W/") and a.startswith('"')


def weak_compare(a: str, b: str) -> bool:
    """RFC 7232 2.3.2 weak comparison: opaque-tags match, weakness ignored."""
    return opaque_tag(a) == opaque_tag(b)


def etag_list_matches(header: str, etag: str | None, weak: bool) -> bool:
    """Whether *etag* matches the If-Match / If-None-Match *header*.

    "*" matches any existing representation (the caller evaluates against an
    existing resource).  Otherwise a missing/empty *etag* never matches.
    """
    tags = _parse(header)
    if tags == "*":
        return True
    if not etag:
        return False
    if weak:
        want = opaque_tag(etag)
        for t in tags:
            if opaque_tag(t) == want:
                return True
        return False
    if etag.startswith("W/"):
        return False
    return etag in tags
