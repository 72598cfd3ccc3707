"""The group mode of bench.load (issue 17): groups of members, every member with one tab on
the group's page, a closed loop per member: each sends its next message once every other
member's tab has its previous one. Every (message, recipient) is one delivered frame: the
figures are frames per second, their latency, and lost or repeated frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.accounts import (
    Account,
    _bounded,
    _expect,
    endpoint_on,
    sign_up,
    start_conversation,
)
from bench.generator import (
    ARRIVAL_TIMEOUT_SECONDS,
    ARTICLE,
    ERRORS,
    SENT,
    Control,
    Endpoint,
    Flight,
    Outcome,
    Run,
    _arrive,
    _post,
    _run,
    drive_tabs,
)
from bench.wire import FormPoster

Group = list[Endpoint]


async def chatin_groups(base_url: str, groups: int, members: int) -> list[Group]:
    """groups x members users; in each group the first befriends the others and makes the
    group through its form; every member on the group's page."""
    accounts = await _bounded([sign_up(base_url, i) for i in range(groups * members)])
    try:
        teams = [accounts[g * members : (g + 1) * members] for g in range(groups)]
        ids = await _bounded([_make_group(team) for team in teams])
        ends = await _bounded(
            [
                endpoint_on(account, f"/c/{gid}", f"/c/{gid}/messages")
                for team, gid in zip(teams, ids, strict=True)
                for account in team
            ]
        )
    finally:
        await asyncio.gather(*(account.client.aclose() for account in accounts))
    return [ends[g * members : (g + 1) * members] for g in range(groups)]


# A contact's checkbox on the new-group form (partials/contact_choices.html).
CHOICE = re.compile(r'name="members" value="(\d+)"> <span>([^<]+)</span>')


async def _make_group(team: list[Account]) -> int:
    """The first befriends the others, then ticks all of them on "New group"."""
    owner, *others = team
    for other in others:
        await start_conversation(owner, other)
    page = _expect(await owner.client.get("/groups/new"), 200).text
    members = [person_id for person_id, _ in CHOICE.findall(page)]
    form = {"csrf_token": owner.csrf, "name": "Bench group", "members": members}
    location = _expect(await owner.client.post("/groups", data=form), 303).headers["location"]
    return int(location.rstrip("/").rsplit("/", 1)[1])


@dataclass
class GroupRun(Run):
    """A Run whose flights are copies: one per (message, recipient)."""

    copies: dict[tuple[str, int], Flight] = field(default_factory=dict)


def drive_groups(
    base_url: str, origin: str, groups: list[Group], duration: float, control: Control
) -> None:
    """Process entry: open every member's tab, report ready, loop from `go` for `duration`."""
    outcomes = _run(_drive(GroupRun(base_url, origin, control), groups, duration))
    control.results.put(outcomes)


async def _drive(run: GroupRun, groups: list[Group], duration: float) -> list[Outcome]:
    endpoints = [endpoint for group in groups for endpoint in group]

    def senders(clients: list[FormPoster], stop_at: float) -> list[Awaitable[None]]:
        loops, first = [], 0
        for group in groups:
            members = range(first, first + len(group))
            for index in members:
                others = [m for m in members if m != index]
                loops.append(_send_loop(run, clients[index], endpoints[index], others, stop_at))
            first += len(group)
        return loops

    await drive_tabs(run, endpoints, duration, _read, senders)
    return [
        Outcome(client_id, c.status, c.sent_at, c.arrived_at, c.arrivals)
        for (client_id, _), c in run.copies.items()
    ]


async def _read(run: GroupRun, index: int, conn: ClientConnection) -> None:
    """Count each message's article at each member's tab (the author's own is no arrival)."""
    with contextlib.suppress(ConnectionClosed):
        async for frame in conn:
            text = frame if isinstance(frame, str) else frame.decode()
            for match in ARTICLE.finditer(text):
                copy = run.copies.get((match[2], index))
                if copy is not None:
                    _arrive(run, copy)


async def _send_loop(
    run: GroupRun, client: FormPoster, endpoint: Endpoint, others: list[int], stop_at: float
) -> None:
    loop = asyncio.get_running_loop()
    number = 0
    while time.monotonic() < stop_at:
        number += 1
        client_id = str(uuid.uuid4())
        sent_at = time.monotonic()
        copies = [Flight(member, sent_at, loop.create_future()) for member in others]
        for member, copy in zip(others, copies, strict=True):
            run.copies[(client_id, member)] = copy
        run.count(SENT)
        status = await _post(client, endpoint, client_id, f"Group load {number}")
        for copy in copies:
            copy.status = status
        if not 200 <= status < 300:
            run.count(ERRORS)
            await asyncio.sleep(0.05)
            continue
        with contextlib.suppress(TimeoutError):
            everyone = asyncio.gather(*(asyncio.shield(copy.done) for copy in copies))
            await asyncio.wait_for(everyone, ARRIVAL_TIMEOUT_SECONDS)
