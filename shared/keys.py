"""Every Redis key the service uses is built here and nowhere else.

Layout, for prefix ``chat`` and user ``alice``::

    chat:{u:alice}:idx          sorted set  conversation id -> updatedAt (ms)   list order
    chat:{u:alice}:exp          sorted set  conversation id -> last write (ms)  expiry
    chat:{u:alice}:sum          hash        "<attr>|<conversation id>" -> summary attribute,
                                            plus the user's running totals
    chat:{u:alice}:m:<conv id>  hash        "<attr>|<message id>" -> message attribute
    chat:{u:alice}:o:<conv id>  sorted set  message id -> sequence number        message order
    chat:rl:{u:alice}:...       strings     rate-limit windows (upstash-ratelimit)

Why this shape:
- Every key of a user sits under one Redis Cluster hash tag, ``{u:<user>}``, so one Lua script
  may touch all of them on a clustered database.
- The user id is percent-encoded (``{``, ``}``, ``:`` and ``%`` included), so no user id can
  close the hash tag early or look like another user's keys.
- Conversation keys put their kind before the id (``m:<id>``); kinds hold no colon, so the id is
  everything after the kind and ids ``a`` and ``a:m`` can never share a key.
- Hash fields put the attribute before the id, split by ``|``, which no id may contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


def user_tag(user_id: str) -> str:
    """The hash tag grouping all of a user's keys: ``{u:<percent-encoded user id>}``."""
    return "{u:" + quote(user_id, safe="") + "}"


@dataclass(frozen=True, slots=True)
class UserKeys:
    """The keys of one user's data."""

    prefix: str
    user_id: str

    @property
    def base(self) -> str:
        """The part every key of this user starts with."""
        return f"{self.prefix}:{user_tag(self.user_id)}"

    @property
    def index(self) -> str:
        """Sorted set of conversation ids scored by ``updatedAt``: the list order."""
        return f"{self.base}:idx"

    @property
    def expiry(self) -> str:
        """Sorted set of conversation ids scored by their last write: what has expired."""
        return f"{self.base}:exp"

    @property
    def summaries(self) -> str:
        """Hash of every conversation's summary attributes and the user's totals."""
        return f"{self.base}:sum"

    @property
    def session(self) -> str:
        """Hash of session data (the current-conversation pointer)."""
        return f"{self.base}:ses"

    @property
    def rate_limit_prefix(self) -> str:
        """Prefix under which upstash-ratelimit keeps this user's windows."""
        return f"{self.prefix}:rl:{user_tag(self.user_id)}"

    def messages(self, conversation_id: str) -> str:
        """Hash of one conversation's message attributes."""
        return f"{self.base}:m:{conversation_id}"

    def order(self, conversation_id: str) -> str:
        """Sorted set of one conversation's message ids by sequence number."""
        return f"{self.base}:o:{conversation_id}"

    def conversation_key_prefix(self) -> str:
        """What Lua prepends to ``m:<id>`` / ``o:<id>`` to reach a conversation's keys."""
        return f"{self.base}:"


def ip_rate_limit_identifier(client_ip: str) -> str:
    """The identifier of an anonymous caller's rate-limit window, by client IP."""
    return "{ip:" + quote(client_ip, safe="") + "}"
