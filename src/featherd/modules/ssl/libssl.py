"""The few OpenSSL calls Python's ``ssl`` module does not expose, through ctypes.

mod_ssl needs them for what Apache does with the same library: a verify callback
(``optional_no_ca``, Apache's depth rule, 2.2's "no CRL is fine"), the CA names sent in
the CertificateRequest (SSLCADNRequestFile/Path), TLS 1.3 cipher suites, the external
session cache callbacks (SSLSessionCache shmcb/dbm shared by the worker processes),
per-vhost session id contexts, renegotiation (per-directory SSLVerifyClient on TLS 1.2),
the peer's certificate chain and the secure-renegotiation flag.

``ssl.SSLContext`` and ``ssl.SSLObject`` keep their ``SSL_CTX *`` / ``SSL *`` right after
the object header (CPython's _ssl.c: ``PySSLContext.ctx``, ``PySSLSocket.ssl`` after the
``Socket`` weakref); :func:`ctx_ptr` and :func:`ssl_ptr` read them and check the result
against the library (SSL_CTX_get_options, SSL_get_SSL_CTX). When the check fails, or
libssl can't be loaded, :data:`AVAILABLE` is False and mod_ssl runs on what ``ssl``
offers, logging which features are off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ssl
from typing import Any

c_void_p, c_int, c_long, c_char_p, c_uint64 = (ctypes.c_void_p, ctypes.c_int, ctypes.c_long,
                                                ctypes.c_char_p, ctypes.c_uint64)

SSL_VERIFY_NONE = 0
SSL_VERIFY_PEER = 1
SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 2
SSL_VERIFY_CLIENT_ONCE = 4
SSL_VERIFY_POST_HANDSHAKE = 8

SSL_CTRL_SET_SESS_CACHE_MODE = 44
SSL_CTRL_GET_RI_SUPPORT = 76
SSL_SESS_CACHE_OFF = 0
SSL_SESS_CACHE_SERVER = 2
#: SSL_SESS_CACHE_NO_INTERNAL (lookup + store): the external cache only, as mod_ssl does
SSL_SESS_CACHE_NO_INTERNAL = 0x100 | 0x200
TLS1_3_VERSION = 0x0304

SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION = 1 << 18
SSL_OP_NO_RENEGOTIATION = 1 << 30

X509_V_OK = 0
X509_V_ERR_UNABLE_TO_GET_CRL = 3
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
X509_V_ERR_CERT_CHAIN_TOO_LONG = 22
X509_V_ERR_CERT_UNTRUSTED = 27

#: ssl_verify_error_is_optional(): what SSLVerifyClient optional_no_ca forgives
OPTIONAL_ERRORS = frozenset({
    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
    X509_V_ERR_CERT_UNTRUSTED})

VERIFY_CB = ctypes.CFUNCTYPE(c_int, c_int, c_void_p)
NEW_SESSION_CB = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p)
GET_SESSION_CB = ctypes.CFUNCTYPE(c_void_p, c_void_p, ctypes.POINTER(ctypes.c_ubyte), c_int,
                                  ctypes.POINTER(c_int))
REMOVE_SESSION_CB = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
INFO_CB = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_int)
CLIENT_HELLO_CB = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(c_int), c_void_p)
SSL_CB_EXIT = 0x02

_SIGS: dict[str, tuple[Any, list[Any]]] = {
    # libssl
    "SSL_CTX_get_options": (c_uint64, [c_void_p]),
    "SSL_CTX_set_options": (c_uint64, [c_void_p, c_uint64]),
    "SSL_get_options": (c_uint64, [c_void_p]),
    "SSL_set_options": (c_uint64, [c_void_p, c_uint64]),
    "SSL_clear_options": (c_uint64, [c_void_p, c_uint64]),
    "SSL_get_SSL_CTX": (c_void_p, [c_void_p]),
    "SSL_CTX_set_verify": (None, [c_void_p, c_int, VERIFY_CB]),
    "SSL_set_verify": (None, [c_void_p, c_int, VERIFY_CB]),
    "SSL_CTX_get_verify_mode": (c_int, [c_void_p]),
    "SSL_CTX_set_verify_depth": (None, [c_void_p, c_int]),
    "SSL_get_verify_mode": (c_int, [c_void_p]),
    "SSL_get_verify_result": (c_long, [c_void_p]),
    "SSL_set_verify_result": (None, [c_void_p, c_long]),
    "SSL_get_ex_data_X509_STORE_CTX_idx": (c_int, []),
    "SSL_load_client_CA_file": (c_void_p, [c_char_p]),
    "SSL_add_file_cert_subjects_to_stack": (c_int, [c_void_p, c_char_p]),
    "SSL_add_dir_cert_subjects_to_stack": (c_int, [c_void_p, c_char_p]),
    "SSL_CTX_set_client_CA_list": (None, [c_void_p, c_void_p]),
    "SSL_CTX_get_client_CA_list": (c_void_p, [c_void_p]),
    "SSL_set_client_CA_list": (None, [c_void_p, c_void_p]),
    "SSL_dup_CA_list": (c_void_p, [c_void_p]),
    "SSL_CTX_set_ciphersuites": (c_int, [c_void_p, c_char_p]),
    "SSL_set_cipher_list": (c_int, [c_void_p, c_char_p]),
    "SSL_CTX_sess_set_new_cb": (None, [c_void_p, NEW_SESSION_CB]),
    "SSL_CTX_sess_set_get_cb": (None, [c_void_p, GET_SESSION_CB]),
    "SSL_CTX_sess_set_remove_cb": (None, [c_void_p, REMOVE_SESSION_CB]),
    "SSL_CTX_ctrl": (c_long, [c_void_p, c_int, c_long, c_void_p]),
    "SSL_ctrl": (c_long, [c_void_p, c_int, c_long, c_void_p]),
    "SSL_CTX_set_timeout": (c_long, [c_void_p, c_long]),
    "SSL_CTX_set_session_id_context": (c_int, [c_void_p, c_char_p, ctypes.c_uint]),
    "i2d_SSL_SESSION": (c_int, [c_void_p, c_void_p]),
    "d2i_SSL_SESSION": (c_void_p, [c_void_p, c_void_p, c_long]),
    "SSL_SESSION_get_id": (c_void_p, [c_void_p, ctypes.POINTER(ctypes.c_uint)]),
    "SSL_SESSION_free": (None, [c_void_p]),
    "SSL_renegotiate": (c_int, [c_void_p]),
    "SSL_renegotiate_pending": (c_int, [c_void_p]),
    "SSL_get_peer_cert_chain": (c_void_p, [c_void_p]),
    "SSL_get_certificate": (c_void_p, [c_void_p]),
    "SSL_get_servername": (c_char_p, [c_void_p, c_int]),
    "SSL_set_info_callback": (None, [c_void_p, INFO_CB]),
    "SSL_CTX_set_client_hello_cb": (None, [c_void_p, CLIENT_HELLO_CB, c_void_p]),
    "SSL_client_hello_get0_ext": (c_int, [c_void_p, ctypes.c_uint, ctypes.POINTER(c_void_p),
                                          ctypes.POINTER(ctypes.c_size_t)]),
    "SSL_SESSION_get_time": (c_long, [c_void_p]),
    "SSL_SESSION_get_timeout": (c_long, [c_void_p]),
    "SSL_SESSION_get_protocol_version": (c_int, [c_void_p]),
    # libcrypto
    "X509_STORE_CTX_get_error": (c_int, [c_void_p]),
    "X509_STORE_CTX_set_error": (None, [c_void_p, c_int]),
    "X509_STORE_CTX_get_error_depth": (c_int, [c_void_p]),
    "X509_STORE_CTX_get_ex_data": (c_void_p, [c_void_p, c_int]),
    "X509_STORE_CTX_get_current_cert": (c_void_p, [c_void_p]),
    "X509_verify_cert_error_string": (c_char_p, [c_long]),
    "X509_get_subject_name": (c_void_p, [c_void_p]),
    "X509_get_issuer_name": (c_void_p, [c_void_p]),
    "X509_NAME_oneline": (c_void_p, [c_void_p, c_void_p, c_int]),
    "i2d_X509": (c_int, [c_void_p, c_void_p]),
    "OPENSSL_sk_new_null": (c_void_p, []),
    "OPENSSL_sk_num": (c_int, [c_void_p]),
    "OPENSSL_sk_value": (c_void_p, [c_void_p, c_int]),
}

_CRYPTO = ("X509_", "i2d_X509", "OPENSSL_sk_")


class _Lib:
    """Bound functions by name; ``ok`` tells whether every one was found."""

    def __init__(self) -> None:
        self.ok = False
        self.error = ""
        try:
            ssl_name = _libname("ssl")
            crypto_name = _libname("crypto")
            libssl = ctypes.CDLL(ssl_name)
            libcrypto = ctypes.CDLL(crypto_name)
        except OSError as e:
            self.error = f"cannot load libssl: {e}"
            return
        for name, (res, args) in _SIGS.items():
            lib = libcrypto if name.startswith(_CRYPTO) else libssl
            try:
                fn = getattr(lib, name)
            except AttributeError:
                self.error = f"{name} not found in {lib._name}"
                return
            fn.restype = res
            fn.argtypes = args
            setattr(self, name, fn)
        self.ok = True

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _libname(which: str) -> str:
    """The libssl/libcrypto the ``_ssl`` extension itself is linked with."""
    import re

    try:
        with open("/proc/self/maps") as f:
            for line in f:
                m = re.search(rf"(/\S*lib{which}\.so[.\d]*)$", line.strip())
                if m:
                    return m.group(1)
    except OSError:
        pass
    found = ctypes.util.find_library(which)
    if found is None:
        raise OSError(f"lib{which} not found")
    return found


LIB = _Lib()
_HEAD = object.__basicsize__          # PyObject_HEAD
AVAILABLE = False
REASON = LIB.error


def _probe() -> None:
    global AVAILABLE, REASON
    if not LIB.ok:
        return
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        p = ctypes.c_void_p.from_address(id(ctx) + _HEAD).value
        if not p or LIB.SSL_CTX_get_options(p) != int(ctx.options):
            REASON = "SSLContext layout not recognised"
            return
        obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        sp = ctypes.c_void_p.from_address(id(obj._sslobj) + _HEAD + ctypes.sizeof(c_void_p)).value
        if not sp or LIB.SSL_get_SSL_CTX(sp) != p:
            REASON = "SSLObject layout not recognised"
            return
    except Exception as e:  # noqa: BLE001 - any surprise: run without the extras
        REASON = f"probe failed: {e}"
        return
    AVAILABLE = True
    REASON = ""


_probe()


def ctx_ptr(ctx: ssl.SSLContext) -> int:
    """The SSL_CTX * of an ssl.SSLContext (0 when not AVAILABLE)."""
    if not AVAILABLE:
        return 0
    return ctypes.c_void_p.from_address(id(ctx) + _HEAD).value or 0


def ssl_ptr(obj: ssl.SSLObject) -> int:
    """The SSL * of an ssl.SSLObject (0 when not AVAILABLE)."""
    return sslobj_ptr(obj._sslobj)  # type: ignore[attr-defined]


_SSL_OFFSET = _HEAD + ctypes.sizeof(c_void_p)
_from_address = ctypes.c_void_p.from_address


def sslobj_ptr(inner: Any) -> int:
    """The SSL * of an SSLObject's ``_ssl._SSLSocket`` (0 when not AVAILABLE)."""
    if not AVAILABLE:
        return 0
    return _from_address(id(inner) + _SSL_OFFSET).value or 0


