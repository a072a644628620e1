"""featherd-ssl: the FAQ's "Certificates" recipes, checked with openssl itself."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from featherd.modules.ssl.certtool import main, subject_hash


def ossl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=check)


def run(*args: str) -> int:
    return main(list(args))


def test_self_signed_for_testing(tmp_path: Path) -> None:
    """FAQ "How do I create a self-signed SSL Certificate for testing purposes?"."""
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    assert run("selfsigned", "-subj", "/CN=www.foo.dom", "-san", "DNS:www.foo.dom,IP:10.0.0.1",
               "-keyout", str(key), "-out", str(crt), "-nopass") == 0
    text = ossl("x509", "-noout", "-text", "-in", str(crt)).stdout
    assert "Subject: CN = www.foo.dom" in text and "Issuer: CN = www.foo.dom" in text
    assert "DNS:www.foo.dom, IP Address:10.0.0.1" in text
    assert ossl("pkey", "-in", str(key), "-noout").returncode == 0   # no pass phrase
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert ossl("verify", "-CAfile", str(crt), str(crt)).stdout.strip().endswith("OK")


def test_key_with_pass_phrase_and_changing_it(tmp_path: Path) -> None:
    """FAQ "How can I change the pass-phrase on my private key file?" and "How can I
    get rid of the pass-phrase dialog at Apache startup time?"."""
    key = tmp_path / "server.key"
    assert run("genkey", "-bits", "2048", "-passout", "pass:old", "-out", str(key)) == 0
    assert "ENCRYPTED" in key.read_text()
    assert ossl("pkey", "-in", str(key), "-passin", "pass:wrong", "-noout",
                check=False).returncode != 0
    assert ossl("pkey", "-in", str(key), "-passin", "pass:old", "-noout").returncode == 0
    assert run("passphrase", "-in", str(key), "-passin", "pass:old", "-passout",
               "pass:new") == 0
    assert ossl("pkey", "-in", str(key), "-passin", "pass:new", "-noout").returncode == 0
    os.environ["SSLH_PASS"] = "new"
    out = tmp_path / "server.key.unsecure"
    assert run("passphrase", "-in", str(key), "-passin", "env:SSLH_PASS", "-nopass",
               "-out", str(out)) == 0
    assert "ENCRYPTED" not in out.read_text()
    assert ossl("pkey", "-in", str(out), "-noout").returncode == 0
    assert run("passphrase", "-in", str(key), "-passin", "pass:bad", "-nopass") == 1


def test_csr_with_common_name_and_alt_names(tmp_path: Path) -> None:
    """FAQ "How do I create a real SSL Certificate?": key, then CSR for the FQDN."""
    key, csr = tmp_path / "k", tmp_path / "server.csr"
    run("genkey", "-type", "ec", "-nopass", "-out", str(key))
    assert run("csr", "-key", str(key), "-subj", "/C=US/O=Foo/CN=www.foo.dom", "-san",
               "DNS:www.foo.dom", "-san", "DNS:foo.dom", "-out", str(csr)) == 0
    text = ossl("req", "-noout", "-text", "-verify", "-in", str(csr)).stdout
    assert "Subject: C = US, O = Foo, CN = www.foo.dom" in text
    assert "DNS:www.foo.dom, DNS:foo.dom" in text


