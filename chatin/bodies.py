"""How large a request body may be: 64 KiB everywhere, more only for a view that says so.

Quart applies one `MAX_CONTENT_LENGTH` to the whole app and fixes it when the request is
made, before any view (or `before_request`) runs, while the body is already streaming in:
raising it later would come too late. So the connection picks the limit as it makes the
request: a multipart POST to a view marked with `takes_files` gets that view's limit, and
nothing else does (a text post to the same route still can't grow past 64 KiB, which matters
because Quart reads an ordinary form whole into memory). A `Content-Length` over the limit
is refused (413) before a byte is read; a body that grows past it without one is cut off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

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
    body arrives (also the bound of Quart's form parser)."""

    def _create_request_from_scope(self, send: Any) -> Request:
        made = super()._create_request_from_scope(send)
        limit = limit_for(self.app, made.method, made.mimetype, made.path)
        if limit != MAX_REQUEST_BYTES:
            made.body = made.body_class(made.content_length, limit)
            made.max_content_length = limit
        return made
