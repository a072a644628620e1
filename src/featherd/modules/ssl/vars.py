"""ssl_var_lookup (ssl_engine_vars.c): the SSL_* variables and the request variables
SSLRequire, ``%{VAR}x`` log formats, mod_rewrite's ``%{SSL:VAR}``, mod_headers and SSI
read, plus the ``%{name}c`` compatibility log format.

Names and formats are 2.2's: DNs in the ``/C=../O=../CN=..`` form of X509_NAME_oneline,
dates as ASN1_TIME_print (``Jan  5 12:00:00 2026 GMT``), serials as upper-case hex
(i2a_ASN1_INTEGER); 2.4's additions are there too (SSL_SESSION_RESUMED,
SSL_SECURE_RENEG, SSL_*_SAN_*, SSL_CLIENT_CERT_RFC4523_CEA). An unknown variable is "".
"""

from __future__ import annotations

import functools
import os
import ssl
import time
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier

from featherd import APACHE_COMPAT_VERSION
from featherd.modules.loggers.logitems import Escape, Getter, LogHandler

if TYPE_CHECKING:
    from featherd.core.request import Request

MODULE_MAGIC_NUMBER = "20051115"      # 2.2's MODULE_MAGIC_NUMBER_MAJOR
VERSION_INTERFACE = "mod_ssl/" + ".".join(map(str, APACHE_COMPAT_VERSION))
VERSION_LIBRARY = ssl.OPENSSL_VERSION.split(" ")[0] + "/" + ssl.OPENSSL_VERSION.split(" ")[1]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: x509 component names (ssl_var_lookup_ssl_cert_dn_rec)
DN_COMPONENTS: dict[str, ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "SP": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME, "T": NameOID.TITLE, "I": NameOID.INITIALS,
    "G": NameOID.GIVEN_NAME, "S": NameOID.SURNAME,
    "D": ObjectIdentifier("2.5.4.13"), "UID": NameOID.X500_UNIQUE_IDENTIFIER,
    "Email": NameOID.EMAIL_ADDRESS,
}
#: OpenSSL's short names, for X509_NAME_oneline
SHORT_NAMES = {
    "2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.3": "CN", "2.5.4.12": "title", "2.5.4.43": "initials", "2.5.4.42": "GN",
    "2.5.4.4": "SN", "2.5.4.13": "description", "2.5.4.45": "x500UniqueIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC", "2.5.4.5": "serialNumber", "2.5.4.9": "street",
    "2.5.4.17": "postalCode", "2.5.4.65": "pseudonym", "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier", "2.5.4.41": "name", "2.5.4.15": "businessCategory",
}
_DN_PARTS = ("C", "ST", "L", "O", "OU", "CN", "T", "I", "G", "S", "D", "UID", "Email")
_MS_UPN = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
_DNS_SRV = ObjectIdentifier("1.3.6.1.5.5.7.8.7")

#: ssl_hook_Fixup_vars: what SSLOptions +StdEnvVars puts in the environment
FIXUP_VARS: tuple[str, ...] = (
    "SSL_VERSION_INTERFACE", "SSL_VERSION_LIBRARY", "SSL_PROTOCOL", "SSL_SECURE_RENEG",
    "SSL_COMPRESS_METHOD", "SSL_CIPHER", "SSL_CIPHER_EXPORT", "SSL_CIPHER_USEKEYSIZE",
    "SSL_CIPHER_ALGKEYSIZE", "SSL_CLIENT_VERIFY", "SSL_CLIENT_M_VERSION",
    "SSL_CLIENT_M_SERIAL", "SSL_CLIENT_V_START", "SSL_CLIENT_V_END", "SSL_CLIENT_V_REMAIN",
    "SSL_CLIENT_S_DN", *(f"SSL_CLIENT_S_DN_{x}" for x in _DN_PARTS),
    "SSL_CLIENT_I_DN", *(f"SSL_CLIENT_I_DN_{x}" for x in _DN_PARTS),
    "SSL_CLIENT_A_SIG", "SSL_CLIENT_A_KEY", "SSL_SERVER_M_VERSION", "SSL_SERVER_M_SERIAL",
    "SSL_SERVER_V_START", "SSL_SERVER_V_END",
    "SSL_SERVER_S_DN", *(f"SSL_SERVER_S_DN_{x}" for x in _DN_PARTS),
    "SSL_SERVER_I_DN", *(f"SSL_SERVER_I_DN_{x}" for x in _DN_PARTS),
    "SSL_SERVER_A_SIG", "SSL_SERVER_A_KEY", "SSL_SESSION_ID", "SSL_SESSION_RESUMED",
    "SSL_SRP_USER", "SSL_SRP_USERINFO",
)


