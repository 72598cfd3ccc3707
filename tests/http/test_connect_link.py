"""The connect link: a random token on /profile whose page offers a conversation with its
owner, through log-in or sign-up when logged out; a reset or unknown token is a 404."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from quart import Quart
from quart.testing import QuartClient

from chatin.models import Conversation, Membership, MemberState
from chatin.views.chat import CONTACT_ADDS
from tests.chatting import Person, person
from tests.conftest import parse, unique_email

LINK_PATH = "/link/"


async def link_of(someone: Person) -> str:
    """The path of someone's link, as their profile shows it."""
    page = await someone.page("/profile")
    field = page.select_one("input#connect-link")
    assert (
        field is not None and page.select_one("label[for=connect-link]").get_text() == "Your link"
    )
    url = str(field["value"])
    assert url.startswith("http://localhost/link/")
    return url.removeprefix("http://localhost")


def question(page: BeautifulSoup) -> str:
    return page.select_one("h1").get_text(" ", strip=True)


async def start_from_link(client: QuartClient, path: str) -> str:
    """Press "Start a conversation" on the link's page; where it leads."""
    response = await client.get(path)
    assert response.status_code == 200
    page = parse(await response.get_data(as_text=True))
    form = page.find("button", string="Start a conversation").find_parent("form")
    assert form["method"] == "post" and form["action"] == path
    token = form.select_one("input[name=csrf_token]")["value"]
    response = await client.post(path, form={"csrf_token": token})
    assert response.status_code == 303
    return response.headers["Location"]


async def test_profile_shows_a_random_link_its_qr_code_and_copy_and_reset(
    alice: Person,
) -> None:
    path = await link_of(alice)
    token = path.removeprefix(LINK_PATH)
    assert len(token) >= 22 and "alice" not in path.lower() and "@" not in path
    page = await alice.page("/profile")
    qr = page.select_one("img[alt='QR code of your link']")
    assert qr is not None and qr["src"].startswith("data:image/svg+xml")
    assert page.find("button", string="Copy link") is not None
    reset = page.find("button", string="Reset link").find_parent("form")
    assert reset["method"] == "post" and reset.select_one("input[name=csrf_token]")
    assert await link_of(alice) == path, "the link stays the same until it is reset"


async def test_links_differ_between_people(alice: Person, bob: Person) -> None:
    assert await link_of(alice) != await link_of(bob)


async def test_logged_out_round_trip_through_sign_up(app: Quart, alice: Person) -> None:
    path = await link_of(alice)
    visitor = app.test_client()
    response = await visitor.get(path)
    assert response.status_code == 302
    login = response.headers["Location"]
    assert login == f"/login?next={path}"
    login_page = parse(await (await visitor.get(login)).get_data(as_text=True))
    signup = login_page.find("a", string="Create an account")["href"]
    signup_page = parse(await (await visitor.get(signup)).get_data(as_text=True))
    assert signup_page.select_one("form[action='/signup'] input[name=next]")["value"] == path
    form = {
        "display_name": "Bob",
        "email": unique_email("bob"),
        "password": "correct horse",
        "next": path,
        "csrf_token": signup_page.select_one("input[name=csrf_token]")["value"],
    }
    response = await visitor.post("/signup", form=form)
    assert response.status_code == 303 and response.headers["Location"] == path
    page = parse(await (await visitor.get(path)).get_data(as_text=True))
    assert question(page) == "Start a conversation with Alice?"
    conversation = await start_from_link(visitor, path)
    assert conversation.startswith("/c/")
    # The same request as "Add contact": Alice sees it and may accept or block.
    entry = (await alice.page("/")).select_one(f"#conv-{conversation.removeprefix('/c/')}")
    assert entry is not None and "is-request" in entry["class"]
    assert "Bob" in entry.select_one(".conv-name").get_text()


