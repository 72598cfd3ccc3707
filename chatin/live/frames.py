"""Events and catch-ups become frames: partials rendered for one viewer, wrapped as
out-of-band swaps. The only code that knows the page's swap targets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment
from markupsafe import escape
from quart import current_app

from chatin.live.hub import Push
from chatin.models import (
    Entry,
    Message,
    User,
    entries_for_members,
    entries_with_person,
    message_with_entries,
    own_messages_between,
    person_is_online,
)

PARTIALS = "chatin.partials"
MAX_CATCH_UP_FRAME_CHARS = 256 * 1024


def partial_environment(pages: Environment) -> Environment:
    """The pages' Jinja environment (loader, filters, autoescape) rendering synchronously.

    Partials are rendered for every message and every viewer. Quart's environment is
    async, which costs about a quarter more per render, and its `render_template` updates
    a request context that partials never read (they take `viewer`).
    """
    return pages.overlay(enable_async=False)


def render_partial(template: str, **context: Any) -> str:
    return current_app.extensions[PARTIALS].get_template(template).render(**context)


@dataclass(frozen=True)
class ViewerRef:
    """What partials need of a push recipient: who they are."""

    id: int


def thread_append(conversation_id: int, html: str) -> str:
    return f'<div hx-swap-oob="beforeend:#thread-{conversation_id}">{html}</div>'


def list_top(html: str) -> str:
    """Put an entry first in the list; the page's script drops its old copy."""
    return f'<div hx-swap-oob="afterbegin:#conversation-list">{html}</div>'


def removal(element_id: str) -> str:
    return f'<div id="{escape(element_id)}" hx-swap-oob="delete"></div>'


def cursor(conversation_id: int, message_id: int) -> str:
    return (
        f'<input type="hidden" id="cursor-{conversation_id}" name="after" '
        f'value="{message_id}" hx-swap-oob="true">'
    )


def render_message(message: Message, viewer: Any, entry: Entry | None) -> str:
    return render_partial("partials/message.html", message=message, viewer=viewer, entry=entry)


def render_entry(entry: Entry, fresh: bool = False) -> str:
    """A list entry; `fresh` marks one that a new message from the other side just moved."""
    return render_partial("partials/conversation_entry.html", entry=entry, fresh=fresh)


async def render_event(event: dict[str, Any], user_ids: list[int]) -> dict[int, Push]:
    """The hub's renderer: one push per local user who may see this event."""
    kind = event.get("kind")
    if kind == "message":
        return await _message_pushes(int(event["conversation"]), int(event["message"]), user_ids)
    if kind == "conversation":
        change = str(event.get("change", "new"))
        return await _conversation_pushes(int(event["conversation"]), change, user_ids)
    if kind in ("read", "delivered"):
        return await _receipt_pushes(kind, event, user_ids)
    if kind == "typing":
        return await _typing_pushes(int(event["conversation"]), user_ids)
    if kind == "presence":
        return await _presence_pushes(int(event["user"]), user_ids)
    if kind == "profile":
        return await _profile_pushes(int(event["user"]), user_ids)
    return {}


async def _message_pushes(
    conversation_id: int, message_id: int, user_ids: list[int]
) -> dict[int, Push]:
    """Load the message once, then render it once per user (not per tab)."""
    message, entries = await message_with_entries(conversation_id, message_id, user_ids)
    if message is None:
        return {}
    typing_cleared = render_typing(conversation_id, None)  # the same for every reader
    pushes = {}
    for user_id, entry in entries.items():
        article = render_message(message, ViewerRef(user_id), entry)
        fresh = message.author_id != user_id
        frame = (
            thread_append(conversation_id, article)
            + list_top(render_entry(entry, fresh=fresh))
            + cursor(conversation_id, message_id)
            + (typing_cleared if fresh else "")
        )
        pushes[user_id] = Push(frame, conversation_id, message_id, message.author_id)
    return pushes


async def _receipt_pushes(kind: str, event: dict[str, Any], user_ids: list[int]) -> dict[int, Push]:
    """The reader's tabs get their new unread count; the authors' tabs get new ticks."""
    conversation_id, member = int(event["conversation"]), int(event["member"])
    after, upto = int(event["after"]), int(event["upto"])
    status = "Read" if kind == "read" else "Delivered"
    pushes = {}
    if member in user_ids and kind == "read":
        entry = (await entries_for_members(conversation_id, [member])).get(member)
        if entry is not None:
            pushes[member] = Push(render_entry(entry))
    for user_id in user_ids:
        if user_id == member:
            continue
        ids = await own_messages_between(conversation_id, user_id, after, upto)
        if ids:
            spans = [render_status(message_id, status) for message_id in ids]
            pushes[user_id] = Push("".join(spans))
    return pushes


