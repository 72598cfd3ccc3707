"""Message actions: reacting to any message, editing and deleting one's own, as plain forms
and pages that work without JavaScript; htmx gets the message as it now is."""

from __future__ import annotations

from datetime import timedelta

from quart import Blueprint, Response, redirect, render_template, request

from chatin.auth import count_attempt, login_required, required_viewer
from chatin.fragments import render_message
from chatin.models import (
    MAX_MESSAGE_CHARS,
    Deleted,
    InvalidInput,
    Message,
    NotDelivered,
    NotYours,
    Throttle,
    TooLong,
    User,
    attach_files,
    entries_for_members,
    find_emoji,
    is_reaction,
    react,
    unreact,
    with_extras,
)

blueprint = Blueprint("actions", __name__)

# Every change is pushed to every tab of the conversation, so edits, deletes and reactions
# are counted like sends are: per person, shared by all workers.
CHANGES = Throttle("changes", limit=20, window=timedelta(seconds=10))
NOT_YOURS = "Only the person who sent a message can change it."
DELETED = "This message was deleted, so it can't be edited."
REACT_DELETED = "This message was deleted, so it takes no reactions."
NOT_AN_EMOJI = "Pick one emoji from the list."
NOT_DELIVERED = "This conversation doesn't take changes from you."
TOO_FAST = "You're changing messages too fast. Wait a few seconds."
TOO_LONG = f"Messages can be at most {MAX_MESSAGE_CHARS:,} characters."
MESSAGE_PATH = "/c/<dbid:conversation_id>/m/<bigid:message_id>"


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@blueprint.get(f"{MESSAGE_PATH}/edit")
@login_required
async def edit_page(conversation_id: int, message_id: int) -> tuple[str, int] | Response:
    viewer = await required_viewer()
    try:
        message = await Message.own(viewer, conversation_id, message_id)
    except (NotYours, Deleted) as refused:
        return await _refused(conversation_id, refused)
    return await _edit_page(message, message.body, None, 200)


@blueprint.post(f"{MESSAGE_PATH}/edit")
@login_required
async def edit(conversation_id: int, message_id: int) -> tuple[str, int] | Response:
    viewer = await required_viewer()
    body = (await request.form).get("body", "")
    try:
        message = await Message.own(viewer, conversation_id, message_id)
        if refused := await _too_fast(viewer):
            return refused
        changed = await Message.edit(viewer, conversation_id, message_id, body)
    except (NotYours, Deleted, NotDelivered) as refused:
        return await _refused(conversation_id, refused)
    except (InvalidInput, TooLong) as bad:
        text, status = (TOO_LONG, 413) if isinstance(bad, TooLong) else (bad.errors["body"], 400)
        return (text, status) if _is_htmx() else await _edit_page(message, body, text, status)
    return await _changed(viewer, changed)


@blueprint.get(f"{MESSAGE_PATH}/delete")
@login_required
async def delete_page(conversation_id: int, message_id: int) -> tuple[str, int] | Response:
    viewer = await required_viewer()
    try:
        message = await Message.own(viewer, conversation_id, message_id)
    except (NotYours, Deleted) as refused:
        if isinstance(refused, Deleted):  # asked twice: it's done
            return redirect(f"/c/{conversation_id}", 303)
        return await _refused(conversation_id, refused)
    page = await render_template("pages/delete_message.html", message=message)
    return page, 200


@blueprint.post(f"{MESSAGE_PATH}/delete")
@login_required
async def delete(conversation_id: int, message_id: int) -> tuple[str, int] | Response:
    viewer = await required_viewer()
    try:
        if refused := await _too_fast(viewer):
            return refused
        changed = await Message.delete_for_everyone(viewer, conversation_id, message_id)
    except (NotYours, NotDelivered) as refused:
        return await _refused(conversation_id, refused)
    return await _changed(viewer, changed)


@blueprint.get(f"{MESSAGE_PATH}/react")
@login_required
async def react_page(conversation_id: int, message_id: int) -> tuple[str, int]:
    """Every emoji to react with, searchable by name: "More…" with or without JavaScript."""
    viewer = await required_viewer()
    message = await Message.shown_to(viewer, conversation_id, message_id)
    if message.is_deleted:
        return await _answer(conversation_id, REACT_DELETED, 409)
    await with_extras([message])
    query = request.args.get("q", "").strip()[:100]
    page = await render_template(
        "pages/react.html",
        message=message,
        query=query,
        found=find_emoji(query),
        chosen=message.reaction_by(viewer.id),
    )
    return page, 200


@blueprint.post(f"{MESSAGE_PATH}/react")
@login_required
async def react_to(conversation_id: int, message_id: int) -> tuple[str, int] | Response:
    """Set the viewer's reaction to `emoji`, or take back `unreact` (the button pressed says
    which: a retry reaches the same state instead of toggling back)."""
    viewer = await required_viewer()
    form = await request.form
    removing = "unreact" in form
    emoji = form.get("unreact" if removing else "emoji", "")
    if not is_reaction(emoji):
        await Message.shown_to(viewer, conversation_id, message_id)  # strangers: the 404
        return await _answer(conversation_id, NOT_AN_EMOJI, 400)
    try:
        if refused := await _too_fast(viewer):
            return refused
        await (unreact if removing else react)(viewer, conversation_id, message_id, emoji)
    except Deleted:
        return await _answer(conversation_id, REACT_DELETED, 409)
    except NotDelivered as refused:
        return await _refused(conversation_id, refused)
    return await _changed(viewer, await Message.get(id=message_id))


async def _too_fast(viewer: User) -> Response | None:
    attempt = await count_attempt(CHANGES, f"user:{viewer.id}")
    if attempt.retry_after is None:
        return None
    text, status = await _answer(None, TOO_FAST, 429)
    return Response(text, status=status, headers={"Retry-After": str(attempt.retry_after)})


async def _changed(viewer: User, message: Message) -> tuple[str, int] | Response:
    """htmx gets the message as it now is (with the viewer's ticks); a plain form goes back
    to the conversation, at the message."""
    if not _is_htmx():
        return redirect(f"/c/{message.conversation_id}#message-{message.id}", 303)
    entry = (await entries_for_members(message.conversation_id, [viewer.id])).get(viewer.id)
    await attach_files([message])
    await with_extras([message])
    return render_message(message, viewer, entry), 200


async def _refused(conversation_id: int, refused: Exception) -> tuple[str, int]:
    if isinstance(refused, NotYours):
        return await _answer(conversation_id, NOT_YOURS, 403)
    if isinstance(refused, Deleted):
        return await _answer(conversation_id, DELETED, 409)
    return await _answer(conversation_id, NOT_DELIVERED, 422)


async def _answer(conversation_id: int | None, text: str, status: int) -> tuple[str, int]:
    """htmx shows the text; a plain form gets the error page."""
    if _is_htmx():
        return text, status
    back = f"/c/{conversation_id}" if conversation_id else None
    page = await render_template("pages/error.html", code=status, message=text, back=back)
    return page, status


async def _edit_page(
    message: Message, body: str, error: str | None, status: int
) -> tuple[str, int]:
    page = await render_template(
        "pages/edit_message.html",
        message=message,
        body=body,
        error=error,
        max_message_chars=MAX_MESSAGE_CHARS,
    )
    return page, status
