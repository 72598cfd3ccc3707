"""Group conversations: creating one, and who is in it (add, remove, leave, owners, name).

Every change takes the conversation's row lock, as posting does: a message sent while its
author is being removed is stored before the removal or refused with 404, and `to` lists
read under the lock name the members as of the change. Each change writes a system line
("Ana added Bo") as a message, so it is ordered, caught up and paged like one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from chatin import db
from chatin.events import Change, Kind, notify, notify_sql
from chatin.models.accounts import User
from chatin.models.conversations import (
    CURRENT,
    Conversation,
    ConversationKind,
    MemberRole,
    Membership,
    MemberState,
)
from chatin.models.errors import InvalidInput, NotFound, NotOwner
from chatin.models.visibility import CURRENT_STATES

MAX_GROUP_MEMBERS = 50
MAX_GROUP_NAME_CHARS = 80

# The accepted direct contacts of $1: both sides active (a blocker is not one).
_CONTACTS_SQL = """
SELECT u.id, u.display_name
FROM memberships me
JOIN conversations c ON c.id = me.conversation_id AND c.kind = 'direct'
JOIN memberships other ON other.conversation_id = c.id AND other.user_id <> me.user_id
JOIN users u ON u.id = other.user_id
WHERE me.user_id = $1 AND me.state = 'active' AND other.state = 'active'
ORDER BY lower(u.display_name), u.id
"""

# A system line in a locked group: $1 conversation, $2 who did it, $3 the text. Like a
# posted message it moves the conversation up; it goes to the members as they are now.
_SYSTEM_LINE_SQL = f"""
WITH inserted AS (
  INSERT INTO messages (conversation_id, author_id, body, client_id, created_at, seq, system)
  SELECT $1, $2, $3, gen_random_uuid(), now(), last_seq + 1, true
  FROM conversations WHERE id = $1
  RETURNING id, created_at, seq
), moved AS (
  UPDATE conversations SET last_message_id = i.id, last_activity_at = i.created_at,
    last_seq = i.seq
  FROM inserted i WHERE conversations.id = $1
  RETURNING 1
), mine AS (
  UPDATE memberships SET last_read_message_id = i.id, delivered_message_id = i.id
  FROM inserted i WHERE conversation_id = $1 AND user_id = $2
  RETURNING 1
)
SELECT i.id, {
    notify_sql(
        Kind.MESSAGE,
        "'conversation', $1::int, 'message', i.id, 'to', (SELECT array_agg(user_id) "
        f"FROM memberships WHERE conversation_id = $1 AND state IN {CURRENT_STATES})",
    )
} AS announced, (SELECT count(*) FROM moved) + (SELECT count(*) FROM mine) AS writes
FROM inserted i
"""


# $1 group, $2 member, $3 left or removed. The statement's snapshot predates its update, so
# `to` is everyone who was a member up to it, the leaver too (their tabs lose the group).
_DROP_SQL = f"""
WITH dropped AS (
  UPDATE memberships SET state = $3, role = 'member'
  WHERE conversation_id = $1 AND user_id = $2 AND state IN {CURRENT_STATES}
  RETURNING user_id
)
SELECT {
    notify_sql(
        Kind.CONVERSATION,
        f"'conversation', $1::int, 'change', '{Change.MEMBERS.value}', 'to', "
        "(SELECT array_agg(user_id) FROM memberships "
        f"WHERE conversation_id = $1 AND state IN {CURRENT_STATES})",
    )
}
FROM dropped
"""


@dataclass(frozen=True)
class Member:
    """One current member as the group info page lists them."""

    id: int
    name: str
    role: str

    @property
    def is_owner(self) -> bool:
        return self.role == MemberRole.OWNER


async def contacts_of(viewer: User) -> list[User]:
    """The people viewer may put into a group: accepted direct contacts only (strangers
    come through the request flow; someone who blocked the viewer is no contact)."""
    rows = await db.fetch(_CONTACTS_SQL, viewer.id)
    return [User._init_from_db(id=row["id"], display_name=row["display_name"]) for row in rows]


def clean_name(name: str) -> str | None:
    """A group's name as stored: trimmed, bounded, printable; empty means "no name" (the
    list then shows the members' names)."""
    text = " ".join(name.split())
    if len(text) > MAX_GROUP_NAME_CHARS:
        raise InvalidInput({"name": f"Use at most {MAX_GROUP_NAME_CHARS} characters."})
    if not text.isprintable():
        raise InvalidInput({"name": "Use letters, digits, spaces and punctuation only."})
    return text or None


