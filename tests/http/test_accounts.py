"""The contract's account rows, through the real routes."""

from __future__ import annotations

import unicodedata

from quart import Quart
from quart.testing import QuartClient

from chatin.models import User
from tests.chatting import Person, conversation_of
from tests.conftest import csrf_token, log_in, parse, sign_up, unique_email


async def test_sign_up_lands_on_the_chat_page(client: QuartClient) -> None:
    form = {"display_name": "Ada", "email": "ada@example.com", "password": "password1"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = parse(await (await client.get("/")).get_data(as_text=True))
    assert page.find("button", string="Log out") is not None


async def test_signup_form_has_the_contract_labels(client: QuartClient) -> None:
    page = parse(await (await client.get("/signup")).get_data(as_text=True))
    labels = {label.get_text(strip=True): label["for"] for label in page.select("form label")}
    assert set(labels) == {"Display name", "Email", "Password"}
    for field_id in labels.values():
        assert page.select_one(f"input#{field_id}") is not None
    form = page.select_one("form[method=post][action='/signup']")
    assert form is not None and form.find("button", string="Sign up") is not None


async def test_signup_errors_keep_what_was_typed_except_password(client: QuartClient) -> None:
    form = {"display_name": "Ada <b>", "email": "not-an-email", "password": "secret123"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form)
    assert response.status_code == 422
    page = parse(await response.get_data(as_text=True))
    assert page.select_one("#display_name")["value"] == "Ada <b>"
    assert page.select_one("#email")["value"] == "not-an-email"
    assert page.select_one("#password")["value"] == ""
    assert page.select_one("#email-error") is not None
    assert "secret123" not in await response.get_data(as_text=True)
    assert await User.all().count() == 0


async def test_taken_email_in_other_case_is_refused_on_the_form(
    client: QuartClient, app: Quart
) -> None:
    await sign_up(client, "Ada", "ada@example.com")
    other = app.test_client()
    form = {"display_name": "Eve", "email": "ADA@EXAMPLE.com", "password": "password1"}
    form["csrf_token"] = await csrf_token(other, "/signup")
    response = await other.post("/signup", form=form)
    assert response.status_code == 422
    error = parse(await response.get_data(as_text=True)).select_one("#email-error")
    assert error is not None and "already" in error.get_text()
    assert await User.all().count() == 1


async def test_logged_out_visitor_is_sent_to_login(client: QuartClient) -> None:
    for path in ("/", "/c/1"):
        response = await client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/login"


async def test_log_in_again_after_log_out(client: QuartClient) -> None:
    email = await sign_up(client)
    token = await csrf_token(client, "/")
    assert (await client.post("/logout", form={"csrf_token": token})).status_code == 303
    assert (await client.get("/")).status_code == 302
    assert await log_in(client, email.upper()) == 303
    assert (await client.get("/")).status_code == 200


async def test_bad_log_in_is_the_same_for_unknown_email_and_wrong_password(
    client: QuartClient,
) -> None:
    email = await sign_up(client)
    await client.post("/logout", form={"csrf_token": await csrf_token(client, "/")})
    answers = []
    for attempt in (email, unique_email("ghost")):
        form = {
            "email": attempt,
            "password": "wrong password",
            "csrf_token": await csrf_token(client),
        }
        response = await client.post("/login", form=form)
        alert = parse(await response.get_data(as_text=True)).select_one("[role=alert]")
        answers.append((response.status_code, alert.get_text(strip=True) if alert else None))
    assert answers == [(401, "Invalid email or password")] * 2


async def test_replayed_cookie_stops_working_after_log_out(app: Quart) -> None:
    browser = app.test_client()
    await sign_up(browser)
    stolen = {c.name: c.value for c in browser.cookie_jar}
    replay = app.test_client()
    for key, value in stolen.items():
        replay.set_cookie("localhost", key, value)
    assert (await replay.get("/")).status_code == 200
    await browser.post("/logout", form={"csrf_token": await csrf_token(browser, "/")})
    assert (await replay.get("/")).status_code == 302


async def test_post_without_csrf_token_changes_nothing(client: QuartClient) -> None:
    await client.get("/signup")
    form = {"display_name": "Ada", "email": "ada@example.com", "password": "password1"}
    response = await client.post("/signup", form=form)
    assert response.status_code == 403
    form["csrf_token"] = "forged"
    assert (await client.post("/signup", form=form)).status_code == 403
    assert await User.all().count() == 0


async def test_logout_without_csrf_token_keeps_the_session(client: QuartClient) -> None:
    await sign_up(client)
    assert (await client.post("/logout")).status_code == 403
    assert (await client.get("/")).status_code == 200


async def test_a_pages_form_token_ends_with_its_session(client: QuartClient) -> None:
    """A token read from a page (say, by a leaked screenshot) is void once that session ends."""
    email = await sign_up(client)
    old_token = await csrf_token(client, "/")
    assert (await client.post("/logout", form={"csrf_token": old_token})).status_code == 303
    assert await log_in(client, email) == 303
    assert (await client.post("/logout", form={"csrf_token": old_token})).status_code == 403
    assert (await client.get("/")).status_code == 200


async def test_eleventh_failed_log_in_for_one_email_gets_429(app: Quart) -> None:
    client = app.test_client()
    email = await sign_up(client, "Ada")
    await client.post("/logout", form={"csrf_token": await csrf_token(client, "/")})
    statuses = []
    for attempt in range(11):
        # A new client address each time: only the per-email limit can trigger.
        form = {"email": email, "password": "wrong", "csrf_token": await csrf_token(client)}
        response = await client.post(
            "/login", form=form, scope_base={"client": (f"10.0.0.{attempt}", 1)}
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429]
    assert int(response.headers["Retry-After"]) > 0
    # Even the right password waits now: the throttle is checked before the password.
    form = {"email": email, "password": "correct horse", "csrf_token": await csrf_token(client)}
    assert (await client.post("/login", form=form)).status_code == 429


async def test_eleventh_failure_from_one_address_gets_429(client: QuartClient) -> None:
    statuses = []
    for _ in range(11):
        form = {
            "email": unique_email("ghost"),
            "password": "wrong",
            "csrf_token": await csrf_token(client),
        }
        statuses.append((await client.post("/login", form=form)).status_code)
    assert statuses == [401] * 10 + [429]


async def test_healthz_reports_the_database(client: QuartClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_session_cookies_are_httponly_and_lax(client: QuartClient) -> None:
    form = {"display_name": "Ada", "email": "ada@example.com", "password": "password1"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form)
    cookies = response.headers.getlist("Set-Cookie")
    auth_cookie = next(c for c in cookies if c.startswith("chatin_auth="))
    assert "HttpOnly" in auth_cookie and "SameSite=Lax" in auth_cookie
    assert "Secure" not in auth_cookie  # served over plain http here


async def test_unknown_page_is_a_404_page(client: QuartClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert "Nothing here" in await response.get_data(as_text=True)


async def test_logged_in_pages_are_not_stored(alice: Person, bob: Person) -> None:
    conversation = conversation_of(await alice.add_contact(bob.email))
    for path in ("/", "/profile", f"/c/{conversation}", "/c/999999"):
        response = await alice.client.get(path)
        assert response.headers.get("Cache-Control") == "no-store", path
    static = await alice.client.get("/static/css/app.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")


NFC = unicodedata.normalize("NFC", "jürgen@bücher.example")
NFD = unicodedata.normalize("NFD", "Jürgen@Bücher.example")
PUNYCODE = unicodedata.normalize("NFC", "jürgen@xn--bcher-kva.example")


async def test_one_account_per_address_however_it_is_spelled(app: Quart) -> None:
    """Composed or decomposed letters, a Unicode domain or its xn-- form: one address."""
    await sign_up(app.test_client(), "Jürgen", NFC)
    for spelling in (NFD, PUNYCODE):
        other = app.test_client()
        form = {"display_name": "Eve", "email": spelling, "password": "password1"}
        form["csrf_token"] = await csrf_token(other, "/signup")
        response = await other.post("/signup", form=form)
        assert response.status_code == 422, spelling
        error = parse(await response.get_data(as_text=True)).select_one("#email-error")
        assert error is not None and "already" in error.get_text()
    assert await User.all().count() == 1
    for spelling in (NFC, NFD, PUNYCODE):
        assert await log_in(app.test_client(), spelling) == 303, spelling


async def test_add_contact_finds_the_account_by_its_xn_domain(app: Quart, alice: Person) -> None:
    await sign_up(app.test_client(), "Jürgen", NFD)
    conversation = conversation_of(await alice.add_contact(PUNYCODE))
    page = await alice.page(f"/c/{conversation}")
    assert "Jürgen" in page.select_one("nav[aria-label=Conversations]").get_text()
