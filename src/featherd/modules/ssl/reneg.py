"""Per-directory client verification and cipher suites after the handshake: TLS 1.3
post-handshake authentication, TLS 1.2 renegotiation (ssl_hook_Access's second half).

:class:`Renegotiation` is a part of :class:`~featherd.modules.ssl.tls.TLSConnection`:
``await t.renegotiate(level, depth, ciphers, timeout)`` asks the client for a
certificate (or another cipher) while the request waits; data the client sends meanwhile
goes on to the HTTP connection.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from featherd.modules.ssl import libssl
from featherd.modules.ssl.certs import verify_mode_bits

READ_SIZE = 32 * 1024


class Renegotiation:
    """The renegotiation half of TLSConnection (which provides the attributes)."""

    obj: Any
    sslobj: Any
    sslp: int
    conn: Any
    mode: str
    incoming: Any
    waiter: Any
    pha: bool
    pha_armed: bool
    pha_done: bool
    verify_level: str
    verify_depth: int
    verify_error: str | None
    verify_info: str | None
    _client_cert: Any
    _chain: Any
    _flush: Any          # TLSConnection's: send what OpenSSL wrote
    _read: Any           # TLSConnection's: decrypt and pass on application data

    # -- per-directory client verification: renegotiation / post-handshake auth ----------------
    async def renegotiate(self, level: str, depth: int, ciphers: str | None,
                          timeout: float) -> str | None:
        """Ask the client for a certificate (again) under ``level``/``depth``, or for
        another cipher; None when done, else the reason it could not be done."""
        obj = self.sslobj
        if obj is None or not self.sslp:
            return "re-negotiation is not available"
        tls13 = obj.version() == "TLSv1.3"
        mode = verify_mode_bits(level)
        self.verify_level, self.verify_depth = level, depth
        self.verify_error = None
        self.verify_info = None
        self._client_cert = False
        self._chain = None
        libssl.set_verify_result(self.sslp, libssl.X509_V_OK)
        if tls13:
            if ciphers:
                return "TLSv1.3 does not support renegotiation (per-directory " \
                       "SSLCipherSuite)"
            libssl.ssl_set_verify(self.sslp, mode | libssl.SSL_VERIFY_POST_HANDSHAKE)
            try:
                obj.verify_client_post_handshake()
            except (ssl.SSLError, ValueError) as e:
                return f"cannot perform post-handshake authentication: {library_text(e)}"
            self.pha = True
            self.pha_armed = False
            self.pha_done = False
            libssl.watch_handshakes(self.sslp)
        else:
            libssl.ssl_set_verify(self.sslp, mode)
            if ciphers and not libssl.ssl_set_cipher_list(self.sslp, ciphers):
                return f"unable to reconfigure the cipher suite '{ciphers}'"
            if not libssl.renegotiate(self.sslp):
                return "SSL_renegotiate failed"
            self.pha = False
        self.mode = "reneg"
        self.waiter = asyncio.get_running_loop().create_future()
        self._reneg_step()
        try:
            return await asyncio.wait_for(self.waiter, timeout)
        except TimeoutError:
            self.mode = "open"
            return "timeout waiting for the client's re-negotiation handshake"
        finally:
            self.waiter = None

    def handshake_done_callback(self) -> None:
        """OpenSSL finished a handshake: after our CertificateRequest went out, that is
        the client's answer to post-handshake authentication."""
        if self.pha_armed:
            self.pha_done = True

    def _pha_step(self) -> None:
        obj = self.obj
        assert obj is not None
        try:
            if not self.pha_armed:
                try:
                    obj.do_handshake()          # sends the CertificateRequest
                finally:
                    self.pha_armed = True
                self._flush()
                return
            chunks = []
            while not self.pha_done:
                try:
                    d = obj.read(READ_SIZE)
                except ssl.SSLWantReadError:
                    break
                if not d:
                    break
                chunks.append(d)
            if chunks and self.conn is not None:
                self.conn.data_received(b"".join(chunks))
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as e:
            self._flush()
            self._reneg_done(f"post-handshake authentication failed: {library_text(e)}")
            return
        self._flush()
        if self.pha_done:
            self._reneg_done(None)

    def _reneg_step(self) -> None:
        """TLS 1.2: SSL_renegotiate was called; drive the new handshake."""
        if self.pha:
            self._pha_step()
            return
        obj = self.obj
        assert obj is not None
        try:
            obj.do_handshake()
            chunks = []
            while libssl.renegotiate_pending(self.sslp):
                try:
                    d = obj.read(READ_SIZE)
                except ssl.SSLWantReadError:
                    break
                if not d:
                    break
                chunks.append(d)
            if chunks and self.conn is not None:
                self.conn.data_received(b"".join(chunks))
            if libssl.renegotiate_pending(self.sslp):
                self._flush()
                return
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as e:
            self._flush()
            self._reneg_done(f"re-negotiation handshake failed: {library_text(e)}")
            return
        self._flush()
        self._reneg_done(None)

    def _reneg_done(self, error: str | None) -> None:
        if self.mode == "reneg":
            self.mode = "open"
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(error)
        if error is None and self.incoming is not None and self.incoming.pending:
            self._read()


def library_text(e: BaseException) -> str:
    """An OpenSSL error the way mod_ssl logs it."""
    lib = getattr(e, "library", None)
    reason = getattr(e, "reason", None)
    if reason:
        text = f"{lib or 'SSL'} routines: {reason.lower().replace('_', ' ')}"
        vm = getattr(e, "verify_message", None)
        return f"{text} ({vm})" if vm else text
    return str(e)


__all__ = ["READ_SIZE", "Renegotiation", "library_text"]
