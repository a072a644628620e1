"""featherd-ssl: the FAQ's ``openssl`` recipes as one tool, built on ``cryptography``.

::

    featherd-ssl genkey [-type rsa|ec] [-bits N] [-curve NAME] [-passout PASS|-passfile F] -out KEY
    featherd-ssl selfsigned [-key KEY [-passin ..]] [-type ..] [-bits N] -subj /CN=.. \\
                 [-san DNS:x,IP:y,email:z] [-days N] -out CRT [-keyout KEY [-passout ..]]
    featherd-ssl passphrase -in KEY [-passin ..] (-passout PASS|-passfile F|-nopass) [-out KEY]
    featherd-ssl csr -key KEY [-passin ..] -subj /CN=www.example.com [-san ..] -out CSR
    featherd-ssl ca init -dir CADIR -subj "/CN=My CA" [-days N] [-passout ..]
    featherd-ssl ca sign -dir CADIR -in CSR -out CRT [-days N] [-passin ..] [-ca-ext]
    featherd-ssl ca revoke -dir CADIR -in CRT [-passin ..]      (and writes CADIR/crl.pem)
    featherd-ssl ca crl -dir CADIR [-days N] [-passin ..] -out CRL
    featherd-ssl match -cert CRT -key KEY [-csr CSR] [-passin ..]
    featherd-ssl convert -in FILE -out FILE [-inform PEM|DER] [-outform PEM|DER]
    featherd-ssl rehash DIR
    featherd-ssl show -in FILE

``-passin``/``-passout`` take ``pass:TEXT``, ``env:VAR``, ``file:PATH`` or ``stdin`` as
openssl does; without them an encrypted key asks on the terminal. Keys are written
PKCS#8, encrypted with AES-256 when a pass phrase is given, mode 0600. ``match`` is the
FAQ's modulus comparison: it exits 0 when the key belongs to the certificate (and the
CSR), 1 otherwise. ``rehash`` makes the ``HASH.N`` / ``HASH.rN`` links of
SSLCACertificatePath and SSLCARevocationPath, as ``openssl rehash`` does.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from featherd.modules.ssl.pki import (
    ToolError,
    ensure_self_signed,
    generate_key,
    key_matches_cert,
    key_pem,
    load_cert,
    load_key,
    make_crl,
    make_csr,
    parse_san,
    parse_subject,
    public_numbers_digest,
    rehash,
    self_signed,
    sign_csr,
    subject_hash,
    write_private,
)


# --- the command line ------------------------------------------------------------------
def _pass(spec: str | None, prompt: str, confirm: bool = False) -> bytes | None:
    """openssl's pass phrase arguments."""
    if spec is None:
        return None
    if spec.startswith("pass:"):
        return spec[5:].encode()
    if spec.startswith("env:"):
        v = os.environ.get(spec[4:])
        if v is None:
            raise ToolError(f"environment variable {spec[4:]} is not set")
        return v.encode()
    if spec.startswith("file:"):
        return Path(spec[5:]).read_bytes().split(b"\n", 1)[0].rstrip(b"\r")
    if spec == "stdin":
        return sys.stdin.buffer.readline().rstrip(b"\r\n")
    if spec == "prompt":
        p1 = getpass.getpass(prompt)
        if confirm and getpass.getpass("Verifying - " + prompt) != p1:
            raise ToolError("Verify failure")
        return p1.encode()
    raise ToolError(f"bad pass phrase source '{spec}' (pass:, env:, file:, stdin)")


def _read_key(path: str, passin: str | None) -> Any:
    data = Path(path).read_bytes()
    phrase = _pass(passin, f"Enter pass phrase for {path}:")
    try:
        return load_key(data, phrase)
    except ToolError:
        if phrase is None and sys.stdin.isatty():
            return load_key(data, _pass("prompt", f"Enter pass phrase for {path}:"))
        raise


def _out_pass(a: Any) -> bytes | None:
    if getattr(a, "nopass", False):
        return None
    return _pass(getattr(a, "passout", None), "Enter PEM pass phrase:", confirm=True)


def _write_cert(path: str, cert: x509.Certificate, der: bool = False) -> None:
    enc = serialization.Encoding.DER if der else serialization.Encoding.PEM
    Path(path).write_bytes(cert.public_bytes(enc))


def cmd_genkey(a: Any) -> int:
    key = generate_key(a.type, a.bits, a.curve)
    write_private(a.out, key_pem(key, _out_pass(a)))
    return 0


def cmd_selfsigned(a: Any) -> int:
    if a.key:
        key = _read_key(a.key, a.passin)
    else:
        key = generate_key(a.type, a.bits, a.curve)
        if not a.keyout:
            raise ToolError("selfsigned: give -key or -keyout")
        write_private(a.keyout, key_pem(key, _out_pass(a)))
    cert = self_signed(key, parse_subject(a.subj), parse_san(a.san), a.days, a.ca)
    _write_cert(a.out, cert)
    return 0


