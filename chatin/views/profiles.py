"""What people share of themselves: the connect link (opening it offers a conversation with
its owner) and the profile picture."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, redirect, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from chatin import images
from chatin.auth import (
    count_attempt,
    current_viewer,
    forget_user_sessions,
    login_required,
    required_viewer,
)
from chatin.bodies import takes_files
from chatin.models import Conversation, NotFound, User
from chatin.models.profiles import (
    LinkOwner,
    link_owner,
    picture_for,
    remove_picture,
    reset_link,
    set_picture,
)
from chatin.views.accounts import profile_page
from chatin.views.chat import CONTACT_ADDS

blueprint = Blueprint("profiles", __name__)

TOO_MANY_CONTACTS = "Too many new contacts. Try again later."
PICTURE_PATH = "/profile/picture"
MAX_PICTURE_BYTES = 10 * 1024 * 1024
PICTURE_FORM_BYTES = MAX_PICTURE_BYTES + 64 * 1024  # the file and the form around it
PICTURE_SIZES = {"large": 256, "small": 64}
PICTURE_SLOTS = 2  # pictures decoded at once per worker: each may take a core and ~160 MB
_picture_slots = asyncio.Semaphore(PICTURE_SLOTS)
PICTURE_CACHE_SECONDS = 365 * 24 * 3600  # a new picture has a new URL
PICTURE_HEADERS = {
    "Content-Type": "image/webp",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": f"private, max-age={PICTURE_CACHE_SECONDS}, immutable",
}
NOT_A_PICTURE = "That file isn't a picture. Use a JPEG, PNG, GIF or WebP image."
UNREADABLE = "That picture can't be read: it may be damaged, or larger than 40 megapixels."
NO_FILE = "Choose a picture to upload."
TOO_LARGE = f"Pictures can be at most {MAX_PICTURE_BYTES // (1024 * 1024)} MB."


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


@blueprint.errorhandler(RequestEntityTooLarge)
async def picture_too_large(_: RequestEntityTooLarge) -> tuple[str, int]:
    """Refused on its Content-Length (or cut off at the limit): say so on the profile page."""
    viewer = await current_viewer()
    if viewer is None or request.path != PICTURE_PATH:
        return TOO_LARGE, 413
    return await profile_page(viewer, 413, errors={"picture": TOO_LARGE})


def _squares(data: bytes) -> tuple[bytes, bytes] | None:
    """The 256 and 64 px square WebPs (the small one made from the large one), or None."""
    large = images.square(data, PICTURE_SIZES["large"])
    small = images.square(large.data, PICTURE_SIZES["small"]) if large else None
    return (large.data, small.data) if large and small else None


@blueprint.post(PICTURE_PATH)
@takes_files(lambda _app: PICTURE_FORM_BYTES)
@login_required
async def upload_picture() -> tuple[str, int] | Response:
    """Type from the bytes, never the name; anything but a readable picture is a 400 with
    nothing stored. Contacts see the new one live."""
    viewer = await required_viewer()
    upload = (await request.files).get("picture")
    data = upload.read(MAX_PICTURE_BYTES + 1) if upload is not None else b""
    if not data:
        return await profile_page(viewer, 400, errors={"picture": NO_FILE})
    if not images.is_image(images.detect(data)):
        return await profile_page(viewer, 400, errors={"picture": NOT_A_PICTURE})
    async with _picture_slots:
        squares = await asyncio.to_thread(_squares, data)
    if squares is None:
        return await profile_page(viewer, 400, errors={"picture": UNREADABLE})
    await set_picture(viewer.id, *squares)
    forget_user_sessions(viewer.id)
    return redirect("/profile?saved=picture", 303)


@blueprint.post(f"{PICTURE_PATH}/remove")
@login_required
async def delete_picture() -> Response:
    viewer = await required_viewer()
    await remove_picture(viewer.id)
    forget_user_sessions(viewer.id)
    return redirect("/profile?saved=no-picture", 303)


@blueprint.get("/people/<dbid:person_id>/picture/<version>/<any(large, small):size>.webp")
async def picture(person_id: int, version: str, size: str) -> Response:
    """Only the owner and people who share a conversation with them get it; anyone else the
    same 404 as for no picture. An older version's URL leads to the current one."""
    viewer = await current_viewer()
    found = await picture_for(person_id, viewer.id, size) if viewer is not None else None
    if found is None:
        raise NotFound
    if found.version != version:
        return redirect(f"/people/{person_id}/picture/{found.version}/{size}.webp")
    tag = f"{found.version}-{size}"
    headers = {**PICTURE_HEADERS, "ETag": f'"{tag}"'}
    if request.if_none_match.contains_weak(tag):
        return Response(status=304, headers=headers)
    return Response(found.image, headers=headers)
