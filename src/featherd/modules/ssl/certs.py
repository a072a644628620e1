"""A server's certificates and client verification at start-up (ssl_engine_init.c's
ssl_init_server_certs, ssl_check_public_cert, ssl_init_ctx_verify and
ssl_init_ctx_crl): each SSLCertificateFile with its key (through the pass phrase
dialog) and the chain, the warnings about the certificate, the CAs, CRLs and CA names
for client authentication and the verify level.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import time
from typing import TYPE_CHECKING, Any

from cryptography import x509

from featherd.config.merge import UNSET
from featherd.core.walk import fn_match
from featherd.errors import ConfigError
from featherd.log import WARN
from featherd.modules.ssl import libssl, pphrase
from featherd.modules.ssl.config import SSLServerConfig, v

if TYPE_CHECKING:
    from featherd.modules.ssl.init import ServerSSL, SSLState


def ssl_error_text(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    lib = getattr(e, "library", None)
    text = str(e.args[1] if isinstance(e, ssl.SSLError) and len(e.args) > 1 else e)
    if reason and lib:
        return f"{lib} routines: {reason.lower().replace('_', ' ')}"
    return text


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def load_certificates(srv: ServerSSL, sc: SSLServerConfig, dialog: pphrase.Dialog,
                      state: SSLState) -> None:
    """ssl_init_server_certs: every SSLCertificateFile with its key, the chain after it."""
    certs = list(v(sc.cert_files, []))
    keys = list(v(sc.key_files, []))
    vid = srv.vhost_id
    if not certs:
        raise ConfigError(f"Server should be SSL-aware but has no certificate configured "
                          f"[Hint: SSLCertificateFile] ({vid})")
    if len(keys) > len(certs):
        raise ConfigError(f"More SSLCertificateKeyFile directives than SSLCertificateFile "
                          f"directives ({vid})")
    chain = _read(sc.chain_file) if sc.chain_file is not UNSET else b""
    for i, certfile in enumerate(certs):
        keyfile = keys[i] if i < len(keys) else None
        data = _read(certfile)
        if b"-----BEGIN" not in data:
            data = ssl.DER_cert_to_PEM_cert(data).encode()
        try:
            leaf = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise ConfigError(f"Init: Unable to read server certificate from file {certfile}"
                              f" ({vid})") from None
        key_src = _read(keyfile) if keyfile else data
        pem = pphrase.extract_key_pem(key_src) if b"-----BEGIN" in key_src else None
        if pem is None:
            if keyfile is None:
                raise ConfigError(f"Init: Private key not found in {certfile} and no "
                                  f"SSLCertificateKeyFile given ({vid})")
            pem = key_src
        phrase = pphrase.private_key_phrase(keyfile or certfile, pem, vid, dialog, i)
        if not _key_matches(pem, phrase, leaf):
            raise ConfigError(f"Certificate and private key {vid}:{i} from {certfile} and "
                              f"{keyfile or certfile} do not match")
        combined = data.rstrip(b"\n") + b"\n" + chain
        with _tempfile(combined) as cpath, _tempfile(pem) as kpath:
            try:
                srv.ctx.load_cert_chain(cpath, kpath, password=phrase)
            except ssl.SSLError as e:
                if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e):
                    raise ConfigError(
                        f"Certificate and private key {vid}:{i} from {certfile} and "
                        f"{keyfile or certfile} do not match") from None
                raise ConfigError(f"Unable to configure server certificate and private key "
                                  f"{vid}:{i} ({certfile}, {keyfile or certfile})\n"
                                  f"SSL Library Error: {ssl_error_text(e)}") from None
        srv.certs.append(leaf.public_bytes(_DER))
        _check_cert(leaf, srv, i, state)


def _key_matches(pem: bytes, phrase: bytes | None, cert: x509.Certificate) -> bool:
    """X509_check_private_key: the key's public half is the certificate's."""
    from cryptography.hazmat.primitives import serialization as ser

    try:
        key = ser.load_pem_private_key(pem, password=phrase)
    except (ValueError, TypeError):
        return True            # let OpenSSL say what is wrong with it
    fmt = (ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    return bool(key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt))


try:
    from cryptography.hazmat.primitives.serialization import Encoding as _Enc

    _DER = _Enc.DER
except ImportError:   # pragma: no cover
    _DER = None  # type: ignore[assignment]


@contextlib.contextmanager
def _tempfile(data: bytes) -> Any:
    fd, path = tempfile.mkstemp(prefix="featherd-ssl-")
    try:
        os.write(fd, data)
        os.close(fd)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _check_cert(cert: x509.Certificate, srv: ServerSSL, i: int, state: SSLState) -> None:
    """ssl_check_public_cert: the warnings Apache gives about a server certificate."""
    vid = srv.vhost_id
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            state.log(WARN, f"{vid}:{i} server certificate is a CA certificate "
                            "(BasicConstraints: CA == TRUE !?)")
    except x509.ExtensionNotFound:
        pass
    name = (srv.server.server_hostname or "").lower()
    names = [a.value.lower() for a in
             cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
             if isinstance(a.value, str)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [n.lower() for n in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if name and not any(n == name or (n.startswith("*.") and fn_match(n, name, False))
                        for n in names):
        state.log(WARN, f"{vid}:{i} server certificate does NOT include an ID which "
                        "matches the server name")
    if cert.not_valid_after_utc.timestamp() < time.time():
        state.log(WARN, f"{vid}:{i} server certificate has expired")


def configure_verify(srv: ServerSSL, sc: SSLServerConfig, state: SSLState) -> None:
    """ssl_init_ctx_verify + ssl_init_ctx_crl: CAs, CRLs, CA names, level and depth."""
    ctx = srv.ctx
    vid = srv.vhost_id
    cafile = v(sc.ca_file, None)
    capath = v(sc.ca_path, None)
    if cafile or capath:
        try:
            ctx.load_verify_locations(cafile=cafile, capath=capath)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(f"Unable to configure verify locations for client "
                              f"authentication ({vid})\nSSL Library Error: "
                              f"{ssl_error_text(e)}") from None
    crlfile = v(sc.crl_file, None)
    crlpath = v(sc.crl_path, None)
    if crlfile or crlpath:
        try:
            ctx.load_verify_locations(cafile=crlfile, capath=crlpath)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(f"Unable to configure X.509 CRL storage for certificate "
                              f"revocation ({vid})\nSSL Library Error: "
                              f"{ssl_error_text(e)}") from None
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
        srv.crl = True
    dn_files = [f for f in (v(sc.ca_dn_file, None),) if f] or [f for f in (cafile,) if f]
    dn_dirs = [d for d in (v(sc.ca_dn_path, None),) if d] or [d for d in (capath,) if d]
    if sc.ca_dn_file is not UNSET or sc.ca_dn_path is not UNSET:
        dn_files = [f for f in (v(sc.ca_dn_file, None),) if f]
        dn_dirs = [d for d in (v(sc.ca_dn_path, None),) if d]
    if dn_files or dn_dirs:
        srv.ca_names = libssl.set_client_ca_list(ctx, dn_files, dn_dirs)
    level = srv.verify
    if level != "none" and not (cafile or capath) and level != "optional_no_ca":
        state.log(WARN, "Init: Oops, you want to request client authentication, but no CAs "
                        "are known for verification!?  [Hint: SSLCACertificate*]")
    mode = verify_mode_bits(level)
    if libssl.AVAILABLE:
        libssl.ctx_set_verify(ctx, mode)
    elif level == "require":
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif level != "none":
        ctx.verify_mode = ssl.CERT_OPTIONAL


def verify_mode_bits(level: str) -> int:
    if level == "require":
        return libssl.SSL_VERIFY_PEER | libssl.SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    if level in ("optional", "optional_no_ca"):
        return libssl.SSL_VERIFY_PEER
    return libssl.SSL_VERIFY_NONE


__all__ = ["configure_verify", "load_certificates", "ssl_error_text", "verify_mode_bits"]
