"""Ids too large for the database's columns are missing ids: 404, never a 500.

Conversation ids are PostgreSQL `int` (up to 2**31 - 1), message ids `bigint` (2**63 - 1).
"""

from __future__ import annotations

import uuid

import pytest

from tests.chatting import Person, start_chat

LARGEST_INT = 2**31 - 1  # the largest id the column holds: missing, as any other
TOO_LARGE_FOR_INT = 2**31
TOO_LARGE_FOR_BIGINT = 2**63


def _conversation_routes(conversation: int) -> list[tuple[str, str]]:
    """Every route that takes a conversation id in its path."""
    return [
        ("GET", f"/c/{conversation}"),
        ("GET", f"/c/{conversation}/messages"),
        ("POST", f"/c/{conversation}/messages"),
        ("POST", f"/c/{conversation}/read"),
        ("POST", f"/c/{conversation}/typing"),
        ("POST", f"/c/{conversation}/accept"),
        ("POST", f"/c/{conversation}/block"),
    ]


async def _request(who: Person, method: str, path: str, htmx: bool) -> int:
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        return (await who.client.get(path, headers=headers)).status_code
    form = {"csrf_token": who.csrf, "body": "hello", "client_id": str(uuid.uuid4()), "upto": "1"}
    return (await who.client.post(path, form=form, headers=headers)).status_code


@pytest.mark.parametrize("conversation", [LARGEST_INT, TOO_LARGE_FOR_INT, TOO_LARGE_FOR_BIGINT])
@pytest.mark.parametrize("htmx", [False, True])
async def test_conversation_id_too_large_for_the_database_is_404_like_a_missing_one(
    alice: Person, conversation: int, htmx: bool, subtests: pytest.Subtests
) -> None:
    for method, path in _conversation_routes(conversation):
        with subtests.test(method=method, path=path):
            assert await _request(alice, method, path, htmx) == 404


@pytest.mark.parametrize("too_large", [TOO_LARGE_FOR_BIGINT, 10**30])
async def test_message_id_too_large_for_the_database_is_404(
    alice: Person, bob: Person, too_large: int
) -> None:
    conversation = await start_chat(alice, bob)
    await alice.say(conversation, "hello")
    older = await alice.client.get(f"/c/{conversation}/messages?before={too_large}")
    assert older.status_code == 404
    page = await alice.client.get(f"/c/{conversation}?before={too_large}")
    assert page.status_code == 404
    form = {"csrf_token": bob.csrf, "upto": str(too_large)}
    read = await bob.client.post(f"/c/{conversation}/read", form=form)
    assert read.status_code == 404


async def test_largest_message_id_the_database_holds_is_looked_up_as_usual(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    largest_message = 2**63 - 1
    older = await alice.client.get(f"/c/{conversation}/messages?before={largest_message}")
    assert older.status_code == 200
    form = {"csrf_token": bob.csrf, "upto": str(largest_message)}
    assert (await bob.client.post(f"/c/{conversation}/read", form=form)).status_code == 204
