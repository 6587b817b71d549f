"""Live pushes, through the real chain: a WebSocket client on the local WebSocket API.

Each socket's frames become API Gateway events for the real handler; writes over real HTTP
push through boto3 to the local ``@connections``; the store runs on the Upstash stand-in. A
write's pushes are posted before its response: once it has answered, a ``ping`` answered with
``pong`` first shows a socket got nothing, with no waiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.factories import Live, conversation, message, token_for

WAIT = 5.0


@contextmanager
def socket(live: Live, user: str = "alice", **claims: Any) -> Iterator[ClientConnection]:
    """A connection of ``user`` (its token in the query)."""
    with connect(live.ws_url(token_for(user, **claims)), open_timeout=WAIT) as ws:
        yield ws


def frame(ws: ClientConnection) -> dict[str, Any]:
    received: dict[str, Any] = json.loads(ws.recv(timeout=WAIT))
    return received


def ping(ws: ClientConnection) -> str:
    """The connection's id; every push sent before this ping must have been read already."""
    ws.send(json.dumps({"type": "ping"}))
    pong = frame(ws)
    assert pong["type"] == "pong", pong
    return str(pong["connectionId"])


def watch(ws: ClientConnection, *ids: str) -> dict[str, Any]:
    ws.send(json.dumps({"type": "watch", "conversationIds": list(ids)}))
    return frame(ws)


