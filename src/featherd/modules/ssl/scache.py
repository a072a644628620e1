"""The inter-process SSL session cache (ssl_scache*.c) and SSLMutex.

OpenSSL keeps sessions per process; with worker processes a client that comes back on
another connection lands on any of them, so ``SSLSessionCache`` gives OpenSSL an
external store through the new/get/remove session callbacks:

* ``shmcb:/path[(size)]`` (also ``shm:``/``shmht:``): a table in one anonymous shared
  memory segment made before the workers are forked, in buckets of four slots picked by
  a hash of the session id; a full bucket drops its oldest session (like shmcb's cyclic
  buffer, expired sessions go first);
* ``dbm:/path``: an SDBM file (Apache's format: the expiry time, then the DER session),
  opened for each operation; sessions too big for an SDBM pair are not stored, and
  expired entries are purged at most every SSLSessionCacheTimeout seconds;
* ``none``/``nonenotnull``: no cache at all (OpenSSL's own is switched off too, as 2.2).

Every access holds the ``SSLMutex``: a process-shared semaphore (``sem``, ``default``)
or a ``fcntl`` lock on a file (``file:``/``fcntl:``/``flock:``); ``none`` takes no lock.
TLS session tickets are encrypted with keys made in the master, so they resume on any
worker without the cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import multiprocessing
import os
import struct
import time
from typing import Any

from featherd.modules.ssl.config import CacheSpec, MutexSpec

SLOT = 4096
WAYS = 4
_HEAD = struct.Struct("<dB32sH")           # expiry, id length, id, data length
MAX_ID = 32
MAX_DATA = SLOT - _HEAD.size
SDBM_PAIRMAX = 1008


class Mutex:
    """SSLMutex: acquire()/release() across the worker processes."""

    def __init__(self, spec: MutexSpec | None) -> None:
        self.kind = spec.kind if spec is not None else "sem"
        self.path = spec.path if spec is not None else ""
        self.fd = -1
        self.held = False
        self.sem: Any = None
        if self.kind == "sem":
            self.sem = multiprocessing.Lock()
        elif self.kind == "file":
            base = self.path
            if os.path.isdir(base):
                base = os.path.join(base, "ssl_mutex")
            self.path = f"{base}.{os.getpid()}"
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.unlink(self.path)    # the workers inherit the descriptor; nothing is left

    def acquire(self) -> bool:
        if self.sem is not None:
            return bool(self.sem.acquire(timeout=2.0))
        if self.fd >= 0:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self.sem is not None:
            self.sem.release()
        elif self.fd >= 0:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def __enter__(self) -> bool:
        self.held = self.acquire()
        return self.held

    def __exit__(self, *exc: Any) -> None:
        if self.held and (self.sem is not None or self.fd >= 0):
            self.release()
        self.held = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class ShmcbCache:
    """Sessions in a shared memory segment: ``store``/``fetch``/``remove`` by id."""

    def __init__(self, size: int, timeout: int, mutex: Mutex) -> None:
        self.nslots = max(WAYS, (size // SLOT) // WAYS * WAYS)
        self.mem = mmap.mmap(-1, self.nslots * SLOT)
        self.timeout = timeout
        self.mutex = mutex
        self.stores = 0
        self.hits = 0
        self.misses = 0

    def _bucket(self, sid: bytes) -> int:
        h = int.from_bytes(hashlib.blake2b(sid, digest_size=8).digest(), "little")
        return (h % (self.nslots // WAYS)) * WAYS

    def _slot(self, i: int) -> tuple[float, bytes, int]:
        exp, n, sid, dlen = _HEAD.unpack_from(self.mem, i * SLOT)
        return exp, sid[:n], dlen

    def store(self, sid: bytes, der: bytes, expiry: float | None = None) -> bool:
        """Keep a session until ``expiry`` (default: now + SSLSessionCacheTimeout)."""
        if len(sid) > MAX_ID or len(der) > MAX_DATA:
            return False
        now = time.time()
        until = expiry if expiry is not None else now + self.timeout
        b = self._bucket(sid)
        with self.mutex as ok:
            if not ok:
                return False
            victim, oldest = b, float("inf")
            for i in range(b, b + WAYS):
                exp, s, _ = self._slot(i)
                if s == sid or exp <= now:
                    victim = i
                    break
                if exp < oldest:
                    victim, oldest = i, exp
            off = victim * SLOT
            _HEAD.pack_into(self.mem, off, until, len(sid), sid, len(der))
            self.mem[off + _HEAD.size:off + _HEAD.size + len(der)] = der
            self.stores += 1
        return True

    def fetch(self, sid: bytes) -> bytes | None:
        now = time.time()
        b = self._bucket(sid)
        with self.mutex as ok:
            if not ok:
                return None
            for i in range(b, b + WAYS):
                exp, s, dlen = self._slot(i)
                if s == sid and exp > now:
                    off = i * SLOT + _HEAD.size
                    self.hits += 1
                    return bytes(self.mem[off:off + dlen])
            self.misses += 1
        return None

    def remove(self, sid: bytes) -> None:
        b = self._bucket(sid)
        with self.mutex as ok:
            if not ok:
                return
            for i in range(b, b + WAYS):
                _, s, _ = self._slot(i)
                if s == sid:
                    _HEAD.pack_into(self.mem, i * SLOT, 0.0, 0, b"", 0)

    def status(self) -> dict[str, int]:
        now = time.time()
        used = sum(1 for i in range(self.nslots) if self._slot(i)[0] > now)
        return {"slots": self.nslots, "used": used, "stores": self.stores,
                "hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        self.mem.close()


class DbmCache:
    """Sessions in an SDBM file (ssl_scache_dbm.c)."""

    def __init__(self, path: str, timeout: int, mutex: Mutex) -> None:
        from featherd.support.dbmfile import open_dbm

        self.path = path
        self.timeout = timeout
        self.mutex = mutex
        self.last_purge = 0.0
        db = open_dbm("default", path, "c", 0o600)   # create it now, as the master
        db.close()

    def _open(self, flag: str) -> Any:
        from featherd.support.dbmfile import open_dbm

        return open_dbm("default", self.path, flag, 0o600)

    def store(self, sid: bytes, der: bytes, expiry: float | None = None) -> bool:
        until = int(expiry) if expiry is not None else int(time.time()) + self.timeout
        value = struct.pack("<q", until) + der
        if len(sid) + len(value) > SDBM_PAIRMAX:
            return False
        with self.mutex as ok:
            if not ok:
                return False
            db = self._open("w")
            try:
                db.store(sid, value)
            finally:
                db.close()
        if time.time() - self.last_purge > self.timeout:
            self.expire()
        return True

    def fetch(self, sid: bytes) -> bytes | None:
        with self.mutex as ok:
            if not ok:
                return None
            db = self._open("r")
            try:
                value = db.fetch(sid)
            finally:
                db.close()
        if not value or len(value) < 8:
            return None
        (exp,) = struct.unpack_from("<q", value)
        if exp <= time.time():
            self.remove(sid)
            return None
        return bytes(value[8:])

    def remove(self, sid: bytes) -> None:
        with self.mutex as ok:
            if not ok:
                return
            db = self._open("w")
            try:
                db.delete(sid)
            finally:
                db.close()

    def expire(self) -> int:
        """ssl_scache_dbm_expire: drop what has expired; the number dropped."""
        now = time.time()
        self.last_purge = now
        n = 0
        with self.mutex as ok:
            if not ok:
                return 0
            db = self._open("w")
            try:
                for k in db.keys():
                    v = db.fetch(k)
                    if v is None or len(v) < 8 or struct.unpack_from("<q", v)[0] <= now:
                        db.delete(k)
                        n += 1
            finally:
                db.close()
        return n

    def close(self) -> None:
        pass


def make_cache(spec: CacheSpec | None, timeout: int, mutex: Mutex) -> Any:
    """The cache object for the SSLSessionCache spec (None for none/nonenotnull)."""
    if spec is None or spec.kind in ("none", "nonenotnull"):
        return None
    if spec.kind == "dbm":
        return DbmCache(spec.path, timeout, mutex)
    return ShmcbCache(spec.size, timeout, mutex)


__all__ = ["DbmCache", "Mutex", "ShmcbCache", "make_cache"]
