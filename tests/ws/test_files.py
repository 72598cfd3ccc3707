"""A file message travels like any message: pushed once to each tab with its figure, and
replayed once on catch-up; the other person's tab then loads the preview over HTTP."""

from __future__ import annotations

from tests.chatting import Person, articles, frame_with, hello_of, open_tab, start_chat
from tests.conftest import parse
from tests.files import picture, send_files


async def test_the_other_person_gets_the_picture_live_and_can_load_it(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    async with bob.socket() as bob_tab:
        await open_tab(bob, bob_tab, path)
        response = await send_files(alice, conversation, [("sea.png", picture())], "look")
        assert response.status_code == 201
        pushed = await frame_with(bob_tab, "article figure img")
        image = pushed.select_one("article figure img")
        assert image["alt"] == "sea.png"
        loaded = await bob.client.get(str(image["src"]))
        assert loaded.status_code == 200 and loaded.headers["Content-Type"] == "image/webp"
        entry = pushed.select_one(f"#conv-{conversation} [data-preview]")
        assert entry is None or entry.get_text(strip=True) == "look"


async def test_a_reconnecting_tab_gets_a_missed_file_once(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)
    response = await send_files(alice, conversation, [("a.png", picture((50, 50)))])
    sent = articles(parse(await response.get_data(as_text=True)))
    async with bob.socket() as bob_tab:
        await bob_tab.send(hello_of(page, url=path))
        caught_up = await frame_with(bob_tab, "article figure")
        assert articles(caught_up) == sent
