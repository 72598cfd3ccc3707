"""Groups over HTTP: the pages and forms (JavaScript off), and who may do what: owners,
members, people who left or were removed, and strangers."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from quart import Quart
from quart.wrappers import Response

from tests.chatting import Person, conversation_of, message_id, person, start_chat
from tests.conftest import parse


async def post_form(who: Person, path: str, pairs: list[tuple[str, str]] = ()) -> Response:
    """A plain form post (several values per name allowed, as checkboxes send them)."""
    body = urlencode([("csrf_token", who.csrf), *pairs])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return await who.client.post(path, data=body.encode(), headers=headers)


async def create_group(owner: Person, name: str, members: list[Person]) -> Response:
    return await post_form(
        owner, "/groups", [("name", name), *(("members", str(m.id)) for m in members)]
    )


async def group_of(owner: Person, name: str, members: list[Person]) -> int:
    return conversation_of(await create_group(owner, name, members))


# --- creating ---------------------------------------------------------------------------------


async def test_new_group_form_lists_accepted_contacts_only(
    alice: Person, bob: Person, carol: Person
) -> None:
    await start_chat(alice, bob)
    await start_chat(alice, carol, accept=False)
    page = await alice.page("/")
    link = page.select_one("a[href='/groups/new']")
    assert link is not None and link.get_text(strip=True) == "New group"
    form = (await alice.page("/groups/new")).select_one("form[action='/groups'][method=post]")
    assert form is not None
    assert form.select_one("label[for=group-name]").get_text() == "Group name"
    assert form.select_one("input[name=csrf_token]") is not None
    choices = [label.get_text(strip=True) for label in form.select("label.choice")]
    assert choices == ["Bob"]
    assert form.select_one("button[type=submit]").get_text() == "Create group"


async def test_creating_a_group_leads_to_it_and_shows_it_in_everyones_list(
    alice: Person, bob: Person, carol: Person
) -> None:
    await start_chat(alice, bob)
    await start_chat(alice, carol)
    group = await group_of(alice, "Trip", [bob, carol])
    for who in (alice, bob, carol):
        page = await who.page(f"/c/{group}")
        assert page.select_one("#chat-title").get_text(strip=True) == "Trip"
        head = page.select_one(f"#group-head-{group}")
        assert "3 members" in head.get_text()
        assert head.select_one(f"a[href='/c/{group}/info']").get_text() == "Group info"
        links = page.select(f"nav[aria-label=Conversations] a[href='/c/{group}']")
        assert len(links) == 1, "a group shows once in the list"
        assert "Alice created the group" in links[0].get_text()
    assert page.select_one(f"#presence-head-{alice.id}") is None


@pytest.mark.parametrize("who", ["stranger", "requested"])
async def test_a_group_with_a_non_contact_is_refused_and_nothing_stored(
    who: str, alice: Person, bob: Person, carol: Person
) -> None:
    await start_chat(alice, bob)
    if who == "requested":
        await start_chat(alice, carol, accept=False)
    response = await create_group(alice, "Nope", [bob, carol])
    assert response.status_code == 422
    page = parse(await response.get_data(as_text=True))
    assert page.select_one("#members-error") is not None
    assert page.select_one("#group-name")["value"] == "Nope"
    listed = (await bob.page("/")).select("nav[aria-label=Conversations] a")
    assert [a["href"] for a in listed] == [a["href"] for a in listed if "Nope" not in a.get_text()]


async def test_other_peoples_messages_in_a_group_show_their_name(
    alice: Person, bob: Person, carol: Person
) -> None:
    await start_chat(alice, bob)
    await start_chat(alice, carol)
    group = await group_of(alice, "", [bob, carol])
    from_bob = await bob.say(group, "hi from Bob")
    page = await carol.page(f"/c/{group}")
    article = page.select_one(f"#message-{from_bob}")
    assert article.select_one(".author").get_text() == "Bob"
    assert article.select_one(".body").get_text() == "hi from Bob"
    own = (await bob.page(f"/c/{group}")).select_one(f"#message-{from_bob}")
    assert own.select_one(".author") is None
    line = page.select_one("article.system-line")
    assert line.get_text(strip=True) == "Alice created the group"


# --- the permission table -------------------------------------------------------------------


@dataclass
class Cast:
    """Alice's group: Bob and Frank are members, Carol left, Dave was removed, Erin is a
    stranger; Gina is Alice's contact outside it."""

    group: int
    message: int
    people: dict[str, Person]
    frank: Person
    gina: Person