# --- verification ----------------------------------------------------------------------
#: SSL * -> object with a ``verify_callback(ok, store_ctx) -> int`` method
VERIFY_OWNERS: dict[int, Any] = {}


def _verify_cb(ok: int, store: int) -> int:
    try:
        idx = LIB.SSL_get_ex_data_X509_STORE_CTX_idx()
        sslp = LIB.X509_STORE_CTX_get_ex_data(store, idx)
        owner = VERIFY_OWNERS.get(sslp or 0)
        if owner is None:
            return ok
        return int(owner.verify_callback(ok, store))
    except Exception:  # noqa: BLE001 - never let an exception cross into C
        return 0


VERIFY_CALLBACK = VERIFY_CB(_verify_cb)


def store_error(store: int) -> tuple[int, int]:
    """(error, depth) of the X509_STORE_CTX being verified."""
    return LIB.X509_STORE_CTX_get_error(store), LIB.X509_STORE_CTX_get_error_depth(store)


def set_store_error(store: int, err: int) -> None:
    LIB.X509_STORE_CTX_set_error(store, err)


def verify_error_string(err: int) -> str:
    s = LIB.X509_verify_cert_error_string(err)
    return s.decode("latin-1") if s else f"error {err}"


def current_cert_names(store: int) -> tuple[str, str]:
    """(subject, issuer) of the certificate being verified, X509_NAME_oneline style."""
    x = LIB.X509_STORE_CTX_get_current_cert(store)
    if not x:
        return "", ""
    return _oneline(LIB.X509_get_subject_name(x)), _oneline(LIB.X509_get_issuer_name(x))


