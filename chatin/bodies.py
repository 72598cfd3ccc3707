"""How large a request body may be: 64 KiB everywhere, more only on the upload routes.

Quart applies one `MAX_CONTENT_LENGTH` to the whole app and fixes it when the request is
made, before any view (or `before_request`) runs, while the body is already streaming in:
raising it later would come too late. So the request class picks the limit from the method
and path as it is made. A `Content-Length` over it is refused (413) before a byte is read;
a body that grows past it without one is cut off at the limit.
"""

from __future__ import annotations

import re
from typing import Any

from quart.wrappers import Request

MAX_REQUEST_BYTES = 64 * 1024


class SizedRequest(Request):
    """A request whose body limit depends on its route (`large_bodies`: POST path pattern,
    bytes), so an upload route can take megabytes while every other one takes 64 KiB."""

    large_bodies: tuple[tuple[re.Pattern[str], int], ...] = ()

    def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
        limit = self.limit_for(method, path)
        kwargs["max_content_length"] = limit
        super().__init__(method, scheme, path, *args, **kwargs)
        self.max_content_length = limit  # the form parser's bound too

    @classmethod
    def limit_for(cls, method: str, path: str) -> int:
        if method == "POST":
            for pattern, limit in cls.large_bodies:
                if pattern.fullmatch(path):
                    return limit
        return MAX_REQUEST_BYTES


def sized_requests(large_bodies: dict[str, int]) -> type[SizedRequest]:
    """A request class for one app: POSTs to paths matching a pattern may carry its bytes."""
    patterns = tuple((re.compile(pattern), limit) for pattern, limit in large_bodies.items())
    return type("AppRequest", (SizedRequest,), {"large_bodies": patterns})
