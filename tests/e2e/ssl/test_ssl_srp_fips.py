"""TLS-SRP (SSLSRPVerifierFile, SSLSRPUnknownUserSeed, SSL_SRP_USER/SSL_SRP_USERINFO)
with ``openssl s_client -srpuser``, and SSLFIPS (a start-up error where this OpenSSL has
no FIPS provider, as Apache's "FIPS mode failed")."""

from __future__ import annotations

import ctypes
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from featherd_testlib import SRC
from tests_ssl_helpers import cert_lines, wait_log

from featherd.modules.ssl import libssl, srp
from featherd.modules.ssl.init import fips_enable

pytestmark = pytest.mark.skipif(not srp.available()[0], reason="no SRP in this OpenSSL")

CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "user=$SSL_SRP_USER info=$SSL_SRP_USERINFO"
"""


def _verifier(d: Path) -> Path:
    vfile = d / "srp.vfile"
    vfile.write_text("")
    subprocess.run(["openssl", "srp", "-srpvfile", str(vfile), "-add", "-gn", "2048",
                    "-userinfo", "alice info", "-passout", "pass:alicepw", "alice"],
                   check=True, capture_output=True, timeout=60)
    return vfile


def _srp_server(tls_server: Any, pki: Any, tmp_path: Path, more: str = "") -> Any:
    vfile = _verifier(tmp_path)
    vhost = (cert_lines(pki) + f"SSLSRPVerifierFile {vfile}\n"
             "SSLCipherSuite SRP:ECDHE-RSA-AES128-GCM-SHA256\n" + more +
             "ScriptAlias /cgi-bin/ @ROOT@/cgi-bin/\n"
             "<Directory @ROOT@/cgi-bin>\n    SSLOptions +StdEnvVars\n</Directory>\n")
    srv = tls_server(vhost, start=False, files={"cgi-bin/srp.cgi": CGI},
                     log_format='%h \\"%r\\" %>s %{SSL_SRP_USER}x %{SSL_CIPHER}x')
    conf = srv.srv.conf_path.read_text().replace("@ROOT@", str(srv.root))
    srv.srv.conf_path.write_text(conf)
    (srv.root / "cgi-bin" / "srp.cgi").chmod(0o755)
    srv.srv.start()
    return srv


def _srp_get(port: int, user: str, password: str, path: str = "/cgi-bin/srp.cgi") -> str:
    """A TLS-SRP client: Python's ssl with libssl's SSL_CTX_set_srp_username/password
    (``openssl s_client -srpuser`` of OpenSSL 3.0 crashes after the ServerKeyExchange).
    The response, or "error: ..." when the handshake fails."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("SRP-AES-256-CBC-SHA:@SECLEVEL=0")
    crypto = ctypes.CDLL(libssl._libname("ssl"))
    for name in ("SSL_CTX_set_srp_username", "SSL_CTX_set_srp_password"):
        fn = getattr(crypto, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        fn.restype = ctypes.c_int
    crypto.SSL_CTX_set_srp_username(libssl.ctx_ptr(ctx), user.encode())
    crypto.SSL_CTX_set_srp_password(libssl.ctx_ptr(ctx), password.encode())
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return f"error: {e}"
    try:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
        return data.decode("latin-1") + f"\ncipher={(s.cipher() or ('',))[0]}"
    finally:
        s.close()


def test_srp_user_logs_in_and_variables_are_set(tls_server: Any, pki: Any,
                                               tmp_path: Path) -> None:
    srv = _srp_server(tls_server, pki, tmp_path)
    out = _srp_get(srv.port, "alice", "alicepw")
    assert "HTTP/1.1 200" in out, out
    assert "user=alice info=alice info" in out
    log = wait_log(srv, "SRP-AES-256-CBC-SHA")
    assert " alice SRP-AES-256-CBC-SHA" in log
    assert "Using SRP verifier file" in srv.error_log()


def test_srp_wrong_password_and_unknown_user_fail(tls_server: Any, pki: Any,
                                                 tmp_path: Path) -> None:
    srv = _srp_server(tls_server, pki, tmp_path)
    assert "HTTP/1.1" not in _srp_get(srv.port, "alice", "wrong")
    out = _srp_get(srv.port, "mallory", "x")
    assert "HTTP/1.1" not in out
    assert "unknown psk identity" in out.lower()


def test_srp_unknown_user_seed_hides_unknown_users(tls_server: Any, pki: Any,
                                                   tmp_path: Path) -> None:
    srv = _srp_server(tls_server, pki, tmp_path, "SSLSRPUnknownUserSeed s3cret\n")
    out = _srp_get(srv.port, "mallory", "x")
    assert "HTTP/1.1" not in out
    # the fake parameters make it look like a wrong password, not an unknown user
    assert "unknown psk identity" not in out.lower()


def _featherd(srv: Any, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "featherd", "-d", str(srv.root), "-f",
                           str(srv.srv.conf_path), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_srp_verifier_file_must_exist(tls_server: Any, pki: Any) -> None:
    srv = tls_server(cert_lines(pki) + "SSLSRPVerifierFile /nonexistent/srp.vfile\n",
                     start=False)
    p = _featherd(srv, "-t")
    assert p.returncode != 0
    assert "SSLSRPVerifierFile: file '/nonexistent/srp.vfile' does not exist or is empty" \
        in p.stdout + p.stderr


def test_sslfips_on_fails_without_fips_provider(tls_server: Any, pki: Any) -> None:
    if fips_enable():        # pragma: no cover - a FIPS-capable OpenSSL: nothing to refuse
        pytest.skip("this OpenSSL has a FIPS provider")
    srv = tls_server(extra="SSLFIPS on\n", start=False)
    assert _featherd(srv, "-t").returncode == 0      # -t reads no keys, enables nothing
    p = _featherd(srv, "-X")
    assert p.returncode != 0
    assert "FIPS mode failed" in p.stdout + p.stderr


def test_sslfips_off_and_conflicts(tls_server: Any, pki: Any) -> None:
    srv = tls_server(extra="SSLFIPS off\n")
    assert srv.srv.proc.poll() is None
    srv.srv.stop()
    srv = tls_server(extra="SSLFIPS on\nSSLFIPS off\n", start=False)
    p = _featherd(srv, "-t")
    assert "Conflicting SSLFIPS options, cannot be both On and Off" in p.stdout + p.stderr
