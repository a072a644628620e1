"""Type maps (``.var`` files, handler ``type-map``), read as mod_negotiation's
read_type_map does.

A map is a list of records separated by blank lines; each record is RFC 822-style
header lines (``#`` lines are comments, a line starting with white space continues the
previous one, ``(comments)`` in values are blanked). The headers: ``URI`` (the variant's
file, relative to the map), ``Content-Type`` (with ``qs=`` for the source quality,
``level=``, ``charset=``), ``Content-Language``, ``Content-Encoding``,
``Content-Length``, ``Description`` and 2.2's ``Body:`` whose value is a tag: the
variant's content is the text after that line up to the next occurrence of the tag
(within 8 KB). A record becomes a variant when it has a URI (or Body) and at least one
Content-* header; the first record, naming the resource itself, usually has neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from featherd.modules.mappers.negotiation.accept import get_token, languages_line
from featherd.modules.mappers.negotiation.algorithm import Variant

MAX_STRING_LEN = 8192


class TypeMapError(Exception):
    """A syntax error that makes the request fail (500), with Apache's log text."""


@dataclass(slots=True)
class TypeMap:
    variants: list[Variant]
    errors: list[str]               # logged, not fatal (reading stopped there)


def strip_paren_comments(s: str) -> str:
    out = list(s)
    i = 0
    n = len(out)
    while i < n:
        c = out[i]
        if c == '"':
            j = s.find('"', i + 1)   # Apache looks for the quote at the same place
            if j < 0:
                j = i                 # strchr(hdr, '"') finds this very quote
            i = j + 1
        elif c == "(":
            while i < n and out[i] != ")":
                out[i] = " "
                i += 1
            if i < n:
                out[i] = " "
                i += 1
        else:
            i += 1
    return "".join(out)


class _Reader:
    """get_header_line over the map's bytes (latin-1 text, offsets kept)."""

    def __init__(self, data: bytes) -> None:
        self.text = data.decode("latin-1")
        self.pos = 0

    def gets(self) -> str | None:
        t = self.text
        if self.pos >= len(t):
            return None
        end = t.find("\n", self.pos)
        end = len(t) if end < 0 else end + 1
        if end - self.pos > MAX_STRING_LEN - 1:
            end = self.pos + MAX_STRING_LEN - 1
        line = t[self.pos:end]
        self.pos = end
        return line

    def header_line(self) -> tuple[str, str]:
        """("eof"|"sep"|"seen", line)."""
        while True:
            line = self.gets()
            if line is None:
                return "eof", ""
            if not line.startswith("#"):
                break
        if not line.strip():
            return "sep", line
        if line[:5].lower() == "body:":
            return "seen", line
        t = self.text
        buf = [line]
        size = len(line)
        while self.pos < len(t):
            c = t[self.pos]
            if c == "#":
                nl = t.find("\n", self.pos)
                self.pos = len(t) if nl < 0 else nl + 1
                continue
            if c.isspace():
                p = self.pos
                while p < len(t) and t[p] != "\n" and t[p].isspace():
                    p += 1
                if p >= len(t) or t[p] == "\n":
                    self.pos = p             # a blank line: seen next time round
                    return "seen", "".join(buf)
                nl = t.find("\n", p)
                nl = len(t) if nl < 0 else nl
                cont = t[p:nl]
                room = MAX_STRING_LEN - 2 - size
                cont = cont[:max(room, 0)]
                buf.append(cont + "\n")
                size += len(cont) + 1
                self.pos = nl + 1 if nl < len(t) else nl
                continue
            return "seen", "".join(buf)
        return "seen", "".join(buf)

    def body(self, tag: str) -> tuple[int, int] | None:
        """get_body: (offset, length) of the text up to ``tag``; the reader moves past
        the rest of the tag's line."""
        room = MAX_STRING_LEN - len(tag)
        chunk = self.text[self.pos:self.pos + room]
        at = chunk.find(tag) if tag else 0
        if at < 0:
            return None
        start = self.pos
        rest = at + len(tag)
        nl = chunk.find("\n", rest)
        rest = len(chunk) if nl < 0 else nl + 1
        self.pos = start + rest
        return start, at


def read_type_map(data: bytes, map_name: str, map_filename: str) -> TypeMap:
    """Parse a type map. ``map_name`` is its base name (the file of Body: variants),
    ``map_filename`` its path for messages. Raises TypeMapError on a fatal error."""
    rd = _Reader(data)
    variants: list[Variant] = []
    errors: list[str] = []
    cur = Variant()
    has_content = False
    while True:
        state, line = rd.header_line()
        if state == "seen":
            colon = line.find(":")
            if colon < 0:
                raise TypeMapError(f"Syntax error in type map, no ':' in {map_filename} "
                                   f"for header {line.lower().rstrip()}")
            name = line[:colon].lower()
            body = line[colon + 1:].lstrip()
            if not body:
                raise TypeMapError("Syntax error in type map --- no header body: "
                                   f"{map_filename} for {name}:")
            body = strip_paren_comments(body)
            if name == "uri":
                cur.file_name = get_token(body, 0, False)[0]
            elif name == "content-type":
                cur.set_content_type(body)
                has_content = True
            elif name == "content-length":
                tok = get_token(body, 0, False)[0]
                if not tok.isdigit():
                    errors.append(f"Parse error in type map, Content-Length: '{tok}' in "
                                  f"{map_filename} is invalid.")
                    break
                cur.bytes = int(tok)
                has_content = True
            elif name == "content-language":
                cur.content_languages = languages_line(body)
                has_content = True
            elif name == "content-encoding":
                cur.content_encoding = get_token(body, 0, False)[0]
                has_content = True
            elif name == "description":
                desc = body.replace("\n", " ")
                cur.description = desc[:-1] if desc else desc
            elif name == "body":
                tag = body.rstrip()
                found = rd.body(tag)
                if found is None:
                    errors.append(f"Syntax error in type map, no end tag '{tag}'found in "
                                  f"{map_filename} for Body: content.")
                    break
                cur.body, cur.bytes = found
                cur.file_name = map_name
        else:
            if cur.file_name and has_content:
                variants.append(cur)
            cur = Variant()
            has_content = False
            if state == "eof":
                break
    return TypeMap(variants, errors)
