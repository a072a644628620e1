"""Start a coroutine eagerly: run it synchronously until it first waits, and only then
hand it to an asyncio Task. Most static requests never wait, so they cost no Task and no
trip through the event loop (Python 3.12's eager task factory, for 3.11)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any


class _Resume:
    """An awaitable that continues a coroutine already suspended on ``first``."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, None, Any]:
        coro = self.coro
        fut = self.first
        self.first = None
        while True:
            try:
                yield fut
            except BaseException as e:  # noqa: BLE001 - forwarded into the coroutine
                try:
                    fut = coro.throw(e)
                except StopIteration as s:
                    return s.value
                continue
            try:
                fut = coro.send(None)
            except StopIteration as s:
                return s.value


async def _run(aw: _Resume) -> Any:
    return await aw


def start_eager(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                on_error: Callable[[BaseException], None] | None = None) -> asyncio.Task[Any] | None:
    """Run ``coro`` now; return None if it finished, else the Task that carries on."""
    try:
        fut = coro.send(None)
    except StopIteration:
        return None
    except BaseException as e:  # noqa: BLE001
        if on_error is not None:
            on_error(e)
            return None
        raise
    task = loop.create_task(_run(_Resume(coro, fut)))
    if on_error is not None:
        def done(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                on_error(t.exception())  # type: ignore[arg-type]
        task.add_done_callback(done)
    return task
