"""Receiving files: a multipart body streamed to temporary files, within the limits.

Quart applies one body limit to the whole app (64 KiB) and its form parser reads the whole
body before a view can judge it. A view marked `streams_body` gets its own limit
(`bodies.takes_files`), refuses on `Content-Length` before reading, and reads its body here,
part by part: each file goes to a temporary file while its size, hash and first bytes are
taken, so a 25 MB upload never sits in memory, and one over a limit is refused the moment
it passes it. Previews are made afterwards in a thread, one at a time per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from quart import Quart, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from chatin import bodies, images
from chatin.auth import csrf_checker
from chatin.config import FileLimits
from chatin.models import Upload, clean_name

UPLOADS = "chatin.uploads"
FIELD_BYTES = 64 * 1024  # a text field (the caption, the token): the app's usual body limit
FORM_OVERHEAD_BYTES = 256 * 1024  # part headers and text fields beside the files
RETRY_AFTER_SECONDS = 5
# A whole send must arrive within this (250 MB at about 3.5 Mbit/s): a client trickling bytes
# can't hold one of the worker's few upload slots for ever.
RECEIVE_SECONDS = 600
FILES_FIELD = "files"
_View = TypeVar("_View", bound=Callable[..., Any])


class Refused(Exception):
    """The upload can't be taken: `status` and a sentence for the person."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class Received:
    fields: dict[str, str] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)


class Uploads:
    """This worker's uploads: how many are being received, and the one preview thread."""

    def __init__(self, limits: FileLimits) -> None:
        self.limits = limits
        self.in_flight = 0
        self.previews = asyncio.Semaphore(1)  # a decode can take ~100 MB: one at a time

    @property
    def max_body_bytes(self) -> int:
        return self.limits.file_bytes * self.limits.files_per_send + FORM_OVERHEAD_BYTES

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.in_flight >= self.limits.uploads_in_flight:
            raise Refused(429, "Too many uploads right now. Try again in a few seconds.")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def streams_body(view: _View) -> _View:
    """Mark a view that reads its own multipart body (uploads): it gets the upload body
    limit instead of the app's (`bodies.takes_files`), and checks the CSRF token itself
    (`csrf_checker`), since `check_csrf` would have to buffer the whole form to find it."""
    view.streams_body = True  # type: ignore[attr-defined]
    return bodies.takes_files(lambda app: app.extensions[UPLOADS].max_body_bytes)(view)


def install(app: Quart, limits: FileLimits) -> None:
    app.extensions[UPLOADS] = Uploads(limits)


def this_worker() -> Uploads:
    return current_app.extensions[UPLOADS]


@contextlib.asynccontextmanager
async def received() -> AsyncIterator[Received]:
    """The request's fields and files (with previews); the temporary files close after."""
    uploads = this_worker()
    length = request.content_length
    if length is None:
        raise Refused(411, "The upload must say how big it is.")
    if length > uploads.max_body_bytes:
        raise Refused(413, _too_big(uploads.limits))
    async with uploads.slot():
        form = Received()
        try:
            try:
                async with asyncio.timeout(RECEIVE_SECONDS):
                    await _read(form, uploads.limits)
            except TimeoutError:
                raise Refused(408, "The upload took too long. Try again.") from None
            for upload in form.uploads:
                if images.is_image(upload.mime):
                    upload.body.seek(0)
                    async with uploads.previews:
                        upload.preview = await asyncio.to_thread(images.preview, upload.body)
            yield form
        finally:
            for upload in form.uploads:
                upload.body.close()


def _too_big(limits: FileLimits) -> str:
    return f"Files can be at most {limits.file_bytes // 1_000_000} MB each."


class _Part:
    """The part being received: a text field in memory or a file on disk."""

    def __init__(self, event: Field | File) -> None:
        self.name = event.name
        self.filename = event.filename if isinstance(event, File) else None
        self.text = bytearray()
        self.size = 0
        self.head = bytearray()
        self.hash = hashlib.sha256()
        self.file: IO[bytes] | None = None

    def write(self, data: bytes, limits: FileLimits) -> None:
        self.size += len(data)
        if self.filename is None:
            if self.size > FIELD_BYTES:
                raise Refused(413, "A text field of this form is too long.")
            self.text += data
            return
        if self.size > limits.file_bytes:
            raise Refused(413, _too_big(limits))
        if len(self.head) < images.HEAD_BYTES:
            self.head += data[: images.HEAD_BYTES - len(self.head)]
        self.hash.update(data)
        if self.file is None:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the upload
        self.file.write(data)


async def _read(form: Received, limits: FileLimits) -> None:
    boundary = parse_options_header(request.headers.get("Content-Type", ""))[1].get("boundary")
    if not boundary:
        raise Refused(400, "This upload is not a form.")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_parts=limits.files_per_send + 16)
    part: _Part | None = None
    matches = await csrf_checker()
    trusted = matches(request.headers.get("X-CSRF-Token"))
    try:
        async for chunk in request.body:
            decoder.receive_data(chunk)
            while not isinstance(event := decoder.next_event(), (NeedData, Epilogue)):
                if isinstance(event, (Field, File)):
                    if isinstance(event, File) and not trusted:
                        raise Refused(403, "This form has expired. Reload the page and try again.")
                    part = _Part(event)
                elif isinstance(event, Data) and part is not None:
                    part.write(event.data, limits)
                    if not event.more_data:
                        trusted = _finish(part, form, limits, matches) or trusted
    except (ValueError, HTTPException) as bad:
        raise Refused(400, "This upload is not a form we understand.") from bad
    except Refused:
        _discard(part)
        raise
    if not trusted:
        raise Refused(403, "This form has expired. Reload the page and try again.")


def _finish(
    part: _Part, form: Received, limits: FileLimits, matches: Callable[[str], bool]
) -> bool:
    """File the finished part; True when it was a valid CSRF token."""
    if part.filename is None:
        value = part.text.decode("utf-8", "replace")
        form.fields.setdefault(part.name, value)
        return part.name == "csrf_token" and matches(value)
    if part.name != FILES_FIELD or (part.size == 0 and not part.filename):
        _discard(part)  # no file chosen: browsers still send an empty part
        return False
    if part.size == 0 or part.file is None:
        raise Refused(400, f"“{clean_name(part.filename)}” is empty.")
    if len(form.uploads) >= limits.files_per_send:
        _discard(part)
        raise Refused(400, f"At most {limits.files_per_send} files at a time.")
    form.uploads.append(
        Upload(
            name=clean_name(part.filename),
            mime=images.detect(bytes(part.head)),
            size=part.size,
            sha256=part.hash.hexdigest(),
            body=part.file,
        )
    )
    return False


def _discard(part: _Part | None) -> None:
    if part is not None and part.file is not None:
        part.file.close()