async def create_group(creator: User, name: str, member_ids: Iterable[int]) -> Conversation:
    """A new group of creator (its owner) and some of their contacts; InvalidInput (422)
    for anyone else, for nobody, or past MAX_GROUP_MEMBERS, storing nothing."""
    cleaned = clean_name(name)
    people = await _chosen_contacts(creator, member_ids, already=0)
    async with in_transaction() as conn:
        group = await Conversation.create(kind=ConversationKind.GROUP, name=cleaned, using_db=conn)
        await Membership.bulk_create(
            [
                Membership(conversation=group, user=creator, role=MemberRole.OWNER),
                *(Membership(conversation=group, user=person) for person in people),
            ],
            using_db=conn,
        )
        await _system_line(conn, group.id, creator, f"{creator.display_name} created the group")
    return group


async def add_people(
    actor: User, conversation_id: int, member_ids: Iterable[int], share_history: bool
) -> None:
    """Owner adds contacts; they see the history only with share_history, else from now."""
    async with in_transaction() as conn:
        group, me = await _locked(conn, conversation_id, actor)
        _must_own(me)
        current = await _current_ids(conn, group.id)
        chosen = await _chosen_contacts(actor, set(member_ids) - current, len(current))
        last = group.last_message_id or 0
        for person in chosen:
            await Membership.update_or_create(
                conversation_id=group.id,
                user_id=person.id,
                defaults={
                    "state": MemberState.ACTIVE,
                    "role": MemberRole.MEMBER,
                    "visible_from": 0 if share_history else last,
                    "last_read_message_id": last,
                    "delivered_message_id": last,
                    "joined_at": datetime.now(UTC),
                },
                using_db=conn,
            )
        names = _and(person.display_name for person in chosen)
        await _system_line(conn, group.id, actor, f"{actor.display_name} added {names}")
        await _announce_members(conn, group.id)


async def remove_member(actor: User, conversation_id: int, member_id: int) -> None:
    """Owner removes a member, who from now on gets 404 for the group, like a stranger."""

    async def remove(conn: BaseDBAsyncClient, target: Membership, name: str) -> str | None:
        if target.user_id == actor.id:
            raise NotFound  # one leaves with leave_group
        await _drop(conn, target, MemberState.REMOVED)
        return f"{actor.display_name} removed {name}"

    await _owner_changes_member(actor, conversation_id, member_id, remove)


async def leave_group(member: User, conversation_id: int) -> None:
    """Anyone leaves; the last owner hands ownership to the longest-standing member."""
    async with in_transaction() as conn:
        group, me = await _locked(conn, conversation_id, member)
        await _drop(conn, me, MemberState.LEFT)
        owners = await Membership.filter(
            conversation_id=group.id, state__in=CURRENT, role=MemberRole.OWNER
        ).using_db(conn)
        if not owners:
            heir = (
                await Membership.filter(conversation_id=group.id, state__in=CURRENT)
                .using_db(conn)
                .order_by("joined_at", "id")
                .first()
            )
            if heir is not None:
                heir.role = MemberRole.OWNER
                await heir.save(using_db=conn, update_fields=["role"])
        await _system_line(conn, group.id, member, f"{member.display_name} left")


async def rename_group(actor: User, conversation_id: int, name: str) -> None:
    """Owner names the group (an empty name goes back to the members' names)."""
    cleaned = clean_name(name)
    async with in_transaction() as conn:
        group, me = await _locked(conn, conversation_id, actor)
        _must_own(me)
        if cleaned == group.name:
            return
        group.name = cleaned
        await group.save(using_db=conn, update_fields=["name"])
        line = (
            f"{actor.display_name} renamed the group to “{cleaned}”"
            if cleaned
            else f"{actor.display_name} removed the group's name"
        )
        await _system_line(conn, group.id, actor, line)
        await _announce_members(conn, group.id)


async def make_owner(actor: User, conversation_id: int, member_id: int) -> None:
    """Owner makes another member an owner too."""

    async def promote(conn: BaseDBAsyncClient, target: Membership, name: str) -> str | None:
        if target.role == MemberRole.OWNER:
            return None
        target.role = MemberRole.OWNER
        await target.save(using_db=conn, update_fields=["role"])
        await _announce_members(conn, target.conversation_id)
        return f"{actor.display_name} made {name} an owner"

    await _owner_changes_member(actor, conversation_id, member_id, promote)