def cmd_passphrase(a: Any) -> int:
    key = _read_key(a.inp, a.passin)
    write_private(a.out or a.inp, key_pem(key, _out_pass(a)))
    return 0


def cmd_csr(a: Any) -> int:
    key = _read_key(a.key, a.passin)
    csr = make_csr(key, parse_subject(a.subj), parse_san(a.san))
    Path(a.out).write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return 0


def _ca_paths(d: str) -> tuple[Path, Path, Path, Path]:
    p = Path(d)
    return p / "ca.crt", p / "ca.key", p / "serial", p / "index.txt"


def cmd_ca(a: Any) -> int:
    crt, key_path, serial, index = _ca_paths(a.dir)
    if a.action == "init":
        Path(a.dir).mkdir(parents=True, exist_ok=True)
        key = generate_key(a.type, a.bits, a.curve)
        write_private(key_path, key_pem(key, _out_pass(a)))
        _write_cert(str(crt), self_signed(key, parse_subject(a.subj or "/CN=featherd CA"),
                                          None, a.days, ca=True))
        serial.write_text("1000\n")
        index.write_text("")
        return 0
    ca_cert = load_cert(crt.read_bytes())
    ca_key = _read_key(str(key_path), a.passin)
    if a.action == "sign":
        csr = x509.load_pem_x509_csr(Path(a.inp).read_bytes())
        n = int(serial.read_text().strip() or "1000", 16)
        cert = sign_csr(csr, ca_cert, ca_key, a.days, n, is_ca=a.ca_ext)
        serial.write_text(f"{n + 1:X}\n")
        with index.open("a") as f:
            f.write(f"V\t{n:X}\t{cert.subject.rfc4514_string()}\n")
        _write_cert(a.out, cert)
        return 0
    revoked = _revoked(index)
    if a.action == "revoke":
        cert = load_cert(Path(a.inp).read_bytes())
        import time

        revoked.append((cert.serial_number, time.time()))
        with index.open("a") as f:
            f.write(f"R\t{cert.serial_number:X}\t{int(time.time())}\n")
    crl = make_crl(ca_cert, ca_key, revoked, a.days if a.action == "crl" else 30)
    out = a.out or str(Path(a.dir) / "crl.pem")
    Path(out).write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return 0


def _revoked(index: Path) -> list[tuple[int, float]]:
    out = []
    if index.exists():
        for line in index.read_text().splitlines():
            parts = line.split("\t")
            if parts and parts[0] == "R" and len(parts) >= 3:
                out.append((int(parts[1], 16), float(parts[2])))
    return out


def cmd_match(a: Any) -> int:
    cert = load_cert(Path(a.cert).read_bytes())
    key = _read_key(a.key, a.passin)
    dk, dc = public_numbers_digest(key), public_numbers_digest(cert)
    print(f"certificate: {dc}\nkey:         {dk}")
    ok = dk == dc
    if a.csr:
        csr = x509.load_pem_x509_csr(Path(a.csr).read_bytes())
        dr = public_numbers_digest(csr)
        print(f"request:     {dr}")
        ok = ok and dr == dk
    print("OK: the key matches" if ok else "MISMATCH: the key does not match")
    return 0 if ok else 1


def cmd_convert(a: Any) -> int:
    data = Path(a.inp).read_bytes()
    der_out = a.outform.upper() == "DER"
    if b"PRIVATE KEY" in data or (a.kind == "key"):
        key = load_key(data, _pass(a.passin, "Enter pass phrase:"))
        enc = serialization.Encoding.DER if der_out else serialization.Encoding.PEM
        body = key.private_bytes(enc, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        write_private(a.out, body)
        return 0
    if b"X509 CRL" in data or a.kind == "crl":
        crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN" in data
               else x509.load_der_x509_crl(data))
        Path(a.out).write_bytes(crl.public_bytes(
            serialization.Encoding.DER if der_out else serialization.Encoding.PEM))
        return 0
    if b"CERTIFICATE REQUEST" in data or a.kind == "csr":
        csr = (x509.load_pem_x509_csr(data) if b"-----BEGIN" in data
               else x509.load_der_x509_csr(data))
        Path(a.out).write_bytes(csr.public_bytes(
            serialization.Encoding.DER if der_out else serialization.Encoding.PEM))
        return 0
    _write_cert(a.out, load_cert(data), der=der_out)
    return 0


def cmd_rehash(a: Any) -> int:
    for d in a.dirs:
        for name in rehash(d):
            print(f"{d}/{name}")
    return 0


def cmd_show(a: Any) -> int:
    data = Path(a.inp).read_bytes()
    from featherd.modules.ssl.vars import asn1_time, oneline, serial_hex

    if b"CERTIFICATE REQUEST" in data:
        csr = x509.load_pem_x509_csr(data)
        print(f"subject={oneline(csr.subject)}")
        return 0
    cert = load_cert(data)
    print(f"subject={oneline(cert.subject)}")
    print(f"issuer={oneline(cert.issuer)}")
    print(f"serial={serial_hex(cert.serial_number)}")
    print(f"notBefore={asn1_time(cert.not_valid_before_utc.timestamp())}")
    print(f"notAfter={asn1_time(cert.not_valid_after_utc.timestamp())}")
    print(f"hash={subject_hash(cert.subject)}")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        print("subjectAltName=" + ", ".join(_gn(g) for g in san))
    except x509.ExtensionNotFound:
        pass
    return 0


