"""mod_ssl end to end: client certificates (SSLVerifyClient, SSLVerifyDepth,
SSLCACertificateFile/Path, SSLCADNRequestFile/Path, SSLCARevocationFile/Path), access
control (SSLRequireSSL, SSLRequire, SSLOptions FakeBasicAuth/StrictRequire, SSLUserName)
and per-directory client verification (manual: mod_ssl; ssl_howto "Client
Authentication and Access Control")."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from typing import Any

import pytest
import requests
from tests_ssl_helpers import PKI, cert_lines, client_context, https, s_client, wait_log

from featherd.modules.ssl import certtool as ct

CA = "SSLCACertificateFile {ca}\n"


def _vh(pki: PKI, extra: str) -> str:
    return cert_lines(pki) + CA.format(ca=pki.path("ca.crt")) + extra


def _handshake_refused(port: int, ctx: ssl.SSLContext) -> bool:
    try:
        r, _ = https(port, ctx=ctx)
    except OSError:
        return True
    return r.status == 0


def test_require_accepts_the_ca_and_refuses_others(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(_vh(pki, "SSLVerifyClient require\n"))
    r, _ = https(srv.port, ctx=client_context(pki, cert="alice"))
    assert r.status == 200
    assert _handshake_refused(srv.port, client_context(pki, cert="mallory"))
    assert _handshake_refused(srv.port, client_context(pki))            # no certificate
    time.sleep(0.1)
    log = srv.error_log()
    assert "Certificate Verification: Error (" in log
    assert "SSL library error 1 in handshake (server localhost:443)" in log
    assert "alice" in wait_log(srv, "alice")


def test_curl_and_s_client_with_client_certificates(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(_vh(pki, "SSLVerifyClient require\n"))
    out = subprocess.run(["curl", "-sSk", "--cert", str(pki["alice"].cert), "--key",
                          str(pki["alice"].key), f"https://127.0.0.1:{srv.port}/"],
                         capture_output=True, timeout=10)
    assert out.stdout == b"hello\n"
    out = subprocess.run(["curl", "-sSk", f"https://127.0.0.1:{srv.port}/"],
                         capture_output=True, timeout=10)
    assert out.returncode != 0
    text = s_client(srv.port, "-cert", str(pki["alice"].cert), "-key", str(pki["alice"].key),
                    "-quiet", stdin=b"GET / HTTP/1.0\r\n\r\n")
    assert "200 OK" in text


def test_optional(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(_vh(pki, "SSLVerifyClient optional\n"),
                     log_format="%{SSL_CLIENT_VERIFY}x %{SSL_CLIENT_S_DN_CN}x %r")
    assert https(srv.port)[0].status == 200
    assert https(srv.port, ctx=client_context(pki, cert="alice"))[0].status == 200
    assert _handshake_refused(srv.port, client_context(pki, cert="mallory"))
    log = wait_log(srv, ("NONE - GET", "SUCCESS alice GET"))
    assert "NONE - GET" in log and "SUCCESS alice GET" in log


def test_optional_no_ca(tls_server: Any, pki: PKI) -> None:
    """optional_no_ca: a certificate no CA vouches for is accepted (GENEROUS)."""
    srv = tls_server(_vh(pki, "SSLVerifyClient optional_no_ca\n"),
                     log_format="%{SSL_CLIENT_VERIFY}x %{SSL_CLIENT_S_DN_CN}x %r")
    assert https(srv.port, ctx=client_context(pki, cert="mallory"))[0].status == 200
    assert https(srv.port, ctx=client_context(pki, cert="alice"))[0].status == 200
    log = wait_log(srv, ("GENEROUS mallory GET", "SUCCESS alice GET"))
    assert "GENEROUS mallory GET" in log and "SUCCESS alice GET" in log


def test_verify_depth(tls_server: Any, pki: PKI) -> None:
    """SSLVerifyDepth 1: client cert + its CA; bob's cert comes from an intermediate."""
    ca = pki.path("ca-bundle.pem")
    srv = tls_server(cert_lines(pki) + f"SSLCACertificateFile {ca}\nSSLVerifyClient require\n"
                     "SSLVerifyDepth 1\n")
    assert https(srv.port, ctx=client_context(pki, cert="alice"))[0].status == 200
    assert _handshake_refused(srv.port, client_context(pki, cert="bob"))
    time.sleep(0.1)
    assert "Certificate Verification: Certificate Chain too long (chain has 3 " \
           "certificates, but maximum allowed are only 1)" in srv.error_log()
    srv.srv.stop()
    srv2 = tls_server(cert_lines(pki) + f"SSLCACertificateFile {ca}\n"
                      "SSLVerifyClient require\nSSLVerifyDepth 2\n")
    assert https(srv2.port, ctx=client_context(pki, cert="bob"))[0].status == 200


