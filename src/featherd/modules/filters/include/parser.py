"""The SSI tag scanner: a document, fed in pieces of any size, becomes text and tags.

It follows mod_include's send_parsed_content state machine, so that odd tags come out
as Apache reads them: the element name runs to the first white space or the end tag
(``<!--#printenv-->``); an argument is ``name``, ``name=value``, ``name="value"`` (also
``'`` and backquote quotes, ``\\`` escaping the quote); an unquoted value runs to white
space, so ``var=x-->`` does not end the tag; names are lower-cased; a value without a
name or a name without text is an error reported when the tag runs.

Speed comes from searching the start tag with ``bytes.find`` over whole pieces; a tag
cut by a piece boundary (start tag, arguments or end tag) waits for the next piece, a
partial start tag at the end of a piece is held back until the next one tells.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

WHITESPACE = b" \t\n\v\f\r"
QUOTES = b"\"'`"


@dataclass(slots=True)
class Tag:
    """One SSI element: its name, its arguments ((name, value); the value None for
    ``name`` alone; the name None for a quoted value without one) and parse errors
    (the log lines; the element is then an error, not run)."""

    name: str
    args: list[tuple[str | None, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class TagStart:
    """A start tag was found (mod_include passes the text before it on at this point)."""

    __slots__ = ()


class Unfinished:
    """The document ended inside a tag."""

    __slots__ = ()


TAG_START = TagStart()
UNFINISHED = Unfinished()
Event = bytes | Tag | TagStart | Unfinished


class SSIParser:
    """feed(data) -> events; finish() -> events at the end of the document."""

    __slots__ = ("start", "end", "buf", "in_tag", "fast")

    def __init__(self, start: bytes = b"<!--#", end: bytes = b"-->") -> None:
        self.start = start
        self.end = end
        self.buf = b""
        self.in_tag = False
        self.fast = _fast_tag(end)

    def feed(self, data: bytes) -> list[Event]:
        buf = self.buf + data if self.buf else data
        out: list[Event] = []
        start = self.start
        pos = 0
        n = len(buf)
        while True:
            if not self.in_tag:
                i = buf.find(start, pos)
                if i >= 0:
                    if i > pos:
                        out.append(buf[pos:i])
                    pos = i + len(start)
                    self.in_tag = True
                    out.append(TAG_START)
                    continue
                keep = _partial_suffix(buf, pos, start)
                if n - keep > pos:
                    out.append(buf[pos:n - keep])
                self.buf = buf[n - keep:] if keep else b""
                return out
            m = self.fast.match(buf, pos)
            if m is not None:
                # the usual shape (name, name="value"..., end tag): the same result as
                # parse_tag, without its character loop
                tag = Tag(m.group(1).decode("latin-1").lower(),
                          [(k.decode("latin-1").lower(), v.decode("latin-1"))
                           for k, v in _FAST_ARG.findall(m.group(2))])
                pos = m.end()
                out.append(tag)
                self.in_tag = False
                continue
            res = parse_tag(buf, pos, self.end)
            if res is None:
                self.buf = buf[pos:]
                return out
            pos, tag = res
            out.append(tag)
            self.in_tag = False

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self.in_tag:
            out.append(UNFINISHED)
        elif self.buf:
            out.append(self.buf)        # a partial start tag after all
        self.buf = b""
        self.in_tag = False
        return out


_FAST_ARG = re.compile(rb'([A-Za-z]+)="([^"\\]*)"')


@functools.lru_cache(maxsize=16)
def _fast_tag(end: bytes) -> re.Pattern[bytes]:
    return re.compile(rb'([A-Za-z]+)((?:\s+[A-Za-z]+="[^"\\]*")*)\s+' + re.escape(end))


def _partial_suffix(buf: bytes, pos: int, start: bytes) -> int:
    """The length of the longest end of buf[pos:] that begins the start tag."""
    n = len(buf)
    for k in range(min(len(start) - 1, n - pos), 0, -1):
        if buf.endswith(start[:k]):
            return k
    return 0


def _skip_ws(buf: bytes, i: int) -> int:
    n = len(buf)
    while i < n and buf[i] in WHITESPACE:
        i += 1
    return i


def parse_tag(buf: bytes, i: int, end: bytes) -> tuple[int, Tag] | None:
    """Parse one element from just after the start tag; (position after the end tag,
    the Tag), or None when more data is needed."""
    n = len(buf)
    e0 = end[0]
    # the element name: up to white space or the end tag
    j = i
    name_end = -1
    after = -1
    while j < n:
        c = buf[j]
        if c in WHITESPACE:
            name_end = j
            break
        if c == e0:
            if buf.startswith(end, j):
                name_end, after = j, j + len(end)
                break
            if end.startswith(buf[j:]):
                return None               # maybe the end tag, cut by the piece
        j += 1
    if name_end < 0:
        return None
    tag = Tag(buf[i:name_end].decode("latin-1").lower())
    if not tag.name:
        tag.errors.append("missing directive name in parsed document {file}")
    if after >= 0:
        return after, tag
    j = name_end
    while True:
        j = _skip_ws(buf, j)
        if j >= n:
            return None
        if buf[j] == e0:
            if buf.startswith(end, j):
                return j + len(end), tag
            if end.startswith(buf[j:]):
                return None
        # an argument
        c = buf[j]
        if c in QUOTES:
            tag.errors.append("missing argument name for value to tag {tag} in {file}")
            res = _quoted(buf, j + 1, c)
            if res is None:
                return None
            j, value = res
            tag.args.append((None, value))
            continue
        k = j
        while k < n and buf[k] not in WHITESPACE and buf[k] != 0x3D:   # '='
            k += 1
        if k >= n:
            return None
        aname = buf[j:k].decode("latin-1").lower()
        if not aname:
            tag.errors.append("missing argument name for value to tag {tag} in {file}")
        j = _skip_ws(buf, k)
        if j >= n:
            return None
        if buf[j] != 0x3D:
            tag.args.append((aname, None))       # a name without a value
            continue
        j = _skip_ws(buf, j + 1)
        if j >= n:
            return None
        c = buf[j]
        if c in QUOTES:
            res = _quoted(buf, j + 1, c)
        else:
            res = _unquoted(buf, j)
        if res is None:
            return None
        j, value = res
        tag.args.append((aname, value))


def _quoted(buf: bytes, i: int, q: int) -> tuple[int, str] | None:
    """A quoted value from just after its quote: (position after the closing quote,
    the value with backslash-quote made a quote)."""
    n = len(buf)
    j = i
    while j < n:
        c = buf[j]
        if c == 0x5C:                              # backslash
            if j + 1 >= n:
                return None
            j += 2 if buf[j + 1] == q else 1
            continue
        if c == q:
            raw = buf[i:j]
            qb = bytes((q,))
            if b"\\" + qb in raw:
                raw = raw.replace(b"\\" + qb, qb)
            return j + 1, raw.decode("latin-1")
        j += 1
    return None


def _unquoted(buf: bytes, i: int) -> tuple[int, str] | None:
    n = len(buf)
    j = i
    while j < n:
        if buf[j] in WHITESPACE:
            return j + 1, buf[i:j].decode("latin-1")
        j += 1
    return None
