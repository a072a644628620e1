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
import datetime
import getpass
import hashlib
import ipaddress
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ATTRS = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
          "L": NameOID.LOCALITY_NAME, "O": NameOID.ORGANIZATION_NAME,
          "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME,
          "emailAddress": NameOID.EMAIL_ADDRESS, "E": NameOID.EMAIL_ADDRESS,
          "title": NameOID.TITLE, "GN": NameOID.GIVEN_NAME, "SN": NameOID.SURNAME,
          "UID": NameOID.USER_ID, "DC": NameOID.DOMAIN_COMPONENT,
          "serialNumber": NameOID.SERIAL_NUMBER}


class ToolError(Exception):
    pass


# --- building blocks (also used by mod_ssl and the tests) --------------------------------
def parse_subject(subj: str) -> x509.Name:
    """openssl's ``/C=US/O=Example/CN=www.example.com`` (or ``CN=x,O=y``)."""
    s = subj.strip()
    parts = [p for p in re.split(r"(?<!\\)/", s) if p] if s.startswith("/") else \
        [p.strip() for p in re.split(r"(?<!\\),", s) if p.strip()]
    attrs = []
    for p in parts:
        k, sep, v = p.partition("=")
        if not sep:
            raise ToolError(f"subject: '{p}' is not TYPE=value")
        oid = _ATTRS.get(k.strip())
        if oid is None:
            raise ToolError(f"subject: unknown attribute type '{k}'")
        attrs.append(x509.NameAttribute(oid, v.replace("\\/", "/").replace("\\,", ",")))
    if not attrs:
        raise ToolError("subject: empty")
    return x509.Name(attrs)


def parse_san(spec: str | Sequence[str] | None) -> list[x509.GeneralName]:
    """``DNS:www.example.com,IP:127.0.0.1,email:a@b`` (a bare name is DNS)."""
    if not spec:
        return []
    items = spec.split(",") if isinstance(spec, str) else [i for s in spec for i in s.split(",")]
    out: list[x509.GeneralName] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        kind, sep, val = item.partition(":")
        if not sep:
            kind, val = "DNS", item
        k = kind.lower()
        if k == "dns":
            out.append(x509.DNSName(val))
        elif k == "ip":
            out.append(x509.IPAddress(ipaddress.ip_address(val)))
        elif k == "email":
            out.append(x509.RFC822Name(val))
        elif k == "uri":
            out.append(x509.UniformResourceIdentifier(val))
        else:
            raise ToolError(f"subjectAltName: unknown type '{kind}'")
    return out


def generate_key(kind: str = "rsa", bits: int = 2048, curve: str = "prime256v1") -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        curves = {"prime256v1": ec.SECP256R1(), "p-256": ec.SECP256R1(),
                  "secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(),
                  "p-384": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}
        c = curves.get(curve.lower())
        if c is None:
            raise ToolError(f"unknown curve '{curve}'")
        return ec.generate_private_key(c)
    raise ToolError(f"unknown key type '{kind}'")


def key_pem(key: Any, passphrase: bytes | None = None, traditional: bool = False) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else \
        serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def load_key(data: bytes, passphrase: bytes | None = None) -> Any:
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=passphrase)
        return serialization.load_der_private_key(data, password=passphrase)
    except TypeError as e:
        raise ToolError("the key is encrypted: give its pass phrase (-passin)" if
                        passphrase is None else f"bad key: {e}") from None
    except ValueError:
        raise ToolError("unable to load the private key (wrong pass phrase?)") from None


def load_cert(data: bytes) -> x509.Certificate:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _hash_for(key: Any) -> Any:
    return None if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) \
        else hashes.SHA256()


def self_signed(key: Any, subject: x509.Name, san: list[x509.GeneralName] | None = None,
                days: int = 365, ca: bool = False) -> x509.Certificate:
    """A self-signed certificate (the FAQ's ``openssl req -new -x509``)."""
    now = _now()
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=ca)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False,
                                          decipher_only=False), critical=True)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(key, _hash_for(key))


def make_csr(key: Any, subject: x509.Name,
             san: list[x509.GeneralName] | None = None) -> x509.CertificateSigningRequest:
    b = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(key, _hash_for(key))


