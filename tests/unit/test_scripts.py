"""The page's own scripts: small files loaded with `defer` from base.html, no build step."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
SCRIPTS = STATIC / "js"
BASE = ROOT / "templates" / "base.html"
# What a browser downloads of script for a page, htmx and its ws extension included, each file
# compressed on its own as it travels (issue 15): features must fit in it, not grow it.
MAX_GZIPPED_BYTES = 32 * 1024


def base_scripts(folder: str = "js") -> dict[str, bool]:
    """Each script file in static/<folder> that base.html loads, and whether it is deferred."""
    page = BeautifulSoup(BASE.read_text(), "html.parser")
    loaded = {}
    for script in page.find_all("script"):
        found = re.search(rf"filename='{folder}/([^']+)'", script.get("src", ""))
        if found:
            loaded[found.group(1)] = script.has_attr("defer")
    return loaded


def test_every_script_of_the_page_together_stays_under_32_kb_gzipped() -> None:
    files = [SCRIPTS / name for name in base_scripts()]
    files += [STATIC / "vendor" / name for name in base_scripts("vendor")]
    assert len(files) > 2, files
    gzipped = sum(len(gzip.compress(path.read_bytes(), compresslevel=9)) for path in files)
    assert gzipped <= MAX_GZIPPED_BYTES


def test_every_script_is_loaded_deferred_from_base_and_every_loaded_one_exists() -> None:
    loaded = base_scripts()
    on_disk = {path.name for path in SCRIPTS.iterdir()}
    assert set(loaded) == on_disk
    assert all(loaded.values()), [name for name, deferred in loaded.items() if not deferred]