def test_ca_certificate_path_with_hash_links(tls_server: Any, pki: PKI, tmp_path: Any) -> None:
    """FAQ "Why is client authentication broken after upgrading from SSLeay 0.8 to
    0.9?": the CA path is read through hash links; featherd-ssl rehash makes them."""
    d = tmp_path / "cas"
    d.mkdir()
    shutil.copy(pki.path("ca.crt"), d / "root.pem")
    made = ct.rehash(str(d))
    expected = subprocess.run(["openssl", "x509", "-noout", "-hash", "-in",
                               pki.path("ca.crt")], capture_output=True, text=True).stdout
    assert made == [expected.strip() + ".0"]
    srv = tls_server(cert_lines(pki) + f"SSLCACertificatePath {d}\nSSLVerifyClient require\n")
    assert https(srv.port, ctx=client_context(pki, cert="alice"))[0].status == 200
    assert _handshake_refused(srv.port, client_context(pki, cert="mallory"))
    out = s_client(srv.port, stdin=b"")
    assert "Acceptable client certificate CA names" in out and "Test Root CA" in out


def test_ca_dn_request_file(tls_server: Any, pki: PKI) -> None:
    """The CA names sent come from SSLCADNRequestFile when given, else the CA file."""
    srv = tls_server(_vh(pki, "SSLVerifyClient optional\n"))
    out = s_client(srv.port, stdin=b"")
    assert "Acceptable client certificate CA names" in out
    assert "CN = Test Root CA" in out and "Intermediate" not in out.split(
        "Acceptable client certificate CA names")[1].split("---")[0]
    srv.srv.stop()
    srv = tls_server(_vh(pki, f"SSLVerifyClient optional\nSSLCADNRequestFile "
                              f"{pki.path('chain.pem')}\n"))
    names = s_client(srv.port, stdin=b"").split("Acceptable client certificate CA "
                                                "names")[1].split("---")[0]
    assert "Test Intermediate CA" in names and "Test Root CA" not in names


def test_ca_dn_request_path(tls_server: Any, pki: PKI, tmp_path: Any) -> None:
    d = tmp_path / "dn"
    d.mkdir()
    shutil.copy(pki.path("inter.crt"), d / "inter.pem")
    ct.rehash(str(d))
    srv = tls_server(_vh(pki, f"SSLVerifyClient optional\nSSLCADNRequestPath {d}\n"))
    names = s_client(srv.port, stdin=b"").split("Acceptable client certificate CA "
                                                "names")[1].split("---")[0]
    assert "Test Intermediate CA" in names and "Test Root CA" not in names


