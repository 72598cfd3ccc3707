"""The chat pages and the writes they make: contacts, messages, accept and block."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import timedelta

from quart import Blueprint, Response, current_app, redirect, render_template, request

from chatin import uploads
from chatin.auth import count_attempt, login_required, required_viewer
from chatin.db import BIGINT_MAX
from chatin.fragments import render_message, render_page_of_messages, render_reply_bar
from chatin.models import (
    MAX_MESSAGE_CHARS,
    PAGE_SIZE,
    SEND_WINDOW,
    Conversation,
    InvalidInput,
    LocalThrottle,
    Message,
    NotDelivered,
    NotFound,
    Quote,
    Throttle,
    TooBig,
    TooFast,
    TooLong,
    User,
    entries_for_members,
    entries_of_viewer,
    quotes_of,
    with_extras,
)
from chatin.views import files

blueprint = Blueprint("chat", __name__)

TAB_TOKEN_BITS = 52  # a page's token, exact as a JavaScript number
CONTACT_ADDS = Throttle("contacts", limit=30, window=timedelta(hours=1))
NOT_DELIVERED = "This message could not be delivered."
TOO_LONG = f"Messages can be at most {MAX_MESSAGE_CHARS:,} characters."
TOO_FAST = "You're sending messages too fast. Wait a few seconds."
NO_ROOM = "You have no room left for files. Delete some of your files first."


def _first_unread(messages: list[Message], last_read: int, viewer_id: int) -> int | None:
    """Where the "New messages" divider goes: above the first unread message from others."""
    return next(
        (m.id for m in messages if m.id > last_read and m.author_id != viewer_id and not m.system),
        None,
    )


TYPING_INTERVAL_SECONDS = 3.0
_typing_throttle = LocalThrottle(TYPING_INTERVAL_SECONDS)


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _go(location: str) -> Response:
    """Where a write leads: htmx is told to navigate, a plain form gets a 303."""
    if _is_htmx():
        return Response("", status=204, headers={"HX-Redirect": location})
    return redirect(location, 303)


def _tab_token(raw: str | None) -> int | None:
    """The sending page's token (its tab needs no copy of the message pushed back); only a
    hint, so anything but a token the page could have been given counts as none."""
    if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= 1 << TAB_TOKEN_BITS:
        return int(raw)
    return None


def _parse_id(raw: str | None) -> int | None:
    """A message id from a query string or form; garbage means "none" rather than an error
    page, and a number past `bigint` is a message that can't exist (NotFound: 404)."""
    try:
        value = int(raw) if raw else None
    except ValueError:
        return None
    if value is not None and value > BIGINT_MAX:
        raise NotFound
    return value if value is None or value > 0 else None


async def _chat_page(viewer: User, status: int = 200, **context: object) -> tuple[str, int]:
    query = request.args.get("q", "").strip().casefold()[:100]
    entries = [
        entry
        for entry in await entries_of_viewer(viewer.id)
        if query in entry.other_name.casefold()
    ]
    context.setdefault("query", query)
    context.setdefault("contact_error", None)
    context.setdefault("contact_email", "")
    page = await render_template("pages/chat.html", viewer=viewer, entries=entries, **context)
    return page, status


@blueprint.get("/")
@login_required
async def home() -> tuple[str, int]:
    return await _chat_page(await required_viewer())


@blueprint.post("/contacts")
@login_required
async def add_contact() -> Response | tuple[str, int]:
    viewer = await required_viewer()
    email = (await request.form).get("contact_email", "")
    attempt = await count_attempt(CONTACT_ADDS, f"user:{viewer.id}")
    if attempt.retry_after:
        page, _ = await _chat_page(
            viewer, contact_email=email, contact_error="Too many new contacts. Try again later."
        )
        return Response(page, status=429, headers={"Retry-After": str(attempt.retry_after)})
    try:
        conversation = await Conversation.start_direct(viewer, email)
    except InvalidInput as invalid:
        error = invalid.errors["contact_email"]
        return await _chat_page(viewer, 422, contact_email=email, contact_error=error)
    return _go(f"/c/{conversation.id}")


