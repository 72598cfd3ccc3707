"""Group rules, enforced by the model verbs whatever route calls them: who may be put in a
group, who may change it, what a late member sees, and receipts that count everyone."""

from __future__ import annotations

import uuid

import pytest
from bs4 import BeautifulSoup
from quart import Quart

from chatin.events import Event, Kind
from chatin.live import frames
from chatin.models import (
    MAX_GROUP_MEMBERS,
    Conversation,
    InvalidInput,
    Membership,
    MemberState,
    Message,
    NotFound,
    NotOwner,
    User,
    add_people,
    changed_since,
    create_group,
    entries_for_members,
    entries_of_viewer,
    leave_group,
    make_owner,
    members_of,
    message_with_entries,
    messages_with_entries,
    post_files,
    record_deliveries,
    remove_member,
    rename_group,
    visible_file,
)
from chatin.models.profiles import picture_for, set_picture
from chatin.models.reactions import react
from tests.db.conftest import person
from tests.db.test_attachments import upload
from tests.db.test_conversations import announcements


async def befriend(one: User, other: User) -> Conversation:
    """An accepted direct conversation: the two are contacts."""
    direct = await Conversation.start_direct(one, other.email)
    await direct.accept(other)
    return direct


async def say(group: int, author: User, body: str) -> int:
    return (await Conversation.handle(group).post(author, body, uuid.uuid4(), False)).id


@pytest.fixture
async def group(alice: User, bob: User, carol: User) -> int:
    """Alice's group with her contacts Bob and Carol."""
    await befriend(alice, bob)
    await befriend(alice, carol)
    return (await create_group(alice, "Trip", [bob.id, carol.id])).id


async def state_of(group: int, user: User) -> str:
    return (await Membership.get(conversation_id=group, user_id=user.id)).state


async def bodies(group: int, viewer: User) -> list[str]:
    return [m.body for m in await Conversation.handle(group).messages_before(viewer, None)]


# --- creating -------------------------------------------------------------------------------


async def test_creator_owns_a_group_of_their_contacts_with_a_system_line(
    group: int, alice: User, bob: User, carol: User
) -> None:
    members = await members_of(bob, group)
    assert [(m.name, m.is_owner) for m in members] == [
        ("Alice", True),
        ("Bob", False),
        ("Carol", False),
    ]
    line = await Message.get(conversation_id=group)
    assert (line.body, line.system, line.author_id) == ("Alice created the group", True, alice.id)


@pytest.mark.parametrize("who", ["stranger", "requested", "blocker"])
async def test_only_accepted_contacts_can_be_put_in_a_group(
    who: str, alice: User, bob: User, carol: User
) -> None:
    """A stranger comes only through a request; someone who blocked you can't be added."""
    await befriend(alice, bob)
    if who == "requested":
        await Conversation.start_direct(alice, carol.email)  # Carol hasn't accepted
    if who == "blocker":
        direct = await befriend(alice, carol)
        await direct.block(carol)
    with pytest.raises(InvalidInput):
        await create_group(alice, "", [bob.id, carol.id])
    assert await Conversation.filter(kind="group").count() == 0
    assert await Message.filter(system=True).count() == 0


async def test_a_group_has_at_most_fifty_members(alice: User) -> None:
    friends = [await person(f"Friend{n}") for n in range(MAX_GROUP_MEMBERS)]
    for friend in friends:
        await befriend(alice, friend)
    with pytest.raises(InvalidInput):
        await create_group(alice, "Too many", [f.id for f in friends])
    assert await Conversation.filter(kind="group").count() == 0
    group = await create_group(alice, "Full", [f.id for f in friends[:-1]])
    assert len(await members_of(alice, group.id)) == MAX_GROUP_MEMBERS


async def test_a_new_group_is_announced_to_every_member(
    alice: User, bob: User, carol: User, database_url: str
) -> None:
    await befriend(alice, bob)
    await befriend(alice, carol)
    async with announcements(database_url) as heard:
        group = await create_group(alice, "", [bob.id, carol.id])
        news = await heard.next()
        assert (news["kind"], news["conversation"]) == ("message", group.id)
        assert sorted(news["to"]) == sorted([alice.id, bob.id, carol.id])
        await heard.assert_silent()


