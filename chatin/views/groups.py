"""Group pages and the writes they make: a new group, its info page, adding, removing,
leaving, renaming, owners. Plain forms and pages that work without JavaScript; the ones
that can't be undone ask first, on a page of their own."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, redirect, render_template, request

from chatin.auth import login_required, required_viewer
from chatin.db import INT_MAX
from chatin.models import (
    MAX_GROUP_MEMBERS,
    MAX_GROUP_NAME_CHARS,
    InvalidInput,
    NotFound,
    NotOwner,
    User,
    add_people,
    contacts_of,
    create_group,
    entries_of_viewer,
    leave_group,
    make_owner,
    members_of,
    remove_member,
    rename_group,
)

blueprint = Blueprint("groups", __name__)

GROUP = "/c/<dbid:conversation_id>"
MEMBER = f"{GROUP}/members/<dbid:member_id>"
NOT_OWNER = "Only the group's owners can do that."


@blueprint.errorhandler(NotOwner)
async def not_owner(_: NotOwner) -> tuple[str, int]:
    return await render_template("pages/error.html", code=403, message=NOT_OWNER), 403


def _go(location: str) -> Response:
    """Where a write leads: htmx is told to navigate, a plain form gets a 303."""
    if request.headers.get("HX-Request") == "true":
        return Response("", status=204, headers={"HX-Redirect": location})
    return redirect(location, 303)


def _chosen(form: Any) -> list[int]:
    """The ticked people's ids; anything that isn't an id can't be a contact (422)."""
    raw = form.getlist("members")
    if len(raw) > MAX_GROUP_MEMBERS or not all(v.isascii() and v.isdigit() for v in raw):
        raise InvalidInput({"members": "Choose people from your contacts."})
    ids = [int(value) for value in raw]
    if any(person_id > INT_MAX for person_id in ids):
        raise InvalidInput({"members": "Choose people from your contacts."})
    return ids


async def _app_page(template: str, viewer: User, status: int = 200, **context: Any) -> Any:
    """A page in the chat layout (the list beside it)."""
    entries = await entries_of_viewer(viewer.id)
    page = await render_template(template, viewer=viewer, entries=entries, **context)
    return page, status


async def _new_group_page(viewer: User, status: int = 200, **context: Any) -> Any:
    context.setdefault("name", "")
    context.setdefault("chosen", [])
    context.setdefault("errors", {})
    return await _app_page(
        "pages/new_group.html",
        viewer,
        status,
        contacts=await contacts_of(viewer),
        max_name=MAX_GROUP_NAME_CHARS,
        **context,
    )


@blueprint.get("/groups/new")
@login_required
async def new_group() -> Any:
    return await _new_group_page(await required_viewer())


@blueprint.post("/groups")
@login_required
async def create() -> Any:
    viewer = await required_viewer()
    form = await request.form
    name = form.get("name", "")[: MAX_GROUP_NAME_CHARS * 4]
    try:
        chosen = _chosen(form)
        group = await create_group(viewer, name, chosen)
    except InvalidInput as invalid:
        ticked = [v for v in form.getlist("members") if v.isascii() and v.isdigit()]
        return await _new_group_page(
            viewer, 422, name=name, chosen=[int(v) for v in ticked], errors=invalid.errors
        )
    return _go(f"/c/{group.id}")


async def _info_page(viewer: User, conversation_id: int, status: int = 200, **context: Any) -> Any:
    members = await members_of(viewer, conversation_id)
    entries = await entries_of_viewer(viewer.id)
    entry = next((e for e in entries if e.id == conversation_id), None)
    if entry is None:
        raise NotFound
    in_group = {member.id for member in members}
    context.setdefault("errors", {})
    page = await render_template(
        "pages/group_info.html",
        viewer=viewer,
        entries=entries,
        entry=entry,
        open_id=conversation_id,
        members=members,
        addable=[p for p in await contacts_of(viewer) if p.id not in in_group],
        max_name=MAX_GROUP_NAME_CHARS,
        **context,
    )
    return page, status


@blueprint.get(f"{GROUP}/info")
@login_required
async def info(conversation_id: int) -> Any:
    return await _info_page(await required_viewer(), conversation_id)


@blueprint.post(f"{GROUP}/members")
@login_required
async def add(conversation_id: int) -> Any:
    viewer = await required_viewer()
    form = await request.form
    try:
        await add_people(viewer, conversation_id, _chosen(form), "share_history" in form)
    except InvalidInput as invalid:
        await members_of(viewer, conversation_id)  # a stranger's 404 before any 422
        return await _info_page(viewer, conversation_id, 422, errors=invalid.errors)
    return _go(f"/c/{conversation_id}/info")


@blueprint.post(f"{GROUP}/name")
@login_required
async def rename(conversation_id: int) -> Any:
    viewer = await required_viewer()
    name = (await request.form).get("name", "")[: MAX_GROUP_NAME_CHARS * 4]
    try:
        await rename_group(viewer, conversation_id, name)
    except InvalidInput as invalid:
        return await _info_page(viewer, conversation_id, 422, errors=invalid.errors)
    return _go(f"/c/{conversation_id}/info")


@blueprint.post(f"{MEMBER}/owner")
@login_required
async def owner(conversation_id: int, member_id: int) -> Any:
    await make_owner(await required_viewer(), conversation_id, member_id)
    return _go(f"/c/{conversation_id}/info")


async def _ask(conversation_id: int, title: str, lead: str, action: str, button: str) -> str:
    """A page that asks before a change that can't be undone; its form makes the change."""
    back = f"/c/{conversation_id}/info"
    return await render_template(
        "pages/confirm.html", title=title, lead=lead, action=action, button=button, back=back
    )


@blueprint.get(f"{MEMBER}/remove")
@login_required
async def remove_page(conversation_id: int, member_id: int) -> Any:
    """Asks first: the info page's "Remove" leads here."""
    viewer = await required_viewer()
    members = await members_of(viewer, conversation_id)
    person = next((m for m in members if m.id == member_id and m.id != viewer.id), None)
    if person is None:
        raise NotFound
    lead = f"{person.name} will no longer see this group or its messages."
    action = f"/c/{conversation_id}/members/{member_id}/remove"
    return await _ask(conversation_id, f"Remove {person.name}?", lead, action, "Remove")


@blueprint.post(f"{MEMBER}/remove")
@login_required
async def remove(conversation_id: int, member_id: int) -> Any:
    await remove_member(await required_viewer(), conversation_id, member_id)
    return _go(f"/c/{conversation_id}/info")


@blueprint.get(f"{GROUP}/leave")
@login_required
async def leave_page(conversation_id: int) -> Any:
    """Asks first: the info page's "Leave group" leads here."""
    await members_of(await required_viewer(), conversation_id)
    lead = "You will no longer see the group or its messages, unless an owner adds you again."
    action = f"/c/{conversation_id}/leave"
    return await _ask(conversation_id, "Leave this group?", lead, action, "Leave group")


@blueprint.post(f"{GROUP}/leave")
@login_required
async def leave(conversation_id: int) -> Any:
    await leave_group(await required_viewer(), conversation_id)
    return _go("/")
