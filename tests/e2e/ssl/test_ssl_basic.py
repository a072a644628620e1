"""mod_ssl end to end: HTTPS, the FAQ's "Configuration" questions, protocols and
ciphers, certificates at start-up (manual: mod_ssl; FAQ: ssl_faq.html)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from featherd_testlib import SRC, free_port
from tests_ssl_helpers import (
    PKI,
    cert_lines,
    client_context,
    https,
    peer_cn,
    s_client,
    ssl_conf,
    wait_log,
)

NON_SSL_PAGE = (
    "<p>Your browser sent a request that this server could not understand.<br />\n"
    "Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />\n"
    " Instead use the HTTPS scheme to access this URL, please.<br />\n</p>\n")


def test_https_and_http_from_one_server(tls_server: Any, pki: PKI) -> None:
    """FAQ "Is it possible to provide HTTP and HTTPS from the same server?": yes, two
    virtual servers on two ports of one instance; "Which port does HTTPS use?": any."""
    srv = tls_server()
    assert requests.get(f"http://127.0.0.1:{srv.http_port}/", timeout=5).text == "hello\n"
    resp, _ = https(srv.port, ctx=client_context(pki, verify=True))
    assert resp.status == 200 and resp.body == b"hello\n"
    assert resp.version in ("TLSv1.2", "TLSv1.3")
    assert peer_cn(resp) == "localhost"
    log = wait_log(srv, "HTTP/1.1\" 200 TLS")
    line = [x for x in log.splitlines() if " TLS" in x][0]
    # %{SSL_PROTOCOL}x %{SSL_CIPHER}x %{SSL_CLIENT_S_DN_CN}x %{version}c %{HTTPS}x
    assert f" {resp.version} {resp.cipher} - {resp.version} on" in line
    plain = [x for x in log.splitlines() if " - - - off" in x]
    assert plain, log


def test_curl_https(tls_server: Any, pki: PKI) -> None:
    """FAQ "How do I speak HTTPS manually": cURL understands both schemes."""
    srv = tls_server()
    out = subprocess.run(["curl", "-sS", "--cacert", pki.path("ca.crt"),
                          f"https://localhost:{srv.port}/",
                          "--resolve", f"localhost:{srv.port}:127.0.0.1"],
                         capture_output=True, timeout=10)
    assert out.stdout == b"hello\n", out.stderr
    out = subprocess.run(["curl", "-sSk", f"http://127.0.0.1:{srv.http_port}/"],
                         capture_output=True, timeout=10)
    assert out.stdout == b"hello\n"


def test_openssl_s_client_by_hand(tls_server: Any) -> None:
    """FAQ "How do I speak HTTPS manually": ``openssl s_client -connect host:443``."""
    srv = tls_server()
    out = s_client(srv.port, "-servername", "localhost", "-quiet",
                   stdin=b"GET / HTTP/1.0\r\n\r\n")
    assert "HTTP/1.1 200 OK" in out and "hello" in out


def test_plain_http_on_ssl_port_gets_400(tls_server: Any) -> None:
    """FAQ "Why does the connection hang...": no hang, Apache's 400 page at once."""
    srv = tls_server()
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert time.monotonic() - t < 2
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in head
    assert NON_SSL_PAGE in body.decode()
    assert "SSL handshake failed: HTTP spoken on HTTPS port; trying to send HTML error " \
           "page" in srv.error_log()


def test_plain_http_on_ssl_port_with_requests(tls_server: Any) -> None:
    srv = tls_server()
    r = requests.get(f"http://127.0.0.1:{srv.port}/", timeout=5)
    assert r.status_code == 400
    assert "You're speaking plain HTTP to an SSL-enabled server port" in r.text


def _client_hello(no_newline: bool) -> bytes:
    ctx = client_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    return bytes(b if b != 10 else 11 for b in hello) if no_newline else hello


