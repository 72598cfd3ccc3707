"""What a file is called where people see it: no folders, nothing hidden, sizes as read."""

from __future__ import annotations

import uuid

import pytest

from chatin.models import clean_name
from chatin.models.attachments import MAX_NAME_CHARS, client_ids, size_text
from chatin.views.files import disposition


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\bob\\report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("evil\u202efdp.exe", "evilfdp.exe"),
        ("tab\there\x00.txt", "tabhere.txt"),
        ("  .hidden ", "hidden"),
        ("...", "file"),
        ("", "file"),
        ("cafe\u0301.png", "café.png"),
    ],
)
def test_names_lose_folders_controls_and_reordering_marks(sent: str, kept: str) -> None:
    assert clean_name(sent) == kept


def test_a_long_name_is_cut_but_keeps_its_extension() -> None:
    name = clean_name("x" * 400 + ".jpeg")
    assert len(name) <= MAX_NAME_CHARS and name.endswith(".jpeg")


def test_sizes_read_as_people_say_them() -> None:
    assert [size_text(n) for n in (0, 999, 1_000, 12_345, 3_400_000, 25_000_000)] == [
        "0 bytes",
        "999 bytes",
        "1.0 KB",
        "12 KB",
        "3.4 MB",
        "25 MB",
    ]


def test_the_download_name_is_ascii_with_the_exact_utf8_beside_it() -> None:
    header = disposition("attachment", 'naïve "quote";%.pdf')
    assert header.isascii()
    assert header.startswith('attachment; filename="na_ve _quote___.pdf"; ')
    assert header.endswith("filename*=UTF-8''na%C3%AFve%20%22quote%22%3B%25.pdf")


def test_each_file_of_a_send_has_its_own_stable_client_id() -> None:
    first = uuid.uuid4()
    ids = client_ids(first, 3)
    assert ids[0] == first and len(set(ids)) == 3
    assert client_ids(first, 3) == ids
