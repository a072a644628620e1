"""WebSocket (RFC 6455) for mod_asgi: the opening handshake, the connection, and the ASGI
``websocket`` scope and events (the wire format is in ws_frames.py).

An ASGI mount that gets ``GET`` with ``Upgrade: websocket`` and ``Connection: upgrade``
on HTTP/1.1 runs the application with a ``websocket`` scope (``subprotocols`` from
Sec-WebSocket-Protocol, the ``websocket.http.response`` extension). The first
``receive()`` says ``websocket.connect``; ``websocket.accept`` (``subprotocol``, extra
``headers``) answers 101 through :func:`featherd.core.upgrade.switch_protocols`;
``websocket.close`` before accepting is a 403; ``websocket.http.response.start`` and
``.body`` send an ordinary HTTP response instead (through the output filters). An
exception or a return before accepting is a 500; after accepting, the connection is
closed with 1011 (an exception) or 1000 (a return without closing).

The framing (ws_frames.py) is ours: frames parsed as bytes arrive (no task per message),
with RFC 6455's protocol errors (1002), a message over the maximum size 1009; text that
is not UTF-8 is 1007. Pings are answered with pongs at once. The close
handshake: a client's close is answered with the same code and the connection closed;
our close waits up to CLOSE_TIMEOUT for the client's before closing the connection.
A graceful stop or restart of the worker closes each socket with 1001 (going away).

Keep-alive (``ASGIWebSocketPingInterval``, ``ASGIWebSocketPingTimeout``, 20 s each as
uvicorn's ws_ping_interval/ws_ping_timeout): every interval the server sends a Ping; when
nothing at all (its Pong or any other byte) comes back within the timeout, the connection
is failed as the ``websockets`` server does: a close frame with 1011 ("keepalive ping
timeout"), then the connection goes without waiting for the client's close; the
application gets ``websocket.disconnect`` with 1011. The next ping is due an interval
after the previous one (less the round trip). While we stopped reading because the
application does not take its messages, the timeout waits (the answer may be queued).
An interval of 0 sends no pings; a timeout of 0 sends them but never closes.

permessage-deflate (RFC 7692, ``ASGIWebSocketCompression``, On by default as uvicorn's
ws_per_message_deflate; ws_deflate.py) is negotiated from Sec-WebSocket-Extensions with
websockets' server settings: the first offer we can honour is accepted; ``server_no_context_takeover``
is honoured and echoed; ``client_no_context_takeover`` is echoed (our inflater starts
afresh for each message); ``server_max_window_bits`` is min(offer, 12) and 8 is declined
(zlib cannot compress with a 256-byte window); ``client_max_window_bits`` is answered
with min(offer, 12) when offered (and never when not); an unknown, duplicated or invalid
parameter declines that offer. Every outgoing message is compressed (RSV1 on its frame,
the 0x00 0x00 0xff 0xff tail removed); an incoming message with RSV1 on its first frame
is inflated as its fragments arrive, and ``ASGIWebSocketMaxSize`` applies to the
inflated size (a zip bomb is closed with 1009 before it grows past the maximum);
data that does not inflate is 1002; RSV1 on a continuation or control frame, or
without the extension, is 1002.
"""


from __future__ import annotations

import asyncio
import os
import struct
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core import upgrade
from featherd.core.hooks import OK
from featherd.modules.python.asgi_http import Cycle
from featherd.modules.python.common import (
    DEBUG,
    ERROR,
    INFO,
    check_header,
    log_exception,
    traceback_lines,
)
from featherd.modules.python.ws_deflate import PerMessageDeflate, negotiate_deflate
from featherd.modules.python.ws_frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    ProtocolError,
    accept_key,
    close_payload,
    frame,
    valid_close_code,
    valid_key,
)

if TYPE_CHECKING:
    from featherd.core.request import Request