def test_revocation_file(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(_vh(pki, f"SSLVerifyClient require\nSSLCARevocationFile "
                              f"{pki.path('ca.crl')}\n"))
    assert https(srv.port, ctx=client_context(pki, cert="alice"))[0].status == 200
    assert _handshake_refused(srv.port, client_context(pki, cert="revoked"))
    time.sleep(0.1)
    assert "certificate revoked" in srv.error_log()


def test_revocation_path(tls_server: Any, pki: PKI, tmp_path: Any) -> None:
    d = tmp_path / "crls"
    d.mkdir()
    shutil.copy(pki.path("ca.crl"), d / "ca.crl")
    made = ct.rehash(str(d))
    assert made and made[0].endswith(".r0")
    srv = tls_server(_vh(pki, f"SSLVerifyClient require\nSSLCARevocationPath {d}\n"))
    assert https(srv.port, ctx=client_context(pki, cert="alice"))[0].status == 200
    assert _handshake_refused(srv.port, client_context(pki, cert="revoked"))


def test_require_ssl(tls_server: Any, pki: PKI) -> None:
    """SSLRequireSSL: the same directory is refused over plain HTTP."""
    srv = tls_server(extra=f"<Directory {'@ROOT@'}/htdocs>\n    SSLRequireSSL\n"
                           "</Directory>\n", start=False)
    conf = srv.srv.conf_path.read_text().replace("@ROOT@", str(srv.root))
    conf = conf.replace("    SSLEngine on\n", "    SSLEngine on\n" + "    " +
                        cert_lines(pki).replace("\n", "\n    "), 1)
    srv.srv.conf_path.write_text(conf)
    srv.srv.start()
    assert requests.get(f"http://127.0.0.1:{srv.http_port}/", timeout=5).status_code == 403
    assert https(srv.port)[0].status == 200
    assert "reason: SSL connection required" in srv.error_log()


def _dir_server(tls_server: Any, pki: PKI, inner: str, vhost_extra: str = "",
                extra: str = "", files: dict[str, Any] | None = None,
                log_format: str | None = None) -> Any:
    srv = tls_server(start=False, extra=extra, files=files, log_format=log_format)
    conf = srv.srv.conf_path.read_text()
    block = (cert_lines(pki) + CA.format(ca=pki.path("ca.crt")) + vhost_extra +
             f"<Location /secure>\n{inner}</Location>\n")
    conf = conf.replace("    SSLEngine on\n", "    SSLEngine on\n    " +
                        block.replace("\n", "\n    ").rstrip(" "), 1)
    srv.srv.conf_path.write_text(conf)
    files = {"htdocs/secure/index.html": "secret\n"}
    for rel, content in files.items():
        p = srv.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    srv.srv.start()
    return srv


def test_ssl_require_grants_and_denies(tls_server: Any, pki: PKI) -> None:
    """The manual's SSLRequire example, with the client certificate's DN."""
    expr = ('SSLRequire (%{SSL_CIPHER} !~ m/^(EXP|NULL)-/ \\\n'
            '            and %{SSL_CLIENT_S_DN_O} eq "Snake Oil, Ltd." \\\n'
            '            and %{SSL_CLIENT_S_DN_OU} in {"Staff", "CA", "Dev"} \\\n'
            '            and %{TIME_WDAY} >= 0 and %{TIME_HOUR} <= 23) \\\n'
            '           or %{REMOTE_ADDR} =~ m/^192\\.76\\.162\\.[0-9]+$/\n')
    srv = _dir_server(tls_server, pki, expr, "SSLVerifyClient optional\n")
    assert https(srv.port, "/secure/", ctx=client_context(pki, cert="alice"))[0].status == 200
    assert https(srv.port, "/secure/", ctx=client_context(pki, cert="dave"))[0].status == 403
    assert https(srv.port, "/secure/")[0].status == 403
    assert https(srv.port, "/")[0].status == 200
    log = srv.error_log()
    assert "(requirement expression not fulfilled)" in log
    assert "Failed expression: (%{SSL_CIPHER} !~ m/^(EXP|NULL)-/" in log
    assert "reason: SSL requirement expression not fulfilled (see SSL logfile for more " \
           "details)" in log


def test_ssl_require_with_oid_and_file(tls_server: Any, pki: PKI) -> None:
    srv = _dir_server(tls_server, pki,
                      'SSLRequire "email:alice@example.com, DNS:alice.example" in '
                      'PeerExtList("subjectAltName") or file("@ROOT@/flag") =~ /^open/\n',
                      "SSLVerifyClient optional\n")
    conf = srv.srv.conf_path.read_text()
    assert conf
    flag = srv.root / "flag"
    flag.write_text("closed\n")
    srv.srv.stop()
    srv.srv.conf_path.write_text(conf.replace("@ROOT@", str(srv.root)))
    srv.srv.start()
    alice = client_context(pki, cert="alice")
    assert https(srv.port, "/secure/", ctx=alice)[0].status == 200
    assert https(srv.port, "/secure/")[0].status == 403
    flag.write_text("open\n")
    assert https(srv.port, "/secure/")[0].status == 200


def test_ssl_require_syntax_error(tls_server: Any, pki: PKI, tmp_path: Any) -> None:
    srv = _dir_server.__wrapped__ if hasattr(_dir_server, "__wrapped__") else None
    del srv
    from featherd.core.config import load_config
    from featherd.errors import ConfigError
    from featherd.modules import builtin_modules

    with pytest.raises(ConfigError) as e:
        load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text="<Location />\nSSLRequire %{SSL_CIPHER} eq \n</Location>\n")
    assert "SSLRequire: Parser error: syntax error" in str(e.value)