# --- permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["add", "remove", "rename", "make owner"])
async def test_only_owners_change_a_group(
    action: str, group: int, bob: User, carol: User, dave: User
) -> None:
    await befriend(bob, dave)
    before = await Message.filter(conversation_id=group).count()
    verbs = {
        "add": lambda: add_people(bob, group, [dave.id], False),
        "remove": lambda: remove_member(bob, group, carol.id),
        "rename": lambda: rename_group(bob, group, "Mine now"),
        "make owner": lambda: make_owner(bob, group, carol.id),
    }
    with pytest.raises(NotOwner):
        await verbs[action]()
    assert await Message.filter(conversation_id=group).count() == before
    assert [m.name for m in await members_of(bob, group)] == ["Alice", "Bob", "Carol"]


@pytest.mark.parametrize("gone", ["left", "removed", "stranger"])
async def test_leavers_and_strangers_see_nothing_of_the_group(
    gone: str, group: int, alice: User, bob: User, dave: User
) -> None:
    someone = dave if gone == "stranger" else bob
    if gone == "left":
        await leave_group(bob, group)
    if gone == "removed":
        await remove_member(alice, group, bob.id)
    with pytest.raises(NotFound):
        await Conversation.visible_to(someone, group)
    with pytest.raises(NotFound):
        await Conversation.handle(group).post(someone, "still here?", uuid.uuid4())
    with pytest.raises(NotFound):
        await members_of(someone, group)
    with pytest.raises(NotFound):
        await leave_group(someone, group)
    assert group not in [entry.id for entry in await entries_of_viewer(someone.id)]
    assert await bodies(group, someone) == []


async def test_adding_a_non_contact_is_refused(group: int, alice: User, dave: User) -> None:
    with pytest.raises(InvalidInput):
        await add_people(alice, group, [dave.id], True)
    assert len(await members_of(alice, group)) == 3


async def test_blocking_is_not_a_group_action(group: int, bob: User) -> None:
    with pytest.raises(NotFound):
        await (await Conversation.visible_to(bob, group)).block(bob)
    assert await state_of(group, bob) == MemberState.ACTIVE


# --- leaving and owners -----------------------------------------------------------------------


async def test_the_last_owner_who_leaves_hands_over_to_the_longest_standing_member(
    group: int, alice: User, bob: User, carol: User
) -> None:
    await leave_group(alice, group)
    members = await members_of(carol, group)
    assert [(m.name, m.is_owner) for m in members] == [("Bob", True), ("Carol", False)]
    assert (await bodies(group, bob))[-1] == "Alice left"


async def test_an_owner_makes_another_owner_who_can_then_remove(
    group: int, alice: User, bob: User, carol: User
) -> None:
    await make_owner(alice, group, bob.id)
    await remove_member(bob, group, carol.id)
    assert await state_of(group, carol) == MemberState.REMOVED
    assert (await bodies(group, alice))[-2:] == ["Alice made Bob an owner", "Bob removed Carol"]


async def test_rename_is_a_system_line_and_changes_the_list_name(
    group: int, alice: User, bob: User
) -> None:
    await rename_group(alice, group, "  Summer   trip ")
    entry = (await entries_for_members(group, [bob.id]))[bob.id]
    assert entry.other_name == "Summer trip"
    assert (await bodies(group, bob))[-1] == "Alice renamed the group to “Summer trip”"
    await rename_group(alice, group, "")
    entry = (await entries_for_members(group, [bob.id]))[bob.id]
    assert entry.other_name == "Alice, Carol"


# --- posting --------------------------------------------------------------------------------


async def test_a_message_goes_to_current_members_only(
    group: int, alice: User, bob: User, carol: User, database_url: str
) -> None:
    await leave_group(carol, group)
    async with announcements(database_url) as heard:
        message = await say(group, bob, "without Carol")
        news = await heard.next()
        assert (news["kind"], news["message"]) == ("message", message)
        assert sorted(news["to"]) == sorted([alice.id, bob.id])


async def test_a_removal_waits_for_a_send_in_progress_and_then_refuses_it(
    group: int, alice: User, bob: User
) -> None:
    """Both take the conversation's lock: a send is stored before the removal or not at all."""
    await remove_member(alice, group, bob.id)
    with pytest.raises(NotFound):
        await say(group, bob, "too late")
    assert "too late" not in await bodies(group, alice)


