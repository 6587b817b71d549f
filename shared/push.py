"""Live pushes over API Gateway's WebSocket API: the frames a write sends, and sending them.

A write the change feed reports comes back from its script with the user's connections
(``lib/push.lua``) when push is on (``WEBSOCKET_ENDPOINT`` set). The store names the events
(``conversation``, ``message``, ``delta``: docs/sync.md, "Live pushes"), and ``Pusher`` posts
each connection its frames through the ``@connections`` management API: every connection of the
user but the writer's own (``X-Connection-Id``), a delta only to connections watching its
conversation. Connections are posted to side by side, each its frames in order; a push never
fails the write: what goes wrong is logged, a connection API Gateway reports gone (410) is
removed, and one whose token has expired is closed (the next push after expiry ends it).

boto3 is imported on the first push, not with this module: a function that has no one to push
to never pays its import (hundreds of milliseconds of a cold start). The Lambda runtime ships
it; locally it is a dev dependency, pointed at ``make dev``'s own ``@connections`` endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from shared.settings import Settings

logger = logging.getLogger("chat_store.push")

# A connection lasts at most 2 hours on API Gateway, and closes after 10 idle minutes: its entry
# lapses no later (connection.lua), and every frame from it (a ping every 5 minutes) renews it.
CONNECTION_MAX_MS = 2 * 60 * 60 * 1000
CONNECTION_IDLE_MS = 10 * 60 * 1000

# Where a connection's entry (written by connection.lua) keeps each fact.
_LAPSES, _TOKEN_EXPIRES, _WATCHED = "e", "t", "w"


class Connection(NamedTuple):
    """One WebSocket connection of the user, as its entry says."""

    id: str
    lapses_ms: int
    """When the entry lapses (its token's expiry, its 2 hours, or the idle limit)."""
    token_expires_ms: int
    """When its token expires (0: never); past it, the connection is ended, not pushed to."""
    watched: frozenset[str]
    """The conversations it watches: it alone gets their deltas."""


def connections(flat: Sequence[Any], now_ms: int) -> tuple[Connection, ...]:
    """The live connections of a script's ``HGETALL`` of the user's connection hash."""
    found = []
    for i in range(0, len(flat) - 1, 2):
        entry = json.loads(flat[i + 1])
        lapses = int(entry[_LAPSES])
        if lapses <= now_ms:
            continue  # (connection.lua removes it with the connection's next frame or connect)
        watched = frozenset(str(entry.get(_WATCHED) or "").split())
        found.append(Connection(str(flat[i]), lapses, int(entry[_TOKEN_EXPIRES]), watched))
    return tuple(found)


class Listeners(NamedTuple):
    """What a write's script answered for its pushes, besides its answer."""

    connections: tuple[Connection, ...]
    extra: list[Any]
    """What the pushes need that the answer lacks (each script's comment says what)."""


# ------------------------------------------------------------------------------ the frames


def conversation_event(conversation_id: str, version: int, change: str) -> dict[str, Any]:
    """A conversation ``created``, ``changed``, ``deleted``, ``archived`` or ``unarchived``."""
    return {
        "type": "conversation",
        "conversationId": conversation_id,
        "version": version,
        "change": change,
    }


def message_event(
    conversation_id: str, message_id: str, version: int, change: str
) -> dict[str, Any]:
    """A message ``appended``, ``changed`` or ``deleted``."""
    return {
        "type": "message",
        "conversationId": conversation_id,
        "messageId": message_id,
        "version": version,
        "change": change,
    }


def delta_event(
    conversation_id: str,
    message_id: str,
    version: int,
    *,
    offset: int,
    text: str,
    streaming: bool,
    parts: bool,
) -> dict[str, Any]:
    """A streaming reply's content from UTF-16 ``offset`` on: for watchers of its conversation."""
    event: dict[str, Any] = {
        "type": "delta",
        "conversationId": conversation_id,
        "messageId": message_id,
        "version": version,
        "offset": offset,
        "text": text,
        "streaming": streaming,
    }
    if parts:
        event["parts"] = True
    return event


def frames_for(connection: Connection, events: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """The frames ``connection`` gets of ``events``: deltas only of what it watches."""
    return [
        json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        for event in events
        if event["type"] != "delta" or event["conversationId"] in connection.watched
    ]


# ------------------------------------------------------------------------------ sending

Remove = Callable[[str, list[str]], Awaitable[None]]
"""Removes connections of a user from its connection hash (the store's ``remove_connections``)."""


class Pusher:
    """Posts frames to connections through the ``@connections`` API, made once per container."""

    def __init__(self, settings: Settings) -> None:
        endpoint = settings.websocket_endpoint
        if endpoint is None:
            msg = "push is off: WEBSOCKET_ENDPOINT is not set"
            raise ValueError(msg)
        self.endpoint = endpoint
        self._timeout = settings.websocket_push_timeout_seconds
        self._client: Any = None
        self._lock = threading.Lock()

    async def push(
        self,
        user_id: str,
        listeners: Listeners,
        events: Sequence[Mapping[str, Any]],
        *,
        skip: str | None,
        now_ms: int,
        remove: Remove,
    ) -> None:
        """Post ``events`` to the user's connections but ``skip``; never raises.

        A connection whose token has expired is ended instead; one API Gateway reports gone,
        and the ended ones, are then removed with ``remove`` (one more Upstash request, only
        then).
        """
        sends: list[tuple[str, list[bytes]]] = []
        ending: list[str] = []
        for connection in listeners.connections:
            if connection.id == skip:
                continue
            if connection.token_expires_ms and connection.token_expires_ms <= now_ms:
                ending.append(connection.id)
                continue
            frames = frames_for(connection, events)
            if frames:
                sends.append((connection.id, frames))
        if not sends and not ending:
            return
        try:
            outcomes = await asyncio.gather(
                *(asyncio.to_thread(self._post, cid, frames) for cid, frames in sends),
                *(asyncio.to_thread(self._end, cid) for cid in ending),
            )
            gone = [cid for (cid, _), alive in zip(sends, outcomes, strict=False) if not alive]
            if gone or ending:
                await remove(user_id, [*gone, *ending])
        except Exception:
            # A push is a hint (the change feed is the source of truth): the write stands.
            logger.exception("pushing to the connections of a user failed")

    def post(self, connection_id: str, data: bytes) -> bool:
        """Post one frame to a connection; False when it is gone (410). For the handlers."""
        return self._post(connection_id, [data])

    def end(self, connection_id: str) -> None:
        """Close a connection (its token expired): API Gateway's ``DeleteConnection``."""
        self._end(connection_id)

    def _post(self, connection_id: str, frames: list[bytes]) -> bool:
        client = self._management()
        for data in frames:
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=data)
            except client.exceptions.GoneException:
                return False
            except Exception:
                logger.exception("push to connection %s failed", connection_id)
                return True  # (not known gone: its next frame or the idle limit tells)
        return True

    def _end(self, connection_id: str) -> bool:
        client = self._management()
        try:
            client.delete_connection(ConnectionId=connection_id)
        except client.exceptions.GoneException:
            pass
        except Exception:
            logger.exception("closing connection %s failed", connection_id)
        return True

    def _management(self) -> Any:
        # Made on first use, under a lock: boto3's client creation is not thread-safe, and the
        # import alone costs a cold start more than a whole request (make report).
        with self._lock:
            if self._client is None:
                import boto3  # noqa: PLC0415  (lazily: see the module's docstring)
                from botocore.config import Config  # noqa: PLC0415

                config = Config(
                    connect_timeout=self._timeout,
                    read_timeout=self._timeout,
                    retries={"total_max_attempts": 1},
                    max_pool_connections=32,
                )
                self._client = boto3.session.Session().client(
                    "apigatewaymanagementapi",
                    endpoint_url=self.endpoint,
                    region_name=os.environ.get("AWS_REGION")
                    or os.environ.get("AWS_DEFAULT_REGION")
                    or "us-east-1",
                    config=config,
                )
            return self._client
