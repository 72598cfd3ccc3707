"""Files in messages: each file is its own message, its bytes in the store (`storage`).

A send of several files is one transaction: every message, its attachment row and all the
file's parts commit together or not at all, in the same statement path as a text message
(`Conversation.post`: membership, blocks, the send limit and `client_id`), so a retried
upload is stored once and a failed or cut one leaves nothing.
"""

from __future__ import annotations

import io
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote

import asyncpg
from tortoise import fields
from tortoise.models import Model

from chatin import db, images
from chatin.models.accounts import User
from chatin.models.errors import TooBig
from chatin.models.messages import Message
from chatin.models.visibility import current, visible
from chatin.storage import STORE

MAX_NAME_CHARS = 255
FALLBACK_NAME = "file"
# Control characters, and the marks that reorder text (a name "evil\u202efdp.exe" shows as
# "evilexe.pdf"): a name shows what it is.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FILES_LOCK = 0x66696C65  # "file": one person's uploads commit one at a time (their quota)


class Attachment(Model):
    id = fields.BigIntField(primary_key=True)
    message: fields.OneToOneNullableRelation[Message] = fields.OneToOneField(
        "chatin.Message",
        related_name="attachment",
        on_delete=fields.CASCADE,
        null=True,
        description="set in the transaction that stores the file",
    )
    token = fields.CharField(max_length=32, unique=True, description="random: the file's URL")
    name = fields.CharField(max_length=MAX_NAME_CHARS)
    mime = fields.CharField(max_length=100, description="detected from the bytes")
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    width = fields.IntField(null=True, description="the preview's, for <img> before it loads")
    height = fields.IntField(null=True)
    preview_size = fields.IntField(default=0, description="0: no preview (not a safe image)")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attachments"

    @property
    def is_image(self) -> bool:
        return images.is_image(self.mime)

    @property
    def has_preview(self) -> bool:
        return self.preview_size > 0

    @property
    def url(self) -> str:
        return f"/files/{self.token}/{quote(self.name, safe='')}"

    @property
    def preview_url(self) -> str:
        return f"/previews/{self.token}.webp"

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'

    @property
    def size_text(self) -> str:
        return size_text(self.size)


class AttachmentPart(Model):
    """A fixed-size slice (storage.PART_BYTES) of a file or of its preview."""

    id = fields.BigIntField(primary_key=True)
    attachment: fields.ForeignKeyRelation[Attachment] = fields.ForeignKeyField(
        "chatin.Attachment", related_name="parts", on_delete=fields.CASCADE
    )
    preview = fields.BooleanField()
    n = fields.IntField()
    data = fields.BinaryField()

    class Meta:
        table = "attachment_parts"
        unique_together = (("attachment", "preview", "n"),)


@dataclass
class Upload:
    """A received file, waiting in a temporary file to be stored."""

    name: str
    mime: str
    size: int
    sha256: str
    body: BinaryIO
    preview: images.Picture | None = None


def size_text(size: int) -> str:
    """Sizes as people read them: 900 bytes, 12 KB, 3.4 MB."""
    if size < 1_000:
        return f"{size} bytes"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if size < scale * 1_000 or unit == "GB":
            shown = size / scale
            return f"{shown:.1f} {unit}" if shown < 10 else f"{shown:.0f} {unit}"
    raise AssertionError("unreachable")


def clean_name(raw: str) -> str:
    """The file name as stored and shown: no folders, nothing hidden, bounded."""
    name = unicodedata.normalize("NFC", re.split(r"[/\\]", raw)[-1])
    name = _HIDDEN.sub("", name).strip().lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        _stem, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return name or FALLBACK_NAME


def client_ids(first: uuid.UUID, count: int) -> list[uuid.UUID]:
    """One client_id per file of a send, derived from the form's: a resent form (JS off)
    names the same messages again, so it is stored once."""
    return [first, *(uuid.uuid5(first, f"file-{n}") for n in range(1, count))]


