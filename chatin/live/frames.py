"""Events and catch-ups become frames: partials rendered for one viewer, wrapped as
out-of-band swaps (see chatin.fragments). The only code that decides which fragments an
event changes on the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from chatin.events import Change, Event, Kind
from chatin.fragments import (
    ViewerRef,
    append_to,
    chat_avatar_id,
    chat_id,
    entry_id,
    fill,
    list_top,
    own_avatar_id,
    removal,
    render_avatar,
    render_chat_name,
    render_cursor,
    render_entry,
    render_list,
    render_message,
    render_own_name,
    render_page_of_messages,
    render_presence,
    render_request_banner,
    render_status,
    render_typing,
    thread_id,
)
from chatin.live import groups
from chatin.live.changes import (
    ChangePush,
    change_cursor,
    change_frame,
    change_frames,
    change_pushes,
    quotes_of_changed,
)
from chatin.live.push import Push
from chatin.models import (
    Conversation,
    Entry,
    Message,
    User,
    entries_for_members,
    entries_with_person,
    message_with_entries,
    messages_with_entries,
    own_messages_between,
    own_messages_in_ranges,
    person_is_online,
    with_extras,
)
from chatin.models.profiles import picture_version

# What the socket imports from here.
__all__ = ["ChangePush", "Push", "change_cursor", "change_frame", "quotes_of_changed"]

MAX_CATCH_UP_FRAME_CHARS = 256 * 1024


async def render_event(event: Event, user_ids: list[int]) -> dict[int, Push]:
    """One push per local user who may see this event."""
    return await _RENDERERS[event.kind](event, user_ids)


BATCHED_KINDS = frozenset({Kind.MESSAGE, Kind.CHANGE, Kind.DELIVERED})


async def render_batch(events: list[tuple[Event, list[int]]]) -> list[dict[int, Push]]:
    """`render_event` for MESSAGE, CHANGE and DELIVERED events queued together, each with
    its local users: one query loads every message (new or changed) with its recipients'
    entries, one more their reactions, one the quotes of edited or deleted ones, one every
    author's ticks, and in groups one more the authors' entries (a group's ticks count
    every member); the pushes come back in the events' order."""
    wanted = [(e.conversation or 0, e.message or 0) for e, _ in events if e.kind in _LOADED]
    everyone = sorted({user_id for _, user_ids in events for user_id in user_ids})
    found = await messages_with_entries(wanted, everyone) if wanted else {}
    await with_extras([message for message, _ in found.values()])
    quotes = await quotes_of_changed(_edited_or_deleted(events, found))
    readers = _tick_readers(events)
    ranges = [(e.conversation or 0, author, e.after or 0, e.upto or 0) for e, author in readers]
    ticks = iter(await own_messages_in_ranges(ranges) if ranges else [])
    authors_entries = await groups.authors_entries(readers)
    pushes = []
    for event, user_ids in events:
        if event.kind is Kind.DELIVERED:
            authors = [user_id for user_id in user_ids if user_id != event.member]
            per_author = {
                user_id: _tick_push(event, next(ticks), authors_entries.get((event, user_id)))
                for user_id in authors
            }
            pushes.append({user_id: push for user_id, push in per_author.items() if push})
            continue
        message, entries = found.get((event.conversation or 0, event.message or 0), (None, {}))
        mine = {user_id: entries[user_id] for user_id in user_ids if user_id in entries}
        if message is None:
            pushes.append({})
        elif event.kind is Kind.MESSAGE:
            pushes.append(_message_frames(message, mine))
        else:  # a reaction (it names its member) leaves quotes as they were
            quote = quotes.get(message.id) if event.member is None else None
            pushes.append(change_frames(event, message, mine, quote))
    return pushes


_LOADED = frozenset({Kind.MESSAGE, Kind.CHANGE})  # the batch kinds that render a message


def _edited_or_deleted(
    events: list[tuple[Event, list[int]]],
    found: dict[tuple[int, int], tuple[Message, dict[int, Entry]]],
) -> list[Message]:
    """The messages of the batch's edits and deletes (a change that names no member: a
    reaction's names its reactor), whose quotes in replies change with them."""
    changed = [e for e, _ in events if e.kind is Kind.CHANGE and e.member is None]
    keys = {(e.conversation or 0, e.message or 0) for e in changed}
    return [found[key][0] for key in keys if key in found]


