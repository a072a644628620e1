"""A real OpenLDAP slapd for the LDAP tests: started in a temporary directory on free
loopback ports (ldap:// and ldaps://, STARTTLS too) with a generated slapd.conf and a
small directory loaded with slapadd, stopped by its PID.

The directory (suffix dc=example,dc=com)::

    ou=People     alice ({SSHA} alicepw), bob (plain bobpw), carol ({SSHA} carolpw),
                  jürgen (jpw; a non-ASCII uid)
      ou=Staff    erin ({SSHA} erinpw)                      (a nested OU)
    ou=Hidden     hank (hankpw): only cn=reader (readerpw) may search there
    ou=Aliases    uid=alice alias of alice's entry
    ou=Twins      two entries with uid=twin
    ou=Groups     admins (groupOfNames: alice), staff (groupOfUniqueNames: bob, erin),
                  devs (posixGroup: memberUid carol, bob)

``slapd.ops()`` counts the operations slapd logged (stats level), so a test can tell
whether a request reached the server or was answered from featherd's cache.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA = "/etc/ldap/schema"
MODULES = "/usr/lib/ldap"
BASE = "dc=example,dc=com"

PASSWORDS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "erin": "erinpw",
             "hank": "hankpw", "twin": "twinpw", "jürgen": "jpw"}


def available() -> bool:
    return all(os.path.exists(p) for p in (SLAPD, SLAPADD, f"{SCHEMA}/core.schema",
                                           f"{MODULES}/back_mdb.so"))


SKIP_REASON = "OpenLDAP slapd (package slapd) is not installed"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ssha(password: str, salt: bytes = b"s4lt!") -> str:
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _person(uid: str, ou: str, cn: str, sn: str, pw: str, extra: str = "") -> str:
    return (f"dn: uid={uid},{ou}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\n"
            f"sn: {sn}\nuserPassword: {pw}\n{extra}\n")


def directory_ldif() -> str:
    people = f"ou=People,{BASE}"
    return "".join([
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        "o: Example\n\n",
        f"dn: cn=reader,{BASE}\nobjectClass: organizationalRole\n"
        f"objectClass: simpleSecurityObject\ncn: reader\nuserPassword: readerpw\n\n",
        *(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
          for ou in ("People", "Hidden", "Aliases", "Twins", "Groups")),
        f"dn: ou=Staff,{people}\nobjectClass: organizationalUnit\nou: Staff\n\n",
        _person("alice", people, "Alice Smith", "Smith", ssha("alicepw"),
                "cn: Babs\nmail: alice@example.com\nemployeeType: active\n"
                "telephoneNumber: +1 555 0100\ndepartmentNumber: engineering\n"),
        _person("bob", people, "Bob Jones", "Jones", "bobpw",
                "mail: bob@example.com\nemployeeType: contractor\nmobile: +1 555 0199\n"
                "departmentNumber: marketing\nl: San Jose\n"),
        _person("carol", people, "Carol White", "White", ssha("carolpw"),
                "mail: carol@example.com\nemployeeType: active\n"),
        f"dn:: {base64.b64encode(f'uid=jürgen,{people}'.encode()).decode()}\n"
        "objectClass: inetOrgPerson\n"
        f"uid:: {base64.b64encode('jürgen'.encode()).decode()}\ncn: Juergen\nsn: J\n"
        "userPassword: jpw\n\n",
        _person("erin", f"ou=Staff,{people}", "Erin Black", "Black", ssha("erinpw"),
                "mail: erin@example.com\n"),
        _person("hank", f"ou=Hidden,{BASE}", "Hank Hill", "Hill", "hankpw"),
        _person("twin", f"ou=Twins,{BASE}", "Twin One", "One", "twinpw"),
        f"dn: cn=twin2,ou=Twins,{BASE}\nobjectClass: inetOrgPerson\nuid: twin\n"
        f"cn: twin2\nsn: Two\nuserPassword: twinpw\n\n",
        f"dn: uid=alice,ou=Aliases,{BASE}\nobjectClass: alias\n"
        f"objectClass: extensibleObject\nuid: alice\n"
        f"aliasedObjectName: uid=alice,{people}\n\n",
        f"dn: cn=admins,ou=Groups,{BASE}\nobjectClass: groupOfNames\ncn: admins\n"
        f"member: uid=alice,{people}\n\n",
        f"dn: cn=staff,ou=Groups,{BASE}\nobjectClass: groupOfUniqueNames\ncn: staff\n"
        f"uniqueMember: uid=bob,{people}\nuniqueMember: uid=erin,ou=Staff,{people}\n\n",
        f"dn: cn=devs,ou=Groups,{BASE}\nobjectClass: posixGroup\ncn: devs\n"
        "gidNumber: 5000\nmemberUid: carol\nmemberUid: bob\n\n",
    ])


def _conf(d: Path, mtls: bool) -> str:
    tls_verify = "demand" if mtls else "allow"
    return f"""\
