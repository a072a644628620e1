"""Start-up (ssl_engine_init.c): one SSL context per SSL-enabled server, built in the
master before the workers are forked.

For each server with ``SSLEngine on``: protocols, cipher suites and order, certificates
(one per key type, RSA/ECC/DSA, with SSLCertificateChainFile sent after each), private
keys through the pass phrase dialog, a key that doesn't match its certificate refused
("Certificate and private key ... do not match"), client verification (CA file/path,
CRLs, the CA names requested, the verify level and depth through mod_ssl's callback),
the session id context and the session cache. Errors are start-up errors; warnings and
info lines go to the error log once it is open.

The certificates, keys and client verification of one server are set up by
:mod:`.certs`; this file holds the process state, the hooks and the rest of a context.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import struct
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from featherd.config.merge import UNSET
from featherd.core.hooks import LAST, OK
from featherd.errors import ConfigError
from featherd.log import DEBUG, INFO, NOTICE, WARN
from featherd.modules.ssl import libssl, pphrase, srp
from featherd.modules.ssl.certs import configure_verify, load_certificates, ssl_error_text
from featherd.modules.ssl.config import (
    PROTOCOL_ALL,
    TLS_VERSIONS,
    SeedSpec,
    SSLServerConfig,
    v,
)
from featherd.modules.ssl.mod_ssl import ssl_module
from featherd.modules.ssl.scache import Mutex, make_cache

DEFAULT_SESSION_TIMEOUT = 300
DEFAULT_VERIFY_DEPTH = 1
TLS13_TICKETS = 1
_TLS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
        "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_NO_FLAG = {"TLSv1": "OP_NO_TLSv1", "TLSv1.1": "OP_NO_TLSv1_1", "TLSv1.2": "OP_NO_TLSv1_2",
            "TLSv1.3": "OP_NO_TLSv1_3"}


@dataclass
class ServerSSL:
    """The SSL side of one server (its SSLSrvConfigRec after ssl_init_ConfigureServer)."""

    server: Any
    ctx: ssl.SSLContext
    vhost_id: str
    verify: str = "none"
    depth: int = DEFAULT_VERIFY_DEPTH
    crl: bool = False
    strict_sni: bool = False
    certs: list[bytes] = field(default_factory=list)     # DER of the leaf certificates
    ca_names: int = -1
    sni_switching: bool = False
    optional: bool = False       # SSLEngine optional: plain HTTP until an RFC 2817 upgrade


@dataclass
class SSLState:
    """mod_ssl's process state for one configuration (SSLModConfigRec)."""

    servers: dict[int, ServerSSL] = field(default_factory=dict)
    cache: Any = None
    mutex: Mutex | None = None
    connect_seeds: list[SeedSpec] = field(default_factory=list)
    startup_log: list[tuple[int, str]] = field(default_factory=list)
    proxy: dict[int, Any] = field(default_factory=dict)
    optional: bool = False       # some server has SSLEngine optional

    def for_server(self, s: Any) -> ServerSSL | None:
        return self.servers.get(id(s))

    def log(self, level: int, msg: str) -> None:
        self.startup_log.append((level, msg))


#: the state of the configuration this process serves (the master: the latest one)
CURRENT: list[SSLState] = []


def vhost_id(s: Any) -> str:
    """ssl_util_vhostid: ``servername:port`` (the port of ServerName, else 443/80)."""
    sc = ssl_module.sconf(s)
    port = s.port or (443 if sc is not None and sc.enabled is True else 80)
    return f"{s.server_hostname or 'localhost'}:{port}"


