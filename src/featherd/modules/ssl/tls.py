"""The TLS layer between the socket and the HTTP connection (ssl_engine_io.c).

:func:`protocol_factory` is installed on every Listen spec; the worker calls it for
each accepted socket. Whether a connection speaks TLS is decided, as in Apache, by the
server its local address selects (the first <VirtualHost> of that address, else the
main server) having ``SSLEngine on``:

* not SSL: the HTTP :class:`~featherd.core.connection.Connection` gets the socket
  directly; only the first bytes are looked at, so that a TLS ClientHello sent to a
  plain port gets its 400 at once instead of a wait for a line end;
* SSL: a :class:`TLSConnection` sits between the socket and the Connection, is the
  Connection's transport (``get_extra_info("sslcontext")`` so ``is_tls`` is True, no
  ``sendfile``), and runs OpenSSL over memory BIOs. Its first look at the data tells
  plain HTTP ("GET / HTTP/1.1") from a ClientHello: plain HTTP is served unencrypted,
  and mod_ssl's post_read_request answers it with Apache's 400 page. The SNI callback
  switches to the named vhost's context; client certificates are checked by mod_ssl's
  verify callback (``optional_no_ca``, depth, CRLs). Per-directory SSLVerifyClient uses
  TLS 1.3 post-handshake authentication or a TLS 1.2 renegotiation (:meth:`TLSConnection.
  renegotiate`).

On an address where a server has ``SSLEngine optional``, the layer stays between the
socket and the Connection as a pass-through (mode ``upsniff``/``plain``) until a request
asks for TLS (RFC 2817): :meth:`TLSConnection.upgrade` writes the 101 head in the clear
and runs the handshake on the same socket; the request goes on over TLS.

Writes made while a request runs straight from the data that carried it are corked:
they wait in OpenSSL's output and leave in one send after the request (with the TLS 1.3
ticket on a new connection), or as soon as 64 KiB are queued.

The object also is mod_ssl's SSLConnRec: ``conn.notes["ssl"]`` for the variables.

Its parts: :class:`~.peer.Peer` (SNI, the verify callback, the certificates and session
the variables read), :class:`~.reneg.Renegotiation`, :class:`~.starttls.Upgrade`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import TYPE_CHECKING, Any

from featherd.core.connection import Connection
from featherd.log import DEBUG, INFO
from featherd.modules.ssl import libssl
from featherd.modules.ssl.peer import Peer
from featherd.modules.ssl.reneg import READ_SIZE, Renegotiation, library_text
from featherd.modules.ssl.starttls import Upgrade, offers_upgrade

if TYPE_CHECKING:
    from featherd.modules.ssl.init import ServerSSL, SSLState

#: first bytes of a request line: a method token is upper-case letters
#: while corked, at most this much encrypted output waits for the send
CORK_MAX = 64 * 1024
_METHOD_START = frozenset(range(0x41, 0x5B))
_MemoryBIO = ssl.MemoryBIO


def protocol_factory(worker: Any, spec: Any) -> Any:
    """Worker.start's hook: the protocol factory for one listening socket."""
    state = worker.tree.extra.get("ssl")
    # what a connection's local address decides (its vhost group, the server whose
    # SSLEngine counts, its ServerSSL) is worked out once per address and shared
    addrs: dict[Any, Any] = {}
    sockname = _fixed_sockname(spec)

    def make() -> asyncio.Protocol:
        return TLSConnection(worker, spec, state, addrs, sockname)
    return make


def _fixed_sockname(spec: Any) -> tuple[str, int] | None:
    """A Listen on one IPv4 address and port: every accepted socket has that local
    address, so no getsockname() per connection (as APR knows it from the listener)."""
    host, port = getattr(spec, "host", None), getattr(spec, "port", 0)
    if not host or not isinstance(port, int) or port <= 0:
        return None
    try:
        if socket.inet_ntoa(socket.inet_aton(host)) != host or host == "0.0.0.0":
            return None
    except (OSError, TypeError, ValueError):
        return None
    return (host, port)


