"""mod_reqtimeout: RequestReadTimeout (Apache 2.2.15+ mod_reqtimeout.c).

``RequestReadTimeout [header=timeout[-maxtimeout][,MinRate=rate]]
[body=timeout[-maxtimeout][,MinRate=rate]]`` in the server config or a virtual host
(the default server of the connection's address decides, as Apache's base_server).
On by default with ``header=20-40,MinRate=500 body=20,MinRate=500`` (the later 2.2
default); ``header=0`` / ``body=0`` turn a limit off.

* header: from the start of the connection (or, on a keep-alive connection, from the
  first byte of the next request) the request head must be complete within ``timeout``
  seconds; with MinRate every ``rate`` bytes received add one second, up to
  ``maxtimeout``. A client that sent part of a request gets ``408 Request Time-out``;
  one that sent nothing is closed. Either way "Request header read timeout" is logged
  (info).
* body: from the first read of the request body, the same rule while a handler waits
  for body data; the read fails with 408 (the handler's error path, as in Apache) and
  "Request body read timeout" is logged.

How: a per-worker sweep (every SWEEP seconds) looks at the connections this module
registered at ``pre_connection``; the connection's own state (busy, bytes received,
the body reader) says which phase each one is in, so the hot path pays nothing but the
registration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.tree import split_args
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError

SWEEP = 0.25
INFO = 6
UNSET = -1


@dataclass(slots=True)
class ReqTimeoutConfig:
    header_timeout: int = UNSET
    header_max_timeout: int = UNSET
    header_min_rate: int = UNSET
    body_timeout: int = UNSET
    body_max_timeout: int = UNSET
    body_min_rate: int = UNSET


class ReqTimeoutModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        out = ReqTimeoutConfig()
        for f in ReqTimeoutConfig.__slots__:  # type: ignore[attr-defined]
            v = getattr(new, f)
            setattr(out, f, getattr(base, f) if v == UNSET else v)
        return out


reqtimeout = ReqTimeoutModule("reqtimeout_module", "mod_reqtimeout.c",
                              server_config=ReqTimeoutConfig,
                              description="Set timeout and minimum data rate for receiving "
                                          "requests")

#: the defaults (header=20-40,MinRate=500 body=20,MinRate=500)
DEFAULTS = {"header": (20, 40, 500), "body": (20, 0, 500)}


def _parse_int(s: str) -> int:
    m = re.match(r"\s*[-+]?\d+", s)
    if not m:
        raise DirectiveError(f"Value '{s}' not numerical")
    if m.end() != len(s):
        raise DirectiveError(f"Cannot parse '{s[m.end():]}'")
    v = int(s)
    if v < 0:
        raise DirectiveError("Value must be non-negative")
    return v


def parse_param(key: str, val: str) -> tuple[str, int, int, int]:
    """set_reqtimeout_param: (type, initial, max, rate)."""
    kind = key.lower()
    if kind not in ("header", "body"):
        raise DirectiveError("Unknown RequestReadTimeout parameter")
    rate = initial = mx = 0
    i = val.lower().find(",minrate=")
    if i >= 0:
        initial_str, rate_str = val[:i], val[i + len(",minrate="):]
        rate = _parse_int(rate_str)
        if rate == 0:
            raise DirectiveError("Minimum data rate must be larger than 0")
        if "-" in initial_str:
            initial_str, max_str = initial_str.split("-", 1)
            mx = _parse_int(max_str)
        initial = _parse_int(initial_str)
    else:
        if "-" in val:
            raise DirectiveError("Must set MinRate option if using timeout range")
        initial = _parse_int(val)
    if mx and initial >= mx:
        raise DirectiveError("Maximum timeout must be larger than initial timeout")
    return kind, initial, mx, rate


@reqtimeout.directive("RequestReadTimeout", args=ArgSpec.RAW_ARGS, context=Context.RSRC,
                      syntax="RequestReadTimeout [header=timeout[-maxtimeout][,MinRate=rate] "
                             "[body=timeout[-maxtimeout][,MinRate=rate]",
                      help="Set various timeout parameters for reading request headers and "
                           "body")
def request_read_timeout(cmd: Any, conf: ReqTimeoutConfig, arg: str) -> None:
    for word in split_args(arg):
        if "=" not in word:
            raise DirectiveError("Invalid RequestReadTimeout parameter. Parameter must be in "
                                 "the form 'key=value'")
        key, val = word.split("=", 1)
        try:
            kind, initial, mx, rate = parse_param(key, val)
        except DirectiveError as e:
            raise DirectiveError(f"RequestReadTimeout: {key}={val}: {e.message}") from None
        if kind == "header":
            conf.header_timeout, conf.header_max_timeout, conf.header_min_rate = \
                initial, mx, rate
        else:
            conf.body_timeout, conf.body_max_timeout, conf.body_min_rate = initial, mx, rate


def effective(conf: ReqTimeoutConfig | None) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """((header timeout, max, rate), (body timeout, max, rate)) with the defaults."""
    def pick(t: int, m: int, r: int, kind: str) -> tuple[int, int, int]:
        if t == UNSET:
            return DEFAULTS[kind]
        return t, max(m, 0), max(r, 0)
    c = conf or ReqTimeoutConfig()
    return (pick(c.header_timeout, c.header_max_timeout, c.header_min_rate, "header"),
            pick(c.body_timeout, c.body_max_timeout, c.body_min_rate, "body"))


def deadline(start: float, got: int, rule: tuple[int, int, int]) -> float:
    timeout, mx, rate = rule
    d = start + timeout + (got / rate if rate else 0.0)
    if mx:
        d = min(d, start + mx)
    return d


class ConnState:
    __slots__ = ("conn", "header", "body", "start", "cycle", "body_of", "body_start")

    def __init__(self, conn: Any, header: tuple[int, int, int],
                 body: tuple[int, int, int], now: float) -> None:
        self.conn = conn
        self.header = header
        self.body = body
        self.start: float | None = now     # header phase start (None: idle keep-alive)
        self.cycle = 0                     # conn.keepalives when start was set
        self.body_of: Any = None           # the BodyReader being timed
        self.body_start = 0.0


class Sweeper:
    """One per worker: checks its connections' deadlines every SWEEP seconds."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.loop = worker.loop
        self.states: dict[Any, ConnState] = {}
        self.timer: Any = None

    def add(self, st: ConnState) -> None:
        self.states[st.conn] = st
        if self.timer is None:
            self.timer = self.loop.call_later(SWEEP, self.sweep)

    def sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        live = self.worker.connections
        for conn, st in list(self.states.items()):
            if conn not in live or conn.transport_closed:
                del self.states[conn]
                continue
            try:
                check(st, now)
            except Exception:  # noqa: BLE001 - a sweep must never stop
                del self.states[conn]
        if self.states:
            self.timer = self.loop.call_later(SWEEP, self.sweep)