def _tick_readers(events: list[tuple[Event, list[int]]]) -> list[tuple[Event, int]]:
    """Each DELIVERED event with each local user whose messages it may tick, in order."""
    return [
        (event, user_id)
        for event, user_ids in events
        if event.kind is Kind.DELIVERED
        for user_id in user_ids
        if user_id != event.member
    ]


def _tick_push(event: Event, ids: list[int], entry: Entry | None = None) -> Push | None:
    """Ticks for an author's messages that a member's cursor passed; in a group, as
    every other member has them (the author's `entry`)."""
    if event.group:
        frame = groups.tick_frame(entry, ids)
        return Push(frame) if frame else None
    status = "Read" if event.kind is Kind.READ else "Delivered"
    return Push("".join(render_status(message_id, status) for message_id in ids)) if ids else None


async def _message_pushes(event: Event, user_ids: list[int]) -> dict[int, Push]:
    """Load the message once, then render it once per user (not per tab)."""
    conversation_id, message_id = event.conversation or 0, event.message or 0
    message, entries = await message_with_entries(conversation_id, message_id, user_ids)
    if message is None:
        return {}
    await with_extras([message])
    return _message_frames(message, entries)


def _message_frames(message: Message, entries: dict[int, Entry]) -> dict[int, Push]:
    """Every recipient's frame, rendering the message once for its author and once for
    everyone else, and each distinct list entry once (members with the same unread count
    see the same): a 50-member group costs a few renders, not 50."""
    conversation_id, message_id = message.conversation_id, message.id
    groups.typists.sent(conversation_id, message.author_id)
    typing_cleared = render_typing(conversation_id, [])  # the same for every reader
    cursor = render_cursor(conversation_id, message_id)
    quoted = getattr(message, "quote", None)
    theirs: dict[bool, str] = {}  # by whether the viewer's history hides the quoted message
    listed: dict[tuple[Entry, bool], str] = {}
    pushes = {}
    for user_id, entry in entries.items():
        fresh = message.author_id != user_id
        hides = quoted is not None and quoted.id <= entry.visible_from
        if fresh and hides not in theirs:
            theirs[hides] = render_message(message, ViewerRef(user_id), entry)
        article = theirs[hides] if fresh else render_message(message, ViewerRef(user_id), entry)
        key = (entry.as_listed(), fresh)
        if key not in listed:
            listed[key] = list_top(render_entry(key[0], fresh=fresh))
        frame = (
            append_to(thread_id(conversation_id), article)
            + listed[key]
            + cursor
            + (typing_cleared if fresh else "")
        )
        pushes[user_id] = Push(frame, conversation_id, message_id, message.author_id)
    return pushes


async def _receipt_pushes(event: Event, user_ids: list[int]) -> dict[int, Push]:
    """The reader's tabs get their new unread count; the authors' tabs get new ticks."""
    conversation_id, member = event.conversation or 0, event.member or 0
    after, upto = event.after or 0, event.upto or 0
    pushes = {}
    if member in user_ids and event.kind is Kind.READ:
        entry = (await entries_for_members(conversation_id, [member])).get(member)
        if entry is not None:
            pushes[member] = Push(render_entry(entry))
    if event.group:
        ticks = await groups.tick_frames(event, user_ids)
        return pushes | {user_id: Push(frame) for user_id, frame in ticks.items()}
    for user_id in user_ids:
        if user_id == member:
            continue
        push = _tick_push(event, await own_messages_between(conversation_id, user_id, after, upto))
        if push is not None:
            pushes[user_id] = push
    return pushes


async def _typing_pushes(event: Event, user_ids: list[int]) -> dict[int, Push]:
    frames = await groups.typing_frames(event, user_ids)
    return {user_id: Push(frame) for user_id, frame in frames.items()}


async def _presence_pushes(event: Event, viewer_ids: list[int]) -> dict[int, Push]:
    """Same news for every contact: who may see it was settled by the announcement."""
    user_id = event.user or 0
    person = await User.get_or_none(id=user_id).only("id", "last_seen_at")
    if person is None:
        return {}
    online = await person_is_online(user_id)
    parts = [
        render_presence(user_id, True, online, person.last_seen_at, where)
        for where in ("list", "head")
    ]
    return dict.fromkeys(viewer_ids, Push("".join(parts)))