def api(live: Live, user: str = "alice", connection: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    if connection:
        headers["X-Connection-Id"] = connection
    return httpx.Client(base_url=live.url, headers=headers, timeout=WAIT)


def put_empty(http: httpx.Client, cid: str) -> httpx.Response:
    return http.put(f"/api/conversations/{cid}", json=conversation(cid, messages=0))


def test_connects_with_a_query_token_or_the_bearer_subprotocol(live: Live) -> None:
    with socket(live) as ws:
        assert ping(ws)
    subprotocols: Any = ["chat-store", f"bearer.{token_for('alice')}"]
    with connect(live.ws_url(), subprotocols=subprotocols, open_timeout=WAIT) as ws:
        assert ws.subprotocol == "chat-store"
        assert ping(ws)


@pytest.mark.parametrize(
    "token",
    [None, "not-a-jwt", token_for("alice", exp=int(time.time()) - 3600)],
    ids=["missing", "forged", "expired"],
)
def test_a_missing_forged_or_expired_token_is_refused_before_open(
    live: Live, token: str | None
) -> None:
    with pytest.raises(InvalidStatus), connect(live.ws_url(token), open_timeout=WAIT):
        pass


def test_a_token_signed_with_another_secret_is_refused(live: Live) -> None:
    import jwt

    forged = jwt.encode({"sub": "alice"}, "another-secret-that-is-long-enough-0123456789", "HS256")
    with pytest.raises(InvalidStatus), connect(live.ws_url(forged), open_timeout=WAIT):
        pass


def test_unknown_frames_answer_invalid_frame(live: Live) -> None:
    with socket(live) as ws:
        too_many = [f"c{i}" for i in range(11)]
        for sent in [
            "nope",
            '{"type": "shout"}',
            '{"type": "watch", "conversationIds": [1]}',
            json.dumps({"type": "watch", "conversationIds": ["a b"]}),
            json.dumps({"type": "watch", "conversationIds": too_many}),
        ]:
            ws.send(sent)
            answer = frame(ws)
            assert answer["type"] == "error", sent
            assert answer["code"] == "invalid_frame"
        assert watch(ws, "c1", "c2")["conversationIds"] == ["c1", "c2"]


def test_a_write_is_pushed_to_the_users_other_connections_only(live: Live) -> None:
    with socket(live) as writer, socket(live) as other, socket(live, "bob") as bob:
        own = ping(writer)
        with api(live, connection=own) as http:
            created = http.put("/api/conversations/c1", json=conversation("c1", messages=0))
            assert created.status_code == 201
            appended = http.post("/api/conversations/c1/messages", json=message("m1"))
            assert appended.status_code == 201
            renamed = http.patch("/api/conversations/c1", json={"title": "Renamed"})
            archived = http.patch("/api/conversations/c1", json={"archived": True})
            deleted_message = http.delete("/api/conversations/c1/messages/m1")
            deleted = http.delete("/api/conversations/c1")
            assert deleted.status_code == 204
        seen = [frame(other) for _ in range(6)]
        assert seen == [
            {"type": "conversation", "conversationId": "c1", "version": 1, "change": "created"},
            {"type": "message", "conversationId": "c1", "messageId": "m1",
             "version": 2, "change": "appended"},
            {"type": "conversation", "conversationId": "c1",
             "version": int(renamed.headers["etag"].strip('"')), "change": "changed"},
            {"type": "conversation", "conversationId": "c1",
             "version": int(archived.headers["etag"].strip('"')), "change": "archived"},
            {"type": "message", "conversationId": "c1", "messageId": "m1",
             "version": int(deleted_message.headers["etag"].strip('"')), "change": "deleted"},
            {"type": "conversation", "conversationId": "c1", "version": 6, "change": "deleted"},
        ]  # fmt: skip
        ping(other)  # nothing more
        ping(writer)  # the writer named its connection: nothing came back to it
        ping(bob)  # another user hears nothing


def test_without_x_connection_id_every_connection_of_the_user_hears(live: Live) -> None:
    with socket(live) as one, socket(live) as two:
        ping(one)
        ping(two)
        with api(live) as http:
            assert (
                http.put("/api/conversations/c1", json=conversation("c1", messages=0)).status_code
                == 201
            )
        for ws in (one, two):
            assert frame(ws)["change"] == "created"


def test_deltas_go_to_watchers_coalesced_and_the_finish_always(live: Live) -> None:
    with socket(live) as writer, socket(live) as watcher, socket(live) as idle:
        own = ping(writer)
        assert watch(watcher, "c1")["conversationIds"] == ["c1"]
        with api(live, connection=own) as http:
            reply = message("r1", "", kind="assistant", streaming=True)
            assert http.post("/api/conversations/c1/messages", json=reply).status_code == 201
            chunks = ["Hel", "lo", ", wor", "ld", " \U0001f30d", "!"]
            for i, chunk in enumerate(chunks, 1):
                patched = http.patch(
                    "/api/conversations/c1/messages/r1",
                    json={"appendContent": chunk, "sequence": i},
                )
                assert patched.status_code == 200, patched.text
            finished = http.patch("/api/conversations/c1/messages/r1", json={"streaming": False})
            assert finished.status_code == 200
        assert frame(watcher)["change"] == "created"
        assert frame(watcher)["change"] == "appended"
        text, deltas = "", []
        while True:
            got = frame(watcher)
            if got["type"] == "message":
                assert got["change"] == "changed"  # the finish, a change the feed reports
                continue
            assert got["type"] == "delta"
            # Each push goes on where the last ended: the text is whole, in order, once.
            assert got["offset"] == len(text.encode("utf-16-le")) // 2
            text += got["text"]
            deltas.append(got)
            if not got["streaming"]:
                break
        assert text == "".join(chunks)
        # Six deltas in far less than 250 ms each: coalesced into fewer pushes.
        assert len(deltas) < len(chunks) + 1
        assert "parts" not in deltas[-1]
        ping(watcher)
        # A connection that watches nothing hears the writes, not the deltas.
        heard = [frame(idle)["type"] for _ in range(3)]
        assert heard == ["conversation", "message", "message"]
        ping(idle)


def test_watching_another_users_conversation_id_hears_only_ones_own(live: Live) -> None:
    with socket(live, "bob") as bob, socket(live) as alice:
        # Bob watches the id of Alice's conversation: he has none of that id (yet).
        assert watch(bob, "c1")["conversationIds"] == ["c1"]
        own = ping(alice)
        with api(live, connection=own) as http:
            reply = message("r1", "", kind="assistant", streaming=True)
            assert http.post("/api/conversations/c1/messages", json=reply).status_code == 201
            http.patch("/api/conversations/c1/messages/r1", json={"appendContent": "secret"})
            http.patch("/api/conversations/c1/messages/r1", json={"streaming": False})
        ping(bob)  # nothing of Alice's reached him
        with api(live, "bob") as http:
            assert (
                http.put("/api/conversations/c1", json=conversation("c1", messages=0)).status_code
                == 201
            )
        assert frame(bob)["change"] == "created"  # his own conversation of that id
        ping(alice)  # and nothing of Bob's reached her


def test_a_connection_whose_token_expires_is_ended(live: Live) -> None:
    with socket(live, exp=int(time.time()) + 2) as ws:
        ping(ws)
        time.sleep(2.2)  # (the token's own clock: nothing to poll)
        ws.send(json.dumps({"type": "ping"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401


def test_a_gone_connection_is_removed_on_the_next_push(live: Live) -> None:
    store = live.services.store
    now = time.time_ns() // 1_000_000
    with socket(live) as ws:
        ping(ws)
        import asyncio

        asyncio.run(_connect_and_close(live, "gone-connection", now))
        with api(live) as http:
            assert (
                http.put("/api/conversations/c1", json=conversation("c1", messages=0)).status_code
                == 201
            )
        assert frame(ws)["change"] == "created"
    assert asyncio.run(_owner(live, "gone-connection")) is None
    assert store.pusher is not None


async def _connect_and_close(live: Live, connection_id: str, now: int) -> None:
    # A connection registered whose socket API Gateway no longer has (its $disconnect lost).
    from shared.settings import Settings
    from shared.store import ConversationStore
    from shared.upstash import Upstash

    settings: Settings = live.services.settings
    upstash = Upstash(settings)
    try:
        await ConversationStore(upstash, settings).connect(
            "alice", connection_id, token_expires_ms=0, now_ms=now
        )
    finally:
        await upstash.aclose()


async def _owner(live: Live, connection_id: str) -> str | None:
    from shared.store import ConversationStore
    from shared.upstash import Upstash

    upstash = Upstash(live.services.settings)
    try:
        return await ConversationStore(upstash, live.services.settings).connection_owner(
            connection_id
        )
    finally:
        await upstash.aclose()