def crypto_engines() -> dict[str, str]:
    """OpenSSL's engines (`openssl engine`), for SSLCryptoDevice."""
    try:
        out = subprocess.run(["openssl", "engine"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    engines: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("(") and ")" in line:
            eid, _, name = line[1:].partition(")")
            engines[eid.strip()] = name.strip()
    return engines


# --- the post_config hook ----------------------------------------------------------------
@ssl_module.hook("post_config", order=LAST)
def ssl_init_module(tree: Any) -> int:
    """ssl_init_Module: everything that must exist before the workers are forked."""
    for old in CURRENT:
        for srv in old.servers.values():
            libssl.forget_context(srv.ctx)
            srp.forget(srv.ctx)
    CURRENT.clear()
    state = SSLState()
    tree.extra["ssl"] = state
    from featherd.modules.ssl.vars import is_https, ssl_var_lookup

    tree.extra["ssl_var_lookup"] = ssl_var_lookup
    tree.extra["ssl_is_https"] = is_https
    mc: SSLServerConfig = ssl_module.sconf(tree.main)
    enabled = [s for s in tree.all_servers()
               if ssl_module.sconf(s).enabled in (True, "optional")]
    _seed(state, mc, "startup")
    if os.environ.get("FEATHERD_CONFIG_TEST") != "1":
        _fips(state, mc)      # httpd -t runs no post_config: nothing is switched on
    state.connect_seeds = [sd for sd in (mc.seeds or []) if sd.context == "connect"]
    if enabled and not libssl.AVAILABLE:
        state.log(WARN, "Init: mod_ssl runs without its OpenSSL extensions ("
                  f"{libssl.REASON}): SSLVerifyClient optional_no_ca, SSLCADNRequest*, "
                  "SSLSessionCache, per-directory renegotiation and TLSv1.3 cipher "
                  "suites are not available")
    if enabled and os.environ.get("FEATHERD_CONFIG_TEST") == "1":
        enabled = []     # -t: like httpd -t, no keys read (no pass phrase dialog)
    if enabled:
        state.log(INFO, "Init: Initializing (virtual) servers for SSL")
        _session_cache(state, mc, tree)
        _generate_missing(tree, enabled, state)
        dialog = pphrase.Dialog(v(mc.pphrase, _builtin()), restart=bool(pphrase.KNOWN))
        try:
            for s in enabled:
                state.servers[id(s)] = configure_server(s, tree, dialog, state)
        except BaseException:
            dialog.close()
            raise
        dialog.finish()
        _check_servers(tree, state)
        install_sni_switching(tree, state)
    from featherd.modules.ssl.proxy import init_proxy

    init_proxy(tree, state)
    from featherd.modules.ssl.tls import protocol_factory

    for spec in tree.listens:
        spec.protocol_factory = protocol_factory   # type: ignore[attr-defined]
    CURRENT.append(state)
    return OK


@ssl_module.hook("open_logs")
def ssl_open_logs(tree: Any) -> int:
    """The start-up messages, once the error log is open."""
    state: SSLState | None = tree.extra.get("ssl")
    if state is None:
        return OK
    log = tree.main.error_log
    for level, msg in state.startup_log:
        if log is not None:
            log.log(level, msg)
    state.startup_log = []
    return OK


def _builtin() -> Any:
    from featherd.modules.ssl.config import DialogSpec

    return DialogSpec("builtin")


# --- random seeding ----------------------------------------------------------------------------
def seed_bytes(sd: SeedSpec) -> bytes:
    """The bytes one SSLRandomSeed source gives."""
    if sd.source == "builtin":
        return struct.pack("<dQ", time.time(), os.getpid()) + os.urandom(16)
    if sd.source == "file":
        n = sd.nbytes or -1
        with open(sd.path, "rb") as f:
            return f.read(n) if n > 0 else f.read(1 << 20)
    if sd.source == "exec":
        out = subprocess.run(sd.path, shell=True, capture_output=True, timeout=30,
                             check=False).stdout
        return out[:sd.nbytes] if sd.nbytes else out
    if sd.source == "egd":
        want = min(sd.nbytes or 255, 255)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sd.path)
            s.sendall(bytes([0x01, want]))
            n = s.recv(1)
            if not n:
                return b""
            got = b""
            while len(got) < n[0]:
                chunk = s.recv(n[0] - len(got))
                if not chunk:
                    break
                got += chunk
            return got
    return b""


def _seed(state: SSLState, mc: SSLServerConfig, context: str) -> None:
    total = 0
    for sd in mc.seeds or []:
        if sd.context != context:
            continue
        try:
            data = seed_bytes(sd)
        except OSError as e:
            state.log(WARN, f"Init: Failed to seed the PRNG from {sd.source}:{sd.path} ({e})")
            continue
        if data:
            ssl.RAND_add(data, float(len(data)))
            total += len(data)
    if total:
        state.log(INFO, f"Init: Seeding PRNG with {total} bytes of entropy")


# --- SSLFIPS ------------------------------------------------------------------------------------
def fips_enable() -> bool:
    """OpenSSL 3's FIPS mode: the fips provider loaded and fips=yes the default property
    (what FIPS_mode_set(1) was); False when this OpenSSL has no FIPS provider."""
    import ctypes

    try:
        crypto = ctypes.CDLL(libssl._libname("crypto"))
        load = crypto.OSSL_PROVIDER_load
        enable = crypto.EVP_default_properties_enable_fips
    except (OSError, AttributeError):
        return False
    load.restype = ctypes.c_void_p
    load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    enable.restype = ctypes.c_int
    enable.argtypes = [ctypes.c_void_p, ctypes.c_int]
    if not load(None, b"fips"):
        return False
    return bool(enable(None, 1))


def _fips(state: SSLState, mc: SSLServerConfig) -> None:
    """ssl_init_Module's SSLFIPS part: on, or a start-up error."""
    if mc.fips is not True:
        state.log(DEBUG, "SSL FIPS mode disabled")
        return
    if not fips_enable():
        raise ConfigError("FIPS mode failed (this OpenSSL has no usable FIPS provider: "
                          "the 'fips' module is not installed or not configured)")
    state.log(NOTICE, "Operating in SSL FIPS mode")


# --- the session cache -------------------------------------------------------------------------
def _session_cache(state: SSLState, mc: SSLServerConfig, tree: Any) -> None:
    spec = mc.session_cache
    if spec is UNSET:
        state.log(WARN, "Init: Session Cache is not configured [hint: SSLSessionCache]")
        return
    timeout = int(v(mc.session_timeout, DEFAULT_SESSION_TIMEOUT))
    if spec.kind in ("none", "nonenotnull"):
        return
    if not libssl.AVAILABLE:
        return
    try:
        state.mutex = Mutex(v(mc.mutex, None))
    except OSError as e:
        raise ConfigError(f"mod_ssl: Child could not open SSLMutex lockfile "
                          f"{e.filename} (System error follows)\nSystem: {e.strerror} "
                          f"(errno: {e.errno})") from None
    try:
        state.cache = make_cache(spec, timeout, state.mutex)
    except OSError as e:
        raise ConfigError(f"Cannot allocate SSL session cache ({spec.kind}:{spec.path}): "
                          f"{e}") from None
    state.log(DEBUG, f"Init: Session Cache {spec.kind}:{spec.path} ({spec.size} bytes) "
                     "ready")


# --- self-signed certificates (SSLGenerateSelfSigned) -------------------------------------------
def _generate_missing(tree: Any, enabled: list[Any], state: SSLState) -> None:
    from featherd.modules.ssl.pki import ensure_self_signed

    for s in enabled:
        sc: SSLServerConfig = ssl_module.sconf(s)
        missing = sc.missing or []
        if not missing:
            continue
        if sc.generate_self_signed is True:
            certs = list(sc.cert_files or [])
            keys = list(sc.key_files or [])
            if certs and keys and not os.path.exists(certs[0]) and \
                    not os.path.exists(keys[0]):
                host = s.server_hostname or "localhost"
                addrs = [h for h, _ in s.addrs if h not in ("*", "_default_")]
                ensure_self_signed(certs[0], keys[0], host,
                                   ["localhost", *(f"IP:{a}" for a in addrs)])
                state.log(NOTICE, f"Init: Generated a self-signed certificate for "
                                  f"{vhost_id(s)} in {certs[0]} (key {keys[0]})")
                missing = [m for m in missing if not os.path.exists(m[3])]
        if missing:
            msg, fname, line, _ = missing[0]
            raise ConfigError(msg, fname, line)


# --- one server ------------------------------------------------------------------------------
def configure_server(s: Any, tree: Any, dialog: pphrase.Dialog, state: SSLState) -> ServerSSL:
    """ssl_init_ConfigureServer + ssl_init_ctx for one SSL-enabled server."""
    sc: SSLServerConfig = ssl_module.sconf(s)
    vid = vhost_id(s)
    state.log(INFO, f"Init: Configuring server {vid} for SSL protocol")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    set_protocols(ctx, v(sc.protocols, PROTOCOL_ALL), vid)
    set_ciphers(ctx, v(sc.cipher_suite, None), v(sc.tls13_suites, None), vid)
    if sc.honor_order is True:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if sc.compression is True:
        ctx.options &= ~ssl.OP_NO_COMPRESSION
    if sc.session_tickets is False:
        ctx.options |= ssl.OP_NO_TICKET
    else:
        # TLS 1.3: one ticket per full handshake (OpenSSL's default is two, each an
        # encrypted session copy: ~20 us of the handshake); an HTTP/1.1 client resumes
        # one connection per ticket it keeps, as with Go's crypto/tls
        ctx.num_tickets = TLS13_TICKETS
    if sc.insecure_reneg is True:
        libssl.set_options(ctx, libssl.SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION)
    srv = ServerSSL(s, ctx, vid, verify=v(sc.verify_client, "none"),
                    depth=int(v(sc.verify_depth, DEFAULT_VERIFY_DEPTH)),
                    strict_sni=sc.strict_sni is True, optional=sc.enabled == "optional")
    state.optional = state.optional or srv.optional
    load_certificates(srv, sc, dialog, state)
    configure_verify(srv, sc, state)
    if sc.srp_vfile is not UNSET:
        # TLS-SRP support (ssl_init_ctx)
        state.log(INFO, f"Using SRP verifier file [{sc.srp_vfile}]")
        err = srp.configure(ctx, sc.srp_vfile, v(sc.srp_seed, None))
        if err is not None:
            raise ConfigError(f"{err} ({vid})")
    libssl.set_session_id_context(ctx, hashlib.md5(vid.encode()).digest())
    mc: SSLServerConfig = ssl_module.sconf(tree.main)
    cache_on = mc.session_cache is not UNSET and mc.session_cache.kind not in (
        "none", "nonenotnull")
    libssl.set_session_cache(ctx, state.cache, cache_on,
                             int(v(sc.session_timeout, DEFAULT_SESSION_TIMEOUT)))
    return srv


def install_sni_switching(tree: Any, state: SSLState) -> None:
    """Where several servers share an address (name-based vhosts), the first one's
    context picks the vhost by SNI: a ClientHello callback (before any session is
    resumed), else Python's SNI callback. Elsewhere nothing runs during the handshake;
    the name the client sent is read afterwards for SSL_TLS_SNI and the Host check."""
    from featherd.core.vhost import VhostMap
    from featherd.modules.ssl.peer import sni_callback

    for group in VhostMap(tree).groups():
        if len(group.servers) < 2:
            continue
        srv = state.for_server(group.servers[0])
        if srv is None or srv.sni_switching:
            continue
        srv.sni_switching = True
        if not libssl.ctx_set_client_hello(srv.ctx):
            srv.ctx.sni_callback = sni_callback


def set_protocols(ctx: ssl.SSLContext, protos: frozenset[str], vid: str,
                  proxy: bool = False) -> None:
    if not protos:
        which = "SSLProxyProtocol" if proxy else "SSLProtocol"
        raise ConfigError(f"No SSL protocols available [hint: {which}] ({vid})")
    versions = [p for p in TLS_VERSIONS if p in protos]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TLSv1/TLSv1.1 asked for
        ctx.minimum_version = _TLS[versions[0]]
        ctx.maximum_version = _TLS[versions[-1]]
        for p in TLS_VERSIONS[TLS_VERSIONS.index(versions[0]):
                              TLS_VERSIONS.index(versions[-1]) + 1]:
            if p not in protos:
                ctx.options |= getattr(ssl, _NO_FLAG[p])


def set_ciphers(ctx: ssl.SSLContext, suite: str | None, tls13: str | None, vid: str) -> None:
    try:
        ctx.set_ciphers(suite or "DEFAULT")
    except ssl.SSLError as e:
        raise ConfigError(f"Unable to configure permitted SSL ciphers ({vid})\n"
                          f"SSL Library Error: {ssl_error_text(e)}: '{suite}'") from None
    if tls13 and not libssl.set_ciphersuites(ctx, tls13):
        raise ConfigError(f"Unable to configure permitted TLSv1.3 ciphers ({vid}): "
                          f"'{tls13}'")


def _check_servers(tree: Any, state: SSLState) -> None:
    """ssl_init_CheckServers: the port warnings and the SNI note."""
    for s in tree.all_servers():
        sc = ssl_module.sconf(s)
        on = sc.enabled is True
        if on and s.port == 80:
            state.log(WARN, f"Init: ({vhost_id(s)}) You configured HTTPS(443) on the "
                            "standard HTTP(80) port!")
        if not on and s.port == 443:
            state.log(WARN, f"Init: ({vhost_id(s)}) You configured HTTP(80) on the "
                            "standard HTTPS(443) port!")
    seen: dict[tuple[str, int], Any] = {}
    for s in tree.vhosts:
        if ssl_module.sconf(s).enabled is not True:
            continue
        for addr in s.addrs:
            if addr in seen and seen[addr] is not s:
                state.log(WARN, "Init: Name-based SSL virtual hosts only work for clients "
                                "with TLS server name indication support (RFC 4366)")
                return
            seen[addr] = s


__all__ = ["CURRENT", "SSLState", "ServerSSL", "configure_server", "crypto_engines",
           "seed_bytes", "vhost_id"]
