"""The WebSocket API's function: ``$connect``, ``$disconnect`` and ``$default`` (live pushes).

API Gateway holds the sockets; this function sees each as an event (docs/sync.md, "Live
pushes"). ``$connect`` authenticates with the HTTP API's own bearer tokens, sent the ways a
browser can (``?token=`` or the subprotocol ``bearer.<token>`` beside ``chat-store``, which is the
one accepted), and registers the connection under its user (connection.lua): a refusal is the
HTTP status of the upgrade, so a browser sees the socket close before it opens. ``$default``
answers ``ping`` with ``pong`` and ``watch`` with ``watching`` (its body is sent back to the
socket: the route's response); each renews the connection's entry. A frame from a connection
whose token has expired ends it. ``$disconnect`` forgets it.

Frames name only their connection; whose it is comes from the connection's owner key. Every
user's data stays under its own keys: a connection's entry sits in its user's hash, and only
that user's writes read that hash, so a connection hears its own user's events and no one
else's, whatever it watches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from shared.app import Services, get_services
from shared.errors import ApiError, Unauthorized
from shared.models import check_id

logger = logging.getLogger("chat_store.websocket")

#: The routes this function serves, as serverless.yml routes them (``make generate``).
socket_routes = ("$connect", "$disconnect", "$default")

#: The subprotocol the server speaks; a token may ride beside it as ``bearer.<token>``.
SUBPROTOCOL = "chat-store"
_BEARER = "bearer."
#: The most conversations one connection watches at a time.
MAX_WATCHED = 10

Event = Mapping[str, Any]
Response = dict[str, Any]


async def handle(event: Event, svc: Services | None = None) -> Response:
    """Answer one API Gateway WebSocket event (``requestContext.routeKey`` says which)."""
    svc = svc or get_services()
    context = event.get("requestContext") or {}
    route = context.get("routeKey")
    connection_id = str(context.get("connectionId") or "")
    now_ms = time.time_ns() // 1_000_000
    try:
        if route == "$connect":
            return await _connect(event, connection_id, now_ms, svc)
        if route == "$disconnect":
            owner = await svc.store.connection_owner(connection_id)
            if owner is not None:
                await svc.store.remove_connections(owner, [connection_id])
            return {"statusCode": 200}
        return await _frame(event.get("body"), connection_id, now_ms, svc)
    except ApiError as error:
        logger.warning("websocket %s refused: %s %s", route, error.status, error.detail)
        return {"statusCode": error.status}


def handler(event: Event, _context: object) -> Response:
    """The Lambda entry point: one event loop per container, as Mangum keeps for the others."""
    return _loop().run_until_complete(handle(event))


_LOOP: list[asyncio.AbstractEventLoop] = []


def _loop() -> asyncio.AbstractEventLoop:
    # The Upstash client's HTTP connections belong to the loop they were made on: one loop for
    # every invocation a container serves keeps them.
    if not _LOOP:
        _LOOP.append(asyncio.new_event_loop())
    return _LOOP[0]


async def _connect(event: Event, connection_id: str, now_ms: int, svc: Services) -> Response:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p]
    query = event.get("queryStringParameters") or {}
    token = query.get("token") or next(
        (p[len(_BEARER) :] for p in offered if p.startswith(_BEARER)), None
    )
    if not token:
        raise Unauthorized("no token: send ?token=<bearer token> or the bearer.<token> subprotocol")
    user_id, expires = svc.identity.resolve_until(f"Bearer {token}")
    await svc.store.connect(
        user_id,
        connection_id,
        token_expires_ms=0 if expires is None else expires * 1000,
        now_ms=now_ms,
    )
    response: Response = {"statusCode": 200}
    if offered:
        # A browser that offered subprotocols closes a socket accepted with none of them.
        if SUBPROTOCOL not in offered:
            return {"statusCode": 400}
        response["headers"] = {"Sec-WebSocket-Protocol": SUBPROTOCOL}
    return response


async def _frame(body: object, connection_id: str, now_ms: int, svc: Services) -> Response:
    frame, problem = _parse(body)
    if frame is None:
        return _answer({"type": "error", "code": "invalid_frame", "detail": problem})
    owner = await svc.store.connection_owner(connection_id)
    if owner is None:
        # Lapsed or never registered: nothing of it is kept, so it ends.
        await _end(svc, connection_id)
        return {"statusCode": 410}
    watch = frame.get("conversationIds") if frame["type"] == "watch" else None
    reply = await svc.store.connection_frame(owner, connection_id, now_ms=now_ms, watch=watch)
    if reply.status != "ok":
        await _end(svc, connection_id)  # its token expired (or it lapsed): the connection ends
        return {"statusCode": 401 if reply.status == "expired" else 410}
    # (Each answer names the connection: the device sends it as X-Connection-Id with its
    # writes, so they are pushed to its other devices, not back to it.)
    if frame["type"] == "ping":
        return _answer({"type": "pong", "connectionId": connection_id})
    watched = str(reply["watched"]).split()
    return _answer({"type": "watching", "conversationIds": watched, "connectionId": connection_id})


def _parse(body: object) -> tuple[dict[str, Any] | None, str]:
    # A frame the protocol knows, or None and why not.
    try:
        frame = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        return None, "a frame is a JSON object with a type: ping or watch"
    if frame.get("type") == "ping":
        return frame, ""
    if frame.get("type") != "watch":
        return None, f"unknown frame type {str(frame.get('type'))[:40]!r}: ping or watch"
    ids = frame.get("conversationIds")
    if not isinstance(ids, list) or len(ids) > MAX_WATCHED:
        return None, f"conversationIds must be a list of at most {MAX_WATCHED} ids"
    if not all(isinstance(i, str) for i in ids):
        return None, "conversationIds must be conversation ids (strings)"
    try:
        frame["conversationIds"] = list(dict.fromkeys(check_id(i) for i in ids))
    except ApiError as error:
        return None, error.detail
    return frame, ""


def _answer(frame: dict[str, Any]) -> Response:
    # The route's response: API Gateway sends the body back to the socket.
    return {"statusCode": 200, "body": json.dumps(frame, separators=(",", ":"))}


async def _end(svc: Services, connection_id: str) -> None:
    # (In a thread: boto3 blocks, and make dev's @connections is served by this same loop.)
    if svc.store.pusher is not None:
        await asyncio.to_thread(svc.store.pusher.end, connection_id)
