"""/internal/stats: the hub's counters for the load benchmark, from this machine only."""

from __future__ import annotations

import gc
import os

from quart.testing import QuartClient


async def test_the_stats_answer_a_local_request_with_this_workers_counters(
    client: QuartClient,
) -> None:
    response = await client.get("/internal/stats", scope_base={"client": ("127.0.0.1", 5000)})
    assert response.status_code == 200
    stats = await response.get_json()
    assert stats["pid"] == os.getpid()
    assert {"sockets", "events", "batches", "backlog", "lag_ms"} <= stats.keys()


async def test_the_stats_are_not_shown_to_other_machines_or_through_a_proxy(
    client: QuartClient,
) -> None:
    remote = await client.get("/internal/stats", scope_base={"client": ("203.0.113.5", 5000)})
    proxied = await client.get(
        "/internal/stats",
        scope_base={"client": ("127.0.0.1", 5000)},
        headers={"X-Forwarded-For": "203.0.113.5"},
    )
    assert (remote.status_code, proxied.status_code) == (404, 404)


async def read_stats(client: QuartClient) -> dict[str, object]:
    response = await client.get("/internal/stats", scope_base={"client": ("127.0.0.1", 5000)})
    return await response.get_json()


async def test_the_stats_time_the_collectors_pauses_and_sample_the_pool(
    client: QuartClient,
) -> None:
    before = await read_stats(client)
    gc.collect()
    after = await read_stats(client)
    assert after["gc_collections"] > before["gc_collections"]
    assert after["gc_pause_ms"] > before["gc_pause_ms"]
    assert {"pool_idle", "pool_waiting", "gc_ms"} <= after.keys()