def _oneline(name: int) -> str:
    buf = ctypes.create_string_buffer(1024)
    LIB.X509_NAME_oneline(name, buf, 1024)
    return buf.value.decode("latin-1")


def _info_cb(sslp: int, where: int, ret: int) -> None:
    try:
        owner = VERIFY_OWNERS.get(sslp or 0)
        if owner is not None and where & SSL_CB_EXIT and ret == 1:
            owner.handshake_done_callback()
    except Exception:  # noqa: BLE001
        pass


INFO_CALLBACK = INFO_CB(_info_cb)


def watch_handshakes(sslp: int) -> None:
    """Call the owner's ``handshake_done_callback()`` each time OpenSSL's handshake
    state machine completes (SSL_CB_ACCEPT_EXIT with success): also at the end of the
    client's answer to TLS 1.3 post-handshake authentication."""
    LIB.SSL_set_info_callback(sslp, INFO_CALLBACK)


def _client_hello_cb(sslp: int, alert: Any, arg: int) -> int:
    """Pick the vhost by SNI before OpenSSL looks for a session to resume (so that a
    session of one vhost never resumes on another): the owner's client_hello(name)."""
    try:
        owner = VERIFY_OWNERS.get(sslp or 0)
        if owner is not None:
            owner.client_hello(_sni_of(sslp))
    except Exception:  # noqa: BLE001
        pass
    return 1     # SSL_CLIENT_HELLO_SUCCESS