@blueprint.get("/c/<dbid:conversation_id>")
@login_required
async def conversation_page(conversation_id: int) -> tuple[str, int]:
    viewer = await required_viewer()
    entries = await entries_of_viewer(viewer.id)
    entry = next((e for e in entries if e.id == conversation_id), None)
    if entry is None:  # the list holds exactly the conversations the viewer may open
        raise NotFound
    conversation = Conversation.handle(conversation_id)
    before = _parse_id(request.args.get("before"))
    messages = await conversation.messages_before(viewer, before, PAGE_SIZE + 1)
    has_older, messages = len(messages) > PAGE_SIZE, messages[-PAGE_SIZE:]
    page = await render_template(
        "pages/conversation.html",
        replying=await _quote_to_answer(
            conversation_id, _parse_id(request.args.get("reply")), entry.visible_from
        ),
        viewer=viewer,
        entries=entries,
        open_id=conversation.id,
        entry=entry,
        conversation=conversation,
        messages=messages,
        has_older=has_older,
        first_unread_id=_first_unread(messages, entry.last_read, viewer.id),
        client_id=uuid.uuid4(),
        tab=secrets.randbits(TAB_TOKEN_BITS) + 1,
        max_message_chars=MAX_MESSAGE_CHARS,
    )
    return page, 200


async def _quote_to_answer(
    conversation_id: int, message_id: int | None, visible_from: int = 0
) -> Quote | None:
    """The message the composer answers (`?reply=`, the Reply link without JavaScript):
    one of this conversation's that is still there and in the viewer's history, else none."""
    quote = (await quotes_of([message_id])).get(message_id) if message_id else None
    if quote is None or quote.conversation_id != conversation_id or quote.deleted:
        return None
    if quote.id <= visible_from:
        return None
    return quote


@blueprint.get("/c/<dbid:conversation_id>/m/<bigid:message_id>/reply")
@login_required
async def reply_bar(conversation_id: int, message_id: int) -> tuple[str, int]:
    """The composer's "Replying to …" bar for Reply with JavaScript (the page's own bar
    without it)."""
    viewer = await required_viewer()
    await Message.shown_to(viewer, conversation_id, message_id)
    quote = await _quote_to_answer(conversation_id, message_id)
    return render_reply_bar(quote, viewer), 200


@blueprint.get("/c/<dbid:conversation_id>/messages")
@login_required
async def older_messages(conversation_id: int) -> str:
    """The page of messages before `before`, with the link to the page before that."""
    viewer = await required_viewer()
    entry = (await entries_for_members(conversation_id, [viewer.id])).get(viewer.id)
    if entry is None:  # not a member (or blocked it): the same 404 as a missing id
        raise NotFound
    conversation = Conversation.handle(conversation_id)
    messages = await conversation.messages_before(
        viewer, _parse_id(request.args.get("before")), PAGE_SIZE + 1
    )
    has_older, messages = len(messages) > PAGE_SIZE, messages[-PAGE_SIZE:]
    return render_page_of_messages(conversation, messages, has_older, viewer, entry)


@blueprint.post("/c/<dbid:conversation_id>/messages")
@uploads.streams_body
@login_required
async def send_message(conversation_id: int) -> Response | tuple[str, int]:
    """Store and announce a message, or one message per attached file (a multipart form).
    Membership is checked by the post statement itself; refusals of bad input check it
    first, so strangers always get the same 404."""
    viewer = await required_viewer()
    if request.mimetype == "multipart/form-data":
        return await _send_form(viewer, conversation_id)
    return await _send_text(viewer, conversation_id, await request.form)


async def _send_text(
    viewer: User, conversation_id: int, form: Mapping[str, str]
) -> Response | tuple[str, int]:
    try:
        client_id = uuid.UUID(form.get("client_id", ""))
        body = Message.clean(form.get("body", ""))
    except (ValueError, InvalidInput, TooLong) as bad:
        await Conversation.visible_to(viewer, conversation_id)
        return await _send_failed(conversation_id, *_refusal(bad))
    try:
        message = await Conversation.handle(conversation_id).post(
            viewer,
            body,
            client_id,
            _limited(),
            reply_to=_parse_id(form.get("reply_to")),
            tab=_tab_token(form.get("tab")),
        )
    except (TooFast, NotDelivered) as refused:
        return await _post_refused(conversation_id, refused)
    if not _is_htmx():
        return redirect(f"/c/{conversation_id}", 303)
    await with_extras([message])
    return render_message(message, viewer, None), 201


