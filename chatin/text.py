"""Jinja filters for user text: escaped always, with http(s) links made clickable.

Both run for every message of every push, so they avoid `Markup.format` (a full
`string.Formatter` pass) and skip the link search when a text holds no "://".
"""

from __future__ import annotations

import re
from datetime import datetime

from markupsafe import Markup, escape

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,!?;:)]}'\""
LINK_REL = "noopener noreferrer nofollow"


def linkify(text: str) -> Markup:
    """Escape text and turn its http/https URLs into safe links; nothing else becomes HTML."""
    if "://" not in text:
        return escape(text)
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        start, end = match.start(), match.start() + len(url)
        parts.append(escape(text[position:start]))
        link = escape(url)
        parts.append(f'<a href="{link}" rel="{LINK_REL}" target="_blank">{link}</a>')
        position = end
    parts.append(escape(text[position:]))
    return Markup("".join(parts))


def local_time(moment: datetime | None) -> Markup:
    """A <time> the page's script shows in the reader's own zone; UTC until it runs.

    Only a datetime's own digits go into the markup, so nothing needs escaping."""
    if moment is None:
        return Markup("")
    return Markup(
        f'<time datetime="{moment.isoformat()}">{moment.hour:02d}:{moment.minute:02d}</time>'
    )
