"""core.eager: a coroutine that never waits runs without a Task; one that waits
continues correctly under a Task (results, exceptions, cancellation)."""

import asyncio

import pytest

from featherd.core.eager import start_eager


def test_sync_completion_needs_no_task() -> None:
    loop = asyncio.new_event_loop()
    out = []

    async def c() -> None:
        out.append(1)

    assert start_eager(loop, c()) is None
    assert out == [1]
    loop.close()


def test_suspended_coroutine_continues_under_a_task() -> None:
    loop = asyncio.new_event_loop()
    out = []

    async def c() -> int:
        out.append("a")
        await asyncio.sleep(0)
        fut = loop.create_future()
        loop.call_soon(fut.set_result, 5)
        v = await fut
        out.append(v)
        await asyncio.sleep(0.01)
        assert asyncio.current_task() is not None
        return v * 2

    t = start_eager(loop, c())
    assert out == ["a"]
    assert t is not None
    assert loop.run_until_complete(t) == 10
    assert out == ["a", 5]
    loop.close()


def test_exceptions_reach_on_error() -> None:
    loop = asyncio.new_event_loop()
    seen: list[BaseException] = []

    async def now() -> None:
        raise ValueError("now")

    async def later() -> None:
        await asyncio.sleep(0)
        raise KeyError("later")

    assert start_eager(loop, now(), seen.append) is None
    t = start_eager(loop, later(), seen.append)
    assert t is not None
    with pytest.raises(KeyError):
        loop.run_until_complete(t)
    assert [type(e) for e in seen] == [ValueError, KeyError]
    loop.close()


def test_cancellation_is_forwarded() -> None:
    loop = asyncio.new_event_loop()
    cleaned = []

    async def c() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(True)

    async def main() -> None:
        t = start_eager(loop, c())   # as in data_received: inside the running loop
        assert t is not None
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    loop.run_until_complete(main())
    assert cleaned == [True]
    loop.close()