async def _send_form(viewer: User, conversation_id: int) -> Response | tuple[str, int]:
    """A multipart send (files, or the composer with JavaScript off): membership is checked
    before a byte of the body is read."""
    await Conversation.visible_to(viewer, conversation_id)
    try:
        async with uploads.received() as form:
            if not form.uploads:
                return await _send_text(viewer, conversation_id, form.fields)
            reply_to = _parse_id(form.fields.get("reply_to"))
            messages = await files.post_received(
                viewer, conversation_id, form, _limited(), reply_to
            )
    except uploads.Refused as refused:
        failed = await _send_failed(conversation_id, refused.text, refused.status)
        if refused.status == 429:
            return Response(*failed, headers={"Retry-After": str(uploads.RETRY_AFTER_SECONDS)})
        return failed
    except (ValueError, InvalidInput, TooLong) as bad:
        return await _send_failed(conversation_id, *_refusal(bad))
    except TooBig:
        return await _send_failed(conversation_id, NO_ROOM, 413)
    except (TooFast, NotDelivered) as refused:
        return await _post_refused(conversation_id, refused)
    if not _is_htmx():
        return redirect(f"/c/{conversation_id}", 303)
    await with_extras(messages)
    return "".join(render_message(message, viewer, None) for message in messages), 201


def _limited() -> bool:
    return current_app.extensions["settings"].rate_limits


async def _post_refused(conversation_id: int, refused: Exception) -> Response | tuple[str, int]:
    if isinstance(refused, TooFast):
        failed = await _send_failed(conversation_id, TOO_FAST, 429)
        return Response(*failed, headers={"Retry-After": str(SEND_WINDOW.seconds)})
    return await _send_failed(conversation_id, NOT_DELIVERED, 422)


def _refusal(bad: Exception) -> tuple[str, int]:
    if isinstance(bad, TooLong):
        return TOO_LONG, 413
    if isinstance(bad, InvalidInput):
        return bad.errors["body"], 400
    return "This page is out of date. Reload it.", 400


async def _send_failed(conversation_id: int, text: str, status: int) -> tuple[str, int]:
    """htmx shows the text beside the failed bubble; a plain form gets the error page."""
    if _is_htmx():
        return text, status
    page = await render_template(
        "pages/error.html", code=status, message=text, back=f"/c/{conversation_id}"
    )
    return page, status


@blueprint.post("/c/<dbid:conversation_id>/read")
@login_required
async def mark_read(conversation_id: int) -> tuple[str, int]:
    """The tab saw messages up to `upto` (scrolled into view while visible)."""
    viewer = await required_viewer()
    conversation = await Conversation.visible_to(viewer, conversation_id)
    upto = _parse_id((await request.form).get("upto"))
    if upto is None:
        return "upto must be a message id", 400
    await conversation.mark_read(viewer, upto)
    return "", 204


@blueprint.post("/c/<dbid:conversation_id>/typing")
@login_required
async def typing(conversation_id: int) -> tuple[str, int]:
    """Announce typing; repeats within TYPING_INTERVAL are dropped, never stored."""
    viewer = await required_viewer()
    conversation = await Conversation.visible_to(viewer, conversation_id)
    if _typing_throttle.allow((viewer.id, conversation.id)):
        await conversation.announce_typing(viewer)
    return "", 204


@blueprint.post("/c/<dbid:conversation_id>/accept")
@login_required
async def accept(conversation_id: int) -> Response:
    viewer = await required_viewer()
    conversation = await Conversation.visible_to(viewer, conversation_id)
    await conversation.accept(viewer)
    return _go(f"/c/{conversation_id}")


@blueprint.post("/c/<dbid:conversation_id>/block")
@login_required
async def block(conversation_id: int) -> Response:
    viewer = await required_viewer()
    conversation = await Conversation.visible_to(viewer, conversation_id)
    await conversation.block(viewer)
    return _go("/")
