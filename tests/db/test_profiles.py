"""Profiles in the model: connect-link tokens, starting a conversation by link, and who may
see a picture (and hears that it changed)."""

from __future__ import annotations

import asyncio

from chatin.events import Kind
from chatin.models import Conversation, Membership, MemberState, User
from chatin.models.profiles import (
    link_owner,
    link_token,
    picture_for,
    picture_version,
    remove_picture,
    reset_link,
    set_picture,
)
from tests.db.test_conversations import announcements

LARGE, SMALL = b"large webp", b"small webp"


async def test_a_token_is_made_once_even_when_asked_at_once(alice: User) -> None:
    tokens = await asyncio.gather(*(link_token(alice.id) for _ in range(5)))
    assert len(set(tokens)) == 1
    owner = await link_owner(tokens[0])
    assert owner is not None and (owner.id, owner.display_name) == (alice.id, "Alice")


async def test_reset_voids_the_old_token(alice: User) -> None:
    old = await link_token(alice.id)
    new = await reset_link(alice.id)
    assert new != old
    assert await link_owner(old) is None
    assert (await link_owner(new)).id == alice.id
    assert await link_token(alice.id) == new


async def test_malformed_tokens_name_no_one(alice: User) -> None:
    token = await link_token(alice.id)
    for guess in ("", token[:-1], token + "A", "../" + token[3:], "alice@example.com"):
        assert await link_owner(guess) is None


async def test_starting_by_link_is_the_same_request_as_by_email(alice: User, bob: User) -> None:
    by_link = await Conversation.start_direct_with(bob, alice.id)
    state = await Membership.get(conversation_id=by_link.id, user_id=alice.id)
    assert state.state == MemberState.REQUEST
    by_email = await Conversation.start_direct(bob, "alice@example.com")
    assert by_email.id == by_link.id


async def test_only_the_owner_and_people_sharing_a_conversation_see_a_picture(
    alice: User, bob: User, carol: User
) -> None:
    await set_picture(alice.id, LARGE, SMALL)
    conversation = await Conversation.start_direct(bob, "alice@example.com")
    assert (await picture_for(alice.id, alice.id, "large")).image == LARGE
    assert (await picture_for(alice.id, bob.id, "small")).image == SMALL
    assert await picture_for(alice.id, carol.id, "small") is None
    await conversation.block(alice)
    assert await picture_for(alice.id, bob.id, "small") is None, "after a block, nothing"


async def test_a_new_picture_is_announced_to_the_owner_and_contacts(
    alice: User, bob: User, carol: User, database_url: str
) -> None:
    await Conversation.start_direct(bob, "alice@example.com")
    async with announcements(database_url) as heard:
        first = await set_picture(alice.id, LARGE, SMALL)
        event = await heard.next()
        assert (event["kind"], event["user"]) == (Kind.PROFILE, alice.id)
        assert sorted(event["to"]) == sorted([alice.id, bob.id]), "Carol shares nothing"
        second = await set_picture(alice.id, LARGE, SMALL)
        assert second != first and await picture_version(alice.id) == second
        assert (await heard.next())["kind"] == Kind.PROFILE
        await remove_picture(alice.id)
        assert (await heard.next())["kind"] == Kind.PROFILE
        await remove_picture(alice.id)
        await heard.assert_silent()  # removing nothing changes nothing
    assert await picture_version(alice.id) is None