# --- certificates --------------------------------------------------------------------------
class CertInfo:
    """The variables of one certificate, computed once per certificate."""

    __slots__ = ("cert", "der", "_cache")

    def __init__(self, der: bytes) -> None:
        self.der = der
        self.cert = x509.load_der_x509_certificate(der)
        self._cache: dict[str, str | None] = {}

    def get(self, var: str) -> str | None:
        try:
            return self._cache[var]
        except KeyError:
            v = self._cache[var] = self._compute(var)
            return v

    def _compute(self, var: str) -> str | None:
        c = self.cert
        if var == "M_VERSION":
            return str(c.version.value + 1)
        if var == "M_SERIAL":
            return serial_hex(c.serial_number)
        if var == "V_START":
            return asn1_time(c.not_valid_before_utc.timestamp())
        if var == "V_END":
            return asn1_time(c.not_valid_after_utc.timestamp())
        if var == "V_REMAIN":
            diff = int(c.not_valid_after_utc.timestamp() - time.time())
            return str(diff // 86400 if diff > 0 else 0)
        if var == "S_DN":
            return oneline(c.subject)
        if var == "I_DN":
            return oneline(c.issuer)
        if var.startswith("S_DN_"):
            return dn_component(c.subject, var[5:])
        if var.startswith("I_DN_"):
            return dn_component(c.issuer, var[5:])
        if var == "A_SIG":
            return getattr(c.signature_algorithm_oid, "_name", None) or \
                c.signature_algorithm_oid.dotted_string
        if var == "A_KEY":
            oid = c.public_key_algorithm_oid
            return getattr(oid, "_name", None) or oid.dotted_string
        if var == "CERT":
            return c.public_bytes(Encoding.PEM).decode("ascii")
        if var.startswith("SAN_"):
            return self._san(var[4:])
        if var == "CERT_RFC4523_CEA":
            return (f'{{ serialNumber {c.serial_number}, issuer rdnSequence:'
                    f'"{c.issuer.rfc4514_string()}" }}')
        return None

    def _san(self, what: str) -> str | None:
        kind, _, idx = what.rpartition("_")
        if not idx.isdigit():
            return None
        n = int(idx)
        try:
            san = self.cert.extensions.get_extension_for_oid(
                ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        except x509.ExtensionNotFound:
            return None
        values: list[str]
        if kind == "DNS":
            values = san.get_values_for_type(x509.DNSName)
        elif kind == "Email":
            values = san.get_values_for_type(x509.RFC822Name)
        elif kind in ("OTHER_msUPN", "OTHER_dnsSRV"):
            want = _MS_UPN if kind == "OTHER_msUPN" else _DNS_SRV
            values = [_der_string(o.value) for o in san.get_values_for_type(x509.OtherName)
                      if o.type_id == want]
        else:
            return None
        return values[n] if n < len(values) else None

    def extension_values(self, oid: str) -> list[str]:
        """PeerExtList()/OID(): the values of the extensions with this OID (or name),
        rendered as X509V3_EXT_print does for the types OpenSSL knows."""
        want = EXTENSION_NAMES.get(oid, oid)
        out: list[str] = []
        for ext in self.cert.extensions:
            if ext.oid.dotted_string == want or getattr(ext.oid, "_name", None) == oid:
                out.append(ext_text(ext.value))
        return out


#: OpenSSL's short and long names of common extensions -> OID
EXTENSION_NAMES = {
    "subjectAltName": "2.5.29.17", "X509v3 Subject Alternative Name": "2.5.29.17",
    "issuerAltName": "2.5.29.18", "basicConstraints": "2.5.29.19",
    "X509v3 Basic Constraints": "2.5.29.19", "keyUsage": "2.5.29.15",
    "X509v3 Key Usage": "2.5.29.15", "extendedKeyUsage": "2.5.29.37",
    "X509v3 Extended Key Usage": "2.5.29.37", "subjectKeyIdentifier": "2.5.29.14",
    "authorityKeyIdentifier": "2.5.29.35", "nsComment": "2.16.840.1.113730.1.13",
    "Netscape Comment": "2.16.840.1.113730.1.13", "nsCertType": "2.16.840.1.113730.1.1",
}
_EKU_NAMES = {"1.3.6.1.5.5.7.3.1": "TLS Web Server Authentication",
              "1.3.6.1.5.5.7.3.2": "TLS Web Client Authentication",
              "1.3.6.1.5.5.7.3.3": "Code Signing", "1.3.6.1.5.5.7.3.4": "E-mail Protection",
              "1.3.6.1.5.5.7.3.8": "Time Stamping", "1.3.6.1.5.5.7.3.9": "OCSP Signing"}


def _general_name(g: Any) -> str:
    if isinstance(g, x509.DNSName):
        return f"DNS:{g.value}"
    if isinstance(g, x509.RFC822Name):
        return f"email:{g.value}"
    if isinstance(g, x509.IPAddress):
        return f"IP Address:{g.value}"
    if isinstance(g, x509.UniformResourceIdentifier):
        return f"URI:{g.value}"
    if isinstance(g, x509.DirectoryName):
        return f"DirName:{oneline(g.value)}"
    return "othername:<unsupported>"


def ext_text(val: Any) -> str:
    """X509V3_EXT_print of one extension value."""
    if isinstance(val, (x509.SubjectAlternativeName, x509.IssuerAlternativeName)):
        return ", ".join(_general_name(g) for g in val)
    if isinstance(val, x509.BasicConstraints):
        s = "CA:TRUE" if val.ca else "CA:FALSE"
        return s + (f", pathlen:{val.path_length}" if val.path_length is not None else "")
    if isinstance(val, x509.ExtendedKeyUsage):
        return ", ".join(_EKU_NAMES.get(o.dotted_string, o.dotted_string) for o in val)
    if isinstance(val, x509.KeyUsage):
        names = [("digital_signature", "Digital Signature"),
                 ("content_commitment", "Non Repudiation"),
                 ("key_encipherment", "Key Encipherment"),
                 ("data_encipherment", "Data Encipherment"), ("key_agreement", "Key Agreement"),
                 ("key_cert_sign", "Certificate Sign"), ("crl_sign", "CRL Sign")]
        return ", ".join(t for a, t in names if getattr(val, a))
    if isinstance(val, x509.SubjectKeyIdentifier):
        return ":".join(f"{b:02X}" for b in val.digest)
    raw = getattr(val, "value", None)
    if isinstance(raw, bytes):
        return _der_string(raw)
    return str(val)


def _der_string(raw: bytes) -> str:
    """The text of a DER UTF8String/IA5String/VisibleString/BMPString (else latin-1)."""
    if len(raw) >= 2 and raw[0] in (0x0C, 0x16, 0x1A, 0x1E, 0x13):
        ln = raw[1]
        off = 2
        if ln & 0x80:
            k = ln & 0x7F
            ln = int.from_bytes(raw[2:2 + k], "big")
            off = 2 + k
        body = raw[off:off + ln]
        if raw[0] == 0x1E:
            return body.decode("utf-16-be", "replace")
        return body.decode("utf-8", "replace")
    return raw.decode("latin-1")


@functools.lru_cache(maxsize=256)
def cert_info(der: bytes) -> CertInfo:
    return CertInfo(der)


def serial_hex(n: int) -> str:
    """i2a_ASN1_INTEGER: upper-case hex, two digits per byte."""
    neg = n < 0
    h = format(abs(n), "X")
    if len(h) % 2:
        h = "0" + h
    return ("-" if neg else "") + h


def asn1_time(ts: float) -> str:
    """ASN1_TIME_print: ``Mon DD HH:MM:SS YYYY GMT`` (day padded with a space)."""
    t = time.gmtime(ts)
    return f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:" \
           f"{t.tm_sec:02d} {t.tm_year} GMT"


def _escape_oneline(v: str) -> str:
    out = []
    for ch in v:
        o = ord(ch)
        if o < 0x20 or o > 0x7E:
            out.append("".join(f"\\x{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def oneline(name: x509.Name) -> str:
    """X509_NAME_oneline: ``/C=US/O=Example/CN=www.example.com``."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            sn = SHORT_NAMES.get(attr.oid.dotted_string, attr.oid.dotted_string)
            val = attr.value if isinstance(attr.value, str) else attr.value.decode("latin-1")
            parts.append(f"/{sn}={_escape_oneline(val)}")
    return "".join(parts)


def dn_component(name: x509.Name, what: str) -> str | None:
    """SSL_*_DN_x509[_n]: the n-th (default first) attribute of that type."""
    key, idx = what, 0
    base, _, n = what.rpartition("_")
    if base and n.isdigit():
        key, idx = base, int(n)
    oid = DN_COMPONENTS.get(key)
    if oid is None:
        return None
    attrs = name.get_attributes_for_oid(oid)
    if idx >= len(attrs):
        return None
    val = attrs[idx].value
    return val if isinstance(val, str) else val.decode("latin-1")


# --- ciphers --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _cipher_bits() -> dict[str, int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    return {c["name"]: int(c.get("alg_bits", 0)) for c in ctx.get_ciphers()}


# --- the lookup ----------------------------------------------------------------------------
def sslconn_of(c: Any) -> Any:
    """The TLS layer of a connection (featherd.modules.ssl.tls.TLSConnection) or None."""
    notes = getattr(c, "notes", None)
    return notes.get("ssl") if notes else None


def is_https(c: Any) -> bool:
    t = sslconn_of(c)
    return t is not None and t.sslobj is not None


def ssl_var_lookup(r: Request | None, name: str, c: Any = None) -> str:
    """The value of variable ``name`` for this request (or connection): "" when unknown."""
    if c is None and r is not None:
        c = r.connection
    v = _lookup(r, c, name)
    return "" if v is None else str(v)


def _lookup(r: Any, c: Any, var: str) -> str | None:
    result: str | None = None
    if r is not None:
        result = _request_var(r, var)
        if result is not None:
            return result
    if c is not None:
        t = sslconn_of(c)
        if var.startswith("SSL_") and len(var) > 4 and t is not None and t.sslobj is not None:
            return _ssl_var(t, var[4:])
        if var == "REMOTE_ADDR":
            return c.client_ip
        if var == "HTTPS":
            return "on" if t is not None and t.sslobj is not None else "off"
    if var.startswith("SSL_VERSION_"):
        return _version(var[12:])
    if var == "SERVER_SOFTWARE":
        return _server_software(r)
    if var == "API_VERSION":
        return MODULE_MAGIC_NUMBER
    if var.startswith("TIME"):
        return _time_var(var)
    if var.startswith("ENV:") and len(var) > 4:
        return os.environ.get(var[4:])
    return None


_HEADER_VARS = {"HTTP_USER_AGENT": "User-Agent", "HTTP_REFERER": "Referer",
                "HTTP_COOKIE": "Cookie", "HTTP_FORWARDED": "Forwarded", "HTTP_HOST": "Host",
                "HTTP_PROXY_CONNECTION": "Proxy-Connection", "HTTP_ACCEPT": "Accept"}


def _request_var(r: Any, var: str) -> str | None:
    first = var[:1]
    if first in "Hh":
        h = _HEADER_VARS.get(var)
        if h is not None:
            return r.headers_in.get(h)
        if var.startswith("HTTP:") and len(var) > 5:
            return r.headers_in.get(var[5:])
        return None
    if first in "Rr":
        if var == "REQUEST_METHOD":
            return r.method
        if var == "REQUEST_SCHEME":
            return r.server.server_scheme or ("https" if is_https(r.connection) else "http")
        if var == "REQUEST_URI":
            return r.uri
        if var == "REQUEST_FILENAME":
            return r.filename
        if var == "REMOTE_HOST":
            c = r.connection
            return c.remote_host or c.client_ip
        if var == "REMOTE_IDENT":
            return r.connection.remote_logname
        if var == "REMOTE_USER":
            return r.user
        return None
    if first in "Ss":
        if var.startswith("SSL"):
            return None
        if var == "SERVER_ADMIN":
            return r.server.server_admin
        if var == "SERVER_NAME":
            from featherd.core.vhost import server_name

            return server_name(r)
        if var == "SERVER_PORT":
            from featherd.core.vhost import server_port

            return str(server_port(r))
        if var == "SERVER_PROTOCOL":
            return r.protocol
        if var == "SCRIPT_FILENAME":
            return r.filename
        return None
    if var == "PATH_INFO":
        return r.path_info
    if var == "QUERY_STRING":
        return r.args
    if var == "IS_SUBREQ":
        return "true" if r.main is not None else "false"
    if var == "DOCUMENT_ROOT":
        return _document_root(r)
    if var == "AUTH_TYPE":
        return r.ap_auth_type
    if var == "THE_REQUEST":
        return r.the_request
    if var.startswith("ENV:") and len(var) > 4:
        v = r.notes.get(var[4:])
        if v is None:
            v = r.subprocess_env.get(var[4:])
        return v
    return None


def _document_root(r: Any) -> str | None:
    from featherd.core.handlers import document_root

    return document_root(r)


def _server_software(r: Any) -> str:
    from featherd.core.worker import server_banner

    if r is not None:
        return server_banner(r.tree)
    from featherd import SERVER_BASEVERSION

    return SERVER_BASEVERSION


def _version(what: str) -> str | None:
    if what == "INTERFACE":
        return VERSION_INTERFACE
    if what == "LIBRARY":
        return VERSION_LIBRARY
    if what == "PRODUCT":
        return None
    return None


def _time_var(var: str) -> str | None:
    t = time.localtime()
    return {"TIME_YEAR": f"{t.tm_year:04d}", "TIME_MON": f"{t.tm_mon:02d}",
            "TIME_DAY": f"{t.tm_mday:02d}", "TIME_HOUR": f"{t.tm_hour:02d}",
            "TIME_MIN": f"{t.tm_min:02d}", "TIME_SEC": f"{t.tm_sec:02d}",
            "TIME_WDAY": f"{(t.tm_wday + 1) % 7}",
            "TIME": time.strftime("%Y%m%d%H%M%S", t)}.get(var)


def _ssl_var(t: Any, var: str) -> str | None:
    """ssl_var_lookup_ssl: ``var`` without its SSL_ prefix."""
    obj = t.sslobj
    if var.startswith("VERSION_") and len(var) > 8:
        return _version(var[8:])
    if var == "PROTOCOL":
        return obj.version()
    if var == "SESSION_ID":
        return t.session_id()
    if var == "SESSION_RESUMED":
        return "Resumed" if obj.session_reused else "Initial"
    if var.startswith("CIPHER"):
        name, _, bits = obj.cipher() or ("", "", 0)
        rest = var[6:]
        if rest == "":
            return name
        if rest == "_EXPORT":
            return "true" if bits < 56 else "false"
        if rest == "_USEKEYSIZE":
            return str(bits)
        if rest == "_ALGKEYSIZE":
            return str(_cipher_bits().get(name, bits))
        return None
    if var.startswith("CLIENT_CERT_CHAIN_") and len(var) > 18:
        idx = var[18:]
        if not idx.isdigit():
            return None
        chain = t.client_chain()
        n = int(idx)
        return ssl.DER_cert_to_PEM_cert(chain[n]) if n < len(chain) else None
    if var == "CLIENT_VERIFY":
        return t.verify_status()
    if var.startswith("CLIENT_") and len(var) > 7:
        der = t.client_cert()
        return cert_info(der).get(var[7:]) if der else None
    if var.startswith("SERVER_") and len(var) > 7:
        der = t.server_cert()
        return cert_info(der).get(var[7:]) if der else None
    if var == "COMPRESS_METHOD":
        return obj.compression() or "NULL"
    if var == "SRP_USER":
        from featherd.modules.ssl.srp import username

        return username(t.sslp)
    if var == "SRP_USERINFO":
        from featherd.modules.ssl.srp import userinfo

        return userinfo(t.sslp)
    if var == "TLS_SNI":
        return t.sni
    if var == "SECURE_RENEG":
        return "true" if t.secure_reneg() else "false"
    if var in ("SRP_USER", "SRP_USERINFO"):
        return None
    return None


def peer_extensions(r: Any) -> Any:
    """For SSLRequire's OID()/PeerExtList(): values of the client cert's extensions."""
    def get(oid: str) -> list[str]:
        t = sslconn_of(r.connection)
        der = t.client_cert() if t is not None and t.sslobj is not None else None
        return cert_info(der).extension_values(oid) if der else []
    return get


# --- log formats -----------------------------------------------------------------------------
def _log_x(arg: str, esc: Escape) -> Getter:
    """%{VAR}x: any variable ssl_var_lookup knows ("-" when empty)."""
    def get(r: Any) -> str | None:
        v = ssl_var_lookup(r, arg)
        return esc(v) if v else None
    return get


_C_VARS = {"version": "SSL_PROTOCOL", "cipher": "SSL_CIPHER", "subjectdn": "SSL_CLIENT_S_DN",
           "clientcert": "SSL_CLIENT_S_DN", "issuerdn": "SSL_CLIENT_I_DN",
           "cacert": "SSL_CLIENT_I_DN"}


def _log_c(arg: str, esc: Escape) -> Getter:
    """%{name}c, the mod_ssl 1.x compatible names (ssl_var_log_handler_c)."""
    var = _C_VARS.get(arg)

    def get(r: Any) -> str | None:
        t = sslconn_of(r.connection)
        if t is None or t.sslobj is None:
            return None
        if var is not None:
            v = ssl_var_lookup(r, var)
        elif arg == "errcode":
            v = "-"
        elif arg == "errstr":
            v = t.verify_error or ""
        else:
            v = ""
        return esc(v) if v else None
    return get


LOG_HANDLERS: dict[str, LogHandler] = {"x": LogHandler(_log_x), "c": LogHandler(_log_c)}

__all__ = ["FIXUP_VARS", "LOG_HANDLERS", "CertInfo", "cert_info", "is_https", "oneline",
           "ssl_var_lookup"]
