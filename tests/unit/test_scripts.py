"""The page's own scripts: small files loaded with `defer` from base.html, no build step."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "static" / "js"
BASE = ROOT / "templates" / "base.html"
# The size of the single app.js these files replaced (issue 13): the split may not grow it.
MAX_TOTAL_BYTES = 19_126


def base_scripts() -> dict[str, bool]:
    """Each of our script files that base.html loads, and whether it is deferred."""
    page = BeautifulSoup(BASE.read_text(), "html.parser")
    loaded = {}
    for script in page.find_all("script"):
        found = re.search(r"filename='js/([^']+)'", script.get("src", ""))
        if found:
            loaded[found.group(1)] = script.has_attr("defer")
    return loaded


def test_scripts_together_are_no_larger_than_the_file_they_replaced() -> None:
    total = sum(path.stat().st_size for path in SCRIPTS.glob("*.js"))
    assert total <= MAX_TOTAL_BYTES


def test_every_script_is_loaded_deferred_from_base_and_every_loaded_one_exists() -> None:
    loaded = base_scripts()
    on_disk = {path.name for path in SCRIPTS.iterdir()}
    assert set(loaded) == on_disk
    assert all(loaded.values()), [name for name, deferred in loaded.items() if not deferred]
