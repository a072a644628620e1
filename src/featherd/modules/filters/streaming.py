"""Helpers shared by the content filters (DEFLATE, ext_filter, mod_filter's harness...).

* :func:`pass_down` is ``ap_pass_brigade(f->next, bb)``: the filters after a given one,
  then the protocol stage. A filter that works asynchronously uses it to send what it
  produced once its task has it.
* :class:`AsyncFilter` is the base of filters whose work must be awaited (a subprocess,
  waiting for the client to take a big body): brigades queue up while a task works
  through them, in order; the task is registered in ``r.ctx["filter_waits"]`` so that
  the request is not over before it is.
* :func:`pieces` reads data and file buckets in bounded pieces (never a whole big file).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from featherd.filters.buckets import EOS, FLUSH, FileBucket

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
READ_PIECE = 64 * 1024


def position(r: Request, me: Any) -> int:
    """Where filter ``me`` (or a harness wrapping it, ``.inner``) sits in the chain."""
    for i, f in enumerate(r.output_filters):
        if f is me or getattr(f, "inner", None) is me:
            return i
    return -1


def pass_down(r: Request, me: Any, bb: list[Any]) -> None:
    """ap_pass_brigade(f->next, bb) for filter ``me``."""
    from featherd.filters.protocol import protocol_stage

    i = position(r, me)
    chain = r.output_filters[i + 1:] if i >= 0 else []
    for f in chain:
        bb = f.filter(r, bb)
        if not bb:
            return
    protocol_stage(r, bb)


def bucket_type(b: Any) -> str:
    """APR's bucket type names, for traces and dumps."""
    if b is EOS:
        return "EOS"
    if b is FLUSH:
        return "FLUSH"
    if isinstance(b, FileBucket):
        return "FILE"
    return "HEAP"


def pieces(b: Any, size: int = READ_PIECE) -> Iterator[bytes]:
    """The bytes of a data or file bucket, at most ``size`` at a time (files closed)."""
    if isinstance(b, FileBucket):
        try:
            off, left = b.offset, b.length
            while left > 0:
                data = b.pread(min(size, left), off)
                if not data:
                    break
                off += len(data)
                left -= len(data)
                yield data
        finally:
            b.close()
        return
    if isinstance(b, (bytes, bytearray, memoryview)):
        data = bytes(b)
        if len(data) <= size:
            if data:
                yield data
            return
        for i in range(0, len(data), size):
            yield data[i:i + size]


def close_buckets(bb: list[Any]) -> None:
    for b in bb:
        if isinstance(b, FileBucket):
            b.close()


class AsyncFilter:
    """A filter that does its work in a task: ``filter`` queues, ``work`` awaits.

    Subclasses implement ``async work(bb)`` (send results with ``self.down(bb)``) and may
    answer some brigades at once by overriding ``quick(r, bb)`` (return None to queue).
    """

    def __init__(self, r: Request) -> None:
        self.r = r
        self.queue: list[list[Any]] = []
        self.task: asyncio.Task[None] | None = None
        self.finished = False          # EOS went down: anything later is dropped

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.finished:
            close_buckets(bb)
            return []
        if self.task is None and not self.queue:
            out = self.quick(r, bb)
            if out is not None:
                return out
        self.queue.append(bb)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drive())
            r.ctx.setdefault("filter_waits", []).append(self.task)
        return []

    def quick(self, r: Request, bb: list[Any]) -> list[Any] | None:
        return None

    async def _drive(self) -> None:
        try:
            while self.queue and not self.finished:
                bb = self.queue.pop(0)
                await self.work(bb)
        except Exception:   # noqa: BLE001 - a filter's failure must not kill the worker
            self.r.log_error(ERROR, f"{getattr(self, 'filter_name', 'filter')}: internal "
                                    "error: " + traceback.format_exc().replace("\n", " | "))
            self.fail()
        finally:
            for bb in self.queue:
                close_buckets(bb)
            if self.finished:
                self.queue = []
            self.task = None

    async def work(self, bb: list[Any]) -> None:
        raise NotImplementedError

    def fail(self) -> None:
        """After an error: end the response as well as can be done."""
        self.finished = True
        r = self.r
        r.connection.must_close = True
        if not r.sent_headers and r.main is None:
            from featherd.core.http_request import send_error_response

            send_error_response(r, 500)
            return
        self.down([EOS])

    def down(self, bb: list[Any]) -> None:
        if bb and bb[-1] is EOS:
            self.finished = True
        pass_down(self.r, self, bb)

    async def drain(self) -> None:
        """Wait until the client took what was sent (backpressure)."""
        conn = self.r.connection
        if not conn.transport_closed:
            await conn.drain_response(self.r)


__all__ = ["AsyncFilter", "bucket_type", "close_buckets", "pass_down", "pieces", "position"]