def test_fake_basic_auth(tls_server: Any, pki: PKI) -> None:
    """SSLOptions +FakeBasicAuth: the client DN is the user, with the password
    "password" (xxj31ZMTZzkVA in the user file); SSLUserName picks the log's %u."""
    dn = "/C=US/ST=CA/O=Snake Oil, Ltd./OU=Staff/CN=alice/emailAddress=alice@example.com"
    users = f"{dn}:xxj31ZMTZzkVA\n"
    srv = _dir_server(tls_server, pki,
                      "SSLOptions +FakeBasicAuth\nAuthType Basic\nAuthName Certs\n"
                      "AuthUserFile @ROOT@/users\nRequire valid-user\n",
                      "SSLVerifyClient optional\n")
    (srv.root / "users").write_text(users)
    srv.srv.stop()
    srv.srv.conf_path.write_text(srv.srv.conf_path.read_text().replace("@ROOT@",
                                                                        str(srv.root)))
    srv.srv.start()
    r, _ = https(srv.port, "/secure/", ctx=client_context(pki, cert="alice"))
    assert r.status == 200 and r.body == b"secret\n"
    assert https(srv.port, "/secure/", ctx=client_context(pki, cert="dave"))[0].status == 401
    assert https(srv.port, "/secure/")[0].status == 401
    import base64

    spoof = base64.b64encode(f"{dn}:password".encode()).decode()
    r, _ = https(srv.port, "/secure/", headers={"Authorization": f"Basic {spoof}"})
    assert r.status == 403
    log = srv.error_log()
    assert "Faking HTTP Basic Auth header" in log
    assert f"Encountered FakeBasicAuth spoof: {dn}" in log
    assert f" {dn} " in wait_log(srv, f" {dn} ")


def test_ssl_user_name(tls_server: Any, pki: PKI) -> None:
    srv = _dir_server(tls_server, pki, "SSLUserName SSL_CLIENT_S_DN_CN\n",
                      "SSLVerifyClient optional\n", log_format="%u %r")
    assert https(srv.port, "/secure/", ctx=client_context(pki, cert="alice"))[0].status == 200
    assert "alice GET /secure/ HTTP/1.1" in wait_log(srv, "alice GET")


def test_strict_require_with_satisfy_any(tls_server: Any, pki: PKI) -> None:
    """Satisfy any lets Basic auth override an SSLRequire denial, unless
    SSLOptions +StrictRequire."""
    users = "joe:" + subprocess.run(["openssl", "passwd", "-apr1", "secret"],
                                    capture_output=True, text=True).stdout.strip() + "\n"
    inner = ("SSLRequire %{SSL_CLIENT_S_DN_CN} eq \"alice\"\nAuthType Basic\nAuthName x\n"
             "AuthUserFile @ROOT@/users\nRequire valid-user\nSatisfy any\n")
    for strict, expected in (("", 200), ("SSLOptions +StrictRequire\n", 403)):
        srv = _dir_server(tls_server, pki, inner + strict)
        (srv.root / "users").write_text(users)
        srv.srv.stop()
        srv.srv.conf_path.write_text(srv.srv.conf_path.read_text().replace("@ROOT@",
                                                                            str(srv.root)))
        srv.srv.start()
        import base64

        auth = "Basic " + base64.b64encode(b"joe:secret").decode()
        r, _ = https(srv.port, "/secure/", headers={"Authorization": auth})
        assert r.status == expected, strict
        srv.srv.stop()


