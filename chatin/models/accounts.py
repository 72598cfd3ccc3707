"""Accounts and sessions: sign-up, log-in checks, renames, password changes, log-out."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from collections.abc import Callable
from typing import TypeVar

import bcrypt
from email_validator import EmailNotValidError, validate_email
from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from chatin import db
from chatin.events import Kind, notify, notify_sql
from chatin.models.errors import Busy, InvalidInput

MAX_DISPLAY_NAME_CHARS = 80
MAX_EMAIL_CHARS = 254
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt refuses longer secrets
EMAIL_TAKEN = "An account with this email already exists."
BCRYPT_SLOTS = 4  # password hashes computed at once per worker
BCRYPT_WAIT_SECONDS = 5.0  # longer in the queue and the worker answers "busy" instead

T = TypeVar("T")
_bcrypt_slots = asyncio.Semaphore(BCRYPT_SLOTS)


async def _bcrypt(work: Callable[..., T], *args: object) -> T:
    """Run bcrypt in a thread, at most BCRYPT_SLOTS at once in this worker.

    Each check holds a core for about 0.25 s: a burst of log-ins would otherwise take every
    thread of the default pool and both cores, and stall the sockets of everyone else. The
    slot is freed when the thread ends, even if the request waiting for it went away.
    """
    try:
        async with asyncio.timeout(BCRYPT_WAIT_SECONDS):
            await _bcrypt_slots.acquire()
    except TimeoutError:
        raise Busy from None
    running = asyncio.get_running_loop().run_in_executor(None, work, *args)
    running.add_done_callback(lambda _: _bcrypt_slots.release())
    return await asyncio.shield(running)


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    """A real hash of a random secret, at the cost new accounts get: unknown emails are
    checked against it, so a log-in takes as long whether or not the account exists."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))


# Everyone who shares a conversation with user $1 and still sees it.
CONTACTS_SQL = """(SELECT coalesce(array_agg(DISTINCT other.user_id), '{}')
  FROM memberships me JOIN memberships other
    ON other.conversation_id = me.conversation_id AND other.user_id <> me.user_id
  WHERE me.user_id = $1 AND other.state <> 'blocked')"""

_RENAME_SQL = f"""
WITH renamed AS (UPDATE users SET display_name = $2 WHERE id = $1 RETURNING id)
SELECT {notify_sql(Kind.PROFILE, f"'user', id, 'to', array_prepend(id, {CONTACTS_SQL})")}
FROM renamed
"""