async def _typing_pushes(conversation_id: int, user_ids: list[int]) -> dict[int, Push]:
    entries = await entries_for_members(conversation_id, user_ids)
    return {
        user_id: Push(render_typing(conversation_id, entry.other_name))
        for user_id, entry in entries.items()
    }


async def _presence_pushes(user_id: int, viewer_ids: list[int]) -> dict[int, Push]:
    """Same news for every contact: who may see it was settled by the announcement."""
    person = await User.get_or_none(id=user_id).only("id", "last_seen_at")
    if person is None:
        return {}
    online = await person_is_online(user_id)
    parts = [
        render_presence(user_id, True, online, person.last_seen_at, where)
        for where in ("list", "head")
    ]
    return dict.fromkeys(viewer_ids, Push("".join(parts)))


async def _profile_pushes(person_id: int, viewer_ids: list[int]) -> dict[int, Push]:
    """A new display name: the person's own header, and every entry and chat header with them."""
    frames: dict[int, list[str]] = {viewer_id: [] for viewer_id in viewer_ids}
    for entry in await entries_with_person(person_id, viewer_ids):
        frames[entry.viewer_id].append(render_entry(entry))
        frames[entry.viewer_id].append(
            f'<span id="chat-name-{entry.id}">{escape(entry.other_name)}</span>'
        )
    if person_id in frames:
        person = await User.get_or_none(id=person_id).only("id", "display_name")
        if person is not None:
            frames[person_id].append(
                f'<span id="me-name" class="me-name">{escape(person.display_name)}</span>'
            )
    return {viewer_id: Push("".join(parts)) for viewer_id, parts in frames.items() if parts}


def render_presence(
    user_id: int, shown: bool, online: bool, last_seen: datetime | None, where: str
) -> str:
    return render_partial(
        "partials/presence.html",
        user_id=user_id,
        shown=shown,
        online=online,
        last_seen=last_seen,
        where=where,
    )


def render_status(message_id: int, status: str) -> str:
    return render_partial("partials/message_status.html", message_id=message_id, status=status)


def render_typing(conversation_id: int, name: str | None) -> str:
    """The "is typing…" line of a conversation and its list hint; no name clears them."""
    return render_partial(
        "partials/typing.html", conversation_id=conversation_id, name=name, with_hint=True
    )


async def _conversation_pushes(
    conversation_id: int, change: str, user_ids: list[int]
) -> dict[int, Push]:
    """A conversation appeared, was accepted or was blocked: entries, banner, presence."""
    entries = await entries_for_members(conversation_id, user_ids)
    pushes = {}
    for user_id in user_ids:
        entry = entries.get(user_id)
        if entry is None:
            frame = removal(f"conv-{conversation_id}") + removal(f"chat-{conversation_id}")
        else:
            html = render_entry(entry)
            frame = (
                (list_top(html) if change == "new" else html)
                + render_partial("partials/request_banner.html", entry=entry)
                + render_presence(
                    entry.other_id,
                    entry.shows_presence,
                    entry.other_online,
                    entry.other_last_seen,
                    "head",
                )
            )
        pushes[user_id] = Push(frame)
    return pushes


def list_frame(viewer: Any, entries: list[Entry]) -> str:
    """The whole conversation list, for a tab that (re)connected."""
    return render_partial("partials/conversation_list.html", entries=entries, viewer=viewer)


def catch_up_frames(
    conversation_id: int, messages: list[Message], viewer: Any, entry: Entry | None
) -> Iterator[str]:
    """Missed messages as frames of about MAX_CATCH_UP_FRAME_CHARS at most (one message
    may make a frame larger): 200 long messages of escaped text could otherwise be several
    MB, past the 1 MiB many WebSocket clients accept by default."""
    articles: list[str] = []
    size = last = 0
    for message in messages:
        article = render_message(message, viewer, entry)
        if articles and size + len(article) > MAX_CATCH_UP_FRAME_CHARS:
            yield _catch_up_frame(conversation_id, articles, last)
            articles, size = [], 0
        articles.append(article)
        size += len(article)
        last = message.id
    if articles:
        yield _catch_up_frame(conversation_id, articles, last)


def _catch_up_frame(conversation_id: int, articles: list[str], last: int) -> str:
    return thread_append(conversation_id, "".join(articles)) + cursor(conversation_id, last)
