"""The PostgreSQL tools an operator command picks, without a database."""

from __future__ import annotations

import pytest

from chatin.ops.postgres import OpsError, tool


def test_the_packaged_pg_dump_serves_its_own_postgresql() -> None:
    assert tool("pg_dump", 18).major >= 18


def test_a_server_newer_than_every_pg_dump_is_refused_with_what_to_install() -> None:
    with pytest.raises(OpsError, match=r"PostgreSQL 99 needs pg_dump 99 or newer \(.*18\."):
        tool("pg_dump", 99)