def _sni_of(sslp: int) -> str | None:
    out = c_void_p()
    n = ctypes.c_size_t()
    if LIB.SSL_client_hello_get0_ext(sslp, 0, ctypes.byref(out), ctypes.byref(n)) != 1:
        return None
    data = ctypes.string_at(out.value, n.value) if out.value else b""
    # ServerNameList: length(2), then type(1) length(2) name
    if len(data) < 5 or data[2] != 0:
        return None
    ln = int.from_bytes(data[3:5], "big")
    return data[5:5 + ln].decode("ascii", "replace") or None


CLIENT_HELLO_CALLBACK = CLIENT_HELLO_CB(_client_hello_cb)


def ctx_set_client_hello(ctx: ssl.SSLContext) -> bool:
    p = ctx_ptr(ctx)
    if p:
        LIB.SSL_CTX_set_client_hello_cb(p, CLIENT_HELLO_CALLBACK, None)
    return bool(p)


def ctx_set_verify(ctx: ssl.SSLContext, mode: int) -> None:
    p = ctx_ptr(ctx)
    if p:
        LIB.SSL_CTX_set_verify(p, mode, VERIFY_CALLBACK)


def ctx_set_verify_depth(ctx: ssl.SSLContext, depth: int) -> None:
    p = ctx_ptr(ctx)
    if p:
        LIB.SSL_CTX_set_verify_depth(p, depth)


def ssl_set_verify(sslp: int, mode: int) -> None:
    LIB.SSL_set_verify(sslp, mode, VERIFY_CALLBACK)


def ssl_verify_mode(sslp: int) -> int:
    return int(LIB.SSL_get_verify_mode(sslp))


def verify_result(sslp: int) -> int:
    return int(LIB.SSL_get_verify_result(sslp))


def set_verify_result(sslp: int, v: int) -> None:
    LIB.SSL_set_verify_result(sslp, v)


# --- CA names ----------------------------------------------------------------------------
def set_client_ca_list(ctx: ssl.SSLContext, files: list[str], dirs: list[str]) -> int:
    """SSL_CTX_set_client_CA_list from PEM files and hashed directories; the number of
    names (-1 when not AVAILABLE)."""
    p = ctx_ptr(ctx)
    if not p:
        return -1
    sk = LIB.OPENSSL_sk_new_null()
    for f in files:
        LIB.SSL_add_file_cert_subjects_to_stack(sk, f.encode())
    for d in dirs:
        LIB.SSL_add_dir_cert_subjects_to_stack(sk, d.encode())
    n = int(LIB.OPENSSL_sk_num(sk))
    LIB.SSL_CTX_set_client_CA_list(p, sk)      # takes ownership
    return n


