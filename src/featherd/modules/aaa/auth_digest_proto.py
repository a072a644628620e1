"""The protocol side of mod_auth_digest, without configuration: the client records in
memory shared by the worker processes, the client's Authorization header, the nonce
hash and the request digests (RFC 2617).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from featherd.modules.aaa.common import NOTICE

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.aaa.mod_auth_digest import DigestConfig

NONCE_TIME_LEN = 12
NONCE_HASH_LEN = 40
NONCE_LEN = NONCE_TIME_LEN + NONCE_HASH_LEN
_ENTRY = struct.Struct("<IIq53s33s")     # key, nonce_count, unused, last_nonce, ha1
ENTRY_SIZE = 104


# --- shared state: secret, one-time-nonce counter, client records ------------------------------
class ClientTable:
    """client_list in shared memory: one record per opaque value, replaced when its
    bucket is needed for a new client (Apache's garbage collection)."""

    def __init__(self, size: int) -> None:
        self.slots = max(1, (size - 32) // ENTRY_SIZE)
        self.mem = mmap.mmap(-1, 16 + self.slots * ENTRY_SIZE)
        self.secret = os.urandom(20)

    def _off(self, key: int) -> int:
        return 16 + (key % self.slots) * ENTRY_SIZE

    def next_otn(self) -> int:
        n = struct.unpack_from("<Q", self.mem, 0)[0] + 1
        struct.pack_into("<Q", self.mem, 0, n)
        return int(n)

    def gen(self) -> int:
        while True:
            key = struct.unpack("<I", os.urandom(4))[0]
            if key:
                break
        _ENTRY.pack_into(self.mem, self._off(key), key, 0, 0, b"", b"")
        return key

    def get(self, key: int) -> list[Any] | None:
        if not key:
            return None
        k, nc, _, last, ha1 = _ENTRY.unpack_from(self.mem, self._off(key))
        if k != key:
            return None
        return [nc, last.rstrip(b"\0").decode("latin-1"), ha1.rstrip(b"\0").decode("latin-1")]

    def put(self, key: int, nc: int, last: str, ha1: str) -> None:
        if not key:
            return
        off = self._off(key)
        if _ENTRY.unpack_from(self.mem, off)[0] != key:
            return
        _ENTRY.pack_into(self.mem, off, key, nc & 0xFFFFFFFF, 0, last.encode("latin-1"),
                         ha1.encode("latin-1"))


# --- the client's header ---------------------------------------------------------------------
class DigestResp:
    __slots__ = ("sts", "scheme", "username", "realm", "nonce", "uri", "digest", "algorithm",
                 "cnonce", "opaque", "opaque_num", "message_qop", "nonce_count", "client",
                 "needed_auth", "nonce_time", "raw_request_uri", "method")

    def __init__(self) -> None:
        for s in self.__slots__:
            setattr(self, s, None)
        self.opaque_num = 0
        self.needed_auth = False
        self.nonce_time = 0


def parse_digest_header(line: str | None, resp: DigestResp) -> str:
    """get_digest_rec: 'NO_HEADER', 'NOT_DIGEST', 'INVALID' or 'VALID'."""
    if line is None:
        return "NO_HEADER"
    s = line.lstrip(" \t")
    i = 0
    while i < len(s) and s[i] not in " \t":
        i += 1
    resp.scheme = s[:i]
    if resp.scheme.lower() != "digest":
        return "NOT_DIGEST"
    n = len(s)
    fields: dict[str, str] = {}
    while i < n:
        while i < n and s[i].isspace():
            i += 1
        k0 = i
        while i < n and s[i] not in "=," and not s[i].isspace():
            i += 1
        key = s[k0:i]
        while i < n and s[i].isspace():
            i += 1
        val: list[str] = []
        if i < n and s[i] == "=":
            i += 1
            while i < n and s[i].isspace():
                i += 1
            if i < n and s[i] == '"':
                i += 1
                while i < n and s[i] != '"':
                    if s[i] == "\\" and i + 1 < n:
                        i += 1
                    val.append(s[i])
                    i += 1
                if i < n:
                    i += 1
            else:
                while i < n and s[i] != "," and not s[i].isspace():
                    val.append(s[i])
                    i += 1
        while i < n and s[i] != ",":
            i += 1
        if i < n:
            i += 1
        if key:
            fields[key.lower()] = "".join(val)
    resp.username = fields.get("username")
    resp.realm = fields.get("realm")
    resp.nonce = fields.get("nonce")
    resp.uri = fields.get("uri")
    resp.digest = fields.get("response")
    resp.algorithm = fields.get("algorithm")
    resp.cnonce = fields.get("cnonce")
    resp.opaque = fields.get("opaque")
    resp.message_qop = fields.get("qop")
    resp.nonce_count = fields.get("nc")
    if (resp.username is None or resp.realm is None or resp.nonce is None or resp.uri is None
            or resp.digest is None
            or (resp.message_qop is not None and (resp.cnonce is None or resp.nonce_count is None))):
        return "INVALID"
    if resp.opaque is not None:
        resp.opaque_num = _strtol16(resp.opaque)
    return "VALID"


def _strtol16(s: str) -> int:
    s = s.strip()
    j = 0
    while j < len(s) and s[j] in "0123456789abcdefABCDEF":
        j += 1
    return int(s[:j], 16) & 0xFFFFFFFFFFFFFFFF if j else 0


# --- hashes ----------------------------------------------------------------------------------
def md5_hex(s: str) -> str:
    return hashlib.md5(s.encode("latin-1", "replace")).hexdigest()


def nonce_hash(secret: bytes, timestr: str, opaque: str | None) -> str:
    h = hashlib.sha1(secret)
    h.update(timestr.encode("latin-1", "replace"))
    if opaque:
        h.update(opaque.encode("latin-1", "replace"))
    return h.hexdigest()


def ha1_for(r: Request, resp: DigestResp, conf: DigestConfig, ha1: str) -> str:
    if resp.algorithm and resp.algorithm.lower() == "md5-sess":
        return md5_hex(f"{ha1}:{resp.nonce}:{resp.cnonce or ''}")
    return ha1


def new_digest(r: Request, resp: DigestResp, conf: DigestConfig, ha1: str) -> str:
    ha2 = md5_hex(f"{resp.method}:{resp.uri}")
    return md5_hex(f"{ha1_for(r, resp, conf, ha1)}:{resp.nonce}:{resp.nonce_count}:"
                f"{resp.cnonce}:{resp.message_qop}:{ha2}")


def old_digest(r: Request, resp: DigestResp, ha1: str) -> str:
    ha2 = md5_hex(f"{resp.method}:{resp.uri}")
    return md5_hex(f"{ha1}:{resp.nonce}:{ha2}")


def uri_matches(r: Request, resp: DigestResp) -> bool:
    """The request-uri in the header names this request (scheme://host forms too)."""
    d = urlsplit(resp.uri or "")
    q = urlsplit(resp.raw_request_uri or "")
    if d.hostname and r.server.server_hostname and d.hostname.lower() != \
            r.server.server_hostname.lower() and d.hostname.lower() != (r.hostname or ""):
        return False
    dpath = unquote(d.path, encoding="latin-1")
    rpath = unquote(q.path, encoding="latin-1")
    if dpath != rpath and not (dpath == "*" and not rpath and q.hostname):
        return False
    dq = d.query if d.query or "?" in (resp.uri or "") else None
    rq = q.query if q.query or "?" in (resp.raw_request_uri or "") else None
    if dq is None and rq is not None and "AuthDigestEnableQueryStringHack" in r.subprocess_env:
        r.log_error(NOTICE, "Digest: applying AuthDigestEnableQueryStringHack to uri "
                            f"<{resp.raw_request_uri}>")
        dq = rq
    return (unquote(dq, encoding="latin-1") if dq is not None else None) == \
        (unquote(rq, encoding="latin-1") if rq is not None else None)
