"""Domain errors: the verbs raise them, one handler per kind turns them into an answer."""

from __future__ import annotations


class NotFound(Exception):
    """Missing, or not visible to this viewer: one answer for both, so ids can't be probed."""


class InvalidInput(Exception):
    """User input broke a rule; `errors` maps each form field to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {text}" for field, text in errors.items()))
        self.errors = errors


class Busy(Exception):
    """Too many password checks queue in this worker; nothing was done, try again soon."""


class TooLong(Exception):
    """A message over MAX_MESSAGE_CHARS; nothing was stored."""


class TooFast(Exception):
    """The author sent more than SEND_LIMIT messages within SEND_WINDOW; nothing stored."""


class NotDelivered(Exception):
    """The other side does not take messages from this author (they blocked them)."""


class NotYours(Exception):
    """A member asked to change another member's message: only its author may (403)."""


class Deleted(Exception):
    """The message was deleted for everyone; there is nothing left to edit."""


class TooBig(Exception):
    """An upload past a file limit (one file, or all of one person's files); nothing stored."""
