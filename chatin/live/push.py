"""What the hub offers a tab: one frame, rendered once per user."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Push:
    """One frame for one user's tabs. Message pushes carry ids so a tab can skip repeats."""

    frame: str
    conversation: int | None = None
    message: int | None = None
    author: int | None = None
