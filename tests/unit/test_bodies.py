"""Request bodies: a larger limit only for multipart POSTs to a view marked `takes_files`,
so no other route, method or kind of body gains it; and the connection that answers in
its caller's task still stops when the client goes away."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
from quart import Quart, request
from quart.asgi import ASGIHTTPConnection

from chatin.bodies import MAX_REQUEST_BYTES, SizedConnection, limit_for, takes_files

UPLOAD = 10 * 1024 * 1024
MULTIPART = "multipart/form-data"


def app_with_an_upload_route() -> Quart:
    app = Quart(__name__)

    @app.post("/profile/picture")
    @takes_files(lambda _app: UPLOAD)
    async def upload() -> str:
        return ""

    @app.post("/profile/name")
    async def rename() -> str:
        return ""

    return app


def test_only_multipart_posts_to_a_marked_view_get_its_limit() -> None:
    app = app_with_an_upload_route()
    assert limit_for(app, "POST", MULTIPART, "/profile/picture") == UPLOAD
    for method, mimetype, path in [
        ("GET", MULTIPART, "/profile/picture"),
        ("POST", "application/x-www-form-urlencoded", "/profile/picture"),
        ("POST", MULTIPART, "/profile/picture/../name"),
        ("POST", MULTIPART, "/x/profile/picture"),
        ("POST", MULTIPART, "/profile/name"),
    ]:
        assert limit_for(app, method, mimetype, path) == MAX_REQUEST_BYTES, (method, path)


# Quart 0.22.0's ASGIHTTPConnection.__call__, which SizedConnection.__call__ restates with
# the answer in the caller's task: a Quart that changes it must be read again.
QUART_CALL_SHA256 = "ebafa58faeb172a40bd4a5e2c569d71ce12fed5101d4580aa0575e69d8a5efce"


def test_the_restated_quart_code_is_still_quarts() -> None:
    source = inspect.getsource(ASGIHTTPConnection.__call__)
    assert hashlib.sha256(source.encode()).hexdigest() == QUART_CALL_SHA256


def app_with_a_slow_route(started: asyncio.Event, cancelled: asyncio.Event) -> Quart:
    app = Quart(__name__)
    app.asgi_http_class = SizedConnection

    @app.post("/slow")
    async def slow() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ""

    @app.post("/echo")
    async def echo() -> str:
        return (await request.form)["word"]

    return app


def scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }


async def test_an_answer_is_sent_whole() -> None:
    app = app_with_a_slow_route(asyncio.Event(), asyncio.Event())
    body = b"word=hello"
    messages = asyncio.Queue[dict[str, Any]]()
    await messages.put({"type": "http.request", "body": body, "more_body": False})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await SizedConnection(app, scope("/echo", body))(messages.get, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"hello"
    assert sent[-1]["more_body"] is False


async def slow_request() -> tuple[asyncio.Task[None], asyncio.Queue[Any], asyncio.Event]:
    """A request whose view is running and waits forever: (its task, what it receives
    next, set when the view is cancelled)."""
    started, cancelled = asyncio.Event(), asyncio.Event()
    app = app_with_a_slow_route(started, cancelled)
    messages = asyncio.Queue[dict[str, Any]]()
    await messages.put({"type": "http.request", "body": b"", "more_body": False})

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing is sent: the answer never comes")

    connection = SizedConnection(app, scope("/slow", b""))
    answering = asyncio.create_task(connection(messages.get, send))  # type: ignore[arg-type]
    await asyncio.wait_for(started.wait(), 5)
    return answering, messages, cancelled


async def test_a_client_that_goes_away_cancels_the_answer_only() -> None:
    answering, messages, cancelled = await slow_request()
    await messages.put({"type": "http.disconnect"})
    await asyncio.wait_for(answering, 5)  # ends quietly, as Quart's own task does
    assert cancelled.is_set() and not answering.cancelled()


async def test_a_server_that_stops_cancels_the_whole_request() -> None:
    answering, _, cancelled = await slow_request()
    answering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await answering
    assert cancelled.is_set()
