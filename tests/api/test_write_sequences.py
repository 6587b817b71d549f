"""Any sequence of writes through the API keeps the store whole (hypothesis, stateful).

A ``RuleBasedStateMachine`` drives one user through every write route -- PUT a conversation
(with or without messages, reviving a deleted one), PATCH it, DELETE it, append, PATCH (replace,
streamed deltas with their sequence, finish) and DELETE messages (the last one included),
import, set the current conversation, erase -- with the clock moving on by whole epoch steps,
so that expiries move on and conversations expire. After every step:

* every key of the user has a Redis expiry (PTTL > 0), and no key a live conversation needs
  expires before the conversation does;
* ``GET /api/me`` counts, ``GET /api/conversations`` lists and ``GET /api/conversations/{id}``
  holds what the model says was written;
* the change feed, followed from the last step's cursor, names every conversation the step
  changed, and nothing it did not (but conversations that expired meanwhile).

Needs a real redis-server (PTTL and PEXPIRETIME as Redis keeps them). Bounded and
deterministic (``derandomize``): it runs in well under a minute.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from shared.keys import UserKeys
from shared.settings import Settings
from shared.ttl_policy import TtlPolicy
from tests.factories import ClientFactory, Clock, Standin, auth

# Few ids, so that steps meet: a cap of 3 among 5 ids evicts.
CONVERSATIONS = ["c0", "c1", "c2", "c3", "c4"]
CAP = 3
# A TTL of ten hours: its epoch step is one hour, and a few clock steps expire a conversation.
TTL_SECONDS = 10 * 3600
SEQUENCES = settings(
    max_examples=40,
    stateful_step_count=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_USERS = itertools.count()


@dataclass
class Message:
    """A message as the model expects it back."""

    id: str
    type: str
    content: str
    tokens: int = 0
    streaming: bool | None = None
    sequence: int = 0


@dataclass
class Conversation:
    """A live conversation: its messages and its last write epoch (what expiry counts from)."""

    messages: list[Message]
    epoch: int

    @property
    def tokens(self) -> int:
        return sum(m.tokens for m in self.messages)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _message_body(m: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": m.id,
        "type": m.type,
        "content": m.content,
        "timestamp": "2025-03-01T09:00:00.000Z",
    }
    if m.tokens:
        body["tokens"] = {"input": 1, "output": m.tokens - 1, "total": m.tokens}
    if m.streaming is not None:
        body["streaming"] = m.streaming
    return body


def _conversation_body(cid: str, messages: list[Message], updated: str) -> dict[str, Any]:
    return {
        "id": cid,
        "title": f"Title of {cid}",
        "messages": [_message_body(m) for m in messages],
        "createdAt": "2025-03-01T09:00:00.000Z",
        "updatedAt": updated,
        # As the frontend keeps it: the sum of its messages' tokens.
        "totalTokens": sum(m.tokens for m in messages),
    }


def _messages_strategy() -> st.SearchStrategy[list[Message]]:
    one = st.builds(
        Message,
        id=st.just(""),
        type=st.sampled_from(["user", "assistant"]),
        content=st.sampled_from(["hi", "hello there", ""]),
        tokens=st.sampled_from([0, 0, 7]),
    )
    return st.lists(one, max_size=3).map(
        lambda ms: [Message(f"m{i}", m.type, m.content, m.tokens) for i, m in enumerate(ms)]
    )


@pytest.fixture
def redis_client(standin: Standin) -> Iterator[redis.Redis]:
    """The private redis-server behind the stand-in, to read keys' expiries."""
    if standin.redis_url is None:
        pytest.skip("key expiries need a redis-server (none here: the stand-in runs fakeredis)")
    client = redis.Redis.from_url(standin.redis_url, decode_responses=True, protocol=2)
    yield client
    client.close()


