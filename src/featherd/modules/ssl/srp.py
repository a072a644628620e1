"""TLS-SRP (2.4's SSLSRPVerifierFile and SSLSRPUnknownUserSeed; the SSL_SRP_USER and
SSL_SRP_USERINFO variables), through libssl's SRP calls as mod_ssl makes them.

The OpenSSL 3 in use still has SRP (deprecated, not removed: ``SRP_VBASE_*``,
``SSL_CTX_set_srp_username_callback``, ``SSL_set_srp_server_param``); Python's ``ssl``
has no SRP at all, hence ctypes. SRP key exchange exists in TLS 1.2 and below only, with
the ``SRP`` cipher suites (``SSLCipherSuite SRP:...``): a TLS 1.3 handshake never uses it.

* start-up (ssl_init_ctx, "TLS-SRP support"): ``SRP_VBASE_new(seed)``, then
  ``SRP_VBASE_init(vbase, file)`` on the ``openssl srp`` verifier file, the username
  callback on the server's context;
* the callback (ssl_callback_SRPServerParams): the user the client names is looked up;
  unknown users fail the handshake with ``unknown_psk_identity`` unless an
  SSLSRPUnknownUserSeed makes OpenSSL fake stable parameters for them (so that a client
  can't tell which users exist); a known one gets its N, g, salt, verifier and info.
"""

from __future__ import annotations

import ctypes
from typing import Any

from featherd.modules.ssl import libssl

c_void_p, c_int, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
SRP_NO_ERROR = 0
SSL_ERROR_NONE = 0
SSL3_AL_FATAL = 2
SSL_AD_INTERNAL_ERROR = 80
SSL_AD_UNKNOWN_PSK_IDENTITY = 115


class SRPUserPwd(ctypes.Structure):
    """SRP_user_pwd (openssl/srp.h; a public struct)."""

    _fields_ = [("id", c_char_p), ("s", c_void_p), ("v", c_void_p), ("g", c_void_p),
                ("N", c_void_p), ("info", c_char_p)]


USERNAME_CB = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(c_int), c_void_p)

_SSL_SIGS: dict[str, tuple[Any, list[Any]]] = {
    "SSL_CTX_set_srp_username_callback": (c_int, [c_void_p, USERNAME_CB]),
    "SSL_CTX_set_srp_cb_arg": (c_int, [c_void_p, c_void_p]),
    "SSL_set_srp_server_param": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p,
                                         c_char_p]),
    "SSL_get_srp_username": (c_char_p, [c_void_p]),
    "SSL_get_srp_userinfo": (c_char_p, [c_void_p]),
}
_CRYPTO_SIGS: dict[str, tuple[Any, list[Any]]] = {
    "SRP_VBASE_new": (c_void_p, [c_char_p]),
    "SRP_VBASE_free": (None, [c_void_p]),
    "SRP_VBASE_init": (c_int, [c_void_p, c_char_p]),
    "SRP_VBASE_get1_by_user": (ctypes.POINTER(SRPUserPwd), [c_void_p, c_char_p]),
    "SRP_user_pwd_free": (None, [ctypes.POINTER(SRPUserPwd)]),
}


class _SRPLib:
    def __init__(self) -> None:
        self.ok = False
        self.error = ""
        if not libssl.AVAILABLE:
            self.error = f"mod_ssl's OpenSSL extensions are off ({libssl.REASON})"
            return
        try:
            libs = (ctypes.CDLL(libssl._libname("ssl")), ctypes.CDLL(libssl._libname("crypto")))
        except OSError as e:
            self.error = f"cannot load libssl: {e}"
            return
        for lib, sigs in zip(libs, (_SSL_SIGS, _CRYPTO_SIGS), strict=True):
            for name, (res, args) in sigs.items():
                fn = getattr(lib, name, None)
                if fn is None:
                    self.error = f"this OpenSSL has no SRP ({name} not found)"
                    return
                fn.restype = res
                fn.argtypes = args
                setattr(self, name, fn)
        self.ok = True


_LIB: _SRPLib | None = None


def lib() -> _SRPLib:
    global _LIB
    if _LIB is None:
        _LIB = _SRPLib()
    return _LIB


def available() -> tuple[bool, str]:
    """(SRP usable, why not)."""
    lb = lib()
    return lb.ok, lb.error


#: SSL_CTX * -> SRP_VBASE * of the context's server
VBASES: dict[int, int] = {}


def _username_cb(sslp: int, ad: Any, arg: int) -> int:
    """ssl_callback_SRPServerParams."""
    try:
        lb = lib()
        vbase = VBASES.get(libssl.LIB.SSL_get_SSL_CTX(sslp) or 0)
        name = lb.SSL_get_srp_username(sslp)
        user = lb.SRP_VBASE_get1_by_user(vbase, name) if vbase and name else None
        if not user:
            ad[0] = SSL_AD_UNKNOWN_PSK_IDENTITY
            return SSL3_AL_FATAL
        try:
            u = user.contents
            if lb.SSL_set_srp_server_param(sslp, u.N, u.g, u.s, u.v, u.info) < 0:
                ad[0] = SSL_AD_INTERNAL_ERROR
                return SSL3_AL_FATAL
        finally:
            lb.SRP_user_pwd_free(user)
        # reset all other options (no client certificate on top of SRP)
        libssl.ssl_set_verify(sslp, libssl.SSL_VERIFY_NONE)
        return SSL_ERROR_NONE
    except Exception:  # noqa: BLE001 - never let an exception cross into C
        ad[0] = SSL_AD_INTERNAL_ERROR
        return SSL3_AL_FATAL


USERNAME_CALLBACK = USERNAME_CB(_username_cb)


def configure(ctx: Any, vfile: str, seed: str | None) -> str | None:
    """Load the verifier file for this context; None when done, else the error."""
    lb = lib()
    if not lb.ok:
        return f"TLS-SRP is not available: {lb.error}"
    p = libssl.ctx_ptr(ctx)
    vbase = lb.SRP_VBASE_new(seed.encode() if seed else None)
    if not vbase:
        return (f"Unable to initialize SRP verifier structure "
                f"[{'with' if seed else 'without'} seed]")
    err = lb.SRP_VBASE_init(vbase, vfile.encode())
    if err != SRP_NO_ERROR:
        lb.SRP_VBASE_free(vbase)
        return f"Unable to load SRP verifier file [error {err}]"
    old = VBASES.pop(p, None)
    if old:
        lb.SRP_VBASE_free(old)
    VBASES[p] = vbase
    lb.SSL_CTX_set_srp_username_callback(p, USERNAME_CALLBACK)
    return None


def forget(ctx: Any) -> None:
    vbase = VBASES.pop(libssl.ctx_ptr(ctx), None)
    if vbase:
        lib().SRP_VBASE_free(vbase)


def username(sslp: int) -> str | None:
    """SSL_SRP_USER: the SRP user of the connection (None without SRP)."""
    if not sslp or not VBASES or not lib().ok:
        return None
    v = lib().SSL_get_srp_username(sslp)
    return v.decode("utf-8", "replace") if v else None


def userinfo(sslp: int) -> str | None:
    """SSL_SRP_USERINFO: the info field of the user's verifier file line."""
    if not sslp or not VBASES or not lib().ok:
        return None
    v = lib().SSL_get_srp_userinfo(sslp)
    return v.decode("utf-8", "replace") if v else None


__all__ = ["available", "configure", "forget", "userinfo", "username"]
