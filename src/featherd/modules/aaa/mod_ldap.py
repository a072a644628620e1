"""mod_ldap (util_ldap.c): LDAP connection pooling and result caching for
mod_authnz_ldap, the LDAPTrusted* SSL/TLS settings and the ``ldap-status`` handler.

LDAP calls go through the pure-Python ``ldap3`` library. They block, so each one runs
in a small thread pool (``loop.run_in_executor``) while the worker's event loop goes
on; a pooled connection belongs to one request at a time (uldap_connection_find /
uldap_connection_close). The caches (see :mod:`ldap_cache`) live in each worker's
memory and are only touched from the event loop thread.

Result codes are OpenLDAP's (LDAP_SUCCESS 0, LDAP_COMPARE_TRUE 6, LDAP_SERVER_DOWN -1
...), and ``ldc.reason`` carries util_ldap's wording for the log lines.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade
from featherd.modules.aaa import ldap_cache
from featherd.modules.aaa.ldap_cache import CacheState, CompareNode, SearchNode

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

# OpenLDAP result codes and ldap_err2string texts
LDAP_SUCCESS = 0
LDAP_COMPARE_FALSE = 5
LDAP_COMPARE_TRUE = 6
LDAP_NO_SUCH_ATTRIBUTE = 16
LDAP_NO_SUCH_OBJECT = 32
LDAP_INAPPROPRIATE_AUTH = 48
LDAP_INVALID_CREDENTIALS = 49
LDAP_INSUFFICIENT_ACCESS = 50
LDAP_SERVER_DOWN = -1
LDAP_TIMEOUT = -5
LDAP_FILTER_ERROR = -7
LDAP_CONNECT_ERROR = -11
ERR_STRINGS = {
    0: "Success", 1: "Operations error", 2: "Protocol error", 3: "Time limit exceeded",
    4: "Size limit exceeded", 5: "Compare False", 6: "Compare True",
    7: "Authentication method not supported", 8: "Strong(er) authentication required",
    10: "Referral", 11: "Administrative limit exceeded",
    16: "No such attribute", 17: "Undefined attribute type",
    18: "Inappropriate matching", 19: "Constraint violation", 21: "Invalid syntax",
    32: "No such object", 34: "Invalid DN syntax", 48: "Inappropriate authentication",
    49: "Invalid credentials", 50: "Insufficient access", 51: "Server is busy",
    52: "Server is unavailable", 53: "Server is unwilling to perform", 80: "Other (e.g., implementation specific) error",
    -1: "Can't contact LDAP server", -2: "Local error", -3: "Encoding error",
    -4: "Decoding error", -5: "Timed out", -6: "Unknown authentication method",
    -7: "Bad search filter", -9: "Bad parameter to an ldap routine",
    -11: "Connect error", -12: "Not Supported",
}


def err2string(code: int) -> str:
    return ERR_STRINGS.get(code, "Unknown error")


def is_server_down(code: int) -> bool:
    """AP_LDAP_IS_SERVER_DOWN."""
    return code in (LDAP_SERVER_DOWN, 52, 51)


# APR_LDAP_NONE / SSL / STARTTLS
NONE, SSL_MODE, STARTTLS = 0, 1, 2
MODE_NAMES = {"none": NONE, "ssl": SSL_MODE, "tls": STARTTLS, "starttls": STARTTLS}
DEREF = {"never": "NEVER", "searching": "SEARCH", "finding": "FINDING_BASE",
         "always": "ALWAYS"}

CERT_TYPES = ("CA_DER", "CA_BASE64", "CA_CERT7_DB", "CA_SECMOD", "CERT_DER", "CERT_BASE64",
              "CERT_KEY3_DB", "CERT_NICKNAME", "CERT_PFX", "KEY_DER", "KEY_BASE64", "KEY_PFX")
GLOBAL_ONLY_TYPES = ("CA_CERT7_DB", "CA_SECMOD", "CERT_KEY3_DB")
NETSCAPE_TYPES = ("CA_CERT7_DB", "CA_SECMOD", "CERT_KEY3_DB", "CERT_NICKNAME")


@dataclass(slots=True)
class LdapServerConfig:
    cache_bytes: Any = UNSET            # LDAPSharedCacheSize
    cache_file: Any = UNSET
    search_cache_ttl: Any = UNSET
    search_cache_size: Any = UNSET
    compare_cache_ttl: Any = UNSET
    compare_cache_size: Any = UNSET
    global_certs: Any = UNSET           # [(TYPE, path, password)]
    secure: Any = UNSET                 # LDAPTrustedMode
    connection_timeout: Any = UNSET
    verify_svr_cert: Any = UNSET


@dataclass(slots=True)
class LdapDirConfig:
    client_certs: Any = UNSET           # LDAPTrustedClientCert per directory


ldap = Module("ldap_module", "util_ldap.c", server_config=LdapServerConfig,
              dir_config=LdapDirConfig,
              description="LDAP connection pooling and result caching services for use by "
                          "other LDAP modules")


def _get(v: Any, default: Any) -> Any:
    return default if v is UNSET else v


def _root(cmd: CmdParms) -> LdapServerConfig:
    """The main server's record: these settings are GLOBAL_ONLY in Apache."""
    return cmd.tree.main.module_config[ldap.index]  # type: ignore[no-any-return]