# --- history --------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [False, True])
async def test_an_added_member_sees_history_from_when_added_unless_shared(
    share: bool, group: int, alice: User, bob: User, dave: User
) -> None:
    await befriend(alice, dave)
    await say(group, bob, "before Dave")
    await add_people(alice, group, [dave.id], share_history=share)
    await say(group, bob, "after Dave")
    seen = await bodies(group, dave)
    assert ("before Dave" in seen) is share
    assert seen[-2:] == ["Alice added Dave", "after Dave"]
    entry = (await entries_for_members(group, [dave.id]))[dave.id]
    assert entry.unread == 1  # "after Dave"; system lines and earlier history are not unread


# --- receipts -------------------------------------------------------------------------------


async def test_receipts_count_every_other_current_member(
    group: int, alice: User, bob: User, carol: User
) -> None:
    message = await say(group, alice, "hello all")

    async def status() -> tuple[str, str | None]:
        entry = (await entries_for_members(group, [alice.id]))[alice.id]
        return entry.status_of(message), entry.read_detail(message)

    assert await status() == ("Sent", "Read by 0 of 2")
    await record_deliveries([(group, bob.id, message)])
    assert await status() == ("Sent", "Read by 0 of 2")
    await record_deliveries([(group, carol.id, message)])
    assert await status() == ("Delivered", "Read by 0 of 2")
    await Conversation.handle(group).mark_read(bob, message)
    assert await status() == ("Delivered", "Read by 1 of 2")
    await leave_group(carol, group)  # only current members count
    assert (await status())[0] == "Read"


# --- presence -------------------------------------------------------------------------------


async def test_sharing_a_group_reveals_no_presence(
    alice: User, bob: User, carol: User, database_url: str
) -> None:
    """Bob and Carol are not contacts; they only share Alice's group."""
    from chatin.models import Presence

    await befriend(alice, bob)
    await befriend(alice, carol)
    group = await create_group(alice, "", [bob.id, carol.id])
    entry = (await entries_for_members(group.id, [bob.id]))[bob.id]
    assert not entry.shows_presence
    async with announcements(database_url) as heard:
        await Presence.arrive("worker", carol.id)
        news = await heard.next()
        assert news["kind"] == "presence"
        assert news["to"] == [alice.id]


# --- "visible from": one condition, every reader ----------------------------------------------


async def _page(group: int, dave: User, ids: list[int]) -> set[int]:
    return {m.id for m in await Conversation.handle(group).messages_before(dave, None)}


async def _older_page(group: int, dave: User, ids: list[int]) -> set[int]:
    return {m.id for m in await Conversation.handle(group).messages_before(dave, ids[-1] + 1)}


async def _catch_up(group: int, dave: User, ids: list[int]) -> set[int]:
    return {m.id for m in await Conversation.handle(group).messages_after(dave, 0, 100)}


async def _changes_catch_up(group: int, dave: User, ids: list[int]) -> set[int]:
    changed, _ = await changed_since(group, dave.id, 0, ids[-1], 100)
    return {m.id for m in changed}


async def _fan_out(group: int, dave: User, ids: list[int]) -> set[int]:
    """New and changed messages' pushes (and so browser notifications) load through it."""
    found = set()
    for message in ids:
        loaded, entries = await message_with_entries(group, message, [dave.id])
        if loaded is not None and dave.id in entries:
            found.add(message)
    return found


async def _batched_fan_out(group: int, dave: User, ids: list[int]) -> set[int]:
    found = await messages_with_entries([(group, message) for message in ids], [dave.id])
    return {message for (_, message), (_, entries) in found.items() if dave.id in entries}


async def _unread(group: int, dave: User, ids: list[int]) -> set[int]:
    """Dave's cursor is wound back to 0: only the condition keeps the early one out."""
    await Membership.filter(conversation_id=group, user_id=dave.id).update(last_read_message_id=0)
    entry = (await entries_for_members(group, [dave.id]))[dave.id]
    return set(ids[-entry.unread :]) if entry.unread else set()


READERS = {
    "page": _page,
    "older page": _older_page,
    "catch-up": _catch_up,
    "changes catch-up": _changes_catch_up,
    "fan-out and notifications": _fan_out,
    "batched fan-out": _batched_fan_out,
    "unread count": _unread,
}


