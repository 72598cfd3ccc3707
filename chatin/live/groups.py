"""What a group's events change on its members' pages, beside chatin.live.frames: who is
typing (several people at once in a group; so every typing notice is rendered here),
receipts that count every other member, and a change of members or name (a leaver's tabs
lose the group)."""

from __future__ import annotations

import time

from chatin.events import Event
from chatin.fragments import (
    entry_id,
    removal,
    render_chat_name,
    render_entry,
    render_gone,
    render_group_head,
    render_status,
    render_typing,
)
from chatin.models import (
    Entry,
    User,
    entries_for_members,
    entries_for_pairs,
    own_messages_in_ranges,
)

TYPING_SHOWN_SECONDS = 5.0  # as static/js/typing.js: a notice stands this long
MAX_TYPING_CONVERSATIONS = 10_000


class Typists:
    """Who is typing in which group, as this worker heard it: a notice lasts
    TYPING_SHOWN_SECONDS and a message from its typist ends it. Memory only (typing is
    never stored); every worker with a member's tab hears every notice."""

    def __init__(self) -> None:
        self._typing: dict[int, dict[int, tuple[str, float]]] = {}

    def typed(self, conversation_id: int, member: int, name: str) -> None:
        if len(self._typing) >= MAX_TYPING_CONVERSATIONS:
            self._forget_old()
        self._typing.setdefault(conversation_id, {})[member] = (name, time.monotonic())

    def sent(self, conversation_id: int, author: int) -> None:
        typing = self._typing.get(conversation_id)
        if typing is not None:
            typing.pop(author, None)

    def names(self, conversation_id: int, viewer: int) -> list[str]:
        """Everyone typing here now but the viewer, longest typing first."""
        since = time.monotonic() - TYPING_SHOWN_SECONDS
        typing = self._typing.get(conversation_id, {})
        return [name for member, (name, at) in typing.items() if member != viewer and at > since]

    def _forget_old(self) -> None:
        since = time.monotonic() - TYPING_SHOWN_SECONDS
        self._typing = {
            conversation: fresh
            for conversation, typing in self._typing.items()
            if (fresh := {m: seen for m, seen in typing.items() if seen[1] > since})
        }


typists = Typists()


async def typing_frames(event: Event, user_ids: list[int]) -> dict[int, str]:
    """Someone is typing, for the members who still see the conversation: "Ana is
    typing…"; in a group also "Ana and Bo are typing…", "Several people are typing…"."""
    conversation_id, member = event.conversation or 0, event.member or 0
    entries = await entries_for_members(conversation_id, user_ids)
    if not any(entry.is_group for entry in entries.values()):
        return {
            user_id: render_typing(conversation_id, [entry.other_name])
            for user_id, entry in entries.items()
        }
    typist = await User.get_or_none(id=member).only("id", "display_name")
    if typist is None:
        return {}
    typists.typed(conversation_id, member, typist.display_name)
    return {
        user_id: render_typing(conversation_id, typists.names(conversation_id, user_id))
        for user_id in entries
    }


async def tick_frames(event: Event, user_ids: list[int]) -> dict[int, str]:
    """A member's cursor moved past (after, upto]: each other member's own messages there
    show how far everyone has got (Delivered when every other current member has them, Read
    when every one has read them, and "Read by 2 of 4"). Two queries for any group size."""
    conversation_id, member = event.conversation or 0, event.member or 0
    authors = [user_id for user_id in user_ids if user_id != member]
    entries = await entries_for_members(conversation_id, authors)
    ranges = [(conversation_id, a, event.after or 0, event.upto or 0) for a in entries]
    frames = {}
    for (_, author, _, _), ids in zip(ranges, await own_messages_in_ranges(ranges), strict=True):
        if frame := tick_frame(entries[author], ids):
            frames[author] = frame
    return frames


async def authors_entries(readers: list[tuple[Event, int]]) -> dict[tuple[Event, int], Entry]:
    """For a batch's (delivered event, author) pairs in groups, the author's entry, whose
    cursors a group's ticks count; one query for the batch, none without groups."""
    in_groups = [(event, author) for event, author in readers if event.group]
    if not in_groups:
        return {}
    found = await entries_for_pairs(sorted({(e.conversation or 0, a) for e, a in in_groups}))
    return {
        (event, author): found[(event.conversation or 0, author)]
        for event, author in in_groups
        if (event.conversation or 0, author) in found
    }


def tick_frame(entry: Entry | None, ids: list[int]) -> str | None:
    """The ticks of an author's messages `ids` in a group, as every other member has them;
    None when there is nothing to tick or the author is no longer in it."""
    if entry is None or not ids:
        return None
    return "".join(render_status(i, entry.status_of(i), entry.read_detail(i)) for i in ids)


def members_frame(conversation_id: int, entry: Entry | None) -> str:
    """The group's members or name changed: its entry and header; a viewer who is no longer
    in it loses its entry, and an open thread of it says so."""
    if entry is None:
        return removal(entry_id(conversation_id)) + render_gone(conversation_id)
    return (
        render_entry(entry)
        + render_chat_name(conversation_id, entry.other_name)
        + render_group_head(entry)
    )
