"""Apache's SDBM files (apr_sdbm), read and written byte for byte as APR does.

An SDBM database is two files: ``NAME.dir``, a bitmap of split pages (4096-byte
blocks), and ``NAME.pag``, 1024-byte pages of key/value pairs. This is the default
DBM format of ``httxt2dbm``, ``htdbm`` and of Apache's ``RewriteMap dbm:``, ``AuthDBM*``
directives. The layout follows apr-util's ``sdbm.c``/``sdbm_pair.c`` (Ozan Yigit's
sdbm, based on Per-Aake Larson's dynamic hashing)::

    page:  | n | keyoff | datoff | keyoff | datoff | ... free ... | data | key | data | key |
           (little-endian shorts from the start; keys and values packed from the end)

Keys are hashed with ``n = c + 65599 * n`` over the bytes taken as signed chars (as
the C code does on x86); bit ``k`` of the hash chooses between the two halves of a
split page at depth ``k``.

Usage::

    with SDBM("users", "c") as db:       # "r" read, "w" read/write, "c" create, "n" new
        db[b"key"] = b"value"
        db.get(b"key")

Locking: an fcntl lock on the .dir file, shared for readers and exclusive for
writers, held while the database is open (as APR does for non-shared opens).
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterator
from typing import Any

__all__ = ["DBLKSIZ", "PAIRMAX", "PBLKSIZ", "SDBM", "SDBMError", "sdbm_hash", "used_names"]

DBLKSIZ = 4096
PBLKSIZ = 1024
PAIRMAX = 1008
SPLTMAX = 10
BYTESIZ = 8
DIRFEXT = ".dir"
PAGFEXT = ".pag"

INSERT = 0
REPLACE = 1
INSERTDUP = 2

_MASK64 = (1 << 64) - 1


class SDBMError(OSError):
    """A database that cannot be opened, read or written."""


def sdbm_hash(key: bytes) -> int:
    """sdbm_hash(): the polynomial hash over signed chars, modulo 2**64 (C's unsigned long)."""
    n = 0
    for b in key:
        if b >= 128:
            b -= 256
        n = (b + 65599 * n) & _MASK64
    return n


def used_names(path: str) -> tuple[str, str]:
    """apr_dbm_get_usednames for SDBM: the two files a database named ``path`` uses."""
    return path + DIRFEXT, path + PAGFEXT


# --- page operations (sdbm_pair.c) -------------------------------------------------------
def _ino(page: bytearray | bytes, i: int) -> int:
    return struct.unpack_from("<h", page, 2 * i)[0]  # type: ignore[no-any-return]


def _set_ino(page: bytearray, i: int, v: int) -> None:
    struct.pack_into("<h", page, 2 * i, v)


def _free_end(page: bytearray | bytes) -> tuple[int, int]:
    n = _ino(page, 0)
    return n, (_ino(page, n) if n > 0 else PBLKSIZ)


def fitpair(page: bytearray | bytes, need: int) -> bool:
    n, off = _free_end(page)
    avail = off - (n + 1) * 2
    return need + 4 <= avail


def putpair(page: bytearray, key: bytes, val: bytes) -> None:
    n, off = _free_end(page)
    off -= len(key)
    page[off:off + len(key)] = key
    _set_ino(page, n + 1, off)
    off -= len(val)
    page[off:off + len(val)] = val
    _set_ino(page, n + 2, off)
    _set_ino(page, 0, n + 2)


def _seepair(page: bytearray | bytes, n: int, key: bytes) -> int:
    off = PBLKSIZ
    klen = len(key)
    for i in range(1, n, 2):
        ko = _ino(page, i)
        if off - ko == klen and page[ko:off] == key:
            return i
        off = _ino(page, i + 1)
    return 0


def getpair(page: bytearray | bytes, key: bytes) -> bytes | None:
    n = _ino(page, 0)
    if n == 0:
        return None
    i = _seepair(page, n, key)
    if i == 0:
        return None
    return bytes(page[_ino(page, i + 1):_ino(page, i)])


def duppair(page: bytearray | bytes, key: bytes) -> bool:
    n = _ino(page, 0)
    return n > 0 and _seepair(page, n, key) > 0


def delpair(page: bytearray, key: bytes) -> bool:
    n = _ino(page, 0)
    if n == 0:
        return False
    i = _seepair(page, n, key)
    if i == 0:
        return False
    if i < n - 1:
        dst = PBLKSIZ if i == 1 else _ino(page, i - 1)
        src = _ino(page, i + 1)
        zoo = dst - src
        m = _ino(page, i + 1) - _ino(page, n)
        page[dst - m:dst] = page[src - m:src]
        while i < n - 1:
            _set_ino(page, i, _ino(page, i + 2) + zoo)
            i += 1
    _set_ino(page, 0, n - 2)
    return True


def pairs(page: bytearray | bytes) -> Iterator[tuple[bytes, bytes]]:
    n = _ino(page, 0)
    off = PBLKSIZ
    for i in range(1, n, 2):
        ko = _ino(page, i)
        vo = _ino(page, i + 1)
        yield bytes(page[ko:off]), bytes(page[vo:ko])
        off = vo


def splpage(page: bytearray, new: bytearray, sbit: int) -> None:
    cur = bytes(page)
    page[:] = bytes(PBLKSIZ)
    new[:] = bytes(PBLKSIZ)
    for key, val in pairs(cur):
        putpair(new if sdbm_hash(key) & sbit else page, key, val)


def chkpage(page: bytearray | bytes) -> bool:
    n = _ino(page, 0)
    if n < 0 or n > PBLKSIZ // 2:
        return False
    if n > 0:
        off = PBLKSIZ
        for i in range(1, n, 2):
            a, b = _ino(page, i), _ino(page, i + 1)
            if a > off or b > off or b > a:
                return False
            off = b
    return True


# --- the database (sdbm.c) ----------------------------------------------------------------
class SDBM:
    """An open SDBM database. Keys and values are bytes (str is encoded as UTF-8)."""

    def __init__(self, path: str, flag: str = "r", mode: int = 0o644) -> None:
        self.path = path
        self.rdonly = flag == "r"
        if flag == "r":
            oflag = os.O_RDONLY
        elif flag == "w":
            oflag = os.O_RDWR
        elif flag == "c":
            oflag = os.O_RDWR | os.O_CREAT
        elif flag == "n":
            oflag = os.O_RDWR | os.O_CREAT | os.O_TRUNC
        else:
            raise ValueError("flag must be one of 'r', 'w', 'c', 'n'")
        oflag |= getattr(os, "O_CLOEXEC", 0)
        dirname, pagname = used_names(path)
        self.dirf = -1
        self.pagf = -1
        try:
            self.dirf = os.open(dirname, oflag, mode)
            self.pagf = os.open(pagname, oflag, mode)
            fcntl.lockf(self.dirf, fcntl.LOCK_SH if self.rdonly else fcntl.LOCK_EX)
        except OSError as e:
            self._close_fds()
            raise SDBMError(e.errno, e.strerror, e.filename) from None
        size = os.fstat(self.dirf).st_size
        self.maxbno = size * BYTESIZ
        self.dirbno = 0 if size == 0 else -1
        self.dirbuf = bytearray(DBLKSIZ)
        self.pagbno = -1
        self.pagbuf = bytearray(PBLKSIZ)
        self.curbit = 0
        self.hmask = 0

    # -- life cycle ---------------------------------------------------------------------
    def _close_fds(self) -> None:
        for fd in (self.dirf, self.pagf):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.dirf = self.pagf = -1

    def close(self) -> None:
        if self.dirf >= 0:
            try:
                fcntl.lockf(self.dirf, fcntl.LOCK_UN)
            except OSError:
                pass
        self._close_fds()

    def __enter__(self) -> SDBM:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "dirf", -1) >= 0:
            self.close()

    # -- block I/O -------------------------------------------------------------------
    @staticmethod
    def _read_from(fd: int, off: int, length: int) -> bytearray:
        data = os.pread(fd, length, off)
        if len(data) < length:
            # APR: a short read (EOF) is taken as a block of zeros
            return bytearray(length)
        return bytearray(data)

    def _write_page(self, buf: bytes | bytearray, pagno: int) -> None:
        os.pwrite(self.pagf, bytes(buf), pagno * PBLKSIZ)

    def _getdbit(self, dbit: int) -> int:
        c = dbit // BYTESIZ
        dirb = c // DBLKSIZ
        if dirb != self.dirbno:
            self.dirbuf = self._read_from(self.dirf, dirb * DBLKSIZ, DBLKSIZ)
            self.dirbno = dirb
        return self.dirbuf[c % DBLKSIZ] & (1 << dbit % BYTESIZ)

    def _setdbit(self, dbit: int) -> None:
        c = dbit // BYTESIZ
        dirb = c // DBLKSIZ
        if dirb != self.dirbno:
            self.dirbuf = self._read_from(self.dirf, dirb * DBLKSIZ, DBLKSIZ)
            self.dirbno = dirb
        self.dirbuf[c % DBLKSIZ] |= 1 << dbit % BYTESIZ
        if dbit >= self.maxbno:
            self.maxbno += DBLKSIZ * BYTESIZ
        os.pwrite(self.dirf, bytes(self.dirbuf), dirb * DBLKSIZ)

    def _getpage(self, hash_: int) -> None:
        dbit = 0
        hbit = 0
        while dbit < self.maxbno and self._getdbit(dbit):
            dbit = 2 * dbit + (2 if hash_ & (1 << hbit) else 1)
            hbit += 1
        self.curbit = dbit
        self.hmask = (1 << hbit) - 1
        pagb = hash_ & self.hmask
        if pagb != self.pagbno:
            buf = self._read_from(self.pagf, pagb * PBLKSIZ, PBLKSIZ)
            if not chkpage(buf):
                raise SDBMError(f"sdbm: corrupt page {pagb} in {self.path}{PAGFEXT}")
            self.pagbuf = buf
            self.pagbno = pagb

    def _makroom(self, hash_: int, need: int) -> None:
        new = bytearray(PBLKSIZ)
        for _ in range(SPLTMAX):
            pag = self.pagbuf
            splpage(pag, new, self.hmask + 1)
            newp = (hash_ & self.hmask) | (self.hmask + 1)
            if hash_ & (self.hmask + 1):
                self._write_page(pag, self.pagbno)
                self.pagbno = newp
                pag[:] = new
            else:
                self._write_page(new, newp)
            self._setdbit(self.curbit)
            if fitpair(pag, need):
                return
            self.curbit = 2 * self.curbit + (2 if hash_ & (self.hmask + 1) else 1)
            self.hmask |= self.hmask + 1
            self._write_page(pag, self.pagbno)
        raise SDBMError("sdbm: cannot insert after SPLTMAX attempts")

    # -- the API -------------------------------------------------------------------------
    @staticmethod
    def _b(x: bytes | str) -> bytes:
        return x.encode("utf-8") if isinstance(x, str) else bytes(x)

    def fetch(self, key: bytes | str) -> bytes | None:
        k = self._b(key)
        if not k:
            return None
        self._getpage(sdbm_hash(k))
        return getpair(self.pagbuf, k)

    get_raw = fetch

    def get(self, key: bytes | str, default: Any = None) -> Any:
        v = self.fetch(key)
        return default if v is None else v

    def __getitem__(self, key: bytes | str) -> bytes:
        v = self.fetch(key)
        if v is None:
            raise KeyError(key)
        return v

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (bytes, str)) and self.fetch(key) is not None

    def store(self, key: bytes | str, val: bytes | str, flags: int = REPLACE) -> bool:
        """apr_sdbm_store; False when the key exists and ``flags`` is INSERT."""
        if self.rdonly:
            raise SDBMError("sdbm: database opened read-only")
        k, v = self._b(key), self._b(val)
        if not k:
            raise SDBMError("sdbm: empty key")
        need = len(k) + len(v)
        if need > PAIRMAX:
            raise SDBMError(f"sdbm: key and value of {need} bytes exceed {PAIRMAX}")
        h = sdbm_hash(k)
        self._getpage(h)
        if flags == REPLACE:
            delpair(self.pagbuf, k)
        elif not flags & INSERTDUP and duppair(self.pagbuf, k):
            return False
        if not fitpair(self.pagbuf, need):
            self._makroom(h, need)
        putpair(self.pagbuf, k, v)
        self._write_page(self.pagbuf, self.pagbno)
        return True

    def __setitem__(self, key: bytes | str, val: bytes | str) -> None:
        self.store(key, val, REPLACE)

    def delete(self, key: bytes | str) -> bool:
        if self.rdonly:
            raise SDBMError("sdbm: database opened read-only")
        k = self._b(key)
        self._getpage(sdbm_hash(k))
        if not delpair(self.pagbuf, k):
            return False
        self._write_page(self.pagbuf, self.pagbno)
        return True

    def __delitem__(self, key: bytes | str) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Pairs in apr_sdbm_firstkey/nextkey order (page by page)."""
        size = os.fstat(self.pagf).st_size
        for blk in range(size // PBLKSIZ):
            page = self._read_from(self.pagf, blk * PBLKSIZ, PBLKSIZ)
            if not chkpage(page):
                raise SDBMError(f"sdbm: corrupt page {blk} in {self.path}{PAGFEXT}")
            yield from pairs(page)

    def keys(self) -> list[bytes]:
        return [k for k, _ in self.items()]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())

    def __len__(self) -> int:
        return sum(1 for _ in self.items())


def open(path: str, flag: str = "r", mode: int = 0o644) -> SDBM:  # noqa: A001
    """dbm-style opener: ``sdbm.open(path, "c")``."""
    return SDBM(path, flag, mode)
