"""Jinja filters for user text: escaped always, with http(s) links made clickable."""

from __future__ import annotations

import re
from datetime import datetime

from markupsafe import Markup, escape

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,!?;:)]}'\""


def linkify(text: str) -> Markup:
    """Escape text and turn its http/https URLs into safe links; nothing else becomes HTML."""
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        start, end = match.start(), match.start() + len(url)
        parts.append(escape(text[position:start]))
        parts.append(
            Markup(
                '<a href="{0}" rel="noopener noreferrer nofollow" target="_blank">{0}</a>'
            ).format(url)
        )
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def local_time(moment: datetime | None) -> Markup:
    """A <time> the page's script shows in the reader's own zone; UTC until it runs."""
    if moment is None:
        return Markup("")
    return Markup('<time datetime="{0}">{1}</time>').format(
        moment.isoformat(), moment.strftime("%H:%M")
    )