def _atol(s: str) -> int:
    """atol(): leading digits (with a sign), 0 when none."""
    s = s.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    n = ""
    for ch in s:
        if not ch.isdigit():
            break
        n += ch
    return sign * int(n) if n else 0


@ldap.directive("LDAPSharedCacheSize", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPSharedCacheSize bytes",
                help="Set the size of the shared memory cache (in bytes). Use 0 to disable "
                     "the shared memory cache. (default: 100000) featherd keeps the cache "
                     "in each worker's own memory; the size is the byte budget of that "
                     "cache (full: entries are purged), and 0 disables LDAP caching as "
                     "Apache 2.2 does.")
def set_cache_bytes(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).cache_bytes = max(0, _atol(v))


@ldap.directive("LDAPSharedCacheFile", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPSharedCacheFile directory-path/filename",
                help="Set the file name for the shared memory cache. featherd's LDAP "
                     "caches are per-worker memory that no file backs: the path is only "
                     "resolved against ServerRoot and shown on the ldap-status page.")
def set_cache_file(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).cache_file = cmd.server_root_relative(v)


@ldap.directive("LDAPCacheEntries", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPCacheEntries number",
                help="Set the maximum number of entries that are possible in the LDAP "
                     "search cache. Use 0 or -1 to disable the search cache (default: 1024)")
def set_cache_entries(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).search_cache_size = max(0, _atol(v))


@ldap.directive("LDAPCacheTTL", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPCacheTTL seconds",
                help="Set the maximum time (in seconds) that an item can be cached in the "
                     "LDAP search cache. Use 0 for no limit. (default 600)")
def set_cache_ttl(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).search_cache_ttl = _atol(v)


@ldap.directive("LDAPOpCacheEntries", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPOpCacheEntries number",
                help="Set the maximum number of entries that are possible in the LDAP "
                     "compare cache. Use 0 or -1 to disable the compare cache "
                     "(default: 1024)")
def set_opcache_entries(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).compare_cache_size = max(0, _atol(v))


@ldap.directive("LDAPOpCacheTTL", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPOpCacheTTL seconds",
                help="Set the maximum time (in seconds) that an item is cached in the LDAP "
                     "operation cache. Use 0 for no limit. (default: 600)")
def set_opcache_ttl(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).compare_cache_ttl = _atol(v)


@ldap.directive("LDAPConnectionTimeout", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPConnectionTimeout seconds",
                help="Specify the LDAP socket connection timeout in seconds (default: 10)")
def set_connection_timeout(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).connection_timeout = _atol(v)