async def _profile_pushes(event: Event, viewer_ids: list[int]) -> dict[int, Push]:
    """A new display name or picture: the person's own top bar, and every entry and chat
    header with them."""
    person_id = event.user or 0
    frames: dict[int, list[str]] = {viewer_id: [] for viewer_id in viewer_ids}
    for entry in await entries_with_person(person_id, viewer_ids):
        name, picture = entry.other_name, entry.other_picture
        frames[entry.viewer_id].append(render_entry(entry))
        frames[entry.viewer_id].append(render_chat_name(entry.id, name))
        avatar = render_avatar(person_id, name, picture, chat_avatar_id(entry.id))
        frames[entry.viewer_id].append(avatar)
    if person_id in frames:
        person = await User.get_or_none(id=person_id).only("id", "display_name")
        if person is not None:
            picture = await picture_version(person_id)
            frames[person_id].append(render_own_name(person.display_name))
            frames[person_id].append(
                render_avatar(person_id, person.display_name, picture, own_avatar_id())
            )
    return {viewer_id: Push("".join(parts)) for viewer_id, parts in frames.items() if parts}


async def _conversation_pushes(event: Event, user_ids: list[int]) -> dict[int, Push]:
    """A conversation appeared, was accepted or was blocked: entries, banner, presence."""
    conversation_id = event.conversation or 0
    entries = await entries_for_members(conversation_id, user_ids)
    if event.change is Change.MEMBERS:
        return {
            user_id: Push(groups.members_frame(conversation_id, entries.get(user_id)))
            for user_id in user_ids
        }
    pushes = {}
    for user_id in user_ids:
        entry = entries.get(user_id)
        if entry is None:
            frame = removal(entry_id(conversation_id)) + removal(chat_id(conversation_id))
        else:
            html = render_entry(entry)
            frame = (
                (list_top(html) if event.change is Change.NEW else html)
                + render_request_banner(entry)
                + render_presence(
                    entry.other_id,
                    entry.shows_presence,
                    entry.other_online,
                    entry.other_last_seen,
                    "head",
                )
            )
            if event.change is Change.ACCEPTED:
                frame += await _ticks_held_back(entry)
        pushes[user_id] = Push(frame)
    return pushes


async def _ticks_held_back(entry: Entry) -> str:
    """Receipts stay hidden while a conversation is a request; once it is accepted, the
    viewer's messages show what already happened (the newest ones, like any receipt)."""
    if not entry.is_accepted or not entry.peer_delivered:
        return ""
    ids = await own_messages_between(entry.id, entry.viewer_id, 0, entry.peer_delivered)
    return "".join(render_status(message_id, entry.status_of(message_id)) for message_id in ids)


async def _nothing(_event: Event, _user_ids: list[int]) -> dict[int, Push]:
    """Log-outs close sockets in the hub; nothing is rendered for them."""
    return {}


_RENDERERS: dict[Kind, Callable[[Event, list[int]], Awaitable[dict[int, Push]]]] = {
    Kind.MESSAGE: _message_pushes,
    Kind.CHANGE: change_pushes,
    Kind.CONVERSATION: _conversation_pushes,
    Kind.READ: _receipt_pushes,
    Kind.DELIVERED: _receipt_pushes,
    Kind.TYPING: _typing_pushes,
    Kind.PRESENCE: _presence_pushes,
    Kind.PROFILE: _profile_pushes,
    Kind.LOGOUT: _nothing,
}


def list_frame(viewer: Any, entries: list[Entry]) -> str:
    """The whole conversation list, for a tab that (re)connected."""
    return render_list(viewer, entries)


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
    return append_to(thread_id(conversation_id), "".join(articles)) + render_cursor(
        conversation_id, last
    )


def thread_frame(
    conversation: Conversation, messages: list[Message], has_older: bool, viewer: Any, entry: Entry
) -> str:
    """The conversation's newest page in place of the thread, for a tab that missed more
    than a catch-up sends."""
    page = render_page_of_messages(conversation, messages, has_older, viewer, entry)
    return fill(thread_id(conversation.id), page) + render_cursor(conversation.id, messages[-1].id)
