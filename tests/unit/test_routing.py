"""Route ids: the `dbid` pattern takes exactly the numbers PostgreSQL's `int` can hold."""

from __future__ import annotations

import re

from chatin.db import INT_MAX
from chatin.views import DatabaseId


def test_database_id_pattern_takes_exactly_one_to_int_max() -> None:
    pattern = re.compile(DatabaseId.regex)
    # Around the bound, and each number that differs from it in one digit.
    limit = str(INT_MAX)
    candidates = {1, 9, 10, 99, 10**9 - 1, 10**9, 10**10 - 1, 10**10, INT_MAX - 1, INT_MAX + 1}
    for i in range(len(limit)):
        for digit in "0123456789":
            candidates.add(int(limit[:i] + digit + limit[i + 1 :]))
    for number in sorted(candidates):
        assert bool(pattern.fullmatch(str(number))) == (1 <= number <= INT_MAX), number
    for text in ("0", "007", "-1", "+1", "1.0", str(2**63)):
        assert pattern.fullmatch(text) is None, text
