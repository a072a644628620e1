"""Password hashes as Apache writes and checks them (apr_password_validate, htpasswd).

Formats, as apr-util's ``apr_password_validate`` dispatches on the stored hash:

- ``$2y$``/``$2a$``/``$2b$`` bcrypt (through the ``bcrypt`` package);
- ``$apr1$`` APR's MD5-crypt (FreeBSD's MD5-crypt with the ``$apr1$`` magic);
- ``{SHA}`` the base64 SHA-1 of the password (no salt);
- anything else goes to crypt(3) as on Debian: ``$1$`` MD5-crypt, ``$5$``/``$6$``
  SHA-crypt (Drepper's specification), and traditional DES crypt (two salt characters,
  eight significant password characters), implemented here; other crypt(3) schemes
  (yescrypt ``$y$``, extended DES ``_``) through the stdlib ``crypt`` module when this
  Python still has it.

Plain text is never accepted: on Unix Apache hands it to crypt(), which does not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from typing import Any

__all__ = ["apr_md5_encode", "bcrypt_encode", "des_crypt", "md5_crypt", "sha1_encode",
           "sha_crypt", "validate", "ITOA64"]

ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_A64 = {c: i for i, c in enumerate(ITOA64)}


def _b(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("latin-1", "replace")


def _to64(v: int, n: int) -> str:
    out = []
    for _ in range(n):
        out.append(ITOA64[v & 0x3F])
        v >>= 6
    return "".join(out)


def gen_salt(n: int) -> str:
    """n random characters of crypt's alphabet (htpasswd's generate_salt)."""
    return "".join(secrets.choice(ITOA64) for _ in range(n))


# --- MD5-crypt ($1$, $apr1$) ----------------------------------------------------------------
def md5_crypt(password: str | bytes, salt: str, magic: str = "$1$") -> str:
    """FreeBSD MD5-crypt (apr_md5_encode with magic ``$apr1$``)."""
    pw = _b(password)
    if salt.startswith(magic):
        salt = salt[len(magic):]
    salt = salt.split("$", 1)[0][:8]
    sb = salt.encode("latin-1", "replace")
    mb = magic.encode()
    ctx = hashlib.md5(pw + mb + sb)
    final = hashlib.md5(pw + sb + pw).digest()
    pl = len(pw)
    while pl > 0:
        ctx.update(final[:min(16, pl)])
        pl -= 16
    i = len(pw)
    while i:
        ctx.update(b"\0" if i & 1 else pw[:1])
        i >>= 1
    final = ctx.digest()
    for i in range(1000):
        c = hashlib.md5(pw if i & 1 else final)
        if i % 3:
            c.update(sb)
        if i % 7:
            c.update(pw)
        c.update(final if i & 1 else pw)
        final = c.digest()
    f = final
    out = "".join(_to64((f[a] << 16) | (f[b] << 8) | f[c], 4)
                  for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)))
    out += _to64(f[11], 2)
    return f"{magic}{salt}${out}"


def apr_md5_encode(password: str | bytes, salt: str | None = None) -> str:
    return md5_crypt(password, salt if salt is not None else gen_salt(8), "$apr1$")


# --- {SHA} ----------------------------------------------------------------------------------
def sha1_encode(password: str | bytes) -> str:
    """apr_sha1_base64: ``{SHA}`` + base64(SHA-1(password))."""
    return "{SHA}" + base64.b64encode(hashlib.sha1(_b(password)).digest()).decode()


# --- SHA-crypt ($5$, $6$) -------------------------------------------------------------------
_SHA_ORDER: dict[str, tuple[Any, int, list[tuple[int, int, int]]]] = {
    "5": (hashlib.sha256, 32, [(0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23),
                              (24, 4, 14), (15, 25, 5), (6, 16, 26), (27, 7, 17),
                              (18, 28, 8), (9, 19, 29)]),
    "6": (hashlib.sha512, 64, [(0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45),
                              (25, 46, 4), (47, 5, 26), (6, 27, 48), (28, 49, 7),
                              (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
                              (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57),
                              (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19),
                              (62, 20, 41)]),
}


def sha_crypt(password: str | bytes, setting: str) -> str | None:
    """Drepper's SHA-crypt: ``setting`` is ``$5$[rounds=N$]salt`` or ``$6$...``."""
    pw = _b(password)
    parts = setting.split("$")
    if len(parts) < 3 or parts[0] != "" or parts[1] not in _SHA_ORDER:
        return None
    alg = parts[1]
    h, size, groups = _SHA_ORDER[alg]
    rest = parts[2:]
    rounds = 5000
    custom = False
    if rest[0].startswith("rounds="):
        try:
            rounds = int(rest[0][7:])
        except ValueError:
            return None
        rounds = max(1000, min(rounds, 999999999))
        custom = True
        rest = rest[1:]
        if not rest:
            return None
    salt = rest[0][:16].encode("latin-1", "replace")
    b = h(pw + salt + pw).digest()
    a = h(pw + salt)
    n = len(pw)
    while n > size:
        a.update(b)
        n -= size
    a.update(b[:n])
    n = len(pw)
    while n:
        a.update(b if n & 1 else pw)
        n >>= 1
    da = a.digest()
    dp = h(pw * len(pw)).digest()
    p = (dp * (len(pw) // size + 1))[:len(pw)]
    ds = h(salt * (16 + da[0])).digest()
    s = (ds * (len(salt) // size + 1))[:len(salt)]
    c = da
    for i in range(rounds):
        x = h(p if i & 1 else c)
        if i % 3:
            x.update(s)
        if i % 7:
            x.update(p)
        x.update(c if i & 1 else p)
        c = x.digest()
    out = "".join(_to64((c[i] << 16) | (c[j] << 8) | c[k], 4) for i, j, k in groups)
    if alg == "5":
        out += _to64((c[31] << 8) | c[30], 3)
    else:
        out += _to64(c[63], 2)
    head = f"${alg}$" + (f"rounds={rounds}$" if custom else "")
    return head + salt.decode("latin-1") + "$" + out


# --- traditional DES crypt --------------------------------------------------------------------
_PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19,
        11, 3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6,
        61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4]
_PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13,
        2, 41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42,
        50, 36, 29, 32]
_SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
_P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9,
      19, 13, 30, 6, 22, 11, 4, 25]
_FP = [40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22,
       62, 30, 37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11,
       51, 19, 59, 27, 34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25]
_S = [
    "14 4 13 1 2 15 11 8 3 10 6 12 5 9 0 7 0 15 7 4 14 2 13 1 10 6 12 11 9 5 3 8 "
    "4 1 14 8 13 6 2 11 15 12 9 7 3 10 5 0 15 12 8 2 4 9 1 7 5 11 3 14 10 0 6 13",
    "15 1 8 14 6 11 3 4 9 7 2 13 12 0 5 10 3 13 4 7 15 2 8 14 12 0 1 10 6 9 11 5 "
    "0 14 7 11 10 4 13 1 5 8 12 6 9 3 2 15 13 8 10 1 3 15 4 2 11 6 7 12 0 5 14 9",
    "10 0 9 14 6 3 15 5 1 13 12 7 11 4 2 8 13 7 0 9 3 4 6 10 2 8 5 14 12 11 15 1 "
    "13 6 4 9 8 15 3 0 11 1 2 12 5 10 14 7 1 10 13 0 6 9 8 7 4 15 14 3 11 5 2 12",
    "7 13 14 3 0 6 9 10 1 2 8 5 11 12 4 15 13 8 11 5 6 15 0 3 4 7 2 12 1 10 14 9 "
    "10 6 9 0 12 11 7 13 15 1 3 14 5 2 8 4 3 15 0 6 10 1 13 8 9 4 5 11 12 7 2 14",
    "2 12 4 1 7 10 11 6 8 5 3 15 13 0 14 9 14 11 2 12 4 7 13 1 5 0 15 10 3 9 8 6 "
    "4 2 1 11 10 13 7 8 15 9 12 5 6 3 0 14 11 8 12 7 1 14 2 13 6 15 0 9 10 4 5 3",
    "12 1 10 15 9 2 6 8 0 13 3 4 14 7 5 11 10 15 4 2 7 12 9 5 6 1 13 14 0 11 3 8 "
    "9 14 15 5 2 8 12 3 7 0 4 10 1 13 11 6 4 3 2 12 9 5 15 10 11 14 1 7 6 0 8 13",
    "4 11 2 14 15 0 8 13 3 12 9 7 5 10 6 1 13 0 11 7 4 9 1 10 14 3 5 12 2 15 8 6 "
    "1 4 11 13 12 3 7 14 10 15 6 8 0 5 9 2 6 11 13 8 1 4 10 7 9 5 0 15 14 2 3 12",
    "13 2 8 4 6 15 11 1 10 9 3 14 5 0 12 7 1 15 13 8 10 3 7 4 12 5 6 11 0 14 9 2 "
    "7 11 4 1 9 12 14 2 0 6 10 13 15 3 5 8 2 1 14 7 4 10 8 13 15 12 9 0 3 5 6 11",
]


def _permute(v: int, table: list[int], nbits: int) -> int:
    out = 0
    for pos in table:
        out = (out << 1) | ((v >> (nbits - pos)) & 1)
    return out


def _make_sp() -> list[list[int]]:
    sp = []
    for j, text in enumerate(_S):
        box = [int(x) for x in text.split()]
        row = []
        for v in range(64):
            r = ((v >> 4) & 2) | (v & 1)
            c = (v >> 1) & 0xF
            s = box[r * 16 + c] << (28 - 4 * j)
            row.append(_permute(s, _P, 32))
        sp.append(row)
    return sp


_SP = _make_sp()


def _des_keys(key: bytes) -> list[int]:
    k = 0
    for i in range(8):
        k = (k << 8) | (((key[i] if i < len(key) else 0) << 1) & 0xFF)
    cd = _permute(k, _PC1, 64)
    c, d = cd >> 28, cd & 0xFFFFFFF
    out = []
    for s in _SHIFTS:
        c = ((c << s) | (c >> (28 - s))) & 0xFFFFFFF
        d = ((d << s) | (d >> (28 - s))) & 0xFFFFFFF
        out.append(_permute((c << 28) | d, _PC2, 56))
    return out


def des_crypt(password: str | bytes, salt: str) -> str | None:
    """Traditional crypt(3): 2 salt characters, 8 significant password characters."""
    if len(salt) < 2 or salt[0] not in _A64 or salt[1] not in _A64:
        return None
    pw = _b(password)
    if b"\0" in pw:
        pw = pw.split(b"\0", 1)[0]
    keys = _des_keys(pw[:8])
    sv = _A64[salt[0]] | (_A64[salt[1]] << 6)
    smask = 0
    for i in range(12):
        if sv >> i & 1:
            # salt bit i swaps E-output bits i and i+24 (counted from the left)
            smask |= 1 << (23 - (i % 6) - 6 * (i // 6))
    sp0, sp1, sp2, sp3, sp4, sp5, sp6, sp7 = _SP
    left = right = 0
    for _ in range(25):
        for k in keys:
            x = ((right & 1) << 33) | (right << 1) | (right >> 31)
            e = 0
            for j in range(8):
                e = (e << 6) | ((x >> (28 - 4 * j)) & 0x3F)
            if smask:
                t = ((e >> 24) ^ e) & smask
                e ^= t | (t << 24)
            e ^= k
            f = (sp0[e >> 42] | sp1[(e >> 36) & 63] | sp2[(e >> 30) & 63]
                 | sp3[(e >> 24) & 63] | sp4[(e >> 18) & 63] | sp5[(e >> 12) & 63]
                 | sp6[(e >> 6) & 63] | sp7[e & 63])
            left, right = right, left ^ f
        left, right = right, left
    block = _permute((left << 32) | right, _FP, 64) << 2
    out = "".join(ITOA64[(block >> (60 - 6 * i)) & 0x3F] for i in range(11))
    return salt[:2] + out


# --- bcrypt -----------------------------------------------------------------------------------
def bcrypt_encode(password: str | bytes, cost: int = 5) -> str:
    """htpasswd -B: a ``$2y$`` hash (the bcrypt package writes ``$2b$``; same algorithm)."""
    import bcrypt

    h = bcrypt.hashpw(_b(password)[:72], bcrypt.gensalt(cost, prefix=b"2b")).decode()
    return "$2y$" + h[4:]


def _bcrypt_check(pw: bytes, stored: str) -> bool:
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - a dependency
        return _stdlib_crypt(pw, stored)
    h = stored.encode("latin-1", "replace")
    if h[:4] in (b"$2y$", b"$2x$"):
        h = b"$2b$" + h[4:]
    try:
        return bcrypt.checkpw(pw[:72], h)
    except ValueError:
        return False


def _stdlib_crypt(pw: bytes, stored: str) -> bool:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt as _crypt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    try:
        out = _crypt.crypt(pw.decode("latin-1"), stored)
    except (OSError, ValueError):
        return False
    return out is not None and hmac.compare_digest(out, stored)


def crypt(password: str | bytes, setting: str) -> str | None:
    """crypt(3) for the schemes implemented here; None for an unknown setting."""
    if setting.startswith("$1$"):
        return md5_crypt(password, setting, "$1$")
    if setting.startswith(("$5$", "$6$")):
        return sha_crypt(password, setting)
    if setting.startswith("$"):
        return None
    return des_crypt(password, setting)


def validate(password: str | bytes, stored: str) -> bool:
    """apr_password_validate: does ``password`` match the stored hash?"""
    pw = _b(password)
    if stored[:4] in ("$2a$", "$2y$", "$2b$", "$2x$"):
        return _bcrypt_check(pw, stored)
    if stored.startswith("$apr1$"):
        sample: str | None = md5_crypt(pw, stored, "$apr1$")
    elif stored.startswith("{SHA}"):
        sample = sha1_encode(pw)
    elif stored.startswith(("$1$", "$5$", "$6$")):
        sample = crypt(pw, stored)
    elif stored.startswith(("$", "_")):
        return _stdlib_crypt(pw, stored)
    elif len(stored) == 13:
        sample = des_crypt(pw, stored)
    else:
        return False
    return sample is not None and hmac.compare_digest(sample.encode("latin-1", "replace"),
                                                      stored.encode("latin-1", "replace"))


class VerifiedCache:
    """Remembers (hash, password) pairs that verified, as mod_authn_socache does, so a
    slow hash (bcrypt) is paid once per password and process. Only a keyed digest of
    the pair is kept; a changed hash in the file is a new key."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.key = os.urandom(32)
        self.ok: dict[bytes, None] = {}

    def check(self, password: str | bytes, stored: str) -> bool:
        d = hmac.new(self.key, stored.encode("latin-1", "replace") + b"\0" + _b(password),
                     hashlib.sha256).digest()
        if d in self.ok:
            return True
        if not validate(password, stored):
            return False
        if len(self.ok) >= self.size:
            self.ok.pop(next(iter(self.ok)))
        self.ok[d] = None
        return True