class TLSConnection(Renegotiation, Upgrade, Peer, asyncio.Protocol):
    """The socket's protocol and, for a TLS connection, the Connection's transport."""

    # per-connection state: class-level defaults (immutable values), so that a new
    # connection sets only what differs (the instance dict fills in as they change)
    raw: Any = None
    _sockname: Any = None
    group: Any = None
    conn: Connection | None = None      # the transport's protocol (Connection,
    http: Connection | None = None      # or core.upgrade's stream); the HTTP one
    mode = "new"       # plainsniff | sniff | handshake | open | reneg | plain | upsniff
    upgradable = False  # SSLEngine optional: plain until an RFC 2817 upgrade
    corked = False      # writes wait for one send at the end of _read
    base: ServerSSL | None = None
    srv: ServerSSL | None = None          # the handshake's server (after SNI)
    server: Any = None
    obj: ssl.SSLObject | None = None
    sslobj: ssl.SSLObject | None = None   # set once the handshake is done
    _so: Any = None                       # its _ssl object: no Python wrapper
    sslp = 0
    incoming: ssl.MemoryBIO | None = None
    outgoing: ssl.MemoryBIO | None = None
    sni: str | None = None
    sni_done = False
    non_ssl_request = False
    closed = False
    shutdown_type = "standard"            # unclean | accurate (SetEnvIf)
    verify_level = "none"
    verify_depth = 1
    verify_error: str | None = None
    verify_info: str | None = None
    crl = False
    requests = 0
    _client_cert: bytes | None | bool = False
    _server_cert: bytes | None = None
    _chain: list[bytes] | None = None
    waiter: asyncio.Future[str | None] | None = None
    pha = False
    pha_armed = False
    pha_done = False

    def __init__(self, worker: Any, spec: Any, state: SSLState | None,
                 addrs: dict[Any, Any] | None = None, sockname: Any = None) -> None:
        self.worker = worker
        self.spec = spec
        self.state = state
        self._addrs = addrs if addrs is not None else {}   # sockname -> _addr_info()
        self._sockname = sockname       # the listener's own address when it is fixed

    # -- asyncio.Protocol (the socket side) -------------------------------------------------
    def _addr_info(self, sock: Any) -> tuple[Any, Any, ServerSSL | None]:
        """(vhost group, the address's first server, its ServerSSL) for a local address."""
        ip = sock[0][7:] if sock[0].startswith("::ffff:") else sock[0]
        worker = self.worker
        group = worker.vhosts.by_addr(ip, sock[1])
        base_server = group.servers[0] if group is not None and group.servers \
            else worker.tree.main
        state = self.state
        srv = state.for_server(base_server) if state is not None else None
        info = self._addrs[sock] = (group, base_server, srv)
        return info

    def connection_made(self, transport: Any) -> None:
        self.raw = transport
        sock = self._sockname
        if sock is None:
            sock = self._sockname = transport.get_extra_info("sockname") or ("", 0)
        try:
            group, base_server, srv = self._addrs[sock]
        except KeyError:
            group, base_server, srv = self._addr_info(sock)
        self.group = group
        conn = self.conn = self.http = Connection(self.worker, self.spec)
        if srv is None or srv.optional:
            state = self.state
            if state is not None and state.optional and offers_upgrade(state, group, srv):
                # SSLEngine optional: plain HTTP through this layer, which can switch to
                # TLS when a request asks for it (kernel.ssl_hook_upgrade)
                self.mode = "upsniff"
                self.upgradable = True
                conn.notes["ssl"] = self
                conn.connection_made(self)
                return
            self.mode = "plainsniff"
            conn.connection_made(transport)
            return
        self.base = self.srv = srv
        self.server = base_server
        self.verify_level, self.verify_depth, self.crl = srv.verify, srv.depth, srv.crl
        self.mode = "sniff"
        conn.notes["ssl"] = self
        conn.connection_made(self)
        log = conn.base.error_log if conn.base is not None else None
        if log is not None and log.enabled(INFO):
            self._log(INFO, f"Connection to child {os.getpid()} established (server "
                            f"{srv.vhost_id})")

    def data_received(self, data: bytes) -> None:
        mode = self.mode
        if mode == "failed":
            return
        if mode == "open":
            self.incoming.write(data)  # type: ignore[union-attr]
            self._read()
            return
        if mode == "plainsniff":
            self._plain_sniff(data)
            return
        if mode == "plain":
            self.conn.data_received(data)  # type: ignore[union-attr]
            return
        if mode == "upsniff":
            self.mode = "plain"
            if data[:2] == b"\x16\x03" and b"\n" not in data:
                data += b"\r\n"       # a ClientHello: the 400 at once (see _plain_sniff)
            self.conn.data_received(data)  # type: ignore[union-attr]
            return
        if mode == "sniff":
            if data[0] in _METHOD_START:
                self._speaking_plain_http(data)
                return
            self._start_tls()
        self.incoming.write(data)  # type: ignore[union-attr]
        if self.mode == "handshake":
            self._handshake()
        elif self.mode == "reneg":
            self._reneg_step()

    def eof_received(self) -> bool | None:
        mode = self.mode
        if mode in ("plain", "plainsniff", "upsniff"):
            return self.conn.eof_received()  # type: ignore[union-attr]
        if mode in ("sniff", "handshake", "failed") or self.incoming is None:
            return False
        self.incoming.write_eof()
        if mode == "reneg":
            self._reneg_done("connection closed by the client during the re-negotiation")
            return False
        self._read()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.sslp:
            libssl.VERIFY_OWNERS.pop(self.sslp, None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result("connection lost")
        http = self.http
        # closed by the server (the request done, or given up) or idle: nothing will
        # use the Connection through this layer any more
        done = http is not None and (http.transport_closed or not http.busy)
        if self.conn is not None and self.conn.transport is not None:
            self.conn.connection_lost(exc)
        if self.obj is not None and self.http is not None and self.http.base is not None:
            log = self.http.base.error_log
            if log is not None and log.enabled(INFO):
                self._log(INFO, f"Connection closed to child {os.getpid()} with "
                                f"{self.shutdown_type} shutdown (server "
                                f"{self.srv.vhost_id if self.srv else '?'})")
        # no reference cycles left (SSLObject -> self -> Connection -> self): the
        # connection's objects are freed now rather than by the cyclic GC
        if self.obj is not None:
            self.obj._featherd = None  # type: ignore[attr-defined]
        if done:
            self.conn = self.http = None

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.pause_writing()

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.resume_writing()

    # -- sniffing ---------------------------------------------------------------------------
    def _plain_sniff(self, data: bytes) -> None:
        """A plain-HTTP address: hand the socket to the Connection after one look."""
        conn = self.conn
        assert conn is not None
        self.mode = "gone"
        self.raw.set_protocol(conn)
        if data[:2] == b"\x16\x03" and b"\n" not in data:
            # a TLS ClientHello on a plain port: end the "request line" now, so the core
            # answers 400 at once (Apache only does when the hello happens to hold a LF)
            conn._log(DEBUG, "SSL/TLS handshake received on a plain HTTP port")
            data += b"\r\n"
        conn.data_received(data)

    def _speaking_plain_http(self, data: bytes) -> None:
        """ssl_io_filter_error, HTTP_REQUEST: serve the request unencrypted; mod_ssl's
        post_read_request answers it with the 400 page."""
        self.mode = "plain"
        self.non_ssl_request = True
        conn = self.conn
        assert conn is not None
        conn.is_tls = False
        self._log(INFO, "SSL handshake failed: HTTP spoken on HTTPS port; trying to send "
                        "HTML error page")
        self._log(INFO, "SSL Library Error: error:0A00009C:SSL routines::http request")
        conn.data_received(data)

    # -- the handshake ---------------------------------------------------------------------
    def _start_tls(self) -> None:
        srv = self.base
        assert srv is not None
        state = self.state
        if state is not None and state.connect_seeds:
            from featherd.modules.ssl.init import seed_bytes

            for sd in state.connect_seeds:
                try:
                    ssl.RAND_add(seed_bytes(sd), 0.0)
                except OSError:
                    pass
        incoming = self.incoming = _MemoryBIO()
        outgoing = self.outgoing = _MemoryBIO()
        ctx = srv.ctx
        # SSLContext.wrap_bio without its two Python-level hops (SSLObject._create)
        obj = self.obj = ctx.sslobject_class.__new__(ctx.sslobject_class)
        so = obj._sslobj = ctx._wrap_bio(  # type: ignore[attr-defined]
            incoming, outgoing, server_side=True, server_hostname=None, owner=obj,
            session=None)
        obj._featherd = self  # type: ignore[attr-defined]
        sslp = self.sslp = libssl.sslobj_ptr(so)
        if sslp:
            libssl.VERIFY_OWNERS[sslp] = self
        self.mode = "handshake"

    def _handshake(self) -> None:
        obj = self.obj
        assert obj is not None
        try:
            obj._sslobj.do_handshake()  # type: ignore[attr-defined]   # (no wrapper)
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as e:
            self._handshake_failed(e)
            return
        if not self.incoming.pending:  # type: ignore[union-attr]
            self._flush()       # else the request came with the Finished: _read sends
        self.mode = "open"
        self.sslobj = obj
        self._so = obj._sslobj  # type: ignore[attr-defined]
        if self.sni is None and self.sslp:
            name = libssl.servername(self.sslp)
            if name:
                self.sni = name.lower().rstrip(".")
        conn = self.conn
        if conn is not None and conn.base is not None and conn.base.error_log is not None \
                and conn.base.error_log.enabled(DEBUG):
            name, _, bits = obj.cipher() or ("", "", 0)
            from featherd.modules.ssl.vars import _cipher_bits

            self._log(DEBUG, f"Protocol: {obj.version()}, Cipher: {name} "
                             f"({bits}/{_cipher_bits().get(name, bits)} bits)")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)         # an RFC 2817 upgrade waits for this
        if self.incoming.pending:  # type: ignore[union-attr]
            self._read()

    def _handshake_failed(self, e: BaseException) -> None:
        self._flush()
        srv = self.srv
        if isinstance(e, ssl.SSLCertVerificationError) or self.verify_error:
            why = self.verify_error or getattr(e, "verify_message", None) or "unknown"
            self._log(INFO, f"SSL client authentication failed: {why}")
        self._log(INFO, f"SSL library error 1 in handshake (server "
                        f"{srv.vhost_id if srv else '?'})")
        self._log(INFO, f"SSL Library Error: {library_text(e)}")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(library_text(e))
        self._linger_close()

    def _linger_close(self) -> None:
        """Send what is queued (the alert), then close without a reset: half-close and
        drop what the client still sends for a moment (ap_lingering_close)."""
        self.closed = True
        self.mode = "failed"
        if self.conn is not None:
            self.conn.transport_closed = True
        raw = self.raw
        try:
            if raw.can_write_eof():
                raw.write_eof()
                asyncio.get_running_loop().call_later(2.0, raw.close)
                return
        except (OSError, RuntimeError):
            pass
        raw.close()

    # -- application data ------------------------------------------------------------------
    def _read(self) -> None:
        assert self.obj is not None
        obj = self.obj._sslobj  # type: ignore[attr-defined]   # ssl.SSLObject's C half
        chunks = []
        eof = False
        incoming = self.incoming
        while True:
            try:
                d = obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                eof = True
                break
            except ssl.SSLError as e:
                self._log(INFO, f"SSL library error reading data: {library_text(e)}")
                self._flush()
                self.abort()
                return
            if not d:
                eof = True
                break
            chunks.append(d)
            if not incoming.pending and not obj.pending():  # type: ignore[union-attr]
                break
        conn = self.conn
        assert conn is not None
        if chunks:
            # what the request writes while it runs from here (most requests finish
            # without waiting) goes out in one send with whatever OpenSSL has queued
            # (TLS 1.3 tickets after the handshake): one syscall instead of three
            self.corked = True
            try:
                conn.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            finally:
                self.corked = False
        self._flush()
        if eof and not conn.lost:
            if not conn.eof_received():
                self.close()

    def _flush(self) -> None:
        out = self.outgoing
        if out is not None and out.pending:
            data = out.read()
            if not self.raw.is_closing():
                self.raw.write(data)

    # -- the Connection's transport ------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        so = self._so
        if so is None or self.closed:
            if self.mode == "plain" or self.mode == "upsniff":
                self.raw.write(data)
            return
        try:
            so.write(data)
        except ssl.SSLError as e:
            self._log(INFO, f"SSL library error writing data: {library_text(e)}")
            self.abort()
            return
        if not self.corked or self.outgoing.pending > CORK_MAX:  # type: ignore[union-attr]
            self._flush()

    def writelines(self, items: Any) -> None:
        self.write(b"".join(items))

    def can_write_eof(self) -> bool:
        return self.mode in ("plain", "upsniff") and self.raw.can_write_eof()

    def write_eof(self) -> None:
        self.raw.write_eof()

    def close(self) -> None:
        """ssl_filter_io_shutdown: close_notify (unless ssl-unclean-shutdown), then the
        socket."""
        if self.closed:
            return
        self.closed = True
        obj = self.sslobj
        if obj is not None and self.shutdown_type != "unclean" and not self.raw.is_closing():
            try:
                obj._sslobj.shutdown()  # type: ignore[attr-defined]   # SSLObject.unwrap
            except (ssl.SSLError, OSError, ValueError):
                pass
        self._flush()      # what a corked request wrote, then the close_notify
        if self.sslp:
            libssl.VERIFY_OWNERS.pop(self.sslp, None)
        self.raw.close()

    def abort(self) -> None:
        self.closed = True
        if self.sslp:
            libssl.VERIFY_OWNERS.pop(self.sslp, None)
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.closed or self.raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.raw.get_extra_info(name, default)
        if name == "sockname":
            return self._sockname        # asked again by the Connection: no syscall
        if name == "sslcontext":
            return self.srv.ctx if self.srv is not None and self.mode not in (
                "plain", "upsniff") else default
        if name == "ssl_object":
            return self.sslobj
        if name == "peercert":
            return self.sslobj.getpeercert() if self.sslobj is not None else default
        if name == "cipher":
            return self.sslobj.cipher() if self.sslobj is not None else default
        if name == "socket":
            # no sendfile under TLS; an SSLEngine optional connection starts in the clear
            return self.raw.get_extra_info(name, default) if self.upgradable else default
        return self.raw.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def is_reading(self) -> bool:
        return bool(self.raw.is_reading())

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return int(self.raw.get_write_buffer_size())

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.raw.get_write_buffer_limits()  # type: ignore[no-any-return]

    def get_protocol(self) -> Any:
        return self.conn

    def set_protocol(self, protocol: Any) -> None:
        self.conn = protocol     # core.upgrade's stream: self.http stays for the logs

    # -- logging -------------------------------------------------------------------------------
    def _debug(self) -> bool:
        conn = self.http
        log = conn.base.error_log if conn is not None and conn.base is not None else None
        return log is not None and log.enabled(DEBUG)

    def _log(self, level: int, msg: str) -> None:
        conn = self.http
        if conn is None:
            return
        server = self.server if self.server is not None else conn.base
        log = (server.error_log if server is not None else None) or \
            conn.tree.main.error_log
        if log is not None and log.enabled(level):
            log.log(level, msg, client=conn.client_ip)


__all__ = ["TLSConnection", "protocol_factory"]
