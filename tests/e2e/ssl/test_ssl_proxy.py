"""The SSLProxy* family: the client-side TLS context mod_proxy uses for https://
backends (manual: mod_ssl, SSLProxy*), tried against a featherd SSL server."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from tests_ssl_helpers import PKI, cert_lines

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.ssl import proxy_context


def _tree(tmp_path: Path, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)


def _get(ps: Any, port: int, host: str = "localhost") -> tuple[bytes, dict[str, Any]]:
    """GET / through the proxy context; the SSLProxyCheckPeer* verdicts by hostname."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ps.ctx.wrap_socket(raw, server_hostname=host) as s:
        checks = {h: ps.check_peer(s, h) for h in ("localhost", "other.example")}
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data, checks


def test_proxy_context_verifies_the_backend_and_presents_a_client_cert(
        tls_server: Any, pki: PKI, tmp_path: Path) -> None:
    backend = tls_server(cert_lines(pki) + f"SSLCACertificateFile {pki.path('ca.crt')}\n"
                         "SSLVerifyClient require\n")
    machine = tmp_path / "machine.pem"
    machine.write_bytes(pki["alice"].cert.read_bytes() + pki["alice"].key.read_bytes())
    tree = _tree(tmp_path, f"SSLProxyEngine on\nSSLProxyVerify require\n"
                           f"SSLProxyVerifyDepth 2\n"
                           f"SSLProxyCACertificateFile {pki.path('ca.crt')}\n"
                           f"SSLProxyMachineCertificateFile {machine}\n"
                           "SSLProxyProtocol all -TLSv1 -TLSv1.1\n"
                           "SSLProxyCipherSuite HIGH:!aNULL\n"
                           "SSLProxyCheckPeerCN on\nSSLProxyCheckPeerExpire on\n")
    ps = proxy_context(tree.main)
    assert ps is not None and ps.verify == "require"
    assert ps.ctx.verify_mode == ssl.CERT_REQUIRED
    assert ps.ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    data, checks = _get(ps, backend.port)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"hello\n")
    assert checks["localhost"] is None
    assert "SSL Proxy: Peer certificate CN mismatch" in (checks["other.example"] or "")


def test_proxy_verify_refuses_an_unknown_backend(tls_server: Any, pki: PKI,
                                                  tmp_path: Path) -> None:
    backend = tls_server(cert_lines(pki, "server_b"))
    tree = _tree(tmp_path, "SSLProxyEngine on\nSSLProxyVerify require\n"
                           f"SSLProxyCACertificateFile {pki.path('inter.crt')}\n")
    ps = proxy_context(tree.main)
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(ps, backend.port, "b.example")
    tree = _tree(tmp_path, "SSLProxyEngine on\nSSLProxyVerify none\n")
    data, _ = _get(proxy_context(tree.main), backend.port, "b.example")
    assert data.startswith(b"HTTP/1.1 200 OK")


def test_proxy_engine_off_and_per_vhost(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "<VirtualHost 127.0.0.1:8080>\nSSLProxyEngine on\n</VirtualHost>\n")
    assert proxy_context(tree.main) is None
    assert proxy_context(tree.vhosts[0]) is not None


def test_proxy_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No SSL protocols available \\[hint: "
                                          "SSLProxyProtocol\\]"):
        _tree(tmp_path, "SSLProxyEngine on\nSSLProxyProtocol -all\n")
    with pytest.raises(ConfigError, match="SSLProxyVerify: Invalid argument 'maybe'"):
        _tree(tmp_path, "SSLProxyVerify maybe\n")


def test_proxy_revocation_and_machine_certificate_path(tls_server: Any, pki: PKI,
                                                       tmp_path: Path) -> None:
    """SSLProxyCARevocationFile refuses a revoked backend certificate;
    SSLProxyMachineCertificatePath loads every cert+key file of the directory."""
    backend = tls_server(cert_lines(pki, "revoked"))
    tree = _tree(tmp_path, "SSLProxyEngine on\nSSLProxyVerify require\n"
                           f"SSLProxyCACertificateFile {pki.path('ca.crt')}\n")
    data, _ = _get(proxy_context(tree.main), backend.port, "carol")
    assert data.startswith(b"HTTP/1.1")
    tree = _tree(tmp_path, "SSLProxyEngine on\nSSLProxyVerify require\n"
                           f"SSLProxyCACertificateFile {pki.path('ca.crt')}\n"
                           f"SSLProxyCARevocationFile {pki.path('ca.crl')}\n")
    with pytest.raises(ssl.SSLCertVerificationError, match="revoked"):
        _get(proxy_context(tree.main), backend.port, "carol")
    d = tmp_path / "machine"
    d.mkdir()
    for name in ("alice", "dave"):
        (d / f"{name}.pem").write_bytes(pki[name].cert.read_bytes() +
                                        pki[name].key.read_bytes())
    (d / "README").write_text("not a certificate\n")
    tree = _tree(tmp_path, f"SSLProxyEngine on\nSSLProxyMachineCertificatePath {d}\n")
    ps = proxy_context(tree.main)
    assert [Path(c).name for c, _ in ps.machine_certs] == ["alice.pem", "dave.pem"]