def copy_ctx_settings(sslp: int, ctx: ssl.SSLContext) -> None:
    """After an SNI switch (SSL_set_SSL_CTX), what OpenSSL leaves from the first context:
    options, verify mode/callback and the CA name list (Apache's ssl_find_vhost)."""
    p = ctx_ptr(ctx)
    if not p or not sslp:
        return
    LIB.SSL_clear_options(sslp, LIB.SSL_get_options(sslp) & ~LIB.SSL_CTX_get_options(p))
    LIB.SSL_set_options(sslp, LIB.SSL_CTX_get_options(p))
    LIB.SSL_set_verify(sslp, LIB.SSL_CTX_get_verify_mode(p), VERIFY_CALLBACK)
    names = LIB.SSL_CTX_get_client_CA_list(p)
    if names:
        LIB.SSL_set_client_CA_list(sslp, LIB.SSL_dup_CA_list(names))


def set_ciphersuites(ctx: ssl.SSLContext, suites: str) -> bool:
    p = ctx_ptr(ctx)
    return bool(p) and LIB.SSL_CTX_set_ciphersuites(p, suites.encode()) == 1


def ssl_set_cipher_list(sslp: int, spec: str) -> bool:
    return LIB.SSL_set_cipher_list(sslp, spec.encode()) == 1


def set_options(ctx: ssl.SSLContext, bits: int) -> None:
    p = ctx_ptr(ctx)
    if p:
        LIB.SSL_CTX_set_options(p, bits)


def ctx_options(ctx: ssl.SSLContext) -> int:
    p = ctx_ptr(ctx)
    return int(LIB.SSL_CTX_get_options(p)) if p else int(ctx.options)


def set_session_id_context(ctx: ssl.SSLContext, sid: bytes) -> None:
    p = ctx_ptr(ctx)
    if p:
        LIB.SSL_CTX_set_session_id_context(p, sid[:32], min(len(sid), 32))


def secure_renegotiation(sslp: int) -> bool:
    return bool(LIB.SSL_ctrl(sslp, SSL_CTRL_GET_RI_SUPPORT, 0, None))


def servername(sslp: int) -> str | None:
    v = LIB.SSL_get_servername(sslp, 0)
    return v.decode("latin-1") if v else None


# --- certificates of a connection ---------------------------------------------------------
def _der(x509: int) -> bytes:
    n = LIB.i2d_X509(x509, None)
    if n <= 0:
        return b""
    buf = ctypes.create_string_buffer(n)
    pp = ctypes.c_void_p(ctypes.addressof(buf))
    LIB.i2d_X509(x509, ctypes.byref(pp))
    return buf.raw


def peer_chain(sslp: int) -> list[bytes]:
    """SSL_get_peer_cert_chain as DER (on a server: without the client's own cert)."""
    sk = LIB.SSL_get_peer_cert_chain(sslp)
    if not sk:
        return []
    return [_der(LIB.OPENSSL_sk_value(sk, i)) for i in range(LIB.OPENSSL_sk_num(sk))]


def own_certificate(sslp: int) -> bytes:
    """The certificate this side presented (SSL_get_certificate) as DER."""
    x = LIB.SSL_get_certificate(sslp)
    return _der(x) if x else b""


# --- renegotiation -----------------------------------------------------------------------
SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION = 1 << 16


def renegotiate(sslp: int) -> bool:
    """A full new handshake (no resumption: the client must show its certificate)."""
    LIB.SSL_set_options(sslp, SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION)
    return LIB.SSL_renegotiate(sslp) == 1


def renegotiate_pending(sslp: int) -> bool:
    return bool(LIB.SSL_renegotiate_pending(sslp))


# --- session cache -----------------------------------------------------------------------
#: SSL_CTX * -> the session cache object (store/fetch/remove by session id)
CACHES: dict[int, Any] = {}