@pytest.mark.parametrize("no_newline", [False, True])
def test_https_to_plain_port_fails_fast(tls_server: Any, no_newline: bool) -> None:
    """FAQ "...the other way round, when you connect via HTTPS to a HTTP port": the
    client fails at once (a 400 in plain text) even when the hello holds no line end."""
    srv = tls_server()
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=5) as s:
        s.sendall(_client_hello(no_newline))
        t = time.monotonic()
        data = s.recv(100)
    assert time.monotonic() - t < 1.5
    assert data.startswith(b"HTTP/1.1 400 Bad Request")


def test_https_client_to_plain_port_error(tls_server: Any) -> None:
    srv = tls_server()
    t = time.monotonic()
    with pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER|wrong version"):
        https(srv.http_port)
    assert time.monotonic() - t < 2
    out = subprocess.run(["curl", "-sSk", f"https://127.0.0.1:{srv.http_port}/"],
                         capture_output=True, timeout=10)
    assert out.returncode == 35 and b"wrong version number" in out.stderr


def test_sni_name_based_ssl_vhosts(tls_server: Any, pki: PKI) -> None:
    """FAQ "Why can't I use SSL with name-based virtual hosts?": with SNI it works; a
    client without SNI gets the first vhost of the address."""
    srv = tls_server(start=False)
    conf = srv.srv.conf_path.read_text()
    conf += (f"<VirtualHost 127.0.0.1:{srv.port}>\n    ServerName b.example\n"
             "    ServerAlias *.b.example\n    DocumentRoot htdocs_b\n    SSLEngine on\n"
             f"    {cert_lines(pki, 'server_b')}</VirtualHost>\n")
    conf = conf.replace("    ServerName localhost\n    SSLEngine on\n",
                        f"    ServerName localhost\n    SSLEngine on\n"
                        f"    {cert_lines(pki)}", 1)
    srv.srv.conf_path.write_text(conf)
    (srv.root / "htdocs_b").mkdir()
    (srv.root / "htdocs_b" / "index.html").write_text("b site\n")
    srv.srv.start()
    ctx = client_context(pki, verify=True)
    r1, _ = https(srv.port, ctx=ctx)
    assert peer_cn(r1) == "localhost" and r1.body == b"hello\n"
    r2, _ = https(srv.port, host="b.example", ctx=ctx)
    assert peer_cn(r2) == "b.example" and r2.body == b"b site\n"
    r3, _ = https(srv.port, host="www.b.example", ctx=ctx)     # ServerAlias wildcard
    assert peer_cn(r3) == "b.example" and r3.body == b"b site\n"
    # no SNI (an IP address): the first vhost's certificate
    r4, _ = https(srv.port, host="127.0.0.1", sni=None)
    assert peer_cn(r4) == "localhost"
    # curl with SNI, openssl without it
    out = s_client(srv.port, "-servername", "b.example", stdin=b"")
    assert "CN = b.example" in out or "CN=b.example" in out
    out = s_client(srv.port, "-noservername", stdin=b"")
    assert "CN = localhost" in out or "CN=localhost" in out
    assert "Name-based SSL virtual hosts only work for clients with TLS server name " \
           "indication support (RFC 4366)" in srv.error_log()


def test_sni_and_host_must_agree(tls_server: Any, pki: PKI) -> None:
    """ssl_hook_ReadReq: "Hostname %s provided via SNI and hostname %s provided via
    HTTP are different" is a 400."""
    srv = tls_server()
    r, _ = https(srv.port, host="other.example", sni="localhost")
    assert r.status == 400
    assert "Hostname localhost provided via SNI and hostname other.example provided via " \
           "HTTP are different" in srv.error_log()
    r, _ = https(srv.port, host="LOCALHOST", sni="localhost")
    assert r.status == 200


