"""The SSLProxy* family: the client-side TLS context mod_proxy uses for https://
backends (manual: mod_ssl, SSLProxy*), tried against a featherd SSL server."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.ssl import proxy_context
from tests_ssl_helpers import PKI, cert_lines


def _tree(tmp_path: Path, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)


def _get(ps: Any, port: int, host: str = "localhost") -> tuple[bytes, Any]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ps.ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data, s


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
    data, s = _get(ps, backend.port)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"hello\n")
    assert ps.check_peer(s, "localhost") is None
    assert "CN mismatch" in (ps.check_peer(s, "other.example") or "")


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