TAG = "mod_asgi"
DEFAULT_MAX_SIZE = 16 * 1024 * 1024          # uvicorn's --ws-max-size
DEFAULT_PING_INTERVAL = 20.0                # uvicorn's --ws-ping-interval
DEFAULT_PING_TIMEOUT = 20.0                 # uvicorn's --ws-ping-timeout
CLOSE_TIMEOUT = 5.0
QUEUE_PAUSE = 64                             # stop reading while this many messages wait


class ClientDisconnected(OSError):
    """websocket.send after the connection closed (ASGI spec 2.4: an OSError)."""


@dataclass(slots=True, frozen=True)
class Settings:
    """What the ASGIWebSocket* directives say for one server."""

    max_size: int = DEFAULT_MAX_SIZE
    ping_interval: float = DEFAULT_PING_INTERVAL
    ping_timeout: float = DEFAULT_PING_TIMEOUT
    compression: bool = True

    @classmethod
    def from_conf(cls, conf: Any) -> Settings:
        """From mod_asgi's server config (its fields UNSET where not configured)."""
        def get(name: str, default: Any) -> Any:
            v = getattr(conf, name, UNSET)
            return default if v is UNSET or v is None else v

        return cls(get("ws_max_size", DEFAULT_MAX_SIZE),
                   float(get("ws_ping_interval", DEFAULT_PING_INTERVAL)),
                   float(get("ws_ping_timeout", DEFAULT_PING_TIMEOUT)),
                   bool(get("ws_compression", True)))


# --- the ASGI side -------------------------------------------------------------------
CONNECTING, ACCEPTED, DENIED_HTTP, CLOSED = range(4)