class User(Model):
    id = fields.IntField(primary_key=True)
    display_name = fields.CharField(max_length=MAX_DISPLAY_NAME_CHARS)
    email = fields.CharField(max_length=MAX_EMAIL_CHARS, description="as the person typed it")
    email_key = fields.CharField(
        max_length=MAX_EMAIL_CHARS, unique=True, description="normalised: one account per email"
    )
    password_hash = fields.CharField(max_length=60)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(null=True, description="when their last tab closed")
    # Not a column: loaded with the session (profile_pictures), so the top bar needs no query.
    picture_version: str | None = None

    class Meta:
        table = "users"

    @staticmethod
    def email_key_of(email: str) -> str | None:
        """The one spelling accounts are unique by, or None for what can't be an address.

        email-validator's normalised form, lower-cased: Unicode NFC (so composed and
        decomposed "ü" agree) and the domain in its Unicode form (so "xn--mnchen-3ya.de"
        is "münchen.de"). Refusing invalid input also keeps NUL characters away from
        PostgreSQL, which can't store them.
        """
        try:
            return validate_email(email.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return None

    @classmethod
    async def by_email(cls, email: str) -> User | None:
        """The account behind an email however it is spelled, or None."""
        key = cls.email_key_of(email)
        return None if key is None else await cls.get_or_none(email_key=key)

    @classmethod
    async def sign_up(cls, display_name: str, email: str, password: str, rounds: int) -> User:
        """Create an account; every broken rule is reported at once, per field."""
        name, address = display_name.strip(), email.strip()
        key = cls.email_key_of(address)
        errors = (
            _display_name_errors(name) | _email_errors(address, key) | _password_errors(password)
        )
        if errors or key is None:
            raise InvalidInput(errors)
        if await cls.filter(email_key=key).exists():
            raise InvalidInput({"email": EMAIL_TAKEN})
        hashed = await _bcrypt(bcrypt.hashpw, password.encode(), bcrypt.gensalt(rounds))
        try:
            return await cls.create(
                display_name=name, email=address, email_key=key, password_hash=hashed.decode()
            )
        except IntegrityError:
            raise InvalidInput({"email": EMAIL_TAKEN}) from None

    async def rename(self, display_name: str) -> None:
        """Change the display name; everyone sharing a conversation sees it live."""
        name = display_name.strip()
        errors = _display_name_errors(name)
        if errors:
            raise InvalidInput(errors)
        await db.execute(_RENAME_SQL, self.id, name)
        self.display_name = name

    async def change_password(
        self, current: str, new: str, rounds: int, keep_session: int | None
    ) -> None:
        """Set a new password after checking the current one; every other session ends."""
        stored = self.password_hash.encode()
        if not await _bcrypt(_password_matches, current, stored, rounds):
            raise InvalidInput({"current_password": "That isn't your current password."})
        errors = _password_errors(new)
        if errors:
            raise InvalidInput({"new_password": errors["password"]})
        hashed = await _bcrypt(bcrypt.hashpw, new.encode(), bcrypt.gensalt(rounds))
        async with in_transaction() as conn:
            await User.filter(id=self.id).using_db(conn).update(password_hash=hashed.decode())
            ended = AuthSession.filter(user_id=self.id).exclude(id=keep_session or 0)
            for session_id in await ended.using_db(conn).values_list("id", flat=True):
                await notify(conn, Kind.LOGOUT, session=session_id, to=[self.id])
            await ended.using_db(conn).delete()
        self.password_hash = hashed.decode()

    @classmethod
    async def authenticate(cls, email: str, password: str, rounds: int) -> User | None:
        """The account for these credentials, or None; same cost for unknown emails."""
        user = await cls.by_email(email)
        stored = user.password_hash.encode() if user else None
        if not await _bcrypt(_password_matches, password, stored, rounds):
            return None
        return user


def _password_matches(password: str, stored_hash: bytes | None, rounds: int) -> bool:
    """bcrypt's check, in a worker thread; no account still costs one full check."""
    try:
        return bcrypt.checkpw(password.encode(), stored_hash or _dummy_hash(rounds)) and bool(
            stored_hash
        )
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


def _email_errors(address: str, key: str | None) -> dict[str, str]:
    if len(address) > MAX_EMAIL_CHARS or (key is not None and len(key) > MAX_EMAIL_CHARS):
        return {"email": f"Use at most {MAX_EMAIL_CHARS} characters."}
    if key is None:
        return {"email": "Enter a valid email address, like name@example.com."}
    return {}


def _password_errors(password: str) -> dict[str, str]:
    if len(password) < MIN_PASSWORD_CHARS:
        return {"password": f"Use at least {MIN_PASSWORD_CHARS} characters."}
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return {"password": f"Use at most {MAX_PASSWORD_BYTES} bytes (about 70 letters)."}
    return {}


_VIEWER_SQL = """
SELECT s.id AS session_id, u.id, u.display_name, u.email, u.email_key, u.password_hash,
       u.created_at, u.last_seen_at,
       (SELECT p.version FROM profile_pictures p WHERE p.user_id = u.id) AS picture_version
FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1
"""

# Only while the user still has the password hash that was checked. FOR SHARE waits for a
# password change in flight and then reads its new hash, so a log-in racing the change
# either commits first (and the change ends its session) or opens nothing.
_BEGIN_SQL = """
INSERT INTO auth_sessions (user_id, token_hash, created_at)
SELECT id, $3, now() FROM users WHERE id = $1 AND password_hash = $2 FOR SHARE
RETURNING id
"""

# Ending a session and telling every worker to close its sockets is one statement.
_END_SQL = f"""
WITH ended AS (DELETE FROM auth_sessions WHERE token_hash = $1 RETURNING id, user_id)
SELECT {notify_sql(Kind.LOGOUT, "'session', id, 'to', json_build_array(user_id)")} FROM ended
"""


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
    async def begin(cls, user: User) -> str | None:
        """Open a session for user, whose password was checked against `user.password_hash`;
        the token goes into the signed cookie. None if the password changed since."""
        token = secrets.token_urlsafe(32)
        opened = await db.fetch(_BEGIN_SQL, user.id, user.password_hash, cls.hash_of(token))
        return token if opened else None

    @classmethod
    async def viewer(cls, token: str) -> tuple[User, int] | None:
        """The user and session id behind a token, or None once the session has ended.

        Raw SQL: this runs on every request and socket open.
        """
        rows = await db.fetch(_VIEWER_SQL, cls.hash_of(token))
        if not rows:
            return None
        row = dict(rows[0])
        session_id, picture = row.pop("session_id"), row.pop("picture_version")
        user = User._init_from_db(**row)
        user.picture_version = picture
        return user, session_id

    @classmethod
    async def end(cls, token: str) -> None:
        """End the session and, on commit, tell every worker to close its sockets."""
        await db.execute(_END_SQL, cls.hash_of(token))
