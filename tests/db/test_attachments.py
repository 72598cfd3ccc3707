"""File rules in the model verb: all or nothing in the send's transaction, parts of a fixed
size read back byte for byte, a person's quota, and deletion taking the bytes along."""

from __future__ import annotations

import io
import os
import uuid

import pytest
from quart import Quart

from chatin.models import (
    Attachment,
    AttachmentPart,
    Conversation,
    Message,
    NotFound,
    TooBig,
    Upload,
    User,
    post_files,
)
from chatin.storage import PART_BYTES, STORE
from tests.db.conftest import person

NO_QUOTA = 10**12


def upload(data: bytes, name: str = "blob.bin") -> Upload:
    return Upload(
        name=name,
        mime="application/octet-stream",
        size=len(data),
        sha256="0" * 64,
        body=io.BytesIO(data),
    )


async def read_back(attachment: Attachment, start: int = 0, end: int | None = None) -> bytes:
    end = attachment.size if end is None else end
    return b"".join([part async for part in STORE.read(attachment.id, False, start, end)])


@pytest.fixture
async def chat(app: Quart) -> tuple[User, User, Conversation]:
    alice, bob = await person("Alice"), await person("Bob")
    conversation = await Conversation.start_direct(alice, bob.email)
    await conversation.accept(bob)
    return alice, bob, conversation


async def test_parts_are_fixed_size_and_read_back_byte_for_byte(
    chat: tuple[User, User, Conversation],
) -> None:
    alice, _, conversation = chat
    data = os.urandom(2 * PART_BYTES + 1234)
    [message] = await post_files(conversation, alice, "", uuid.uuid4(), [upload(data)], NO_QUOTA)
    sizes = [len(part.data) for part in await AttachmentPart.filter().order_by("n")]
    assert sizes == [PART_BYTES, PART_BYTES, 1234]
    assert await read_back(message.file) == data
    assert (
        await read_back(message.file, PART_BYTES - 10, PART_BYTES + 10)
        == data[PART_BYTES - 10 : PART_BYTES + 10]
    )


async def test_a_refused_send_leaves_no_rows_at_all(
    chat: tuple[User, User, Conversation],
) -> None:
    _, _, conversation = chat
    stranger = await person("Carol")
    with pytest.raises(NotFound):
        await post_files(
            conversation, stranger, "hi", uuid.uuid4(), [upload(b"a"), upload(b"b")], NO_QUOTA
        )
    assert await Attachment.all().count() == await AttachmentPart.all().count() == 0
    assert await Message.all().count() == 0


async def test_the_quota_counts_what_the_person_already_stored(
    chat: tuple[User, User, Conversation],
) -> None:
    alice, bob, conversation = chat
    await post_files(conversation, alice, "", uuid.uuid4(), [upload(b"x" * 600)], 1_000)
    with pytest.raises(TooBig):
        await post_files(conversation, alice, "", uuid.uuid4(), [upload(b"y" * 500)], 1_000)
    await post_files(conversation, bob, "", uuid.uuid4(), [upload(b"z" * 900)], 1_000)
    assert await Attachment.all().count() == 2


async def test_deleting_for_everyone_removes_the_bytes(
    chat: tuple[User, User, Conversation],
) -> None:
    alice, _, conversation = chat
    [message] = await post_files(
        conversation, alice, "caption", uuid.uuid4(), [upload(os.urandom(1000))], NO_QUOTA
    )
    await Message.delete_for_everyone(alice, conversation.id, message.id)
    assert await Attachment.all().count() == await AttachmentPart.all().count() == 0
    assert (await Message.get(id=message.id)).body == ""
