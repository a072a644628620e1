"""The LogFormat compiler: a format string becomes, once, at configuration time, a
template and a list of small functions; at request time the line is one ``%`` join.

Follows mod_log_config.c (``parse_log_string``/``parse_log_item``/``process_item``) of
Apache 2.2, with the 2.4 additions accepted too (``%{c}a``, ``%k``, ``%L``, ``%R``,
``%{UNIT}T``, ``%{begin:|end:...}t``, ``%{pid|tid|hextid}P``, ``%{local|remote}p``,
``%^ti``/``%^to``). Each ``%`` directive is a row of :data:`LOG_HANDLERS`: a maker that
receives the ``{argument}`` and the escape function and returns a getter of one request,
and whether it reads the original request (``%<x``) or the final one (``%>x``) by
default. Other modules add rows through a ``log_handlers`` attribute on their Module
(mod_logio's ``%I %O %S``), as they call ``log_pfn_register`` in Apache.

A format beginning with ``json:`` (a featherd extension) renders one JSON object per
line whose keys are the directive texts (``"%h"``, ``"%{Referer}i"``, ``"%>s"``) and whose
values are the same strings as the text form, unescaped and JSON-encoded; the literal
text between directives is ignored.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from featherd.core.core_module import core
from featherd.errors import DirectiveError

Getter = Callable[[Any], "str | None"]
Escape = Callable[[str], str]
Maker = Callable[[str, Escape], Getter]
Item = Callable[[Any, Any], str]

DEFAULT_LOG_FORMAT = '%h %l %u %t "%r" %>s %b'
JSON_PREFIX = "json:"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class LogHandler:
    """One ``%`` directive: ``maker(arg, escape) -> getter(r)`` and its default request."""

    maker: Maker
    want_orig: bool = False


# --- ap_escape_logitem ------------------------------------------------------------------
# gen_test_char.c: T_ESCAPE_LOGITEM is !isprint(c) || c == '"' || c == '\\' || iscntrl(c)
_ESC_TABLE: dict[int, str] = {i: f"\\x{i:02x}" for i in (*range(0x20), *range(0x7F, 0x100))}
_ESC_TABLE.update({0x08: "\\b", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
                   0x22: '\\"', 0x5C: "\\\\"})
_NEEDS_ESCAPE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _escape_wide(ch: str) -> str:
    return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))


def escape_logitem(s: str) -> str:
    """ap_escape_logitem: ``\\"``, ``\\\\``, ``\\n``, ``\\t``... and ``\\xhh`` for the rest.

    Strings carry request bytes one to one (latin-1), so a character below 256 is one
    byte; a wider character is escaped byte by byte as UTF-8.
    """
    if not _NEEDS_ESCAPE.search(s):
        return s
    out = s.translate(_ESC_TABLE)
    if not out.isascii():
        out = "".join(c if c.isascii() else _escape_wide(c) for c in out)
    return out


def _no_escape(s: str) -> str:
    return s


def _opt(esc: Escape, v: str | None) -> str | None:
    return None if v is None else esc(v)


# --- the handlers ----------------------------------------------------------------------
def _remote_host(arg: str, esc: Escape) -> Getter:
    def get(r: Any) -> str | None:
        c = r.connection
        return esc(c.remote_host or c.client_ip)
    return get


def _remote_address(arg: str, esc: Escape) -> Getter:
    if arg == "c":      # 2.4: the peer of the connection, not mod_remoteip's client
        return lambda r: r.connection.client_ip
    return lambda r: getattr(r, "useragent_ip", None) or r.connection.client_ip


def _local_address(arg: str, esc: Escape) -> Getter:
    return lambda r: r.connection.local_ip


def _bytes_sent(arg: str, esc: Escape) -> Getter:
    return lambda r: str(r.bytes_sent) if r.bytes_sent else "0"


def _clf_bytes_sent(arg: str, esc: Escape) -> Getter:
    return lambda r: str(r.bytes_sent) if r.bytes_sent else None


def _cookie(arg: str, esc: Escape) -> Getter:
    want = arg.lower()

    def get(r: Any) -> str | None:
        entry = r.headers_in.get("Cookie")
        if entry is None:
            return None
        for cookie in entry.split(";"):
            name, _, value = cookie.lstrip("=").partition("=")
            if "".join(name.split()).lower() == want:   # apr_collapse_spaces, strcasecmp
                return esc(value.lstrip(" \t").rstrip())
        return None
    return get


def _duration_us(arg: str, esc: Escape) -> Getter:
    return lambda r: str(int((time.time() - r.request_time) * 1_000_000))


def _duration(arg: str, esc: Escape) -> Getter:
    unit = arg.lower()
    if unit in ("", "s"):
        return lambda r: str(int(time.time() - r.request_time))
    if unit == "ms":
        return lambda r: str(int((time.time() - r.request_time) * 1000))
    if unit == "us":
        return lambda r: str(int((time.time() - r.request_time) * 1_000_000))
    return lambda r: arg                  # bogus format: Apache logs the argument


def _env(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.subprocess_env.get(arg))


def _filename(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.filename)


def _header_in(arg: str, esc: Escape) -> Getter:
    def get(r: Any) -> str | None:
        vals = r.headers_in.get_all(arg)
        if not vals:
            return None
        return esc(vals[0] if len(vals) == 1 else ", ".join(vals))
    return get


def _header_out(arg: str, esc: Escape) -> Getter:
    low = arg.lower()
    if low == "content-type":
        def get_ct(r: Any) -> str | None:
            ct = r.content_type
            if ct:
                return esc(ct.split(";", 1)[0].strip())     # ap_field_noparam
            v = r.headers_out.get(arg)
            return _opt(esc, v if v is not None else r.err_headers_out.get(arg))
        return get_ct
    if low == "set-cookie":
        def get_sc(r: Any) -> str | None:
            vals = r.headers_out.get_all(arg) + r.err_headers_out.get_all(arg)
            return esc(", ".join(vals)) if vals else None
        return get_sc

    def get(r: Any) -> str | None:
        v = r.headers_out.get(arg)
        if v is None:
            v = r.err_headers_out.get(arg)
        return _opt(esc, v)
    return get


def _keepalives(arg: str, esc: Escape) -> Getter:
    return lambda r: str(r.connection.keepalives or 0)


def _remote_logname(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.connection.remote_logname)


def _log_id(arg: str, esc: Escape) -> Getter:
    if arg == "c":
        return lambda r: getattr(r.connection, "log_id", None)
    return lambda r: getattr(r, "log_id", None)


def _method(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.method)


def _note(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.notes.get(arg))


def _server_port(arg: str, esc: Escape) -> Getter:
    a = arg.lower()
    if a in ("", "canonical"):
        return lambda r: str(r.server.port or r.connection.local_port)
    if a == "local":
        return lambda r: str(r.connection.local_port)
    if a == "remote":
        return lambda r: str(r.connection.client_port)
    return lambda r: arg                  # bogus format


def _pid_tid(arg: str, esc: Escape) -> Getter:
    a = arg.lower()
    if a in ("", "pid"):
        return lambda r: str(os.getpid())
    if a == "tid":
        return lambda r: str(threading.get_ident())
    if a == "hextid":
        return lambda r: f"{threading.get_ident():x}"
    return lambda r: arg


def _protocol(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.protocol)


def _query(arg: str, esc: Escape) -> Getter:
    return lambda r: "?" + esc(r.args) if r.args is not None else ""


def _request_line(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.the_request)


def _handler(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.handler)


def _status(arg: str, esc: Escape) -> Getter:
    return lambda r: str(r.status) if r.status and r.status > 0 else None


def _clf_time(t: float) -> str:
    tm = time.localtime(t)
    off = tm.tm_gmtoff or 0
    sign = "+"
    if off < 0:
        sign, off = "-", -off
    return (f"[{tm.tm_mday:02d}/{MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:"
            f"{tm.tm_min:02d}:{tm.tm_sec:02d} {sign}{off // 3600:02d}{off % 3600 // 60:02d}]")


def _per_second(fn: Callable[[int], str]) -> Callable[[float], str]:
    """Cache the rendering of the last second seen (Apache's recent-time cache)."""
    last_sec = -1
    last = ""

    def get(t: float) -> str:
        nonlocal last_sec, last
        sec = int(t)
        if sec != last_sec:
            last = fn(sec)
            last_sec = sec
        return last
    return get


_TIME_EPOCH = {
    "sec": lambda us: str(us // 1_000_000),
    "msec": lambda us: str(us // 1000),
    "usec": lambda us: str(us),
    "msec_frac": lambda us: f"{us // 1000 % 1000:03d}",
    "usec_frac": lambda us: f"{us % 1_000_000:06d}",
}


def _request_time(arg: str, esc: Escape) -> Getter:
    fmt = arg
    end = False
    if fmt.startswith("begin:"):
        fmt = fmt[6:]
    elif fmt.startswith("end:"):
        fmt, end = fmt[4:], True

    def when(r: Any) -> float:
        return time.time() if end else r.request_time

    epoch = _TIME_EPOCH.get(fmt)
    if epoch is not None:
        return lambda r: epoch(round(when(r) * 1_000_000))
    if not fmt:
        render = _per_second(_clf_time)
    else:
        try:
            time.strftime(fmt, time.localtime(0))
        except ValueError as e:
            raise DirectiveError(f"Invalid time format '%{{{arg}}}t': {e}") from None
        render = _per_second(lambda sec: time.strftime(fmt, time.localtime(sec)))
    return lambda r: render(when(r))


def _remote_user(arg: str, esc: Escape) -> Getter:
    def get(r: Any) -> str:
        u = r.user
        if u is None:
            return "-"
        return esc(u) if u else '""'
    return get


def _uri(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.uri)


def _virtual_host(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, r.server.server_hostname)


def server_name(r: Any) -> str | None:
    """ap_get_server_name: the Host the client asked for unless UseCanonicalName On."""
    try:
        ucn = r.per_dir_config[core.index].use_canonical_name
    except (AttributeError, IndexError, TypeError):
        ucn = None
    if ucn == "on":
        return r.server.server_hostname
    return r.hostname or r.server.server_hostname


def _server_name(arg: str, esc: Escape) -> Getter:
    return lambda r: _opt(esc, server_name(r))


def _connection_status(arg: str, esc: Escape) -> Getter:
    def get(r: Any) -> str:
        c = r.connection
        if c.aborted:
            return "X"
        return "+" if c.keepalive else "-"
    return get


def _trailer(attr: str) -> Maker:
    def maker(arg: str, esc: Escape) -> Getter:
        def get(r: Any) -> str | None:
            t = getattr(r, attr, None)
            return None if t is None else _opt(esc, t.get(arg))
        return get
    return maker


#: mod_log_config's own directives (mod_logio adds I, O and S).
LOG_HANDLERS: dict[str, LogHandler] = {
    "a": LogHandler(_remote_address),
    "A": LogHandler(_local_address),
    "b": LogHandler(_clf_bytes_sent),
    "B": LogHandler(_bytes_sent),
    "C": LogHandler(_cookie),
    "D": LogHandler(_duration_us, want_orig=True),
    "e": LogHandler(_env),
    "f": LogHandler(_filename),
    "h": LogHandler(_remote_host),
    "H": LogHandler(_protocol),
    "i": LogHandler(_header_in),
    "k": LogHandler(_keepalives),
    "l": LogHandler(_remote_logname),
    "L": LogHandler(_log_id),
    "m": LogHandler(_method),
    "n": LogHandler(_note),
    "o": LogHandler(_header_out),
    "p": LogHandler(_server_port),
    "P": LogHandler(_pid_tid),
    "q": LogHandler(_query),
    "r": LogHandler(_request_line, want_orig=True),
    "R": LogHandler(_handler, want_orig=True),
    "s": LogHandler(_status, want_orig=True),
    "t": LogHandler(_request_time),
    "T": LogHandler(_duration, want_orig=True),
    "u": LogHandler(_remote_user),
    "U": LogHandler(_uri, want_orig=True),
    "v": LogHandler(_virtual_host),
    "V": LogHandler(_server_name),
    "X": LogHandler(_connection_status),
    "^ti": LogHandler(_trailer("trailers_in")),
    "^to": LogHandler(_trailer("trailers_out")),
}


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
_NEEDS_ESCAPE_SEARCH = _NEEDS_ESCAPE.search


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
            text = _clf_time(sec)
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
        keyed = tuple((p.text, _item(p, table[p.letter], _no_escape))
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