include {SCHEMA}/core.schema
include {SCHEMA}/cosine.schema
include {SCHEMA}/nis.schema
include {SCHEMA}/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath {MODULES}
moduleload back_mdb
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
TLSVerifyClient {tls_verify}
database mdb
maxsize 10485760
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
rootpw adminpw
directory {d}/db
access to attrs=userPassword
    by anonymous auth
    by self read
    by * none
access to dn.subtree="ou=Hidden,{BASE}"
    by dn.exact="cn=reader,{BASE}" read
    by anonymous auth
    by * none
access to * by * read
"""


def make_pki(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate
    (PEM and DER), written into ``d``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject: str, key: object, issuer: str, issuer_key: object, ca: bool,
             san: list[x509.GeneralName] | None = None) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(key.public_key())  # type: ignore[attr-defined]
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("featherd test LDAP CA", ca_key, "featherd test LDAP CA", ca_key, True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = cert("localhost", srv_key, "featherd test LDAP CA", ca_key, False,
               [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cli_key = ec.generate_private_key(ec.SECP256R1())
    cli = cert("featherd client", cli_key, "featherd test LDAP CA", ca_key, False)
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    pkcs8, nocrypt = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "ca.der").write_bytes(ca.public_bytes(der))
    (d / "server.pem").write_bytes(srv.public_bytes(pem))
    (d / "server.key").write_bytes(srv_key.private_bytes(pem, pkcs8, nocrypt))
    (d / "client.pem").write_bytes(cli.public_bytes(pem))
    (d / "client.der").write_bytes(cli.public_bytes(der))
    (d / "client.key").write_bytes(cli_key.private_bytes(pem, pkcs8, nocrypt))
    (d / "client-key.der").write_bytes(cli_key.private_bytes(der, pkcs8, nocrypt))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = cert("another CA", other_key, "another CA", other_key, True)
    (d / "other-ca.pem").write_bytes(other.public_bytes(pem))


class Slapd:
    """One slapd process: ``url``, ``ldaps_url``, ``ops()``, ``stop()``."""

    def __init__(self, mtls: bool = False, pki_dir: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="featherd-slapd-"))
        (self.dir / "db").mkdir()
        if pki_dir is None:
            make_pki(self.dir)
        else:
            for f in pki_dir.iterdir():
                if f.is_file() and f.suffix in (".pem", ".der", ".key"):
                    shutil.copy(f, self.dir / f.name)
        self.pki = self.dir
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(_conf(self.dir, mtls))
        (self.dir / "data.ldif").write_text(directory_ldif())
        subprocess.run([SLAPADD, "-f", str(self.conf), "-l", str(self.dir / "data.ldif")],
                       check=True, capture_output=True)
        self.port = _free_port()
        self.ldaps_port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.log_path = self.dir / "slapd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "ab")
        # -d 256: stay in the foreground and log every operation (stats) to stderr
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-d", "256",
             "-h", f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.ldaps_port}/"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("slapd exited: " + self.log_path.read_text(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("slapd did not start listening")

    def ops(self, kind: str = "") -> int:
        """How many operations slapd has logged (``kind``: "SRCH", "BIND", "CMP", ...)."""
        text = self.log_path.read_text(errors="replace")
        n = 0
        for m in re.finditer(r" op=\d+ (SRCH|BIND|CMP|EXT) (?:base|dn|oid)=", text):
            if not kind or m.group(1) == kind:
                n += 1
        return n

    def stop(self) -> None:
        """Stop slapd by its PID (the data stays: start() brings it back)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