async def _owner_changes_member(
    actor: User,
    conversation_id: int,
    member_id: int,
    change: Callable[[BaseDBAsyncClient, Membership, str], Awaitable[str | None]],
) -> None:
    """Under the group's lock, an owner's `change` to a current member (which announces
    itself); the line it returns goes into the thread."""
    async with in_transaction() as conn:
        group, me = await _locked(conn, conversation_id, actor)
        _must_own(me)
        target = await _current_member(conn, group.id, member_id)
        person = await User.get(id=member_id).using_db(conn)
        line = await change(conn, target, person.display_name)
        if line is not None:
            await _system_line(conn, group.id, actor, line)


async def members_of(viewer: User, conversation_id: int) -> list[Member]:
    """A group's current members, owners first, for a current member; else NotFound."""
    await _membership(viewer, conversation_id)
    rows = (
        await Membership.filter(conversation_id=conversation_id, state__in=CURRENT)
        .order_by("joined_at", "id")
        .values("user_id", "user__display_name", "role")
    )
    members = [Member(row["user_id"], row["user__display_name"], row["role"]) for row in rows]
    return sorted(members, key=lambda member: not member.is_owner)


async def _membership(viewer: User, conversation_id: int) -> Membership:
    found = await Membership.filter(
        conversation_id=conversation_id,
        conversation__kind=ConversationKind.GROUP,
        user_id=viewer.id,
        state__in=CURRENT,
    ).first()
    if found is None:
        raise NotFound
    return found


async def _locked(
    conn: BaseDBAsyncClient, conversation_id: int, actor: User
) -> tuple[Conversation, Membership]:
    """Lock the group's row (as posting does) and find actor among its current members."""
    group = (
        await Conversation.filter(id=conversation_id, kind=ConversationKind.GROUP)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if group is None:
        raise NotFound
    return group, await _current_member(conn, group.id, actor.id)


async def _current_member(conn: BaseDBAsyncClient, group_id: int, user_id: int) -> Membership:
    found = (
        await Membership.filter(conversation_id=group_id, user_id=user_id, state__in=CURRENT)
        .using_db(conn)
        .first()
    )
    if found is None:
        raise NotFound
    return found


async def _current_ids(conn: BaseDBAsyncClient, group_id: int) -> set[int]:
    query = Membership.filter(conversation_id=group_id, state__in=CURRENT).using_db(conn)
    return set(await query.values_list("user_id", flat=True))


def _must_own(member: Membership) -> None:
    if member.role != MemberRole.OWNER:
        raise NotOwner


async def _chosen_contacts(actor: User, member_ids: Iterable[int], already: int) -> list[User]:
    """The chosen people, each of whom must be actor's contact, within MAX_GROUP_MEMBERS
    counting the `already` members; InvalidInput (422) otherwise."""
    wanted = set(member_ids) - {actor.id}
    contacts = {person.id: person for person in await contacts_of(actor)}
    if not wanted:
        raise InvalidInput({"members": "Choose at least one contact."})
    if not wanted <= contacts.keys():
        raise InvalidInput({"members": "Only your contacts can be added to a group."})
    if max(already, 1) + len(wanted) > MAX_GROUP_MEMBERS:
        raise InvalidInput({"members": f"A group has at most {MAX_GROUP_MEMBERS} members."})
    return [contacts[person_id] for person_id in sorted(wanted)]


async def _drop(conn: BaseDBAsyncClient, member: Membership, state: MemberState) -> None:
    """The member leaves (or is removed); in the same statement, everyone who was a member
    up to it, the leaver too, hears that the group's people changed."""
    await conn.execute_query(_DROP_SQL, [member.conversation_id, member.user_id, state.value])


async def _system_line(conn: BaseDBAsyncClient, group_id: int, actor: User, text: str) -> None:
    await conn.execute_query(_SYSTEM_LINE_SQL, [group_id, actor.id, text])


async def _announce_members(conn: BaseDBAsyncClient, group_id: int) -> None:
    """The members hear that the group's people or name changed: their headers update."""
    to = sorted(await _current_ids(conn, group_id))
    await notify(conn, Kind.CONVERSATION, conversation=group_id, change=Change.MEMBERS, to=to)


def _and(names: Iterable[str]) -> str:
    listed = list(names)  # "Bo", "Bo and Cy", "Bo, Cy and Di"
    return listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} and {listed[-1]}"
