"""Events and catch-ups become frames: partials rendered for one viewer, wrapped as
out-of-band swaps. The only code that knows the page's swap targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from quart import render_template

from chatin.live.hub import Push
from chatin.models import Entry, Message, entries_for_members, message_with_author


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


async def render_message(message: Message, viewer: Any) -> str:
    return await render_template("partials/message.html", message=message, viewer=viewer)


async def render_entry(entry: Entry) -> str:
    return await render_template("partials/conversation_entry.html", entry=entry)


async def render_event(event: dict[str, Any], user_ids: list[int]) -> dict[int, Push]:
    """The hub's renderer: one push per local user who may see this event."""
    kind = event.get("kind")
    if kind == "message":
        return await _message_pushes(int(event["conversation"]), int(event["message"]), user_ids)
    if kind == "conversation":
        return await _conversation_pushes(int(event["conversation"]), user_ids)
    return {}


async def _message_pushes(
    conversation_id: int, message_id: int, user_ids: list[int]
) -> dict[int, Push]:
    """Load the message once, then render it once per user (not per tab)."""
    message = await message_with_author(message_id)
    if message is None:
        return {}
    entries = await entries_for_members(conversation_id, user_ids)
    pushes = {}
    for user_id, entry in entries.items():
        article = await render_message(message, ViewerRef(user_id))
        frame = (
            thread_append(conversation_id, article)
            + list_top(await render_entry(entry))
            + cursor(conversation_id, message_id)
        )
        pushes[user_id] = Push(frame, conversation_id, message_id)
    return pushes


async def _conversation_pushes(conversation_id: int, user_ids: list[int]) -> dict[int, Push]:
    """A conversation appeared, was accepted or was blocked: its entry changes."""
    entries = await entries_for_members(conversation_id, user_ids)
    pushes = {}
    for user_id in user_ids:
        entry = entries.get(user_id)
        if entry is None:
            frame = removal(f"conv-{conversation_id}") + removal(f"chat-{conversation_id}")
        else:
            banner = await render_template("partials/request_banner.html", entry=entry)
            frame = list_top(await render_entry(entry)) + banner
        pushes[user_id] = Push(frame)
    return pushes


async def list_frame(viewer: Any, entries: list[Entry]) -> str:
    """The whole conversation list, for a tab that (re)connected."""
    return await render_template("partials/conversation_list.html", entries=entries, viewer=viewer)


async def catch_up_frame(conversation_id: int, messages: list[Message], viewer: Any) -> str:
    articles = "".join([await render_message(message, viewer) for message in messages])
    return thread_append(conversation_id, articles) + cursor(conversation_id, messages[-1].id)
