"""The LogFormat compiler: a format string becomes, once, at configuration time, a
template and a list of small functions; at request time the line is one ``%`` join.

Follows mod_log_config.c (``parse_log_string``/``parse_log_item``/``process_item``) of
Apache 2.2, with the 2.4 additions accepted too (``%{c}a``, ``%k``, ``%L``, ``%R``,
``%{UNIT}T``, ``%{begin:|end:...}t``, ``%{pid|tid|hextid}P``, ``%{local|remote}p``,
``%^ti``/``%^to``). Each ``%`` directive is a row of :data:`.logitems.LOG_HANDLERS`: a
maker that receives the ``{argument}`` and the escape function and returns a getter of
one request, and whether it reads the original request (``%<x``) or the final one
(``%>x``) by default. Other modules add rows through a ``log_handlers`` attribute on
their Module (mod_logio's ``%I %O %S``), as they call ``log_pfn_register`` in Apache.

A format beginning with ``json:`` (a featherd extension) renders one JSON object per
line whose keys are the directive texts (``"%h"``, ``"%{Referer}i"``, ``"%>s"``) and whose
values are the same strings as the text form, unescaped and JSON-encoded; the literal
text between directives is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from featherd.errors import DirectiveError
from featherd.modules.loggers.logitems import (
    LOG_HANDLERS,
    NEEDS_ESCAPE,
    Escape,
    LogHandler,
    clf_time,
    escape_logitem,
    no_escape,
)

Item = Callable[[Any, Any], str]

DEFAULT_LOG_FORMAT = '%h %l %u %t "%r" %>s %b'
JSON_PREFIX = "json:"


# --- compiling -------------------------------------------------------------------------
@dataclass(slots=True)
class Directive:
    """One parsed ``%`` item (log_format_item)."""

    text: str                          # as written, the JSON key: "%400,501{User-agent}i"
    letter: str
    arg: str
    want_orig: bool
    conditions: tuple[int, ...] | None
    negate: bool


def _misc_string(fmt: str, i: int) -> tuple[str, int]:
    """parse_log_misc_string: literal text up to the next '%', with \\n \\r \\t \\\\."""
    out: list[str] = []
    n = len(fmt)
    while i < n and fmt[i] != "%":
        c = fmt[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        nxt = fmt[i] if i < n else ""
        mapped = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}.get(nxt)
        if mapped is not None:
            out.append(mapped)
            i += 1
        else:
            out.append("\\")      # copy verbatim; the next character goes the normal way
    return "".join(out), i


def parse(fmt: str, handlers: Mapping[str, LogHandler]) -> list[str | Directive]:
    """parse_log_string: literal strings and :class:`Directive` items, or Apache's error."""
    items: list[str | Directive] = []
    i, n = 0, len(fmt)
    while i < n:
        if fmt[i] != "%":
            lit, i = _misc_string(fmt, i)
            items.append(lit)
            continue
        start = i
        i += 1
        if i < n and fmt[i] == "%":
            items.append("%")
            i += 1
            continue
        negate = False
        want: bool | None = None
        arg = ""
        conds: list[int] = []
        while True:
            if i >= n:
                raise DirectiveError("Ran off end of LogFormat parsing args to some directive")
            c = fmt[i]
            if c == "!":
                negate = not negate
                i += 1
            elif c == "<":
                want = True
                i += 1
            elif c == ">":
                want = False
                i += 1
            elif c == ",":
                i += 1
            elif c == "{":
                end = fmt.find("}", i + 1)
                if end < 0:
                    arg, i = fmt[i + 1:], n
                else:
                    arg, i = fmt[i + 1:end], end + 1
            elif c.isdigit() and c.isascii():
                j = i
                while j < n and fmt[j].isdigit() and fmt[j].isascii():
                    j += 1
                conds.append(int(fmt[i:j]))
                i = j
            else:
                key = c
                if c == "^" and fmt[i:i + 3] in handlers:
                    key = fmt[i:i + 3]
                h = handlers.get(key)
                if h is None:
                    raise DirectiveError(f"Unrecognized LogFormat directive %{c}")
                i += len(key)
                items.append(Directive(fmt[start:i], key, arg,
                                       h.want_orig if want is None else want,
                                       tuple(conds) if conds else None, negate))
                break
    return items


