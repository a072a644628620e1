"""SSLSessionCache stores (shmcb shared by forked processes, dbm) and SSLMutex."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from featherd.modules.ssl.config import CacheSpec, MutexSpec
from featherd.modules.ssl.scache import DbmCache, Mutex, ShmcbCache, make_cache


@pytest.mark.parametrize("mutex", [MutexSpec("sem"), MutexSpec("none"), None])
def test_shmcb_store_fetch_remove(mutex: MutexSpec | None) -> None:
    c = ShmcbCache(65536, 300, Mutex(mutex))
    assert c.fetch(b"id1") is None
    assert c.store(b"id1", b"session-one")
    assert c.store(b"id2", b"session-two")
    assert c.fetch(b"id1") == b"session-one" and c.fetch(b"id2") == b"session-two"
    c.remove(b"id1")
    assert c.fetch(b"id1") is None
    assert not c.store(b"x" * 33, b"too long an id")
    assert not c.store(b"big", b"y" * 5000)          # bigger than a slot
    assert c.status()["used"] == 1


def test_shmcb_is_shared_with_forked_workers() -> None:
    """The segment is made before the fork: a session one worker stores, another finds."""
    c = ShmcbCache(65536, 300, Mutex(MutexSpec("sem")))
    pid = os.fork()
    if pid == 0:
        code = 0 if c.store(b"from-child", b"child-session") else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert c.fetch(b"from-child") == b"child-session"


def test_shmcb_expiry_and_eviction() -> None:
    c = ShmcbCache(8192 * 4, 1, Mutex(None))
    c.store(b"old", b"1")
    c.timeout = 300
    for i in range(200):                             # more than the table holds
        c.store(f"s{i}".encode(), b"data")
    assert c.fetch(b"s199") == b"data"
    c2 = ShmcbCache(8192, 0, Mutex(None))
    c2.store(b"gone", b"x")
    time.sleep(0.01)
    assert c2.fetch(b"gone") is None                 # SSLSessionCacheTimeout 0


def test_dbm_cache(tmp_path: Path) -> None:
    c = DbmCache(str(tmp_path / "scache"), 300, Mutex(MutexSpec("file", str(tmp_path / "lk"))))
    assert (tmp_path / "scache.pag").exists() and (tmp_path / "scache.dir").exists()
    assert c.store(b"sid", b"der-bytes")
    assert c.fetch(b"sid") == b"der-bytes"
    assert not c.store(b"sid2", b"z" * 2000)         # an SDBM pair holds ~1 KiB
    c.remove(b"sid")
    assert c.fetch(b"sid") is None
    c.timeout = -1
    c.store(b"expired", b"x")
    assert c.fetch(b"expired") is None
    c.timeout = 300
    c.store(b"a", b"1")
    c.timeout = -1
    c.store(b"b", b"2")            # purges what has expired (every timeout seconds)
    db = c._open("r")
    try:
        assert db.fetch(b"a") is not None and db.fetch(b"b") is None
    finally:
        db.close()
    assert c.expire() == 0


def test_make_cache() -> None:
    m = Mutex(None)
    assert make_cache(None, 300, m) is None
    assert make_cache(CacheSpec("none"), 300, m) is None
    assert make_cache(CacheSpec("nonenotnull"), 300, m) is None
    assert isinstance(make_cache(CacheSpec("shmcb", "/x", 65536), 300, m), ShmcbCache)


def test_file_mutex_excludes_another_process(tmp_path: Path) -> None:
    m = Mutex(MutexSpec("file", str(tmp_path / "mutex")))
    assert m.acquire()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        import fcntl

        os.close(r)
        try:
            fcntl.lockf(m.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(w, b"got")
        except OSError:
            os.write(w, b"blocked")
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 10) == b"blocked"
    m.release()
    m.close()
    assert not any(p.name.startswith("mutex.") for p in tmp_path.iterdir())