@pytest.fixture
async def cast(app: Quart, alice: Person, bob: Person, carol: Person) -> Cast:
    dave, erin, frank, gina = [
        await person(app, name) for name in ("Dave", "Erin", "Frank", "Gina")
    ]
    for friend in (bob, carol, dave, frank, gina):
        await start_chat(alice, friend)
    group = await group_of(alice, "Cast", [bob, carol, dave, frank])
    assert (await post_form(carol, f"/c/{group}/leave")).status_code == 303
    assert (await post_form(alice, f"/c/{group}/members/{dave.id}/remove")).status_code == 303
    message = await alice.say(group, "hello cast")
    roles = {"owner": alice, "member": bob, "left": carol, "removed": dave, "stranger": erin}
    return Cast(group, message, roles, frank, gina)


ACTIONS = [
    "page",
    "info",
    "older",
    "send",
    "read",
    "typing",
    "add",
    "remove",
    "rename",
    "make owner",
    "leave",
    "block",
]
EXPECTED = {
    "owner": [200, 200, 200, 201, 204, 204, 303, 303, 303, 303, 303, 404],
    "member": [200, 200, 200, 201, 204, 204, 403, 403, 403, 403, 303, 404],
    "left": [404] * len(ACTIONS),
    "removed": [404] * len(ACTIONS),
    "stranger": [404] * len(ACTIONS),
}


async def act(cast: Cast, who: Person, action: str) -> Response:
    base = f"/c/{cast.group}"
    frank = cast.frank.id
    if action == "page":
        return await who.client.get(base)
    if action == "info":
        return await who.client.get(f"{base}/info")
    if action == "older":
        return await who.client.get(f"{base}/messages?before={cast.message}")
    if action == "send":
        return await who.send(cast.group, "me too")
    paths = {
        "read": (f"{base}/read", [("upto", str(cast.message))]),
        "typing": (f"{base}/typing", []),
        "add": (f"{base}/members", [("members", str(cast.gina.id))]),
        "remove": (f"{base}/members/{frank}/remove", []),
        "rename": (f"{base}/name", [("name", "Renamed")]),
        "make owner": (f"{base}/members/{frank}/owner", []),
        "leave": (f"{base}/leave", []),
        "block": (f"{base}/block", []),
    }
    path, pairs = paths[action]
    return await post_form(who, path, pairs)


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("action", ACTIONS)
async def test_permission_table(cast: Cast, role: str, action: str) -> None:
    who = cast.people[role]
    members_before = await members_listed(cast)
    response = await act(cast, who, action)
    expected = EXPECTED[role][ACTIONS.index(action)]
    assert response.status_code == expected, await response.get_data(as_text=True)
    if expected in (403, 404) and action not in ("page", "info", "older"):
        assert await members_listed(cast) == members_before, "a refused change changed members"


async def members_listed(cast: Cast) -> list[str]:
    page = await cast.people["owner"].page(f"/c/{cast.group}/info")
    heading = page.select_one(".group-page .presence-text").get_text()
    return [*(name.get_text() for name in page.select(".member-name")), heading]


# --- the info page ----------------------------------------------------------------------------


