"""The SSL contexts start-up builds (ssl_engine_init.c), inspected without sockets."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.ssl import certtool as ct
from featherd.modules.ssl import libssl


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("ctx")
    key = ct.generate_key("ec")
    cert = ct.self_signed(key, ct.parse_subject("/CN=www.example.com"),
                          ct.parse_san("DNS:www.example.com"))
    c, k = d / "c.pem", d / "k.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ct.write_private(k, ct.key_pem(key))
    return c, k


def tree_for(tmp_path: Path, pair: tuple[Path, Path], extra: str) -> Any:
    c, k = pair
    text = ("Listen 127.0.0.1:8443\n<VirtualHost 127.0.0.1:8443>\nServerName www.example.com\n"
            f"SSLEngine on\nSSLCertificateFile {c}\nSSLCertificateKeyFile {k}\n{extra}"
            "</VirtualHost>\n")
    return load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)


def ctx_of(tree: Any) -> ssl.SSLContext:
    return tree.extra["ssl"].for_server(tree.vhosts[0]).ctx  # type: ignore[no-any-return]


def test_insecure_renegotiation(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    bit = libssl.SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION
    assert not libssl.ctx_options(ctx_of(tree_for(tmp_path, pair, ""))) & bit
    on = ctx_of(tree_for(tmp_path, pair, "SSLInsecureRenegotiation on\n"))
    assert libssl.ctx_options(on) & bit


def test_honor_order_tickets_compression_protocols(tmp_path: Path,
                                                    pair: tuple[Path, Path]) -> None:
    ctx = ctx_of(tree_for(tmp_path, pair, "SSLHonorCipherOrder on\nSSLSessionTickets off\n"
                                          "SSLProtocol TLSv1.2\n"))
    assert ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert ctx.options & ssl.OP_NO_TICKET
    assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_2
    default = ctx_of(tree_for(tmp_path, pair, ""))
    assert not default.options & ssl.OP_CIPHER_SERVER_PREFERENCE     # 2.2's default: off
    assert default.maximum_version == ssl.TLSVersion.TLSv1_3
    assert default.options & ssl.OP_NO_COMPRESSION


def test_verify_modes(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    c, _ = pair
    for level, mode in (("none", 0), ("optional", 1), ("optional_no_ca", 1), ("require", 3)):
        ctx = ctx_of(tree_for(tmp_path, pair, f"SSLCACertificateFile {c}\n"
                                              f"SSLVerifyClient {level}\n"))
        assert libssl.LIB.SSL_CTX_get_verify_mode(libssl.ctx_ptr(ctx)) == mode


def test_no_ca_for_client_auth_warns(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    tree = tree_for(tmp_path, pair, "SSLVerifyClient require\n")
    assert any("no CAs are known for verification" in m
               for _, m in tree.extra["ssl"].startup_log)


def test_certificate_name_warning(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    c, k = pair
    text = ("<VirtualHost 127.0.0.1:8443>\nServerName other.example\nSSLEngine on\n"
            f"SSLCertificateFile {c}\nSSLCertificateKeyFile {k}\n</VirtualHost>\n")
    tree = load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)
    assert any("server certificate does NOT include an ID which matches the server name" in m
               for _, m in tree.extra["ssl"].startup_log)


def test_generate_self_signed(tmp_path: Path) -> None:
    text = ("<VirtualHost 127.0.0.1:8443>\nServerName gen.example\nSSLEngine on\n"
            "SSLGenerateSelfSigned on\nSSLCertificateFile ssl/gen.crt\n"
            "SSLCertificateKeyFile ssl/gen.key\n</VirtualHost>\n")
    load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)
    crt = (tmp_path / "ssl" / "gen.crt").read_bytes()
    assert b"BEGIN CERTIFICATE" in crt
    load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)
    assert (tmp_path / "ssl" / "gen.crt").read_bytes() == crt          # kept
    with pytest.raises(ConfigError, match="SSLCertificateFile: file '.*/missing.crt' does "
                                          "not exist or is empty"):
        load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text=text.replace("SSLGenerateSelfSigned on\n", "")
                    .replace("gen.crt", "missing.crt"))