def _cert(cmd: CmdParms, type_: str, path: str, password: str | None, glob: bool) -> tuple:
    t = type_.upper()
    if t not in CERT_TYPES:
        if glob:
            raise DirectiveError(
                f"The certificate type {type_} is not recognised. It should be one of "
                "CA_DER, CA_BASE64, CA_CERT7_DB, CA_SECMOD, CERT_DER, CERT_BASE64, "
                "CERT_KEY3_DB, CERT_NICKNAME, KEY_DER, KEY_BASE64")
        raise DirectiveError(f"The certificate type \"{type_}\" is not recognised. It should "
                             "be one of CA_DER, CA_BASE64, CERT_DER, CERT_BASE64, "
                             "CERT_NICKNAME, CERT_PFX, KEY_DER, KEY_BASE64, KEY_PFX")
    if not glob and t in GLOBAL_ONLY_TYPES:
        raise DirectiveError(f"The certificate type \"{type_}\" is only valid within a "
                             "LDAPTrustedGlobalCert directive. Only CA_DER, CA_BASE64, "
                             "CERT_DER, CERT_BASE64, CERT_NICKNAME, CERT_PFX, KEY_DER, "
                             "KEY_BASE64 and KEY_PFX may be used.")
    if t != "CERT_NICKNAME":
        full = cmd.server_root_relative(path)
        if not os.path.exists(full):
            what = "trusted certificate authority" if glob else "client certificate"
            cmd.warn(f"LDAP: Could not open SSL {what} file - {full}")
            raise DirectiveError("Invalid global certificate file path" if glob
                                 else "Invalid client certificate file path")
        path = full
    return (t, path, password)


@ldap.directive("LDAPTrustedGlobalCert", args=ArgSpec.TAKE23, context=Context.SERVER,
                syntax="LDAPTrustedGlobalCert type directory-path/filename [password]",
                help="Takes three args; the file and/or directory containing the trusted "
                     "CA certificates (and global client certs for Netware) used to validate "
                     "the LDAP server.  Second arg is the cert type for the first arg, one of "
                     "CA_DER, CA_BASE64, CA_CERT7_DB, CA_SECMOD, CERT_DER, CERT_BASE64, "
                     "CERT_KEY3_DB, CERT_NICKNAME, KEY_DER, or KEY_BASE64. Third arg is an "
                     "optional passphrase if applicable.")
def set_trusted_global_cert(cmd: CmdParms, conf: Any, type_: str, path: str,
                            password: str | None) -> None:
    st = _root(cmd)
    st.global_certs = [*_get(st.global_certs, []), _cert(cmd, type_, path, password, True)]


@ldap.directive("LDAPTrustedClientCert", args=ArgSpec.TAKE23,
                context=Context.RSRC | Context.DIR_HTACCESS, override=Override.AUTHCFG,
                syntax="LDAPTrustedClientCert type directory-path/filename/nickname "
                       "[password]",
                help="Takes three args; the file and/or directory containing the client "
                     "certificate, or certificate ID used to validate this LDAP client.  "
                     "Second arg is the cert type for the first arg, one of CA_DER, "
                     "CA_BASE64, CA_CERT7_DB, CA_SECMOD, CERT_DER, CERT_BASE64, "
                     "CERT_KEY3_DB, CERT_NICKNAME, KEY_DER, or KEY_BASE64. Third arg is an "
                     "optional passphrase if applicable.")
def set_trusted_client_cert(cmd: CmdParms, conf: Any, type_: str, path: str,
                            password: str | None) -> None:
    conf.client_certs = [*_get(conf.client_certs, []), _cert(cmd, type_, path, password, False)]


@ldap.directive("LDAPTrustedMode", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="LDAPTrustedMode type",
                help="Specify the type of security that should be applied to an LDAP "
                     "connection. One of; NONE, SSL or STARTTLS.")
def set_trusted_mode(cmd: CmdParms, conf: LdapServerConfig, mode: str) -> None:
    m = MODE_NAMES.get(mode.lower())
    if m is None:
        raise DirectiveError("Invalid LDAPTrustedMode setting: must be one of NONE, SSL, or "
                             "TLS/STARTTLS")
    conf.secure = m


@ldap.directive("LDAPVerifyServerCert", args=ArgSpec.FLAG, context=Context.SERVER,
                syntax="LDAPVerifyServerCert On|Off",
                help="Set to 'ON' requires that the server certificate be verified before a "
                     "secure LDAP connection can be establish.  Default 'ON'")
