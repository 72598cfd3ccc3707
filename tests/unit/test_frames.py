"""Frames without a database: catch-up split into bounded frames, out-of-band wrappers and
their DOM ids, and partials rendered for one viewer (escaped, mine or theirs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from bs4 import BeautifulSoup, Tag

from chatin import create_app
from chatin.config import Settings
from chatin.fragments import (
    ViewerRef,
    append_to,
    chat_id,
    entry_id,
    list_top,
    removal,
    render_entry,
    render_message,
    render_status,
    render_typing,
    thread_id,
)
from chatin.live import frames
from chatin.models import Entry, MemberState

ALICE, BOB = 1, 2
CONVERSATION = 7
FRAME_LIMIT_CHARS = 4_000  # stands in for MAX_CATCH_UP_FRAME_CHARS: same split, less to parse
FRAME_OVERHEAD_CHARS = 200  # the OOB wrapper and the cursor around a frame's messages


@dataclass(frozen=True)
class StoredMessage:
    """What partials read of a `chatin.models.Message`, which needs Tortoise to exist."""

    id: int
    author_id: int
    body: str
    conversation_id: int = CONVERSATION
    client_id: UUID = field(default_factory=uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    author_name: str = "Alice"

    def reaction_by(self, _user_id: int) -> str | None:
        return None  # no reactions attached


def entry_of(
    viewer_id: int,
    *,
    peer_read: int = 0,
    peer_delivered: int = 0,
    other_state: MemberState = MemberState.ACTIVE,
) -> Entry:
    other_id = BOB if viewer_id == ALICE else ALICE
    return Entry(
        id=CONVERSATION,
        viewer_id=viewer_id,
        state=MemberState.ACTIVE,
        other_id=other_id,
        other_name="Bob" if other_id == BOB else "Alice",
        last_body=None,
        last_author_id=None,
        last_at=None,
        unread=0,
        last_read=0,
        other_state=other_state,
        peer_read=peer_read,
        peer_delivered=peer_delivered,
        other_online=False,
        other_last_seen=None,
        delivered=0,
        last_id=None,
    )


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def top_level(html: str) -> list[Tag]:
    return parse(html).find_all(recursive=False)


def one(html: str, selector: str) -> Tag:
    found = parse(html).select_one(selector)
    assert found is not None, f"no {selector} in {html[:200]}"
    return found


@pytest.fixture(autouse=True)
async def app_context(tmp_path: Path) -> AsyncIterator[None]:
    """Partials render through the app's Jinja environment; create_app opens no database."""
    app = create_app(Settings.for_tests("postgres://unused/db", tmp_path))
    async with app.app_context():
        yield


def test_catch_up_sends_every_missed_message_once_in_order_in_bounded_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(frames, "MAX_CATCH_UP_FRAME_CHARS", FRAME_LIMIT_CHARS)
    body = '<>&"' * 50  # characters that escaping lengthens: about 1 KB rendered
    missed = [StoredMessage(n, ALICE if n % 2 else BOB, body) for n in range(1, 31)]
    sent = list(frames.catch_up_frames(CONVERSATION, missed, ViewerRef(ALICE), None))
    assert len(sent) > 1
    shown: list[int] = []
    for frame in sent:
        assert len(frame) <= FRAME_LIMIT_CHARS + FRAME_OVERHEAD_CHARS
        wrapper, cursor = top_level(frame)
        assert wrapper["hx-swap-oob"] == f"beforeend:#{thread_id(CONVERSATION)}"
        ids = [int(str(article["data-id"])) for article in wrapper.select("article")]
        assert cursor["id"] == f"cursor-{CONVERSATION}"
        assert cursor["value"] == str(ids[-1])
        shown += ids
    assert shown == [message.id for message in missed]


def test_nothing_missed_sends_no_frame_so_the_cursor_stays() -> None:
    assert list(frames.catch_up_frames(CONVERSATION, [], ViewerRef(ALICE), None)) == []


def test_a_script_in_a_message_shows_as_text() -> None:
    body = '<script>alert("hi")</script><img src=x onerror="alert(1)">'
    html = render_message(StoredMessage(42, BOB, body), ViewerRef(ALICE), None)
    assert parse(html).select("script, img") == []
    assert one(html, "#message-42 p.body").get_text() == body


