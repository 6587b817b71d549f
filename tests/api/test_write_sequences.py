"""Any sequence of writes through the API keeps the store whole (hypothesis, stateful).

A ``RuleBasedStateMachine`` drives one user through every write route -- PUT a conversation
(with or without messages, some with UIMessage parts, archived or not, reviving a deleted one),
PATCH it (rename; archive and unarchive, alone or with a rename), DELETE it, append (plain,
with text parts, or a reply started with ``parts: []`` and ``streaming: true``), PATCH messages
(replace, streamed ``appendContent`` deltas with their sequence, ``partChanges`` numbered the
same way -- text and reasoning appends and whole parts (text, a step, tool calls moving through
their states), with an ``index`` or without, one past the end included, several in one patch,
all or none, refused with their ``part_conflict`` rule -- retries of either, finish with
metadata, stop with ``interrupted``, reopen a finished reply with its parts whole and
``streaming: true``, its deltas numbered from 1 again) and DELETE them (the last one included),
import, set the current conversation, erase -- and a second, anonymous user
(``POST /api/auth/anonymous``) who PUTs conversations of its own, which the first user claims
(``POST /api/me/claim``), with the clock moving on by whole epoch steps, so that expiries move
on, conversations expire (and the keys whose expiry the clock passed are dropped, as Redis
would have dropped them meanwhile) and replies left streaming go stale (the stale limit is two
clock steps: two steps later a reply still streams, three later it reads interrupted). After
every step:

* every key of either user has a Redis expiry (PTTL > 0), and no key a live conversation needs
  expires before the conversation does;
* ``GET /api/me`` counts, ``GET /api/conversations`` lists (``updatedAt`` included, newest
  first; and with ``?archived=true`` / ``false``, every page followed, exactly the archived /
  not archived ones) and ``GET /api/conversations/{id}`` holds what the model says was written:
  each message's content, its ``streaming`` and ``interrupted``, and its parts exactly (the
  JSON, ``state`` and key order included; settled -- text and reasoning ``done``, waiting tool
  calls ``output-error`` -- once the reply stopped or went stale), and whether the conversation
  is archived; the anonymous user's count and list too;
* the change feed, followed from the last step's cursor, names every conversation the step
  changed (archiving included: its upsert's summary carries ``archived``), and nothing it did
  not (but conversations that expired meanwhile); it answers 410 only once it lapsed with the
  user's data, never while a conversation lives.

Needs a real redis-server (PTTL and PEXPIRETIME as Redis keeps them). Bounded and
deterministic (``derandomize``): it runs in well under a minute.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from tests.factories import ClientFactory, Clock, Standin, auth, bearer

# Few ids, so that steps meet: a cap of 3 among 5 ids evicts.
CONVERSATIONS = ["c0", "c1", "c2", "c3", "c4"]
CAP = 3
# A TTL of ten hours: its epoch step is one hour, and a few clock steps expire a conversation.
TTL_SECONDS = 10 * 3600
# Far in the future (2099): later than any clock of the run, so always the newer copy.
FUTURE_MS = 4_070_908_800_000
# Long before any clock of the run: always the older copy.
PAST_MS = 978_307_200_000  # 2001-01-01
SEQUENCES = settings(
    max_examples=40,
    stateful_step_count=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_USERS = itertools.count()


# Replies left streaming this long without a write read as interrupted, their parts settled:
# two clock steps (an hour each), so two steps are not yet stale and three are.
STALE_SECONDS = 2 * 3600
INTERRUPTED_TOOL = "The response was interrupted before this tool call finished."


@dataclass
class Part:
    """A UIMessage part as the model expects it stored: its JSON, key order included."""

    json: dict[str, Any]
    # Started by a partChanges append and still streaming: the next append goes on with it.
    appending: bool = False

    @property
    def kind(self) -> str:
        """What a change may put over it: text, reasoning, a tool call, or any other part."""
        kind = str(self.json["type"])
        if kind.startswith("tool-") or kind == "dynamic-tool":
            return "tool"
        return kind if kind in ("text", "reasoning") else "other"

    @property
    def call(self) -> str:
        """A tool call's toolCallId ("" for any other part)."""
        return str(self.json["toolCallId"]) if self.kind == "tool" else ""


def _text(text: str) -> Part:
    return Part({"type": "text", "text": text})


