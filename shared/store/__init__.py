"""The conversation store: the one part of the service that knows Redis, its keys and scripts.

Handlers use ``ConversationStore`` and the results it answers, imported from here. Only this
package (with ``shared/keys.py``, ``shared/scripts.py`` and ``shared/upstash.py``) knows how
conversations sit in Redis. One concept a module:

- ``conversations``: the store, each method one script call: build it, run it, decode the reply
- ``claims``: a visitor's conversations moved to a signed-in user (export, import, erase)
- ``calls``: what every call of a user's script carries, its sending, and its refusals
- ``decode``: named replies turned into results
- ``results``: what the store answers
- ``cursors``: the opaque cursors it hands out and takes back
- ``etags``: entity tags of conversations, lists and the user's totals
"""

from shared.store.claims import CLAIM_BUDGET_SECONDS
from shared.store.conversations import (
    EXPORT_BUDGET_BYTES,
    PAGE_BUDGET_BYTES,
    ConversationStore,
)
from shared.store.results import (
    AppendResult,
    Change,
    ChangesRead,
    Claimed,
    ConversationPage,
    ConversationPut,
    ConversationRead,
    ConversationUpdate,
    Done,
    Erased,
    ExportItem,
    ExportRead,
    Imported,
    MessageDeleted,
    MessageRead,
    MessageUpdate,
    NotModified,
    Rejected,
    UserTotals,
)

__all__ = [
    "CLAIM_BUDGET_SECONDS",
    "EXPORT_BUDGET_BYTES",
    "PAGE_BUDGET_BYTES",
    "AppendResult",
    "Change",
    "ChangesRead",
    "Claimed",
    "ConversationPage",
    "ConversationPut",
    "ConversationRead",
    "ConversationStore",
    "ConversationUpdate",
    "Done",
    "Erased",
    "ExportItem",
    "ExportRead",
    "Imported",
    "MessageDeleted",
    "MessageRead",
    "MessageUpdate",
    "NotModified",
    "Rejected",
    "UserTotals",
]
