"""apr_dbm for featherd: open a DBM file by Apache's type name.

``default`` and ``SDBM`` are Apache's SDBM (featherd.support.sdbm, two files NAME.dir and
NAME.pag, byte-compatible with APR); ``GDBM`` and ``NDBM`` use Python's dbm.gnu/dbm.ndbm
when this Python has them. ``DB`` (Berkeley DB, Debian's default for htdbm) cannot be
read from Python's standard library and fails as an unknown type does in APR.
"""

from __future__ import annotations

import errno
from typing import Any

from featherd.support import sdbm

__all__ = ["DBMError", "open_dbm", "fetch", "used_names"]

ENOTIMPL_TEXT = "This function has not been implemented on this platform"


class DBMError(OSError):
    """Opening failed: ``str()`` reads like Apache's ``(errno)text``."""

    def apache_text(self) -> str:
        if self.errno == errno.ENOSYS:
            return f"(70023){ENOTIMPL_TEXT}"
        return f"({self.errno}){self.strerror}"


class _Std:
    """dbm.gnu / dbm.ndbm behind the small interface the modules use."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def fetch(self, key: bytes) -> bytes | None:
        try:
            return self.db[key]  # type: ignore[no-any-return]
        except KeyError:
            return None

    def store(self, key: bytes, val: bytes) -> None:
        self.db[key] = val

    def delete(self, key: bytes) -> bool:
        try:
            del self.db[key]
            return True
        except KeyError:
            return False

    def keys(self) -> list[bytes]:
        return list(self.db.keys())

    def close(self) -> None:
        self.db.close()


def _kind(dbtype: str) -> str:
    t = dbtype.lower()
    if t in ("default", "sdbm"):
        return "sdbm"
    if t in ("gdbm", "ndbm", "db"):
        return t
    return ""


def open_dbm(dbtype: str, path: str, flag: str = "r", mode: int = 0o644) -> Any:
    """Open ``path`` ('r', 'w', 'c' or 'n' as for dbm.open); DBMError when it fails."""
    kind = _kind(dbtype)
    if kind == "sdbm":
        try:
            return sdbm.SDBM(path, flag, mode)
        except OSError as e:
            raise DBMError(e.errno or errno.EIO, e.strerror or str(e), path) from None
    if kind in ("gdbm", "ndbm"):
        try:
            mod: Any = __import__(f"dbm.{'gnu' if kind == 'gdbm' else 'ndbm'}",
                                  fromlist=["open"])
        except ImportError:
            raise DBMError(errno.ENOSYS, ENOTIMPL_TEXT, path) from None
        try:
            return _Std(mod.open(path, flag, mode))
        except Exception as e:   # dbm.error
            en = getattr(e, "errno", None) or errno.ENOENT
            raise DBMError(en, getattr(e, "strerror", None) or str(e), path) from None
    raise DBMError(errno.ENOSYS, ENOTIMPL_TEXT, path)


def fetch(dbtype: str, path: str, key: str) -> str | None:
    """fetch_dbm_value: the value stored under ``key`` (latin-1 text), None if absent."""
    db = open_dbm(dbtype, path, "r")
    try:
        v = db.fetch(key.encode("latin-1", "replace"))
    finally:
        db.close()
    return None if v is None else v.decode("latin-1")


def used_names(dbtype: str, path: str) -> list[str]:
    kind = _kind(dbtype)
    if kind in ("sdbm", "ndbm"):
        return list(sdbm.used_names(path))
    return [path]
