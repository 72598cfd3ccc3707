"""The domain: accounts, conversations, messages, reactions, replies, the list entry,
receipts, presence, profiles (connect links, pictures) and throttles, one module each, every
verb with its SQL beside it.

How a module reaches the database (one rule, no third way):
- **Tortoise models and querysets** for reads and writes off the hot path (sign-up, sessions,
  starting, accepting and blocking a conversation, pages of history), and `in_transaction()`
  where a verb takes several statements; such a verb announces with `events.notify(conn, …)`
  on its transaction.
- **One SQL statement in raw asyncpg** (`db.fetch` / `db.execute`) for the hot path and for
  any verb that is a single statement: posting, the fan-out and list loads, receipts,
  presence, throttles, renames, log-out. Such a statement announces with `events.notify_sql`.
  Tortoise's own `execute_query` would cost more than the query (bench/RESULTS.md).
  A statement that must run after a lock (a throttle's count) follows it in
  `db.transaction()`, raw too.

Models are listed in `__models__` for Tortoise; the rest of the app imports from here.
"""

from chatin.models.accounts import (
    MAX_DISPLAY_NAME_CHARS,
    MAX_EMAIL_CHARS,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
    AuthSession,
    User,
)
from chatin.models.attachments import (
    Attachment,
    AttachmentPart,
    Upload,
    attach_files,
    clean_name,
    post_files,
    visible_file,
)
from chatin.models.conversations import (
    Conversation,
    ConversationKind,
    MemberRole,
    Membership,
    MemberState,
)
from chatin.models.entries import (
    Entry,
    entries_for_members,
    entries_for_pairs,
    entries_of_viewer,
    entries_with_person,
    message_with_entries,
    messages_with_entries,
    own_messages_in_ranges,
)
from chatin.models.errors import (
    Busy,
    Deleted,
    InvalidInput,
    NotDelivered,
    NotFound,
    NotOwner,
    NotYours,
    TooBig,
    TooFast,
    TooLong,
)
from chatin.models.groups import (
    MAX_GROUP_MEMBERS,
    MAX_GROUP_NAME_CHARS,
    Member,
    add_people,
    contacts_of,
    create_group,
    leave_group,
    make_owner,
    members_of,
    remove_member,
    rename_group,
)
from chatin.models.messages import (
    MAX_MESSAGE_CHARS,
    PAGE_SIZE,
    SEND_LIMIT,
    SEND_WINDOW,
    Message,
    changed_since,
    own_messages_between,
)
from chatin.models.presence import PRESENCE_TTL, Presence, person_is_online
from chatin.models.profiles import ConnectLink, ProfilePicture
from chatin.models.reactions import (
    QUICK_REACTIONS,
    Reaction,
    find_emoji,
    is_reaction,
    react,
    unreact,
)
from chatin.models.receipts import record_deliveries
from chatin.models.replies import Quote, quotes_of, with_extras
from chatin.models.throttles import Attempt, LocalThrottle, Throttle, ThrottleHit

__models__ = [
    *(User, AuthSession, Conversation, Membership, Message, Presence, ThrottleHit),
    *(ConnectLink, ProfilePicture),
    *(Attachment, AttachmentPart),
    Reaction,
]

__all__ = [
    "MAX_DISPLAY_NAME_CHARS",
    "MAX_EMAIL_CHARS",
    "MAX_GROUP_MEMBERS",
    "MAX_GROUP_NAME_CHARS",
    "MAX_MESSAGE_CHARS",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_CHARS",
    "PAGE_SIZE",
    "PRESENCE_TTL",
    "QUICK_REACTIONS",
    "SEND_LIMIT",
    "SEND_WINDOW",
    "Attachment",
    "AttachmentPart",
    "Attempt",
    "AuthSession",
    "Busy",
    "ConnectLink",
    "Conversation",
    "ConversationKind",
    "Deleted",
    "Entry",
    "InvalidInput",
    "LocalThrottle",
    "Member",
    "MemberRole",
    "MemberState",
    "Membership",
    "Message",
    "NotDelivered",
    "NotFound",
    "NotOwner",
    "NotYours",
    "Presence",
    "ProfilePicture",
    "Quote",
    "Reaction",
    "Throttle",
    "ThrottleHit",
    "TooBig",
    "TooFast",
    "TooLong",
    "Upload",
    "User",
    "add_people",
    "attach_files",
    "changed_since",
    "clean_name",
    "contacts_of",
    "create_group",
    "entries_for_members",
    "entries_for_pairs",
    "entries_of_viewer",
    "entries_with_person",
    "find_emoji",
    "is_reaction",
    "leave_group",
    "make_owner",
    "members_of",
    "message_with_entries",
    "messages_with_entries",
    "own_messages_between",
    "own_messages_in_ranges",
    "person_is_online",
    "post_files",
    "quotes_of",
    "react",
    "record_deliveries",
    "remove_member",
    "rename_group",
    "unreact",
    "visible_file",
    "with_extras",
]
