"""/ws: one socket per tab. It only pushes; what the tab says is a hello with its cursor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

from quart import Blueprint, current_app, request, websocket

from chatin.auth import (
    current_session_id,
    current_viewer,
    session_still_open,
    socket_origin_allowed,
)
from chatin.live import frames
from chatin.live.frames import ChangePush, Push
from chatin.live.hub import Hub
from chatin.live.outbox import Outbox
from chatin.models import (
    PAGE_SIZE,
    Conversation,
    Entry,
    Message,
    User,
    attach_files,
    changed_since,
    entries_of_viewer,
    with_extras,
)

log = logging.getLogger(__name__)

blueprint = Blueprint("live", __name__)

QUEUE_SIZE = 256
TOO_SLOW_CODE = 1013  # "try again later": the ws extension reconnects, then catches up
BAD_HELLO_CODE = 4400  # a malformed or second hello; the ws extension does not reconnect
CATCH_UP_LIMIT = 200
MAX_HELLO_BYTES = 2_000
HELLO_FIELDS = frozenset({"conversation", "after", "seq"})
HELLO_WAIT_SECONDS = 3.0
MAX_ID = 2**63  # ids are PostgreSQL bigints; anything larger is not an id
SERVER_ERROR_CODE = 1011  # the ws extension reconnects, and the new socket catches up
LOOPBACK = frozenset({"127.0.0.1", "::1"})


class Hello:
    """A tab's hello, queued behind earlier pushes so catch-up and pushes stay in order."""

    __slots__ = ("after", "conversation", "seq", "tab")

    def __init__(self, conversation: int | None, after: int, seq: int = 0, tab: int = 0) -> None:
        self.conversation = conversation
        self.after = after
        self.seq = seq
        self.tab = tab  # the page's token: its own sends come back in their POST's answer

    @classmethod
    def parse(cls, raw: str | bytes) -> Hello | None:
        """What the page's ws-send element sends (`{"conversation": 7, "after": "41",
        "seq": "90", "tab": "5821", "HEADERS": …}`; the list page sends `"conversation": ""`
        and no cursors); None for anything else."""
        if len(raw) > MAX_HELLO_BYTES:
            return None
        try:
            data = json.loads(raw)
            conversation = _id_or_none(data.get("conversation"))
            after = _id_or_none(data.get("after")) or 0
            seq = _id_or_none(data.get("seq")) or 0
            tab = _id_or_none(data.get("tab")) or 0
        except (ValueError, AttributeError):  # not JSON, not an object, not an id
            return None
        if conversation == 0:
            return None
        return cls(conversation, after, seq, tab)

    @staticmethod
    def looks_like_one(raw: str | bytes) -> bool:
        """Whether a later message is another hello (it names a conversation or a cursor),
        rather than something else the contract lets a tab send up, such as typing."""
        if len(raw) > MAX_HELLO_BYTES:
            return False
        try:
            data = json.loads(raw)
        except ValueError:
            return False
        return isinstance(data, dict) and not HELLO_FIELDS.isdisjoint(data)


