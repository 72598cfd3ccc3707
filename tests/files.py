"""Sending files as a browser does: a multipart form of the composer's fields and files."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace

from PIL import Image
from quart import Quart
from quart.wrappers import Response

from chatin.config import FileLimits
from chatin.models import Attachment, AttachmentPart, Message
from chatin.uploads import UPLOADS
from tests.chatting import Person

BOUNDARY = "----chatinTestBoundary7MA4YWxkTrZu0gW"
SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
    b'<script>document.title="ran"</script><rect width="40" height="40"/></svg>'
)
HTML = b"<!doctype html><title>x</title><script>document.title='ran'</script>"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def picture(size: tuple[int, int] = (1600, 900), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, fmt)
    return out.getvalue()


def multipart(
    fields: dict[str, str], files: list[tuple[str, bytes]]
) -> tuple[bytes, dict[str, str]]:
    """The body and headers a browser sends for the composer (fields first, as in the DOM)."""
    out = bytearray()
    for name, value in fields.items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for filename, data in files:
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(out)),
    }
    return bytes(out), headers


async def send_files(
    who: Person,
    conversation: int,
    files: list[tuple[str, bytes]],
    caption: str = "",
    client_id: str | None = None,
    htmx: bool = True,
    csrf: str | None = None,
    reply_to: int | None = None,
) -> Response:
    fields = {
        "csrf_token": who.csrf if csrf is None else csrf,
        "client_id": client_id or str(uuid.uuid4()),
        "body": caption,
    }
    if reply_to is not None:
        fields["reply_to"] = str(reply_to)
    body, headers = multipart(fields, files)
    if htmx:
        headers["HX-Request"] = "true"
    return await who.client.post(f"/c/{conversation}/messages", data=body, headers=headers)


def set_limits(app: Quart, **changes: int) -> FileLimits:
    """Lower the file limits of a running app (settings and this worker's uploads)."""
    settings = app.extensions["settings"]
    limits = replace(settings.files, **changes)
    app.extensions["settings"] = replace(settings, files=limits)
    app.extensions[UPLOADS].limits = limits
    return limits


async def stored() -> tuple[int, int, int]:
    """Messages, attachments and parts in the database."""
    return (
        await Message.all().count(),
        await Attachment.all().count(),
        await AttachmentPart.all().count(),
    )
