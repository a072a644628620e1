"""The peer side of a TLS connection, a part of
:class:`~featherd.modules.ssl.tls.TLSConnection`: the server name the client asks for
(SNI: the vhost whose context the handshake goes on with), the verification of its
certificate (ssl_callback_SSLVerify) and what mod_ssl's variables read about the
certificates and the session afterwards.
"""

from __future__ import annotations

import ssl
from typing import Any

from featherd.core.walk import fn_match
from featherd.log import DEBUG, INFO
from featherd.modules.ssl import libssl


def sni_callback(obj: Any, name: str | None, ctx: ssl.SSLContext) -> None:
    t = getattr(obj, "_featherd", None)
    if t is not None:
        t.on_sni(name)


class Peer:
    """The SNI, verification and certificate half of TLSConnection (which provides the
    attributes)."""

    obj: Any
    sslobj: Any
    sslp: int
    group: Any
    state: Any
    server: Any
    srv: Any
    sni: str | None
    sni_done: bool
    verify_level: str
    verify_depth: int
    verify_error: str | None
    verify_info: str | None
    crl: bool
    _client_cert: Any
    _server_cert: Any
    _chain: Any
    _debug: Any          # TLSConnection's: whether the error log takes debug lines
    _log: Any            # TLSConnection's: a line in the connection's server's error log

    # -- the server name (called by OpenSSL during the handshake) -------------------------------
    def client_hello(self, name: str | None) -> None:
        """OpenSSL's ClientHello callback (before any session is resumed)."""
        self.sni_done = True
        self._select_vhost(name)

    def on_sni(self, name: str | None) -> None:
        """ssl_callback_ServerNameIndication (when the ClientHello callback could not
        be installed): pick the vhost the client names."""
        if not self.sni_done:
            self._select_vhost(name)

    def _select_vhost(self, name: str | None) -> None:
        if not name:
            return
        name = name.lower().rstrip(".")
        self.sni = name
        group = self.group
        if group is None or self.state is None:
            return
        for s in group.servers:
            if _server_matches(s, name):
                srv = self.state.for_server(s)
                if srv is None:
                    return
                self.server = s
                if srv is not self.srv:
                    self.srv = srv
                    assert self.obj is not None
                    self.obj.context = srv.ctx
                    libssl.copy_ctx_settings(self.sslp, srv.ctx)
                    self.verify_level, self.verify_depth, self.crl = (srv.verify, srv.depth,
                                                                      srv.crl)
                self._log(DEBUG, f"SSL virtual host for servername {name} found")
                return
        self._log(DEBUG, f"No matching SSL virtual host for servername {name} found "
                         "(using default/first virtual host)")

    # -- verification (called by OpenSSL through libssl's callback) -----------------------------
    def verify_callback(self, ok: int, store: int) -> int:
        """ssl_callback_SSLVerify."""
        err, depth = libssl.store_error(store)
        level = self.verify_level
        if self._debug():
            subj, issuer = libssl.current_cert_names(store)
            self._log(DEBUG, f"Certificate Verification: depth: {depth}, subject: {subj}, "
                             f"issuer: {issuer}")
        if level == "none":
            return 1
        if not ok and err in libssl.OPTIONAL_ERRORS and level == "optional_no_ca":
            self._log(DEBUG, "Certificate Verification: Verifiable Issuer is configured as "
                             "optional, therefore we're accepting the certificate")
            self.verify_info = "GENEROUS"
            ok = 1
        if not ok and err == libssl.X509_V_ERR_UNABLE_TO_GET_CRL and self.crl:
            ok = 1          # 2.2: a CA without a CRL revokes nothing
        if not ok:
            text = libssl.verify_error_string(err)
            self._log(INFO, f"Certificate Verification: Error ({err}): {text}")
            self.verify_error = text
            self._client_cert = False
        if depth > self.verify_depth:
            self._log(INFO, f"Certificate Verification: Certificate Chain too long (chain has "
                            f"{depth + 1} certificates, but maximum allowed are only "
                            f"{self.verify_depth})")
            libssl.set_store_error(store, libssl.X509_V_ERR_CERT_CHAIN_TOO_LONG)
            self.verify_error = libssl.verify_error_string(libssl.X509_V_ERR_CERT_CHAIN_TOO_LONG)
            ok = 0
        return ok

    # -- what mod_ssl's variables read ------------------------------------------------------------
    def client_cert(self) -> bytes | None:
        if self._client_cert is False:
            try:
                der = self.sslobj.getpeercert(binary_form=True) if self.sslobj else None
            except ValueError:          # a failed re-negotiation left it mid-handshake
                return None
            self._client_cert = der or None
        return self._client_cert  # type: ignore[return-value]

    def client_chain(self) -> list[bytes]:
        if self._chain is None:
            self._chain = libssl.peer_chain(self.sslp) if self.sslp else []
        return self._chain

    def server_cert(self) -> bytes | None:
        if self._server_cert is None:
            der = libssl.own_certificate(self.sslp) if self.sslp else b""
            if not der and self.srv is not None and self.srv.certs:
                der = self.srv.certs[0]
            self._server_cert = der
        return self._server_cert or None

    def verify_status(self) -> str:
        """SSL_CLIENT_VERIFY: NONE, SUCCESS, GENEROUS or FAILED:reason."""
        cert = self.client_cert()
        if self.verify_error is None and self.verify_info is None:
            return "SUCCESS" if cert else "NONE"
        if self.verify_info == "GENEROUS" and self.verify_error is None:
            return "GENEROUS"
        return f"FAILED:{self.verify_error}"

    def session_id(self) -> str | None:
        sess = self.sslobj.session if self.sslobj is not None else None
        sid = getattr(sess, "id", b"") if sess is not None else b""
        return sid.hex().upper() if sid else None

    def secure_reneg(self) -> bool:
        return libssl.secure_renegotiation(self.sslp) if self.sslp else False


def _server_matches(s: Any, name: str) -> bool:
    """ServerName, ServerAlias and wildcard aliases, as name-based vhost matching."""
    if s.server_hostname and s.server_hostname.lower() == name:
        return True
    if name in s.names:
        return True
    return any(fn_match(w, name, pathname=False) for w in s.wild_names)


__all__ = ["Peer", "sni_callback"]
