"""Profile pictures: uploaded on /profile, checked by their bytes, shown wherever the initial
was, live for contacts, and served only to people who share a conversation with the owner."""

from __future__ import annotations

import io

from PIL import Image
from quart import Quart
from quart.datastructures import FileStorage
from quart.testing import QuartClient
from quart.wrappers import Response

from chatin.models import ProfilePicture
from chatin.views.profiles import MAX_PICTURE_BYTES
from tests.chatting import Person
from tests.conftest import csrf_token, parse
from tests.ws.test_status import ORIGIN, frame_where, hello, start_chat

PICTURE_HEADERS = {
    "Content-Type": "image/webp",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def png(width: int = 300, height: int = 200, colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


async def upload(client: QuartClient, data: bytes, name: str = "me.png") -> Response:
    """The profile's picture form, as a browser sends it."""
    file = FileStorage(io.BytesIO(data), filename=name, content_type="image/png")
    form = {"csrf_token": await csrf_token(client, "/profile")}
    return await client.post("/profile/picture", form=form, files={"picture": file})


async def picture_url(client: QuartClient, page: str, selector: str) -> str:
    html = parse(await (await client.get(page)).get_data(as_text=True))
    image = html.select_one(selector)
    assert image is not None and image.name == "img", f"no picture at {selector} on {page}"
    return str(image["src"])


async def test_upload_makes_square_webp_served_privately_and_cached(alice: Person) -> None:
    response = await upload(alice.client, png(300, 200))
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile?saved=picture"
    large = await picture_url(alice.client, "/profile", "img[alt='Your profile picture']")
    assert large.endswith("/large.webp")
    served = await alice.client.get(large)
    assert served.status_code == 200
    for name, value in PICTURE_HEADERS.items():
        assert served.headers[name] == value
    cache = served.headers["Cache-Control"]
    assert cache.startswith("private,") and "immutable" in cache and "no-store" not in cache
    image = Image.open(io.BytesIO(await served.get_data()))
    assert (image.format, image.size) == ("WEBP", (256, 256))
    small = await alice.client.get(large.replace("/large.webp", "/small.webp"))
    assert Image.open(io.BytesIO(await small.get_data())).size == (64, 64)
    etag = served.headers["ETag"]
    again = await alice.client.get(large, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag


async def test_picture_shows_where_the_initial_was(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    assert (await upload(alice, png())).status_code == 303
    in_list = await picture_url(bob, "/", f"#conv-{conversation} .avatar")
    in_header = await picture_url(bob, f"/c/{conversation}", f"#chat-avatar-{conversation}")
    assert in_list == in_header and in_list.endswith("/small.webp")
    assert (await bob.get(in_list)).status_code == 200
    assert (await picture_url(alice, "/", "#me-avatar")) == in_list
    # Bob has none: his initial stays.
    initial = parse(await (await alice.get("/")).get_data(as_text=True)).select_one(
        f"#conv-{conversation} .avatar"
    )
    assert initial.name == "span" and initial.get_text() == "B"


async def test_strangers_and_blockers_get_404(app: Quart, carol: Person) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    await upload(alice, png())
    url = await picture_url(bob, "/", f"#conv-{conversation} .avatar")
    assert (await carol.client.get(url)).status_code == 404
    assert (await app.test_client().get(url)).status_code == 404, "logged out"
    token = await csrf_token(bob, "/")
    await bob.post(f"/c/{conversation}/block", form={"csrf_token": token})
    assert (await bob.get(url)).status_code == 404
    assert (await alice.get(url)).status_code == 200, "the owner always sees it"


async def test_html_named_png_is_refused_with_a_clear_error_and_nothing_stored(
    alice: Person,
) -> None:
    html = b"<!doctype html><html><script>alert(1)</script></html>"
    response = await upload(alice.client, html, "cat.png")
    assert response.status_code == 400
    page = parse(await response.get_data(as_text=True))
    error = page.select_one("#picture-error")
    assert error is not None and "isn't a picture" in error.get_text()
    assert page.select_one("#picture")["aria-describedby"] == "picture-error"
    assert await ProfilePicture.all().count() == 0


async def test_empty_and_broken_pictures_are_refused(alice: Person) -> None:
    assert (await upload(alice.client, b"")).status_code == 400
    truncated = png()[:60]  # a PNG's signature and header, then nothing
    response = await upload(alice.client, truncated)
    assert response.status_code == 400
    assert (
        "can't be read"
        in parse(await response.get_data(as_text=True)).select_one("#picture-error").get_text()
    )
    assert await ProfilePicture.all().count() == 0


async def test_over_the_limit_is_refused_before_reading(alice: Person) -> None:
    too_big = png()[:100] + bytes(MAX_PICTURE_BYTES + 128 * 1024)
    response = await upload(alice.client, too_big)
    assert response.status_code == 413
    assert "at most 10 MB" in parse(await response.get_data(as_text=True)).get_text()
    assert await ProfilePicture.all().count() == 0
    # Every other route keeps its small limit.
    form = {"display_name": "x" * (100 * 1024), "csrf_token": alice.csrf}
    assert (await alice.client.post("/profile/name", form=form)).status_code == 413


async def test_upload_without_csrf_token_stores_nothing(alice: Person) -> None:
    file = FileStorage(io.BytesIO(png()), filename="me.png")
    response = await alice.client.post("/profile/picture", files={"picture": file})
    assert response.status_code in (400, 403)
    assert await ProfilePicture.all().count() == 0


async def test_remove_asks_first_then_the_initial_is_back(alice: Person) -> None:
    await upload(alice.client, png())
    url = await picture_url(alice.client, "/", "#me-avatar")
    page = await alice.page("/profile")
    ask = page.find("summary", string="Remove picture")
    assert ask is not None and ask.find_parent("details") is not None
    confirm = ask.find_parent("details").find("button", string="Yes, remove it")
    form = confirm.find_parent("form")
    assert form["method"] == "post" and form["action"] == "/profile/picture/remove"
    response = await alice.client.post(form["action"], form={"csrf_token": alice.csrf})
    assert response.status_code == 303
    assert await ProfilePicture.all().count() == 0
    assert (await alice.client.get(url)).status_code == 404
    mine = (await alice.page("/")).select_one("#me-avatar")
    assert mine.name == "span" and mine.get_text() == "A"


async def test_a_new_picture_gets_a_new_url_and_the_old_one_leads_to_it(alice: Person) -> None:
    await upload(alice.client, png(colour="red"))
    old = await picture_url(alice.client, "/", "#me-avatar")
    await upload(alice.client, png(colour="blue"))
    new = await picture_url(alice.client, "/", "#me-avatar")
    assert new != old
    response = await alice.client.get(old)
    assert response.status_code in (302, 303) and response.headers["Location"] == new


async def test_contact_sees_a_new_picture_live_and_its_removal(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    header = f"#chat-avatar-{conversation}"
    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await hello(bob_tab, conversation)
        await upload(alice, png())
        pushed = await frame_where(bob_tab, lambda html: html.select_one(f"img{header}"))
        entry_avatar = pushed.select_one(f"#conv-{conversation} .avatar")
        assert (
            entry_avatar.name == "img" and entry_avatar["src"] == pushed.select_one(header)["src"]
        )
        token = await csrf_token(alice, "/profile")
        await alice.post("/profile/picture/remove", form={"csrf_token": token})
        pushed = await frame_where(bob_tab, lambda html: html.select_one(f"span{header}"))
        assert pushed.select_one(header).get_text() == "A"
