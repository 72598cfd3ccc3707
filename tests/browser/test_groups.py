"""Three people in a group, in Chromium: it appears live for all, messages, typing and
receipts arrive live, an owner removes someone whose open conversation closes, someone
leaves; the info page at phone width; creating a group with JavaScript off; axe."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import SCREENSHOTS, OpenPage, Person, origin, sign_up_together
from tests.browser.test_layout import serious

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def conversations(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Conversations")


def thread(page: Page) -> Locator:
    return page.get_by_role("log")


async def befriend(alice: Person, *others: Person) -> None:
    """Alice adds each of them; each accepts in their own page."""
    for other in others:
        await alice.page.goto("/")
        url = await alice.add_contact(other)
        await other.page.goto(url)
        await other.page.get_by_role("button", name="Accept").click()
        await expect(other.page.get_by_role("button", name="Accept")).to_have_count(0)


async def create_group(owner: Person, name: str, members: list[Person]) -> str:
    """Through "New group": name, a checkbox per member, "Create group"; the group's URL."""
    await owner.page.goto("/")
    await owner.page.get_by_role("link", name="New group").click()
    await owner.page.get_by_label("Group name").fill(name)
    for member in members:
        await owner.page.get_by_role("checkbox", name=member.name, exact=True).check()
    await owner.page.get_by_role("button", name="Create group").click()
    await expect(owner.page).to_have_url(re.compile(re.escape(origin(owner.page)) + r"/c/\d+$"))
    return owner.page.url


async def three(open_page: OpenPage, **options: object) -> list[Person]:
    people = await sign_up_together(
        (await open_page(**options), "Alice"),
        (await open_page(**options), "Bob"),
        (await open_page(**options), "Carol"),
    )
    await befriend(people[0], people[1], people[2])
    return people


async def test_a_group_lives_for_three_people(open_page: OpenPage) -> None:
    alice, bob, carol = await three(open_page)
    for other in (bob, carol):
        await other.page.goto("/")
    group = await create_group(alice, "Weekend trip", [bob, carol])

    # It appears live in both lists, and each opens it.
    for other in (bob, carol):
        entry = conversations(other.page).get_by_role("link", name=re.compile("Weekend trip"))
        await expect(entry).to_contain_text("Alice created the group")
        await entry.click()
        await expect(other.page).to_have_url(group)
        await expect(other.page.get_by_text("3 members")).to_be_visible()

    # Messages arrive live with their author's name; typing names who types.
    await alice.send("Who brings the tent?")
    for other in (bob, carol):
        bubble = thread(other.page).get_by_role("article").filter(has_text="Who brings the tent?")
        await expect(bubble).to_contain_text("Alice")
    await bob.page.get_by_label("Message").press_sequentially("I can")
    await expect(alice.page.get_by_text("Bob is typing…")).to_be_visible()
    await carol.page.get_by_label("Message").press_sequentially("Me")
    await expect(alice.page.get_by_text("Bob and Carol are typing…")).to_be_visible()

    # Both have it open and in view: Read, with the detail on focus.
    mine = thread(alice.page).get_by_role("article").filter(has_text="Who brings the tent?")
    tick = mine.get_by_role("img", name="Read")
    await expect(tick).to_have_count(1)
    await expect(tick).to_have_attribute("title", "Read by 2 of 2")
    await tick.focus()
    await expect(tick).to_be_focused()
    await bob.send("I can")
    await expect(
        thread(alice.page).get_by_role("article").filter(has_text="I can")
    ).to_contain_text("Bob")
    await alice.page.get_by_label("Message").focus()  # the detail shows on focus only
    # The day's separator heads the day, above the system line that opened it.
    heads = thread(alice.page).locator("[role=separator], article")
    await expect(heads.first).to_have_text("Today")
    await expect(heads.nth(1)).to_have_text("Alice created the group")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await alice.page.screenshot(path=SCREENSHOTS / "group-desktop-light.png", animations="disabled")


