"""mod_ldap's connection pool (uldap_connection_find / _close / _open / _unbind):
pooled ``ldap3`` sessions, each held by one request at a time, with their TLS set-up,
and the per-process state (pool, caches, thread pool) that a fork starts afresh."""

from __future__ import annotations

import os
import ssl
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from featherd.modules.aaa.ldap_cache import CacheState
from featherd.modules.aaa.mod_ldap.codes import (
    LDAP_CONNECT_ERROR,
    LDAP_FILTER_ERROR,
    LDAP_SERVER_DOWN,
    LDAP_SUCCESS,
    NETSCAPE_TYPES,
    NONE,
    SSL_MODE,
    STARTTLS,
    is_server_down,
)
from featherd.modules.aaa.mod_ldap.config import LdapDirConfig, _get, ldap, state

if TYPE_CHECKING:
    from featherd.core.request import Request


# --- per-process state ------------------------------------------------------------------------
class _Proc:
    """What one worker process holds: its caches, connection pool and thread pool."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cache: CacheState | None = None
        self.cache_key: Any = None
        self.connections: list[Connection] = []
        self.executor: ThreadPoolExecutor | None = None
        self.tmpdir: str | None = None


_PROC = _Proc()


def _proc() -> _Proc:
    global _PROC
    if _PROC.pid != os.getpid():          # forked: nothing is shared with the parent
        _PROC = _Proc()
    return _PROC


# --- connections ------------------------------------------------------------------------------
class Connection:
    """util_ldap_connection_t: one pooled LDAP session and the request that holds it."""

    def __init__(self, hosts: str, port: int, binddn: str | None, bindpw: str | None,
                 deref: str, secure: int, certs: tuple, timeout: int, verify: bool,
                 global_certs: tuple) -> None:
        self.hosts, self.port = hosts, port
        self.binddn, self.bindpw = binddn, bindpw
        self.deref, self.secure, self.certs = deref, secure, certs
        self.timeout, self.verify, self.global_certs = timeout, verify, global_certs
        self.ldap: Any = None        # the ldap3 Connection
        self.bound = False
        self.in_use = False
        self.reason: str = ""

    def key(self) -> tuple:
        return (self.hosts, self.port, self.deref, self.secure, self.certs)

    # -- blocking parts, run in the thread pool ---------------------------------------------
    def _tls(self) -> Any:
        import ldap3

        certs = self.certs or self.global_certs
        for t, _, _ in certs:
            if t in NETSCAPE_TYPES:
                raise _SetupError(f"LDAP: certificate type {t} is only supported by the "
                                  "Netscape/Mozilla LDAP SDK")
        ca_pem = ""
        cert_file = key_file = password = None
        for t, path, pw in certs:
            with open(path, "rb") as f:
                data = f.read()
            if t == "CA_DER":
                ca_pem += ssl.DER_cert_to_PEM_cert(data)
            elif t == "CA_BASE64":
                ca_pem += data.decode("ascii", "replace")
            elif t in ("CERT_BASE64", "KEY_BASE64"):
                if t == "CERT_BASE64":
                    cert_file = path
                else:
                    key_file, password = path, pw
            elif t == "CERT_DER":
                cert_file = _write_tmp(ssl.DER_cert_to_PEM_cert(data).encode())
            elif t == "KEY_DER":
                from cryptography.hazmat.primitives import serialization

                key = serialization.load_der_private_key(
                    data, pw.encode() if pw else None)
                key_file = _write_tmp(key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
            elif t in ("CERT_PFX", "KEY_PFX"):
                from cryptography.hazmat.primitives import serialization
                from cryptography.hazmat.primitives.serialization import pkcs12

                k, c, _ = pkcs12.load_key_and_certificates(data, pw.encode() if pw else None)
                if c is not None and t == "CERT_PFX":
                    cert_file = _write_tmp(c.public_bytes(serialization.Encoding.PEM))
                if k is not None:
                    key_file = _write_tmp(k.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()))
        kw: dict[str, Any] = {"validate": ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE}
        if ca_pem:
            kw["ca_certs_data"] = ca_pem
        if cert_file:
            kw["local_certificate_file"] = cert_file
        if key_file:
            kw["local_private_key_file"] = key_file
            if password:
                kw["local_private_key_password"] = password
        return ldap3.Tls(**kw)

    def _init(self) -> int:
        """uldap_connection_init + open: try each host in turn."""
        import ldap3
        from ldap3.core.exceptions import LDAPException

        tls = self._tls() if self.secure != NONE else None
        last = LDAP_SERVER_DOWN
        for h in self.hosts.split():
            host, port = h, self.port
            if h.startswith("[") and "]" in h:
                host, _, rest = h[1:].partition("]")
                if rest.startswith(":") and rest[1:].isdigit():
                    port = int(rest[1:])
            elif h.count(":") == 1:
                host, _, p = h.partition(":")
                if p.isdigit():
                    port = int(p)
            server = ldap3.Server(host, port=port, use_ssl=self.secure == SSL_MODE, tls=tls,
                                  get_info=ldap3.NONE,
                                  connect_timeout=self.timeout if self.timeout > 0 else 10)
            conn = ldap3.Connection(server, client_strategy=ldap3.SYNC, raise_exceptions=False,
                                    receive_timeout=60, auto_referrals=True, read_only=True,
                                    check_names=False)
            try:
                conn.open()
                if self.secure == STARTTLS and not conn.start_tls():
                    conn.unbind()
                    self.reason = "LDAP: Could not start TLS"
                    last = LDAP_CONNECT_ERROR
                    continue
            except LDAPException as e:
                last = LDAP_CONNECT_ERROR if isinstance(e, ssl.SSLError) or \
                    "ssl" in type(e).__name__.lower() or "tls" in str(e).lower() \
                    else LDAP_SERVER_DOWN
                self.reason = "LDAP: ldap initialization failed"
                continue
            self.ldap = conn
            return LDAP_SUCCESS
        return last

    def unbind(self) -> None:
        """uldap_connection_unbind: drop the session (back to a known state)."""
        c, self.ldap, self.bound = self.ldap, None, False
        if c is not None:
            try:
                c.unbind()
            except Exception:   # noqa: BLE001 - the socket may already be gone
                pass

    def open(self) -> int:
        """uldap_connection_open: connect and bind with the configured credentials."""
        from ldap3.core.exceptions import LDAPException

        if self.bound and self.ldap is not None:
            self.reason = "LDAP: connection open successful (already bound)"
            return LDAP_SUCCESS
        for _ in range(2):
            if self.ldap is None:
                try:
                    rc = self._init()
                except _SetupError as e:
                    self.reason = str(e)
                    return LDAP_CONNECT_ERROR
                except (OSError, ValueError, LDAPException) as e:
                    self.reason = f"LDAP: ldap initialization failed ({e})"
                    return LDAP_CONNECT_ERROR
                if rc != LDAP_SUCCESS:
                    return rc
            try:
                self.ldap.user = self.binddn or ""
                self.ldap.password = self.bindpw or ""
                self.ldap.authentication = "SIMPLE" if self.binddn else "ANONYMOUS"
                self.ldap.bind()
                rc = int(self.ldap.result.get("result", LDAP_SERVER_DOWN))
            except LDAPException:
                rc = LDAP_SERVER_DOWN
            if not is_server_down(rc):
                break
            self.unbind()
        if rc != LDAP_SUCCESS:
            self.unbind()
            self.reason = "LDAP: bind failed"
        else:
            self.bound = True
            self.reason = "LDAP: connection open successful"
        return rc

    def call(self, fn: str, *args: Any, **kw: Any) -> tuple[int, Any]:
        """One operation on the open session; (result code, response)."""
        from ldap3.core import exceptions as ex

        try:
            getattr(self.ldap, fn)(*args, **kw)
        except ex.LDAPInvalidFilterError:
            return LDAP_FILTER_ERROR, None
        except ex.LDAPInvalidDnError:
            return 34, None
        except (ex.LDAPCommunicationError, ex.LDAPSocketOpenError, ex.LDAPSocketReceiveError,
                ex.LDAPSocketSendError, ex.LDAPSessionTerminatedByServerError):
            return LDAP_SERVER_DOWN, None
        except ex.LDAPException:
            return -9, None
        res = self.ldap.result or {}
        return int(res.get("result", LDAP_SERVER_DOWN)), self.ldap.response


class _SetupError(Exception):
    pass


def _write_tmp(data: bytes) -> str:
    p = _proc()
    if p.tmpdir is None:
        p.tmpdir = tempfile.mkdtemp(prefix="featherd-ldap-")
    fd, path = tempfile.mkstemp(dir=p.tmpdir, suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def connection_find(r: Request, hosts: str, binddn: str | None, bindpw: str | None,
                    deref: str, secure: int) -> Connection:
    """uldap_connection_find: a free pooled connection with these parameters (rebound if
    only the credentials differ), else a new one. The caller must connection_close().
    A host without a port of its own gets 636 under SSL, else 389."""
    st = state(r)
    vst = r.server.module_config[ldap.index]
    if secure < NONE:
        secure = _get(vst.secure, _get(st.secure, NONE))
    port = 636 if secure == SSL_MODE else 389
    dconf: LdapDirConfig = r.per_dir_config[ldap.index]
    certs = tuple(_get(dconf.client_certs, []))
    timeout = int(_get(st.connection_timeout, 10))
    verify = bool(_get(st.verify_svr_cert, True))
    gcerts = tuple(_get(st.global_certs, []))
    pool = _proc().connections
    want = (hosts, port, deref, secure, certs)
    for c in pool:
        if not c.in_use and c.key() == want and c.binddn == binddn and c.bindpw == bindpw \
                and (c.timeout, c.verify, c.global_certs) == (timeout, verify, gcerts):
            c.in_use = True
            return c
    for c in pool:
        if not c.in_use and c.key() == want and \
                (c.timeout, c.verify, c.global_certs) == (timeout, verify, gcerts):
            c.bound = False
            c.binddn, c.bindpw = binddn, bindpw
            c.in_use = True
            return c
    c = Connection(hosts, port, binddn, bindpw, deref, secure, certs, timeout, verify, gcerts)
    c.in_use = True
    pool.append(c)
    return c


def connection_close(ldc: Connection | None) -> None:
    """uldap_connection_close: the connection is free for the next request."""
    if ldc is not None:
        ldc.in_use = False