def _gn(g: x509.GeneralName) -> str:
    if isinstance(g, x509.DNSName):
        return f"DNS:{g.value}"
    if isinstance(g, x509.IPAddress):
        return f"IP Address:{g.value}"
    if isinstance(g, x509.RFC822Name):
        return f"email:{g.value}"
    return str(g.value)


def _keyopts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-type", default="rsa", choices=["rsa", "ec"])
    p.add_argument("-bits", type=int, default=2048)
    p.add_argument("-curve", default="prime256v1")


def _passout(p: argparse.ArgumentParser) -> None:
    p.add_argument("-passout", help="pass:TEXT, env:VAR, file:PATH, stdin or prompt")
    p.add_argument("-nopass", action="store_true", help="write the key without a pass phrase")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="featherd-ssl", description="keys, CSRs and "
                                 "certificates for featherd's mod_ssl (the SSL FAQ's "
                                 "openssl recipes)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("genkey", help="make a private key (with or without a pass phrase)")
    _keyopts(p)
    _passout(p)
    p.add_argument("-out", required=True)
    p.set_defaults(fn=cmd_genkey)

    p = sub.add_parser("selfsigned", help="a self-signed certificate for testing")
    _keyopts(p)
    _passout(p)
    p.add_argument("-key")
    p.add_argument("-passin")
    p.add_argument("-keyout")
    p.add_argument("-subj", default="/CN=localhost")
    p.add_argument("-san", action="append")
    p.add_argument("-days", type=int, default=365)
    p.add_argument("-ca", action="store_true", help="mark it as a CA certificate")
    p.add_argument("-out", required=True)
    p.set_defaults(fn=cmd_selfsigned)

    p = sub.add_parser("passphrase", help="change, add or remove a key's pass phrase")
    p.add_argument("-in", dest="inp", required=True)
    p.add_argument("-passin")
    _passout(p)
    p.add_argument("-out")
    p.set_defaults(fn=cmd_passphrase)

    p = sub.add_parser("csr", help="a certificate signing request")
    p.add_argument("-key", required=True)
    p.add_argument("-passin")
    p.add_argument("-subj", required=True)
    p.add_argument("-san", action="append")
    p.add_argument("-out", required=True)
    p.set_defaults(fn=cmd_csr)

    p = sub.add_parser("ca", help="a small private CA: init, sign, revoke, crl")
    p.add_argument("action", choices=["init", "sign", "revoke", "crl"])
    p.add_argument("-dir", required=True)
    p.add_argument("-subj")
    p.add_argument("-in", dest="inp")
    p.add_argument("-out")
    p.add_argument("-days", type=int, default=365)
    p.add_argument("-passin")
    p.add_argument("-ca-ext", dest="ca_ext", action="store_true",
                   help="sign an intermediate CA certificate")
    _keyopts(p)
    _passout(p)
    p.set_defaults(fn=cmd_ca)

    p = sub.add_parser("match", help="does the key belong to the certificate (and CSR)?")
    p.add_argument("-cert", required=True)
    p.add_argument("-key", required=True)
    p.add_argument("-csr")
    p.add_argument("-passin")
    p.set_defaults(fn=cmd_match)

    p = sub.add_parser("convert", help="PEM <-> DER (certificates, keys, CSRs, CRLs)")
    p.add_argument("-in", dest="inp", required=True)
    p.add_argument("-out", required=True)
    p.add_argument("-inform", default="auto")
    p.add_argument("-outform", default="DER")
    p.add_argument("-kind", choices=["cert", "key", "csr", "crl"], default=None)
    p.add_argument("-passin")
    p.set_defaults(fn=cmd_convert)

    p = sub.add_parser("rehash", help="HASH.N links for SSLCACertificatePath")
    p.add_argument("dirs", nargs="+")
    p.set_defaults(fn=cmd_rehash)

    p = sub.add_parser("show", help="subject, issuer, serial, dates, hash")
    p.add_argument("-in", dest="inp", required=True)
    p.set_defaults(fn=cmd_show)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    if getattr(a, "nopass", False) and getattr(a, "passout", None):
        ap.error("-nopass and -passout exclude each other")
    try:
        return int(a.fn(a))
    except (ToolError, OSError, ValueError) as e:
        print(f"featherd-ssl: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["ToolError", "ensure_self_signed", "generate_key", "key_matches_cert", "key_pem", "load_cert", "load_key", "main", "make_crl", "make_csr", "parse_san", "parse_subject", "public_numbers_digest", "rehash", "self_signed", "sign_csr", "subject_hash", "write_private"]
