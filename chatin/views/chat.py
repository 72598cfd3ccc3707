"""The chat page."""

from __future__ import annotations

from quart import Blueprint, render_template

from chatin.auth import current_viewer, login_required

blueprint = Blueprint("chat", __name__)


@blueprint.get("/")
@login_required
async def home() -> str:
    return await render_template("pages/chat.html", viewer=await current_viewer())