def set_verify_srv_cert(cmd: CmdParms, conf: Any, on: bool) -> None:
    _root(cmd).verify_svr_cert = on


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


def state(r: Request) -> LdapServerConfig:
    return r.tree.main.module_config[ldap.index]  # type: ignore[no-any-return]


def cache_for(r: Request) -> CacheState | None:
    """The worker's cache (None when LDAPSharedCacheSize is 0, as in Apache 2.2)."""
    st = state(r)
    size = _get(st.cache_bytes, 500000)
    if size <= 0:
        return None
    p = _proc()
    key = (id(r.tree), size, _get(st.search_cache_size, 1024), _get(st.compare_cache_size, 1024))
    if p.cache is None or p.cache_key != key:
        log = r.tree.main.error_log

        def logger(level: int, msg: str) -> None:
            if log is not None:
                log.log(level, msg)
        p.cache = CacheState(size, key[2], key[3], logger)
        p.cache_key = key
    return p.cache


def _ttls(r: Request) -> tuple[float, float]:
    st = state(r)
    return float(_get(st.search_cache_ttl, 600)), float(_get(st.compare_cache_ttl, 600))


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


async def _run(fn: Any, *args: Any) -> Any:
    p = _proc()
    if p.executor is None:
        p.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ldap")
    return await asyncio.get_running_loop().run_in_executor(p.executor, fn, *args)


