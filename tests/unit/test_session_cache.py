"""The per-worker session cache never outlives what ended a session."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from chatin import auth
from chatin.auth import SessionCache
from chatin.events import Event, Kind


def person(user_id: int) -> Any:
    return SimpleNamespace(id=user_id)


def test_a_logout_announcement_forgets_that_session_only() -> None:
    cache = SessionCache()
    cache.put("alice-laptop", cache.epoch, person(1), 10, "t1")
    cache.put("alice-phone", cache.epoch, person(1), 11, "t2")
    cache.forget(Event(Kind.LOGOUT, to=(1,), session=10))
    assert cache.get("alice-laptop") is None
    phone = cache.get("alice-phone")
    assert phone is not None
    assert phone.session_id == 11


def test_a_rename_forgets_every_session_of_that_person() -> None:
    cache = SessionCache()
    cache.put("alice-laptop", cache.epoch, person(1), 10, "t1")
    cache.put("bob", cache.epoch, person(2), 12, "t3")
    cache.forget(Event(Kind.PROFILE, to=(1, 2), user=1))
    assert cache.get("alice-laptop") is None
    assert cache.get("bob") is not None


def test_a_lookup_that_overlapped_a_logout_is_not_kept() -> None:
    """The row was read before the logout deleted it; keeping it would revive the session."""
    cache = SessionCache()
    epoch_at_lookup = cache.epoch
    cache.forget(Event(Kind.LOGOUT, to=(1,), session=10))
    cache.put("alice-laptop", epoch_at_lookup, person(1), 10, "t1")
    assert cache.get("alice-laptop") is None


def test_entries_expire() -> None:
    cache = SessionCache(seconds=-1.0)
    cache.put("alice-laptop", cache.epoch, person(1), 10, "t1")
    assert cache.get("alice-laptop") is None


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "SESSION_CACHE_SIZE", 3)
    cache = SessionCache()
    for n in range(5):
        cache.put(f"cookie-{n}", cache.epoch, person(n), n, f"t{n}")
    kept = [n for n in range(5) if cache.get(f"cookie-{n}") is not None]
    assert kept == [2, 3, 4]


def test_a_bypassed_cache_serves_and_keeps_nothing_and_resumes_empty() -> None:
    """While the listener is down, announcements of ended sessions are lost."""
    cache = SessionCache()
    cache.put("alice-laptop", cache.epoch, person(1), 10, "t1")
    cache.bypass()
    assert cache.get("alice-laptop") is None
    cache.put("bob", cache.epoch, person(2), 12, "t3")
    assert cache.get("bob") is None
    cache.resume()
    assert cache.get("alice-laptop") is None and cache.get("bob") is None
    cache.put("bob", cache.epoch, person(2), 12, "t3")
    assert cache.get("bob") is not None
