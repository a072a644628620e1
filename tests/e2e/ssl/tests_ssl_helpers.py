"""Helpers of the mod_ssl end-to-end tests: a small PKI made with featherd-ssl's
functions, featherd configurations with SSL vhosts, and TLS clients."""

from __future__ import annotations

import socket
import ssl
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from featherd_testlib import SRC, free_port

from featherd.modules.ssl import certtool as ct


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Issued:
    cert: Path
    key: Path
    obj: x509.Certificate


@dataclass
class PKI:
    """A root CA, an intermediate CA, server and client certificates, a CRL."""

    root: Path
    files: dict[str, Issued] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.root / name)

    def __getitem__(self, name: str) -> Issued:
        return self.files[name]


def _write(root: Path, name: str, cert: x509.Certificate, key: Any,
           phrase: bytes | None = None) -> Issued:
    c = root / f"{name}.crt"
    k = root / f"{name}.key"
    c.write_bytes(_pem(cert))
    ct.write_private(k, ct.key_pem(key, phrase))
    return Issued(c, k, cert)


def make_pki(root: Path) -> PKI:
    root.mkdir(parents=True, exist_ok=True)
    pki = PKI(root)
    ca_key = ct.generate_key("ec")
    ca = ct.self_signed(ca_key, ct.parse_subject("/C=US/O=Snake Oil, Ltd./CN=Test Root CA"),
                        days=30, ca=True)
    pki.files["ca"] = _write(root, "ca", ca, ca_key)
    im_key = ct.generate_key("ec")
    im = ct.sign_csr(ct.make_csr(im_key, ct.parse_subject("/O=Snake Oil, Ltd./CN=Test "
                                                          "Intermediate CA")),
                     ca, ca_key, days=30, is_ca=True)
    pki.files["inter"] = _write(root, "inter", im, im_key)

    def issue(name: str, subj: str, san: str | None = None, by: str = "ca",
              kind: str = "ec", phrase: bytes | None = None) -> Issued:
        key = ct.generate_key(kind, 2048)
        issuer = pki.files[by]
        ikey = ct.load_key(issuer.key.read_bytes())
        cert = ct.sign_csr(ct.make_csr(key, ct.parse_subject(subj), ct.parse_san(san)),
                           issuer.obj, ikey, days=30)
        out = _write(root, name, cert, key, phrase)
        pki.files[name] = out
        return out

    issue("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", kind="rsa")
    issue("server_b", "/CN=b.example", "DNS:b.example,DNS:*.b.example")
    issue("server_im", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", by="inter")
    issue("alice", "/C=US/ST=CA/O=Snake Oil, Ltd./OU=Staff/CN=alice/emailAddress=alice@"
                   "example.com", "email:alice@example.com,DNS:alice.example")
    issue("bob", "/C=DE/O=Other Org/OU=Dev/CN=bob", by="inter")
    issue("dave", "/C=DE/O=Other Org/OU=Dev/CN=dave")
    issue("revoked", "/O=Snake Oil, Ltd./OU=Staff/CN=carol")
    mal_key = ct.generate_key("ec")
    mal = ct.self_signed(mal_key, ct.parse_subject("/O=Evil/CN=mallory"), days=30)
    pki.files["mallory"] = _write(root, "mallory", mal, mal_key)
    # a CA file with the chain (intermediate then root), and the CRL
    (root / "chain.pem").write_bytes(_pem(im))
    (root / "ca-bundle.pem").write_bytes(_pem(ca) + _pem(im))
    crl = ct.make_crl(ca, ca_key, [(pki["revoked"].obj.serial_number, time.time())])
    (root / "ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return pki


# --- configurations -------------------------------------------------------------------------
def ssl_conf(http_port: int, https_port: int, vhost: str = "", extra: str = "",
             log_format: str | None = None) -> str:
    """A server with a plain port and one SSL vhost (@ROOT@ is the server root)."""
    fmt = log_format or ('%h %u \\"%r\\" %>s %{SSL_PROTOCOL}x %{SSL_CIPHER}x '
                         '%{SSL_CLIENT_S_DN_CN}x %{version}c %{HTTPS}x')
    return textwrap.dedent(f"""\
        Listen 127.0.0.1:{http_port}
        Listen 127.0.0.1:{https_port} https
        ServerName localhost
        ServerAdmin admin@localhost
        DocumentRoot htdocs
        ErrorLog logs/error_log
        LogLevel debug
        PidFile logs/httpd.pid
        TypesConfig {SRC}/featherd/data/mime.types
        LogFormat "{fmt}" ssl
        CustomLog logs/access_log ssl
        """) + textwrap.dedent(extra) + textwrap.dedent(f"""\
        <VirtualHost 127.0.0.1:{https_port}>
            ServerName localhost
            SSLEngine on
        """) + textwrap.indent(textwrap.dedent(vhost), "    ") + "</VirtualHost>\n"


def cert_lines(pki: PKI, name: str = "server") -> str:
    return (f"SSLCertificateFile {pki[name].cert}\n"
            f"SSLCertificateKeyFile {pki[name].key}\n")


# --- clients -----------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    version: str
    cipher: str
    peer_der: bytes
    reused: bool
    raw: bytes


def client_context(pki: PKI | None = None, cert: str | None = None,
                   version: ssl.TLSVersion | None = None, pha: bool = False,
                   ciphers: str | None = None, verify: bool = False,
                   cafile: str | None = None, tickets: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(cafile=cafile or (pki.path("ca.crt") if pki else None))
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None and pki is not None:
        ctx.load_cert_chain(str(pki[cert].cert), str(pki[cert].key))
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if pha:
        ctx.post_handshake_auth = True
    if ciphers:
        ctx.set_ciphers(ciphers)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def https(port: int, path: str = "/", host: str = "localhost", sni: str | None = "",
          ctx: ssl.SSLContext | None = None, session: Any = None, method: str = "GET",
          headers: dict[str, str] | None = None, body: bytes = b"",
          timeout: float = 5.0) -> tuple[Response, Any]:
    """One request over a new TLS connection; (response, session)."""
    ctx = ctx or client_context()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    server_hostname = host if sni == "" else sni
    s = ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
    try:
        hdrs = {"Host": host, "Connection": "close", **(headers or {})}
        if body:
            hdrs["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n"
                                                        for k, v in hdrs.items()) + "\r\n"
        s.sendall(head.encode("latin-1") + body)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
        resp = parse_response(data, s)
        return resp, s.session
    finally:
        s.close()


def parse_response(data: bytes, s: Any = None) -> Response:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    version = s.version() if s is not None else ""
    cipher = (s.cipher() or ("",))[0] if s is not None else ""
    der = s.getpeercert(binary_form=True) if s is not None else b""
    reused = bool(s.session_reused) if s is not None else False
    return Response(status, headers, body, version or "", cipher, der or b"", reused, data)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        line, _, rest = data.partition(b"\r\n")
        n = int(line.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2:]
    return out


def peer_cn(resp: Response) -> str:
    cert = x509.load_der_x509_certificate(resp.peer_der)
    return str(cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value)


def s_client(port: int, *args: str, stdin: bytes = b"", timeout: float = 10) -> str:
    """openssl s_client's output (stdout + stderr)."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input=stdin, capture_output=True, timeout=timeout)
    return (p.stdout + p.stderr).decode("latin-1")


def wait_log(srv: Any, text: str | tuple[str, ...], name: str = "access_log",
             wait: float = 3.0) -> str:
    """The log once it contains ``text`` (each of them, for a tuple): logs are flushed on
    a timer, by each worker process for the requests it served."""
    texts = (text,) if isinstance(text, str) else text
    p = srv.root / "logs" / name
    deadline = time.monotonic() + wait
    content = ""
    while time.monotonic() < deadline:
        content = p.read_text() if p.exists() else ""
        if all(t in content for t in texts):
            return content
        time.sleep(0.05)
    return content


__all__ = ["PKI", "Response", "cert_lines", "client_context", "free_port", "https",
           "make_pki", "parse_response", "peer_cn", "s_client", "ssl_conf", "wait_log"]
