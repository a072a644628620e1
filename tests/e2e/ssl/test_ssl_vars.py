"""The SSL_* variables in CGI, SSI, logs, mod_headers and mod_rewrite (FAQ "Why are the
SSL_XXX variables not available to my CGI & SSI scripts?", "How can I switch between
HTTP and HTTPS in relative hyperlinks?"; manual: mod_ssl Environment Variables, Custom
Log Formats)."""

from __future__ import annotations

import importlib.util
import ssl
from typing import Any

import pytest
import requests
from tests_ssl_helpers import PKI, cert_lines, client_context, https, wait_log

CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env | grep -E '^(HTTPS|SSL_[A-Z_0-9a-z]*)=' | sort
"""

ENV_LINES = ("HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CIPHER_USEKEYSIZE",
             "SSL_CIPHER_ALGKEYSIZE", "SSL_CIPHER_EXPORT", "SSL_SESSION_ID",
             "SSL_SESSION_RESUMED", "SSL_VERSION_INTERFACE", "SSL_VERSION_LIBRARY",
             "SSL_COMPRESS_METHOD", "SSL_SECURE_RENEG", "SSL_CLIENT_VERIFY",
             "SSL_CLIENT_S_DN", "SSL_CLIENT_S_DN_CN", "SSL_CLIENT_S_DN_O", "SSL_CLIENT_S_DN_OU",
             "SSL_CLIENT_S_DN_C", "SSL_CLIENT_S_DN_ST", "SSL_CLIENT_S_DN_Email",
             "SSL_CLIENT_I_DN", "SSL_CLIENT_I_DN_CN", "SSL_CLIENT_M_SERIAL",
             "SSL_CLIENT_M_VERSION", "SSL_CLIENT_V_START", "SSL_CLIENT_V_END",
             "SSL_CLIENT_V_REMAIN", "SSL_CLIENT_A_SIG", "SSL_CLIENT_A_KEY",
             "SSL_CLIENT_SAN_DNS_0", "SSL_CLIENT_SAN_Email_0",
             "SSL_SERVER_S_DN", "SSL_SERVER_S_DN_CN", "SSL_SERVER_I_DN", "SSL_SERVER_I_DN_O",
             "SSL_SERVER_M_SERIAL", "SSL_SERVER_M_VERSION", "SSL_SERVER_V_START",
             "SSL_SERVER_V_END", "SSL_SERVER_A_SIG", "SSL_SERVER_A_KEY",
             "SSL_SERVER_SAN_DNS_0", "SSL_TLS_SNI")


def _cgi_server(tls_server: Any, pki: PKI, options: str) -> Any:
    vhost = (cert_lines(pki) + f"SSLCACertificateFile {pki.path('ca.crt')}\n"
             "SSLVerifyClient optional\n"
             f"ScriptAlias /cgi-bin/ @ROOT@/cgi-bin/\n"
             f"<Directory @ROOT@/cgi-bin>\n    {options}\n</Directory>\n")
    srv = tls_server(vhost, start=False, files={"cgi-bin/env.cgi": CGI})
    conf = srv.srv.conf_path.read_text().replace("@ROOT@", str(srv.root))
    srv.srv.conf_path.write_text(conf)
    (srv.root / "cgi-bin" / "env.cgi").chmod(0o755)
    srv.srv.start()
    return srv


def _env(body: bytes) -> dict[str, str]:
    out = {}
    for line in body.decode().splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def test_cgi_gets_ssl_variables_with_std_env_vars(tls_server: Any, pki: PKI) -> None:
    srv = _cgi_server(tls_server, pki, "SSLOptions +StdEnvVars")
    r, _ = https(srv.port, "/cgi-bin/env.cgi", ctx=client_context(pki, cert="alice"))
    assert r.status == 200, r.raw
    env = _env(r.body)
    for name in ENV_LINES:
        assert env.get(name), name
    assert env["HTTPS"] == "on" and env["SSL_TLS_SNI"] == "localhost"
    assert env["SSL_PROTOCOL"] == r.version and env["SSL_CIPHER"] == r.cipher
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == ("/C=US/ST=CA/O=Snake Oil, Ltd./OU=Staff/CN=alice/"
                                      "emailAddress=alice@example.com")
    assert env["SSL_CLIENT_S_DN_CN"] == "alice"
    assert env["SSL_CLIENT_I_DN"] == "/C=US/O=Snake Oil, Ltd./CN=Test Root CA"
    assert env["SSL_SERVER_S_DN"] == "/CN=localhost"
    assert env["SSL_CLIENT_SAN_Email_0"] == "alice@example.com"
    assert env["SSL_CLIENT_M_SERIAL"] == format(pki["alice"].obj.serial_number, "X").rjust(
        len(env["SSL_CLIENT_M_SERIAL"]), "0")
    assert env["SSL_SESSION_RESUMED"] == "Initial"
    assert env["SSL_VERSION_INTERFACE"].startswith("mod_ssl/")
    assert "SSL_CLIENT_CERT" not in env and "SSL_SERVER_CERT" not in env


def test_without_std_env_vars_only_https(tls_server: Any, pki: PKI) -> None:
    """FAQ: without "SSLOptions +StdEnvVars" only HTTPS (and SSL_TLS_SNI) are set."""
    srv = _cgi_server(tls_server, pki, "Options +ExecCGI")
    env = _env(https(srv.port, "/cgi-bin/env.cgi")[0].body)
    assert set(env) == {"HTTPS", "SSL_TLS_SNI"} and env["HTTPS"] == "on"
    r = requests.get(f"http://127.0.0.1:{srv.http_port}/cgi-bin/env.cgi", timeout=5)
    assert r.status_code in (200, 404)
    if r.status_code == 200:
        assert "HTTPS=on" not in r.text


def test_export_cert_data(tls_server: Any, pki: PKI) -> None:
    srv = _cgi_server(tls_server, pki, "SSLOptions +ExportCertData")
    r, _ = https(srv.port, "/cgi-bin/env.cgi", ctx=client_context(pki, cert="alice"))
    assert b"SSL_CLIENT_CERT=-----BEGIN CERTIFICATE-----" in r.body
    assert b"SSL_SERVER_CERT=-----BEGIN CERTIFICATE-----" in r.body
    assert b"SSL_CLIENT_S_DN=" not in r.body


def test_client_cert_chain_is_exported(tls_server: Any, pki: PKI) -> None:
    vhost = (cert_lines(pki) + f"SSLCACertificateFile {pki.path('ca-bundle.pem')}\n"
             "SSLVerifyClient require\nSSLVerifyDepth 3\n"
             "ScriptAlias /cgi-bin/ @ROOT@/cgi-bin/\n"
             "<Directory @ROOT@/cgi-bin>\n    SSLOptions +ExportCertData +StdEnvVars\n"
             "</Directory>\n")
    srv = tls_server(vhost, start=False, files={"cgi-bin/env.cgi": CGI})
    srv.srv.conf_path.write_text(srv.srv.conf_path.read_text().replace("@ROOT@",
                                                                       str(srv.root)))
    (srv.root / "cgi-bin" / "env.cgi").chmod(0o755)
    srv.srv.start()
    ctx = client_context(pki)
    # bob's chain: his certificate and the intermediate CA
    chain = pki.root / "bob-chain.pem"
    chain.write_bytes(pki["bob"].cert.read_bytes() + pki["inter"].cert.read_bytes())
    ctx.load_cert_chain(str(chain), str(pki["bob"].key))
    r, _ = https(srv.port, "/cgi-bin/env.cgi", ctx=ctx)
    assert r.status == 200
    assert b"SSL_CLIENT_CERT_CHAIN_0=-----BEGIN CERTIFICATE-----" in r.body
    assert b"SSL_CLIENT_I_DN_CN=Test Intermediate CA" in r.body


def test_ssi_echoes_ssl_variables(tls_server: Any, pki: PKI) -> None:
    page = ('<!--#echo var="HTTPS" --> <!--#echo var="SSL_PROTOCOL" --> '
            '<!--#echo var="SSL_SERVER_S_DN_CN" -->\n')
    vhost = (cert_lines(pki) + "<Directory @ROOT@/htdocs>\n    Options +Includes\n"
             "    AddOutputFilter INCLUDES .shtml\n    AddType text/html .shtml\n"
             "    SSLOptions +StdEnvVars\n</Directory>\n")
    srv = tls_server(vhost, start=False, files={"htdocs/page.shtml": page})
    srv.srv.conf_path.write_text(srv.srv.conf_path.read_text().replace("@ROOT@",
                                                                       str(srv.root)))
    srv.srv.start()
    r, _ = https(srv.port, "/page.shtml")
    assert r.body.decode().strip() == f"on {r.version} localhost"


def test_log_formats(tls_server: Any, pki: PKI) -> None:
    """%{VAR}x and the compatibility %{name}c, without StdEnvVars; %{VAR}e with it."""
    fmt = ("%{SSL_PROTOCOL}x|%{SSL_CIPHER}x|%{SSL_CLIENT_S_DN}x|%{version}c|%{cipher}c|"
           "%{subjectdn}c|%{issuerdn}c|%{errcode}c|%{SSL_CLIENT_S_DN_CN}e|%{HTTPS}x|%r")
    srv = tls_server(cert_lines(pki) + f"SSLCACertificateFile {pki.path('ca.crt')}\n"
                     "SSLVerifyClient optional\n<Location /env>\nSSLOptions +StdEnvVars\n"
                     "</Location>\n", log_format=fmt)
    r, _ = https(srv.port, "/", ctx=client_context(pki, cert="alice"))
    https(srv.port, "/env", ctx=client_context(pki, cert="alice"))
    requests.get(f"http://127.0.0.1:{srv.http_port}/", timeout=5)
    log = wait_log(srv, ("GET /env", "|on|GET / HTTP/1.1", "|off|GET / HTTP/1.1"))
    lines = log.splitlines()
    dn = "/C=US/ST=CA/O=Snake Oil, Ltd./OU=Staff/CN=alice/emailAddress=alice@example.com"
    idn = "/C=US/O=Snake Oil, Ltd./CN=Test Root CA"
    assert f"{r.version}|{r.cipher}|{dn}|{r.version}|{r.cipher}|{dn}|{idn}|-|-|on|GET / " \
           "HTTP/1.1" in lines
    assert any("|alice|on|GET /env" in x for x in lines)
    assert "-|-|-|-|-|-|-|-|-|off|GET / HTTP/1.1" in lines


def test_headers_module_reads_ssl_variables(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(cert_lines(pki) + 'Header set X-SSL-Protocol "%{SSL_PROTOCOL}s"\n'
                     'RequestHeader set X-Client-Verify "%{SSL_CLIENT_VERIFY}s"\n')
    r, _ = https(srv.port)
    assert r.headers.get("x-ssl-protocol") == r.version


def test_session_id_and_resumption_variables(tls_server: Any, pki: PKI) -> None:
    srv = tls_server(cert_lines(pki), extra="SSLSessionCache shmcb:logs/scache(512000)\n",
                     log_format="%{SSL_SESSION_ID}x %{SSL_SESSION_RESUMED}x %r")
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2, tickets=False)
    r1, sess = https(srv.port, "/?1", ctx=ctx)
    r2, _ = https(srv.port, "/?2", ctx=ctx, session=sess)
    assert r2.reused
    log = wait_log(srv, "GET /?2")
    sid = sess.id.hex().upper()
    assert f"{sid} Initial GET /?1" in log and f"{sid} Resumed GET /?2" in log


def _rewrite_present() -> bool:
    return importlib.util.find_spec("featherd.modules.mappers.rewrite") is not None


@pytest.mark.skipif(not _rewrite_present(), reason="mod_rewrite not built yet")
def test_faq_rewrite_switches_between_http_and_https(tls_server: Any, pki: PKI) -> None:
    """The FAQ's ruleset: /x:SSL goes to https, /x:NOSSL to http."""
    rules = ("RewriteEngine on\n"
             "RewriteRule ^/(.*):SSL$ https://%{SERVER_NAME}/$1 [R,L]\n"
             "RewriteRule ^/(.*):NOSSL$ http://%{SERVER_NAME}/$1 [R,L]\n")
    srv = tls_server(cert_lines(pki) + rules, extra=rules)
    r = requests.get(f"http://127.0.0.1:{srv.http_port}/page.html:SSL",
                     headers={"Host": "www.example.com"}, allow_redirects=False, timeout=5)
    assert r.status_code == 302
    assert r.headers["Location"] == "https://www.example.com/page.html"
    resp, _ = https(srv.port, "/page.html:NOSSL", host="localhost")
    assert resp.status == 302
    assert resp.headers["location"] == "http://localhost/page.html"


@pytest.mark.skipif(not _rewrite_present(), reason="mod_rewrite not built yet")
def test_rewrite_reads_ssl_and_https(tls_server: Any, pki: PKI) -> None:
    rules = ("RewriteEngine on\n"
             "RewriteCond %{HTTPS} =on\n"
             "RewriteCond %{SSL:SSL_PROTOCOL} ^TLSv1\\.[23]$\n"
             "RewriteRule ^/secure-only$ /index.html [L]\n")
    srv = tls_server(cert_lines(pki) + rules, extra=rules)
    assert https(srv.port, "/secure-only")[0].status == 200
    r = requests.get(f"http://127.0.0.1:{srv.http_port}/secure-only", timeout=5)
    assert r.status_code == 404
