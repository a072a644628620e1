"""mod_headers: Header and RequestHeader (Apache 2.2's mod_headers.c, 2.4 forms accepted).

``Header [condition] set|append|merge|add|unset|echo|edit|edit*|setifempty|note header
[value] [replacement] [early|env=[!]variable|expr=expression]`` and ``RequestHeader``
with the same actions but echo and note.

* ``set`` replaces, ``add`` adds another field, ``append`` joins with ", ", ``merge``
  appends unless the value is already one of the comma-separated tokens (compared
  case-sensitively, quoted strings kept whole), ``unset`` removes every field of the
  name, ``echo`` copies the request headers whose names match a regex, ``edit`` /
  ``edit*`` rewrite a value with a regex (once / every match, ``$1`` and ``&`` in the
  replacement), ``setifempty`` sets only when absent and ``note`` copies the value to a
  request note (2.4.7).
* The value is a format: ``%t`` (``t=`` and the request time in microseconds), ``%D``
  (``D=`` and the microseconds since the request came in), ``%{VAR}e`` (an environment
  variable), ``%{VAR}s`` (an SSL variable through mod_ssl's ssl_var_lookup), ``%%``, and
  the escapes ``\\n \\r \\t \\\\``; a missing variable gives "(null)", as Apache.
  CR and LF in what a variable brings are turned into spaces.
* ``onsuccess`` (the default) works on ``r.headers_out``, ``always`` on
  ``r.err_headers_out``, which is also what goes out with error responses and survives
  internal redirects.
* ``env=VAR`` / ``env=!VAR`` make an entry depend on a variable, ``expr=`` on a 2.4
  expression (evaluated with the SSLRequire/ap_expr engine of mod_ssl).
* When: RequestHeader in the fixups phase (last), so that handlers see the result;
  Header in a filter that runs after the content filters, just before the head is
  written (the ``always`` entries also on error responses, by the insert_error_filter
  hook); entries marked ``early`` (only meaningful in the server config and virtual
  hosts) in post_read_request, first.

Entries of enclosing sections come first (merge: parent's list, then the child's), in
configuration order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.config.tree import getword_conf
from featherd.core.hooks import DECLINED, FIRST, LAST
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.chain import FTYPE_PROTOCOL, add_output_filter

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, CRIT, DEBUG = 3, 2, 7
ACTIONS = ("add", "set", "setifempty", "append", "merge", "unset", "echo", "note", "edit",
           "edit*")
NO_VALUE = frozenset(("unset", "echo"))
IN, OUT, ERR = "in", "out", "err"

FormatFn = Callable[["Request"], str]


def pregsub(sub: str, m: re.Match[str]) -> str:
    """ap_pregsub: ``$0``..``$9`` and ``&`` take what the regex matched; ``\\$`` and
    ``\\&`` are literal."""
    out: list[str] = []
    i = 0
    n = len(sub)
    while i < n:
        c = sub[i]
        no = -1
        if c == "&":
            no = 0
        elif c == "$" and i + 1 < n and sub[i + 1].isdigit():
            no = int(sub[i + 1])
            i += 1
        if no < 0:
            if c == "\\" and i + 1 < n and sub[i + 1] in "$&":
                i += 1
                c = sub[i]
            out.append(c)
        elif no <= (m.re.groups or 0):
            g = m.group(no)
            if g:
                out.append(g)
        i += 1
    return "".join(out)


def unwrap(v: str) -> str:
    """unwrap_header: CR and LF in a value become spaces."""
    if "\n" in v or "\r" in v:
        return v.replace("\r", " ").replace("\n", " ")
    return v


def _env(name: str) -> FormatFn:
    def f(r: Request) -> str:
        v = r.subprocess_env.get(name)
        return unwrap(v) if v is not None else "(null)"
    return f


def _ssl(name: str) -> FormatFn:
    def f(r: Request) -> str:
        try:
            from featherd.modules.ssl.vars import ssl_var_lookup
        except ImportError:     # pragma: no cover - mod_ssl not available
            return "(null)"
        v = ssl_var_lookup(r, name)
        return unwrap(v) if v else "(null)"
    return f


def _time(r: Request) -> str:
    return f"t={int(r.request_time * 1_000_000)}"


def _duration(r: Request) -> str:
    return f"D={int((time.time() - r.request_time) * 1_000_000)}"


TAGS: dict[str, Callable[[str], FormatFn] | FormatFn] = {"e": _env, "s": _ssl}
SIMPLE_TAGS: dict[str, FormatFn] = {"t": _time, "D": _duration}


def _escapes(s: str) -> str:
    """parse_misc_string: \\n \\r \\t \\\\ in a literal; other backslashes stay."""
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "\\rnt":
            out.append({"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}[s[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_format(s: str) -> list[str | FormatFn]:
    """parse_format_string: literals and tag functions."""
    parts: list[str | FormatFn] = []
    i = 0
    n = len(s)
    while i < n:
        if s[i] != "%":
            j = s.find("%", i)
            if j < 0:
                j = n
            parts.append(_escapes(s[i:j]))
            i = j
            continue
        i += 1
        if i >= n or s[i] == "%":
            parts.append("%")
            i += 1
            continue
        arg = ""
        if s[i] == "{":
            j = s.find("}", i + 1)
            if j < 0:
                arg = s[i + 1:]
                i = n
            else:
                arg = s[i + 1:j]
                i = j + 1
        if i >= n:
            raise DirectiveError("Unrecognized header format %")
        tag = s[i]
        i += 1
        if tag in SIMPLE_TAGS:
            parts.append(SIMPLE_TAGS[tag])
        elif tag in TAGS:
            parts.append(TAGS[tag](arg))  # type: ignore[call-arg,arg-type]
        else:
            raise DirectiveError(f"Unrecognized header format %{tag}")
    return parts


def render(parts: list[str | FormatFn], r: Request) -> str:
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    return "".join(p if isinstance(p, str) else p(r) for p in parts)


@dataclass(slots=True)
class HeaderEntry:
    action: str
    header: str
    fmt: list[str | FormatFn] = field(default_factory=list)
    regex: re.Pattern[str] | None = None
    subs: list[str | FormatFn] | None = None
    condition: str | None = None      # "early", "VAR" or "!VAR"
    expr: Any = None                  # a compiled 2.4 expression


@dataclass(slots=True)
class HeadersConfig:
    fixup_in: Any = unset_field("append")
    fixup_out: Any = unset_field("append")
    fixup_err: Any = unset_field("append")


headers = Module("headers_module", "mod_headers.c", dir_config=HeadersConfig,
                 description="Customization of HTTP request and response headers")


def _compile_expr(text: str) -> Any:
    from featherd.modules.ssl.expr import ExprError, compile_expr

    try:
        return compile_expr(text)
    except ExprError as e:
        raise DirectiveError(f"Can't parse envclause/expression: {e}") from None


def expr_true(r: Request, expr: Any) -> bool:
    """A 2.4 expression (expr=...) for this request."""
    from featherd.modules.ssl.expr import EvalContext, EvalError, evaluate
    from featherd.modules.ssl.vars import ssl_var_lookup

    def lookup(name: str) -> str:
        up = name.upper()
        if up == "CONTENT_TYPE":
            return r.content_type or ""
        if up == "REQUEST_STATUS":
            return str(r.status)
        if up == "HANDLER":
            return r.handler or ""
        return ssl_var_lookup(r, name)

    try:
        return evaluate(expr, EvalContext(lookup, r))
    except EvalError as e:
        r.log_error(ERROR, f"Failed to evaluate expression ({e}) - ignoring")
        return True


def header_cmd(cmd: CmdParms, conf: HeadersConfig, raw: str, is_request: bool) -> None:
    """header_cmd + header_inout_cmd."""
    name = "RequestHeader" if is_request else "Header"
    action, i, _ = getword_conf(raw, 0)
    table = IN if is_request else OUT
    if not is_request:
        low = action.lower()
        if low == "always":
            table = ERR
            action, i, _ = getword_conf(raw, i)
        elif low == "onsuccess":
            action, i, _ = getword_conf(raw, i)
    words: list[str | None] = []
    for _ in range(4):
        rest = raw[i:].strip()
        if not rest:
            words.append(None)
            continue
        w, i, _ = getword_conf(raw, i)
        words.append(w)
    hdr, value, subs, envclause = words
    if raw[i:].strip():
        raise DirectiveError(f"{name} has too many arguments")
    act = action.lower()
    if act not in ACTIONS or (is_request and act in ("echo", "note")):
        raise DirectiveError("first argument must be 'add', 'set', 'setifempty', 'append', "
                             "'merge', 'unset', 'echo', 'note', 'edit', or 'edit*'.")
    if not hdr:
        raise DirectiveError(f"{name} requires three arguments")
    entry = HeaderEntry(act, hdr)
    if act in ("edit", "edit*"):
        if subs is None or value is None:
            raise DirectiveError("Header edit requires a match and a substitution")
        try:
            entry.regex = re.compile(value)
        except re.error:
            raise DirectiveError("Header edit regex could not be compiled") from None
        entry.subs = parse_format(subs)
        value = None
    else:
        if envclause is not None:
            raise DirectiveError("Too many arguments to directive")
        envclause = subs
    if act == "unset":
        if value is not None:
            if envclause is not None:
                raise DirectiveError("header unset takes two arguments")
            envclause, value = value, None
    elif act == "echo":
        if value is not None:
            if envclause is not None:
                raise DirectiveError("Header echo takes two arguments")
            envclause, value = value, None
        try:
            entry.regex = re.compile(hdr)
        except re.error:
            raise DirectiveError("Header echo regex could not be compiled") from None
    elif act not in ("edit", "edit*") and value is None:
        raise DirectiveError("Header requires three arguments")
    if envclause is not None:
        low = envclause.lower()
        if low == "early":
            entry.condition = "early"
        elif low.startswith("env="):
            var = envclause[4:]
            if not var or var == "!":
                raise DirectiveError("error: missing environment variable name. envclause "
                                     "should be in the form env=envar ")
            entry.condition = var
        elif low.startswith("expr="):
            entry.expr = _compile_expr(envclause[5:])
        else:
            raise DirectiveError(f"Unknown parameter: {envclause}")
    if ":" in hdr:
        entry.header = hdr.split(":", 1)[0]
    if value is not None and act not in ("edit", "edit*"):
        if value[:5].lower() == "expr=":
            raise DirectiveError(f"{name}: expr= values (2.4.10) are not supported; use a "
                                 "format string")
        entry.fmt = [value] if act == "note" else parse_format(value)
    literals = [entry.header, *(p for p in entry.fmt if isinstance(p, str)),
                *(p for p in entry.subs or () if isinstance(p, str))]
    if any(c in lit for lit in literals for c in "\r\n\0"):
        # CVE-2016-4975: nothing from the configuration may split a header
        raise DirectiveError(f"{name}: a header name or value may not contain CR, LF "
                             "or NUL")
    attr = {IN: "fixup_in", OUT: "fixup_out", ERR: "fixup_err"}[table]
    cur = getattr(conf, attr)
    setattr(conf, attr, [*(cur if cur is not UNSET else []), entry])


@headers.directive("Header", args=ArgSpec.RAW_ARGS, context=Context.ALL_DIR,
                   override=Override.FILEINFO,
                   syntax="Header [condition] add|append|echo|edit|edit*|merge|set|"
                          "setifempty|unset|note header [value] [replacement] "
                          "[early|env=[!]variable|expr=expression]",
                   help="an optional condition, an action, header and value followed by "
                        "optional env clause")
def header_directive(cmd: CmdParms, conf: HeadersConfig, raw: str) -> None:
    header_cmd(cmd, conf, raw, False)


@headers.directive("RequestHeader", args=ArgSpec.RAW_ARGS, context=Context.ALL_DIR,
                   override=Override.FILEINFO,
                   syntax="RequestHeader add|append|edit|edit*|merge|set|setifempty|unset "
                          "header [value] [replacement] "
                          "[early|env=[!]variable|expr=expression]",
                   help="an action, header and value followed by optional env clause")
def request_header_directive(cmd: CmdParms, conf: HeadersConfig, raw: str) -> None:
    header_cmd(cmd, conf, raw, True)


# --- doing it ----------------------------------------------------------------------------
def _merge_has(cur: str, new: str) -> bool:
    """Is ``new`` one of the comma-separated tokens of ``cur`` (quotes kept whole)?"""
    i = 0
    n = len(cur)
    while i < n:
        while i < n and cur[i].isspace():
            i += 1
        start = i
        while i < n and cur[i] != ",":
            c = cur[i]
            i += 1
            if c == '"':
                while i < n:
                    c2 = cur[i]
                    i += 1
                    if c2 == '"':
                        break
        if cur[start:i] == new:
            return True
        i += 1
    return False


def _edit(entry: HeaderEntry, value: str, r: Request) -> str:
    rx = entry.regex
    assert rx is not None and entry.subs is not None
    subs = render(entry.subs, r)
    if entry.action == "edit":
        m = rx.search(value)
        if m is None:
            return value
        return value[:m.start()] + pregsub(subs, m) + value[m.end():]
    return rx.sub(lambda m: pregsub(subs, m), value)


def do_fixup(r: Request, hdrs: Any, fixup: list[HeaderEntry], early: bool) -> None:
    """do_headers_fixup."""
    for e in fixup:
        cond = e.condition
        if (cond == "early") != early:
            continue
        if e.expr is not None:
            if not expr_true(r, e.expr):
                continue
        elif cond and not early:
            if cond[0] != "!":
                if cond not in r.subprocess_env:
                    continue
            elif cond[1:] in r.subprocess_env:
                continue
        act = e.action
        name = e.header
        if act == "add":
            hdrs.add(name, render(e.fmt, r))
        elif act == "append":
            hdrs.merge(name, render(e.fmt, r))
        elif act == "merge":
            v = render(e.fmt, r)
            cur = hdrs.get(name)
            if cur is None:
                hdrs.add(name, v)
            elif not _merge_has(cur, v):
                hdrs.merge(name, v)
        elif act == "set":
            v = render(e.fmt, r)
            if name.lower() == "content-type":
                r.content_type = v
            hdrs.set(name, v)
        elif act == "setifempty":
            if name not in hdrs:
                v = render(e.fmt, r)
                if name.lower() == "content-type":
                    r.content_type = v
                hdrs.add(name, v)
        elif act == "unset":
            hdrs.unset(name)
        elif act == "echo":
            rx = e.regex
            assert rx is not None
            for k, v in r.headers_in:
                if rx.search(k):
                    hdrs.add(k, v)
        elif act == "note":
            v = hdrs.get(name)
            if v is not None:
                r.notes[e.fmt[0]] = v  # type: ignore[index]
        else:   # edit, edit*
            if name.lower() == "content-type" and r.content_type:
                r.content_type = _edit(e, r.content_type, r)
            vals = hdrs.get_all(name)
            if vals:
                hdrs.unset(name)
                for v in vals:
                    hdrs.add(name, _edit(e, v, r))


def _conf(r: Request) -> HeadersConfig | None:
    return r.per_dir_config[headers.index]  # type: ignore[no-any-return]


def _lst(v: Any) -> list[HeaderEntry]:
    return [] if v is UNSET else v  # type: ignore[no-any-return]


class _FixupFilter:
    """FIXUP_HEADERS_OUT / FIXUP_HEADERS_ERR: one pass over the tables, then out of the
    way."""

    errors_only = False

    def __init__(self, r: Request) -> None:
        self.done = False

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if not self.done:
            self.done = True
            c = _conf(r)
            if c is not None:
                r.log_error(DEBUG, "headers: ap_headers_error_filter()" if self.errors_only
                            else "headers: ap_headers_output_filter()")
                do_fixup(r, r.err_headers_out, _lst(c.fixup_err), False)
                if not self.errors_only:
                    do_fixup(r, r.headers_out, _lst(c.fixup_out), False)
        return bb


# after the content filters (DEFLATE's Vary and Content-Encoding are there to be seen),
# before the protocol stage writes the head: "just before the response is sent"
FTYPE_HEADERS = FTYPE_PROTOCOL - 1


@headers.output_filter("FIXUP_HEADERS_OUT", FTYPE_HEADERS)
class FixupHeadersOut(_FixupFilter):
    pass


@headers.output_filter("FIXUP_HEADERS_ERR", FTYPE_HEADERS)
class FixupHeadersErr(_FixupFilter):
    errors_only = True


@headers.hook("insert_filter", order=LAST, needs=True)
def insert_output_filter(r: Request) -> None:
    c = _conf(r)
    if c is not None and (c.fixup_out or c.fixup_err):
        add_output_filter(r, "FIXUP_HEADERS_OUT")


@headers.hook("insert_error_filter", order=LAST, needs=True)
def insert_error_filter(r: Request) -> None:
    c = _conf(r)
    if c is not None and c.fixup_err:
        add_output_filter(r, "FIXUP_HEADERS_ERR")


@headers.hook("fixups", order=LAST, needs=True)
def fixup_request_headers(r: Request) -> int:
    c = _conf(r)
    if c is not None and c.fixup_in:
        do_fixup(r, r.headers_in, c.fixup_in, False)
    return DECLINED


@headers.hook("post_read_request", order=FIRST, needs=True)
def early(r: Request) -> int:
    c = _conf(r)
    if c is None:
        return DECLINED
    if c.fixup_in:
        do_fixup(r, r.headers_in, c.fixup_in, True)
    if c.fixup_err:
        do_fixup(r, r.err_headers_out, c.fixup_err, True)
    if c.fixup_out:
        do_fixup(r, r.headers_out, c.fixup_out, True)
    return DECLINED


__all__ = ["HeadersConfig", "do_fixup", "headers", "parse_format", "pregsub"]