async def test_info_page_shows_members_roles_and_owner_forms(cast: Cast) -> None:
    owner, member = cast.people["owner"], cast.people["member"]
    page = await owner.page(f"/c/{cast.group}/info")
    rows = page.select("li.member")
    assert [row.select_one(".member-name").get_text() for row in rows] == [
        "Alice (you)",
        "Bob",
        "Frank",
    ]
    bob_row = rows[1]
    assert bob_row.select_one("button[aria-label='Remove Bob']").get_text() == "Remove"
    assert page.select_one("form[action$='/members'] button").get_text() == "Add people"
    addable = [c.get_text(strip=True) for c in page.select("form[action$='/members'] label")]
    assert addable == ["Carol", "Dave", "Gina", "Share earlier messages"]  # left, removed: back
    assert page.select_one("form[action$='/name'] label").get_text() == "Group name"
    assert page.select_one("form[action$='/leave'] button").get_text() == "Leave group"
    theirs = await member.page(f"/c/{cast.group}/info")
    assert theirs.select("li.member button") == []
    assert theirs.select_one("form[action$='/members']") is None
    assert theirs.select_one("form[action$='/leave'] button").get_text() == "Leave group"


async def test_remove_and_leave_ask_first(cast: Cast) -> None:
    owner, member = cast.people["owner"], cast.people["member"]
    ask = await owner.page(f"/c/{cast.group}/members/{member.id}/remove")
    form = ask.select_one(f"form[method=post][action='/c/{cast.group}/members/{member.id}/remove']")
    assert form.select_one("button").get_text() == "Remove"
    assert "Bob" in ask.select_one("h1").get_text()
    assert (await member.client.get(f"/c/{cast.group}")).status_code == 200  # asking did nothing
    ask = await member.page(f"/c/{cast.group}/leave")
    assert (
        ask.select_one(f"form[action='/c/{cast.group}/leave'] button").get_text() == "Leave group"
    )


async def test_added_member_sees_from_when_added_unless_history_shared(cast: Cast) -> None:
    owner = cast.people["owner"]
    response = await post_form(owner, f"/c/{cast.group}/members", [("members", str(cast.gina.id))])
    assert response.status_code == 303
    page = await cast.gina.page(f"/c/{cast.group}")
    bodies = [a.select_one(".body").get_text() for a in page.select("[role=log] article")]
    assert bodies == ["Alice added Gina"]
    assert page.select_one(f"#message-{cast.message}") is None


async def test_a_late_member_cant_open_a_reply_to_earlier_history(cast: Cast) -> None:
    owner = cast.people["owner"]
    await post_form(owner, f"/c/{cast.group}/members", [("members", str(cast.gina.id))])
    page = await cast.gina.page(f"/c/{cast.group}?reply={cast.message}")
    assert "hello cast" not in page.get_text()
    bar = await cast.gina.client.get(f"/c/{cast.group}/m/{cast.message}/reply")
    assert bar.status_code == 404


async def test_shared_history_shows_everything_to_the_added(cast: Cast) -> None:
    owner = cast.people["owner"]
    pairs = [("members", str(cast.gina.id)), ("share_history", "1")]
    assert (await post_form(owner, f"/c/{cast.group}/members", pairs)).status_code == 303
    page = await cast.gina.page(f"/c/{cast.group}")
    assert page.select_one(f"#message-{cast.message}") is not None
    entry = page.select_one(f"#conv-{cast.group}")
    assert entry.select_one(".unread") is None, "shared history arrives read"


async def test_receipt_detail_counts_readers(cast: Cast) -> None:
    owner, member = cast.people["owner"], cast.people["member"]
    await post_form(member, f"/c/{cast.group}/read", [("upto", str(cast.message))])
    page = await owner.page(f"/c/{cast.group}")
    status = page.select_one(f"#status-{cast.message}")
    assert status["aria-label"] == "Sent"  # Frank has it on no tab yet
    assert status["data-detail"] == "Read by 1 of 2"
    assert status["tabindex"] == "0"
    article = page.select_one(f"#message-{cast.message}")
    assert message_id(article) == cast.message
