"""Request bodies: a larger limit only for multipart POSTs to a view marked `takes_files`,
so no other route, method or kind of body gains it."""

from __future__ import annotations

from quart import Quart

from chatin.bodies import MAX_REQUEST_BYTES, limit_for, takes_files

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
