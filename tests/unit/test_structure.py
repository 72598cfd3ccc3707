"""The package's shape, which issue 13 set: small modules, views apart from the live path,
and every announcement made and read through chatin.events."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chatin.events import Change, Kind

PACKAGE = Path(__file__).resolve().parents[2] / "chatin"
EVENTS_MODULE = PACKAGE / "events.py"
MAX_MODULE_LINES = 350
EVENT_WORDS = {kind.value for kind in Kind} | {change.value for change in Change}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_notify_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
    return "notify" in name


def stray_event_strings(path: Path) -> list[str]:
    """SQL that notifies by itself, an event's `kind` read by name, a kind compared as text,
    or a kind passed as text to a call (`notify(conn, "message")`)."""
    strays = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "pg_notify" in node.value or "'kind'" in node.value or node.value == "kind":
                strays.append(node.value[:60])
        elif isinstance(node, ast.Compare) or _is_notify_call(node):
            parts = [*node.comparators, node.left] if isinstance(node, ast.Compare) else node.args
            strays += [
                part.value
                for part in parts
                if isinstance(part, ast.Constant) and part.value in EVENT_WORDS
            ]
    return strays


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_over_the_size_limit(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_views_never_import_the_live_path() -> None:
    for path in (PACKAGE / "views").glob("*.py"):
        live = {name for name in imported_modules(path) if name.startswith("chatin.live")}
        assert not live, f"{path.name} imports {live}"


def test_every_notification_and_event_kind_comes_from_the_events_module() -> None:
    strays = {
        str(path.relative_to(PACKAGE)): found
        for path in modules()
        if path != EVENTS_MODULE and (found := stray_event_strings(path))
    }
    assert strays == {}