class WebSocketCycle:
    """receive() and send() of one ASGI websocket connection."""

    def __init__(self, r: Request, settings: Settings | int) -> None:
        if isinstance(settings, int):
            settings = Settings(max_size=settings)
        self.r = r
        self.conn = r.connection
        self.loop = r.connection.loop
        self.state = CONNECTING
        self.connect_sent = False
        self.settings = settings
        self.max_size = settings.max_size
        self.reader = FrameReader(settings.max_size)
        self.deflate: PerMessageDeflate | None = None
        self.ka_timer: asyncio.TimerHandle | None = None
        self.ping_sent_at: float | None = None   # a keep-alive ping awaits an answer
        self.pings = 0
        self.stream: upgrade.UpgradedStream | None = None
        self.queue: deque[dict[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.close_sent = False
        self.close_received = False
        self.disconnected = False          # websocket.disconnect queued (or given)
        self.close_code = 1006
        self.closed_waiter: asyncio.Future[None] | None = None
        self.close_timer: asyncio.TimerHandle | None = None
        self.http_cycle: Any = None        # websocket.http.response: mod_asgi's Cycle

    # -- receive ------------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        while not self.queue:
            if self.state in (DENIED_HTTP, CLOSED) and not self.queue:
                return {"type": "websocket.disconnect", "code": self.close_code,
                        "reason": ""}
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        msg = self.queue.popleft()
        s = self.stream
        if s is not None and s.paused_reading and len(self.queue) < QUEUE_PAUSE // 2:
            s.resume_reading()
        return msg

    def _put(self, msg: dict[str, Any]) -> None:
        self.queue.append(msg)
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)
        s = self.stream
        if s is not None and len(self.queue) >= QUEUE_PAUSE:
            s.pause_reading()

    def _disconnect(self, code: int, reason: str = "") -> None:
        if not self.disconnected:
            self.disconnected = True
            self.close_code = code
            self._put({"type": "websocket.disconnect", "code": code, "reason": reason})

    # -- bytes from the client ----------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        if self.ping_sent_at is not None and data:
            self._ka_answered()
        if not data:                        # end of input, or the connection is gone
            self._disconnect(1006 if not self.close_received else self.close_code)
            self._close_transport()
            return
        if self.close_received:
            return
        err: ProtocolError | None = None
        try:
            events = self.reader.feed(data)
        except ProtocolError as e:
            events, err = e.events, e
        for op, payload in events:
            if op == OP_TEXT:
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(1007, "invalid UTF-8 in a text message")
                    return
                if not self.close_sent:
                    self._put({"type": "websocket.receive", "text": text})
            elif op == OP_BINARY:
                if not self.close_sent:
                    self._put({"type": "websocket.receive", "bytes": payload})
            elif op == OP_PING:
                if not self.close_sent:
                    self._write(frame(OP_PONG, payload))
            elif op == OP_PONG:
                pass
            else:
                self._on_close_frame(payload)
                return
        if err is not None:
            self._fail(err.code, err.reason)

    def _on_close_frame(self, payload: bytes) -> None:
        self.close_received = True
        code, reason = 1005, ""
        if len(payload) == 1:
            self._fail(1002, "close frame of one byte")
            return
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            if not valid_close_code(code):
                self.close_received = False
                self._fail(1002, f"invalid close code {code}")
                return
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self.close_received = False
                self._fail(1007, "invalid UTF-8 in the close reason")
                return
        if not self.close_sent:
            # the client closes: the same code back, then the connection goes
            self.close_sent = True
            self._write(frame(OP_CLOSE, close_payload(code)))
        self._disconnect(code, reason)
        self._close_transport()

    def _fail(self, code: int, reason: str, log: str | None = None) -> None:
        """A protocol error from the client (or its silence): close with ``code`` at
        once, without waiting for its close; tell the app."""
        self.r.log_error(INFO, f"{TAG} (pid={os.getpid()}): " + (
            log or f"WebSocket protocol error from the client: {reason}")
            + f" (closing with {code})")
        self._cancel_ka()
        self.close_received = True         # nothing more from it is read
        self.reader = FrameReader(0)
        if not self.close_sent:
            self.close_sent = True
            self._write(frame(OP_CLOSE, close_payload(code, reason)))
        self._disconnect(code, reason)
        self._close_transport()

    def _write(self, data: bytes) -> None:
        s = self.stream
        if s is not None:
            s.write(data)

    # -- keep-alive ---------------------------------------------------------------------
    def _start_ka(self) -> None:
        if self.settings.ping_interval > 0:
            self.ka_timer = self.loop.call_later(self.settings.ping_interval, self._ka_ping)

    def _cancel_ka(self) -> None:
        t = self.ka_timer
        if t is not None:
            t.cancel()
            self.ka_timer = None
        self.ping_sent_at = None

    def _ka_ping(self) -> None:
        self.ka_timer = None
        if self.state != ACCEPTED or self.close_sent or self.close_received:
            return
        self.pings += 1
        self._write(frame(OP_PING, struct.pack("!I", self.pings & 0xFFFFFFFF)))
        st = self.settings
        if st.ping_timeout > 0:
            self.ping_sent_at = self.loop.time()
            self.ka_timer = self.loop.call_later(st.ping_timeout, self._ka_timeout)
        else:
            self.ka_timer = self.loop.call_later(st.ping_interval, self._ka_ping)

    def _ka_answered(self) -> None:
        """Bytes from the client after our ping: it lives; the next ping an interval
        after the last one (less the round trip, as websockets does)."""
        sent = self.ping_sent_at
        self.ping_sent_at = None
        t = self.ka_timer
        if t is not None:
            t.cancel()
        latency = self.loop.time() - (sent or 0.0)
        self.ka_timer = self.loop.call_later(max(0.0, self.settings.ping_interval - latency),
                                             self._ka_ping)

    def _ka_timeout(self) -> None:
        self.ka_timer = None
        if self.state != ACCEPTED or self.close_sent or self.close_received:
            return
        s = self.stream
        if s is not None and s.paused_reading and not s.lost:
            # we stopped reading (the application lags): its answer may be waiting
            self.ka_timer = self.loop.call_later(self.settings.ping_timeout,
                                                 self._ka_timeout)
            return
        self._fail(1011, "keepalive ping timeout",
                   f"WebSocket client did not answer a ping within "
                   f"{self.settings.ping_timeout:g} seconds")

    def _close_transport(self) -> None:
        self._cancel_ka()
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        s = self.stream
        if s is not None:
            s.close()
        self.state = CLOSED
        self._finish_close()

    def _finish_close(self) -> None:
        self.state = CLOSED
        w = self.closed_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def start_close(self, code: int, reason: str = "") -> None:
        """Our close frame; the connection goes when the client answers (or after
        CLOSE_TIMEOUT)."""
        if self.close_sent or self.state != ACCEPTED:
            return
        self._cancel_ka()
        self.close_sent = True
        self._write(frame(OP_CLOSE, close_payload(code, reason)))
        if self.close_received:
            self._close_transport()
            return
        self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._close_transport)

    def on_stop(self) -> None:
        """The worker stops gracefully: going away."""
        if self.state == ACCEPTED and not self.close_sent:
            self.start_close(1001, "server shutting down")
            self._disconnect(1001, "server shutting down")

    async def wait_closed(self) -> None:
        if self.state == CLOSED:
            return
        self.closed_waiter = self.loop.create_future()
        await self.closed_waiter

    # -- send ------------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        t = message["type"]
        state = self.state
        if t == "websocket.send":
            if state != ACCEPTED or self.close_sent:
                if state == CONNECTING:
                    raise RuntimeError("Expected ASGI message 'websocket.accept', "
                                       "'websocket.close' or 'websocket.http.response.start'"
                                       ", but got 'websocket.send'.")
                raise ClientDisconnected("the WebSocket connection is closed")
            b = message.get("bytes")
            if b is not None:
                op, payload = OP_BINARY, bytes(b)
            else:
                text = message.get("text")
                if text is None:
                    raise TypeError("websocket.send needs 'bytes' or 'text'")
                op, payload = OP_TEXT, text.encode("utf-8")
            pmd = self.deflate
            if pmd is not None:
                data = frame(op, pmd.compress(payload), rsv1=True)
            else:
                data = frame(op, payload)
            s = self.stream
            assert s is not None
            s.write(data)
            if s.writing_paused:
                await s.drain()
            return
        if t == "websocket.accept":
            if state != CONNECTING:
                raise RuntimeError(f"Unexpected ASGI message '{t}' after the handshake.")
            self._accept(message)
            return
        if t == "websocket.close":
            code = message.get("code") or 1000
            reason = message.get("reason") or ""
            if state == CONNECTING:
                self.state = DENIED_HTTP    # the handler answers 403
                self.close_code = code
                return
            if state == ACCEPTED:
                self.start_close(code, reason)
            return
        if t == "websocket.http.response.start":
            if state != CONNECTING:
                raise RuntimeError(f"Unexpected ASGI message '{t}' after the handshake.")
            self.state = DENIED_HTTP
            self.http_cycle = Cycle(self.r)
            await self.http_cycle.send({**message, "type": "http.response.start"})
            return
        if t == "websocket.http.response.body":
            if self.http_cycle is None:
                raise RuntimeError("Expected ASGI message 'websocket.http.response.start' "
                                   "before 'websocket.http.response.body'.")
            await self.http_cycle.send({**message, "type": "http.response.body"})
            return
        raise RuntimeError(f"Unexpected ASGI message '{t}' on a websocket connection.")

    def _accept(self, message: dict[str, Any]) -> None:
        r = self.r
        headers = [("Sec-WebSocket-Accept",
                    accept_key(r.headers_in.get("Sec-WebSocket-Key") or ""))]
        sub = message.get("subprotocol")
        if sub:
            headers.append(("Sec-WebSocket-Protocol", sub))
        if self.settings.compression:
            offers = r.headers_in.get_all("Sec-WebSocket-Extensions")
            pmd = negotiate_deflate(offers) if offers else None
            if pmd is not None:
                headers.append(("Sec-WebSocket-Extensions", pmd.response))
                self.deflate = self.reader.deflate = pmd
        for k, v in message.get("headers") or ():
            name = k.decode("latin-1") if isinstance(k, bytes) else str(k)
            val = v.decode("latin-1") if isinstance(v, bytes) else str(v)
            check_header(name, val)
            if name.lower() in ("sec-websocket-accept", "sec-websocket-protocol",
                                "sec-websocket-extensions"):
                continue
            headers.append((name, val))
        self.stream = upgrade.switch_protocols(r, "websocket", headers)
        self.state = ACCEPTED
        self.stream.on_stop = self.on_stop
        self._start_ka()
        self.stream.set_consumer(self.on_data)


