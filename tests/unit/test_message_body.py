"""The body rule: tabs and line breaks stay, every other control character is refused."""

from __future__ import annotations

import pytest

from chatin.models import InvalidInput, Message

CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in "\t\n\r"]


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_character_anywhere_is_refused(control: str) -> None:
    for body in (f"a{control}b", f"{control}ab", f"ab{control}"):
        with pytest.raises(InvalidInput) as refused:
            Message.clean(body)
        assert "control characters" in refused.value.errors["body"]


def test_tabs_and_line_breaks_are_kept_and_line_endings_normalised() -> None:
    assert Message.clean(" a\tb\r\nc\rd\n ") == "a\tb\nc\nd"


def test_other_invisible_characters_are_text() -> None:
    """Joiners and marks are not control characters: emoji and scripts depend on them."""
    text = "👩\u200d👩\u200d👧 \u200fcafe\u0301"  # joiners, a right-to-left mark, an accent
    assert Message.clean(text) == text