def test_own_ca_signs_csrs_revokes_and_rehashes(tmp_path: Path) -> None:
    """FAQ "How do I create and use my own Certificate Authority (CA)?"."""
    ca = tmp_path / "ca"
    assert run("ca", "init", "-dir", str(ca), "-subj", "/O=My Org/CN=My CA", "-nopass") == 0
    key, csr, crt = tmp_path / "k", tmp_path / "r.csr", tmp_path / "r.crt"
    run("genkey", "-nopass", "-out", str(key))
    run("csr", "-key", str(key), "-subj", "/CN=www.foo.dom", "-san", "DNS:www.foo.dom",
        "-out", str(csr))
    assert run("ca", "sign", "-dir", str(ca), "-in", str(csr), "-out", str(crt)) == 0
    v = ossl("verify", "-CAfile", str(ca / "ca.crt"), str(crt))
    assert v.stdout.strip() == f"{crt}: OK"
    assert "DNS:www.foo.dom" in ossl("x509", "-noout", "-ext", "subjectAltName", "-in",
                                     str(crt)).stdout
    assert ossl("x509", "-noout", "-serial", "-in", str(crt)).stdout.strip() == "serial=1000"
    # revoke it: the CRL makes openssl refuse it
    assert run("ca", "revoke", "-dir", str(ca), "-in", str(crt)) == 0
    crl = ca / "crl.pem"
    v = ossl("verify", "-crl_check", "-CAfile", str(ca / "ca.crt"), "-CRLfile", str(crl),
             str(crt), check=False)
    assert "certificate revoked" in v.stdout + v.stderr
    # the CA directory for SSLCACertificatePath/SSLCARevocationPath: as openssl rehash
    d = tmp_path / "hashdir"
    d.mkdir()
    (d / "ca.pem").write_bytes((ca / "ca.crt").read_bytes())
    (d / "crl.pem").write_bytes(crl.read_bytes())
    assert run("rehash", str(d)) == 0
    ours = sorted(p.name for p in d.iterdir() if p.is_symlink())
    for p in d.iterdir():
        if p.is_symlink():
            p.unlink()
    ossl("rehash", str(d))
    theirs = sorted(p.name for p in d.iterdir() if p.is_symlink())
    assert ours == theirs and len(ours) == 2


def test_key_matches_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """FAQ "How do I verify that a private key matches its Certificate?"."""
    k1, c1, k2 = tmp_path / "k1", tmp_path / "c1", tmp_path / "k2"
    run("selfsigned", "-keyout", str(k1), "-out", str(c1), "-nopass")
    run("genkey", "-nopass", "-out", str(k2))
    csr = tmp_path / "csr"
    run("csr", "-key", str(k1), "-subj", "/CN=x", "-out", str(csr))
    assert run("match", "-cert", str(c1), "-key", str(k1), "-csr", str(csr)) == 0
    assert "OK: the key matches" in capsys.readouterr().out
    assert run("match", "-cert", str(c1), "-key", str(k2)) == 1
    assert "MISMATCH" in capsys.readouterr().out
    # the FAQ's own recipe agrees
    m1 = ossl("x509", "-noout", "-modulus", "-in", str(c1)).stdout
    m2 = ossl("rsa", "-noout", "-modulus", "-in", str(k1)).stdout
    assert m1 == m2


def test_pem_der_conversion(tmp_path: Path) -> None:
    """FAQ "How can I convert a certificate from PEM to DER format?"."""
    crt, key = tmp_path / "cert.pem", tmp_path / "k"
    run("selfsigned", "-keyout", str(key), "-out", str(crt), "-nopass")
    der = tmp_path / "cert.der"
    assert run("convert", "-in", str(crt), "-out", str(der), "-outform", "DER") == 0
    ref = tmp_path / "ref.der"
    ossl("x509", "-in", str(crt), "-out", str(ref), "-outform", "DER")
    assert der.read_bytes() == ref.read_bytes()
    back = tmp_path / "back.pem"
    assert run("convert", "-in", str(der), "-out", str(back), "-outform", "PEM") == 0
    assert back.read_text() == crt.read_text()
    kder = tmp_path / "k.der"
    assert run("convert", "-in", str(key), "-out", str(kder), "-outform", "DER") == 0
    assert ossl("pkey", "-inform", "DER", "-in", str(kder), "-noout").returncode == 0


def test_subject_hash_matches_openssl(tmp_path: Path) -> None:
    crt, key = tmp_path / "c", tmp_path / "k"
    run("selfsigned", "-subj", "/C=US/O=Snake  Oil, Ltd./OU=Dev Team/CN=Test CA Root",
        "-keyout", str(key), "-out", str(crt), "-nopass")
    from featherd.modules.ssl.certtool import load_cert

    ours = subject_hash(load_cert(crt.read_bytes()).subject)
    assert ours == ossl("x509", "-noout", "-hash", "-in", str(crt)).stdout.strip()


def test_show_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crt, key = tmp_path / "c", tmp_path / "k"
    run("selfsigned", "-subj", "/O=Org/CN=host", "-keyout", str(key), "-out", str(crt),
        "-nopass")
    assert run("show", "-in", str(crt)) == 0
    out = capsys.readouterr().out
    assert "subject=/O=Org/CN=host" in out and "hash=" in out
    assert run("selfsigned", "-subj", "CN", "-keyout", str(key), "-out", str(crt),
               "-nopass") == 1
    assert "is not TYPE=value" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    p = subprocess.run(["featherd-ssl", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "selfsigned" in p.stdout
