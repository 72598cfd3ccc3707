"""CHATIN_TRUSTED_PROXIES: behind one proxy, cookies and throttles follow the client the
proxy names; with none, the same forged headers change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart
from quart.testing import QuartClient
from quart.wrappers import Response

from chatin.config import Settings
from tests.conftest import parse, sign_up, unique_email

PUBLIC_HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example"}
BEHIND_ONE_PROXY = pytest.mark.parametrize("settings", [1], indirect=True, ids=["one proxy"])
DIRECT = pytest.mark.parametrize("settings", [0], indirect=True, ids=["no proxy"])


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings.for_tests(database_url, tmp_path, trusted_proxies=request.param)


def _cookie(response: Response, name: str) -> str:
    """The Set-Cookie header for `name`."""
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {response.headers.getlist('Set-Cookie')}"
    return found[0]


async def _log_in(client: QuartClient, email: str, headers: dict[str, str]) -> Response:
    """The log-in form with these headers; the session cookie goes back by hand, as a
    browser on https would send it (the test client keeps Secure cookies to itself)."""
    page = await client.get("/login", headers=headers)
    session = _cookie(page, "chatin_session").split(";")[0]
    field = parse(await page.get_data(as_text=True)).select_one("input[name=csrf_token]")
    form = {"email": email, "password": "correct horse", "csrf_token": str(field["value"])}
    return await client.post("/login", form=form, headers=headers | {"Cookie": session})


async def _failed_log_in(client: QuartClient, forwarded_for: str) -> int:
    """A wrong password for a new email each time, so only the per-address limit counts."""
    page = await client.get("/login", headers={"X-Forwarded-For": forwarded_for})
    field = parse(await page.get_data(as_text=True)).select_one("input[name=csrf_token]")
    form = {"email": unique_email("ghost"), "password": "wrong", "csrf_token": field["value"]}
    response = await client.post("/login", form=form, headers={"X-Forwarded-For": forwarded_for})
    return response.status_code


@BEHIND_ONE_PROXY
async def test_behind_a_proxy_cookies_are_secure_when_the_public_scheme_is_https(
    app: Quart,
) -> None:
    email = await sign_up(app.test_client(), "Ada")
    response = await _log_in(app.test_client(use_cookies=False), email, PUBLIC_HTTPS)
    assert response.status_code == 303
    assert "Secure" in _cookie(response, "chatin_auth")
    page = await app.test_client().get("/login", headers=PUBLIC_HTTPS)
    assert "Secure" in _cookie(page, "chatin_session")


@DIRECT
async def test_without_trusted_proxies_a_forged_https_header_leaves_cookies_plain(
    app: Quart,
) -> None:
    email = await sign_up(app.test_client(), "Ada")
    response = await _log_in(app.test_client(use_cookies=False), email, PUBLIC_HTTPS)
    assert response.status_code == 303
    assert "Secure" not in _cookie(response, "chatin_auth")


@BEHIND_ONE_PROXY
async def test_behind_a_proxy_failed_log_ins_count_per_client_address(app: Quart) -> None:
    client = app.test_client()  # every request comes from the proxy's own address
    statuses = [await _failed_log_in(client, "203.0.113.1") for _ in range(10)]
    assert statuses == [401] * 10
    # The proxy appends the address it saw: an entry the client forged before it is ignored.
    assert await _failed_log_in(client, "203.0.113.99, 203.0.113.1") == 429
    assert await _failed_log_in(client, "203.0.113.2") == 401


@DIRECT
async def test_without_trusted_proxies_a_forged_address_does_not_dodge_the_throttle(
    app: Quart,
) -> None:
    client = app.test_client()
    statuses = [await _failed_log_in(client, f"203.0.113.{n}") for n in range(1, 11)]
    assert statuses == [401] * 10
    assert await _failed_log_in(client, "203.0.113.50") == 429