@pytest.mark.parametrize("reader", list(READERS))
async def test_every_reader_respects_visible_from(
    reader: str, group: int, alice: User, bob: User, dave: User
) -> None:
    await befriend(alice, dave)
    early = await say(group, bob, "before Dave")
    await add_people(alice, group, [dave.id], share_history=False)
    late = await say(group, bob, "after Dave")
    for message in (early, late):  # so the change catch-up has both to offer
        await Message.edit(bob, group, message, "edited")
    seen = await READERS[reader](group, dave, [early, late])
    assert early not in seen
    assert late in seen


async def test_the_list_preview_respects_visible_from(group: int, alice: User, dave: User) -> None:
    await befriend(alice, dave)
    await add_people(alice, group, [dave.id], share_history=False)
    newest = (await Conversation.get(id=group)).last_message_id
    await Membership.filter(conversation_id=group, user_id=dave.id).update(visible_from=newest)
    entry = (await entries_for_members(group, [dave.id]))[dave.id]
    assert entry.last_body is None


async def test_a_batch_of_group_deliveries_ticks_as_every_member_has_it(
    app: Quart, group: int, alice: User, bob: User, carol: User
) -> None:
    """The hub renders queued deliveries together: in a group, Delivered still waits for
    every other member, and the detail counts them."""
    message = await say(group, alice, "batched")

    async def tick_after(member: User) -> BeautifulSoup:
        await record_deliveries([(group, member.id, message)])
        event = Event(
            Kind.DELIVERED, (alice.id,), conversation=group, member=member.id, upto=message, group=1
        )
        async with app.app_context():
            pushes = await frames.render_batch([(event, [alice.id]), (event, [alice.id])])
        return BeautifulSoup(pushes[-1][alice.id].frame, "html.parser")

    tick = (await tick_after(bob)).select_one(f"#status-{message}")
    assert (tick["aria-label"], tick["data-detail"]) == ("Sent", "Read by 0 of 2")
    tick = (await tick_after(carol)).select_one(f"#status-{message}")
    assert tick["aria-label"] == "Delivered"


async def test_file_downloads_respect_visible_from_and_leaving(
    group: int, alice: User, bob: User, dave: User
) -> None:
    await befriend(alice, dave)

    async def file_from_bob() -> str:
        chat = Conversation.handle(group)
        [message] = await post_files(chat, bob, "", uuid.uuid4(), [upload(b"data")], 10**9)
        return message.file.token

    early = await file_from_bob()
    await add_people(alice, group, [dave.id], share_history=False)
    late = await file_from_bob()
    assert await visible_file(dave.id, early) is None
    assert await visible_file(dave.id, late) is not None
    await leave_group(dave, group)
    assert await visible_file(dave.id, late) is None


async def test_a_leaver_no_longer_sees_or_hears_of_a_members_picture(
    group: int, bob: User, carol: User, database_url: str
) -> None:
    """Bob and Carol only share the group: while both are in it, Carol's picture shows to
    Bob; once he left, neither the picture nor news of a new one reach him."""
    await set_picture(carol.id, b"large", b"small")
    assert await picture_for(carol.id, bob.id, "small") is not None
    await leave_group(bob, group)
    assert await picture_for(carol.id, bob.id, "small") is None
    async with announcements(database_url) as heard:
        await carol.rename("Caroline")
        news = await heard.next()
        assert news["kind"] == "profile" and bob.id not in news["to"]


async def test_history_before_joining_cant_be_quoted_or_reacted_to(
    group: int, alice: User, bob: User, dave: User
) -> None:
    """A reply or a reaction naming a message from before Dave joined reveals nothing: the
    reply quotes nothing, the reaction is refused like a missing message."""
    await befriend(alice, dave)
    early = await say(group, bob, "before Dave")
    await add_people(alice, group, [dave.id], share_history=False)
    chat = Conversation.handle(group)
    reply = await chat.post(dave, "what was that?", uuid.uuid4(), False, reply_to=early)
    assert reply.reply_to_id is None
    with pytest.raises(NotFound):
        await react(dave, group, early, "👍")
    with pytest.raises(NotFound):  # the reply bar's and the reaction page's lookup
        await Message.shown_to(dave, group, early)