def sign_csr(csr: x509.CertificateSigningRequest, ca_cert: x509.Certificate, ca_key: Any,
             days: int = 365, serial: int | None = None, is_ca: bool = False,
             client: bool = False) -> x509.Certificate:
    """The CA's signature on a CSR, keeping its subjectAltName."""
    if not csr.is_signature_valid:
        raise ToolError("the CSR's signature does not verify")
    now = _now()
    b = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
         .public_key(csr.public_key())
         .serial_number(serial if serial is not None else x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca_key.public_key()), critical=False))
    if not is_ca:
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        del client
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False,
                                          decipher_only=False), critical=True)
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        b = b.add_extension(ext.value, critical=False)
    except x509.ExtensionNotFound:
        pass
    return b.sign(ca_key, _hash_for(ca_key))


def make_crl(ca_cert: x509.Certificate, ca_key: Any, revoked: list[tuple[int, float]],
             days: int = 30) -> x509.CertificateRevocationList:
    now = _now()
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
         .last_update(now - datetime.timedelta(minutes=5))
         .next_update(now + datetime.timedelta(days=days)))
    for serial, when in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(datetime.datetime.fromtimestamp(when, datetime.UTC))
            .build())
    return b.sign(ca_key, _hash_for(ca_key))


def public_numbers_digest(obj: Any) -> str:
    """The FAQ's ``-modulus | openssl md5``: a digest of the public key."""
    pub = obj.public_key()
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.md5(der).hexdigest()


def key_matches_cert(key: Any, cert: x509.Certificate) -> bool:
    return public_numbers_digest(key) == public_numbers_digest(cert)


def subject_hash(name: x509.Name) -> str:
    """X509_NAME_hash (openssl x509 -hash): SHA-1 of the canonical DER name, the first
    four bytes little-endian, as 8 hex digits."""
    canon = _canonical_name(name)
    d = hashlib.sha1(canon).digest()
    return f"{int.from_bytes(d[:4], 'little'):08x}"


def _canonical_name(name: x509.Name) -> bytes:
    """OpenSSL's x509_name_canon: each RDN as a SET of (OID, UTF8String of the
    lower-cased, space-collapsed value), concatenated without the outer SEQUENCE."""
    out = b""
    for rdn in name.rdns:
        items = []
        for attr in rdn:
            v = attr.value if isinstance(attr.value, str) else attr.value.decode("latin-1")
            v = " ".join(v.strip().split())
            v = "".join(ch.lower() if ord(ch) < 128 else ch for ch in v)
            oid = _der_oid(attr.oid.dotted_string)
            val = _der(0x0C, v.encode("utf-8"))
            items.append(_der(0x30, oid + val))
        out += _der(0x31, b"".join(sorted(items)))
    return out


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(enc))
    return _der(0x06, body)


def rehash(directory: str) -> list[str]:
    """Make HASH.N links for certificates and HASH.rN for CRLs; old links go first."""
    d = Path(directory)
    for p in d.iterdir():
        if p.is_symlink() and re.fullmatch(r"[0-9a-f]{8}\.r?\d+", p.name):
            p.unlink()
    made: list[str] = []
    used: dict[str, int] = {}
    for p in sorted(d.iterdir()):
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        names: list[tuple[str, bool]] = []
        for block in re.findall(rb"-----BEGIN ([A-Z509 ]+)-----", data):
            if block in (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"):
                names.append((subject_hash(x509.load_pem_x509_certificate(
                    _first_block(data, b"CERTIFICATE")).subject), False))
                break
            if block == b"X509 CRL":
                names.append((subject_hash(x509.load_pem_x509_crl(data).issuer), True))
                break
        for h, is_crl in names:
            key = h + (".r" if is_crl else ".")
            n = used.get(key, 0)
            used[key] = n + 1
            link = d / f"{key}{n}"
            os.symlink(p.name, link)
            made.append(link.name)
    return made


def _first_block(data: bytes, label: bytes) -> bytes:
    m = re.search(rb"-----BEGIN (?:X509 |TRUSTED )?" + label + rb"-----.*?-----END [A-Z509 ]*"
                  + label + rb"-----", data, re.S)
    return m.group(0) if m else data


def write_private(path: str | Path, data: bytes) -> None:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def ensure_self_signed(cert_path: str, key_path: str, host: str,
                       san: list[str] | None = None) -> bool:
    """The bundled HTTPS vhost: make a self-signed pair when neither file exists."""
    if os.path.exists(cert_path) or os.path.exists(key_path):
        return False
    for p in (cert_path, key_path):
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    key = generate_key("rsa", 2048)
    names = [host, *(san or [])]
    gn = parse_san([n if ":" in n else f"DNS:{n}" for n in dict.fromkeys(names)])
    cert = self_signed(key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]), gn)
    write_private(key_path, key_pem(key))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return True


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
