"""Liveness for load balancers and the start-up wait: is the database answering?"""

from __future__ import annotations

from quart import Blueprint

from chatin import db

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> tuple[dict[str, str], int]:
    if await db.ping():
        return {"status": "ok"}, 200
    return {"status": "unavailable"}, 503
