"""The load generator: each process drives its share of users over real sockets.

A process knows nothing of the server behind its Endpoints, so ChatIn and the relay are
driven by the same code. Closed loop: each sender has one message in the air and sends the
next once the previous one has arrived at the recipient's socket (and its POST answered).
By default every user is a sender (two messages in the air per pair) and posts what the
page's script posts, its page's `tab` token included (the sending page gets no pushed copy);
`per_pair` gives each pair one sender loop that alternates direction and posts only the
contract's fields, the shape of issue 19's outside generator (whose author's socket gets the
message pushed back like any other tab).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.wire import FormPoster, IdleTab

# The frame is HTML; a full parse per frame would make the generator the bottleneck, and
# the article's start tag is fixed by partials/message.html, so a regex over it suffices.
ARTICLE = re.compile(r'<article id="message-(\d+)"[^>]*?\sdata-client-id="([^"]+)"')
# A change (an edit, a delete, a reaction) moves the tab's change cursor: its frame carries
# the message again, which is not a second arrival.
CHANGE_CURSOR = 'id="seq-'
REACTION = "👍"
ARRIVAL_TIMEOUT_SECONDS = 10.0
SETTLE_SECONDS = 1.0  # after the last arrival, to see duplicates that come late
OPEN_TIMEOUT_SECONDS = 60.0
IDLE_OPEN_CONCURRENCY = 100  # per generator process: a herd of reconnecting tabs
GO_TIMEOUT_SECONDS = 600.0

# Slots of each process's shared counters, read by the progress line.
SENT, ARRIVED, ERRORS, READY, CLOSED = range(5)
COUNTER_SLOTS = 5


@dataclass(frozen=True)
class Endpoint:
    """One user as the generator sees them: how to send as them, where to listen."""

    cookies: dict[str, str]
    send_path: str
    send_fields: dict[str, str]
    headers: dict[str, str]
    ws_path: str
    hello: str | None


Pair = tuple[Endpoint, Endpoint]


@dataclass(frozen=True)
class Outcome:
    """One message: sent when, answered how and when, arrived when and how often; and the
    generator's local ports of the POST's connection and of the recipient's socket, which
    the orchestrator maps to the worker that served each (0: not known)."""

    client_id: str
    status: int
    sent_at: float
    arrived_at: float | None
    arrivals: int
    answered_at: float | None = None
    post_port: int = 0
    recipient_port: int = 0


@dataclass(frozen=True)
class IdleOutcome:
    opened: int
    failed: int
    began: float
    finished: float


@dataclass(frozen=True)
class Reacted:
    """One reaction (--reactions): posted by the recipient of a message when it arrived,
    and when it reached the author's socket."""

    status: int
    sent_at: float
    arrived_at: float | None


@dataclass
class Control:
    """What the orchestrator shares with one generator process."""

    counters: Any  # a RawArray of COUNTER_SLOTS int64
    go: Event
    stop: Event
    start_at: Synchronized[float]
    results: Queue[Any]

    @classmethod
    def make(cls, context: Any) -> Control:
        return cls(
            counters=context.RawArray("q", COUNTER_SLOTS),
            go=context.Event(),
            stop=context.Event(),
            start_at=context.Value("d", 0.0),
            results=context.Queue(),
        )


@dataclass(slots=True)
class Flight:
    recipient: int
    sent_at: float
    done: asyncio.Future[None]
    status: int = 0
    arrived_at: float | None = None
    arrivals: int = 0
    answered_at: float | None = None
    post_port: int = 0


@dataclass
class Run:
    """One process's state while it drives its pairs."""

    base_url: str
    origin: str
    control: Control
    reacting: bool = False
    per_pair: bool = False
    flights: dict[str, Flight] = field(default_factory=dict)
    # message id -> (the author's socket index, when its recipient posted the reaction)
    awaiting: dict[str, tuple[int, float]] = field(default_factory=dict)
    reactions: list[Reacted] = field(default_factory=list)
    reactors: list[FormPoster] = field(default_factory=list)
    turns: list[asyncio.Lock] = field(default_factory=list)  # one request at a time each
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    endpoints: list[Endpoint] = field(default_factory=list)
    ws_ports: list[int] = field(default_factory=list)  # each socket's local port

    def count(self, slot: int) -> None:
        self.control.counters[slot] += 1


