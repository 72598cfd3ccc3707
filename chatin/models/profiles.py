"""What a person shows of themselves beyond their name: a connect link that starts a
conversation with them, and a profile picture.

Both are one statement per verb, raw asyncpg (see the package docstring).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from tortoise import fields
from tortoise.models import Model

from chatin import db
from chatin.events import Kind, notify_sql
from chatin.models.accounts import CONTACTS_SQL

LINK_TOKEN_BYTES = 16  # 128 random bits: a link can't be guessed, only shared
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
PICTURE_VERSION_BYTES = 6


class ConnectLink(Model):
    """A person's connect link, by a random token.

    Never the email: a link says nothing about its owner, and a reset voids the old one.
    """

    id = fields.IntField(primary_key=True)
    user: fields.OneToOneRelation = fields.OneToOneField(
        "chatin.User", related_name="connect_link", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=32, unique=True)

    class Meta:
        table = "connect_links"


class ProfilePicture(Model):
    """A person's picture as two square WebP images, 256 and 64 px.

    A few KB each, so they live in PostgreSQL beside everything else (a backup holds them).
    """

    id = fields.IntField(primary_key=True)
    user: fields.OneToOneRelation = fields.OneToOneField(
        "chatin.User", related_name="picture", on_delete=fields.CASCADE
    )
    version = fields.CharField(max_length=16, description="random per upload: part of its URL")
    large = fields.BinaryField(description="256 px square WebP")
    small = fields.BinaryField(description="64 px square WebP")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "profile_pictures"


@dataclass(frozen=True)
class LinkOwner:
    id: int
    display_name: str


_LINK_SQL = """
WITH made AS (
  INSERT INTO connect_links (user_id, token) VALUES ($1, $2)
  ON CONFLICT (user_id) DO NOTHING RETURNING token
)
SELECT token FROM made UNION ALL SELECT token FROM connect_links WHERE user_id = $1
"""

_RESET_LINK_SQL = """
INSERT INTO connect_links (user_id, token) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET token = EXCLUDED.token
RETURNING token
"""

_LINK_OWNER_SQL = """
SELECT u.id, u.display_name FROM connect_links l JOIN users u ON u.id = l.user_id
WHERE l.token = $1
"""


def _new_token() -> str:
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)


async def link_token(user_id: int) -> str:
    """The person's connect-link token, made on first use."""
    while True:  # a profile opened twice at once: the loser reads the winner's token
        rows = await db.fetch(_LINK_SQL, user_id, _new_token())
        if rows:
            return rows[0]["token"]


async def reset_link(user_id: int) -> str:
    """A new token for the person's link; the old one leads nowhere from now on."""
    rows = await db.fetch(_RESET_LINK_SQL, user_id, _new_token())
    return rows[0]["token"]


async def link_owner(token: str) -> LinkOwner | None:
    """Whose link this is, or None for a token that is malformed, unknown or reset."""
    if not LINK_TOKEN.fullmatch(token):
        return None
    rows = await db.fetch(_LINK_OWNER_SQL, token)
    return LinkOwner(rows[0]["id"], rows[0]["display_name"]) if rows else None


# The person and everyone who sees a conversation with them hear of the change (their own
# top bar, the others' list entries and chat headers), as for a new display name.
_ANNOUNCE = notify_sql(
    Kind.PROFILE, f"'user', $1::int, 'to', array_prepend($1::int, {CONTACTS_SQL})"
)

_SET_PICTURE_SQL = f"""
WITH stored AS (
  INSERT INTO profile_pictures (user_id, version, large, small, updated_at)
  VALUES ($1, $2, $3, $4, now())
  ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version, large = EXCLUDED.large,
    small = EXCLUDED.small, updated_at = EXCLUDED.updated_at
  RETURNING user_id
)
SELECT {_ANNOUNCE} FROM stored
"""

_REMOVE_PICTURE_SQL = f"""
WITH removed AS (DELETE FROM profile_pictures WHERE user_id = $1 RETURNING user_id)
SELECT {_ANNOUNCE} FROM removed
"""

# The owner sees their own picture; anyone else only while they share a conversation that
# neither of them has blocked. Everyone else gets the same nothing as for no picture.
_PICTURE_FOR_SQL = """
SELECT p.version, p.{column} AS image FROM profile_pictures p
WHERE p.user_id = $1 AND ($1 = $2 OR EXISTS (
  SELECT 1 FROM memberships owner JOIN memberships viewer
    ON viewer.conversation_id = owner.conversation_id
  WHERE owner.user_id = $1 AND viewer.user_id = $2
    AND owner.state <> 'blocked' AND viewer.state <> 'blocked'))
"""
_PICTURE_SQL = {size: _PICTURE_FOR_SQL.format(column=size) for size in ("large", "small")}

_VERSION_SQL = "SELECT version FROM profile_pictures WHERE user_id = $1"


async def set_picture(user_id: int, large: bytes, small: bytes) -> str:
    """Store the person's new picture under a new version (so every URL of the old one
    stops matching) and tell them and their contacts, on commit."""
    version = secrets.token_hex(PICTURE_VERSION_BYTES)
    await db.execute(_SET_PICTURE_SQL, user_id, version, large, small)
    return version


async def remove_picture(user_id: int) -> None:
    """Back to the initials, everywhere, live."""
    await db.execute(_REMOVE_PICTURE_SQL, user_id)


async def picture_version(user_id: int) -> str | None:
    rows = await db.fetch(_VERSION_SQL, user_id)
    return rows[0]["version"] if rows else None


@dataclass(frozen=True)
class Picture:
    version: str
    image: bytes


async def picture_for(owner_id: int, viewer_id: int, size: str) -> Picture | None:
    """The owner's picture ("large" or "small") if viewer may see it, else None."""
    rows = await db.fetch(_PICTURE_SQL[size], owner_id, viewer_id)
    return Picture(rows[0]["version"], rows[0]["image"]) if rows else None