def _tool(call: str, state: str) -> dict[str, Any]:
    """A tool call's part in ``state``, as the SDK moves it through them."""
    part: dict[str, Any] = {"type": f"tool-{call}", "toolCallId": call, "state": state}
    part["input"] = {"q": "pa"} if state == "input-streaming" else {"q": "paris"}
    if state == "output-available":
        part["output"] = {"ok": True}
    return part


def _settled(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parts as a reply whose stream stopped reads them (docs/api.md, Messages with parts).

    Text and reasoning still streaming are done; a tool call still waiting for its input or
    its output failed (a streaming input dropped); anything else is as stored.
    """
    out = []
    for stored in parts:
        part = dict(stored)
        state = part.get("state")
        if part["type"] in ("text", "reasoning") and state == "streaming":
            part["state"] = "done"
        elif state in ("input-streaming", "input-available") and "toolCallId" in part:
            if state == "input-streaming":
                del part["input"]
            part["state"] = "output-error"
            part["errorText"] = INTERRUPTED_TOOL
        out.append(part)
    return out


def _apply(parts: list[Part], change: dict[str, Any]) -> str | None:
    """Apply one partChanges entry to ``parts`` (docs/api.md, Streaming into parts).

    Returns the rule it breaks (``parts`` then half changed), or None.
    """
    count, at = len(parts), change.get("index")
    if "part" in change:
        new = Part(copy.deepcopy(change["part"]))
        target: int | None
        if new.kind == "tool":
            # Wherever its toolCallId is; a new call goes at the end (or its index, the end).
            target = next((i for i, p in enumerate(parts) if p.call == new.call), None)
            if target is not None and at is not None and at != target:
                return "tool_index"
            if target is None:
                if at is not None and at > count:
                    return "past_end"
                if at is not None and at < count:
                    return "tool_index" if parts[at].kind == "tool" else "other_kind"
                target = count
        else:
            target = count if at is None else at
            if target > count:
                return "past_end"
            if target < count and parts[target].kind != new.kind:
                return "other_kind"
        if target == count:
            parts.append(new)
        else:
            parts[target] = new
        return None
    kind, text = change["type"], change["append"]
    if at is None:
        # The last part when an append started it, it still streams and is of this type.
        last = parts[-1] if parts else None
        target = count - 1 if last and last.appending and last.kind == kind else count
    else:
        target = at
        if target > count:
            return "past_end"
        if target < count and parts[target].kind != kind:
            return "other_kind"
        if target < count and not parts[target].appending:
            return "not_appendable"
    if target == count:
        parts.append(Part({"type": kind, "text": text, "state": "streaming"}, appending=True))
    else:
        parts[target].json["text"] += text
    return None


@dataclass
class Message:
    """A message as the model expects it back."""

    id: str
    type: str
    content: str
    tokens: int = 0
    streaming: bool | None = None
    sequence: int = 0
    # None: written without parts (content alone); else its parts.
    parts: list[Part] | None = None
    # Stopped (``interrupted: true``) and not reopened since.
    interrupted: bool = False
    # When it was last written (what its staleness counts from).
    written: int = 0

    def rejoin(self) -> None:
        """The content of a message with parts: its text parts joined."""
        assert self.parts is not None
        self.content = "".join(p.json["text"] for p in self.parts if p.kind == "text")

    def settle(self) -> None:
        """A reply that ends: the parts an append started are done."""
        for part in self.parts or []:
            if part.appending:
                part.json["state"] = "done"
                part.appending = False

    def stale(self, now: int) -> bool:
        """Left streaming, and not written for longer than the stale limit."""
        return self.streaming is True and now - self.written > STALE_SECONDS * 1000

    def shown(self, now: int) -> dict[str, Any]:
        """What a read of it at ``now`` answers of its streaming, interruption and parts."""
        stopped = self.interrupted or self.stale(now)
        parts = None if self.parts is None else [p.json for p in self.parts]
        return {
            "streaming": None if self.streaming is None else self.streaming and not stopped,
            "interrupted": True if stopped else None,
            "parts": _settled(parts) if stopped and parts is not None else parts,
        }


@dataclass
class Conversation:
    """A live conversation, its messages and when it was last written.

    ``epoch`` is its last write epoch (what expiry counts from), ``updated`` its ``updatedAt``
    in ms (what the list orders by and a claim or an import compares).
    """

    messages: list[Message]
    epoch: int
    updated: int = 0
    archived: bool = False

    @property
    def tokens(self) -> int:
        return sum(m.tokens for m in self.messages)


@dataclass
class Anonymous:
    """The anonymous visitor: its token, its keys and its live conversations."""

    token: str
    keys: UserKeys
    live: dict[str, Conversation] = field(default_factory=dict)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


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
    if m.parts is not None:
        body["parts"] = [p.json for p in m.parts]
    return body


def _conversation_body(
    cid: str, messages: list[Message], updated: str, *, archived: bool = False
) -> dict[str, Any]:
    body = {
        "id": cid,
        "title": f"Title of {cid}",
        "messages": [_message_body(m) for m in messages],
        "createdAt": "2025-03-01T09:00:00.000Z",
        "updatedAt": updated,
        # As the frontend keeps it: the sum of its messages' tokens.
        "totalTokens": sum(m.tokens for m in messages),
    }
    if archived:
        body["archived"] = True
    return body


def _messages_strategy() -> st.SearchStrategy[list[Message]]:
    one = st.builds(
        Message,
        id=st.just(""),
        type=st.sampled_from(["user", "assistant"]),
        content=st.sampled_from(["hi", "hello there", ""]),
        tokens=st.sampled_from([0, 0, 7]),
    )

    def numbered(ms: list[tuple[Message, bool]]) -> list[Message]:
        out = []
        for i, (m, with_parts) in enumerate(ms):
            # With parts, its content is their text: one text part, or none for "".
            parts = ([_text(m.content)] if m.content else []) if with_parts else None
            out.append(Message(f"m{i}", m.type, m.content, m.tokens, parts=parts))
        return out

    return st.lists(st.tuples(one, st.booleans()), max_size=3).map(numbered)


def _read_all(client: Any, headers: dict[str, str], archived: str) -> list[dict[str, Any]]:
    """Every conversation a list gives, page after page.

    A filtered page may come back short, or empty, with a cursor.
    """
    got: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 100, "archived": archived}
        if cursor:
            params["cursor"] = cursor
        answer = client.get("/api/conversations", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        got.extend(page["conversations"])
        cursor = page["nextCursor"]
        if cursor is None:
            return got
    raise AssertionError(f"archived={archived}: more than 20 pages")


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
        streaming_stale_seconds=STALE_SECONDS,
        # Every call writes its rate-limit window (a key too), and none is refused.
        rate_limit_user_requests=10**9,
        rate_limit_stream_requests=10**9,
        rate_limit_anonymous_requests=10**9,
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
            # The change feed's key lapsed (the user's data all expired) since the cursor.
            self.feed_lapsed = False
            # The anonymous visitor, once one has a token.
            self.anonymous: Anonymous | None = None

        # -------------------------------------------------------------- helpers

        def send(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
            return client.request(method, path, json=body, headers={**self.headers, **headers})

        def touch(self, cid: str, *, moves: bool = True) -> None:
            """A write to ``cid``: its expiry counts from now; ``moves``: so does updatedAt."""
            self.live[cid].epoch = policy.write_epoch(clock.now)
            if moves:
                self.live[cid].updated = clock.now

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
            self.feed_lapsed = False

        @initialize()
        def start(self) -> None:
            self.fresh_cursor()

        # -------------------------------------------------------------- conversations

        @rule(
            cid=st.sampled_from(CONVERSATIONS),
            messages=_messages_strategy(),
            revive=st.booleans(),
            archived=st.sampled_from([False, False, True]),
        )
        def put_conversation(
            self, cid: str, messages: list[Message], revive: bool, archived: bool
        ) -> None:
            extra = {"If-None-Match": "*"} if revive else {}
            body = _conversation_body(cid, messages, _iso(clock.now), archived=archived)
            answer = self.send("PUT", f"/api/conversations/{cid}", body, **extra)
            if revive and cid in self.live:
                assert answer.status_code == 412, answer.text
                return
            if cid in self.deleted and not revive:
                assert answer.json()["code"] == "conversation_deleted", answer.text
                return
            assert answer.status_code == (200 if cid in self.live else 201), answer.text
            self.deleted.discard(cid)
            self.live[cid] = Conversation(messages, 0, archived=archived)
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
        @rule(data=st.data(), archived=st.booleans(), renamed=st.sampled_from([False, False, True]))
        def archive_conversation(self, data: st.DataObject, archived: bool, renamed: bool) -> None:
            # Archiving (or unarchiving) an archived (or not) one is a write all the same.
            cid = self._live(data)
            patch: dict[str, Any] = {"archived": archived}
            if renamed:
                patch["title"] = "Filed"
            answer = self.send("PATCH", f"/api/conversations/{cid}", patch)
            assert answer.status_code == 200, answer.text
            assert answer.json().get("archived", False) is archived, answer.text
            self.live[cid].archived = archived
            # Alone, it keeps updatedAt (and the place in the list); with a rename it moves.
            self.touch(cid, moves=renamed)
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
                    ("PATCH", "", {"archived": True}),
                    ("DELETE", "", None),
                    ("PATCH", "/messages/m0", {"content": "x"}),
                    ("PATCH", "/messages/m0", {"partChanges": [{"append": "x", "type": "text"}]}),
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
            # Without parts; with one text part (content sent or left out); a reply started
            # with no parts yet, streaming.
            shape=st.sampled_from(["plain", "plain", "text", "text-alone", "reply", "reply"]),
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
            shape: str,
            revive: bool,
        ) -> None:
            # An id of the conversation's (a retry, or a conflict once edited) or a new one.
            known = [m.id for m in self.live[cid].messages] if cid in self.live else []
            mid = data.draw(st.sampled_from([*known, f"n{next(self.updates)}"]))
            stored = self._message(cid, mid)
            kind = stored.type if stored is not None else kind
            if shape == "reply":
                new = Message(mid, kind, "", tokens, True, parts=[])
            elif shape in ("text", "text-alone"):
                text = f"{mid} says hi"
                new = Message(mid, kind, text, tokens, streaming, parts=[_text(text)])
            else:
                new = Message(mid, kind, f"{mid} says hi", tokens, streaming)
            body = _message_body(new)
            if shape == "text-alone":
                del body["content"]  # taken from the parts
            extra = {"If-None-Match": "*"} if revive else {}
            answer = self.send("POST", f"/api/conversations/{cid}/messages", body, **extra)
            if stored is not None:
                # A retry is recognised by its id, type and content.
                same = stored.content == new.content
                assert answer.status_code == (200 if same else 409), answer.text
                return
            if cid not in self.live and cid in self.deleted and not revive:
                assert answer.json()["code"] == "conversation_deleted", answer.text
                return
            assert answer.status_code == 201, answer.text
            assert answer.json()["content"] == new.content, answer.text
            if cid not in self.live:
                self.deleted.discard(cid)
                self.live[cid] = Conversation([], 0)
            new.written = clock.now
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

        def _message_taking_parts(self, data: st.DataObject) -> tuple[str, Message]:
            # Mostly a message with parts (or none yet, and no content: it takes them).
            taking = sorted(
                (cid, m.id)
                for cid, c in self.live.items()
                for m in c.messages
                if m.parts is not None or not m.content
            )
            if not taking or data.draw(st.sampled_from([False, True, True, True])) is False:
                return self._live_message(data)
            cid, mid = data.draw(st.sampled_from(taking))
            stored = self._message(cid, mid)
            assert stored is not None
            return cid, stored

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
            retried = how == "retry" and stored.sequence > 0
            if retried:
                # Applied already: answered as the first time, and nothing written.
                assert answer.status_code == 204, answer.text
                return
            appends = how in ("delta", "retry")
            if (appends or how == "replace") and stored.parts is not None:
                # The content of a message with parts changes only with its parts.
                assert answer.status_code == 409, answer.text
                assert answer.json()["code"] == "message_has_parts", answer.text
                return
            if appends and stored.streaming is False:
                assert answer.status_code == 409, answer.text  # a finished reply takes no delta
                assert answer.json()["code"] == "message_finished", answer.text
                return
            assert answer.status_code == 204, answer.text
            if how == "replace":
                stored.content = patch["content"]
            elif appends:
                stored.content += "+"
                stored.sequence = sequence
            elif how == "finish":
                stored.streaming, stored.tokens = False, 3
                stored.settle()
            elif how == "stream":
                stored.streaming, stored.interrupted = True, False
            stored.written = clock.now
            self.touch(cid)
            if not appends:  # a delta alone is followed by offset instead
                self.changed.add(cid)

        def _part_change(self, data: st.DataObject, parts: list[Part]) -> dict[str, Any]:
            # One change of each kind, at no index (mostly) or any index up to one past the end.
            tag = next(self.updates)
            what = data.draw(
                st.sampled_from(
                    [
                        "text",
                        "text",
                        "reasoning",
                        "put-text",
                        "put-reasoning",
                        "step",
                        "tool",
                        "tool",
                    ]
                )
            )
            # As often no index as any index (one past the end, too).
            indices: list[int | None] = [None] * (len(parts) + 2) + list(range(len(parts) + 2))
            change: dict[str, Any]
            if what in ("text", "reasoning"):
                change = {"append": f"<{tag}>", "type": what}
            elif what == "put-text":
                # A text part sent whole, maybe still streaming: an append does not add to it.
                extra = data.draw(st.sampled_from([{}, {"state": "streaming"}, {"state": "done"}]))
                change = {"part": {"type": "text", "text": f"[{tag}]"} | extra}
            elif what == "put-reasoning":
                change = {"part": {"type": "reasoning", "text": f"[{tag}]", "state": "done"}}
            elif what == "step":
                change = {"part": {"type": "step-start"}}
            else:
                call = data.draw(st.sampled_from(["t1", "t2"]))
                state = data.draw(
                    st.sampled_from(["input-streaming", "input-available", "output-available"])
                )
                change = {"part": _tool(call, state)}
                # Its own index too, where it has one already (else another's, or the end).
                indices += [i for i, p in enumerate(parts) if p.call == call] * 2
            index = data.draw(st.sampled_from(indices))
            if index is not None:
                change["index"] = index
            return change

        @precondition(lambda self: any(c.messages for c in self.live.values()))
        @rule(data=st.data(), patches=st.sampled_from([1, 2, 3, 5]))
        def stream_into_parts(self, data: st.DataObject, patches: int) -> None:
            # Appends and whole parts (by index or not), numbered as deltas are, all or none;
            # a few patches in a row to one message, maybe with ``streaming: true`` (which
            # reopens a finished reply), the last maybe with the finish or a stop.
            cid, stored = self._message_taking_parts(data)
            for n in range(patches):
                hows = ["changes", "changes", "stream-with"]
                if n == patches - 1:
                    hows += ["finish-with", "stop-with"]
                self._change_parts(data, data.draw(st.sampled_from(hows)), cid, stored)

        @precondition(lambda self: any(c.messages for c in self.live.values()))
        @rule(data=st.data(), how=st.sampled_from(["retry", "finish", "stop"]))
        def end_or_retry_parts(self, data: st.DataObject, how: str) -> None:
            # A retried append, or a finish (with metadata) or a stop, which settle what streams.
            self._change_parts(data, how, *self._message_taking_parts(data))

        def _change_parts(self, data: st.DataObject, how: str, cid: str, stored: Message) -> None:
            before = copy.deepcopy(stored.parts) if stored.parts is not None else []
            changes: list[dict[str, Any]] = []
            if how == "retry":
                changes = [{"append": f"<{next(self.updates)}>", "type": "text"}]
            elif how in ("changes", "stream-with", "finish-with", "stop-with"):
                for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 3]))):
                    changes.append(self._part_change(data, before))
            patch: dict[str, Any] = {}
            if changes:
                retried = how == "retry" and stored.sequence > 0
                sequence = stored.sequence if retried else stored.sequence + 1
                patch = {"partChanges": changes, "sequence": sequence}
            if how in ("finish", "finish-with"):
                patch |= {"streaming": False, "metadata": {"finish": how}}
            elif how == "stop":
                patch = {"interrupted": True}
            elif how == "stream-with":
                patch["streaming"] = True
            elif how == "stop-with":
                patch["interrupted"] = True
            answer = self.send(
                "PATCH",
                f"/api/conversations/{cid}/messages/{stored.id}",
                patch,
                Prefer="return=minimal",
            )
            if how == "retry" and stored.sequence > 0:
                assert answer.status_code == 204, answer.text  # applied already: nothing
                return
            ends = how in ("finish", "finish-with", "stop", "stop-with")
            appends = any("append" in c for c in changes)
            if appends and stored.streaming is False and how != "stream-with":
                assert answer.status_code == 409, answer.text
                assert answer.json()["code"] == "message_finished", answer.text
                return
            broken: tuple[str, int] | None = None
            if changes and stored.parts is None and stored.content:
                # Content written before parts: its parts must be sent whole first.
                broken = ("no_parts", 0)
            parts = copy.deepcopy(before)
            for at, change in enumerate(changes):
                rule = None if broken else _apply(parts, change)
                if rule is not None:
                    broken = (rule, at)
            if broken is not None:
                # All or none: nothing is written, the sequence number not used up either.
                assert answer.status_code == 409, answer.text
                refused = answer.json()
                assert (refused["code"], refused["rule"]) == ("part_conflict", broken[0]), (
                    changes,
                    refused,
                )
                assert refused["detail"].startswith(f"partChanges[{broken[1]}] "), refused
                return
            assert answer.status_code == 204, (changes, answer.text)
            if changes:
                stored.parts = parts
                stored.rejoin()
                stored.sequence = patch["sequence"]
            # Changes alone to a streaming reply are a streamed delta (followed by offset, not
            # the feed); to a finished one, or with the finish or a reopening, they are an edit.
            if ends or how == "stream-with" or stored.streaming is not True:
                self.changed.add(cid)
            if how == "stream-with":
                stored.streaming, stored.interrupted = True, False
            if ends:
                stored.streaming = False
                stored.settle()
            if how in ("stop", "stop-with"):
                stored.interrupted = True
            stored.written = clock.now
            self.touch(cid)

        @precondition(lambda self: any(c.messages for c in self.live.values()))
        @rule(data=st.data(), step=st.booleans())
        def reopen_reply(self, data: st.DataObject, step: bool) -> None:
            # A turn continued after a tool approval: the reply sent back whole as read (settled
            # when it stopped), maybe with a step more, and streaming again; its deltas are
            # numbered from 1 again.
            cid, stored = self._message_taking_parts(data)
            if stored.parts is None:
                sent = [_text(stored.content).json] if stored.content else []
            else:
                sent = copy.deepcopy(stored.shown(clock.now)["parts"])
            if step:
                sent.append({"type": "step-start"})
            answer = self.send(
                "PATCH",
                f"/api/conversations/{cid}/messages/{stored.id}",
                {"parts": sent, "streaming": True},
                Prefer="return=minimal",
            )
            assert answer.status_code == 204, answer.text
            # Stored as sent: none of its parts was started by an append.
            stored.parts = [Part(part) for part in sent]
            stored.rejoin()
            stored.streaming, stored.interrupted, stored.sequence = True, False, 0
            stored.written = clock.now
            self.touch(cid)
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

        def _take(self, records: list[tuple[str, Conversation]], result: dict[str, Any]) -> None:
            """Model what an import (or a claim, which imports) of ``records`` did.

            A new conversation is imported, a stored one replaced by a newer copy, a deleted one
            rejected, and the cap evicts the least recently updated.
            """
            fresh, updated, skipped, rejected = set(), set(), 0, set()
            for cid, conversation in records:
                if cid in self.live:
                    if conversation.updated > self.live[cid].updated:
                        updated.add(cid)
                    else:
                        skipped += 1
                elif cid in self.deleted:
                    rejected.add(cid)
                else:
                    fresh.add(cid)
            evicted = set(result["evicted"])
            assert evicted <= set(self.live) | fresh, result
            assert {r["id"] for r in result["rejected"]} == rejected, result
            assert {r["code"] for r in result["rejected"]} <= {"conversation_deleted"}, result
            assert result["imported"] == len(fresh - evicted), result
            assert result["updated"] == len(updated - evicted), result
            assert result["skipped"] == skipped, result
            self.evict([cid for cid in result["evicted"] if cid in self.live and cid not in fresh])
            for cid, conversation in records:
                if cid in (fresh | updated) - evicted:
                    self.live[cid] = copy.deepcopy(conversation)
                    self.touch(cid, moves=False)
                    self.changed.add(cid)

        @rule(
            records=st.lists(
                st.tuples(
                    st.sampled_from(CONVERSATIONS),
                    _messages_strategy(),
                    st.booleans(),
                    st.sampled_from([False, False, True]),
                ),
                max_size=3,
                unique_by=lambda r: r[0],
            ),
            current=st.sampled_from([None, *CONVERSATIONS]),
        )
        def import_conversations(
            self, records: list[tuple[str, list[Message], bool, bool]], current: str | None
        ) -> None:
            bodies, modelled = [], []
            for cid, messages, newer, archived in records:
                # Newer than anything stored (the far future, always later), or older.
                stamp = FUTURE_MS + next(self.updates) if newer else PAST_MS
                bodies.append(_conversation_body(cid, messages, _iso(stamp), archived=archived))
                modelled.append((cid, Conversation(messages, 0, stamp, archived)))
            answer = self.send(
                "POST", "/api/import", {"conversations": bodies, "currentConversationId": current}
            )
            assert answer.status_code == 200, answer.text
            self._take(modelled, answer.json())

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
            assert self.user_keys(self.keys) == []
            self.fresh_cursor()

        # -------------------------------------------------------------- the anonymous visitor

        @rule(
            cid=st.sampled_from(CONVERSATIONS),
            messages=_messages_strategy(),
            # Now (as new as the user's newest write, which it loses a tie to), newer than
            # anything, or older than anything.
            stamp=st.sampled_from(["now", "future", "past"]),
            archived=st.sampled_from([False, False, True]),
        )
        def anonymous_put(
            self, cid: str, messages: list[Message], stamp: str, archived: bool
        ) -> None:
            if self.anonymous is None:
                issued = client.post("/api/auth/anonymous")
                assert issued.status_code == 201, issued.text
                token, user_id = issued.json()["token"], issued.json()["userId"]
                assert user_id.startswith("anon_"), user_id
                self.anonymous = Anonymous(token, UserKeys(settings.key_prefix, user_id))
            visitor = self.anonymous
            updated = {
                "now": clock.now,
                "future": FUTURE_MS + next(self.updates),
                "past": PAST_MS,
            }[stamp]
            body = _conversation_body(cid, messages, _iso(updated), archived=archived)
            answer = client.put(
                f"/api/conversations/{cid}", json=body, headers=bearer(visitor.token)
            )
            assert answer.status_code == (200 if cid in visitor.live else 201), answer.text
            epoch = policy.write_epoch(clock.now)
            visitor.live[cid] = Conversation(messages, epoch, updated, archived)
            for gone in answer.json()["evicted"]:
                assert gone in visitor.live, (gone, "evicted but not live")
                del visitor.live[gone]
            assert len(visitor.live) <= CAP

        @precondition(lambda self: self.anonymous is not None and self.anonymous.live)
        @rule(again=st.booleans())
        def claim(self, again: bool) -> None:
            # Every conversation of the visitor moves (the newer copy wins where both have one),
            # then the visitor is erased: claiming again finds nothing.
            visitor = self.anonymous
            assert visitor is not None
            for _ in range(2 if again else 1):
                answer = self.send("POST", "/api/me/claim", {"anonymousToken": visitor.token})
                assert answer.status_code == 200, answer.text
                result = answer.json()
                assert result["done"] is True, result
                self._take(sorted(visitor.live.items()), result)
                visitor.live = {}

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
            if self.anonymous is not None:
                for cid, conversation in list(self.anonymous.live.items()):
                    if conversation.epoch <= expired_before:
                        del self.anonymous.live[cid]
            self.reap()

        def reap(self) -> None:
            # Redis drops a key once its expiry has passed: the clock moved on by hours the
            # redis-server did not live through, so the keys it would have dropped go here.
            every = [self.keys] + ([self.anonymous.keys] if self.anonymous else [])
            for keys in every:
                found = self.user_keys(keys)
                with redis_client.pipeline(transaction=False) as pipe:
                    for key in found:
                        pipe.pexpiretime(key)
                    expiries = pipe.execute()
                gone = [k for k, at in zip(found, expiries, strict=True) if 0 < at < clock.now]
                if gone:
                    redis_client.delete(*gone)
                if keys is self.keys and keys.summaries in gone:
                    # What the user deleted is remembered in the summary hash: it lapsed too.
                    assert not self.live, ("the summaries lapsed before", self.live)
                    self.deleted = set()
                if keys is self.keys and keys.changes in gone:
                    # The feed lapses with the user's data, never before it: a cursor from
                    # before is then answered 410 and the device lists again (docs/sync.md).
                    assert not self.live, ("the change feed lapsed before", self.live)
                    self.feed_lapsed = True

        # -------------------------------------------------------------- invariants

        def user_keys(self, keys: UserKeys) -> list[str]:
            pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in keys.base) + ":*"
            return sorted(redis_client.scan_iter(match=pattern, count=1000))

        def _keys_expire(self, keys: UserKeys, live: dict[str, Conversation]) -> None:
            found = self.user_keys(keys)
            with redis_client.pipeline(transaction=False) as pipe:
                for key in found:
                    pipe.pexpiretime(key)
                expiries = dict(zip(found, pipe.execute(), strict=True))
            assert not [k for k, at in expiries.items() if at < 0], ("no expiry", expiries)
            # What a live conversation needs lives at least as long as the conversation does.
            for cid, conversation in live.items():
                until = conversation.epoch + policy.conversation_ttl_ms
                needed = [keys.messages(cid), keys.summaries, keys.index]
                if conversation.messages:
                    needed.append(keys.order(cid))
                for key in needed:
                    assert expiries.get(key, 0) >= until, (cid, key, expiries.get(key), until)

        @invariant()
        def every_key_expires(self) -> None:
            self._keys_expire(self.keys, self.live)
            if self.anonymous is not None:
                self._keys_expire(self.anonymous.keys, self.anonymous.live)

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
            stamps = [_ms(c["updatedAt"]) for c in listed["conversations"]]
            assert stamps == sorted(stamps, reverse=True), listed  # newest first
            for cid, conversation in self.live.items():
                summary = summaries[cid]
                assert summary["messageCount"] == len(conversation.messages), cid
                assert summary["totalTokens"] == conversation.tokens, cid
                assert _ms(summary["updatedAt"]) == conversation.updated, (cid, summary)
                assert summary.get("archived", False) is conversation.archived, (cid, summary)
                read = self.send("GET", f"/api/conversations/{cid}?limit=500").json()
                assert read.get("archived", False) is conversation.archived, (cid, read)
                got = [(m["id"], m["type"], m["content"]) for m in read["messages"]]
                want = [(m.id, m.type, m.content) for m in conversation.messages]
                assert got == want, cid
                # Parts whole (state included, key order too), settled once a reply stopped.
                got_shown = [
                    json.dumps({k: m.get(k) for k in ("streaming", "interrupted", "parts")})
                    for m in read["messages"]
                ]
                want_shown = [json.dumps(m.shown(clock.now)) for m in conversation.messages]
                assert got_shown == want_shown, (cid, read["messages"])

        @invariant()
        def archived_filters_agree(self) -> None:
            for archived in (True, False):
                word = "true" if archived else "false"
                ids = [c["id"] for c in _read_all(client, self.headers, word)]
                want = {cid for cid, c in self.live.items() if c.archived is archived}
                assert len(ids) == len(set(ids)), (archived, ids)
                assert set(ids) == want, (archived, ids, want)

        @invariant()
        def anonymous_agrees(self) -> None:
            if self.anonymous is None:
                return
            visitor = bearer(self.anonymous.token)
            listed = _read_all(client, visitor, "any")
            assert sorted(c["id"] for c in listed) == sorted(self.anonymous.live), listed
            me = client.get("/api/me", headers=visitor).json()
            assert me["conversationCount"] == len(self.anonymous.live), me

        @invariant()
        def change_feed_names_what_changed(self) -> None:
            if not self.cursor:
                return
            seen: dict[str, dict[str, Any]] = {}
            while True:
                answer = self.send("GET", f"/api/changes?since={self.cursor}&limit=500")
                if answer.status_code == 410 and self.feed_lapsed:
                    assert answer.json()["code"] == "changes_reset", answer.text
                    assert not (self.changed - self.expired), (self.changed, self.expired)
                    self.fresh_cursor()
                    return
                assert answer.status_code == 200, answer.text
                page = answer.json()
                for change in page["changes"]:
                    seen[change["id"]] = change
                self.cursor = page["nextCursor"]
                if not page["hasMore"]:
                    break
            assert self.changed <= set(seen), (self.changed, seen)
            assert set(seen) <= self.changed | self.expired, (self.changed, seen)
            for cid, change in seen.items():
                assert (change["type"] == "upsert") == (cid in self.live), (cid, change)
                if cid in self.live:
                    # The summary as it is now: archived or not included.
                    archived = change["conversation"].get("archived", False)
                    assert archived is self.live[cid].archived, (cid, change)
            self.changed = set()

    run_state_machine_as_test(WriteSequences, settings=SEQUENCES)