def _run(coroutine: Any) -> Any:
    """uvloop when present, like the server: the generator should be cheap per message."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def drive_pairs(
    base_url: str,
    origin: str,
    pairs: list[Pair],
    duration: float,
    reacting: bool,
    per_pair: bool,
    control: Control,
) -> None:
    """Process entry: open sockets, report ready, send from `go` for `duration` seconds
    (with `reacting`, each recipient also reacts to each message that reaches it; with
    `per_pair`, one message in the air per pair instead of per user)."""
    run = Run(base_url, origin, control, reacting, per_pair)
    outcomes = _run(_drive(run, pairs, duration))
    control.results.put(outcomes)


def hold_idle(base_url: str, origin: str, endpoints: list[Endpoint], control: Control) -> None:
    """Process entry: on `go` open every endpoint's socket, then hold them until `stop`."""
    control.results.put(_run(_hold(Run(base_url, origin, control), endpoints)))


def _ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


async def open_socket(run: Run, endpoint: Endpoint) -> ClientConnection:
    """Handshake with the cookie and Origin a browser sends, then the page's hello; the
    socket is live once the first frame (the catch-up) has come back."""
    cookie = "; ".join(f"{name}={value}" for name, value in endpoint.cookies.items())
    conn = await connect(
        _ws_url(run.base_url, endpoint.ws_path),
        origin=run.origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie} if cookie else None,
        proxy=None,
        ping_interval=None,
        max_size=None,
        open_timeout=OPEN_TIMEOUT_SECONDS,
    )
    if endpoint.hello is not None:
        await conn.send(endpoint.hello)
        await asyncio.wait_for(conn.recv(), OPEN_TIMEOUT_SECONDS)
    return conn


async def _wait_for_go(control: Control) -> float:
    if not await asyncio.to_thread(control.go.wait, GO_TIMEOUT_SECONDS):
        raise TimeoutError("the orchestrator never said go")
    return control.start_at.value


async def _drive(run: Run, pairs: list[Pair], duration: float) -> list[Outcome]:
    endpoints = [endpoint for pair in pairs for endpoint in pair]

    def senders(clients: list[FormPoster], stop_at: float) -> list[Awaitable[None]]:
        if run.per_pair:
            return [_pair_loop(run, clients, first, stop_at) for first in range(0, len(clients), 2)]
        return [_send_loop(run, clients, index, stop_at) for index in range(len(endpoints))]

    await drive_tabs(run, endpoints, duration, _read, senders)
    unanswered = [Reacted(0, sent_at, None) for _, sent_at in run.awaiting.values()]
    ports = run.ws_ports
    return [
        *(
            Outcome(
                client_id,
                f.status,
                f.sent_at,
                f.arrived_at,
                f.arrivals,
                f.answered_at,
                f.post_port,
                ports[f.recipient],
            )
            for client_id, f in run.flights.items()
        ),
        *run.reactions,
        *unanswered,
    ]


Reader = Callable[[Any, int, ClientConnection], Awaitable[None]]
Senders = Callable[[list[FormPoster], float], list[Awaitable[None]]]


async def drive_tabs(
    run: Run, endpoints: list[Endpoint], duration: float, read: Reader, senders: Senders
) -> None:
    """Open every endpoint's tab with its `read` loop, report ready, and from `go` run the
    `senders` (given each user's poster and when to stop) for `duration` seconds; then let
    late frames come in, and close everything."""
    sockets = await asyncio.gather(*(open_socket(run, endpoint) for endpoint in endpoints))
    readers = [asyncio.create_task(read(run, index, conn)) for index, conn in enumerate(sockets)]
    run.ws_ports = [conn.local_address[1] for conn in sockets]
    clients = [_poster(run.base_url, endpoint) for endpoint in endpoints]
    run.endpoints = endpoints
    if run.reacting:  # their own connections: the send loop keeps one request in flight
        run.reactors = [_poster(run.base_url, endpoint) for endpoint in endpoints]
        run.turns = [asyncio.Lock() for _ in endpoints]
    run.control.counters[READY] = 1
    start_at = await _wait_for_go(run.control)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    try:
        await asyncio.gather(*senders(clients, start_at + duration))
        await asyncio.sleep(SETTLE_SECONDS)
    finally:
        for task in [*readers, *run.tasks]:  # the readers, and reactions still on their way
            task.cancel()
        await asyncio.gather(*run.tasks, return_exceptions=True)
        await asyncio.gather(*(conn.close() for conn in sockets), return_exceptions=True)
        closing = [*clients, *run.reactors]
        await asyncio.gather(*(client.close() for client in closing), return_exceptions=True)


def _poster(base_url: str, endpoint: Endpoint) -> FormPoster:
    """One connection (and cookie header) per user, like one browser tab."""
    return FormPoster(base_url, endpoint.send_path, endpoint.cookies, endpoint.headers)


