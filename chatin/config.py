"""Settings read once from the environment (CHATIN_* and DATABASE_URL)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BCRYPT_ROUNDS = 12
MIN_BCRYPT_ROUNDS = 4
MAX_BCRYPT_ROUNDS = 31
SECRET_KEY_FILE = "secret_key"
MB = 1_000_000


@dataclass(frozen=True)
class FileLimits:
    """How much people may upload: per file, per send, per person, and how many uploads one
    worker receives at once (each holds a temporary file and, for a picture, a decode)."""

    file_bytes: int = 25 * MB
    files_per_send: int = 10
    user_bytes: int = 1_000 * MB
    uploads_in_flight: int = 4


class ConfigError(Exception):
    """A setting is unusable; the message tells the operator what to fix."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, validated once."""

    data_dir: Path
    database_url: str | None = None
    secret_key: str | None = None
    bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS
    rate_limits: bool = True
    trusted_proxies: int = 0
    files: FileLimits = FileLimits()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            data_dir=Path(env.get("CHATIN_DATA_DIR") or "instance").resolve(),
            database_url=_database_url(env.get("DATABASE_URL") or None),
            secret_key=env.get("CHATIN_SECRET_KEY") or None,
            bcrypt_rounds=_bcrypt_rounds(env.get("CHATIN_BCRYPT_ROUNDS")),
            rate_limits=_on_off("CHATIN_RATE_LIMITS", env.get("CHATIN_RATE_LIMITS", "on")),
            trusted_proxies=_trusted_proxies(env.get("CHATIN_TRUSTED_PROXIES")),
            files=_file_limits(env),
        )

    @classmethod
    def for_tests(cls, database_url: str, data_dir: Path, **overrides: object) -> Settings:
        """Fast hashes and a fixed key, so suites sign up many users quickly."""
        base = cls(
            data_dir=data_dir,
            database_url=database_url,
            secret_key="test-secret-key-" + "x" * 32,
            bcrypt_rounds=MIN_BCRYPT_ROUNDS,
        )
        return replace(base, **overrides)

    def with_database(self, database_url: str) -> Settings:
        return replace(self, database_url=database_url)


def _database_url(raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL must start with postgres:// or postgresql://, got {parts.scheme!r}"
        )
    if not parts.path.strip("/"):
        raise ConfigError("DATABASE_URL must name a database, e.g. postgres://host/chatin")
    return raw


def _bcrypt_rounds(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_BCRYPT_ROUNDS
    try:
        rounds = int(raw)
    except ValueError:
        raise ConfigError(f"CHATIN_BCRYPT_ROUNDS must be a whole number, got {raw!r}") from None
    if not MIN_BCRYPT_ROUNDS <= rounds <= MAX_BCRYPT_ROUNDS:
        raise ConfigError(
            f"CHATIN_BCRYPT_ROUNDS must be between {MIN_BCRYPT_ROUNDS} and {MAX_BCRYPT_ROUNDS}"
        )
    return rounds


def _trusted_proxies(raw: str | None) -> int:
    """How many proxies' X-Forwarded-* entries to believe: 0 (none) unless told."""
    if raw is None or raw.strip() == "":
        return 0
    if not raw.strip().isdecimal():
        raise ConfigError(
            "CHATIN_TRUSTED_PROXIES must be the number of reverse proxies in front of the app "
            f"(0 when browsers connect directly, 1 behind one proxy), got {raw!r}"
        )
    return int(raw)


def _file_limits(env: Mapping[str, str]) -> FileLimits:
    default = FileLimits()
    return FileLimits(
        file_bytes=_count(env, "CHATIN_FILE_MB", default.file_bytes // MB) * MB,
        files_per_send=_count(env, "CHATIN_FILES_PER_SEND", default.files_per_send),
        user_bytes=_count(env, "CHATIN_USER_FILES_MB", default.user_bytes // MB) * MB,
        uploads_in_flight=_count(env, "CHATIN_UPLOADS_IN_FLIGHT", default.uploads_in_flight),
    )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _on_off(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise ConfigError(f"{name} must be 'on' or 'off', got {raw!r}")
    return value == "on"


def load_or_create_secret_key(data_dir: Path) -> str:
    """Read the cookie key, creating it once; workers racing at start all get the same key.

    The key is written to a private temporary file and hard-linked into place, so a reader
    never sees a half-written file and only one creator wins.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        tmp = data_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds a key that is too short; delete it to make a new one")
    return key
