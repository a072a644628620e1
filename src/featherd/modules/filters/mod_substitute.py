"""mod_substitute: regular-expression and string substitution on response bodies (2.2.7+).

``Substitute s/pattern/substitution/[infq]`` (any delimiter after the ``s``) adds a
substitution to the SUBSTITUTE filter (``AddOutputFilterByType SUBSTITUTE text/html``,
``SetOutputFilter SUBSTITUTE``...). ``i`` matches case-insensitively, ``n`` takes the
pattern as a fixed string (and the substitution literally), ``f`` (the default) lets
later substitutions see the result of this one as part of the line, ``q`` keeps it apart
(a later pattern can't match across it). In a regex substitution ``$1``..``$9`` and
``&`` (or ``$0``) take what was matched.

The body is worked on line by line (a line ends with LF); a line is held back until it
is complete, up to ``SubstituteMaxLineLength`` (default 1m; 2.4.11); a FLUSH or the end
of the body lets a partial line go. Every match in a line is replaced, each substitution
in turn. Substitutions of a section come before those inherited from enclosing ones, as
2.2 merges them, unless ``SubstituteInheritBefore on`` (2.4.17). Content-Length is dropped
(the protocol stage computes a new one when it can). The text is handled as bytes
(latin-1 one to one), as PCRE does without UTF-8 mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.buckets import EOS, FLUSH
from featherd.filters.chain import FTYPE_RESOURCE
from featherd.modules.filters.streaming import close_buckets, pieces
from featherd.modules.metadata.mod_headers import pregsub

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR = 3
DEFAULT_MAX_LINE = 1024 * 1024


class _LineTooLong(Exception):
    pass


@dataclass(slots=True, frozen=True)
class Pattern:
    regex: re.Pattern[str] | None
    fixed: str | None
    fixed_icase: bool
    replacement: str
    flatten: bool

    def apply(self, seg: str) -> list[str]:
        """This substitution on one segment: the new segments."""
        if self.fixed is not None:
            if self.fixed_icase:
                rx = re.compile(re.escape(self.fixed), re.IGNORECASE)
                parts = rx.split(seg)
            else:
                parts = seg.split(self.fixed)
            if len(parts) == 1:
                return [seg]
            if self.flatten:
                return [self.replacement.join(parts)]
            out: list[str] = []
            for i, p in enumerate(parts):
                if i:
                    out.append(self.replacement)
                out.append(p)
            return out
        rx = self.regex
        assert rx is not None
        if self.flatten:
            return [rx.sub(lambda m: pregsub(self.replacement, m), seg)]
        out = []
        pos = 0
        for m in rx.finditer(seg):
            out.append(seg[pos:m.start()])
            out.append(pregsub(self.replacement, m))
            pos = m.end()
        if not out:
            return [seg]
        out.append(seg[pos:])
        return out


@dataclass(slots=True)
class SubstituteConfig:
    patterns: Any = UNSET             # tuple[Pattern, ...]
    max_line: Any = UNSET
    inherit_before: Any = UNSET


class SubstituteModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        before = new.inherit_before if new.inherit_before is not UNSET \
            else base.inherit_before
        bp = base.patterns if base.patterns is not UNSET else ()
        np = new.patterns if new.patterns is not UNSET else ()
        pats = (*bp, *np) if before is True else (*np, *bp)
        return SubstituteConfig(pats if (bp or np) else UNSET,
                                new.max_line if new.max_line is not UNSET else base.max_line,
                                before)


substitute = SubstituteModule("substitute_module", "mod_substitute.c",
                              dir_config=SubstituteConfig,
                              description="Perform search and replace operations on "
                                          "response bodies")


def _bytes_text(s: str) -> str:
    """Configuration text as the bytes it stands for (to match latin-1 decoded bodies)."""
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


def parse_pattern(line: str) -> Pattern:
    """set_pattern."""
    if line[:1].lower() != "s":
        raise DirectiveError("Bad Substitute format, must be an s/// pattern")
    delim = line[1:2]
    if not delim:
        raise DirectiveError("Bad Substitute format, must be a complete s/// pattern")
    rest = line[2:]
    i = rest.find(delim)
    if i < 0:
        raise DirectiveError("Bad Substitute format, must be a complete s/// pattern")
    frm, rest = rest[:i], rest[i + 1:]
    j = rest.find(delim)
    if j < 0:
        to, flags = rest, ""
    else:
        to, flags = rest[:j], rest[j + 1:]
    if not frm:
        raise DirectiveError("Bad Substitute format, must be a complete s/// pattern")
    icase = fixed = False
    flatten = True
    for ch in flags.lower():
        if ch == "i":
            icase = True
        elif ch == "n":
            fixed = True
        elif ch == "f":
            flatten = True
        elif ch == "q":
            flatten = False
        else:
            raise DirectiveError("Bad Substitute flag, only s///[infq] are supported")
    frm, to = _bytes_text(frm), _bytes_text(to)
    if fixed:
        return Pattern(None, frm, icase, to, flatten)
    try:
        rx = re.compile(frm, re.IGNORECASE if icase else 0)
    except re.error:
        raise DirectiveError("Substitute could not compile regex") from None
    return Pattern(rx, None, False, to, flatten)


_CTX = Context.ALL_DIR


@substitute.directive("Substitute", args=ArgSpec.TAKE1, context=_CTX,
                      override=Override.FILEINFO, syntax="Substitute s/pattern/substitution/[infq]",
                      help="Pattern to filter the response content (s/foo/bar/[infq])")
def substitute_directive(cmd: CmdParms, conf: SubstituteConfig, line: str) -> None:
    p = parse_pattern(line)
    cur = conf.patterns if conf.patterns is not UNSET else ()
    conf.patterns = (*cur, p)


@substitute.directive("SubstituteMaxLineLength", args=ArgSpec.TAKE1, context=_CTX,
                      override=Override.FILEINFO, syntax="SubstituteMaxLineLength bytes(b|B|k|K|m|M|g|G)",
                      help="Maximum line length")
def max_line_length(cmd: CmdParms, conf: SubstituteConfig, v: str) -> None:
    m = re.fullmatch(r"(\d+)([bBkKmMgG]?)", v.strip())
    if not m:
        raise DirectiveError("SubstituteMaxLineLength value not parsable")
    mult = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2).lower()]
    conf.max_line = int(m.group(1)) * mult


@substitute.directive("SubstituteInheritBefore", args=ArgSpec.FLAG, context=_CTX,
                      override=Override.FILEINFO, syntax="SubstituteInheritBefore on|off",
                      help="Apply inherited patterns before those of the current context")
def inherit_before(cmd: CmdParms, conf: SubstituteConfig, on: bool) -> None:
    conf.inherit_before = on


def substitute_line(patterns: tuple[Pattern, ...], line: str) -> str:
    segs = [line]
    for p in patterns:
        out: list[str] = []
        for s in segs:
            out.extend(p.apply(s))
        segs = out
    return "".join(segs)


@substitute.output_filter("SUBSTITUTE", FTYPE_RESOURCE)
class SubstituteFilter:
    """substitute_filter: whole lines through the substitutions."""

    def __init__(self, r: Request) -> None:
        self.started = False
        self.partial = ""
        self.done = False
        self.patterns: tuple[Pattern, ...] = ()
        self.max_line = DEFAULT_MAX_LINE

    def _lines(self, text: str) -> str:
        """Complete lines of partial + text, substituted; the rest stays partial."""
        text = self.partial + text
        cut = text.rfind("\n")
        if cut < 0:
            self.partial = text
            return ""
        self.partial = text[cut + 1:]
        lines = text[:cut + 1].splitlines(keepends=True)
        if any(len(ln) > self.max_line for ln in lines):
            raise _LineTooLong
        return "".join(substitute_line(self.patterns, ln) for ln in lines)

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.done:
            close_buckets(bb)
            return []
        if not self.started:
            if not bb:
                return bb
            self.started = True
            conf: SubstituteConfig = r.per_dir_config[substitute.index]
            self.patterns = conf.patterns if conf.patterns is not UNSET else ()
            self.max_line = conf.max_line if conf.max_line is not UNSET else DEFAULT_MAX_LINE
            r.headers_out.unset("Content-Length")
        if not self.patterns:
            return bb
        out: list[Any] = []
        for i, b in enumerate(bb):
            if b is EOS or b is FLUSH:
                if self.partial:
                    out.append(substitute_line(self.patterns, self.partial)
                               .encode("latin-1"))
                    self.partial = ""
                out.append(b)
                if b is EOS:
                    self.done = True
                    close_buckets(bb[i + 1:])
                    break
                continue
            for piece in pieces(b):
                try:
                    text = self._lines(piece.decode("latin-1"))
                except _LineTooLong:
                    text = None
                if text is None or len(self.partial) > self.max_line:
                    r.log_error(ERROR, f"Line too long, URI {r.uri}")
                    close_buckets(bb[i + 1:])
                    return self._fail(r, out)
                if text:
                    out.append(text.encode("latin-1"))
        return out

    def _fail(self, r: Request, out: list[Any]) -> list[Any]:
        self.done = True
        self.partial = ""
        r.connection.must_close = True
        if not r.sent_headers:
            from featherd.core.http_request import send_error_response

            send_error_response(r, 500)
            return []
        return [*out, EOS]


__all__ = ["Pattern", "SubstituteFilter", "parse_pattern", "substitute", "substitute_line"]
