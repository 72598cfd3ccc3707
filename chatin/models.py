"""The domain: accounts and sessions, with the verbs that change them."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import bcrypt
from email_validator import EmailNotValidError, validate_email
from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

MAX_DISPLAY_NAME_CHARS = 80
MAX_EMAIL_CHARS = 254
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt refuses longer secrets

# A real hash of a random secret: unknown emails are checked against it, so a log-in
# takes as long whether or not the account exists.
_DUMMY_HASH = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(12))


class NotFound(Exception):
    """Missing, or not visible to this viewer: one answer for both, so ids can't be probed."""


class InvalidInput(Exception):
    """User input broke a rule; `errors` maps each form field to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {text}" for field, text in errors.items()))
        self.errors = errors


class User(Model):
    id = fields.IntField(primary_key=True)
    display_name = fields.CharField(max_length=MAX_DISPLAY_NAME_CHARS)
    email = fields.CharField(max_length=MAX_EMAIL_CHARS, description="as the person typed it")
    email_key = fields.CharField(
        max_length=MAX_EMAIL_CHARS, unique=True, description="lower-cased: one account per email"
    )
    password_hash = fields.CharField(max_length=60)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"

    @staticmethod
    def email_key_of(email: str) -> str:
        return email.strip().lower()

    @classmethod
    async def sign_up(cls, display_name: str, email: str, password: str, rounds: int) -> User:
        """Create an account; every broken rule is reported at once, per field."""
        name, address = display_name.strip(), email.strip()
        errors = _display_name_errors(name) | _email_errors(address) | _password_errors(password)
        if errors:
            raise InvalidInput(errors)
        if await cls.filter(email_key=cls.email_key_of(address)).exists():
            raise InvalidInput({"email": "An account with this email already exists."})
        salt = bcrypt.gensalt(rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
        try:
            return await cls.create(
                display_name=name,
                email=address,
                email_key=cls.email_key_of(address),
                password_hash=hashed.decode(),
            )
        except IntegrityError:
            raise InvalidInput({"email": "An account with this email already exists."}) from None

    @classmethod
    async def authenticate(cls, email: str, password: str) -> User | None:
        """The account for these credentials, or None; same cost for unknown emails."""
        user = await cls.get_or_none(email_key=cls.email_key_of(email))
        stored = user.password_hash.encode() if user else _DUMMY_HASH
        if not await asyncio.to_thread(_password_matches, password, stored):
            return None
        return user


def _password_matches(password: str, stored_hash: bytes) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), stored_hash)
    except ValueError:  # longer than bcrypt accepts: can't be the password
        return False


def _display_name_errors(name: str) -> dict[str, str]:
    if not name:
        return {"display_name": "Enter a display name."}
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        return {"display_name": f"Use at most {MAX_DISPLAY_NAME_CHARS} characters."}
    if not name.isprintable():
        return {"display_name": "Use letters, digits, spaces and punctuation only."}
    return {}


def _email_errors(address: str) -> dict[str, str]:
    if len(address) > MAX_EMAIL_CHARS:
        return {"email": f"Use at most {MAX_EMAIL_CHARS} characters."}
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return {"email": "Enter a valid email address, like name@example.com."}
    return {}


def _password_errors(password: str) -> dict[str, str]:
    if len(password) < MIN_PASSWORD_CHARS:
        return {"password": f"Use at least {MIN_PASSWORD_CHARS} characters."}
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return {"password": f"Use at most {MAX_PASSWORD_BYTES} bytes (about 70 letters)."}
    return {}


class AuthSession(Model):
    """One logged-in browser. The cookie holds a random token; we keep only its hash."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "chatin.User", related_name="sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "auth_sessions"

    @staticmethod
    def hash_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    async def begin(cls, user: User) -> str:
        """Open a session for user; the returned token goes into the signed cookie."""
        token = secrets.token_urlsafe(32)
        await cls.create(user=user, token_hash=cls.hash_of(token))
        return token

    @classmethod
    async def viewer(cls, token: str) -> tuple[User, int] | None:
        """The user and session id behind a token, or None once the session has ended."""
        session = await cls.filter(token_hash=cls.hash_of(token)).select_related("user").first()
        return None if session is None else (session.user, session.id)

    @classmethod
    async def end(cls, token: str) -> None:
        await cls.filter(token_hash=cls.hash_of(token)).delete()


class ThrottleHit(Model):
    """One counted event (a failed log-in, a sign-up) for a throttle key.

    Kept in PostgreSQL so every worker and node sees the same counts.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=300)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "throttle_hits"
        indexes = (("key", "at"),)


class Throttle:
    """A sliding-window limit: at most `limit` hits per key within `window`."""

    def __init__(self, name: str, limit: int, window: timedelta) -> None:
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, part: str) -> str:
        return f"{self.name}:{part}"[:300]

    async def retry_after(self, *parts: str) -> int | None:
        """Seconds until a key is allowed again, or None when none is over its limit."""
        conn = _connection()
        rows = await conn.execute_query_dict(
            "SELECT key, count(*) AS hits, min(at) AS oldest FROM throttle_hits "
            "WHERE key = ANY($1::text[]) AND at > now() - $2::interval GROUP BY key",
            [[self._key(part) for part in parts], self.window],
        )
        waits = [
            _seconds_until(row["oldest"] + self.window) for row in rows if row["hits"] >= self.limit
        ]
        return max(waits) if waits else None

    async def hit(self, *parts: str) -> None:
        """Count one event for each key, forgetting hits older than the window."""
        conn = _connection()
        await conn.execute_query(
            "DELETE FROM throttle_hits WHERE at <= now() - $1::interval", [self.window]
        )
        await conn.execute_query(
            "INSERT INTO throttle_hits (key, at) SELECT unnest($1::text[]), now()",
            [[self._key(part) for part in parts]],
        )


def _seconds_until(moment: datetime) -> int:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    return max(1, int(remaining) + 1)


def _connection() -> BaseDBAsyncClient:
    return connections.get("default")