def handshake_error(r: Request) -> int:
    """0 for a valid opening handshake, else the status to answer with."""
    if r.method != "GET":
        return 400
    v = (r.headers_in.get("Sec-WebSocket-Version") or "").strip()
    if v != "13":
        r.err_headers_out.set("Sec-WebSocket-Version", "13")
        r.log_error(INFO, f"{TAG}: unsupported WebSocket version '{v}' (13 is spoken)")
        return 426
    if not valid_key(r.headers_in.get("Sec-WebSocket-Key")):
        r.log_error(INFO, f"{TAG}: bad Sec-WebSocket-Key in the opening handshake")
        return 400
    return 0


def build_scope(r: Request, http_scope: dict[str, Any]) -> dict[str, Any]:
    scope = dict(http_scope)
    scope["type"] = "websocket"
    scope["asgi"] = {"version": http_scope["asgi"]["version"], "spec_version": "2.4"}
    scope["scheme"] = "wss" if r.connection.is_tls else "ws"
    del scope["method"]
    subs: list[str] = []
    for v in r.headers_in.get_all("Sec-WebSocket-Protocol"):
        subs.extend(t.strip() for t in v.split(",") if t.strip())
    scope["subprotocols"] = subs
    scope["extensions"] = {"websocket.http.response": {},
                           "featherd": http_scope["extensions"]["featherd"]}
    return scope