async def _read(run: Run, index: int, conn: ClientConnection) -> None:
    """Mark arrivals at this socket: articles whose client_id was sent to this user (the
    author's own tab gets the same article; that is not an arrival)."""
    try:
        async for frame in conn:
            text = frame if isinstance(frame, str) else frame.decode()
            if CHANGE_CURSOR in text:
                _reactions_arrived(run, index, text)
                continue
            for match in ARTICLE.finditer(text):
                flight = run.flights.get(match[2])
                if flight is not None and flight.recipient == index:
                    _arrive(run, flight)
                    if run.reacting and flight.arrivals == 1:
                        task = asyncio.create_task(_react(run, index, match[1]))
                        run.tasks.add(task)
                        task.add_done_callback(run.tasks.discard)
    except ConnectionClosed:
        pass
    run.count(CLOSED)


def _reactions_arrived(run: Run, index: int, text: str) -> None:
    """A change frame at an author's socket: the reactions it was waiting for arrived."""
    for match in ARTICLE.finditer(text):
        waiting = run.awaiting.get(match[1])
        if waiting is not None and waiting[0] == index:
            del run.awaiting[match[1]]
            run.reactions.append(Reacted(200, waiting[1], time.monotonic()))


async def _react(run: Run, index: int, message_id: str) -> None:
    """The recipient reacts to the message that just reached it, as its page would."""
    endpoint = run.endpoints[index]
    path = endpoint.send_path.replace("/messages", f"/m/{message_id}/react")
    async with run.turns[index]:
        sent_at = time.monotonic()
        run.awaiting[message_id] = (index ^ 1, sent_at)
        status = await run.reactors[index].post(endpoint.send_fields | {"emoji": REACTION}, path)
    if not 200 <= status < 300 and run.awaiting.pop(message_id, None) is not None:
        run.reactions.append(Reacted(status, sent_at, None))


def _arrive(run: Run, flight: Flight) -> None:
    flight.arrivals += 1
    if flight.arrivals == 1:
        flight.arrived_at = time.monotonic()
        run.count(ARRIVED)
        if not flight.done.done():
            flight.done.set_result(None)


async def _send_loop(run: Run, clients: list[FormPoster], sender: int, stop_at: float) -> None:
    """Every user sends to the other of their pair, one message in the air each."""
    number = 0
    while time.monotonic() < stop_at:
        number += 1
        await _send_one(run, clients[sender], sender, number)


async def _pair_loop(run: Run, clients: list[FormPoster], first: int, stop_at: float) -> None:
    """One message in the air per pair: A to B, then B to A, each once the last arrived."""
    number, sender = 0, first
    while time.monotonic() < stop_at:
        number += 1
        await _send_one(run, clients[sender], sender, number)
        sender ^= 1


async def _send_one(run: Run, client: FormPoster, sender: int, number: int) -> None:
    """Post one message to the sender's pair and wait until it reached their socket."""
    recipient = sender ^ 1
    client_id = str(uuid.uuid4())
    flight = Flight(recipient, time.monotonic(), asyncio.get_running_loop().create_future())
    run.flights[client_id] = flight
    run.count(SENT)
    endpoint = run.endpoints[sender]
    body = f"Load test {number} to {recipient}"
    flight.status = await _post(client, endpoint, client_id, body, page_token=not run.per_pair)
    flight.answered_at, flight.post_port = time.monotonic(), client.local_port
    if not 200 <= flight.status < 300:
        run.count(ERRORS)
        await asyncio.sleep(0.05)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(flight.done), ARRIVAL_TIMEOUT_SECONDS)


async def _post(
    client: FormPoster, endpoint: Endpoint, client_id: str, body: str, page_token: bool = True
) -> int:
    fields = {
        name: value for name, value in endpoint.send_fields.items() if page_token or name != "tab"
    }
    return await client.post(fields | {"body": body, "client_id": client_id})


async def _hold(run: Run, endpoints: list[Endpoint]) -> IdleOutcome:
    gate = asyncio.Semaphore(IDLE_OPEN_CONCURRENCY)

    async def one(endpoint: Endpoint) -> IdleTab | None:
        tab = IdleTab(run.base_url, endpoint.ws_path, endpoint.cookies, run.origin)
        async with gate:
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_SECONDS):
                    await tab.open(endpoint.hello)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                await tab.close()
                run.count(ERRORS)
                return None
            run.count(ARRIVED)
            return tab

    run.control.counters[READY] = 1
    await _wait_for_go(run.control)
    began = time.monotonic()
    sockets = await asyncio.gather(*(one(endpoint) for endpoint in endpoints))
    finished = time.monotonic()
    opened = [conn for conn in sockets if conn is not None]
    await asyncio.to_thread(run.control.stop.wait, GO_TIMEOUT_SECONDS)
    await asyncio.gather(*(conn.close() for conn in opened), return_exceptions=True)
    return IdleOutcome(len(opened), len(sockets) - len(opened), began, finished)


def spawn_context() -> Any:
    """Fresh interpreters: nothing of the orchestrator's loop or sockets is inherited."""
    return mp.get_context("spawn")
