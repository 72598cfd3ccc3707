"""A tab's outbox: bounded, in order, with a sender only while something waits to be sent."""

from __future__ import annotations

import asyncio

from chatin.live.outbox import Outbox

WAIT_SECONDS = 1.0


class Recorder:
    """A send loop that records what it took, and says when it has taken `expected`."""

    def __init__(self, expected: int) -> None:
        self.outbox: Outbox[object] = Outbox(4, self.send)
        self.sent: list[object] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def send(self) -> None:
        while (item := self.outbox.take()) is not None:
            await asyncio.sleep(0)  # a send that yields, as a socket's does
            self.sent.append(item)
            if len(self.sent) == self.expected:
                self.done.set()

    async def wait(self) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            await self.done.wait()


def senders() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "Outbox._sending" in repr(t.get_coro())]


async def test_items_go_out_in_order_and_no_sender_stays_once_all_are_out() -> None:
    recorder = Recorder(expected=3)
    async with asyncio.TaskGroup() as group:
        recorder.outbox.put("before the start")  # a push that came before the socket served
        assert senders() == []
        recorder.outbox.start(group)
        recorder.outbox.put("second")
        recorder.outbox.put("third")
        await recorder.wait()
        assert recorder.sent == ["before the start", "second", "third"]
        assert senders() == []  # an idle tab holds no task
        recorder.done.clear()
        recorder.expected = 4
        recorder.outbox.put("later")  # a new sender starts for it
        await recorder.wait()
        assert recorder.sent[-1] == "later"
        recorder.outbox.stop()


async def test_a_full_outbox_takes_nothing_more() -> None:
    outbox: Outbox[int] = Outbox(2, Recorder(expected=0).send)
    assert [outbox.put(n) for n in range(3)] == [True, True, False]
    assert [outbox.take(), outbox.take(), outbox.take()] == [0, 1, None]


async def test_the_first_item_of_a_kind_is_taken_ahead_of_older_ones() -> None:
    outbox: Outbox[object] = Outbox(4, Recorder(expected=0).send)
    for item in ("push", 7, "another push"):
        outbox.put(item)
    assert outbox.take_first(int) == 7
    assert outbox.take_first(int) is None
    assert [outbox.take(), outbox.take()] == ["push", "another push"]


async def test_stop_cancels_a_sender_stuck_in_a_send_and_starts_no_other() -> None:
    stuck = asyncio.get_running_loop().create_future()
    taken = asyncio.Event()

    async def send_forever() -> None:
        outbox.take()
        taken.set()
        await stuck

    outbox: Outbox[object] = Outbox(4, send_forever)
    async with asyncio.TaskGroup() as group:
        outbox.start(group)
        outbox.put("stuck")
        async with asyncio.timeout(WAIT_SECONDS):
            await taken.wait()
        outbox.stop()
        outbox.put("after the close")
    assert senders() == []
    assert stuck.cancelled()  # the send was cut, not finished
    assert outbox.take() == "after the close"  # queued, never sent