async def post_files(
    conversation: Any,
    author: User,
    caption: str,
    client_id: uuid.UUID,
    uploads: list[Upload],
    user_bytes: int,
    limited: bool = True,
    reply_to: int | None = None,
) -> list[Message]:
    """Store each upload as its own message (the caption and the reply on the first), all
    or nothing.

    `conversation` is a `Conversation` (its post checks membership, blocks and the send
    limit); TooBig when the author's files would pass `user_bytes`.
    """
    ids = client_ids(client_id, len(uploads))
    stored = await _messages_of(author, ids)
    if stored:  # this send was stored before: a retry stores nothing
        return stored
    try:
        return await _store(
            conversation, author, caption, ids, uploads, user_bytes, limited, reply_to
        )
    except asyncpg.UniqueViolationError:  # a twin of this retry committed first
        return await _messages_of(author, ids)


async def _store(
    conversation: Any,
    author: User,
    caption: str,
    ids: list[uuid.UUID],
    uploads: list[Upload],
    user_bytes: int,
    limited: bool,
    reply_to: int | None,
) -> list[Message]:
    messages = []
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1, $2)", _FILES_LOCK, author.id)
        used = (await db.fetch(_USED_SQL, author.id))[0]["used"]
        if used + sum(upload.size for upload in uploads) > user_bytes:
            raise TooBig
        for n, (upload, client_id) in enumerate(zip(uploads, ids, strict=True)):
            attachment = await _save(upload)
            # The conversation is locked only from here to commit, not while parts are written.
            first = n == 0
            message = await conversation.post(
                author,
                caption if first else "",
                client_id,
                limited,
                reply_to=reply_to if first else None,
                attached=True,
            )
            await db.execute(
                "UPDATE attachments SET message_id = $1 WHERE id = $2", message.id, attachment.id
            )
            message.file = attachment
            messages.append(message)
    return messages


_USED_SQL = """
SELECT coalesce(sum(a.size), 0)::bigint AS used
FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.author_id = $1
"""

_INSERT_SQL = """
INSERT INTO attachments (token, name, mime, size, sha256, width, height, preview_size,
                         created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
RETURNING *
"""


async def _save(upload: Upload) -> Attachment:
    picture = upload.preview
    rows = await db.fetch(
        _INSERT_SQL,
        secrets.token_urlsafe(16),
        upload.name,
        upload.mime,
        upload.size,
        upload.sha256,
        picture.width if picture else None,
        picture.height if picture else None,
        len(picture.data) if picture else 0,
    )
    attachment = Attachment._init_from_db(**rows[0])
    await STORE.put(attachment.id, False, upload.body)
    if picture is not None:
        await STORE.put(attachment.id, True, io.BytesIO(picture.data))
    return attachment


async def _messages_of(author: User, ids: list[uuid.UUID]) -> list[Message]:
    found = await Message.filter(author_id=author.id, client_id__in=ids).order_by("id")
    await attach_files(found)
    return list(found)


async def attach_files(messages: Iterable[Message]) -> None:
    """Give each message its attachment (`message.file`), in one query for all."""
    by_id = {message.id: message for message in messages}
    if not by_id:
        return
    rows = await db.fetch("SELECT * FROM attachments WHERE message_id = ANY($1)", list(by_id))
    for row in rows:
        by_id[row["message_id"]].file = Attachment._init_from_db(**row)


# The file behind a token, if the viewer may see its message now: a member who hasn't
# blocked it or left, in a conversation nobody blocked, the message not deleted and within
# the viewer's history (models.visibility).
_VISIBLE_SQL = f"""
SELECT a.* FROM attachments a
JOIN messages m ON m.id = a.message_id AND m.deleted_at IS NULL
JOIN memberships me ON me.conversation_id = m.conversation_id AND me.user_id = $2
  AND {current("me")} AND {visible("m", "me")}
WHERE a.token = $1 AND NOT EXISTS (
  SELECT 1 FROM memberships b WHERE b.conversation_id = m.conversation_id AND b.state = 'blocked')
"""


async def visible_file(viewer_id: int, token: str) -> Attachment | None:
    rows = await db.fetch(_VISIBLE_SQL, token, viewer_id)
    return Attachment._init_from_db(**rows[0]) if rows else None
