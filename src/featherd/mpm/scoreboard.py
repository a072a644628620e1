"""The scoreboard: per-process and per-connection state in shared memory.

An anonymous ``mmap`` (MAP_SHARED) created by the master before it forks, so every worker
writes into the same pages and mod_status, in any worker, reads them all. The layout is
Apache's: ``ServerLimit`` process rows (``process_score``) of ``ThreadsPerChild`` slots
(``worker_score``) each. A worker is one event loop, so a slot stands for a connection
rather than a thread: a connection takes a free slot of its process when it opens and
gives it back when it closes; connections beyond the row's slots are counted in the
process row only. The sizes are fixed when the server starts (a restart that changes
them keeps the old sizes, as Apache does).

Status letters are Apache's: ``_`` waiting for connection, ``S`` starting up, ``R``
reading request, ``W`` sending reply, ``K`` keepalive (read), ``D`` DNS lookup, ``C``
closing connection, ``L`` logging, ``G`` gracefully finishing, ``I`` idle cleanup of
worker, ``.`` open slot with no current process.

Writes are cheap: a status change is one byte; the counters, request line, client and
vhost (kept with ``ExtendedStatus On`` only, as in Apache 2.2) are one ``pack_into``.
Counters of a slot accumulate across the processes that used it (Apache's "Slot"
column); the master adds the CPU time of reaped workers to the global record, so
``CPULoad`` covers workers that are gone.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from dataclasses import dataclass
from typing import Any

READY, STARTING, READ, WRITE, KEEPALIVE, LOG, DNS, CLOSING, GRACEFUL, IDLE_KILL, DEAD = (
    b"_", b"S", b"R", b"W", b"K", b"L", b"D", b"C", b"G", b"I", b".")

# global_score: restart_time, start_time, generation, dead CPU user/system (children)
_GLOBAL = struct.Struct("<ddIIdd")
# process_score: pid, generation, quiescing, utime, stime, start time, accesses and bytes
# of connections that had no slot
_PROC = struct.Struct("<iIB7xdddQQ")
# worker_score; the fields a request writes are adjacent, so that each of its two updates
# (request_started, request_done) is one pack_into
_SLOT_HEAD = struct.Struct("<c3xIQQQQQddd")   # status, conn_count, access_count,
#   my_access_count, bytes_served, my_bytes_served, conn_bytes, stop, start, last_used
CLIENT_LEN, VHOST_LEN, REQUEST_LEN = 32, 32, 64
_SLOT_TEXT = struct.Struct(f"<{CLIENT_LEN}s{VHOST_LEN}s{REQUEST_LEN}s")
_SLOT = struct.Struct(_SLOT_HEAD.format + _SLOT_TEXT.format[1:])
_COUNTS = struct.Struct("<IQQQQQd")       # conn_count .. conn_bytes, stop
_USED = struct.Struct(f"<d{CLIENT_LEN}s{VHOST_LEN}s{REQUEST_LEN}s")   # last_used, texts
_STARTED = struct.Struct(f"<dd{CLIENT_LEN}s{VHOST_LEN}s{REQUEST_LEN}s")  # start, then _USED
_COUNTS_OFF = 4
_START_OFF = _SLOT_HEAD.size - 16
_USED_OFF = _SLOT_HEAD.size - 8
_W, _K, _C = WRITE[0], KEEPALIVE[0], CLOSING[0]
_time = time.time


@dataclass(slots=True)
class SlotInfo:
    """One worker_score, read back."""

    proc: int
    thread: int
    status: str
    conn_count: int
    access_count: int
    my_access_count: int
    bytes_served: int
    my_bytes_served: int
    conn_bytes: int
    start_time: float
    stop_time: float
    last_used: float
    client: str
    vhost: str
    request: str


@dataclass(slots=True)
class ProcInfo:
    slot: int
    pid: int
    generation: int
    quiescing: bool
    utime: float
    stime: float
    start_time: float
    extra_access: int
    extra_bytes: int


class Scoreboard:
    def __init__(self, server_limit: int, thread_limit: int) -> None:
        self.server_limit = max(1, server_limit)
        self.thread_limit = max(1, thread_limit)
        self.proc_base = _GLOBAL.size
        self.slot_base = self.proc_base + _PROC.size * self.server_limit
        size = self.slot_base + _SLOT.size * self.server_limit * self.thread_limit
        self.mm = mmap.mmap(-1, size, flags=mmap.MAP_SHARED,
                            prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self.row = -1                     # this process's row (in a worker)
        self.free: list[int] = []         # free slots of this row (in a worker)
        self.extended = False
        self.tail = False                 # SeeRequestTail
        now = time.time()
        _GLOBAL.pack_into(self.mm, 0, now, now, 0, 0, 0.0, 0.0)
        for i in range(self.server_limit * self.thread_limit):
            self.mm[self.slot_base + i * _SLOT.size] = DEAD[0]

    # -- global -------------------------------------------------------------------------
    def global_info(self) -> tuple[float, float, int, float, float]:
        restart, start, gen, _, cu, cs = _GLOBAL.unpack_from(self.mm, 0)
        return restart, start, gen, cu, cs

    def restarted(self, generation: int, graceful: bool) -> None:
        """A restart: new restart time and generation; a hard one clears the counters."""
        _, start, _, _, cu, cs = _GLOBAL.unpack_from(self.mm, 0)
        if not graceful:
            cu = cs = 0.0
            for row in range(self.server_limit):
                pid = _PROC.unpack_from(self.mm, self._proc_off(row))[0]
                if pid == 0:
                    self._clear_row(row)
        _GLOBAL.pack_into(self.mm, 0, time.time(), start, generation, 0, cu, cs)

    def set_generation(self, generation: int) -> None:
        r, s, _, pad, cu, cs = _GLOBAL.unpack_from(self.mm, 0)
        _GLOBAL.pack_into(self.mm, 0, r, s, generation, pad, cu, cs)

    def add_dead_cpu(self, utime: float, stime: float) -> None:
        r, s, g, pad, cu, cs = _GLOBAL.unpack_from(self.mm, 0)
        _GLOBAL.pack_into(self.mm, 0, r, s, g, pad, cu + utime, cs + stime)

    # -- process rows (the master) ------------------------------------------------------
    def _proc_off(self, row: int) -> int:
        return self.proc_base + row * _PROC.size

    def _slot_off(self, row: int, thread: int) -> int:
        return self.slot_base + (row * self.thread_limit + thread) * _SLOT.size

    def _clear_row(self, row: int) -> None:
        z = bytes(_SLOT.size)
        for t in range(self.thread_limit):
            off = self._slot_off(row, t)
            self.mm[off:off + _SLOT.size] = z
            self.mm[off] = DEAD[0]

    def claim_row(self, generation: int) -> int:
        """A free process row for a worker about to be forked (-1: the board is full)."""
        for row in range(self.server_limit):
            off = self._proc_off(row)
            if _PROC.unpack_from(self.mm, off)[0] == 0:
                _PROC.pack_into(self.mm, off, -1, generation, 0, 0.0, 0.0, time.time(), 0, 0)
                for t in range(self.thread_limit):
                    self.mm[self._slot_off(row, t)] = STARTING[0]
                return row
        return -1

    def set_pid(self, row: int, pid: int) -> None:
        if row < 0:
            return
        off = self._proc_off(row)
        vals = list(_PROC.unpack_from(self.mm, off))
        vals[0] = pid
        _PROC.pack_into(self.mm, off, *vals)

    def quiesce(self, row: int) -> None:
        """The process was told to finish gracefully: its rows show G."""
        if row < 0:
            return
        off = self._proc_off(row)
        vals = list(_PROC.unpack_from(self.mm, off))
        vals[2] = 1
        _PROC.pack_into(self.mm, off, *vals)
        for t in range(self.thread_limit):
            so = self._slot_off(row, t)
            if self.mm[so] in (READY[0], STARTING[0]):
                self.mm[so] = GRACEFUL[0]

    def release_row(self, row: int) -> None:
        """The process is gone: its row is free again (the counters stay, as Apache's)."""
        if row < 0:
            return
        off = self._proc_off(row)
        vals = list(_PROC.unpack_from(self.mm, off))
        # what connections without a slot served goes into slot 0's running totals
        extra_a, extra_b = vals[6], vals[7]
        if extra_a or extra_b:
            so = self._slot_off(row, 0)
            c = list(_COUNTS.unpack_from(self.mm, so + _COUNTS_OFF))
            c[1] += extra_a
            c[3] += extra_b
            _COUNTS.pack_into(self.mm, so + _COUNTS_OFF, *c)
        _PROC.pack_into(self.mm, off, 0, 0, 0, 0.0, 0.0, 0.0, 0, 0)
        for t in range(self.thread_limit):
            self.mm[self._slot_off(row, t)] = DEAD[0]

    # -- in a worker --------------------------------------------------------------------
    def attach(self, row: int, extended: bool, tail: bool = False) -> None:
        """In the worker that owns ``row``: all its slots are ready for connections."""
        self.row = row
        self.extended = extended
        self.tail = tail
        if row < 0:
            return
        self.free = list(range(self.thread_limit - 1, -1, -1))
        for t in range(self.thread_limit):
            off = self._slot_off(row, t)
            c = list(_COUNTS.unpack_from(self.mm, off + _COUNTS_OFF))
            c[0] = 0            # conn_count
            c[2] = 0            # my_access_count
            c[4] = 0            # my_bytes_served
            c[5] = 0            # conn_bytes
            _COUNTS.pack_into(self.mm, off + _COUNTS_OFF, *c)
            self.mm[off] = READY[0]

    def open_slot(self, client: str) -> int:
        """A connection opened: its slot offset (or -1), status R."""
        if not self.free:
            return -1
        t = self.free.pop()
        off = self._slot_off(self.row, t)
        mm = self.mm
        mm[off] = READ[0]
        if self.extended:
            c = list(_COUNTS.unpack_from(mm, off + _COUNTS_OFF))
            c[0] = 0
            c[5] = 0
            _COUNTS.pack_into(mm, off + _COUNTS_OFF, *c)
            _USED.pack_into(mm, off + _USED_OFF, time.time(),
                            client.encode("latin-1", "replace")[:CLIENT_LEN - 1], b"", b"")
        return off

    def close_slot(self, off: int, graceful: bool = False) -> None:
        if off < 0:
            return
        self.mm[off] = GRACEFUL[0] if graceful else READY[0]
        t = (off - self.slot_base) // _SLOT.size - self.row * self.thread_limit
        self.free.append(t)

    def set_status(self, off: int, status: bytes) -> None:
        if off >= 0:
            self.mm[off] = status[0]

    def request_started(self, off: int, client: str, vhost: str, request: str) -> None:
        """post_read_request: W, and (extended) what is being served."""
        if off < 0:
            return
        mm = self.mm
        mm[off] = _W
        if self.extended:
            now = _time()
            if self.tail and len(request) >= REQUEST_LEN:
                request = request[-(REQUEST_LEN - 1):]
            _STARTED.pack_into(mm, off + _START_OFF, now, now,
                               client.encode("latin-1", "replace")[:CLIENT_LEN - 1],
                               vhost.encode("latin-1", "replace")[:VHOST_LEN - 1],
                               request.encode("latin-1", "replace")[:REQUEST_LEN - 1])

    def request_done(self, off: int, nbytes: int, keepalive: bool) -> None:
        """log_transaction: the counters (extended), then K or C."""
        if self.extended:
            if off >= 0:
                mm = self.mm
                o = off + _COUNTS_OFF
                c0, c1, c2, c3, c4, c5, _ = _COUNTS.unpack_from(mm, o)
                _COUNTS.pack_into(mm, o, c0 + 1, c1 + 1, c2 + 1, c3 + nbytes, c4 + nbytes,
                                  c5 + nbytes, _time())
            elif self.row >= 0:
                po = self._proc_off(self.row)
                vals = list(_PROC.unpack_from(self.mm, po))
                vals[6] += 1
                vals[7] += nbytes
                _PROC.pack_into(self.mm, po, *vals)
        if off >= 0:
            self.mm[off] = _K if keepalive else _C

    def record_times(self) -> None:
        """This worker's CPU times into its process row."""
        if self.row < 0:
            return
        t = os.times()
        off = self._proc_off(self.row)
        vals = list(_PROC.unpack_from(self.mm, off))
        vals[3], vals[4] = t.user, t.system
        _PROC.pack_into(self.mm, off, *vals)

    # -- reading (mod_status) -----------------------------------------------------------
    def procs(self) -> list[ProcInfo]:
        out = []
        for row in range(self.server_limit):
            v = _PROC.unpack_from(self.mm, self._proc_off(row))
            out.append(ProcInfo(row, v[0], v[1], bool(v[2]), v[3], v[4], v[5], v[6], v[7]))
        return out

    def slots(self) -> list[SlotInfo]:
        out = []
        for row in range(self.server_limit):
            for t in range(self.thread_limit):
                v = _SLOT.unpack_from(self.mm, self._slot_off(row, t))
                out.append(SlotInfo(
                    row, t, v[0].decode("latin-1"), v[1], v[2], v[3], v[4], v[5], v[6], v[8],
                    v[7], v[9], _text(v[10]), _text(v[11]), _text(v[12])))
        return out

    def status_string(self) -> str:
        mm = self.mm
        step = _SLOT.size
        return "".join(chr(mm[self.slot_base + i * step])
                       for i in range(self.server_limit * self.thread_limit))


def _text(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("latin-1")


# -- the process's scoreboard -------------------------------------------------------------
_BOARD: list[Scoreboard | None] = [None]


def create(tree: Any, workers: int) -> Scoreboard:
    """Create the board (once per server life: a restart keeps it)."""
    sb = _BOARD[0]
    if sb is None:
        m = tree.extra.get("mpm", {})
        limit = max(int(m.get("ServerLimit") or 16), 2 * workers)
        threads = int(m.get("ThreadsPerChild") or 25)
        sb = Scoreboard(limit, threads)
        _BOARD[0] = sb
    return sb


def get() -> Scoreboard | None:
    return _BOARD[0]


def extended_status(tree: Any) -> bool:
    """ExtendedStatus (mod_status's directive; Off by default, as in Apache 2.2)."""
    return bool(tree.extra.get("extended_status", False))


def request_tail(tree: Any) -> bool:
    """SeeRequestTail: keep the end of long request lines rather than their start."""
    return bool(tree.extra.get("see_request_tail", False))