async def test_an_owner_removes_someone_whose_open_group_closes_and_another_leaves(
    open_page: OpenPage,
) -> None:
    alice, bob, carol = await three(open_page)
    group = await create_group(alice, "Book club", [bob, carol])
    for other in (bob, carol):
        await other.page.goto(group)

    await alice.page.get_by_role("link", name="Group info").click()
    await alice.page.get_by_role("button", name="Remove Carol").click()
    await expect(alice.page.get_by_role("heading", name="Remove Carol?")).to_be_visible()
    await alice.page.get_by_role("button", name="Remove").click()
    await expect(alice.page.get_by_role("heading", name="Group info")).to_be_visible()
    await expect(alice.page.locator(".member-name")).to_have_text(["Alice (you)", "Bob"])

    # Carol's open conversation closes by itself, and the group leaves her list.
    await expect(carol.page.get_by_text("You're no longer in this group")).to_be_visible()
    await expect(carol.page.get_by_label("Message")).to_have_count(0)
    await expect(conversations(carol.page).get_by_text("Book club")).to_have_count(0)
    assert (await carol.page.goto(group)).status == 404  # type: ignore[union-attr]

    await bob.page.get_by_role("link", name="Group info").click()
    await bob.page.get_by_role("button", name="Leave group").click()
    await bob.page.get_by_role("button", name="Leave group").click()
    await expect(bob.page).to_have_url(f"{origin(bob.page)}/")
    await expect(conversations(bob.page).get_by_text("Book club")).to_have_count(0)

    await alice.page.goto(group)
    lines = thread(alice.page).get_by_role("article")
    await expect(lines).to_have_text(
        [re.compile("Alice created the group"), re.compile("Alice removed Carol"), "Bob left"]
    )


async def test_group_info_fits_a_phone(open_page: OpenPage) -> None:
    alice, bob, carol = await three(open_page, **PHONE)
    await alice.page.goto("/groups/new")
    await expect(alice.page.get_by_role("checkbox", name="Carol")).to_be_visible()
    assert await alice.page.evaluate("document.documentElement.scrollWidth") <= 390
    await alice.page.screenshot(path=SCREENSHOTS / "group-new-phone-light.png")
    group = await create_group(alice, "A rather long group name for a small screen", [bob, carol])
    await alice.page.get_by_role("link", name="Group info").click()
    await expect(alice.page).to_have_url(f"{group}/info")
    await expect(alice.page.get_by_role("heading", name="Add people")).to_be_visible()
    for label in ("Remove Bob", "Rename", "Leave group"):
        await expect(alice.page.get_by_role("button", name=label)).to_be_visible()
    width = await alice.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the info page scrolls sideways: {width}px"
    await alice.page.screenshot(path=SCREENSHOTS / "group-info-phone-light.png", full_page=True)


async def test_create_a_group_with_javascript_off(open_page: OpenPage) -> None:
    alice, bob, carol = await three(open_page, java_script_enabled=False)
    group = await create_group(alice, "", [bob, carol])
    await expect(alice.page.locator("#chat-title")).to_have_text(
        re.compile(r"^\s*(Bob, Carol|Carol, Bob)\s*$")
    )
    await alice.page.get_by_label("Message").fill("Plain forms work")
    await alice.page.get_by_role("button", name="Send").click()
    await expect(alice.page).to_have_url(group)
    await bob.page.goto(group)
    bubble = thread(bob.page).get_by_role("article").filter(has_text="Plain forms work")
    await expect(bubble).to_contain_text("Alice")


async def test_axe_finds_nothing_serious_on_the_group_pages(open_page: OpenPage) -> None:
    from axe_playwright_python.async_playwright import Axe

    axe = Axe()
    alice, bob, carol = await three(open_page)
    group = await create_group(alice, "Axe", [bob, carol])
    await bob.page.goto(group)
    await bob.send("hello")
    await alice.send("hi all")
    found: list[str] = []
    for path in (group, f"{group}/info", "/groups/new", f"{group}/leave"):
        await alice.page.goto(path)
        await alice.page.emulate_media(color_scheme="light")
        found += serious((await axe.run(alice.page)).response, path)
        await alice.page.emulate_media(color_scheme="dark")
        contrast = await axe.run(alice.page, options={"runOnly": ["color-contrast"]})
        found += serious(contrast.response, f"{path} (dark)")
    assert found == [], "\n".join(found)