def _item(d: Directive, h: LogHandler, esc: Escape) -> Item:
    """process_item: the conditions, then the handler on the original or final request."""
    get = h.maker(d.arg, esc)
    item: Item
    if d.want_orig:
        def item(r: Any, o: Any) -> str:
            v = get(o)
            return "-" if v is None else v
    else:
        def item(r: Any, o: Any) -> str:
            v = get(r)
            return "-" if v is None else v

    conds = d.conditions
    if conds is None:
        return item
    codes = frozenset(conds)
    negate = d.negate

    def conditional(r: Any, o: Any) -> str:
        if (r.status in codes) == negate:
            return "-"
        return item(r, o)
    return conditional


# --- the text renderer: one generated function per format ------------------------------
# A format becomes the source of one function ``render(r, o)`` (r the final request, o the
# original one) that computes each item into a local and returns one f-string; the usual
# directives are inlined (attribute reads, the escape only when a value needs it, the
# %t text cached per second), any other is one call of its getter.
_NEEDS_ESCAPE_SEARCH = NEEDS_ESCAPE.search


def _inline_escaped(expr: str) -> list[str]:
    """``v = expr``, ``-`` for None, ap_escape_logitem applied only when needed."""
    return [f"v = {expr}",
            "v = '-' if v is None else (_esc(v) if _search(v) else v)"]


def _inline_code(d: Directive, q: str, ns: dict[str, Any], i: int) -> list[str] | None:
    """Statements leaving the item's text in ``v``, or None: not inlined."""
    letter, arg = d.letter, d.arg
    if letter == "h":       # the peer's address text never needs an escape, a name may
        return [f"c = {q}.connection",
                "v = c.remote_host",
                "if not v:", "    v = c.client_ip",
                "elif _search(v):", "    v = _esc(v)"]
    if letter == "l":
        return _inline_escaped(f"{q}.connection.remote_logname")
    if letter == "u":
        return [f"v = {q}.user",
                "v = '-' if v is None else ((_esc(v) if _search(v) else v) if v else '\"\"')"]
    if letter == "t" and arg in ("", "begin:"):
        cell: list[tuple[int, str]] = [(-1, "")]

        def fill(sec: int) -> str:
            text = clf_time(sec)
            cell[0] = (sec, text)
            return text
        ns[f"_tc{i}"], ns[f"_tf{i}"] = cell, fill
        return [f"sec = int({q}.request_time)",
                f"tc = _tc{i}[0]",
                f"v = tc[1] if tc[0] == sec else _tf{i}(sec)"]
    if letter == "r":
        return _inline_escaped(f"{q}.the_request")
    if letter == "s":
        return [f"v = {q}.status", "v = str(v) if v and v > 0 else '-'"]
    if letter == "b":
        return [f"v = {q}.bytes_sent", "v = str(v) if v else '-'"]
    if letter == "B":
        return [f"v = {q}.bytes_sent", "v = str(v) if v else '0'"]
    if letter == "i":
        ns[f"_a{i}"] = arg
        return [f"v = {q}.headers_in.get_all(_a{i})",
                "if not v:", "    v = '-'",
                "else:",
                "    v = v[0] if len(v) == 1 else ', '.join(v)",
                "    if _search(v):", "        v = _esc(v)"]
    if letter in ("m", "H", "U", "f"):
        attr = {"m": "method", "H": "protocol", "U": "uri", "f": "filename"}[letter]
        return _inline_escaped(f"{q}.{attr}")
    return None


