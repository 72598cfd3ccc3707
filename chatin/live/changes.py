"""Changes to existing messages (edits, deletes, reactions) become frames: the message as it
now is, in place of its old copy, with the tab's new place in the conversation's sequence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatin.events import Event
from chatin.fragments import (
    ViewerRef,
    render_change_cursor,
    render_entry,
    render_message,
    render_quote_update,
    render_toast,
)
from chatin.live.push import Push
from chatin.models import Entry, Message, Quote, message_with_entries, quotes_of, with_extras


@dataclass(frozen=True, slots=True)
class ChangePush(Push):
    """A changed message as it is now. `seq` is the change's place in the conversation's
    sequence (the tab's change cursor moves to it); `state` is the place of the newest
    change the rendered message already shows, so a tab that has it skips the repeat."""

    seq: int = 0
    state: int = 0


async def change_pushes(event: Event, user_ids: list[int]) -> dict[int, Push]:
    """A lone change: its message as it now is, with its recipients' entries (the hub's
    batches load several at once and call `change_frames` themselves)."""
    conversation_id, message_id = event.conversation or 0, event.message or 0
    message, entries = await message_with_entries(conversation_id, message_id, user_ids)
    if message is None:
        return {}
    await with_extras([message])
    quotes = await quotes_of_changed([message]) if event.member is None else {}
    return change_frames(event, message, entries, quotes.get(message.id))


def change_frames(
    event: Event, message: Message, entries: dict[int, Entry], quote: Quote | None
) -> dict[int, Push]:
    """An edit, delete or reaction: each reader's tabs get the message as it now is, in place
    of its old copy (a top-level article swaps by id; a tab that hasn't loaded it ignores
    it), the quotes of it in replies, and the list entry where it is the conversation's last
    message. Nothing moves up. The author hears of another's reaction in a toast.

    Readers who see the same copy share one render: everyone but the author who has no
    reaction on it (chips name "you") and whose history shows the same of the message it
    answers, so a reaction in a 50-member group costs a few renders, not 50."""
    conversation_id, message_id, seq = message.conversation_id, message.id, event.seq or 0
    cursor = render_change_cursor(conversation_id, seq)
    answered = getattr(message, "quote", None)
    copies: dict[tuple[int, bool], str] = {}
    listed: dict[Entry, str] = {}
    pushes: dict[int, Push] = {}
    for user_id, entry in entries.items():
        alike = user_id != message.author_id and message.reaction_by(user_id) is None
        key = (0 if alike else user_id, answered is not None and answered.id <= entry.visible_from)
        if key not in copies:
            copies[key] = _changed_message(message, ViewerRef(user_id), entry, quote)
        frame = copies[key] + cursor
        if entry.last_id == message_id:
            shown = entry.as_listed()
            if shown not in listed:
                listed[shown] = render_entry(shown)
            frame += listed[shown]
        if user_id == message.author_id:
            frame += _reaction_toast(message, event.member)
        pushes[user_id] = ChangePush(frame, conversation_id, message_id, None, seq, message.seq)
    return pushes


async def quotes_of_changed(messages: list[Message]) -> dict[int, Quote]:
    """What replies quoting these messages now show, for those an edit or a delete altered
    and a reply quotes (a reaction leaves quotes as they were: callers skip this for one)."""
    altered = [m.id for m in messages if m.edited_at is not None or m.deleted_at is not None]
    quotes = await quotes_of(altered)
    return {message_id: quote for message_id, quote in quotes.items() if quote.quoted}


def _changed_message(
    message: Message, viewer: Any, entry: Entry | None, quote: Quote | None
) -> str:
    article = render_message(message, viewer, entry)
    return article + (render_quote_update(quote, viewer) if quote is not None else "")


def _reaction_toast(message: Message, reactor: int | None) -> str:
    """ "Bob reacted 👍", when the change was someone else's reaction still standing."""
    if reactor is None or reactor == message.author_id:
        return ""
    chip = next((chip for chip in message.chips if chip.has(reactor)), None)
    if chip is None:
        return ""
    name = next(name for person, name in chip.people if person == reactor)
    return render_toast(message.conversation_id, name, f"reacted {chip.emoji}")


def change_frame(
    message: Message, viewer: Any, entry: Entry | None, seq: int, quote: Quote | None = None
) -> str:
    """One changed message for a catch-up, moving the tab's change cursor to seq."""
    return _changed_message(message, viewer, entry, quote) + render_change_cursor(
        message.conversation_id, seq
    )


def change_cursor(conversation_id: int, seq: int) -> str:
    """The change cursor alone, appended to a catch-up's last frame."""
    return render_change_cursor(conversation_id, seq)