def test_per_directory_verify_client_tls13_post_handshake(tls_server: Any, pki: PKI) -> None:
    """SSLVerifyClient require in a <Location>: TLS 1.3 post-handshake authentication."""
    srv = _dir_server(tls_server, pki, "SSLVerifyClient require\n",
                      log_format="%{SSL_CLIENT_VERIFY}x %{SSL_CLIENT_S_DN_CN}x %r %>s")
    ctx = client_context(pki, cert="alice", pha=True, version=ssl.TLSVersion.TLSv1_3)
    assert https(srv.port, "/", ctx=ctx)[0].status == 200
    r, _ = https(srv.port, "/secure/", ctx=ctx)
    assert r.status == 200 and r.body == b"secret\n"
    assert "SUCCESS alice GET /secure/ HTTP/1.1 200" in wait_log(srv, "SUCCESS alice")
    # a foreign certificate: refused
    bad = client_context(pki, cert="mallory", pha=True, version=ssl.TLSVersion.TLSv1_3)
    try:
        r, _ = https(srv.port, "/secure/", ctx=bad)
        assert r.status in (0, 403)
    except (ssl.SSLError, ConnectionResetError):
        pass
    # curl offers post-handshake authentication too
    out = subprocess.run(["curl", "-sk", "--cert", str(pki["alice"].cert), "--key",
                          str(pki["alice"].key), f"https://127.0.0.1:{srv.port}/secure/"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout == "secret\n"
    # a client that can't do post-handshake auth: a clear 403 and a log line
    nopha = client_context(pki, cert="alice", version=ssl.TLSVersion.TLSv1_3)
    assert https(srv.port, "/secure/", ctx=nopha)[0].status == 403
    assert "cannot perform post-handshake authentication" in srv.error_log()


def test_per_directory_verify_client_tls12_renegotiation(tls_server: Any, pki: PKI) -> None:
    srv = _dir_server(tls_server, pki, "SSLVerifyClient require\n",
                      log_format="%{SSL_CLIENT_VERIFY}x %{SSL_CLIENT_S_DN_CN}x %r %>s")
    ctx = client_context(pki, cert="alice", version=ssl.TLSVersion.TLSv1_2)
    r, _ = https(srv.port, "/secure/", ctx=ctx)
    assert r.status == 200 and r.body == b"secret\n"
    assert "Requesting connection re-negotiation" in srv.error_log()
    nocert = client_context(pki, version=ssl.TLSVersion.TLSv1_2)
    try:
        r, _ = https(srv.port, "/secure/", ctx=nocert)
        assert r.status in (0, 403)
    except (ssl.SSLError, ConnectionResetError):
        pass


def test_per_directory_cipher_suite(tls_server: Any, pki: PKI) -> None:
    """SSLCipherSuite in a directory: TLS 1.2 renegotiates; TLS 1.3 can't (403)."""
    srv = _dir_server(tls_server, pki, "SSLCipherSuite AES256-GCM-SHA384\n",
                      log_format="%{SSL_CIPHER}x %r %>s")
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2,
                         ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384")
    r, _ = https(srv.port, "/secure/", ctx=ctx)
    assert r.status == 200
    assert "AES256-GCM-SHA384 GET /secure/" in wait_log(srv, "AES256-GCM-SHA384 GET")
    r, _ = https(srv.port, "/secure/", ctx=client_context(version=ssl.TLSVersion.TLSv1_3))
    assert r.status == 403


def test_per_directory_renegotiation_with_a_body(tls_server: Any, pki: PKI) -> None:
    """A request body is buffered (SSLRenegBufferSize) before the new handshake."""
    srv = _dir_server(tls_server, pki, "SSLVerifyClient require\nSSLRenegBufferSize 1000\n")
    ctx = client_context(pki, cert="alice", version=ssl.TLSVersion.TLSv1_2)
    r, _ = https(srv.port, "/secure/index.html", ctx=ctx, method="POST", body=b"x" * 500)
    assert r.status in (200, 405)
    r, _ = https(srv.port, "/secure/index.html", ctx=ctx, method="POST", body=b"x" * 5000)
    assert r.status == 413
    assert "could not buffer message body to allow SSL renegotiation to proceed" in \
        srv.error_log()


def test_require_ssl_and_ssl_verify_client_providers(tls_server: Any, pki: PKI) -> None:
    """2.4's ``Require ssl`` and ``Require ssl-verify-client`` (mod_authz_core)."""
    srv = _dir_server(tls_server, pki, "<RequireAny>\n    Require ssl-verify-client\n"
                                       "    Require ip 192.0.2.1\n</RequireAny>\n",
                      "SSLVerifyClient optional\n",
                      extra="<Location /tls-only>\n    Require ssl\n</Location>\n",
                      files={"htdocs/tls-only/index.html": "tls\n"})
    (srv.root / "htdocs" / "tls-only").mkdir(exist_ok=True)
    (srv.root / "htdocs" / "tls-only" / "index.html").write_text("tls\n")
    assert https(srv.port, "/secure/", ctx=client_context(pki, cert="alice"))[0].status == 200
    assert https(srv.port, "/secure/")[0].status == 403
    assert https(srv.port, "/tls-only/")[0].status == 200
    r = requests.get(f"http://127.0.0.1:{srv.http_port}/tls-only/", timeout=5)
    assert r.status_code == 403


def test_opt_renegotiate(tls_server: Any, pki: PKI) -> None:
    """SSLOptions +OptRenegotiate: a certificate already verified at the handshake
    satisfies a stricter directory without a new handshake; without it, a new one."""
    fmt = "%{SSL_CLIENT_S_DN_CN}x %r %>s"
    ctx = client_context(pki, cert="alice", pha=True, version=ssl.TLSVersion.TLSv1_3)
    quick = _dir_server(tls_server, pki, "SSLVerifyClient require\nSSLVerifyDepth 1\n"
                                         "SSLOptions +OptRenegotiate\n",
                        "SSLVerifyClient optional\nSSLVerifyDepth 5\n", log_format=fmt)
    assert https(quick.port, "/secure/", ctx=ctx)[0].status == 200
    log = quick.error_log()
    assert "Performing quick renegotiation" in log
    assert "Requesting connection re-negotiation" not in log
    quick.srv.stop()
    full = _dir_server(tls_server, pki, "SSLVerifyClient require\n",
                       "SSLVerifyClient optional\n", log_format=fmt)
    assert https(full.port, "/secure/", ctx=ctx)[0].status == 200
    assert "Requesting connection re-negotiation" in full.error_log()
