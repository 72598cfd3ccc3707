"""Request bodies: the upload routes' larger limit is chosen from the method and the exact
path, so no other route (or a GET) gains it."""

from __future__ import annotations

from chatin.bodies import MAX_REQUEST_BYTES, sized_requests

UPLOAD = 10 * 1024 * 1024


def test_only_posts_to_an_upload_path_get_its_limit() -> None:
    requests = sized_requests({"/profile/picture": UPLOAD, r"/c/\d+/files": 2 * UPLOAD})
    assert requests.limit_for("POST", "/profile/picture") == UPLOAD
    assert requests.limit_for("POST", "/c/7/files") == 2 * UPLOAD
    for method, path in [
        ("GET", "/profile/picture"),
        ("POST", "/profile/picture/remove"),
        ("POST", "/profile/picture/../name"),
        ("POST", "/x/profile/picture"),
        ("POST", "/c/7/files/more"),
        ("POST", "/profile/name"),
    ]:
        assert requests.limit_for(method, path) == MAX_REQUEST_BYTES, (method, path)