def test_any_sequence_of_writes_keeps_keys_expiring_and_totals_true(
    make_client: ClientFactory, settings: Settings, redis_client: redis.Redis
) -> None:
    clock = Clock()
    client = make_client(
        clock=clock,
        conversation_ttl_seconds=TTL_SECONDS,
        max_conversations_per_user=CAP,
        # Every call writes its rate-limit window (a key too), and none is refused.
        rate_limit_user_requests=10**9,
        rate_limit_stream_requests=10**9,
    )
    policy = TtlPolicy(conversation_ttl_ms=TTL_SECONDS * 1000, session_ttl_ms=0)

    class WriteSequences(RuleBasedStateMachine):
        """One user's conversations, written through the API, beside a model of them."""

        def __init__(self) -> None:
            super().__init__()
            self.user = f"seq{next(_USERS)}"
            self.headers = auth(self.user)
            self.keys = UserKeys(settings.key_prefix, self.user)
            self.live: dict[str, Conversation] = {}
            self.deleted: set[str] = set()
            # Conversations that expired (the feed may name them at any time after).
            self.expired: set[str] = set()
            # What the change feed must name since its cursor.
            self.changed: set[str] = set()
            self.cursor = ""
            self.updates = itertools.count(1)

        # -------------------------------------------------------------- helpers

        def send(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
            return client.request(method, path, json=body, headers={**self.headers, **headers})

        def touch(self, cid: str) -> None:
            self.live[cid].epoch = policy.write_epoch(clock.now)

        def evict(self, ids: list[str]) -> None:
            for cid in ids:
                assert cid in self.live, (cid, "evicted but not live")
                del self.live[cid]
                self.changed.add(cid)
            assert len(self.live) <= CAP

        def fresh_cursor(self) -> None:
            listed = self.send("GET", "/api/conversations?limit=100")
            assert listed.status_code == 200, listed.text
            self.cursor = listed.json()["changesCursor"]
            self.changed = set()
            self.expired = set()

        @initialize()
        def start(self) -> None:
            self.fresh_cursor()

        # -------------------------------------------------------------- conversations

        @rule(
            cid=st.sampled_from(CONVERSATIONS),
            messages=_messages_strategy(),
            revive=st.booleans(),
        )
        def put_conversation(self, cid: str, messages: list[Message], revive: bool) -> None:
            extra = {"If-None-Match": "*"} if revive else {}
            body = _conversation_body(cid, messages, _iso(clock.now))
            answer = self.send("PUT", f"/api/conversations/{cid}", body, **extra)
            if revive and cid in self.live:
                assert answer.status_code == 412, answer.text
                return
            if cid in self.deleted and not revive:
                assert answer.json()["code"] == "conversation_deleted", answer.text
                return
            assert answer.status_code == (200 if cid in self.live else 201), answer.text
            self.deleted.discard(cid)
            self.live[cid] = Conversation(messages, 0)
            self.touch(cid)
            self.changed.add(cid)
            self.evict(answer.json()["evicted"])

        def _live(self, data: st.DataObject, *, with_messages: bool = False) -> str:
            ids = sorted(c for c, v in self.live.items() if v.messages or not with_messages)
            return data.draw(st.sampled_from(ids))

        @precondition(lambda self: self.live)
        @rule(data=st.data(), title=st.sampled_from(["A", "B"]))
        def patch_conversation(self, data: st.DataObject, title: str) -> None:
            cid = self._live(data)
            answer = self.send("PATCH", f"/api/conversations/{cid}", {"title": title})
            assert answer.status_code == 200, answer.text
            self.touch(cid)
            self.changed.add(cid)

        @precondition(lambda self: self.live)
        @rule(data=st.data())
        def delete_conversation(self, data: st.DataObject) -> None:
            cid = self._live(data)
            answer = self.send("DELETE", f"/api/conversations/{cid}")
            assert answer.status_code == 204, answer.text
            del self.live[cid]
            self.deleted.add(cid)
            self.changed.add(cid)

        @precondition(lambda self: len(self.live) < len(CONVERSATIONS))
        @rule(
            data=st.data(),
            request=st.sampled_from(
                [
                    ("PATCH", "", {"title": "A"}),
                    ("DELETE", "", None),
                    ("PATCH", "/messages/m0", {"content": "x"}),
                    ("DELETE", "/messages/m0", None),
                ]
            ),
        )
        def write_to_a_missing_conversation(
            self, data: st.DataObject, request: tuple[str, str, Any]
        ) -> None:
            cid = data.draw(st.sampled_from([c for c in CONVERSATIONS if c not in self.live]))
            method, tail, body = request
            answer = self.send(method, f"/api/conversations/{cid}{tail}", body)
            assert answer.status_code == 404, answer.text

        # -------------------------------------------------------------- messages

        @rule(
            data=st.data(),
            cid=st.sampled_from(CONVERSATIONS),
            kind=st.sampled_from(["user", "assistant"]),
            tokens=st.sampled_from([0, 5]),
            streaming=st.sampled_from([None, True]),
            revive=st.booleans(),
        )
        def append_message(
            self,
            data: st.DataObject,
            *,
            cid: str,
            kind: str,
            tokens: int,
            streaming: bool | None,
            revive: bool,
        ) -> None:
            # An id of the conversation's (a retry, or a conflict once edited) or a new one.
            known = [m.id for m in self.live[cid].messages] if cid in self.live else []
            mid = data.draw(st.sampled_from([*known, f"n{next(self.updates)}"]))
            stored = self._message(cid, mid)
            new = Message(mid, kind, f"{mid} says hi", tokens, streaming)
            if stored is not None:
                new = Message(mid, stored.type, f"{mid} says hi", tokens, streaming)
            extra = {"If-None-Match": "*"} if revive else {}
            answer = self.send(
                "POST", f"/api/conversations/{cid}/messages", _message_body(new), **extra
            )
            if stored is not None:
                same = stored.content == new.content
                assert answer.status_code == (200 if same else 409), answer.text
                return
            if cid not in self.live and cid in self.deleted and not revive:
                assert answer.json()["code"] == "conversation_deleted", answer.text
                return
            assert answer.status_code == 201, answer.text
            if cid not in self.live:
                self.deleted.discard(cid)
                self.live[cid] = Conversation([], 0)
            self.live[cid].messages.append(new)
            self.touch(cid)
            self.changed.add(cid)
            evicted = answer.headers.get("Evicted-Conversations")
            self.evict(evicted.split(",") if evicted else [])

        def _message(self, cid: str, mid: str) -> Message | None:
            conversation = self.live.get(cid)
            if conversation is None:
                return None
            return next((m for m in conversation.messages if m.id == mid), None)

        def _live_message(self, data: st.DataObject) -> tuple[str, Message]:
            cid = self._live(data, with_messages=True)
            return cid, data.draw(st.sampled_from(self.live[cid].messages))

        @precondition(lambda self: any(c.messages for c in self.live.values()))
        @rule(
            data=st.data(),
            how=st.sampled_from(["replace", "delta", "delta", "retry", "finish", "stream"]),
        )
        def patch_message(self, data: st.DataObject, how: str) -> None:
            cid, stored = self._live_message(data)
            sequence = stored.sequence
            patch: dict[str, Any]
            if how == "replace":
                patch = {"content": f"{stored.id} rewritten"}
            elif how in ("delta", "retry"):
                sequence = sequence + 1 if how == "delta" else max(1, sequence)
                patch = {"appendContent": "+", "sequence": sequence}
            elif how == "finish":
                patch = {"streaming": False, "tokens": {"input": 1, "output": 2, "total": 3}}
            else:
                patch = {"streaming": True}
            answer = self.send(
                "PATCH",
                f"/api/conversations/{cid}/messages/{stored.id}",
                patch,
                Prefer="return=minimal",
            )
            appends = how == "delta" or (how == "retry" and stored.sequence == 0)
            if appends and stored.streaming is False:
                assert answer.status_code == 409, answer.text  # a finished reply takes no delta
                return
            assert answer.status_code == 204, answer.text
            if how == "replace":
                stored.content = patch["content"]
            elif appends:
                stored.content += "+"
                stored.sequence = sequence
            elif how == "finish":
                stored.streaming, stored.tokens = False, 3
            elif how == "stream":
                stored.streaming = True
            self.touch(cid)
            if how not in ("delta", "retry"):  # a delta alone is followed by offset instead
                self.changed.add(cid)

        def _delete_message(self, cid: str, stored: Message) -> None:
            answer = self.send("DELETE", f"/api/conversations/{cid}/messages/{stored.id}")
            assert answer.status_code == 204, answer.text
            self.live[cid].messages.remove(stored)
            self.touch(cid)
            self.changed.add(cid)

        @precondition(lambda self: any(c.messages for c in self.live.values()))
        @rule(data=st.data())
        def delete_message(self, data: st.DataObject) -> None:
            self._delete_message(*self._live_message(data))

        @precondition(lambda self: any(c.messages for c in self.live.values()))
        @rule(data=st.data())
        def delete_every_message(self, data: st.DataObject) -> None:
            # The conversation is left with no message at all (its order key is gone).
            cid = self._live(data, with_messages=True)
            for stored in list(self.live[cid].messages):
                self._delete_message(cid, stored)

        @precondition(lambda self: self.live)
        @rule(data=st.data())
        def delete_a_missing_message(self, data: st.DataObject) -> None:
            cid = self._live(data)
            answer = self.send("DELETE", f"/api/conversations/{cid}/messages/absent")
            assert answer.status_code == 404, answer.text

        # -------------------------------------------------------------- the user

        @rule(
            records=st.lists(
                st.tuples(st.sampled_from(CONVERSATIONS), _messages_strategy(), st.booleans()),
                max_size=3,
                unique_by=lambda r: r[0],
            ),
            current=st.sampled_from([None, *CONVERSATIONS]),
        )
        def import_conversations(
            self, records: list[tuple[str, list[Message], bool]], current: str | None
        ) -> None:
            bodies, fresh, updated, skipped, rejected = [], set(), set(), 0, set()
            for cid, messages, newer in records:
                # Newer than anything stored (the far future, always later), or older.
                stamp = (
                    _iso(4_070_908_800_000 + next(self.updates)) if newer
                    else "2001-01-01T00:00:00.000Z"
                )  # fmt: skip
                bodies.append(_conversation_body(cid, messages, stamp))
                if cid in self.live:
                    if newer:
                        updated.add(cid)
                    else:
                        skipped += 1
                elif cid in self.deleted:
                    rejected.add(cid)
                else:
                    fresh.add(cid)
            answer = self.send(
                "POST", "/api/import", {"conversations": bodies, "currentConversationId": current}
            )
            assert answer.status_code == 200, answer.text
            result = answer.json()
            evicted = set(result["evicted"])
            assert evicted <= set(self.live) | fresh, result
            assert {r["id"] for r in result["rejected"]} == rejected, result
            assert result["imported"] == len(fresh - evicted), result
            assert result["updated"] == len(updated - evicted), result
            assert result["skipped"] == skipped, result
            self.evict([cid for cid in result["evicted"] if cid in self.live and cid not in fresh])
            for cid, messages, _ in records:
                if cid in (fresh | updated) - evicted:
                    self.live[cid] = Conversation(list(messages), 0)
                    self.touch(cid)
                    self.changed.add(cid)

        @rule(cid=st.sampled_from([None, *CONVERSATIONS]))
        def set_current_conversation(self, cid: str | None) -> None:
            answer = self.send("PUT", "/api/me/current-conversation", {"conversationId": cid})
            assert answer.status_code == 204, answer.text

        # Erasing leaves nothing to check: one draw in four, and only when there is data.
        @precondition(lambda self: self.live or self.deleted)
        @rule(now=st.sampled_from([False, False, False, True]))
        def erase(self, now: bool) -> None:
            if not now:
                return
            assert self.send("DELETE", "/api/me").status_code == 204
            self.live, self.deleted = {}, set()
            assert self.user_keys() == []
            self.fresh_cursor()

        # One step moves every expiry on; eleven expire whatever was not written meanwhile.
        @rule(steps=st.sampled_from([1, 3, 11]))
        def advance_clock(self, steps: int) -> None:
            clock.advance(steps * policy.step_ms / 1000)
            expired_before = policy.expired_before_ms(clock.now)
            assert expired_before is not None
            for cid, conversation in list(self.live.items()):
                if conversation.epoch <= expired_before:
                    del self.live[cid]
                    self.expired.add(cid)

        # -------------------------------------------------------------- invariants

        def user_keys(self) -> list[str]:
            pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.keys.base) + ":*"
            return sorted(redis_client.scan_iter(match=pattern, count=1000))

        @invariant()
        def every_key_expires(self) -> None:
            keys = self.user_keys()
            with redis_client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pexpiretime(key)
                expiries = dict(zip(keys, pipe.execute(), strict=True))
            assert not [k for k, at in expiries.items() if at < 0], ("no expiry", expiries)
            # What a live conversation needs lives at least as long as the conversation does.
            for cid, conversation in self.live.items():
                until = conversation.epoch + policy.conversation_ttl_ms
                needed = [self.keys.messages(cid), self.keys.summaries, self.keys.index]
                if conversation.messages:
                    needed.append(self.keys.order(cid))
                for key in needed:
                    assert expiries.get(key, 0) >= until, (cid, key, expiries.get(key), until)

        @invariant()
        def totals_agree(self) -> None:
            me = self.send("GET", "/api/me").json()
            assert me["conversationCount"] == len(self.live), me
            assert me["messageCount"] == sum(len(c.messages) for c in self.live.values()), me
            assert me["totalTokens"] == sum(c.tokens for c in self.live.values()), me

        @invariant()
        def list_and_messages_agree(self) -> None:
            listed = self.send("GET", "/api/conversations?limit=100").json()
            summaries = {c["id"]: c for c in listed["conversations"]}
            assert sorted(summaries) == sorted(self.live), (summaries, self.live)
            for cid, conversation in self.live.items():
                assert summaries[cid]["messageCount"] == len(conversation.messages), cid
                assert summaries[cid]["totalTokens"] == conversation.tokens, cid
                read = self.send("GET", f"/api/conversations/{cid}?limit=500").json()
                got = [(m["id"], m["type"], m["content"]) for m in read["messages"]]
                want = [(m.id, m.type, m.content) for m in conversation.messages]
                assert got == want, cid

        @invariant()
        def change_feed_names_what_changed(self) -> None:
            if not self.cursor:
                return
            seen: dict[str, str] = {}
            while True:
                answer = self.send("GET", f"/api/changes?since={self.cursor}&limit=500")
                assert answer.status_code == 200, answer.text
                page = answer.json()
                for change in page["changes"]:
                    seen[change["id"]] = change["type"]
                self.cursor = page["nextCursor"]
                if not page["hasMore"]:
                    break
            assert self.changed <= set(seen), (self.changed, seen)
            assert set(seen) <= self.changed | self.expired, (self.changed, seen)
            for cid, kind in seen.items():
                assert (kind == "upsert") == (cid in self.live), (cid, kind)
            self.changed = set()

    run_state_machine_as_test(WriteSequences, settings=SEQUENCES)