def _id_or_none(value: object) -> int | None:
    """A non-negative id as JSON (7) or as the page's inputs send it ("41"); None when
    missing or empty. ValueError for anything else: -5, 1.5, "٤", and Infinity, NaN or
    1e400, which json reads as floats (int() of them raised OverflowError, uncaught)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 0 <= value < MAX_ID:
        raise ValueError("not an id")
    return value


class TabSocket:
    """One open tab: its pending pushes (bounded), a sender while there are any, and what it
    has already been sent."""

    __slots__ = (
        "_close_code",
        "_greeted",
        "_hub",
        "_outbox",
        "_sent_upto",
        "_seq_upto",
        "_states",
        "session_id",
        "tab_token",
        "user_id",
        "viewer",
    )

    def __init__(self, viewer: User, session_id: int, hub: Hub) -> None:
        self._hub = hub
        self.viewer = viewer
        self.user_id = viewer.id
        self.session_id = session_id
        self.tab_token = 0  # from the hello: the hub sends no copy of what this page sent
        self._outbox: Outbox[Push | Hello] = Outbox(QUEUE_SIZE, self._send_pending)
        self._greeted = False  # the hello has been answered, or waited for long enough
        self._close_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._sent_upto: dict[int, int] = {}
        self._seq_upto: dict[int, int] = {}  # conversation -> change cursor its catch-up sent
        self._states: dict[int, int] = {}  # message -> a change past the cursor it was sent

    def offer(self, item: Push | Hello) -> None:
        if not self._outbox.put(item):
            self.request_close(TOO_SLOW_CODE)

    def request_close(self, code: int) -> None:
        if not self._close_code.done():
            self._close_code.set_result(code)

    async def serve(self) -> None:
        """Read in one task, send in another while there is something to send, until a
        close is asked for (or the tab goes: then this is cancelled)."""
        async with asyncio.TaskGroup() as group:
            reader = group.create_task(self._receive_loop())
            self._outbox.start(group)
            try:
                code = await self._close_code
            finally:
                reader.cancel()
                self._outbox.stop()
        await websocket.close(code)

    async def _receive_loop(self) -> None:
        """Read the tab's one hello. A hello costs a catch-up, so a malformed one or a
        second one closes the socket (the page sends exactly one per open). Anything else
        that comes up later is not read: the socket only pushes."""
        hello = Hello.parse(await websocket.receive())
        if hello is None:
            self._refuse("its hello was malformed")
            return
        self.tab_token = hello.tab
        self.offer(hello)
        while not Hello.looks_like_one(await websocket.receive()):
            pass
        self._refuse("it said hello twice")

    def _refuse(self, why: str) -> None:
        log.warning("closing a socket of user %s: %s", self.user_id, why)
        self.request_close(BAD_HELLO_CODE)

    async def _send_pending(self) -> None:
        """Send what is pending, then end; a failure here (say, the database went away mid
        catch-up) closes with 1011 so the tab reconnects and catches up, instead of going
        silent."""
        try:
            if not self._greeted:
                await self._greet()
            while (item := self._outbox.take()) is not None:
                if isinstance(item, Hello):
                    await self._catch_up(item)
                else:
                    await self._send(item)
        except Exception:
            log.exception("closing a tab of user %s after a send failure", self.user_id)
            self.request_close(SERVER_ERROR_CODE)

    async def _greet(self) -> None:
        """Keep pushes back until the tab's hello has been answered, so that what it missed
        comes first and in order; a client that sends no hello gets them after a while."""
        hello = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HELLO_WAIT_SECONDS):
                while (hello := self._outbox.take_first(Hello)) is None:
                    await self._outbox.wait()
        self._greeted = True
        if hello is not None:
            await self._catch_up(hello)

    async def _send(self, push: Push) -> None:
        if not self._is_new(push):
            return
        await websocket.send(push.frame)
        if push.author not in (None, self.user_id):
            self._hub.deliveries.record(push.conversation, self.user_id, push.message)

    def _is_new(self, push: Push) -> bool:
        """Skip a message this tab already got through catch-up; remember what it has."""
        if isinstance(push, ChangePush):
            return self._is_new_change(push)
        if push.conversation is None or push.message is None:
            return True
        if push.message <= self._sent_upto.get(push.conversation, 0):
            return False
        self._sent_upto[push.conversation] = push.message
        return True

    def _is_new_change(self, push: ChangePush) -> bool:
        """Skip a change the tab has: covered by its change cursor (changes come in their
        conversation's order, so the cursor follows them), or shown already by a copy
        rendered after a later change of the message (only such copies are remembered)."""
        conversation, message = push.conversation or 0, push.message or 0
        if push.seq <= self._seq_upto.get(conversation, 0):
            return False
        self._seq_upto[conversation] = push.seq
        if push.state <= self._states.get(message, 0):
            return False
        self._remember_state(message, push.state, push.seq)
        return True

    def _remember_state(self, message: int, state: int, cursor: int) -> None:
        """A copy newer than the cursor (its message changed again meanwhile) is kept until
        the cursor passes it, so the push of that later change is not sent again."""
        if state > cursor:
            self._states[message] = state
        else:
            self._states.pop(message, None)

    async def _catch_up(self, hello: Hello) -> None:
        """Re-send the list, then what the open conversation missed above its cursor: at
        most CATCH_UP_LIMIT messages, else its newest page in place of the thread (older
        ones are a "Load older messages" away, as on the page itself)."""
        entries = await entries_of_viewer(self.user_id)
        await websocket.send(frames.list_frame(self.viewer, entries))
        self._received_everything(entries)
        if hello.conversation is None:
            return
        entry = next((e for e in entries if e.id == hello.conversation), None)
        if entry is None:
            return
        conversation = Conversation.handle(entry.id)  # the entry already proved membership
        # The tab already shows everything up to its cursor: a push of those is a repeat.
        self._sent_upto[conversation.id] = max(hello.after, self._sent_upto.get(conversation.id, 0))
        changed, last_seq = await changed_since(
            conversation.id, self.user_id, hello.seq, hello.after, CATCH_UP_LIMIT + 1
        )
        await attach_files(changed)
        missed = await conversation.messages_after(self.viewer, hello.after, CATCH_UP_LIMIT + 1)
        if len(missed) > CATCH_UP_LIMIT or len(changed) > CATCH_UP_LIMIT:
            shown = await conversation.messages_before(self.viewer, None, PAGE_SIZE + 1)
            changed = []
            has_older, shown = len(shown) > PAGE_SIZE, shown[-PAGE_SIZE:]
            sending = [frames.thread_frame(conversation, shown, has_older, self.viewer, entry)]
        else:
            shown = missed
            sending = await self._change_frames(changed, entry)
            sending += frames.catch_up_frames(conversation.id, shown, self.viewer, entry)
        if sending:  # the last frame moves the change cursor past everything read above
            sending[-1] += frames.change_cursor(conversation.id, last_seq)
        for frame in sending:
            await websocket.send(frame)
        self._seq_upto[conversation.id] = last_seq
        for shown_message in [*changed, *shown]:
            self._remember_state(shown_message.id, shown_message.seq, last_seq)
        if shown:
            self._caught_up(conversation.id, shown)

    async def _change_frames(self, changed: list[Message], entry: Entry) -> list[str]:
        """Each changed message as it now is, with what quotes of it now show."""
        await with_extras(changed)
        quotes = await frames.quotes_of_changed(changed)
        return [
            frames.change_frame(m, self.viewer, entry, m.seq, quotes.get(m.id)) for m in changed
        ]

    def _received_everything(self, entries: list[Entry]) -> None:
        """A tab that connects has received every message of the viewer's accepted
        conversations up to now, whichever page it shows (the list shows the latest of
        each): one batch statement moves all their delivered cursors (see DeliveryBatches)."""
        for entry in entries:
            if entry.is_accepted and entry.last_id is not None and entry.last_id > entry.delivered:
                self._hub.deliveries.record(entry.id, self.user_id, entry.last_id)

    def _caught_up(self, conversation_id: int, shown: list[Message]) -> None:
        """Remember what the tab now shows; the others' messages among it were delivered."""
        theirs = [m.id for m in shown if m.author_id != self.user_id]
        if theirs:
            self._hub.deliveries.record(conversation_id, self.user_id, max(theirs))
        newest = shown[-1].id
        self._sent_upto[conversation_id] = max(newest, self._sent_upto.get(conversation_id, 0))


@blueprint.websocket("/ws")
async def socket() -> Any:
    """Refuse before accepting (so nothing is sent) unless the cookie and Origin check out."""
    if not socket_origin_allowed():
        return "Origin not allowed", 403
    viewer = await current_viewer()
    session_id = current_session_id()
    if viewer is None or session_id is None:
        return "Log in first", 403
    hub: Hub = current_app.extensions["hub"]
    tab = TabSocket(viewer, session_id, hub)
    hub.attach(tab)
    try:
        if not await session_still_open():  # logged out while it was looked up
            return "Log in first", 403
        await websocket.accept()
        await tab.serve()
    finally:
        hub.detach(tab)
    return None


@blueprint.get("/internal/stats")
async def stats() -> Any:
    """This worker's hub counters and samples since `since` (bench/load.py reads them), for
    requests from this machine only, and not through a proxy: nothing in it is secret (counts
    and timings), but it is nobody else's business either."""
    client = request.scope.get("client") or ("", 0)
    if client[0] not in LOOPBACK or "X-Forwarded-For" in request.headers:
        return "Not found", 404
    since = request.args.get("since", "0")
    hub: Hub = current_app.extensions["hub"]
    taken = int(since) if since.isascii() and since.isdigit() else 0
    return {"pid": os.getpid(), **hub.stats.as_dict(taken)}
