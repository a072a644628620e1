"""RewriteMap: txt:, rnd:, dbm: (SDBM, plus GDBM/NDBM when Python has them), int: and
prg:, with Apache's lookup rules and caching.

* ``txt:`` a text file; a line starting with ``#`` or a blank is skipped, the key is the
  first word, the value the second; the first line with the key wins. Cached per file
  modification time.
* ``rnd:`` the same file format; a value ``a|b|c`` yields one of its parts at random.
* ``dbm[=type]:`` a DBM file, SDBM by default (as ``httxt2dbm`` writes it).
* ``int:`` ``toupper``, ``tolower``, ``escape``, ``unescape`` (others may be added with
  :func:`register_mapfunc`, as ``ap_register_rewrite_mapfunc`` does).
* ``prg:`` a program started once per worker, fed one key per line on stdin and
  answering one line on stdout (``NULL`` for no value). Lookups from concurrent requests
  are serialised with an asyncio lock (``RewriteLock`` is accepted for compatibility).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shlex
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from featherd.errors import DirectiveError
from featherd.modules.mappers.rewrite.util import escape_uri, unescape_url

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.mappers.rewrite.engine import RewriteCtx

ERROR = 3

MAPFUNCS: dict[str, Callable[[Request, str], str | None]] = {
    "toupper": lambda r, k: k.upper() if k.isascii() else "".join(
        c.upper() if c.isascii() else c for c in k),
    "tolower": lambda r, k: k.lower() if k.isascii() else "".join(
        c.lower() if c.isascii() else c for c in k),
    "escape": lambda r, k: escape_uri(k),
    "unescape": lambda r, k: unescape_url(k),
}


def register_mapfunc(name: str, fn: Callable[[Request, str], str | None]) -> None:
    """ap_register_rewrite_mapfunc: make ``int:name`` available to RewriteMap."""
    MAPFUNCS[name] = fn


_TXT_LINE = re.compile(r"([^ \t\n\r\f\v]+)[ \t\r\f\v]+([^ \t\n\r\f\v]+)")


def parse_txt_map(data: str) -> dict[str, str]:
    """All (key, value) pairs of a txt: map, the first line with a key and a value
    winning (lookup_map_txtfile); blanks are C's isspace, not Unicode's."""
    out: dict[str, str] = {}
    for line in data.split("\n"):
        if not line or line[0] in "# \t\r\f\v":
            continue
        m = _TXT_LINE.match(line)
        if m is not None:
            out.setdefault(m.group(1), m.group(2))
    return out


class MapEntry:
    """One RewriteMap (rewritemap_entry)."""

    kind = ""

    def __init__(self, name: str, spec: str) -> None:
        self.name = name
        self.spec = spec
        self.checkfile: str | None = None
        self.checkfile2: str | None = None

    def check_exists(self) -> None:
        if self.checkfile is not None and not os.path.exists(self.checkfile):
            raise DirectiveError(f"RewriteMap: file for map {self.name} not found:"
                                 f"{self.checkfile}")

    def lookup(self, r: Request, key: str, ctx: RewriteCtx | None) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} {self.spec}"


class TxtMap(MapEntry):
    kind = "txt"

    def __init__(self, name: str, spec: str, path: str, rnd: bool = False) -> None:
        super().__init__(name, spec)
        self.path = path
        self.checkfile = path
        self.rnd = rnd
        self.kind = "rnd" if rnd else "txt"
        self._mtime: float | None = None
        self._data: dict[str, str] = {}

    def _load(self, r: Request) -> dict[str, str] | None:
        try:
            st = os.stat(self.path)
        except OSError as e:
            r.log_error(ERROR, f"({e.errno}){e.strerror}: mod_rewrite: can't access text "
                               f"RewriteMap file {self.path}")
            return None
        if self._mtime != st.st_mtime_ns:
            try:
                with open(self.path, encoding="latin-1") as f:
                    self._data = parse_txt_map(f.read())
            except OSError as e:
                r.log_error(ERROR, f"({e.errno}){e.strerror}: mod_rewrite: can't open text "
                                   f"RewriteMap file {self.path}")
                return None
            self._mtime = st.st_mtime_ns
        return self._data

    def lookup(self, r: Request, key: str, ctx: RewriteCtx | None) -> str | None:
        data = self._load(r)
        if data is None:
            return None
        v = data.get(key)
        if ctx is not None and ctx.loglevel >= 5:
            if v is None:
                ctx.log(5, f"map lookup FAILED: map={self.name}[txt] key={key}")
            else:
                ctx.log(5, f"map lookup OK: map={self.name}[txt] key={key} -> val={v}")
        if v is None or not v:
            return None
        if self.rnd and "|" in v:
            v = random.choice(v.split("|"))
            if ctx is not None and ctx.loglevel >= 5:
                ctx.log(5, f"randomly chosen the subvalue `{v}'")
        return v


class DbmMap(MapEntry):
    kind = "dbm"

    def __init__(self, name: str, spec: str, path: str, dbmtype: str) -> None:
        super().__init__(name, spec)
        self.path = path
        self.dbmtype = dbmtype.lower()
        t = self.dbmtype
        if t in ("sdbm", "default"):
            self.checkfile, self.checkfile2 = path + ".dir", path + ".pag"
        elif t == "gdbm":
            self._need("gnu")
            self.checkfile = path
        elif t == "ndbm":
            self._need("ndbm")
            self.checkfile = path + ".db" if os.path.exists(path + ".db") else path + ".dir"
        else:
            raise DirectiveError(f"RewriteMap: dbm type {dbmtype} is invalid")
        self._mtime: Any = None
        self._cache: dict[str, str | None] = {}

    def _need(self, mod: str) -> None:
        try:
            __import__(f"dbm.{mod}")
        except ImportError:
            raise DirectiveError(f"RewriteMap: dbm type {self.dbmtype} is invalid") from None

    def _fetch(self, key: str) -> str | None:
        k = key.encode("latin-1", "replace")
        if self.dbmtype in ("sdbm", "default"):
            from featherd.support.sdbm import SDBM

            with SDBM(self.path, "r") as db:
                v = db.fetch(k)
        else:
            import dbm

            mod = __import__("dbm.gnu" if self.dbmtype == "gdbm" else "dbm.ndbm",
                             fromlist=["open"])
            db = mod.open(self.path, "r")
            try:
                v = db.get(k)
            finally:
                db.close()
            del dbm
        return None if v is None else v.decode("latin-1")

    def lookup(self, r: Request, key: str, ctx: RewriteCtx | None) -> str | None:
        try:
            st = os.stat(self.checkfile or self.path)
            mt = st.st_mtime_ns
            if self.checkfile2:
                mt = max(mt, os.stat(self.checkfile2).st_mtime_ns)
        except OSError as e:
            r.log_error(ERROR, f"({e.errno}){e.strerror}: mod_rewrite: can't access DBM "
                               f"RewriteMap file {e.filename}")
            return None
        if mt != self._mtime:
            self._cache.clear()
            self._mtime = mt
        if key in self._cache:
            v = self._cache[key]
        else:
            try:
                v = self._fetch(key)
            except OSError as e:
                r.log_error(ERROR, f"({e.errno}){e.strerror}: mod_rewrite: can't open DBM "
                                   f"RewriteMap {self.path}")
                return None
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[key] = v
        if ctx is not None and ctx.loglevel >= 5:
            if v is None:
                ctx.log(5, f"map lookup FAILED: map={self.name}[dbm] key={key}")
            else:
                ctx.log(5, f"map lookup OK: map={self.name}[dbm] key={key} -> val={v}")
        return v or None


class IntMap(MapEntry):
    kind = "int"

    def __init__(self, name: str, spec: str, func: str) -> None:
        super().__init__(name, spec)
        fn = MAPFUNCS.get(func)
        if fn is None:
            raise DirectiveError(f"RewriteMap: internal map not found:{func}")
        self.func = fn

    def lookup(self, r: Request, key: str, ctx: RewriteCtx | None) -> str | None:
        v = self.func(r, key)
        if ctx is not None and ctx.loglevel >= 5:
            if v is None:
                ctx.log(5, f"map lookup FAILED: map={self.name} key={key}")
            else:
                ctx.log(5, f"map lookup OK: map={self.name} key={key} -> val={v}")
        return v


class PrgMap(MapEntry):
    """A long-running map program (MAPTYPE_PRG).

    As in Apache it is started once, before the workers are forked (``open_logs``), and
    every worker talks to the same process through the inherited pipes: a key and a
    newline in, one line out. A lookup holds the worker's asyncio lock and a lock on a
    file shared by all workers (the RewriteLock file when given) from the write to the
    end of the answer, so answers never cross. The read side is watched only while
    waiting for an answer, so no other worker can take it.
    """

    kind = "prg"

    def __init__(self, name: str, spec: str, argv: list[str], user: str | None) -> None:
        super().__init__(name, spec)
        self.argv = argv
        self.checkfile = argv[0]
        self.user = user
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner = 0                   # pid of the process that started it
        self.rfd = -1
        self.wfd = -1
        self.lockfd = -1
        self.lock_file: str | None = None
        self.buf = b""
        self._alock: tuple[int, Any, asyncio.Lock] | None = None
        self.failed = False
        self.stderr: Any = None

    def start(self, stderr: Any = None, lock_file: str | None = None) -> bool:
        """Spawn the program (run_rewritemap_programs); False when it cannot run."""
        if self.proc is not None:
            return True
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=stderr if stderr is not None else None,
                cwd=os.path.dirname(self.argv[0]) or None, close_fds=True)
        except OSError:
            self.failed = True
            self.proc = None
            return False
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.owner = os.getpid()
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        os.set_blocking(self.rfd, False)
        try:
            if lock_file:
                self.lockfd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            else:
                import tempfile

                fd, path = tempfile.mkstemp(prefix="featherd-rewrite-", suffix=".lock")
                os.unlink(path)
                self.lockfd = fd
        except OSError:
            self.lockfd = -1
        self.buf = b""
        self.failed = False
        return True

    def stop(self) -> None:
        """End the program, in the process that started it (a worker only lets go)."""
        p = self.proc
        self.proc = None
        if self.lockfd >= 0:
            try:
                os.close(self.lockfd)
            except OSError:
                pass
            self.lockfd = -1
        if p is None:
            return
        if self.owner != os.getpid():
            return
        for f in (p.stdin, p.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        try:
            p.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def _local_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        pid = os.getpid()
        a = self._alock
        if a is None or a[0] != pid or a[1] is not loop:
            a = (pid, loop, asyncio.Lock())
            self._alock = a
        return a[2]

    async def _global_lock(self) -> None:
        if self.lockfd < 0:
            return
        import fcntl

        delay = 0.0005
        while True:
            try:
                fcntl.lockf(self.lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)

    def _global_unlock(self) -> None:
        if self.lockfd >= 0:
            import fcntl

            try:
                fcntl.lockf(self.lockfd, fcntl.LOCK_UN)
            except OSError:
                pass

    async def _readline(self) -> bytes | None:
        loop = asyncio.get_running_loop()
        while b"\n" not in self.buf:
            try:
                chunk = os.read(self.rfd, 4096)
            except BlockingIOError:
                fut: asyncio.Future[None] = loop.create_future()

                def ready(f: asyncio.Future[None] = fut) -> None:
                    if not f.done():
                        f.set_result(None)
                loop.add_reader(self.rfd, ready)
                try:
                    await fut
                finally:
                    loop.remove_reader(self.rfd)
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    async def lookup_async(self, r: Request, key: str) -> str | None:
        if "\n" in key:
            return None
        if self.proc is None and not self.start(self.stderr, self.lock_file):
            r.log_error(ERROR, f"mod_rewrite: could not start RewriteMap program "
                               f"{self.checkfile}")
            return None
        async with self._local_lock():
            await self._global_lock()
            try:
                data = key.encode("latin-1", "replace") + b"\n"
                try:
                    while data:
                        n = os.write(self.wfd, data)
                        data = data[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                except OSError:
                    return None
                line = await self._readline()
            finally:
                self._global_unlock()
        if line is None:
            return None
        v = line.rstrip(b"\r").decode("latin-1")
        if v.upper() == "NULL":
            return None
        return v

    def lookup(self, r: Request, key: str, ctx: RewriteCtx | None) -> str | None:
        raise RuntimeError("prg: maps are looked up asynchronously")


def parse_map(name: str, spec: str, root_relative: Callable[[str], str],
              extra: str | None = None) -> MapEntry:
    """cmd_rewritemap: one RewriteMap line."""
    low = spec.lower()
    m: MapEntry
    if low.startswith("txt:"):
        m = TxtMap(name, spec, root_relative(spec[4:]))
    elif low.startswith("rnd:"):
        m = TxtMap(name, spec, root_relative(spec[4:]), rnd=True)
    elif low.startswith("dbm"):
        if spec[3:4] == ":":
            dbmtype, fname = "default", spec[4:]
        elif spec[3:4] == "=" and ":" in spec[4:]:
            dbmtype, fname = spec[4:].split(":", 1)
        else:
            raise DirectiveError(f"RewriteMap: bad map:{spec}")
        m = DbmMap(name, spec, root_relative(fname), dbmtype)
    elif low.startswith("dbd:") or low.startswith("fastdbd:"):
        raise DirectiveError("RewriteMap types dbd and fastdbd require mod_dbd!")
    elif low.startswith("prg:"):
        argv = shlex.split(spec[4:])
        if not argv:
            raise DirectiveError(f"RewriteMap: bad path to prg map: {spec[4:]}")
        argv[0] = root_relative(argv[0])
        m = PrgMap(name, spec, argv, extra)
    elif low.startswith("int:"):
        m = IntMap(name, spec, spec[4:])
    else:
        m = TxtMap(name, spec, root_relative(spec))
    m.check_exists()
    return m


async def lookup_map(ctx: RewriteCtx, name: str, key: str) -> str | None:
    """${name:key}: the value, or None (lookup_map)."""
    from featherd.modules.mappers.rewrite.module import rewrite

    r = ctx.r
    sc = r.server.module_config[rewrite.index]
    m = sc.maps.get(name) if sc is not None else None
    if m is None:
        return None
    if isinstance(m, PrgMap):
        v = await m.lookup_async(r, key)
        if ctx.loglevel >= 5:
            if v is None:
                ctx.log(5, f"map lookup FAILED: map={name} key={key}")
            else:
                ctx.log(5, f"map lookup OK: map={name} key={key} -> val={v}")
    else:
        v = m.lookup(r, key, ctx)
    ctx.trace("map", name=name, key=key, value=v)
    return v


__all__ = ["MAPFUNCS", "DbmMap", "IntMap", "MapEntry", "PrgMap", "TxtMap", "lookup_map",
           "parse_map", "parse_txt_map", "register_mapfunc"]
