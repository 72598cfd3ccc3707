"""Fragments: partials rendered for one viewer, the out-of-band wrappers and the DOM ids
they target. The pages' views (an htmx reply) and the live path (a push) both render here,
so a fragment's markup exists once, in `templates/partials/`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape
from quart import current_app

from chatin.models import Conversation, Entry, Message, Quote

PARTIALS = "chatin.partials"
CONVERSATION_LIST_ID = "conversation-list"


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


# DOM ids of the elements pushes target (the partials render the same ids for their roots).
def thread_id(conversation_id: int) -> str:
    return f"thread-{conversation_id}"


def entry_id(conversation_id: int) -> str:
    return f"conv-{conversation_id}"


def chat_id(conversation_id: int) -> str:
    return f"chat-{conversation_id}"


# Out-of-band wrappers: htmx strips the wrapper and inserts its content at the target.
def append_to(target_id: str, html: str) -> str:
    return f'<div hx-swap-oob="beforeend:#{target_id}">{html}</div>'


def fill(target_id: str, html: str) -> str:
    """Replace what the target holds with html."""
    return f'<div hx-swap-oob="innerHTML:#{target_id}">{html}</div>'


def prepend_to(target_id: str, html: str) -> str:
    return f'<div hx-swap-oob="afterbegin:#{target_id}">{html}</div>'


def removal(element_id: str) -> str:
    return f'<div id="{escape(element_id)}" hx-swap-oob="delete"></div>'


def list_top(html: str) -> str:
    """Put an entry first in the list; the page's script drops its old copy."""
    return prepend_to(CONVERSATION_LIST_ID, html)


# One function per partial that is pushed or returned to htmx.
def render_message(message: Message, viewer: Any, entry: Entry | None) -> str:
    return render_partial("partials/message.html", message=message, viewer=viewer, entry=entry)


def render_quote_update(quote: Quote, viewer: Any) -> str:
    """Every quote of this message the tab shows, as the message now is (after an edit or
    a delete): one out-of-band swap of all elements with the class."""
    html = render_partial("partials/quote.html", quote=quote, viewer=viewer)
    return f'<div hx-swap-oob="innerHTML:.quote-of-{quote.id}">{html}</div>'


def quick_reactions_for(chosen: str | None) -> Markup:
    """A menu's quick reactions for a viewer who chose `chosen`: the same markup for every
    message, so it is rendered once per choice, not once per message and viewer (the menu
    on every message made each render about half again as costly)."""
    return _quick_reactions(current_app.extensions[PARTIALS], chosen)


@functools.lru_cache(maxsize=64)
def _quick_reactions(partials: Environment, chosen: str | None) -> Markup:
    return Markup(partials.get_template("partials/quick_reactions.html").render(chosen=chosen))


def render_reply_bar(quote: Quote | None, viewer: Any) -> str:
    """The composer's "Replying to …" bar (hidden when quote is None)."""
    return render_partial("partials/replying.html", replying=quote, viewer=viewer)


def render_toast(conversation_id: int, sender: str, text: str) -> str:
    """A short note in the page's toast area (the page's script drops it where the
    conversation is open)."""
    html = render_partial(
        "partials/toast.html", conversation_id=conversation_id, sender=sender, text=text
    )
    return f'<div hx-swap-oob="beforeend:#toasts">{html}</div>'


def render_page_of_messages(
    conversation: Conversation, messages: list[Message], has_older: bool, viewer: Any, entry: Entry
) -> str:
    """Messages as the conversation page shows them, after a "Load older messages" link
    when there are older ones."""
    return render_partial(
        "partials/older_page.html",
        conversation=conversation,
        messages=messages,
        has_older=has_older,
        viewer=viewer,
        entry=entry,
        first_unread_id=None,
    )


def render_entry(entry: Entry, fresh: bool = False) -> str:
    """A list entry; `fresh` marks one that a new message from the other side just moved."""
    return render_partial("partials/conversation_entry.html", entry=entry, fresh=fresh)


def render_list(viewer: Any, entries: list[Entry]) -> str:
    return render_partial("partials/conversation_list.html", entries=entries, viewer=viewer)


def render_cursor(conversation_id: int, message_id: int) -> str:
    """The last message id a tab shows, which its hello sends back on reconnect."""
    return render_partial(
        "partials/cursor.html", conversation_id=conversation_id, message_id=message_id
    )


def render_change_cursor(conversation_id: int, seq: int) -> str:
    """The tab's place in the conversation's sequence of changes, which its hello sends
    back so the catch-up replays only the changes after it."""
    return render_partial("partials/change_cursor.html", conversation_id=conversation_id, seq=seq)


def render_request_banner(entry: Entry) -> str:
    return render_partial("partials/request_banner.html", entry=entry)


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


def render_status(message_id: int, status: str, detail: str | None = None) -> str:
    """The ticks on a message; in a group, `detail` ("Read by 2 of 4") too."""
    return render_partial(
        "partials/message_status.html", message_id=message_id, status=status, detail=detail
    )


def render_typing(conversation_id: int, names: list[str]) -> str:
    """The "… is typing" line of a conversation and its list hint; no names clear them."""
    return render_partial(
        "partials/typing.html", conversation_id=conversation_id, names=names, with_hint=True
    )


def render_group_head(entry: Entry) -> str:
    """A group's member count and its "Group info" link, in the conversation's header."""
    return render_partial("partials/group_head.html", entry=entry)


def render_gone(conversation_id: int) -> str:
    """In place of a conversation the viewer no longer belongs to (left or removed)."""
    return render_partial("partials/gone.html", conversation_id=conversation_id)


def render_chat_name(conversation_id: int, name: str) -> str:
    """The other person's name in a conversation's header."""
    return render_partial("partials/chat_name.html", conversation_id=conversation_id, name=name)


def render_own_name(name: str) -> str:
    """The viewer's own name in the top bar."""
    return render_partial("partials/own_name.html", name=name)


def own_avatar_id() -> str:
    return "me-avatar"


def chat_avatar_id(conversation_id: int) -> str:
    return f"chat-avatar-{conversation_id}"


def render_avatar(person_id: int, name: str, picture: str | None, avatar_id: str) -> str:
    """A person's picture (or initial) standing alone: the top bar's, a chat header's."""
    return render_partial(
        "partials/avatar.html",
        person_id=person_id,
        name=name,
        picture=picture,
        avatar_id=avatar_id,
    )
