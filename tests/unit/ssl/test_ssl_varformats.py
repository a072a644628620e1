"""The SSL_* variables' formats, checked against openssl's own printing, and the
request variables ssl_var_lookup knows (manual: mod_ssl, Environment Variables)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization

from featherd.modules.ssl import certtool as ct
from featherd.modules.ssl.vars import (
    FIXUP_VARS,
    LOG_HANDLERS,
    CertInfo,
    asn1_time,
    serial_hex,
    ssl_var_lookup,
)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CertInfo]:
    d = tmp_path_factory.mktemp("vars")
    ca_key = ct.generate_key("ec")
    ca = ct.self_signed(ca_key, ct.parse_subject("/C=US/O=Snake Oil, Ltd./CN=Root"), ca=True)
    key = ct.generate_key("rsa", 2048)
    subj = ("/C=US/ST=California/L=San Francisco/O=Snake Oil, Ltd./OU=Staff/OU=Dev/"
            "CN=alice/emailAddress=alice@example.com")
    c = ct.sign_csr(ct.make_csr(key, ct.parse_subject(subj),
                                ct.parse_san("DNS:a.example,DNS:b.example,email:x@y.z")),
                    ca, ca_key, serial=0x0ABCDEF)
    p = d / "c.pem"
    p.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    return p, CertInfo(c.public_bytes(serialization.Encoding.DER))


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_dn_oneline_is_openssls_legacy_form(cert: tuple[Path, CertInfo]) -> None:
    p, info = cert
    subject = openssl("x509", "-noout", "-subject", "-nameopt", "compat", "-in", str(p))
    assert info.get("S_DN") == subject.split("=", 1)[1]
    assert info.get("S_DN") == ("/C=US/ST=California/L=San Francisco/O=Snake Oil, Ltd./"
                                "OU=Staff/OU=Dev/CN=alice/emailAddress=alice@example.com")
    assert info.get("I_DN") == "/C=US/O=Snake Oil, Ltd./CN=Root"


def test_dn_components(cert: tuple[Path, CertInfo]) -> None:
    _, info = cert
    assert info.get("S_DN_CN") == "alice"
    assert info.get("S_DN_OU") == "Staff" and info.get("S_DN_OU_0") == "Staff"
    assert info.get("S_DN_OU_1") == "Dev" and info.get("S_DN_OU_2") is None
    assert info.get("S_DN_Email") == "alice@example.com"
    assert info.get("S_DN_ST") == info.get("S_DN_SP") == "California"
    assert info.get("S_DN_L") == "San Francisco"
    assert info.get("I_DN_O") == "Snake Oil, Ltd."
    assert info.get("S_DN_T") is None


def test_serial_dates_algorithms(cert: tuple[Path, CertInfo]) -> None:
    p, info = cert
    assert info.get("M_SERIAL") == openssl("x509", "-noout", "-serial", "-in",
                                           str(p)).split("=")[1] == "ABCDEF"
    assert info.get("M_VERSION") == "3"
    start = openssl("x509", "-noout", "-startdate", "-in", str(p)).split("=", 1)[1]
    end = openssl("x509", "-noout", "-enddate", "-in", str(p)).split("=", 1)[1]
    assert info.get("V_START") == start and info.get("V_END") == end
    assert 360 <= int(info.get("V_REMAIN") or 0) <= 365
    text = openssl("x509", "-noout", "-text", "-in", str(p))
    assert f"Signature Algorithm: {info.get('A_SIG')}" in text
    assert info.get("A_SIG") == "ecdsa-with-SHA256"
    assert info.get("A_KEY") == "rsaEncryption"
    assert info.get("CERT") == p.read_text()


def test_subject_alt_names(cert: tuple[Path, CertInfo]) -> None:
    _, info = cert
    assert info.get("SAN_DNS_0") == "a.example" and info.get("SAN_DNS_1") == "b.example"
    assert info.get("SAN_DNS_2") is None and info.get("SAN_Email_0") == "x@y.z"
    assert info.extension_values("subjectAltName") == [
        "DNS:a.example, DNS:b.example, email:x@y.z"]
    assert info.extension_values("2.5.29.19") == ["CA:FALSE"]
    assert info.extension_values("extendedKeyUsage") == [
        "TLS Web Server Authentication, TLS Web Client Authentication"]
    assert re.fullmatch(r"\{ serialNumber 11259375, issuer rdnSequence:\"CN=Root,"
                        r"O=Snake Oil\\, Ltd\.,C=US\" \}", info.get("CERT_RFC4523_CEA") or "")


def test_helpers() -> None:
    assert serial_hex(0) == "00" and serial_hex(0xFFF) == "0FFF"
    assert asn1_time(0) == "Jan  1 00:00:00 1970 GMT"


def _request(https: bool = False) -> SimpleNamespace:
    conn = SimpleNamespace(client_ip="10.1.2.3", remote_host=None, remote_logname=None,
                           local_ip="127.0.0.1", local_port=8443, notes={}, is_tls=False)
    server = SimpleNamespace(server_scheme=None, server_admin="admin@x", server_hostname="x",
                             port=0, module_config=[])
    return SimpleNamespace(connection=conn, server=server, method="POST", uri="/a/b",
                           filename="/srv/a/b", path_info="/pi", args="q=1", main=None,
                           ap_auth_type="Basic", the_request="POST /a/b?q=1 HTTP/1.1",
                           user="joe", protocol="HTTP/1.1", notes={"n1": "note"},
                           subprocess_env={"E1": "env"},
                           headers_in={"User-Agent": "UA", "Referer": "R", "Cookie": "C",
                                       "Host": "h", "Accept": "*/*", "X-Y": "z"},
                           tree=SimpleNamespace(extra={}))


def test_request_variables() -> None:
    r = _request()
    expected = {"HTTP_USER_AGENT": "UA", "HTTP_REFERER": "R", "HTTP_COOKIE": "C",
                "HTTP_HOST": "h", "HTTP_ACCEPT": "*/*", "HTTP:X-Y": "z",
                "REQUEST_METHOD": "POST", "REQUEST_SCHEME": "http", "REQUEST_URI": "/a/b",
                "REQUEST_FILENAME": "/srv/a/b", "SCRIPT_FILENAME": "/srv/a/b",
                "REMOTE_HOST": "10.1.2.3", "REMOTE_ADDR": "10.1.2.3", "REMOTE_USER": "joe",
                "SERVER_ADMIN": "admin@x", "SERVER_PROTOCOL": "HTTP/1.1",
                "PATH_INFO": "/pi", "QUERY_STRING": "q=1", "IS_SUBREQ": "false",
                "AUTH_TYPE": "Basic", "THE_REQUEST": "POST /a/b?q=1 HTTP/1.1",
                "ENV:n1": "note", "ENV:E1": "env", "HTTPS": "off", "API_VERSION": "20051115",
                "SSL_PROTOCOL": "", "SSL_CLIENT_S_DN": "", "NO_SUCH_THING": ""}
    for k, v in expected.items():
        assert ssl_var_lookup(r, k) == v, k  # type: ignore[arg-type]
    assert re.fullmatch(r"\d{14}", ssl_var_lookup(r, "TIME"))  # type: ignore[arg-type]
    assert re.fullmatch(r"[0-6]", ssl_var_lookup(r, "TIME_WDAY"))  # type: ignore[arg-type]
    assert ssl_var_lookup(r, "SSL_VERSION_INTERFACE").startswith("mod_ssl/2.2")  # type: ignore[arg-type]
    assert ssl_var_lookup(r, "SSL_VERSION_LIBRARY").startswith("OpenSSL/")  # type: ignore[arg-type]
    assert ssl_var_lookup(r, "ENV:PATH")  # type: ignore[arg-type]


def test_fixup_list_and_log_handlers() -> None:
    for v in ("HTTPS", "SSL_TLS_SNI", "SSL_CLIENT_CERT"):
        assert v not in FIXUP_VARS       # set separately (always / ExportCertData)
    for v in ("SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_S_DN_CN", "SSL_SERVER_I_DN_O",
              "SSL_SESSION_ID", "SSL_CLIENT_VERIFY", "SSL_CLIENT_V_REMAIN"):
        assert v in FIXUP_VARS
    assert set(LOG_HANDLERS) == {"x", "c"}
    r = _request()
    get = LOG_HANDLERS["x"].maker("HTTPS", lambda s: s)
    assert get(r) == "off"
    get = LOG_HANDLERS["c"].maker("cipher", lambda s: s)
    assert get(r) is None                 # not an SSL connection: "-"
