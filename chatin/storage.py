"""Where file bytes live, behind a small interface: PostgreSQL today.

Keeping the bytes in the database means every node that shares `DATABASE_URL` serves every
file with no other service, and a database backup holds everything. Each file (and its
preview) is cut into fixed-size parts, written in the transaction that stores its message,
and read back one part at a time, so neither an upload nor a download ever holds a whole
file in a worker's memory. Another store (S3-compatible) would implement `Store`; it would
also need to delete its objects when a message is deleted, which PostgreSQL's cascade does
here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO, Protocol

from chatin import db

PART_BYTES = 256 * 1024


class Store(Protocol):
    async def put(self, attachment_id: int, preview: bool, source: BinaryIO) -> None:
        """Save the bytes of `source` (from its start) inside the caller's transaction."""

    def read(self, attachment_id: int, preview: bool, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes `start` to `end` (exclusive), a part at a time."""


class PostgresStore:
    async def put(self, attachment_id: int, preview: bool, source: BinaryIO) -> None:
        async def rows() -> AsyncIterator[tuple[int, bool, int, bytes]]:
            source.seek(0)
            n = 0
            while part := source.read(PART_BYTES):
                yield attachment_id, preview, n, part
                n += 1

        await db.copy_rows("attachment_parts", ["attachment_id", "preview", "n", "data"], rows())

    async def read(
        self, attachment_id: int, preview: bool, start: int, end: int
    ) -> AsyncIterator[bytes]:
        position = start
        while position < end:
            n, offset = divmod(position, PART_BYTES)
            length = min(PART_BYTES - offset, end - position)
            rows = await db.fetch(_PART_SQL, attachment_id, preview, n, offset + 1, length)
            if not rows:  # deleted meanwhile: end the response short rather than hang
                return
            yield rows[0]["data"]
            position += length


# Only the slice asked for leaves the database (parts are stored uncompressed, so
# PostgreSQL reads just that slice too).
_PART_SQL = """
SELECT substring(data FROM $4 FOR $5) AS data FROM attachment_parts
WHERE attachment_id = $1 AND preview = $2 AND n = $3
"""

STORE: Store = PostgresStore()
