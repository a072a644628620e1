"""The remaining questions of the mod_ssl FAQ that can be tested (the others are in
test_ssl_basic, test_ssl_clientauth, test_ssl_vars, test_ssl_pphrase, test_ssl_session
and the unit tests of featherd-ssl)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from featherd_testlib import SRC, free_port
from tests_ssl_helpers import PKI, cert_lines, client_context, https, ssl_conf, wait_log


def _run(tmp_path: Path, conf: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "htdocs").mkdir(exist_ok=True)
    p = tmp_path / "httpd.conf"
    p.write_text(conf)
    return subprocess.run([sys.executable, "-m", "featherd", "-d", str(tmp_path), "-f", str(p),
                           "-DFOREGROUND", *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=str(SRC)))


def test_ssl_mutex_permission_errors(tmp_path: Path, pki: PKI) -> None:
    """"Why do I get permission errors related to SSLMutex when I start Apache?"."""
    conf = ssl_conf(free_port(), free_port(), cert_lines(pki),
                    "SSLSessionCache shmcb:logs/c(65536)\n"
                    "SSLMutex file:/nonexistent/dir/ssl_mutex\n")
    p = _run(tmp_path, conf)
    assert p.returncode == 1
    assert "mod_ssl: Child could not open SSLMutex lockfile /nonexistent/dir/ssl_mutex." in \
        p.stderr
    assert "(System error follows)\nSystem: No such file or directory (errno: 2)" in p.stderr


def test_connection_refused_without_the_ssl_define(make_server: Any, pki: PKI) -> None:
    """"Why do I get "Connection Refused" ... via HTTPS?": the SSL part of the
    configuration in <IfDefine SSL> needs ``-DSSL`` (apachectl startssl)."""
    http_port, port = free_port(), free_port()
    conf = ssl_conf(http_port, port, cert_lines(pki))
    conf = conf.replace(f"Listen 127.0.0.1:{port} https\n", "")
    conf = conf.replace(f"<VirtualHost 127.0.0.1:{port}>", f"<IfDefine SSL>\nListen "
                        f"127.0.0.1:{port} https\n<VirtualHost 127.0.0.1:{port}>")
    conf += "</IfDefine>\n"
    srv = make_server(raw_conf=conf, start=False)
    srv.port = http_port
    srv.start()
    with pytest.raises(ConnectionRefusedError):
        https(port)
    srv.stop()
    srv2 = make_server(raw_conf=conf, start=False, args=["-DSSL"])
    srv2.port = http_port
    srv2.start()
    deadline = time.monotonic() + 10      # start() waited for the plain port only
    while True:
        try:
            resp = https(port)[0]
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert resp.status == 200


def test_alert_bad_certificate_is_logged(tls_server: Any, pki: PKI) -> None:
    """"Why do connections fail with an "alert bad certificate" error?": a client that
    refuses the server certificate sends an alert; the error log shows it."""
    srv = tls_server(cert_lines(pki, "server_b"))
    with pytest.raises(ssl.SSLCertVerificationError):
        https(srv.port, host="b.example", ctx=client_context(pki, verify=True,
                                                             cafile=pki.path("inter.crt")))
    deadline = time.monotonic() + 3
    while "alert unknown ca" not in srv.error_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "SSL Library Error: SSL routines: tlsv1 alert unknown ca" in srv.error_log()


def test_a_2048_bit_key_works(tls_server: Any, pki: PKI) -> None:
    """"Why does my 2048-bit private key not work?": it does (as does 4096)."""
    from featherd.modules.ssl import certtool as ct

    key = ct.generate_key("rsa", 4096)
    ca_key = ct.load_key(pki["ca"].key.read_bytes())
    cert = ct.sign_csr(ct.make_csr(key, ct.parse_subject("/CN=localhost")), pki["ca"].obj,
                       ca_key)
    c, k = pki.root / "big.crt", pki.root / "big.key"
    from cryptography.hazmat.primitives import serialization

    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ct.write_private(k, ct.key_pem(key))
    assert pki["server"].obj.public_key().key_size == 2048
    srv = tls_server(cert_lines(pki))
    assert https(srv.port)[0].status == 200
    srv.srv.stop()
    srv2 = tls_server(f"SSLCertificateFile {c}\nSSLCertificateKeyFile {k}\n")
    assert https(srv2.port)[0].status == 200


def test_anonymous_dh_ciphers(tls_server: Any, pki: PKI) -> None:
    """"Why do I get "no shared cipher" errors, when trying to use Anonymous
    Diffie-Hellman (ADH) ciphers?": not allowed by default; allowed when the
    SSLCipherSuite names them."""
    anon = "AECDH-AES128-SHA:@SECLEVEL=0"
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2, ciphers=anon)
    srv = tls_server(cert_lines(pki) + "SSLProtocol TLSv1.2\n")
    with pytest.raises(ssl.SSLError):
        https(srv.port, ctx=ctx)
    srv.srv.stop()
    srv2 = tls_server(cert_lines(pki) + "SSLProtocol TLSv1.2\n"
                      f"SSLCipherSuite HIGH:{anon}\n")
    r, _ = https(srv2.port, ctx=ctx)
    assert r.status == 200 and r.cipher == "AECDH-AES128-SHA" and not r.peer_der


def test_msie_workaround_directives(tls_server: Any, pki: PKI) -> None:
    """The FAQ's MSIE workarounds are accepted as written."""
    srv = tls_server(cert_lines(pki) + "SSLProtocol all -SSLv3\n"
                     "SSLCipherSuite ALL:!ADH:!EXPORT56:RC4+RSA:+HIGH:+MEDIUM:+LOW:+SSLv2:+EXP\n",
                     extra="SSLSessionCache shmcb:logs/ssl_scache(512000)\n")
    assert https(srv.port)[0].status == 200


def test_ssl_compression_method_is_logged(tls_server: Any, pki: PKI) -> None:
    """"How do I get SSL compression working?": %{SSL_COMPRESS_METHOD}x tells (NULL:
    no compression, as CRIME taught; SSLCompression on asks the library for it)."""
    srv = tls_server(cert_lines(pki) + "SSLCompression on\n",
                     log_format="%{SSL_COMPRESS_METHOD}x %r")
    https(srv.port)
    assert "NULL GET / HTTP/1.1" in wait_log(srv, "GET /")


def test_basic_auth_over_https(tls_server: Any, pki: PKI) -> None:
    """"When I use Basic Authentication over HTTPS the lock icon ...": the credentials
    travel inside TLS; the 401 dialog and the authorised request both work."""
    users = "joe:" + subprocess.run(["openssl", "passwd", "-apr1", "secret"],
                                    capture_output=True, text=True).stdout.strip() + "\n"
    srv = tls_server(cert_lines(pki) + "<Location />\nAuthType Basic\nAuthName Private\n"
                     "AuthUserFile @ROOT@/users\nRequire valid-user\n</Location>\n",
                     start=False, files={"users": users})
    srv.srv.conf_path.write_text(srv.srv.conf_path.read_text().replace("@ROOT@",
                                                                       str(srv.root)))
    srv.srv.start()
    assert https(srv.port)[0].status == 401
    import base64

    auth = "Basic " + base64.b64encode(b"joe:secret").decode()
    assert https(srv.port, headers={"Authorization": auth})[0].status == 200
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + auth.encode() +
                  b"\r\n\r\n")
        assert b"joe" not in s.recv(4096)          # never in clear text on this port
