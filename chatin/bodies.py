"""How Quart's HTTP connection runs a request here: how large its body may be (64 KiB
everywhere, more only for a view that says so), and in one task fewer.

Quart applies one `MAX_CONTENT_LENGTH` to the whole app and fixes it when the request is
made, before any view (or `before_request`) runs, while the body is already streaming in:
raising it later would come too late. So the connection picks the limit as it makes the
request: a multipart POST to a view marked with `takes_files` gets that view's limit, and
nothing else does (a text post to the same route still can't grow past 64 KiB, which matters
because Quart reads an ordinary form whole into memory). A `Content-Length` over the limit
is refused (413) before a byte is read; a body that grows past it without one is cut off.

Quart 0.22 answers each request in a task of its own beside the task that receives the
body, and waits for either with `asyncio.wait`: two tasks and a wait per request on top
of the one Hypercorn already runs it in (about 6 % of a message POST's CPU,
bench/RESULTS.md). Here the answer runs in Hypercorn's task; the receiver, as before,
stops it when the client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart import Quart, Request
from quart.asgi import ASGIHTTPConnection
from werkzeug.exceptions import HTTPException

MAX_REQUEST_BYTES = 64 * 1024
_View = TypeVar("_View", bound=Callable[..., Any])


def takes_files(limit: Callable[[Quart], int]) -> Callable[[_View], _View]:
    """Mark a view whose multipart posts may carry `limit(app)` bytes (read per request,
    so a limit from the app's settings applies)."""

    def mark(view: _View) -> _View:
        view.body_limit = limit  # type: ignore[attr-defined]
        return view

    return mark


def limit_for(app: Quart, method: str, mimetype: str, path: str) -> int:
    """The body limit of a request, decided before routing it."""
    if method != "POST" or mimetype != "multipart/form-data":
        return MAX_REQUEST_BYTES
    try:
        endpoint, _ = app.url_map.bind("").match(path, method="POST")
    except HTTPException:
        return MAX_REQUEST_BYTES
    limit = getattr(app.view_functions.get(endpoint), "body_limit", None)
    return limit(app) if limit is not None else MAX_REQUEST_BYTES


class SizedConnection(ASGIHTTPConnection):
    """Quart's HTTP connection, giving each request its own body limit before any of the
    body arrives (also the bound of Quart's form parser), and answering in the task it is
    called in."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        """Quart's own __call__ (quart/asgi.py, 0.22.0; a test compares its source), with
        the answer in this task: when the receiver ends first (the client disconnected,
        or it failed), the answer is cancelled, and that cancellation ends here as Quart's
        ends in its own task; a failed receiver's error is raised as Quart raises it."""
        request = self._create_request_from_scope(send)
        receiver = asyncio.ensure_future(self.handle_messages(request, receive))
        answering = asyncio.current_task()
        assert answering is not None

        def receiver_ended(_: asyncio.Future[None]) -> None:
            answering.cancel()

        receiver.add_done_callback(receiver_ended)
        try:
            await self.handle_request(request, send)
        except asyncio.CancelledError:
            if not receiver.done() or answering.uncancel() > 0:
                raise  # cancelled from outside (the server stopping): stop
        finally:
            receiver.remove_done_callback(receiver_ended)
            receiver.cancel()
        failed = receiver.done() and not receiver.cancelled() and receiver.exception()
        if failed:
            raise failed

    def _create_request_from_scope(self, send: Any) -> Request:
        made = super()._create_request_from_scope(send)
        limit = limit_for(self.app, made.method, made.mimetype, made.path)
        if limit != MAX_REQUEST_BYTES:
            made.body = made.body_class(made.content_length, limit)
            made.max_content_length = limit
        return made
