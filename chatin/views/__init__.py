"""HTTP blueprints: accounts, chat, message actions and health, and the id converters their
routes use."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

from chatin.db import BIGINT_MAX, INT_MAX


def numbers_up_to(limit: int) -> str:
    """A regex for the numbers 1 … limit (limit ≥ 10) written without leading zeros.

    The bound must be in the pattern: werkzeug matches paths by pattern and converts after,
    so a bound checked only in `to_python` turns a POST to a too-large id into 405 (the path
    of its GET twin matched) instead of 404.
    """
    digits = str(limit)
    shorter = rf"[1-9]\d{{0,{len(digits) - 2}}}"
    same_length = [
        rf"{digits[:i]}[{lowest}-{int(digit) - 1}]\d{{{len(digits) - i - 1}}}"
        for i, digit in enumerate(digits)
        if int(digit) > (lowest := 1 if i == 0 else 0)
    ]
    return "|".join([shorter, *same_length, digits])


class DatabaseId(IntegerConverter):
    """`<dbid:…>`: a positive number that fits PostgreSQL's `int`, the type of our id columns.

    A larger number can name no row, so no route matches and the answer is the usual 404 for
    a missing id, instead of an overflow in the query (a 500).
    """

    regex = numbers_up_to(INT_MAX)


class BigDatabaseId(IntegerConverter):
    """`<bigid:…>`: a positive number that fits PostgreSQL's `bigint`, the type of message ids."""

    regex = numbers_up_to(BIGINT_MAX)