def _session_bytes(sess: int) -> tuple[bytes, bytes]:
    n = ctypes.c_uint(0)
    idp = LIB.SSL_SESSION_get_id(sess, ctypes.byref(n))
    sid = ctypes.string_at(idp, n.value) if idp and n.value else b""
    size = LIB.i2d_SSL_SESSION(sess, None)
    if size <= 0:
        return sid, b""
    buf = ctypes.create_string_buffer(size)
    pp = ctypes.c_void_p(ctypes.addressof(buf))
    LIB.i2d_SSL_SESSION(sess, ctypes.byref(pp))
    return sid, buf.raw


def _cache_for_ssl(sslp: int) -> Any:
    return CACHES.get(LIB.SSL_get_SSL_CTX(sslp) or 0)


#: SSL_CTX * whose TLS 1.3 sessions live in stateless tickets only (tickets on)
STATELESS_13: set[int] = set()


def _new_cb(sslp: int, sess: int) -> int:
    try:
        ctxp = LIB.SSL_get_SSL_CTX(sslp) or 0
        if ctxp in STATELESS_13 and \
                LIB.SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION:
            # a TLS 1.3 session is resumed from its (stateless) ticket: OpenSSL never
            # asks the cache for it, so storing it would only cost time and room
            return 0
        cache = CACHES.get(ctxp)
        if cache is not None:
            sid, der = _session_bytes(sess)
            if sid and der:
                expiry = LIB.SSL_SESSION_get_time(sess) + LIB.SSL_SESSION_get_timeout(sess)
                cache.store(sid, der, float(expiry))
    except Exception:  # noqa: BLE001
        pass
    return 0   # we keep no reference to the SSL_SESSION


def _get_cb(sslp: int, data: Any, length: int, copy: Any) -> int:
    try:
        copy[0] = 0
        cache = _cache_for_ssl(sslp)
        if cache is None:
            return 0
        der = cache.fetch(ctypes.string_at(data, length))
        if not der:
            return 0
        buf = ctypes.create_string_buffer(der, len(der))
        pp = ctypes.c_void_p(ctypes.addressof(buf))
        return LIB.d2i_SSL_SESSION(None, ctypes.byref(pp), len(der)) or 0
    except Exception:  # noqa: BLE001
        return 0


def _remove_cb(ctxp: int, sess: int) -> None:
    try:
        cache = CACHES.get(ctxp or 0)
        if cache is not None:
            n = ctypes.c_uint(0)
            idp = LIB.SSL_SESSION_get_id(sess, ctypes.byref(n))
            if idp and n.value:
                cache.remove(ctypes.string_at(idp, n.value))
    except Exception:  # noqa: BLE001
        pass


NEW_CALLBACK = NEW_SESSION_CB(_new_cb)
GET_CALLBACK = GET_SESSION_CB(_get_cb)
REMOVE_CALLBACK = REMOVE_SESSION_CB(_remove_cb)


def set_session_cache(ctx: ssl.SSLContext, cache: Any, mode_on: bool, timeout: int) -> bool:
    """Cache mode (SSL_SESS_CACHE_SERVER or OFF), timeout, and the external cache."""
    p = ctx_ptr(ctx)
    if not p:
        return False
    mode = SSL_SESS_CACHE_SERVER if mode_on else SSL_SESS_CACHE_OFF
    if mode_on and cache is not None:
        mode |= SSL_SESS_CACHE_NO_INTERNAL
    LIB.SSL_CTX_ctrl(p, SSL_CTRL_SET_SESS_CACHE_MODE, mode, None)
    LIB.SSL_CTX_set_timeout(p, timeout)
    if cache is not None:
        CACHES[p] = cache
        if ctx.options & ssl.OP_NO_TICKET:
            STATELESS_13.discard(p)
        else:
            STATELESS_13.add(p)
        LIB.SSL_CTX_sess_set_new_cb(p, NEW_CALLBACK)
        LIB.SSL_CTX_sess_set_get_cb(p, GET_CALLBACK)
        LIB.SSL_CTX_sess_set_remove_cb(p, REMOVE_CALLBACK)
    return True


def forget_context(ctx: ssl.SSLContext) -> None:
    p = ctx_ptr(ctx)
    CACHES.pop(p, None)
    STATELESS_13.discard(p)


__all__ = ["AVAILABLE", "LIB", "OPTIONAL_ERRORS", "REASON", "ctx_ptr", "ssl_ptr"]