async def test_logged_out_round_trip_through_log_in(app: Quart, alice: Person) -> None:
    path = await link_of(alice)
    bob = await person(app, "Bob")
    await bob.post("/logout")
    response = await bob.client.get(path)
    login = response.headers["Location"]
    page = parse(await (await bob.client.get(login)).get_data(as_text=True))
    assert page.select_one("form[action='/login'] input[name=next]")["value"] == path
    form = {"email": bob.email, "password": "correct horse", "next": path}
    form["csrf_token"] = page.select_one("input[name=csrf_token]")["value"]
    response = await bob.client.post("/login", form=form)
    assert response.status_code == 303 and response.headers["Location"] == path
    assert (await start_from_link(bob.client, path)).startswith("/c/")


async def test_existing_conversation_just_opens(alice: Person, bob: Person) -> None:
    response = await bob.add_contact(alice.email)
    existing = response.headers["Location"]
    assert await start_from_link(bob.client, await link_of(alice)) == existing
    assert await Conversation.all().count() == 1


async def test_own_link_says_so_and_starts_nothing(alice: Person) -> None:
    path = await link_of(alice)
    page = await alice.page(path)
    assert question(page) == "This is your own link"
    assert page.find("button", string="Start a conversation") is None
    response = await alice.client.post(path, form={"csrf_token": alice.csrf})
    assert response.status_code == 422
    assert await Conversation.all().count() == 0


async def test_reset_link_makes_the_old_one_404_at_once(
    app: Quart, alice: Person, bob: Person
) -> None:
    old = await link_of(alice)
    response = await alice.client.post("/profile/link", form={"csrf_token": alice.csrf})
    assert response.status_code == 303
    new = await link_of(alice)
    assert new != old
    assert (await bob.client.get(old)).status_code == 404
    assert (await app.test_client().get(old)).status_code == 404, "logged out too"
    assert (await bob.client.post(old, form={"csrf_token": bob.csrf})).status_code == 404
    assert await Conversation.all().count() == 0
    assert (await start_from_link(bob.client, new)).startswith("/c/")


@pytest.mark.parametrize(
    "path",
    ["/link/AAAAAAAAAAAAAAAAAAAAAA", "/link/short", "/link/" + "x" * 300, "/link/%00%01"],
)
async def test_unknown_token_is_404(app: Quart, bob: Person, path: str) -> None:
    response = await bob.client.get(path)
    assert response.status_code == 404
    assert question(parse(await response.get_data(as_text=True))) == "Nothing here"
    assert (await app.test_client().get(path)).status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "/\r\nLocation: https://evil.example",
        "http:/evil.example",
    ],
)
async def test_log_in_refuses_to_send_anyone_off_site(app: Quart, target: str) -> None:
    bob = await person(app, "Bob")
    await bob.post("/logout")
    page = parse(
        await (await bob.client.get("/login", query_string={"next": target})).get_data(as_text=True)
    )
    carried = page.select_one("input[name=next]")
    assert carried is None or carried["value"] in ("/",)
    form = {"email": bob.email, "password": "correct horse", "next": target}
    form["csrf_token"] = page.select_one("input[name=csrf_token]")["value"]
    response = await bob.client.post("/login", form=form)
    assert response.status_code == 303 and response.headers["Location"] == "/"


async def test_start_without_csrf_token_changes_nothing(alice: Person, bob: Person) -> None:
    path = await link_of(alice)
    response = await bob.client.post(path, form={})
    assert response.status_code in (400, 403)
    response = await alice.client.post("/profile/link", form={"csrf_token": "forged"})
    assert response.status_code in (400, 403)
    assert await Conversation.all().count() == 0
    assert await link_of(alice) == path


async def test_links_count_against_the_contact_adds_limit(alice: Person, bob: Person) -> None:
    for _ in range(CONTACT_ADDS.limit):
        await CONTACT_ADDS.attempt(f"user:{bob.id}")
    path = await link_of(alice)
    response = await bob.client.post(path, form={"csrf_token": bob.csrf})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert await Membership.filter(state=MemberState.REQUEST).count() == 0