def test_strict_sni_vhost_check(tls_server: Any, pki: PKI) -> None:
    """SSLStrictSNIVHostCheck on: a client without SNI may not use a name-based vhost."""
    srv = tls_server(start=False)
    conf = srv.srv.conf_path.read_text()
    conf = conf.replace("    SSLEngine on\n", "    SSLEngine on\n    SSLStrictSNIVHostCheck on\n"
                        f"    {cert_lines(pki)}", 1)
    conf += (f"<VirtualHost 127.0.0.1:{srv.port}>\n    ServerName b.example\n"
             f"    SSLEngine on\n    {cert_lines(pki, 'server_b')}</VirtualHost>\n")
    srv.srv.conf_path.write_text(conf)
    srv.srv.start()
    r, _ = https(srv.port, host="127.0.0.1", sni=None)
    assert r.status == 403
    assert "No hostname was provided via SNI for a name based virtual host" in \
        srv.error_log()
    r, _ = https(srv.port)
    assert r.status == 200


def test_intermediate_chain_is_sent(tls_server: Any, pki: PKI) -> None:
    """FAQ "...cannot verify my Verisign Global ID server certificate":
    SSLCertificateChainFile sends the intermediate CA to the browser."""
    srv = tls_server(cert_lines(pki, "server_im") +
                     f"SSLCertificateChainFile {pki.path('chain.pem')}\n")
    r, _ = https(srv.port, ctx=client_context(pki, verify=True))   # trusts the root only
    assert r.status == 200
    out = s_client(srv.port, "-servername", "localhost", "-showcerts", stdin=b"")
    assert out.count("-----BEGIN CERTIFICATE-----") == 2
    assert "Test Intermediate CA" in out


def test_without_chain_file_the_client_cannot_verify(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(cert_lines(pki, "server_im"))
    with pytest.raises(ssl.SSLCertVerificationError):
        https(srv.port, ctx=client_context(pki, verify=True))


def _start_fail(tmp_path: Path, conf: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "htdocs").mkdir(exist_ok=True)
    p = tmp_path / "httpd.conf"
    p.write_text(conf)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "featherd", "-d", str(tmp_path), "-f", str(p),
                           "-DFOREGROUND"], capture_output=True, text=True, timeout=30,
                          env=env, cwd=str(tmp_path))


def test_key_that_does_not_match_is_a_startup_error(tmp_path: Path, pki: PKI) -> None:
    """FAQ "How do I verify that a private key matches its Certificate?": featherd
    checks at start-up and says so."""
    vhost = (f"SSLCertificateFile {pki['server'].cert}\n"
             f"SSLCertificateKeyFile {pki['server_b'].key}\n")
    p = _start_fail(tmp_path, ssl_conf(free_port(), free_port(), vhost))
    assert p.returncode == 1
    assert (f"Certificate and private key localhost:443:0 from {pki['server'].cert} and "
            f"{pki['server_b'].key} do not match") in p.stderr


def test_missing_certificate_file(tmp_path: Path, pki: PKI) -> None:
    p = _start_fail(tmp_path, ssl_conf(free_port(), free_port(),
                                       "SSLCertificateFile /nonexistent/x.crt\n"))
    assert p.returncode == 1
    assert "SSLCertificateFile: file '/nonexistent/x.crt' does not exist or is empty" in \
        p.stderr
    assert "Syntax error on line" in p.stderr


def test_ssl_vhost_without_certificate(tmp_path: Path) -> None:
    p = _start_fail(tmp_path, ssl_conf(free_port(), free_port(), ""))
    assert p.returncode == 1
    assert "Server should be SSL-aware but has no certificate configured [Hint: " \
           "SSLCertificateFile] (localhost:443)" in p.stderr


def test_ssl_protocol(tls_server: Any, pki: PKI) -> None:
    """SSLProtocol all -TLSv1.3: a TLS 1.3-only client is refused; SSLv3 is refused with
    a warning (no modern library speaks it)."""
    srv = tls_server(cert_lines(pki) + "SSLProtocol all -SSLv3 -TLSv1.3 +SSLv3\n",
                     args=["-e", "warn"])
    r, _ = https(srv.port)
    assert r.version == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        https(srv.port, ctx=client_context(version=ssl.TLSVersion.TLSv1_3))
    out = srv.srv.stop()
    assert "SSLProtocol: SSLv3 is not supported by this SSL library" in out


