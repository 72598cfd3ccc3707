"""Email keys become email-validator's normalised address, lower-cased (issue 14): composed
and decomposed letters, and a domain and its xn-- form, are one account from now on.

Written out here rather than imported from chatin, so that this migration keeps doing what
it did when it was merged.
"""

import logging

from email_validator import EmailNotValidError, validate_email
from tortoise import fields, migrations
from tortoise.migrations import operations as ops

log = logging.getLogger(__name__)


MAX_KEY_CHARS = 254


def normalised_key(email: str) -> str | None:
    """The key User.email_key_of gives (issue 14); None where there is none or it won't fit."""
    try:
        key = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None
    return key if len(key) <= MAX_KEY_CHARS else None


def new_keys(rows: list[dict]) -> dict[int, str]:
    """Each account's key after the migration, still unique.

    An account moves to its normalised key only while no other account holds that key, so
    where two accounts turn out to share an address, the one already holding the key (else
    the older) gets it and the other keeps its old key (and can no longer log in by email;
    its id is logged). Moves repeat until none is possible, as one move can free a key for
    another.
    """
    keys = {row["id"]: row["email_key"] for row in rows}
    wanted = {row["id"]: normalised_key(row["email"]) or row["email_key"] for row in rows}
    moved = True
    while moved:
        moved = False
        held = set(keys.values())
        for user_id in sorted(keys):
            if keys[user_id] != wanted[user_id] and wanted[user_id] not in held:
                held.discard(keys[user_id])
                keys[user_id] = wanted[user_id]
                held.add(keys[user_id])
                moved = True
    stuck = sorted(user_id for user_id in keys if keys[user_id] != wanted[user_id])
    if stuck:
        log.warning("accounts %s share their email with an older account; keys kept", stuck)
    return keys


async def renormalise_email_keys(apps, schema_editor) -> None:
    client = schema_editor.client
    rows = await client.execute_query_dict("SELECT id, email, email_key FROM users")
    old = {row["id"]: row["email_key"] for row in rows}
    changes = {user_id: key for user_id, key in new_keys(rows).items() if key != old[user_id]}
    if not changes:
        return
    ids = list(changes)
    # Through a placeholder no email can be ("#<id>" has no @), so no step breaks uniqueness.
    await client.execute_query(
        "UPDATE users SET email_key = '#' || id WHERE id = ANY($1::int[])", [ids]
    )
    await client.execute_query(
        "UPDATE users u SET email_key = k.key FROM unnest($1::int[], $2::text[]) AS k(id, key)"
        " WHERE u.id = k.id",
        [ids, [changes[user_id] for user_id in ids]],
    )


class Migration(migrations.Migration):
    dependencies = [('chatin', '0004_messages_by_author_time')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='User',
            name='email_key',
            field=fields.CharField(unique=True, description='normalised: one account per email', max_length=254),
        ),
        ops.RunPython(renormalise_email_keys, ops.RunPython.noop),
    ]