async def serve(r: Request, app: Any, scope: dict[str, Any], path: str,
                conf: Any) -> int:
    """Run the application for one websocket request; the handler's return value.
    ``conf``: mod_asgi's server config (or Settings, or a maximum size)."""
    status = handshake_error(r)
    if status:
        return status
    if isinstance(conf, int):
        settings = Settings(max_size=conf)
    elif isinstance(conf, Settings):
        settings = conf
    else:
        settings = Settings.from_conf(conf)
    cyc = WebSocketCycle(r, settings)
    try:
        await app(build_scope(r, scope), cyc.receive, cyc.send)
    except asyncio.CancelledError:
        cyc._cancel_ka()
        if cyc.stream is not None:
            cyc.stream.abort()
        raise
    except ClientDisconnected:
        r.log_error(DEBUG, f"{TAG} (pid={os.getpid()}): ASGI websocket application "
                           f"'{path}' stopped: the client went away.")
        await _finish(cyc)
        return OK
    except BaseException:
        lines = traceback_lines()
        log_exception(r, TAG, "ASGI", path, lines)
        hc = cyc.http_cycle
        if hc is not None:
            hc.done()
            return OK if hc.complete else 500
        if cyc.state in (CONNECTING, DENIED_HTTP):
            return 500
        cyc.start_close(1011, "internal error")
        await _finish(cyc)
        return OK
    if cyc.state == CONNECTING:
        r.log_error(ERROR, f"{TAG} (pid={os.getpid()}): ASGI callable returned without "
                           f"accepting or closing the websocket: '{path}'.")
        return 500
    if cyc.state == DENIED_HTTP:
        hc = cyc.http_cycle
        if hc is None:
            return 403
        hc.done()
        if not hc.complete:
            r.log_error(ERROR, f"{TAG} (pid={os.getpid()}): ASGI callable returned without "
                               f"completing the websocket.http.response: '{path}'.")
            return 500
        return OK
    cyc.start_close(1000)
    await _finish(cyc)
    return OK


async def _finish(cyc: WebSocketCycle) -> None:
    """Wait for the end of the close handshake and of the connection."""
    s = cyc.stream
    if s is None:
        return
    await cyc.wait_closed()
    s.close()


__all__ = ["ClientDisconnected", "Settings", "WebSocketCycle", "build_scope", "handshake_error",
           "serve"]
