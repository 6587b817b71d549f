"""Every Redis key the service uses is built here and nowhere else.

Layout, for prefix ``chat`` and user ``alice``::

    chat:{u:alice}:idx          sorted set  conversation id -> updatedAt (ms)      list order
    chat:{u:alice}:exp          sorted set  conversation id -> write epoch (ms)    expiry
    chat:{u:alice}:sum          hash        "<attr>|<conversation id>" -> summary attribute,
                                            "#..." -> the user's totals, session pointer,
                                            rate-limit windows, applied expiry;
                                            "r|<request id>" -> the answer of a write sent
                                            without an Idempotency-Key, for a re-send of it
                                            (5 minutes at least; listed in "#rr")
    chat:{u:alice}:chg          sorted set  conversation id -> sequence number of its last change
                                            (the change feed)
    chat:{u:alice}:tb           sorted set  conversation id -> its tombstone's sequence number
                                            (which tombstones to forget first)
    chat:{u:alice}:gy           sorted set  conversation id -> when its keys expire
                                            (removed conversations whose keys remain)
    chat:{u:alice}:m:<conv id>  hash        "<attr>|<message id>" -> message attribute
    chat:{u:alice}:o:<conv id>  sorted set  message id -> sequence number           message order
    chat:{u:alice}:idem:<key>   string      an Idempotency-Key's request fingerprint and answer
                                            (24 hours)
    chat:{u:alice}:ik           sorted set  those keys -> when they expire (erasing finds them)
    chat:rl:{ip:<address>}      string      anonymous sign-ups' rate-limit window
    chat:rl:{ip:<address>}:idem:<key>
                                string      a sign-up's Idempotency-Key: its request fingerprint,
                                            the anonymous user id and iat it got (24 hours)

Why this shape:
- Every key of a user sits under one Redis Cluster hash tag, ``{u:<user>}``, so one Lua script
  may touch all of them on a clustered database.
- Scripts take Upstash's key locks, which lock only the keys a script is given: so a script's
  keys are always derivable from the request (the user, the conversation in the path), never
  found in the data. A conversation removed by another conversation's call (evicted by the cap,
  or expired) is removed from the user's keys at once; its own keys stay until their Redis
  expiry, listed in the graveyard so that erasing the user finds them.
- The user id is percent-encoded (``{``, ``}``, ``:`` and ``%`` included), so no user id can
  close the hash tag early or look like another user's keys.
- Conversation keys put their kind before the id (``m:<id>``); kinds hold no colon, so the id is
  everything after the kind and ids ``a`` and ``a:m`` can never share a key.
- Hash fields put the attribute before the id, split by ``|``, which no id may contain; the
  user's own fields start with ``#``, which no attribute does.
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
        """Sorted set of conversation ids scored by their write epoch: what has expired."""
        return f"{self.base}:exp"

    @property
    def summaries(self) -> str:
        """Hash of every conversation's summary attributes and the user's own fields."""
        return f"{self.base}:sum"

    @property
    def changes(self) -> str:
        """Sorted set of conversation ids by the sequence number of their last change."""
        return f"{self.base}:chg"

    @property
    def tombstones(self) -> str:
        """Sorted set of removed conversations' ids by their tombstone's sequence number."""
        return f"{self.base}:tb"

    @property
    def graveyard(self) -> str:
        """Sorted set of removed conversations whose keys remain, scored by their expiry."""
        return f"{self.base}:gy"

    @property
    def idempotency_index(self) -> str:
        """Sorted set of the user's Idempotency-Key answers' keys, by when they expire."""
        return f"{self.base}:ik"

    @property
    def connections(self) -> str:
        """Hash of the user's WebSocket connections: connection id -> its entry (shared/push.py).

        Written only by connection.lua; every write the change feed reports names it, and reads
        it only when push is on (lib/push.lua).
        """
        return f"{self.base}:ws"

    def idempotency(self, key: str | None) -> str:
        """Where the answer to the request sent with Idempotency-Key ``key`` is kept.

        (None: a request that sent none, whose scripts still name a key, never touched.)
        """
        return f"{self.base}:idem:" + quote(key or "", safe="")

    def messages(self, conversation_id: str) -> str:
        """Hash of one conversation's message attributes."""
        return f"{self.base}:m:{conversation_id}"

    def order(self, conversation_id: str) -> str:
        """Sorted set of one conversation's message ids by sequence number."""
        return f"{self.base}:o:{conversation_id}"

    def user(self) -> dict[str, str]:
        """The user-level keys by the names scripts give them."""
        return {
            "idx": self.index,
            "exp": self.expiry,
            "sum": self.summaries,
            "chg": self.changes,
            "tb": self.tombstones,
            "gy": self.graveyard,
        }

    def conversation(self, conversation_id: str) -> dict[str, str]:
        """One conversation's keys by the names scripts give them."""
        return {"msgs": self.messages(conversation_id), "order": self.order(conversation_id)}


def connection_owner_key(prefix: str, connection_id: str) -> str:
    """Whose WebSocket connection ``connection_id`` is (its user id), for its frames and close.

    API Gateway names only the connection in those events; this key, written with the
    connection's entry in the user's connection hash, leads there.
    """
    return f"{prefix}:ws:" + "{c:" + quote(connection_id, safe="") + "}"


def ip_rate_limit_key(prefix: str, client_ip: str) -> str:
    """The key of an anonymous caller's rate-limit window, by client IP."""
    return f"{prefix}:rl:" + "{ip:" + quote(client_ip, safe="") + "}"


def ip_idempotency_key(prefix: str, client_ip: str, key: str | None, request_id: str = "") -> str:
    """Where an anonymous sign-up from ``client_ip`` keeps what it answered.

    Under the request's Idempotency-Key ``key``; without one, under the request's own
    ``request_id``, for the Upstash client's re-send of a sign-up whose answer was lost.
    Beside the IP's window, under the same hash tag, so that one script reads and writes both;
    per IP, so that the same key sent from another address is another request and never gets
    the token minted for this one. (Neither: a sign-up whose script names a key it never
    touches.)
    """
    if key is None and request_id:
        return f"{ip_rate_limit_key(prefix, client_ip)}:rid:" + request_id
    return f"{ip_rate_limit_key(prefix, client_ip)}:idem:" + quote(key or "", safe="")
