"""Files in Chromium: choosing, dropping and sending files with upload progress, the other
person's preview loading, the same with JavaScript off, an SVG that only downloads, axe."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from PIL import Image, ImageDraw
from playwright.async_api import Error, Locator, Page, Route, expect

from tests.browser.conftest import OpenPage, Person, sign_up_together
from tests.browser.test_layout import serious
from tests.browser.test_screenshots import shoot
from tests.files import PDF, SVG_WITH_SCRIPT

pytestmark = pytest.mark.browser

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


def landscape(path: Path) -> Path:
    """A small made-up photo: sky, sun, hills."""
    image = Image.new("RGB", (1200, 800), (120, 180, 235))
    draw = ImageDraw.Draw(image)
    draw.ellipse((820, 120, 980, 280), fill=(255, 214, 90))
    draw.polygon(
        [(0, 800), (0, 520), (420, 380), (800, 560), (1200, 430), (1200, 800)], (60, 140, 80)
    )
    draw.polygon([(0, 800), (0, 650), (600, 560), (1200, 700), (1200, 800)], fill=(40, 110, 60))
    image.save(path, "PNG")
    return path


def files_of(tmp_path: Path) -> dict[str, Path]:
    pdf = tmp_path / "trip plan.pdf"
    pdf.write_bytes(PDF)
    svg = tmp_path / "drawing.svg"
    svg.write_bytes(SVG_WITH_SCRIPT)
    return {"png": landscape(tmp_path / "lake.png"), "pdf": pdf, "svg": svg}


def thread(page: Page) -> Locator:
    return page.get_by_role("log")


def picture(page: Page, name: str) -> Locator:
    return thread(page).get_by_role("img", name=name)


def card(page: Page, name: str) -> Locator:
    return thread(page).get_by_role("link", name=re.compile(re.escape(name)))


async def talking(open_page: OpenPage, **options: Any) -> tuple[Person, Person, str]:
    alice, bob = await sign_up_together(
        (await open_page(**options), "Alice"), (await open_page(**options), "Bob")
    )
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)
    await bob.page.get_by_role("button", name="Accept").click()
    await expect(bob.page.get_by_role("button", name="Accept")).to_have_count(0)
    return alice, bob, conversation


async def loaded(page: Page, name: str) -> None:
    """The picture's preview actually arrived and decoded."""
    await page.wait_for_function(
        "name => [...document.querySelectorAll('figure img')]"
        ".some(i => i.alt === name && i.complete && i.naturalWidth > 0)",
        arg=name,
    )


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_picture_and_a_pdf_upload_with_progress_and_reach_the_other_person(
    open_page: OpenPage, tmp_path: Path, size: str
) -> None:
    alice, bob, _ = await talking(open_page, **SIZES[size])
    files = files_of(tmp_path)
    release = asyncio.Event()

    async def held(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await alice.page.route("**/c/*/messages", held)
    await alice.page.get_by_label("Attach files").set_input_files([files["png"], files["pdf"]])
    chosen = alice.page.get_by_role("list", name="Files to send").get_by_role("listitem")
    await expect(chosen).to_have_count(2)
    await expect(chosen.get_by_role("img", name="lake.png")).to_be_visible()
    await alice.page.wait_for_function(  # the thumbnail really shows (CSP lets blob: in)
        "() => document.querySelector('.attach-strip img')?.naturalWidth > 0"
    )
    await expect(chosen.filter(has_text="trip plan.pdf")).to_be_visible()
    await alice.page.get_by_label("Message").fill("Our trip 🏞")
    await alice.page.get_by_role("button", name="Send").click()
    await expect(alice.page.get_by_role("progressbar", name="Uploading lake.png")).to_be_visible()
    await expect(chosen).to_have_count(0)
    release.set()

    for page in (alice.page, bob.page):
        await expect(picture(page, "lake.png")).to_be_visible()
        await expect(card(page, "trip plan.pdf")).to_contain_text("Download")
        await expect(thread(page).get_by_role("article")).to_have_count(2)
    await expect(thread(bob.page).get_by_role("article").first).to_contain_text("Our trip 🏞")
    await expect(alice.page.get_by_role("progressbar")).to_have_count(0)
    await loaded(bob.page, "lake.png")


async def test_a_reply_with_a_file_quotes_the_original_for_both(
    open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob, _ = await talking(open_page)
    await bob.send("Where is the plan?")
    question = thread(alice.page).get_by_role("article").filter(has_text="Where is the plan?")
    await question.get_by_role("button", name="Message actions").click()
    await question.get_by_role("link", name="Reply").click()
    await expect(alice.page.locator("#replying")).to_contain_text("Where is the plan?")
    await alice.page.get_by_label("Attach files").set_input_files(files_of(tmp_path)["pdf"])
    await alice.page.get_by_label("Message").fill("Here")
    await alice.page.get_by_role("button", name="Send").click()
    await expect(alice.page.locator("#replying")).to_be_hidden()
    for page in (alice.page, bob.page):
        answer = thread(page).get_by_role("article").filter(has_text="trip plan.pdf")
        await expect(answer.locator("a.quote")).to_contain_text("Where is the plan?")


async def test_with_javascript_off_the_form_uploads_and_comes_back(
    open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob, conversation = await talking(open_page, java_script_enabled=False)
    files = files_of(tmp_path)
    await alice.page.get_by_label("Attach files").set_input_files([files["png"], files["pdf"]])
    await alice.page.get_by_label("Message").fill("No script needed")
    await alice.page.get_by_role("button", name="Send").click()
    await expect(alice.page).to_have_url(conversation)
    await expect(picture(alice.page, "lake.png")).to_be_visible()
    await expect(card(alice.page, "trip plan.pdf")).to_be_visible()
    await bob.page.goto(conversation)
    await expect(picture(bob.page, "lake.png")).to_be_visible()
    await loaded(bob.page, "lake.png")


async def test_a_file_dropped_on_the_conversation_is_sent(open_page: OpenPage) -> None:
    alice, bob, _ = await talking(open_page)
    dropped = await alice.page.evaluate_handle(
        "() => { const d = new DataTransfer();"
        " d.items.add(new File(['meeting at 9'], 'notes.txt', {type: 'text/plain'}));"
        " return d; }"
    )
    await alice.page.dispatch_event(".conversation", "dragover", {"dataTransfer": dropped})
    await alice.page.dispatch_event(".conversation", "drop", {"dataTransfer": dropped})
    chosen = alice.page.get_by_role("list", name="Files to send").get_by_role("listitem")
    await expect(chosen).to_have_count(1)
    await expect(chosen).to_contain_text("notes.txt")
    await alice.page.get_by_role("button", name="Remove notes.txt").click()
    await expect(chosen).to_have_count(0)
    await alice.page.dispatch_event(".conversation", "drop", {"dataTransfer": dropped})
    await alice.page.get_by_role("button", name="Send").click()
    await expect(card(bob.page, "notes.txt")).to_contain_text("12 bytes")


async def test_a_refused_upload_says_why_and_retry_keeps_the_caption(
    open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob, _ = await talking(open_page)
    refusal = "Files can be at most 25 MB each."
    tries: list[str] = []

    async def refuse_once(route: Route) -> None:
        tries.append(route.request.url)
        if len(tries) == 1:
            await route.fulfill(status=413, body=refusal, content_type="text/plain")
        else:
            await route.continue_()

    await alice.page.route("**/c/*/messages", refuse_once)
    await alice.page.get_by_label("Attach files").set_input_files(files_of(tmp_path)["pdf"])
    await alice.page.get_by_label("Message").fill("The plan")
    await alice.page.get_by_role("button", name="Send").click()
    failed = thread(alice.page).get_by_role("article").filter(has_text=refusal)
    await expect(failed).to_contain_text("trip plan.pdf")
    await failed.get_by_role("button", name="Retry").click()
    stored = thread(bob.page).get_by_role("article")
    await expect(stored).to_have_count(1)
    await expect(stored).to_contain_text("The plan")
    await expect(card(bob.page, "trip plan.pdf")).to_be_visible()
    await expect(thread(alice.page).get_by_role("article")).to_have_count(1)


async def test_an_svg_with_a_script_only_downloads_and_runs_nothing(
    open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob, _ = await talking(open_page)
    await alice.page.get_by_label("Attach files").set_input_files(files_of(tmp_path)["svg"])
    await alice.page.get_by_role("button", name="Send").click()
    link = card(bob.page, "drawing.svg")
    await expect(link).to_contain_text("Download")
    assert await thread(bob.page).locator("figure img").count() == 0
    dialogs: list[str] = []
    bob.page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    async with bob.page.expect_download() as started:
        await link.click()
    download = await started.value
    assert download.suggested_filename == "drawing.svg"
    saved = Path(await download.path())
    assert await asyncio.to_thread(saved.read_bytes) == SVG_WITH_SCRIPT
    # Opened directly in a tab of its own, it is still a download, never a document.
    tab = await bob.page.context.new_page()
    async with tab.expect_download() as direct:
        with pytest.raises(Error, match="Download is starting"):
            await tab.goto(str(await link.get_attribute("href")))
    assert (await direct.value).suggested_filename == "drawing.svg"
    assert "ran" not in await bob.page.title() and dialogs == []


async def test_axe_finds_nothing_serious_with_files_chosen_and_shown(
    open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob, _ = await talking(open_page)
    files = files_of(tmp_path)
    await alice.page.get_by_label("Attach files").set_input_files([files["png"], files["pdf"]])
    await alice.page.get_by_role("button", name="Send").click()
    await expect(card(bob.page, "trip plan.pdf")).to_be_visible()
    await loaded(bob.page, "lake.png")
    await alice.page.get_by_label("Attach files").set_input_files([files["png"], files["pdf"]])
    await expect(alice.page.get_by_role("list", name="Files to send")).to_be_visible()
    axe = Axe()
    found: list[str] = []
    for name, page in {"with files chosen": alice.page, "with files shown": bob.page}.items():
        found += serious((await axe.run(page)).response, name)
        await page.emulate_media(color_scheme="dark")
        results = await axe.run(page, options={"runOnly": ["color-contrast"]})
        found += serious(results.response, f"{name} (dark)")
    assert found == [], "\n".join(found)


async def test_screenshots_of_a_conversation_with_a_picture_and_a_file(
    open_page: OpenPage, tmp_path: Path
) -> None:
    written: list[str] = []
    for size in ("desktop", "phone"):
        options = SIZES[size] | {"device_scale_factor": 1 if size == "desktop" else 2}
        alice, bob, _ = await talking(open_page, **options)
        files = files_of(tmp_path)
        await alice.send("Photos from Saturday's loop, and the plan for next time")
        await alice.page.get_by_label("Attach files").set_input_files([files["png"]])
        await alice.page.get_by_role("button", name="Send").click()
        await expect(picture(bob.page, "lake.png")).to_be_visible()
        await alice.page.get_by_label("Attach files").set_input_files([files["pdf"]])
        await alice.page.get_by_role("button", name="Send").click()
        await expect(card(bob.page, "trip plan.pdf")).to_be_visible()
        await bob.send("Gorgeous! 😍")
        stored = re.compile(r"^(Sent|Delivered|Read)$")
        await expect(thread(bob.page).get_by_role("img", name=stored)).to_have_count(1)
        await loaded(bob.page, "lake.png")
        await expect(thread(bob.page).get_by_role("article")).to_have_count(4)
        written += await shoot(bob.page, f"files-{size}")
        await alice.page.get_by_label("Attach files").set_input_files([files["png"], files["pdf"]])
        await alice.page.get_by_label("Message").fill("And two more")
        await alice.page.wait_for_function(
            "() => document.querySelector('.attach-strip img')?.naturalWidth > 0"
        )
        written += await shoot(alice.page, f"files-chosen-{size}")
    assert len(written) == 8
