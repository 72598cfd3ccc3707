"""What people share of themselves: the connect link (opening it offers a conversation with
its owner) and the profile picture."""

from __future__ import annotations

from quart import Blueprint, Response, redirect, render_template

from chatin.auth import count_attempt, current_viewer, login_required, required_viewer
from chatin.models import Conversation, NotFound, User
from chatin.models.profiles import LinkOwner, link_owner, reset_link
from chatin.views.chat import CONTACT_ADDS

blueprint = Blueprint("profiles", __name__)

TOO_MANY_CONTACTS = "Too many new contacts. Try again later."


async def _owner(token: str) -> LinkOwner:
    """The link's owner; a malformed, unknown or reset token is the usual 404."""
    owner = await link_owner(token)
    if owner is None:
        raise NotFound
    return owner


async def _connect_page(
    viewer: User, token: str, owner: LinkOwner, status: int = 200, error: str | None = None
) -> tuple[str, int]:
    own = owner.id == viewer.id
    page = await render_template(
        "pages/connect.html", viewer=viewer, token=token, owner=owner, own=own, error=error
    )
    return page, status


@blueprint.get("/link/<token>")
async def connect(token: str) -> tuple[str, int] | Response:
    """Logged in: "Start a conversation with …?". Logged out: log in or sign up first, then
    back here (the log-in form carries the way back)."""
    owner = await _owner(token)
    viewer = await current_viewer()
    if viewer is None:
        return redirect(f"/login?next=/link/{token}")
    return await _connect_page(viewer, token, owner)


@blueprint.post("/link/<token>")
@login_required
async def start_conversation(token: str) -> tuple[str, int] | Response:
    """The same request as "Add contact": the owner still accepts or blocks, an existing
    conversation just opens, and it counts against the same hourly limit."""
    viewer = await required_viewer()
    owner = await _owner(token)
    if owner.id == viewer.id:
        return await _connect_page(viewer, token, owner, 422)
    attempt = await count_attempt(CONTACT_ADDS, f"user:{viewer.id}")
    if attempt.retry_after:
        page, _ = await _connect_page(viewer, token, owner, error=TOO_MANY_CONTACTS)
        return Response(page, status=429, headers={"Retry-After": str(attempt.retry_after)})
    conversation = await Conversation.start_direct_with(viewer, owner.id)
    return redirect(f"/c/{conversation.id}", 303)


@blueprint.post("/profile/link")
@login_required
async def new_link() -> Response:
    """A new token: whoever has the old link now gets a 404."""
    await reset_link((await required_viewer()).id)
    return redirect("/profile?saved=link", 303)
