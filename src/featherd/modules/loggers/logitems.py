"""The ``%`` directives of LogFormat (mod_log_config.c's log_* functions): one row of
:data:`LOG_HANDLERS` per letter, a maker that receives the ``{argument}`` and the escape
function and returns a getter of one request; ap_escape_logitem; the ``%t`` time
formats. The compiler that puts them together is :mod:`.logformat`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featherd.core.core_module import core
from featherd.errors import DirectiveError

Getter = Callable[[Any], "str | None"]
Escape = Callable[[str], str]
Maker = Callable[[str, Escape], Getter]

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
NEEDS_ESCAPE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _escape_wide(ch: str) -> str:
    return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))


def escape_logitem(s: str) -> str:
    """ap_escape_logitem: ``\\"``, ``\\\\``, ``\\n``, ``\\t``... and ``\\xhh`` for the rest.

    Strings carry request bytes one to one (latin-1), so a character below 256 is one
    byte; a wider character is escaped byte by byte as UTF-8.
    """
    if not NEEDS_ESCAPE.search(s):
        return s
    out = s.translate(_ESC_TABLE)
    if not out.isascii():
        out = "".join(c if c.isascii() else _escape_wide(c) for c in out)
    return out


def no_escape(s: str) -> str:
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


def clf_time(t: float) -> str:
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
        render = _per_second(clf_time)
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
