"""The script boundary as a unit: declarations, key locks, the rate limit, the top-of-list rule.

Scripts run through the runner (``Upstash.run``) against the local Upstash stand-in, which
enforces Upstash's rules (a key-locked script may touch only its declared keys, a read-only
script may not write), in front of a real redis-server (fakeredis where there is none). Each
test takes milliseconds; the HTTP tests in tests/api test the wiring on top.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import upstash_ratelimit.limiter
from upstash_ratelimit.asyncio import Ratelimit
from upstash_ratelimit.limiter import SlidingWindow
from upstash_redis import Redis

from shared import records, scripts
from shared.context import Caller, request_fingerprint
from shared.errors import ApiError, NotFound, PreconditionFailed, RateLimited
from shared.keys import UserKeys
from shared.models import Conversation, ConversationMessage, ConversationPatch, MessagePatch
from shared.rate_limit import RateLimits
from shared.refusals import About, error_of
from shared.scripts import READ_SHEBANG, WRITE_SHEBANG, ScriptSpec
from shared.settings import Settings
from shared.store import Claimed, ConversationPage, ConversationStore, Done
from shared.upstash import Upstash
from tests.factories import Clock, Standin, make_settings

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


@pytest.fixture
def raw(standin: Standin) -> Iterator[Redis]:
    """A plain client of the stand-in, to look at what the scripts left."""
    with Redis(standin.url, standin.token, rest_retries=0, allow_telemetry=False) as client:
        yield client


def user_state(raw: Redis, settings: Settings, user: str) -> dict[str, Any]:
    """Every key of ``user`` with its whole value, to compare before and after a call."""
    state: dict[str, Any] = {}
    for key in raw.keys(f"{settings.key_prefix}:*"):
        kind = raw.type(key)
        if kind == "hash":
            state[key] = raw.hgetall(key)
        elif kind == "zset":
            state[key] = raw.zrange(key, 0, -1, withscores=True)
        else:
            state[key] = raw.get(key)
    return state


def conversation(cid: str, updated: str = "2025-01-01T00:00:00.000Z") -> Conversation:
    return Conversation(
        id=cid,
        title=cid,
        messages=[
            ConversationMessage(id="m1", type="user", content="hi", timestamp=updated),
        ],
        createdAt=updated,
        updatedAt=updated,
        totalTokens=0,
    )


# ------------------------------------------------------------------------------ declarations


def test_every_script_takes_key_locks_and_reads_declare_no_writes() -> None:
    assert len(scripts.ALL) == len({spec.name for spec in scripts.ALL})
    for spec in scripts.ALL:
        first_line = spec.write.source.split("\n", 1)[0]
        if spec.mode == "read":
            assert first_line == READ_SHEBANG, spec.name
            assert spec.write.read_only
        else:
            assert first_line == WRITE_SHEBANG, spec.name
            assert not spec.write.read_only
        if spec.mode == "counted_read":
            assert spec.read is not None
            assert spec.read.source.split("\n", 1)[0] == READ_SHEBANG
            assert spec.read.read_only


def _declare(spec: ScriptSpec, **changes: Any) -> ScriptSpec:
    """``spec`` declared again with ``changes``."""
    fields: dict[str, Any] = {
        "keys": spec.keys,
        "args": spec.args,
        "user_args": spec.user_args,
        "mode": spec.mode,
        "rest_keys": spec.rest_keys,
        "rest_args": spec.rest_args,
        "replies": spec.replies,
    }
    return ScriptSpec(spec.name, **{**fields, **changes})


def test_a_declaration_that_does_not_match_its_lua_fails_at_import() -> None:
    spec = scripts.LIST_CONVERSATIONS
    with pytest.raises(ValueError, match=r"uses undeclared \['A.limit'\]"):
        _declare(spec, args=spec.args[1:])
    with pytest.raises(ValueError, match=r"declares unused \['K.extra'\]"):
        _declare(spec, keys=(*spec.keys, "extra"))
    with pytest.raises(ValueError, match="does not declare rest_args"):
        _declare(scripts.PUT_CONVERSATION, rest_args=False)


def test_a_user_argument_nothing_reachable_reads_fails_at_import() -> None:
    # No blanket exemption: a read takes no write epoch, since nothing it can run reads one.
    with pytest.raises(
        ValueError, match=r"declares unused \['A.epoch', 'A.idem_fp', 'A.now_iso'\]"
    ):
        _declare(scripts.GET_ME, user_args=scripts.USER_ARGS)
    with pytest.raises(ValueError, match=r"uses undeclared \['A.rid'\]"):
        _declare(scripts.GET_ME, user_args=tuple(a for a in scripts.GET_ME.user_args if a != "rid"))


def test_a_status_the_replies_do_not_declare_fails_at_import() -> None:
    spec = scripts.GET_ME
    with pytest.raises(ValueError, match=r"answers undeclared statuses \['not_modified'\]"):
        _declare(spec, replies=scripts.Replies({"ok": spec.replies.ok["ok"]}))


def test_a_uses_line_that_differs_from_the_calls_fails_at_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = scripts._lua

    def edited(name: str) -> str:
        text = real(name)
        if name == "get_me":
            return text.replace("-- uses: core, user, expiry", "-- uses: core, user, expiry, feed")
        if name == "list_conversation_keys":
            return text.replace("-- uses: erasure", "-- uses: none")
        return text

    monkeypatch.setattr(scripts, "_lua", edited)
    with pytest.raises(ValueError, match=r"names \['core', 'expiry', 'feed', 'user'\]"):
        _declare(scripts.GET_ME)
    with pytest.raises(ValueError, match=r"calls definitions of \['erasure'\]"):
        _declare(scripts.LIST_CONVERSATION_KEYS)


def test_every_prepended_library_is_needed() -> None:
    # A library is sent with a script only when the script, or another library sent with it,
    # calls one of its definitions; so an edit to a library moves only its users' SHAs.
    for spec in scripts.ALL:
        body = scripts._lua(spec.name)
        own = scripts._uses(spec.name, body)
        for name in spec.libraries:
            users = [lib for lib in spec.libraries if name in scripts.library(lib).uses]
            assert name in own or users, (spec.name, name)
            assert scripts.library(name).code in spec.write.source
        for name in scripts._all_libraries():
            if name not in spec.libraries:
                assert scripts.library(name).code not in spec.write.source, (spec.name, name)
    # The smallest scripts carry next to nothing of the rest.
    assert scripts.ANONYMOUS_SIGNUP.libraries == ("ratelimit", "idempotency")
    assert scripts.LIST_CONVERSATION_KEYS.libraries == ("erasure",)


def test_the_record_layouts_agree_with_the_lua(monkeypatch: pytest.MonkeyPatch) -> None:
    scripts._check_records()
    dropped = records.Record("SUMMARY", records.SUMMARY.fields[:-1])
    monkeypatch.setattr(records, "SUMMARY", dropped)
    with pytest.raises(ValueError, match=r"records\.lua: SUMMARY is"):
        scripts._check_records()


def test_replies_are_read_by_name() -> None:
    replies = scripts.APPEND_MESSAGE.replies
    created = replies.decode([7, "created", 1, 3, "old1", "old2"])
    assert (created.quota, created.status, created.refused) == (7, "created", False)
    assert created["version"] == 3
    assert created["evicted"] == ["old1", "old2"]
    refused = replies.decode([7, "precondition_failed", 4])
    assert refused.refused
    assert refused["version"] == 4
    with pytest.raises(KeyError, match="no value 'evicted'"):
        refused["evicted"]
    with pytest.raises(ValueError, match="no declared status"):
        replies.decode([7, "surprise"])
    with pytest.raises(ValueError, match="do not fit"):
        replies.decode([7, "duplicate", 3])
    # A reply kept for replays before it had a status word reads as its unlabelled status.
    assert scripts.SET_CURRENT_CONVERSATION.replies.decode([5]).status == "ok"


def test_every_refusal_a_script_declares_maps_to_an_api_error() -> None:
    about = About("conv-1", "msg-1", sequence=9, max_messages=3, max_message_chars=10)
    for spec in scripts.ALL:
        for status in spec.replies.refusals:
            values = [1] * len(scripts.REFUSALS[status])
            error = error_of(spec.replies.decode([5, status, *values]), about)
            assert isinstance(error, ApiError), (spec.name, status)
    missing = error_of(scripts.GET_MESSAGE.replies.decode([5, "not_found"]), about)
    assert isinstance(missing, NotFound)
    assert "msg-1" in missing.detail
    assert "conv-1" in missing.detail
    stale = error_of(
        scripts.DELETE_CONVERSATION.replies.decode([5, "precondition_failed", 4]), About("c")
    )
    assert isinstance(stale, PreconditionFailed)
    assert stale.extra == {"currentVersion": 4}


def test_a_call_with_other_names_than_declared_is_refused() -> None:
    spec = scripts.GET_ME
    args = dict.fromkeys(spec.all_args, "0")
    assert spec.call({"exp": "e", "sum": "s"}, args).keys == ["e", "s"]
    with pytest.raises(ValueError, match="declared"):
        spec.call({"exp": "e"}, args)
    with pytest.raises(ValueError, match="declared"):
        spec.call({"exp": "e", "sum": "s"}, {**args, "extra": 1})
    with pytest.raises(ValueError, match="no further"):
        spec.call({"exp": "e", "sum": "s"}, args, rest_args=["x"])


def test_a_call_sends_its_arguments_in_declared_order() -> None:
    spec = scripts.LIST_CONVERSATIONS
    args: dict[str, str | int] = {name: name for name in spec.all_args}
    call = spec.call({"sum": "S", "idx": "I"}, args)
    assert call.keys == ["I", "S"]
    assert call.args == list(spec.all_args)
    assert call.script is spec.write
    assert spec.call({"sum": "S", "idx": "I"}, args, read_only=True).script is spec.read


# ------------------------------------------------------------------------------ the store


class Harness:
    """A store on the stand-in with a settable clock, and its callers."""

    def __init__(self, standin: Standin, **overrides: Any) -> None:
        self.settings = make_settings(standin, **overrides)
        self.upstash = Upstash(self.settings)
        self.clock = Clock()
        self.store = ConversationStore(self.upstash, self.settings, clock_ms=self.clock)
        self.limits = RateLimits(self.upstash, self.settings)

    def caller(self, user: str = "u", *, streaming: bool = False) -> Caller:
        return self.limits.caller(user, streaming=streaming)

    def run(self, *calls: Callable[[], Awaitable[Any]]) -> list[Any]:
        async def main() -> list[Any]:
            try:
                return [await call() for call in calls]
            finally:
                await self.upstash.aclose()

        return asyncio.run(main())


def test_no_script_takes_the_global_lock(standin: Standin) -> None:
    h = Harness(standin)
    alice = h.caller("alice")
    stream = h.caller("alice", streaming=True)
    reply = ConversationMessage(
        id="r", type="assistant", content="", timestamp="2025-01-01T00:00:00Z", streaming=True
    )
    stats = standin.app.stats
    global_before, locked_before = stats.global_lock_scripts, stats.key_locked_scripts
    h.run(
        lambda: h.store.put_conversation(alice, conversation("a")),
        lambda: h.store.append_message(alice, "b", reply),
        lambda: h.store.update_message(stream, "b", "r", MessagePatch(appendContent="x")),
        lambda: h.store.update_conversation(alice, "a", _title("A")),
        lambda: h.store.list_conversations(alice, limit=10, cursor=None),
        lambda: h.store.get_conversation(alice, "b", limit=10, before=None),
        lambda: h.store.user_totals(alice),
        lambda: h.store.set_current_conversation(alice, "a"),
        lambda: h.store.export_conversations(alice, limit=10, cursor=None),
        lambda: h.store.import_conversations(alice, [conversation("c")], "c"),
        lambda: h.store.delete_message(alice, "b", "r"),
        lambda: h.store.delete_conversation(alice, "a"),
        lambda: h.limits.check_anonymous_signup("192.0.2.1", h.clock()),
        lambda: h.store.erase_user(alice),
    )
    assert stats.global_lock_scripts == global_before
    assert stats.key_locked_scripts - locked_before >= 16


def _title(title: str) -> ConversationPatch:
    return ConversationPatch(title=title)


def test_a_read_without_a_rate_limit_writes_nothing(standin: Standin, raw: Redis) -> None:
    h = Harness(standin, rate_limit_user_requests=0)
    alice = h.caller("alice")
    h.run(lambda: h.store.put_conversation(alice, conversation("a")))
    before = user_state(raw, h.settings, "alice")
    h.run(
        lambda: h.store.list_conversations(alice, limit=10, cursor=None),
        lambda: h.store.get_conversation(alice, "a", limit=10, before=None),
        lambda: h.store.user_totals(alice),
    )
    assert user_state(raw, h.settings, "alice") == before


@pytest.mark.parametrize(
    "call",
    ["put", "append", "delta", "rename", "delete", "import", "current", "erase", "list"],
)
def test_a_call_over_its_rate_limit_writes_nothing(standin: Standin, raw: Redis, call: str) -> None:
    h = Harness(standin, rate_limit_user_requests=2, rate_limit_stream_requests=2)
    alice = h.caller("alice")
    stream = h.caller("alice", streaming=True)
    reply = ConversationMessage(
        id="r", type="assistant", content="", timestamp="2025-01-01T00:00:00Z", streaming=True
    )
    h.run(
        lambda: h.store.append_message(alice, "a", reply),
        lambda: h.store.put_conversation(alice, conversation("b")),
        lambda: h.store.update_message(stream, "a", "r", MessagePatch(appendContent="x")),
        lambda: h.store.update_message(stream, "a", "r", MessagePatch(appendContent="y")),
    )
    before = user_state(raw, h.settings, "alice")
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "put": lambda: h.store.put_conversation(alice, conversation("c")),
        "append": lambda: h.store.append_message(alice, "a", reply.model_copy(update={"id": "s"})),
        "delta": lambda: h.store.update_message(stream, "a", "r", MessagePatch(appendContent="z")),
        "rename": lambda: h.store.update_conversation(alice, "a", _title("A")),
        "delete": lambda: h.store.delete_conversation(alice, "a"),
        "import": lambda: h.store.import_conversations(alice, [conversation("d")], "d"),
        "current": lambda: h.store.set_current_conversation(alice, "a"),
        "erase": lambda: h.store.erase_user(alice),
        "list": lambda: h.store.list_conversations(alice, limit=10, cursor=None),
    }
    with pytest.raises(RateLimited):
        h.run(calls[call])
    assert user_state(raw, h.settings, "alice") == before


def test_the_most_recent_conversation_keeps_its_place_without_a_zadd(standin: Standin) -> None:
    # A delta into the conversation at the top of the list skips its index write; whatever
    # writes a higher score takes the top over, and a top written lower gives it up.
    h = Harness(standin)
    alice = h.caller("alice")
    stream = h.caller("alice", streaming=True)
    reply = ConversationMessage(
        id="r", type="assistant", content="", timestamp="2025-01-01T00:00:00Z", streaming=True
    )

    def order() -> list[str]:
        page = h.run(lambda: h.store.list_conversations(alice, limit=10, cursor=None))[0]
        return [c.id for c in page.conversations]

    def step(call: Callable[[], Awaitable[Any]]) -> None:
        h.clock.advance(1)
        h.run(call)

    def delta(cid: str) -> Callable[[], Awaitable[Any]]:
        return lambda: h.store.update_message(stream, cid, "r", MessagePatch(appendContent="x"))

    step(lambda: h.store.append_message(alice, "a", reply))
    step(lambda: h.store.append_message(alice, "b", reply))
    step(delta("b"))
    step(delta("b"))
    assert order() == ["b", "a"]
    step(delta("a"))
    assert order() == ["a", "b"]
    # A PUT of the top conversation with an older updatedAt moves it down...
    step(lambda: h.store.put_conversation(alice, conversation("a", "2020-01-01T00:00:00.000Z")))
    assert order() == ["b", "a"]
    # ... and a later write to it brings it back up.
    step(lambda: h.store.update_message(alice, "a", "m1", MessagePatch(editable=True)))
    assert order() == ["a", "b"]
    # The top deleted and created again is listed again.
    step(lambda: h.store.delete_conversation(alice, "a"))
    assert order() == ["b"]
    step(lambda: h.store.append_message(alice, "a", reply, revive=True))
    step(delta("a"))
    assert order() == ["a", "b"]


# ------------------------------------------------------------------------------ rate limits


def _trace(seed: int, requests: int, window_ms: int) -> list[int]:
    """Request times from now on: bursts within a window, pauses across one or more windows.

    (From the real time: the keys a call writes get a real Redis expiry computed from it.)
    """
    rng = random.Random(seed)
    now = time.time_ns() // 1_000_000 + rng.randrange(window_ms)
    times = []
    for _ in range(requests):
        gap = rng.choice([0, 1, 7, 50, window_ms // 10, window_ms // 2, window_ms, 3 * window_ms])
        now += gap
        times.append(now)
    return times


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sliding_windows_decide_as_upstash_ratelimit_does(
    standin: Standin, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # One random trace through upstash-ratelimit's SlidingWindow, through the anonymous
    # sign-up limit (a string key) and through a user's limit (a field of the summary hash,
    # checked inside GET /api/me's script): every allow/deny and remaining count agrees.
    limit, window_ms = 5, 1000
    times = _trace(seed, 300, window_ms)
    h = Harness(
        standin,
        rate_limit_user_requests=limit,
        rate_limit_user_window_seconds=window_ms // 1000,
        rate_limit_anonymous_requests=limit,
        rate_limit_anonymous_window_seconds=window_ms // 1000,
    )
    user = h.caller("trace-user")
    clock: dict[str, int] = {}
    monkeypatch.setattr(upstash_ratelimit.limiter, "now_ms", lambda: clock["now"])

    async def replay() -> list[tuple[int, tuple[bool, int], tuple[bool, int], tuple[bool, int]]]:
        reference = Ratelimit(
            redis=h.upstash.redis,
            limiter=SlidingWindow(max_requests=limit, window=window_ms, unit="ms"),
            prefix=h.settings.key_prefix + ":reference",
        )
        rows = []
        try:
            for now in times:
                clock["now"] = now
                h.clock.now = now
                expected = await reference.limit("trace")
                try:
                    quota = await h.limits.check_anonymous_signup("198.51.100.7", now)
                    assert quota is not None
                    ip = (True, quota.remaining)
                except RateLimited:
                    ip = (False, 0)
                try:
                    totals = await h.store.user_totals(user)
                    assert totals.answered.quota is not None
                    own = (True, totals.answered.quota.remaining)
                except RateLimited:
                    own = (False, 0)
                rows.append((now, (expected.allowed, expected.remaining), ip, own))
        finally:
            await h.upstash.aclose()
        return rows

    rows = asyncio.run(replay())
    assert {allowed for _, (allowed, _), _, _ in rows} == {True, False}, "the trace never hits"
    for now, expected, ip, own in rows:
        assert ip == expected, now
        assert own == expected, now


# ------------------------------------------------------------------------------ change feed


def _tombstones(raw: Redis, settings: Settings, user: str) -> tuple[int, int, set[str]]:
    # The tombstone count the scripts keep ('#tc'), the tombstone index's size, and which
    # conversations the summary hash holds a tombstone of.
    keys = UserKeys(settings.key_prefix, user)
    summaries = raw.hgetall(keys.summaries)
    marked = {name.partition("|")[2] for name in summaries if name.startswith("x|")}
    return int(summaries.get("#tc", 0)), raw.zcard(keys.tombstones), marked


def test_the_tombstone_count_follows_a_call_that_revives_and_evicts(
    standin: Standin, raw: Redis
) -> None:
    # The count decides when the oldest tombstones are forgotten (1,000 kept): a call that
    # lifts one tombstone and leaves another must leave it equal to the index.
    h = Harness(standin, max_conversations_per_user=2)
    alice = h.caller("alice")
    reply = ConversationMessage(
        id="m1", type="user", content="hi", timestamp="2025-01-01T00:00:00Z"
    )
    h.run(
        lambda: h.store.put_conversation(alice, conversation("a", "2025-01-01T00:00:00.000Z")),
        lambda: h.store.put_conversation(alice, conversation("b", "2025-01-02T00:00:00.000Z")),
        lambda: h.store.delete_conversation(alice, "a"),
        lambda: h.store.put_conversation(alice, conversation("c", "2025-01-03T00:00:00.000Z")),
    )
    assert _tombstones(raw, h.settings, "alice") == (1, 1, {"a"})
    # Bringing "a" back evicts "b": one tombstone lifted, one left.
    h.run(
        lambda: h.store.put_conversation(
            alice, conversation("a", "2025-01-04T00:00:00.000Z"), if_none_match="*"
        )
    )
    assert _tombstones(raw, h.settings, "alice") == (1, 1, {"b"})
    # Appending to "b" (evicted, not deleted) brings it back and evicts "c".
    h.run(lambda: h.store.append_message(alice, "b", reply))
    assert _tombstones(raw, h.settings, "alice") == (1, 1, {"c"})
    # An import that writes "c" again evicts the oldest of what is kept.
    h.run(
        lambda: h.store.import_conversations(
            alice, [conversation("c", "2025-01-05T00:00:00.000Z")], None
        )
    )
    count, size, marked = _tombstones(raw, h.settings, "alice")
    assert count == size == len(marked) == 1


def test_a_claim_cut_short_goes_on_from_its_cursor(standin: Standin) -> None:
    # With no time to spare a claim moves one page per call; claiming again from the cursor
    # it answers moves the rest, and the visitor is erased with the last page.
    h = Harness(standin, max_conversations_per_user=100)
    visitor, user = h.caller("anon_visitor"), h.caller("signed-in")
    batch = [conversation(f"c{i}", f"2025-01-01T00:00:{i:02d}.000Z") for i in range(45)]
    (imported,) = h.run(lambda: h.store.import_conversations(visitor, batch, None))
    assert imported.imported == 45
    moved, calls = 0, 0
    cursor: str | None = None
    while True:
        calls += 1
        assert calls <= 5, "the claim does not go on from its cursor"

        async def claim(at: str | None = cursor) -> Claimed:
            return await h.store.claim(user, visitor, cursor=at, budget_seconds=0)

        (result,) = h.run(claim)
        moved += result.imported
        if result.done:
            break
        assert result.cursor is not None
        cursor = result.cursor
    assert (moved, calls) == (45, 3)  # pages of 20, 20 and 5
    (listed,) = h.run(lambda: h.store.list_conversations(user, limit=100, cursor=None))
    assert isinstance(listed, ConversationPage)
    assert len(listed.conversations) == 45
    (left,) = h.run(lambda: h.store.list_conversations(visitor, limit=100, cursor=None))
    assert isinstance(left, ConversationPage)
    assert left.conversations == []


# ------------------------------------------------------------------------------ a re-sent write


def _kept_answers(raw: Redis, settings: Settings, user: str) -> int:
    fields = raw.hkeys(UserKeys(settings.key_prefix, user).summaries)
    return sum(1 for field in fields if field.startswith("r|"))


def test_answers_kept_for_a_resend_leave_once_past_their_time(standin: Standin, raw: Redis) -> None:
    # A write without an Idempotency-Key keeps its answer for a re-send of it (five minutes);
    # past that, answers leave with an HDEL the summary hash gets anyway, or in one of their
    # own once 16 have piled up, never one HDEL per write.
    h = Harness(standin, rate_limit_user_requests=0)
    alice = h.caller("alice")
    count = partial(_kept_answers, raw, h.settings, "alice")

    def point_at(cid: str | None) -> Callable[[], Awaitable[Done]]:
        return lambda: h.store.set_current_conversation(alice, cid)

    h.run(*(point_at(f"c{i}") for i in range(20)))
    assert count() == 20
    h.clock.advance(299)
    h.run(point_at("c20"))
    assert count() == 21  # none past its time yet
    h.clock.advance(2)
    h.run(point_at("c21"))
    assert count() == 2  # 20 past their time: swept
    h.clock.advance(301)
    h.run(point_at("c22"), point_at("c23"))
    assert count() == 4  # 2 past their time: they wait
    h.run(point_at(None))  # (an HDEL of the pointer: the sweep rides on it)
    assert count() == 3


def test_a_write_sent_with_an_idempotency_key_keeps_no_second_answer(
    standin: Standin, raw: Redis
) -> None:
    h = Harness(standin, rate_limit_user_requests=0)
    alice = h.caller("alice")._replace(
        idempotency_key="k1",
        fingerprint=request_fingerprint("PUT /api/me/current-conversation", ""),
    )
    h.run(lambda: h.store.set_current_conversation(alice, "a"))
    assert _kept_answers(raw, h.settings, "alice") == 0


def test_a_stamp_of_exactly_this_lua_is_what_lets_a_cold_start_skip_the_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The source tree has no stamp: every import of it checks every script.
    assert scripts.CHECKING
    assert not scripts.CHECKED_STAMP.exists()
    stamp = tmp_path / "checked"
    monkeypatch.setattr(scripts, "CHECKED_STAMP", stamp)
    assert not scripts._already_checked()  # no stamp
    stamp.write_text("0" * 40)
    assert not scripts._already_checked()  # another Lua's
    stamp.write_text(scripts.lua_fingerprint())
    assert scripts._already_checked()
    scripts.check_all()  # (what the build runs before it writes the stamp)
