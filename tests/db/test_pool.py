"""The hot path's statements get their database connection in the order they asked for it:
asyncpg's pool alone lets a newcomer take the connection a woken waiter was handed, and
under load some requests waited seconds behind later ones (bench/RESULTS.md, issue 19, where
a simulation and the load runs show it; the moment is too narrow to stage here)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from quart import Quart

from chatin import db

Acquire = Callable[[], AbstractAsyncContextManager[object]]


async def served_in_order(acquire: Acquire) -> list[str]:
    """One holder, one waiter queued behind it, and a newcomer that asks in the same turn
    of the loop as the holder lets go: who got the connection first."""
    served: list[str] = []
    release, holding = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with acquire():
            holding.set()
            await release.wait()

    async def asking(name: str) -> None:
        async with acquire():
            served.append(name)

    held = asyncio.create_task(holder())
    await holding.wait()
    waiter = asyncio.create_task(asking("first to ask"))
    await asyncio.sleep(0)  # the waiter queues up
    release.set()
    newcomer = asyncio.create_task(asking("newcomer"))
    await asyncio.gather(held, waiter, newcomer)
    return served


async def test_through_the_gate_a_newcomer_waits_behind_whoever_waited_first(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setitem(db._gates, loop, asyncio.Semaphore(1))  # one connection to go round
    served = await served_in_order(db._pooled)
    assert served == ["first to ask", "newcomer"]
