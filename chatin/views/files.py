"""Files in messages: the upload half of a send, and downloads of files and previews.

Every download asks the database whether this viewer may see that message now (a member
who hasn't blocked it, in a conversation nobody blocked), so a stranger, someone blocked
and a missing file all get the same 404. Files are served by this code, not Quart's
`send_file` (which marks responses public and guesses the type from the name): only the
four image types are ever inline, everything else is an attachment of an opaque type, and
the bytes are streamed from the store a part at a time.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from quart import Blueprint, Response, current_app, request
from werkzeug.http import parse_range_header

from chatin.auth import current_viewer
from chatin.models import (
    Attachment,
    Conversation,
    Message,
    NotFound,
    User,
    post_files,
    visible_file,
)
from chatin.storage import STORE
from chatin.uploads import Received

blueprint = Blueprint("files", __name__)

CACHE_SECONDS = 365 * 24 * 3600  # a file's URL never names other bytes
OPAQUE_TYPE = "application/octet-stream"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}")


async def post_received(
    viewer: User, conversation_id: int, form: Received, limited: bool, reply_to: int | None
) -> list[Message]:
    """Store a received multipart send: each file its own message, the caption and the reply
    on the first. Raises what `post_files` raises, and ValueError for a missing or malformed
    client_id."""
    client_id = uuid.UUID(form.fields.get("client_id", ""))
    caption = Message.clean(form.fields.get("body", ""), required=False)
    limits = current_app.extensions["settings"].files
    conversation = Conversation.handle(conversation_id)
    return await post_files(
        conversation, viewer, caption, client_id, form.uploads, limits.user_bytes, limited, reply_to
    )


@blueprint.get("/files/<token>/<name>")
async def download(token: str, name: str) -> Response:
    attachment = await _visible_file(token)
    if attachment.name != name:
        raise NotFound
    return _serve(attachment, preview=False)


@blueprint.get("/previews/<token>.webp")
async def preview(token: str) -> Response:
    attachment = await _visible_file(token)
    if not attachment.has_preview:
        raise NotFound
    return _serve(attachment, preview=True)


async def _visible_file(token: str) -> Attachment:
    viewer = await current_viewer()
    found = None
    if viewer is not None and _TOKEN.fullmatch(token):
        found = await visible_file(viewer.id, token)
    if found is None:  # logged out, a stranger, blocked, deleted, or no such file: one answer
        raise NotFound
    return found


def _serve(attachment: Attachment, preview: bool) -> Response:
    size = attachment.preview_size if preview else attachment.size
    etag = f'"p{attachment.sha256}"' if preview else attachment.etag
    headers = _file_headers(attachment, preview, etag)
    if etag in _tags(request.headers.get("If-None-Match", "")):
        return Response(b"", status=304, headers=headers)
    start, end, status = _range(size, etag)
    if status == 416:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(b"", status=416, headers=headers)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    body = STORE.read(attachment.id, preview, start, end)
    return Response(body, status=status, headers=headers, content_type=headers["Content-Type"])


def _file_headers(attachment: Attachment, preview: bool, etag: str) -> dict[str, str]:
    inline = preview or attachment.is_image
    name = f"{attachment.name}.webp" if preview else attachment.name
    return {
        "Content-Type": "image/webp" if preview else attachment.mime if inline else OPAQUE_TYPE,
        "Content-Disposition": disposition("inline" if inline else "attachment", name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": f"private, max-age={CACHE_SECONDS}, immutable",
        "Accept-Ranges": "bytes",
        "ETag": etag,
    }


def disposition(kind: str, name: str) -> str:
    """`kind; filename=…` with an ASCII stand-in for old clients and the exact UTF-8 name
    (RFC 6266 / 5987) for the rest."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\%;]', "_", name).strip() or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _range(size: int, etag: str) -> tuple[int, int, int]:
    """(start, end, status): the whole file (200), one range of it (206) or none (416).
    Several ranges, or an If-Range for other bytes, get the whole file."""
    asked = parse_range_header(request.headers.get("Range"))
    if_range = request.headers.get("If-Range")
    if asked is None or asked.units != "bytes" or len(asked.ranges) != 1:
        return 0, size, 200
    if if_range is not None and if_range.strip() != etag:
        return 0, size, 200
    span = asked.range_for_length(size)
    if span is None:
        return 0, 0, 416
    return span[0], span[1], 206
