"""What the hub offers a tab: a rendered frame and the ids a tab needs to skip repeats
(chatin.live.frames makes them; chatin.live.socket sends them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Push:
    """One frame for one user's tabs. Message pushes carry ids so a tab can skip repeats."""

    frame: str
    conversation: int | None = None
    message: int | None = None
    author: int | None = None


@dataclass(frozen=True, slots=True)
class ChangePush(Push):
    """A changed message as it is now. `seq` is the change's place in the conversation's
    sequence (the tab's change cursor moves to it); `state` is the place of the newest
    change the rendered message already shows, so a tab that has it skips the repeat."""

    seq: int = 0
    state: int = 0
