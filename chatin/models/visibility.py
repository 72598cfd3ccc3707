"""Which messages a member sees: the one condition every reader of messages uses.

A group member added without "Share earlier messages" sees only what came after they were
added; everyone else sees the whole history (`visible_from` 0). The page, older pages, the
socket's catch-up and change catch-up, the fan-out of new and changed messages (and so the
browser notifications), unread counts, list previews, and file downloads and search when
they come, all write `visible("m", "me")` into their SQL rather than their own comparison.
"""

from __future__ import annotations

CURRENT_STATES = "('request', 'active')"  # a member who sees the conversation at all


def visible(message: str, member: str) -> str:
    """SQL: the row `message` (messages) is visible to the row `member` (memberships)."""
    return f"{message}.id > {member}.visible_from"


def current(member: str) -> str:
    """SQL: the row `member` (memberships) still sees the conversation (not blocked, left or
    removed)."""
    return f"{member}.state IN {CURRENT_STATES}"
