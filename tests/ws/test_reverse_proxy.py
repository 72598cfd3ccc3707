"""The socket's Origin check behind a TLS proxy: with CHATIN_TRUSTED_PROXIES=1 the browser's
https origin passes (the test client and a real Hypercorn); with 0, forged forwarded headers
don't make a foreign origin pass."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from quart.testing import WebsocketResponseError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chatin.config import Settings
from tests.chatting import WAIT, Person, open_tab
from tests.conftest import parse, unique_email
from tests.server import Server, reachable_folder, running_server

PUBLIC_ORIGIN = "https://chat.example"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example"}
BEHIND_ONE_PROXY = pytest.mark.parametrize("settings", [1], indirect=True, ids=["one proxy"])
DIRECT = pytest.mark.parametrize("settings", [0], indirect=True, ids=["no proxy"])


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings.for_tests(database_url, tmp_path, trusted_proxies=request.param)


async def _refused_with(alice: Person, headers: dict[str, str]) -> int:
    async with alice.client.websocket("/ws", headers=headers) as ws:
        with pytest.raises(WebsocketResponseError) as refused:
            async with asyncio.timeout(WAIT):
                await ws.receive()
        assert not ws.accepted
        return refused.value.response.status_code


@BEHIND_ONE_PROXY
async def test_behind_a_proxy_the_public_https_origin_opens_a_socket(alice: Person) -> None:
    headers = FORWARDED | {"Origin": PUBLIC_ORIGIN}
    async with alice.client.websocket("/ws", headers=headers) as ws:
        await open_tab(alice, ws, "/")
        assert ws.accepted


@BEHIND_ONE_PROXY
async def test_behind_a_proxy_the_apps_inner_origin_is_refused(alice: Person) -> None:
    """The browser is on https://chat.example; http://localhost is someone else."""
    assert await _refused_with(alice, FORWARDED | {"Origin": "http://localhost"}) == 403


@DIRECT
async def test_without_trusted_proxies_forged_headers_do_not_pass_a_foreign_origin(
    alice: Person,
) -> None:
    assert await _refused_with(alice, FORWARDED | {"Origin": PUBLIC_ORIGIN}) == 403


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie"
    return found[0]


async def _sign_up_over_https(http: httpx.AsyncClient) -> str:
    """Sign up as a browser behind the proxy would; the auth cookie's `name=value`. The
    cookies are Secure, so they go back by hand (httpx keeps them for https only)."""
    page = await http.get("/signup", headers=FORWARDED)
    session = _set_cookie(page, "chatin_session")
    assert "Secure" in session
    token = str(parse(page.text).select_one("input[name=csrf_token]")["value"])
    form = {"display_name": "Ada", "email": unique_email(), "password": "correct horse"}
    headers = FORWARDED | {"Cookie": session.split(";")[0]}
    signed_up = await http.post("/signup", data=form | {"csrf_token": token}, headers=headers)
    assert signed_up.status_code == 303
    auth = _set_cookie(signed_up, "chatin_auth")
    assert "Secure" in auth
    return auth.split(";")[0]


async def test_real_server_behind_a_proxy_takes_the_public_origin() -> None:
    with reachable_folder() as folder:
        running = running_server(folder / "data", env={"CHATIN_TRUSTED_PROXIES": "1"})
        server: Server = await asyncio.to_thread(running.__enter__)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
                cookie = await _sign_up_over_https(http)
            ws_url = server.url.replace("http://", "ws://") + "/ws"
            headers = FORWARDED | {"Cookie": cookie}
            async with connect(ws_url, origin=PUBLIC_ORIGIN, additional_headers=headers) as ws:
                assert ws.response is not None and ws.response.status_code == 101
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url, origin=server.url, additional_headers=headers)
            assert refused.value.response.status_code == 403
        finally:
            await asyncio.to_thread(running.__exit__, None, None, None)
