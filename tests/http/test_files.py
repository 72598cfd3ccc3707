"""Files in messages over HTTP: sending (JS off and as the page's script does), what the
thread and the list show, downloads with their headers, and every refusal storing nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup, Tag
from quart import Quart

from chatin import uploads as uploads_module
from chatin.models import Message
from chatin.uploads import UPLOADS
from tests.chatting import Person, start_chat
from tests.conftest import parse
from tests.files import (
    HTML,
    PDF,
    SVG_WITH_SCRIPT,
    multipart,
    picture,
    send_files,
    set_limits,
    stored,
)

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def figures(page: BeautifulSoup) -> list[Tag]:
    return page.select("[role=log] article figure")


def file_link(page: BeautifulSoup, name: str) -> str:
    link = next(a for a in page.select("figure a") if name in a.get_text())
    return str(link["href"])


async def sent_page(
    who: Person, conversation: int, files: list[tuple[str, bytes]], caption: str = ""
) -> BeautifulSoup:
    response = await send_files(who, conversation, files, caption)
    assert response.status_code == 201, await response.get_data(as_text=True)
    return parse(await response.get_data(as_text=True))


def assert_file_headers(headers: dict[str, str] | object) -> None:
    for name, value in FILE_HEADERS.items():
        assert headers[name] == value  # type: ignore[index]
    cache = headers["Cache-Control"]  # type: ignore[index]
    assert "private" in cache and "immutable" in cache and "max-age=" in cache


async def test_the_composer_has_a_file_input_labelled_attach_files(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    page = await alice.page(f"/c/{conversation}")
    form = page.select_one(f"form[action='/c/{conversation}/messages']")
    assert form is not None and form["method"] == "post"
    assert form["enctype"] == "multipart/form-data"
    label = next(label for label in form.select("label") if "Attach files" in label.get_text())
    field = form.select_one(f"input#{label['for']}")
    assert field is not None and field["type"] == "file" and field["name"] == "files"
    assert field.has_attr("multiple")


async def test_with_javascript_off_each_file_is_a_message_and_the_caption_goes_first(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    response = await send_files(
        alice, conversation, [("sea.png", picture()), ("notes.pdf", PDF)], "Holiday", htmx=False
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{conversation}"
    page = await bob.page(f"/c/{conversation}")
    first, second = page.select("[role=log] article")
    image = first.select_one("figure img")
    assert image is not None
    assert (image["width"], image["height"], image["loading"], image["alt"]) == (
        "800",
        "450",
        "lazy",
        "sea.png",
    )
    opens = str(image.find_parent("a")["href"])
    assert opens.startswith("/files/") and opens.endswith("/sea.png")
    assert first.select_one("p.body").get_text() == "Holiday"
    card = second.select_one("figure a")
    assert card is not None and card.has_attr("download")
    assert "notes.pdf" in card.get_text() and "Download" in card.get_text()
    assert second.select_one("p.body") is None
    assert await Message.filter(conversation_id=conversation).count() == 2


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
async def test_a_reply_with_files_quotes_its_original_on_the_first_file(
    alice: Person, bob: Person, htmx: bool
) -> None:
    conversation = await start_chat(alice, bob)
    original = await bob.say(conversation, "Send me the plans")
    files = [("plan.pdf", PDF), ("site.png", picture())]
    response = await send_files(alice, conversation, files, "Here", htmx=htmx, reply_to=original)
    assert response.status_code == (201 if htmx else 303)
    if htmx:  # the sending tab's bubbles show the quote at once
        answered = parse(await response.get_data(as_text=True)).select("article")
        assert [a.select_one(".quote") is not None for a in answered] == [True, False]
    page = await bob.page(f"/c/{conversation}")
    _, first, second = page.select("[role=log] article")
    quote = first.select_one(".quote")
    assert quote is not None and "Send me the plans" in quote.get_text()
    assert first.select_one("p.body").get_text() == "Here" and second.select_one(".quote") is None


async def test_the_picture_opens_the_original_and_its_preview_is_a_small_webp(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    original = picture((2000, 1000))
    await sent_page(alice, conversation, [("wide.png", original)])
    page = await bob.page(f"/c/{conversation}")
    image = page.select_one("figure img")
    opened = await bob.client.get(str(image.find_parent("a")["href"]))
    assert opened.status_code == 200
    assert opened.headers["Content-Type"] == "image/png"
    assert opened.headers["Content-Disposition"].startswith("inline")
    assert await opened.get_data() == original
    preview = await bob.client.get(str(image["src"]))
    assert preview.status_code == 200
    assert preview.headers["Content-Type"] == "image/webp"
    data = await preview.get_data()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert len(data) < len(original)
    assert_file_headers(preview.headers)


async def test_the_list_shows_a_paperclip_and_the_name_or_the_caption(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    await sent_page(alice, conversation, [("report.pdf", PDF)])
    preview = (await bob.page("/")).select_one(f"#conv-{conversation} [data-preview]")
    assert preview.get_text(strip=True) == "📎 report.pdf"
    await send_files(alice, conversation, [("x.pdf", PDF)], "see this")
    preview = (await bob.page("/")).select_one(f"#conv-{conversation} [data-preview]")
    assert preview.get_text(strip=True) == "see this"


@pytest.mark.parametrize(
    ("name", "data", "served_as", "shown_as"),
    [
        ("photo.png", picture(), "image/png", "img"),
        ("photo.jpg", picture(fmt="JPEG"), "image/jpeg", "img"),
        ("report.pdf", PDF, "application/octet-stream", "card"),
        ("drawing.svg", SVG_WITH_SCRIPT, "application/octet-stream", "card"),
        ("page.html", HTML, "application/octet-stream", "card"),
        ("fake.png", HTML, "application/octet-stream", "card"),
    ],
)
async def test_only_real_pictures_are_inline_everything_else_downloads(
    alice: Person, bob: Person, name: str, data: bytes, served_as: str, shown_as: str
) -> None:
    conversation = await start_chat(alice, bob)
    page = parse(await (await send_files(alice, conversation, [(name, data)])).get_data(True))
    assert (page.select_one("figure img") is not None) == (shown_as == "img")
    response = await bob.client.get(file_link(page, ""))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == served_as
    kind = "inline" if shown_as == "img" else "attachment"
    assert response.headers["Content-Disposition"].split(";")[0] == kind
    assert_file_headers(response.headers)
    assert await response.get_data() == data


async def test_downloads_are_byte_for_byte_whole_or_by_range(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    data = os.urandom(700_000)  # three parts of 256 KiB
    page = await sent_page(alice, conversation, [("blob.bin", data)])
    url = file_link(page, "blob.bin")
    whole = await bob.client.get(url)
    assert whole.status_code == 200 and await whole.get_data() == data
    assert whole.headers["Content-Length"] == str(len(data))
    assert whole.headers["Accept-Ranges"] == "bytes"
    middle = await bob.client.get(url, headers={"Range": "bytes=200000-600000"})
    assert middle.status_code == 206
    assert middle.headers["Content-Range"] == f"bytes 200000-600000/{len(data)}"
    assert await middle.get_data() == data[200000:600001]
    tail = await bob.client.get(url, headers={"Range": "bytes=-1000"})
    assert tail.status_code == 206 and await tail.get_data() == data[-1000:]
    past = await bob.client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416
    assert past.headers["Content-Range"] == f"bytes */{len(data)}"


async def test_an_unchanged_file_is_not_sent_again(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    page = await sent_page(alice, conversation, [("a.pdf", PDF)])
    first = await bob.client.get(file_link(page, "a.pdf"))
    etag = first.headers["ETag"]
    again = await bob.client.get(file_link(page, "a.pdf"), headers={"If-None-Match": etag})
    assert again.status_code == 304 and await again.get_data() == b""
    other = await bob.client.get(file_link(page, "a.pdf"), headers={"If-None-Match": '"x"'})
    assert other.status_code == 200


async def test_names_lose_folders_and_hidden_characters_and_keep_their_unicode(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    page = await sent_page(alice, conversation, [("../../etc/ré\u202esumé\x07 📄.pdf", PDF)])
    shown = page.select_one("figure .file-name").get_text()
    assert shown == "résumé 📄.pdf"
    response = await bob.client.get(file_link(page, "résumé"))
    disposition = response.headers["Content-Disposition"]
    assert f"filename*=UTF-8''{quote('résumé 📄.pdf', safe='')}" in disposition
    assert disposition.isascii()


async def test_strangers_logged_out_browsers_and_wrong_names_get_404(
    app: Quart, alice: Person, bob: Person, carol: Person
) -> None:
    conversation = await start_chat(alice, bob)
    page = await sent_page(alice, conversation, [("sea.png", picture())])
    original = file_link(page, "")
    preview = str(page.select_one("figure img")["src"])
    token = original.split("/")[2]
    for url in (original, preview):
        assert (await carol.client.get(url)).status_code == 404
        assert (await app.test_client().get(url)).status_code == 404
    assert (await bob.client.get(f"/files/{token}/other.png")).status_code == 404
    assert (await bob.client.get("/files/nosuchtoken/sea.png")).status_code == 404


async def test_after_a_block_nobody_gets_the_files(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    page = await sent_page(alice, conversation, [("sea.png", picture())])
    urls = [file_link(page, ""), str(page.select_one("figure img")["src"])]
    assert (await bob.post(f"/c/{conversation}/block")).status_code == 303
    for who in (alice, bob):
        for url in urls:
            assert (await who.client.get(url)).status_code == 404


async def test_a_retried_send_is_stored_once(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    client_id = str(uuid.uuid4())
    files = [("a.pdf", PDF), ("b.png", picture())]
    first = await send_files(alice, conversation, files, "hi", client_id=client_id)
    again = await send_files(alice, conversation, files, "hi", client_id=client_id)
    assert first.status_code == again.status_code == 201
    ids = [
        [a["id"] for a in parse(await r.get_data(True)).select("article")] for r in (first, again)
    ]
    assert ids[0] == ids[1] and len(ids[0]) == 2
    assert (await stored())[:2] == (2, 2)


async def test_the_same_send_twice_at_once_is_stored_once(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    client_id = str(uuid.uuid4())
    twins = [send_files(alice, conversation, [("a.pdf", PDF)], client_id=client_id)] * 2
    answers = await asyncio.gather(*twins)
    assert [answer.status_code for answer in answers] == [201, 201]
    assert (await stored())[:2] == (1, 1)


async def test_deleting_the_message_for_everyone_deletes_the_file(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    page = await sent_page(alice, conversation, [("a.pdf", PDF)])
    message = str(page.select_one("article")["id"]).removeprefix("message-")
    response = await alice.post(f"/c/{conversation}/m/{message}/delete")
    assert response.status_code == 303
    assert await stored() == (1, 0, 0)
    assert (await bob.client.get(file_link(page, "a.pdf"))).status_code == 404
    shown = (await bob.page(f"/c/{conversation}")).select_one("[role=log] article")
    assert shown.select_one("figure") is None


async def test_a_caption_edit_keeps_the_file(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    page = await sent_page(alice, conversation, [("a.pdf", PDF)], "first try")
    message = str(page.select_one("article")["id"]).removeprefix("message-")
    form = {"body": "second try", "csrf_token": alice.csrf}
    response = await alice.client.post(
        f"/c/{conversation}/m/{message}/edit", form=form, headers={"HX-Request": "true"}
    )
    edited = parse(await response.get_data(as_text=True))
    assert edited.select_one("p.body").get_text() == "second try"
    assert "a.pdf" in edited.select_one("figure").get_text()
    shown = (await bob.page(f"/c/{conversation}")).select_one("[role=log] article")
    assert shown.select_one("figure") is not None


async def test_a_form_without_files_still_sends_its_text(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    response = await send_files(alice, conversation, [("", b"")], "just words", htmx=False)
    assert response.status_code == 303
    assert [m.body for m in await Message.all()] == ["just words"]
    assert await stored() == (1, 0, 0)


# --- refusals: a clear 4xx, nothing stored -------------------------------------------------


async def test_refused_sends_store_nothing(app: Quart, alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    set_limits(app, file_bytes=50_000, files_per_send=3, user_bytes=120_000)
    cases = [
        ("empty file", [("empty.txt", b"")], 400),
        ("a file over the limit", [("big.bin", os.urandom(50_001))], 413),
        ("too many files", [(f"{n}.pdf", PDF) for n in range(4)], 400),
        ("over the person's quota", [(f"{n}.bin", os.urandom(45_000)) for n in range(3)], 413),
    ]
    for what, files, status in cases:
        response = await send_files(alice, conversation, files, "caption")
        assert response.status_code == status, what
        assert (await response.get_data(as_text=True)).strip(), what
        assert await stored() == (0, 0, 0), what


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    app: Quart, alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    set_limits(app, file_bytes=10_000, files_per_send=2)
    body, headers = multipart({"csrf_token": alice.csrf}, [("x.bin", b"x")])
    headers["Content-Length"] = str(app.extensions[UPLOADS].max_body_bytes + 1)
    async with alice.client.request(
        f"/c/{conversation}/messages", method="POST", headers=headers
    ) as connection:
        await connection.send(body[:100])  # the rest never comes: the answer can't wait for it
        async with asyncio.timeout(5):
            answer = await connection.receive()
    assert connection.status_code == 413
    assert b"at most" in answer
    assert await stored() == (0, 0, 0)


async def test_a_forged_upload_is_refused(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    response = await send_files(alice, conversation, [("a.pdf", PDF)], csrf="forged")
    assert response.status_code == 403
    response = await send_files(alice, conversation, [("a.pdf", PDF)], csrf=bob.csrf)
    assert response.status_code == 403
    assert await stored() == (0, 0, 0)


async def test_strangers_get_404_and_the_blocked_422(
    alice: Person, bob: Person, carol: Person
) -> None:
    conversation = await start_chat(alice, bob)
    assert (await send_files(carol, conversation, [("a.pdf", PDF)])).status_code == 404
    assert (await alice.post(f"/c/{conversation}/block")).status_code == 303
    assert (await send_files(bob, conversation, [("a.pdf", PDF)])).status_code == 422
    assert await stored() == (0, 0, 0)


async def test_a_cut_upload_leaves_nothing(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    body, headers = multipart({"csrf_token": alice.csrf}, [("big.bin", os.urandom(600_000))])
    async with alice.client.request(
        f"/c/{conversation}/messages", method="POST", headers=headers
    ) as connection:
        await connection.send(body[: len(body) // 2])
        await connection.disconnect()
    assert await stored() == (0, 0, 0)


async def test_too_many_uploads_at_once_get_429_with_retry_after(
    app: Quart, alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    uploads = app.extensions[UPLOADS]
    body, headers = multipart({"csrf_token": alice.csrf}, [("a.bin", os.urandom(10_000))])
    path = f"/c/{conversation}/messages"
    slow = [alice.client.request(path, method="POST", headers=headers) for _ in range(4)]
    connections = [await connection.__aenter__() for connection in slow]
    for connection in connections:
        await connection.send(body[:200])
    async with asyncio.timeout(5):
        while uploads.in_flight < 4:  # noqa: ASYNC110 - the app exposes a count, not an event
            await asyncio.sleep(0)
    refused = await send_files(alice, conversation, [("b.pdf", PDF)])
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    for connection in connections:
        await connection.disconnect()
    for connection in slow:
        await connection.__aexit__(None, None, None)
    assert await stored() == (0, 0, 0)


async def test_an_upload_that_trickles_past_the_time_limit_is_refused(
    alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await start_chat(alice, bob)
    monkeypatch.setattr(uploads_module, "RECEIVE_SECONDS", 0)
    body, headers = multipart({"csrf_token": alice.csrf}, [("slow.bin", os.urandom(50_000))])
    async with alice.client.request(
        f"/c/{conversation}/messages", method="POST", headers=headers | {"HX-Request": "true"}
    ) as connection:
        await connection.send(body[:1000])  # and nothing more
        async with asyncio.timeout(5):
            answer = await connection.receive()
    assert connection.status_code == 408 and b"too long" in answer
    assert await stored() == (0, 0, 0)