def _values(entry: dict[str, Any], attrs: list[str] | None) -> list[str | None] | None:
    """The attributes' values as util_ldap returns them: several joined with '; '."""
    if not attrs:
        return None
    raw = {k.lower(): v for k, v in (entry.get("raw_attributes") or {}).items()}
    out: list[str | None] = []
    for a in attrs:
        vs = raw.get(a.lower())
        out.append("; ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                             for v in vs) if vs else None)
    return out


def _search_blocking(ldc: Connection, basedn: str, scope: int, filt: str,
                     attrs: list[str] | None, bindpw: str | None, check_pw: bool
                     ) -> tuple[int, str | None, list[str | None] | None]:
    import ldap3

    for _ in range(3):
        rc = ldc.open()
        if rc != LDAP_SUCCESS:
            return rc, None, None
        scope_v = ldap3.LEVEL if scope == 1 else ldap3.SUBTREE
        rc, resp = ldc.call("search", basedn, filt, search_scope=scope_v,
                            dereference_aliases=ldc.deref, attributes=attrs or ["1.1"])
        if is_server_down(rc):
            ldc.reason = "ldap_search_ext_s() for user failed with server down"
            ldc.unbind()
            continue
        if rc != LDAP_SUCCESS:
            ldc.reason = "ldap_search_ext_s() for user failed"
            return rc, None, None
        entries = [e for e in (resp or []) if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            ldc.reason = "User not found" if not entries else \
                "User is not unique (search found two or more matches)"
            return LDAP_NO_SUCH_OBJECT, None, None
        dn = entries[0]["dn"]
        vals = _values(entries[0], attrs)
        if not check_pw:
            ldc.reason = "Search successful"
            return LDAP_SUCCESS, dn, vals
        if not bindpw:
            ldc.reason = "Empty password not allowed"
            return LDAP_INVALID_CREDENTIALS, dn, None
        ldc.ldap.user, ldc.ldap.password = dn, bindpw
        ldc.ldap.authentication = "SIMPLE"
        rc, _ = ldc.call("bind")
        if is_server_down(rc):
            ldc.reason = ("ldap_simple_bind_s() to check user credentials failed with "
                          "server down")
            ldc.unbind()
            continue
        if rc != LDAP_SUCCESS:
            ldc.reason = "ldap_simple_bind_s() to check user credentials failed"
            ldc.unbind()
            return rc, dn, None
        ldc.bound = False         # bound as the user now: rebind before the next use
        ldc.reason = "Authentication successful"
        return LDAP_SUCCESS, dn, vals
    return LDAP_SERVER_DOWN, None, None


async def cache_checkuserid(r: Request, ldc: Connection, url: str, basedn: str, scope: int,
                            attrs: list[str] | None, filt: str, bindpw: str
                            ) -> tuple[int, str | None, list[str | None] | None]:
    """uldap_cache_checkuserid: search for the user and bind as them (the search/bind
    cache answers a recent success with the same password)."""
    return await _search(r, ldc, url, basedn, scope, attrs, filt, bindpw, True)


async def cache_getuserdn(r: Request, ldc: Connection, url: str, basedn: str, scope: int,
                          attrs: list[str] | None, filt: str
                          ) -> tuple[int, str | None, list[str | None] | None]:
    """uldap_cache_getuserdn: the user's DN (and attributes) without a bind."""
    return await _search(r, ldc, url, basedn, scope, attrs, filt, None, False)


async def _search(r: Request, ldc: Connection, url: str, basedn: str, scope: int,
                  attrs: list[str] | None, filt: str, bindpw: str | None, check_pw: bool
                  ) -> tuple[int, str | None, list[str | None] | None]:
    cache = cache_for(r)
    curl = cache.url_node(url) if cache is not None else None
    ttl = _ttls(r)[0]
    sc = curl.search_cache if curl is not None else None
    if sc is not None:
        node: SearchNode | None = sc.fetch(filt)
        if node is not None:
            if time.time() - node.lastbind > ttl:
                sc.remove(filt)
            elif not check_pw or (node.bindpw and node.bindpw == bindpw):
                ldc.reason = "Authentication successful (cached)" if check_pw else \
                    "Search successful (cached)"
                return LDAP_SUCCESS, node.dn, list(node.vals) if node.vals else \
                    ([None] * len(attrs) if attrs else None)
    rc, dn, vals = await _run(_search_blocking, ldc, basedn, scope, filt, attrs, bindpw,
                              check_pw)
    if rc == LDAP_SUCCESS and sc is not None and dn is not None:
        old: SearchNode | None = sc.nodes[filt][1] if filt in sc.nodes else None
        now = time.time()
        if old is None or old.dn != dn or (check_pw and old.bindpw != bindpw):
            if old is not None:
                sc.remove(filt)
            sc.insert(filt, SearchNode(filt, dn, bindpw if check_pw else None, now, vals))
        elif check_pw or not old.bindpw:
            old.lastbind = now
    return rc, dn, vals


def _compare_blocking(ldc: Connection, dn: str, attrib: str, value: str) -> int:
    for _ in range(3):
        rc = ldc.open()
        if rc != LDAP_SUCCESS:
            return rc
        rc, _ = ldc.call("compare", dn, attrib, value)
        if is_server_down(rc):
            ldc.reason = "ldap_compare_s() failed with server down"
            ldc.unbind()
            continue
        return rc
    return LDAP_SERVER_DOWN


async def cache_compare(r: Request, ldc: Connection, url: str, dn: str, attrib: str,
                        value: str) -> int:
    """uldap_cache_compare: an LDAP compare, remembered for LDAPOpCacheTTL."""
    cache = cache_for(r)
    curl = cache.url_node(url) if cache is not None else None
    cc = curl.compare_cache if curl is not None else None
    key = (dn, attrib, value)
    if cc is not None:
        node: CompareNode | None = cc.fetch(key)
        if node is not None:
            if time.time() - node.lastcompare > _ttls(r)[1]:
                cc.remove(key)
            else:
                ldc.reason = {LDAP_COMPARE_TRUE: "Comparison true (cached)",
                              LDAP_COMPARE_FALSE: "Comparison false (cached)",
                              LDAP_NO_SUCH_ATTRIBUTE: "Comparison no such attribute (cached)"
                              }.get(node.result, "Comparison undefined (cached)")
                return node.result
    start = time.time()
    rc = await _run(_compare_blocking, ldc, dn, attrib, value)
    if rc in (LDAP_COMPARE_TRUE, LDAP_COMPARE_FALSE, LDAP_NO_SUCH_ATTRIBUTE):
        if cc is not None:
            cc.insert(key, CompareNode(dn, attrib, value, start, rc))
        ldc.reason = {LDAP_COMPARE_TRUE: "Comparison true (adding to cache)",
                      LDAP_COMPARE_FALSE: "Comparison false (adding to cache)"}.get(
            rc, "Comparison no such attribute (adding to cache)")
    elif rc != LDAP_SUCCESS and not ldc.reason.startswith("LDAP:"):
        ldc.reason = "Comparison complete"
    return rc  # type: ignore[no-any-return]


def _dn_blocking(ldc: Connection, reqdn: str) -> tuple[int, str | None]:
    import ldap3

    for _ in range(3):
        rc = ldc.open()
        if rc != LDAP_SUCCESS:
            return rc, None
        rc, resp = ldc.call("search", reqdn, "(objectclass=*)", search_scope=ldap3.BASE,
                            attributes=["1.1"], size_limit=1)
        if is_server_down(rc):
            ldc.reason = "DN Comparison ldap_search_ext_s() failed with server down"
            ldc.unbind()
            continue
        if rc != LDAP_SUCCESS:
            ldc.reason = "DN Comparison ldap_search_ext_s() failed"
            return rc, None
        entries = [e for e in (resp or []) if e.get("type") == "searchResEntry"]
        return LDAP_SUCCESS, entries[0]["dn"] if entries else ""
    return LDAP_SERVER_DOWN, None


async def cache_comparedn(r: Request, ldc: Connection, url: str, dn: str, reqdn: str,
                          on_server: bool) -> int:
    """uldap_cache_comparedn: string comparison, or (AuthLDAPCompareDNOnServer) the DN
    the server returns for a base search on the required DN."""
    cache = cache_for(r)
    curl = cache.url_node(url) if cache is not None else None
    if not on_server:
        if dn != reqdn:
            ldc.reason = "DN Comparison FALSE (direct strcmp())"
            return LDAP_COMPARE_FALSE
        ldc.reason = "DN Comparison TRUE (direct strcmp())"
        return LDAP_COMPARE_TRUE
    dc = curl.dn_compare_cache if curl is not None else None
    # Apache keys this cache by the required DN alone and trusts any hit, so one user's
    # success would let every user through: featherd also checks the DN remembered.
    if dc is not None and dc.fetch(reqdn) == dn:
        ldc.reason = "DN Comparison TRUE (cached)"
        return LDAP_COMPARE_TRUE
    rc, searchdn = await _run(_dn_blocking, ldc, reqdn)
    if rc != LDAP_SUCCESS:
        return rc  # type: ignore[no-any-return]
    if searchdn != dn:
        ldc.reason = "DN Comparison FALSE (checked on server)"
        return LDAP_COMPARE_FALSE
    if dc is not None:
        dc.insert(reqdn, dn)
    ldc.reason = "DN Comparison TRUE (checked on server)"
    return LDAP_COMPARE_TRUE


# --- hooks and the status handler ----------------------------------------------------------
@ldap.hook("post_config")
def post_config(tree: Any) -> int:
    st = tree.main.module_config[ldap.index]
    log = tree.main.error_log
    if log is not None and _get(st.cache_bytes, 500000) <= 0:
        log.log(7, "LDAP cache: LDAPSharedCacheSize is zero, disabling shared memory cache")
    return OK


@ldap.handler("ldap-status")
def util_ldap_handler(r: Request) -> int:
    r.allowed_methods.add("GET")
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    r.content_type = "text/html; charset=ISO-8859-1"
    if r.header_only:
        pass_brigade(r, [EOS])
        return OK
    body = ("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"
            "<html><head><title>LDAP Cache Information</title></head>\n"
            "<body bgcolor='#ffffff'><h1 align=center>LDAP Cache Information</h1>\n")
    st = state(r)
    cache = cache_for(r)
    body += ldap_cache.display(cache, r.uri, r.args)
    if cache is not None and not r.args:
        f = _get(st.cache_file, None)
        body += (f"<p>Cache memory: {cache.budget.used} of {cache.budget.size} bytes used "
                 f"(pid {os.getpid()}{', LDAPSharedCacheFile ' + f if f else ''})</p>\n")
    pass_brigade(r, [body.encode("latin-1", "replace"), EOS])
    return OK

