"""Keys, certificates, CSRs, CRLs and hash links with ``cryptography``: the building
blocks of ``featherd-ssl`` (:mod:`.certtool`), of SSLGenerateSelfSigned and of the tests.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
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


