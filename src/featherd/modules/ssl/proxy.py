"""The client side of mod_ssl, for mod_proxy: the SSLProxy* directives become one
``ssl.SSLContext`` per server with ``SSLProxyEngine on``, built at start-up.

mod_proxy asks :func:`proxy_context` for the context of the request's server (None:
SSLProxyEngine is off, an https:// backend is refused as in Apache), wraps its backend
connection with it, and after the handshake calls :meth:`ProxySSL.check_peer` for 2.2's
post-handshake checks (SSLProxyCheckPeerExpire, SSLProxyCheckPeerCN / ...Name), which
answer a 502 with Apache's log text.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from featherd.config.merge import UNSET
from featherd.errors import ConfigError
from featherd.modules.ssl import libssl
from featherd.modules.ssl.config import PROTOCOL_ALL, SSLServerConfig, v
from featherd.modules.ssl.mod_ssl import ssl_module


@dataclass
class ProxySSL:
    """One server's client-side TLS settings."""

    ctx: ssl.SSLContext
    verify: str = "none"
    depth: int = 1
    check_cn: bool = False
    check_name: bool = False
    check_expire: bool = False
    machine_certs: list[tuple[str, str]] = field(default_factory=list)

    def check_peer(self, sslobj: ssl.SSLObject | ssl.SSLSocket, hostname: str) -> str | None:
        """None when the backend's certificate passes the SSLProxyCheckPeer* checks, else
        the error text to log (the request then gets a 502)."""
        der = sslobj.getpeercert(binary_form=True)
        if not der:
            return None if self.verify in ("none", "optional", "optional_no_ca") else \
                "SSL Proxy: Peer did not present a certificate"
        cert = x509.load_der_x509_certificate(der)
        if self.check_expire and cert.not_valid_after_utc < datetime.datetime.now(
                datetime.UTC):
            return "SSL Proxy: Peer certificate is expired"
        if self.check_name or self.check_cn:
            if not _name_matches(cert, hostname, san=self.check_name):
                return (f"SSL Proxy: Peer certificate CN mismatch: Certificate CN: "
                        f"{_cn(cert)} Requested hostname: {hostname}")
        return None


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _name_matches(cert: x509.Certificate, host: str, san: bool) -> bool:
    host = host.lower().rstrip(".")
    names = [_cn(cert).lower()]
    if san:
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names += [n.lower() for n in ext.get_values_for_type(x509.DNSName)]
            try:
                ip = ipaddress.ip_address(host)
                if ip in ext.get_values_for_type(x509.IPAddress):
                    return True
            except ValueError:
                pass
        except x509.ExtensionNotFound:
            pass
    for n in names:
        if n == host:
            return True
        if san and n.startswith("*.") and host.count(".") == n.count(".") and \
                host.split(".", 1)[1] == n[2:]:
            return True
    return False


def build_proxy_context(sc: SSLServerConfig, vid: str) -> ProxySSL:
    from featherd.modules.ssl.init import set_ciphers, set_protocols

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    set_protocols(ctx, v(sc.proxy_protocols, PROTOCOL_ALL), vid, proxy=True)
    set_ciphers(ctx, v(sc.proxy_cipher_suite, None), v(sc.proxy_tls13_suites, None), vid)
    verify = v(sc.proxy_verify, "none")
    depth = int(v(sc.proxy_verify_depth, 1))
    cafile, capath = v(sc.proxy_ca_file, None), v(sc.proxy_ca_path, None)
    if cafile or capath:
        try:
            ctx.load_verify_locations(cafile=cafile, capath=capath)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(f"Unable to configure verify locations for remote server "
                              f"authentication ({vid}): {e}") from None
    crlfile, crlpath = v(sc.proxy_crl_file, None), v(sc.proxy_crl_path, None)
    if crlfile or crlpath:
        ctx.load_verify_locations(cafile=crlfile, capath=crlpath)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if verify in ("require", "optional"):
        ctx.verify_mode = ssl.CERT_REQUIRED
        libssl.ctx_set_verify_depth(ctx, depth + 1)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    ps = ProxySSL(ctx, verify, depth, check_cn=sc.proxy_check_peer_cn is True,
                  check_name=sc.proxy_check_peer_name is True,
                  check_expire=sc.proxy_check_peer_expire is True)
    for certfile, keyfile in _machine_certs(sc):
        ps.machine_certs.append((certfile, keyfile))
    if ps.machine_certs:
        c, k = ps.machine_certs[0]
        try:
            ctx.load_cert_chain(c, k)
        except ssl.SSLError as e:
            raise ConfigError(f"Init: Unable to load the proxy client certificate {c} "
                              f"({vid}): {e}") from None
    return ps


def _machine_certs(sc: SSLServerConfig) -> list[tuple[str, str]]:
    """SSLProxyMachineCertificateFile/Path: files holding a certificate and its key."""
    files: list[str] = []
    if sc.proxy_machine_file is not UNSET:
        files.append(sc.proxy_machine_file)
    if sc.proxy_machine_path is not UNSET:
        d = sc.proxy_machine_path
        files += sorted(os.path.join(d, f) for f in os.listdir(d)
                        if os.path.isfile(os.path.join(d, f)))
    out = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        if b"CERTIFICATE-----" in data and b"PRIVATE KEY-----" in data:
            out.append((f, f))
    return out


def init_proxy(tree: Any, state: Any) -> None:
    from featherd.modules.ssl.init import vhost_id

    for s in tree.all_servers():
        sc: SSLServerConfig = ssl_module.sconf(s)
        if sc.proxy_engine is True:
            state.proxy[id(s)] = build_proxy_context(sc, vhost_id(s))


def proxy_context(r_or_server: Any) -> ProxySSL | None:
    """The client-side TLS settings of a request's (or server's) server, for mod_proxy."""
    server = getattr(r_or_server, "server", r_or_server)
    tree = getattr(r_or_server, "tree", None)
    if tree is None:
        from featherd.modules.ssl.init import CURRENT

        state = CURRENT[0] if CURRENT else None
    else:
        state = tree.extra.get("ssl")
    if state is None:
        return None
    return state.proxy.get(id(server))  # type: ignore[no-any-return]


__all__ = ["ProxySSL", "build_proxy_context", "proxy_context"]
