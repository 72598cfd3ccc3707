"""Settings come from the environment and bad ones fail with a message, not a traceback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chatin.config import ConfigError, FileLimits, Settings, load_or_create_secret_key


def test_defaults_use_instance_folder_and_embedded_database() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path("instance").resolve()
    assert settings.database_url is None
    assert settings.bcrypt_rounds == 12
    assert settings.rate_limits is True
    assert settings.trusted_proxies == 0


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "postgres://"),
        ({"DATABASE_URL": "postgres://host"}, "name a database"),
        ({"CHATIN_BCRYPT_ROUNDS": "3"}, "between 4"),
        ({"CHATIN_BCRYPT_ROUNDS": "many"}, "whole number"),
        ({"CHATIN_RATE_LIMITS": "maybe"}, "'on' or 'off'"),
        ({"CHATIN_TRUSTED_PROXIES": "yes"}, "number of reverse proxies"),
        ({"CHATIN_TRUSTED_PROXIES": "-1"}, "number of reverse proxies"),
    ],
)
def test_bad_setting_is_explained(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        Settings.from_env(env)


def test_rate_limits_can_be_lifted_for_benchmarks() -> None:
    assert Settings.from_env({"CHATIN_RATE_LIMITS": "off"}).rate_limits is False


def test_trusted_proxies_counts_the_proxies_in_front() -> None:
    assert Settings.from_env({"CHATIN_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    assert Settings.from_env({"CHATIN_TRUSTED_PROXIES": " 2 "}).trusted_proxies == 2


def test_secret_key_is_made_once_privately_and_reused(tmp_path: Path) -> None:
    first = load_or_create_secret_key(tmp_path / "data")
    again = load_or_create_secret_key(tmp_path / "data")
    key_file = tmp_path / "data" / "secret_key"
    assert first == again
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]


def test_file_limits_have_defaults_and_read_whole_numbers() -> None:
    assert Settings.from_env({}).files == FileLimits()
    assert FileLimits().file_bytes == 25_000_000 and FileLimits().files_per_send == 10
    limits = Settings.from_env({"CHATIN_FILE_MB": "5", "CHATIN_UPLOADS_IN_FLIGHT": "2"}).files
    assert (limits.file_bytes, limits.uploads_in_flight) == (5_000_000, 2)
    for bad in ("0", "-1", "lots"):
        with pytest.raises(ConfigError, match="CHATIN_FILES_PER_SEND"):
            Settings.from_env({"CHATIN_FILES_PER_SEND": bad})