def test_my_message_is_marked_mine_with_ticks_and_theirs_without() -> None:
    message = StoredMessage(42, ALICE, "hello")
    mine = render_message(message, ViewerRef(ALICE), entry_of(ALICE, peer_read=42))
    theirs = render_message(message, ViewerRef(BOB), entry_of(BOB))
    assert "mine" in one(mine, "#message-42")["class"]
    assert one(mine, "#message-42 [role=img]")["aria-label"] == "Read"
    assert "theirs" in one(theirs, "#message-42")["class"]
    assert parse(theirs).select("#message-42 .status") == []


def test_my_message_in_a_request_shows_sent_whatever_the_other_received_or_read() -> None:
    message = StoredMessage(42, ALICE, "hello")
    for state in (MemberState.REQUEST, MemberState.BLOCKED):
        entry = entry_of(ALICE, peer_read=42, peer_delivered=42, other_state=state)
        mine = render_message(message, ViewerRef(ALICE), entry)
        assert one(mine, "#message-42 [role=img]")["aria-label"] == "Sent", state


def test_a_receipt_push_replaces_the_ticks_inside_my_message() -> None:
    sent = render_message(StoredMessage(42, ALICE, "hello"), ViewerRef(ALICE), None)
    ticks = one(sent, "#message-42 .status")
    assert ticks["aria-label"] == "Sent"
    [pushed] = top_level(render_status(42, "Delivered"))
    assert pushed["id"] == ticks["id"]
    assert pushed["aria-label"] == "Delivered"


def test_out_of_band_wrappers_target_the_thread_the_list_and_the_entry() -> None:
    [appended] = top_level(
        append_to(thread_id(CONVERSATION), "<article id='message-42'></article>")
    )
    assert appended["hx-swap-oob"] == "beforeend:#thread-7"
    assert appended.select_one("article#message-42") is not None
    [moved] = top_level(list_top(render_entry(entry_of(ALICE))))
    assert moved["hx-swap-oob"] == "afterbegin:#conversation-list"
    [entry] = moved.find_all(recursive=False)
    assert entry["id"] == entry_id(CONVERSATION)
    for element_id in (entry_id(CONVERSATION), chat_id(CONVERSATION)):
        [gone] = top_level(removal(element_id))
        assert (gone["id"], gone["hx-swap-oob"], gone.get_text()) == (element_id, "delete", "")


def test_no_typist_clears_the_typing_line_and_its_list_hint() -> None:
    typing = render_typing(CONVERSATION, ["Bob"])
    assert one(typing, "#typing-7[data-typing]").get_text() == "Bob is typing…"
    assert one(typing, "#typing-hint-7[data-typing]").get_text() == "typing…"
    cleared = render_typing(CONVERSATION, [])
    for selector in ("#typing-7", "#typing-hint-7"):
        element = one(cleared, selector)
        assert element.get_text() == ""
        assert not element.has_attr("data-typing")


def test_a_group_message_renders_once_per_kind_of_viewer_not_per_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """50 members: the author's own view, and one view for everyone else; list entries once
    per distinct look (here the author's and the others' unread 1)."""
    members = range(1, 51)
    message = StoredMessage(99, ALICE, "hello all")
    entries = {
        member: replace(
            entry_of(member),
            kind="group",
            other_id=0,
            other_name="Fifty",
            last_body="hello all",
            last_author_id=ALICE,
            unread=0 if member == ALICE else 1,
            peer_reads=tuple(0 for _ in range(49)),
            peer_deliveries=tuple(0 for _ in range(49)),
            last_read=member,  # differs per member, and no list shows it
        )
        for member in members
    }
    counted = {"message": 0, "entry": 0}

    def counting(name: str, render: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> str:
            counted[name] += 1
            return render(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(frames, "render_message", counting("message", frames.render_message))
    monkeypatch.setattr(frames, "render_entry", counting("entry", frames.render_entry))
    pushes = frames._message_frames(message, entries)  # type: ignore[arg-type]
    assert sorted(pushes) == list(members)
    assert counted == {"message": 2, "entry": 2}
    theirs = parse(pushes[BOB].frame)
    assert theirs.select_one("#message-99 .author") is not None
    assert parse(pushes[ALICE].frame).select_one("#status-99")["aria-label"] == "Sent"