def _compile_text(parts: list[str | Directive],
                  table: Mapping[str, LogHandler]) -> Callable[[Any, Any], str]:
    ns: dict[str, Any] = {"_esc": escape_logitem, "_search": _NEEDS_ESCAPE_SEARCH}
    body: list[str] = []
    fstr: list[str] = []
    n = 0
    for p in parts:
        if isinstance(p, str):
            fstr.append(p.replace("{", "{{").replace("}", "}}"))
            continue
        i = n
        n += 1
        h = table[p.letter]
        q = "o" if p.want_orig else "r"
        code = None
        if LOG_HANDLERS.get(p.letter) is h:
            code = _inline_code(p, q, ns, i)
        if code is None:
            ns[f"_g{i}"] = h.maker(p.arg, escape_logitem)
            code = [f"v = _g{i}({q})", "if v is None:", "    v = '-'"]
        if p.conditions is not None:
            ns[f"_codes{i}"] = frozenset(p.conditions)
            code = ([f"if (r.status in _codes{i}) == {p.negate!r}:", "    v = '-'", "else:"]
                    + ["    " + line for line in code])
        body.extend(code)
        body.append(f"v{i} = v")
        fstr.append(f"{{v{i}}}")
    fstr.append("\n")
    if not n:
        line = "".join(fstr).replace("{{", "{").replace("}}", "}")
        return lambda r, o: line
    defaults = ", ".join(f"{k}={k}" for k in ns)
    src = (f"def render(r, o, {defaults}):\n"
           + "".join(f"    {line}\n" for line in body)
           + f"    return f{''.join(fstr)!r}\n")
    exec(compile(src, "<LogFormat>", "exec"), ns)    # noqa: S102 (source built from items)
    fn: Callable[[Any, Any], str] = ns["render"]
    fn.__doc__ = src
    return fn


class CompiledFormat:
    """A format compiled once; :meth:`render` gives the line (with its newline)."""

    __slots__ = ("source", "is_json", "parts", "render")

    def __init__(self, source: str, handlers: Mapping[str, LogHandler] | None = None) -> None:
        table = LOG_HANDLERS if handlers is None else handlers
        self.source = source
        self.is_json = source.startswith(JSON_PREFIX)
        body = source[len(JSON_PREFIX):] if self.is_json else source
        self.parts = parse(body, table)
        self.render: Callable[[Any, Any], str]
        if self.is_json:
            self.render = self._json_renderer(table)
        else:
            self.render = self._text_renderer(table)

    def _text_renderer(self, table: Mapping[str, LogHandler]) -> Callable[[Any, Any], str]:
        return _compile_text(self.parts, table)

    def _json_renderer(self, table: Mapping[str, LogHandler]) -> Callable[[Any, Any], str]:
        keyed = tuple((p.text, _item(p, table[p.letter], no_escape))
                      for p in self.parts if isinstance(p, Directive))
        dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode

        def render(r: Any, o: Any) -> str:
            return dumps({k: f(r, o) for k, f in keyed}) + "\n"
        return render

    def directives(self) -> list[str]:
        return [p.text for p in self.parts if isinstance(p, Directive)]

    def __repr__(self) -> str:
        return f"<CompiledFormat {self.source!r}>"


def compile_format(fmt: str, handlers: Mapping[str, LogHandler] | None = None) -> CompiledFormat:
    """Compile ``fmt``; raises DirectiveError with Apache's message on a bad directive."""
    return CompiledFormat(fmt, handlers)


def request_pair(r: Any) -> tuple[Any, Any]:
    """(final, original) of an internal-redirect chain, as config_log_transaction does."""
    orig = r
    prev = getattr(orig, "prev", None)
    while prev is not None:
        orig, prev = prev, getattr(prev, "prev", None)
    final = r
    nxt = getattr(final, "next", None)
    while nxt is not None:
        final, nxt = nxt, getattr(nxt, "next", None)
    return final, orig