def test_ssl_protocol_tls13_only(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(cert_lines(pki) + "SSLProtocol TLSv1.3\n")
    with pytest.raises(ssl.SSLError):
        https(srv.port, ctx=client_context(version=ssl.TLSVersion.TLSv1_2))
    assert https(srv.port)[0].version == "TLSv1.3"


def test_no_protocols_is_a_startup_error(tmp_path: Path, pki: PKI) -> None:
    p = _start_fail(tmp_path, ssl_conf(free_port(), free_port(),
                                       cert_lines(pki) + "SSLProtocol -all\n"))
    assert p.returncode == 1
    assert "No SSL protocols available [hint: SSLProtocol]" in p.stderr


@pytest.mark.parametrize("honor,expected", [("on", "AES256-GCM-SHA384"),
                                            ("off", "AES128-GCM-SHA256")])
def test_cipher_suite_and_honor_cipher_order(tls_server: Any, pki: PKI, honor: str,
                                             expected: str) -> None:
    srv = tls_server(cert_lines(pki) +
                     "SSLCipherSuite AES256-GCM-SHA384:AES128-GCM-SHA256\n"
                     f"SSLHonorCipherOrder {honor}\n")
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2,
                         ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384")
    r, _ = https(srv.port, ctx=ctx)
    assert r.cipher == expected


def test_tls13_cipher_suites(tls_server: Any, pki: PKI) -> None:
    """2.4's ``SSLCipherSuite TLSv1.3 ...``."""
    srv = tls_server(cert_lines(pki) + "SSLCipherSuite TLSv1.3 TLS_CHACHA20_POLY1305_SHA256\n")
    r, _ = https(srv.port, ctx=client_context(version=ssl.TLSVersion.TLSv1_3))
    assert r.cipher == "TLS_CHACHA20_POLY1305_SHA256"


def test_no_shared_cipher(tls_server: Any, pki: PKI) -> None:
    """FAQ "Why do I get a 'no shared ciphers' error...": the handshake fails and the
    error log says why."""
    srv = tls_server(cert_lines(pki) + "SSLCipherSuite AES256-GCM-SHA384\n"
                     "SSLProtocol TLSv1.2\n")
    with pytest.raises(ssl.SSLError):
        https(srv.port, ctx=client_context(version=ssl.TLSVersion.TLSv1_2,
                                           ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
    time.sleep(0.1)
    assert "no shared cipher" in srv.error_log()


def test_bad_cipher_suite_is_a_startup_error(tmp_path: Path, pki: PKI) -> None:
    p = _start_fail(tmp_path, ssl_conf(free_port(), free_port(),
                                       cert_lines(pki) + "SSLCipherSuite NOSUCHCIPHER\n"))
    assert p.returncode == 1
    assert "Unable to configure permitted SSL ciphers (localhost:443)" in p.stderr


def test_ecdsa_and_rsa_certificates_together(tls_server: Any, pki: PKI) -> None:
    """SSLCertificateFile may be given once per key type (RSA + ECC)."""
    srv = tls_server(cert_lines(pki, "server") + cert_lines(pki, "server_im") +
                     f"SSLCertificateChainFile {pki.path('chain.pem')}\n"
                     "SSLProtocol TLSv1.2\n")
    rsa_r, _ = https(srv.port, ctx=client_context(ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
    ec_r, _ = https(srv.port, ctx=client_context(ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert rsa_r.cipher == "ECDHE-RSA-AES128-GCM-SHA256"
    assert ec_r.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert rsa_r.peer_der != ec_r.peer_der


def test_keepalive_and_pipelining_over_tls(tls_server: Any, pki: PKI) -> None:
    srv = tls_server()
    ctx = client_context()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            req = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
            s.sendall(req * 3 + b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close"
                                b"\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 4


def test_large_file_over_tls(tls_server: Any, pki: PKI) -> None:
    """Big files go through the TLS layer (no sendfile under TLS)."""
    blob = os.urandom(3 * 1024 * 1024 + 17)
    srv = tls_server(files={"htdocs/big.bin": blob})
    r, _ = https(srv.port, "/big.bin", timeout=20)
    assert r.status == 200 and r.body == blob
    r = requests.get(f"http://127.0.0.1:{srv.http_port}/big.bin", timeout=20)
    assert r.content == blob


def test_request_body_over_tls(tls_server: Any, pki: PKI) -> None:
    srv = tls_server()
    r, _ = https(srv.port, "/index.html", method="POST", body=b"x" * 200000)
    assert r.status in (200, 405)


def test_unclean_shutdown_for_msie(tls_server: Any, pki: PKI) -> None:
    """FAQ "Why do I get I/O errors ... with MSIE": the SetEnvIf recipe; with
    ssl-unclean-shutdown no close_notify is sent."""
    srv = tls_server(cert_lines(pki) +
                     'SetEnvIf User-Agent ".*MSIE.*" nokeepalive ssl-unclean-shutdown '
                     'downgrade-1.0 force-response-1.0\n')

    def close_kind(agent: str) -> str:
        ctx = client_context()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
            s.sendall(f"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {agent}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return "close_notify " + data.split(b"\r\n")[0].decode()
                    data += chunk
            except ssl.SSLEOFError:
                return "unclean " + data.split(b"\r\n")[0].decode()
    msie = close_kind("Mozilla/4.0 (compatible; MSIE 6.0)")
    assert msie.startswith("unclean HTTP/1.") and msie.endswith(" 200 OK")
    assert close_kind("Mozilla/5.0") == "close_notify HTTP/1.1 200 OK"


def test_graceful_restart_keeps_serving_tls(tls_server: Any, pki: PKI) -> None:
    srv = tls_server()
    assert https(srv.port)[0].status == 200
    pid = int((srv.root / "logs" / "httpd.pid").read_text())
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    ok = False
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            ok = https(srv.port)[0].status == 200
        except OSError:
            ok = False
        if ok and "Graceful restart requested" in srv.error_log():
            break
    assert ok


def test_ssl_in_the_main_server_and_default_vhost(make_server: Any, pki: PKI) -> None:
    """SSLEngine on outside any <VirtualHost>: the main server speaks TLS on every
    address no vhost claims; a plain vhost keeps its port plain."""
    port, http_port = free_port(), free_port()
    conf = (f"Listen 127.0.0.1:{port}\nListen 127.0.0.1:{http_port}\nServerName localhost\n"
            "DocumentRoot htdocs\nErrorLog logs/error_log\nPidFile logs/httpd.pid\n"
            f"TypesConfig {SRC}/featherd/data/mime.types\nSSLEngine on\n" + cert_lines(pki) +
            f"<VirtualHost 127.0.0.1:{http_port}>\n    SSLEngine off\n</VirtualHost>\n")
    srv = make_server(raw_conf=conf, start=False, files={"htdocs/index.html": "hello\n"})
    srv.port = port
    srv.start()
    assert https(port)[0].body == b"hello\n"
    assert requests.get(f"http://127.0.0.1:{http_port}/", timeout=5).text == "hello\n"


def test_default_vhost_form(make_server: Any, pki: PKI) -> None:
    http_port, port = free_port(), free_port()
    conf = ssl_conf(http_port, port, cert_lines(pki)).replace(
        f"<VirtualHost 127.0.0.1:{port}>", f"<VirtualHost _default_:{port}>")
    srv = make_server(raw_conf=conf, start=False)
    srv.port = http_port
    srv.start()
    assert https(port)[0].status == 200
    assert requests.get(f"http://127.0.0.1:{http_port}/", timeout=5).status_code == 200