def check(st: ConnState, now: float) -> None:
    conn = st.conn
    if conn.lingering:
        return
    if not conn.busy:
        # waiting for a request head
        if st.header[0] == 0:
            return
        if conn.keepalives != st.cycle:
            st.cycle = conn.keepalives
            st.start = None               # a keep-alive wait: KeepAliveTimeout's business
        got = conn.bytes_in
        if st.start is None:
            if not got:
                return
            st.start = now                # the first byte of the next request
        if now < deadline(st.start, got, st.header):
            return
        header_timeout(conn, got)
        return
    body = conn.current_body
    if body is None or not body.started or body.done or st.body[0] == 0:
        return
    if st.body_of is not body:
        st.body_of = body
        st.body_start = now
        return
    if now < deadline(st.body_start, body.received, st.body):
        return
    if conn.data_waiter is not None:
        conn._log(INFO, "Request body read timeout")
        conn.read_timed_out = True
        conn._wake_data(False)


def header_timeout(conn: Any, got: int) -> None:
    from featherd.http.parser import ParseError

    if got:
        # part of a request came: 408, logged (as httpd 2.4's ap_read_request)
        conn._parse_error(ParseError(408, "", "Request header read timeout"))
    else:
        conn._log(INFO, "Request header read timeout")
        conn.close()


@reqtimeout.hook("pre_connection")
def reqtimeout_init(conn: Any) -> int:
    base = conn.base if conn.base is not None else conn.tree.main
    header, body = effective(reqtimeout.sconf(base))
    if header[0] == 0 and body[0] == 0:
        return DECLINED
    worker = conn.worker
    sw = getattr(worker, "reqtimeout_sweeper", None)
    if sw is None:
        sw = Sweeper(worker)
        worker.reqtimeout_sweeper = sw
    sw.add(ConnState(conn, header, body, conn.loop.time()))
    return OK
