"""What each conversation endpoint costs on Upstash, and that reads cost the page, not the history.

Measured on the real chain (store -> upstash-redis -> HTTP -> stand-in -> Redis): HTTP requests
sent to Upstash, and -- where a real redis-server is behind the stand-in -- the Redis commands
executed, which is what Upstash bills (an EVALSHA counts itself plus every call inside it).
The table is printed with the test run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest

from devtools import redis_backend
from shared.context import Caller
from shared.models import (
    Conversation,
    ConversationMessage,
    ConversationPatch,
    MessagePatch,
    TokenUsage,
)
from shared.rate_limit import RateLimits
from shared.settings import Settings
from shared.store import ConversationPage, ConversationRead, ConversationStore
from shared.upstash import Upstash
from tests.factories import Standin, make_settings

# Small enough to be cheap, big enough to have a second page of 20.
SMALL_CONVERSATIONS, LARGE_CONVERSATIONS = 25, 2_000
SMALL_MESSAGES, LARGE_MESSAGES = 50, 10_000


def _conversation(
    cid: str, messages: int, updated_ms: int, *, archived: bool | None = None
) -> Conversation:
    stamp = f"2025-01-01T00:00:{updated_ms // 1000 % 60:02d}.{updated_ms % 1000:03d}Z"
    return Conversation(
        id=cid,
        title=f"Conversation {cid}",
        messages=[
            ConversationMessage(
                id=f"m{i}",
                type="user" if i % 2 == 0 else "assistant",
                content=f"message number {i} " * 5,
                timestamp="2025-01-01T00:00:00.000Z",
            )
            for i in range(messages)
        ],
        createdAt="2025-01-01T00:00:00.000Z",
        updatedAt=stamp,
        totalTokens=0,
        archived=archived,
    )


def _streaming_reply(mid: str) -> ConversationMessage:
    """An assistant reply appended empty, to be streamed into."""
    return ConversationMessage(
        id=mid,
        type="assistant",
        content="",
        timestamp="2025-01-01T00:00:00.000Z",
        streaming=True,
    )


class Meter:
    """Counts Upstash HTTP requests and (with redis-server) billed Redis commands."""

    def __init__(self, upstash: Upstash, redis_url: str | None) -> None:
        self.upstash = upstash
        self.redis_url = redis_url

    async def measure(self, call: Callable[[], Awaitable[Any]]) -> tuple[int, int | None]:
        requests = self.upstash.requests
        commands = redis_backend.redis_command_total(self.redis_url)
        await call()
        after = redis_backend.redis_command_total(self.redis_url)
        return (
            self.upstash.requests - requests,
            None if commands is None or after is None else after - commands,
        )


async def _populate(
    store: ConversationStore, user: Caller, conversations: int, messages: int
) -> None:
    # The conversation under test has the long history; the others make the index long. One
    # in four is archived, so a filtered page has some of each to find and to pass over.
    await store.put_conversation(user, _conversation("target", messages, 0))
    for i in range(conversations - 1):
        archived = True if i % 4 == 3 else None
        await store.put_conversation(user, _conversation(f"c{i}", 2, i + 1, archived=archived))


async def _costs(settings: Settings, redis_url: str | None) -> dict[str, dict[str, Any]]:
    upstash = Upstash(settings)
    # One instant for the whole table: a write re-sends expiries only when the rounded epoch
    # moves on (about once an hour), and no measured call may straddle that.
    now = time.time_ns() // 1_000_000
    store = ConversationStore(upstash, settings, clock_ms=lambda: now)
    limits = RateLimits(upstash, settings)
    meter = Meter(upstash, redis_url)
    warm_up = limits.caller("warm-up")
    sizes = {
        "small": (SMALL_CONVERSATIONS, SMALL_MESSAGES),
        "large": (LARGE_CONVERSATIONS, LARGE_MESSAGES),
    }
    table: dict[str, dict[str, Any]] = {}
    try:
        # A warm container on a database that has seen every script: EVALSHA hits.
        await store.put_conversation(warm_up, _conversation("w", 1, 0))
        await store.list_conversations(warm_up, limit=20, cursor=None)
        await store.get_conversation(warm_up, "w", limit=50, before=None)
        extra = _conversation("w", 1, 0).messages[0].model_copy(update={"id": "x"})
        await store.append_message(warm_up, "w", extra)
        await store.update_message(warm_up, "w", "x", MessagePatch(streaming=False))
        await store.delete_message(warm_up, "w", "x")
        await store.update_conversation(warm_up, "w", ConversationPatch(title="w"))
        await store.user_totals(warm_up)
        await store.set_current_conversation(warm_up, "w")
        await store.delete_conversation(warm_up, "w")
        for size, (conversations, messages) in sizes.items():
            user = limits.caller(f"user-{size}")
            stream = limits.caller(f"user-{size}", streaming=True)
            await _populate(store, user, conversations, messages)
            first = await store.list_conversations(user, limit=20, cursor=None)
            view = await store.get_conversation(user, "target", limit=50, before=None)
            archived = await store.list_conversations(user, limit=20, cursor=None, archived=True)
            assert isinstance(first, ConversationPage)
            assert isinstance(view, ConversationRead)
            assert isinstance(archived, ConversationPage)
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "list (page of 20)": partial(store.list_conversations, user, limit=20, cursor=None),
                "list (next page)": partial(
                    store.list_conversations, user, limit=20, cursor=first.next_cursor
                ),
                "list archived": partial(
                    store.list_conversations, user, limit=20, cursor=None, archived=True
                ),
                "list archived next": partial(
                    store.list_conversations,
                    user,
                    limit=20,
                    cursor=archived.next_cursor,
                    archived=True,
                ),
                "list not archived": partial(
                    store.list_conversations, user, limit=20, cursor=None, archived=False
                ),
                # The largest page (25 conversations fill less of it than 2,000): its
                # summaries take two HMGETs with the large history, and so does its window.
                "list (page of 100)": partial(
                    store.list_conversations, user, limit=100, cursor=None
                ),
                "list archived (100)": partial(
                    store.list_conversations, user, limit=100, cursor=None, archived=True
                ),
                "get (newest 50)": partial(
                    store.get_conversation, user, "target", limit=50, before=None
                ),
                "get (page back)": partial(
                    store.get_conversation, user, "target", limit=50, before=view.next_cursor
                ),
                "put (2 messages)": partial(
                    store.put_conversation, user, _conversation("c0", 2, 10**6)
                ),
                "delete": partial(store.delete_conversation, user, "c1"),
            }
            for name, call in calls.items():
                table.setdefault(name, {})[size] = await meter.measure(call)

            # A streamed reply: what the first and the 200th delta cost.
            reply = _streaming_reply("reply")
            table.setdefault("append message", {})[size] = await meter.measure(
                partial(store.append_message, user, "target", reply)
            )
            table.setdefault("append (retry)", {})[size] = await meter.measure(
                partial(store.append_message, user, "target", reply)
            )
            for sequence in range(1, 201):
                delta = partial(
                    store.update_message,
                    stream,
                    "target",
                    "reply",
                    MessagePatch(appendContent=f"token {sequence} " * 4, sequence=sequence),
                    return_message=False,
                )
                if sequence in (1, 200):
                    table.setdefault(f"patch: delta {sequence}", {})[size] = await meter.measure(
                        delta
                    )
                else:
                    await delta()
            finish = MessagePatch(
                streaming=False, tokens=TokenUsage(input=10, output=800, total=810)
            )
            later: dict[str, Callable[[], Awaitable[Any]]] = {
                "patch: finish": partial(store.update_message, stream, "target", "reply", finish),
                "delete message": partial(store.delete_message, user, "target", "m0"),
                "patch conversation": partial(
                    store.update_conversation, user, "target", ConversationPatch(title="New")
                ),
                "patch: archive": partial(
                    store.update_conversation, user, "c2", ConversationPatch(archived=True)
                ),
                "me": partial(store.user_totals, user),
                "set current": partial(store.set_current_conversation, user, "target"),
            }
            for name, call in later.items():
                table.setdefault(name, {})[size] = await meter.measure(call)
            # A message with UIMessage parts and metadata, appended, then its parts replaced.
            parted = ConversationMessage.model_validate(
                {
                    "id": "parted",
                    "type": "assistant",
                    "timestamp": "2025-01-01T00:00:00.000Z",
                    "parts": _PARTS,
                    "metadata": {"model": "m", "usage": {"inputTokens": 3}},
                }
            )
            table.setdefault("append (parts)", {})[size] = await meter.measure(
                partial(store.append_message, user, "target", parted)
            )
            new_parts = MessagePatch.model_validate({"parts": [*_PARTS, {"type": "step-start"}]})
            table.setdefault("patch: parts", {})[size] = await meter.measure(
                partial(store.update_message, user, "target", "parted", new_parts)
            )
            # A reply streamed into its parts (partChanges): a text delta, the first and the
            # 200th, a tool call upserted by its toolCallId, and a finish with metadata.
            streamed = ConversationMessage.model_validate(
                {
                    "id": "streamed",
                    "type": "assistant",
                    "content": "",
                    "timestamp": "2025-01-01T00:00:00.000Z",
                    "parts": [],
                    "streaming": True,
                }
            )
            await store.append_message(user, "target", streamed)
            for sequence in range(1, 201):
                text = {"append": f"token {sequence} " * 4, "type": "text"}
                part_delta = partial(
                    store.update_message,
                    stream,
                    "target",
                    "streamed",
                    MessagePatch.model_validate({"partChanges": [text], "sequence": sequence}),
                    return_message=False,
                )
                if sequence in (1, 200):
                    table.setdefault(f"patch: part delta {sequence}", {})[
                        size
                    ] = await meter.measure(part_delta)
                else:
                    await part_delta()
            tool = MessagePatch.model_validate(
                {"partChanges": [{"part": {**_PARTS[1], "toolCallId": "t1"}}], "sequence": 201}
            )
            table.setdefault("patch: tool upsert", {})[size] = await meter.measure(
                partial(
                    store.update_message, stream, "target", "streamed", tool, return_message=False
                )
            )
            parts_finish = MessagePatch.model_validate(
                {
                    "partChanges": [{"append": "Done.", "type": "text"}],
                    "sequence": 202,
                    "streaming": False,
                    "metadata": {"model": "m", "usage": {"inputTokens": 3}},
                }
            )
            table.setdefault("patch: parts finish", {})[size] = await meter.measure(
                partial(store.update_message, stream, "target", "streamed", parts_finish)
            )
            # A device that is caught up polls the change feed: an empty page.
            caught_up = await store.list_conversations(user, limit=20, cursor=None)
            assert isinstance(caught_up, ConversationPage)
            idle = partial(store.list_changes, user, cursor=caught_up.changes_cursor, limit=100)
            table.setdefault("changes (idle)", {})[size] = await meter.measure(idle)
    finally:
        await upstash.aclose()
    return table


# A reply's parts: its reasoning, a tool call with its output, its text.
_PARTS: list[dict[str, Any]] = [
    {"type": "reasoning", "text": "Check the weather first.", "state": "done"},
    {
        "type": "tool-getWeather",
        "toolCallId": "c1",
        "state": "output-available",
        "input": {"city": "Lisbon"},
        "output": {"celsius": 21, "sky": None},
    },
    {"type": "text", "text": "It is 21 degrees in Lisbon.", "state": "done"},
]


@pytest.fixture(scope="module")
def costs(standin: Standin) -> dict[str, dict[str, Any]]:
    """The cost table, measured once for the module."""
    settings = make_settings(
        standin,
        max_conversations_per_user=LARGE_CONVERSATIONS,
        max_messages_per_conversation=2 * LARGE_MESSAGES,
        # Every call counts its rate limit (part of its cost), and none is refused.
        rate_limit_user_requests=10**9,
        rate_limit_stream_requests=10**9,
    )
    return asyncio.run(_costs(settings, standin.redis_url))


def test_prints_cost_table(
    costs: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    header = (
        f"{'call':<20} {'requests':>9} {'commands':>9}  |  {'requests':>9} {'commands':>9}\n"
        f"{'':<20} {f'{SMALL_CONVERSATIONS} convs, {SMALL_MESSAGES} msgs':>19}  |  "
        f"{f'{LARGE_CONVERSATIONS:,} convs, {LARGE_MESSAGES:,} msgs':>19}"
    )
    rows = [
        f"{name:<20} {s[0]:>9} {s[1]!s:>9}  |  {b[0]:>9} {b[1]!s:>9}"
        for name, cells in costs.items()
        for s, b in [(cells["small"], cells["large"])]
    ]
    with capsys.disabled():
        print("\n\nUpstash cost per store call (commands: billed Redis commands)\n" + header)
        print("\n".join(rows) + "\n")
    assert rows


def test_every_call_is_one_upstash_request(costs: dict[str, dict[str, Any]]) -> None:
    for name, cells in costs.items():
        for size, (requests, _) in cells.items():
            assert requests == 1, (name, size)


# Every call but PUT, whose cost is what it is sent, not what is stored.
CONSTANT = [
    "list (page of 20)", "list (next page)", "list archived", "list archived next",
    "list not archived", "get (newest 50)", "get (page back)",
    "put (2 messages)", "delete", "append message", "append (retry)", "patch: delta 1",
    "patch: delta 200", "patch: finish", "delete message", "patch conversation",
    "patch: archive", "me", "set current", "changes (idle)", "append (parts)", "patch: parts",
    "patch: part delta 1", "patch: part delta 200", "patch: tool upsert", "patch: parts finish",
]  # fmt: skip


@pytest.mark.parametrize("name", CONSTANT)
def test_cost_does_not_grow_with_history(
    costs: dict[str, dict[str, Any]], name: str, standin: Standin
) -> None:
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    small, large = costs[name]["small"][1], costs[name]["large"][1]
    assert small == large, f"{name}: {small} commands with a small history, {large} with a large"


@pytest.mark.parametrize(
    ("filtered", "unfiltered"),
    [
        ("list archived", "list (page of 20)"),
        ("list archived next", "list (next page)"),
        ("list not archived", "list (page of 20)"),
        ("list archived (100)", "list (page of 100)"),
    ],
)
def test_a_filtered_page_costs_what_an_unfiltered_one_does(
    costs: dict[str, dict[str, Any]], filtered: str, unfiltered: str, standin: Standin
) -> None:
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    assert costs[filtered] == costs[unfiltered]


def test_the_200th_delta_costs_what_the_first_does(
    costs: dict[str, dict[str, Any]], standin: Standin
) -> None:
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    for size in ("small", "large"):
        assert costs["patch: delta 1"][size] == costs["patch: delta 200"][size]


def test_a_delta_into_parts_costs_what_a_text_delta_does(
    costs: dict[str, dict[str, Any]], standin: Standin
) -> None:
    # Parts, their index and the content are fields of the message hash a delta reads and
    # writes anyway: streaming into parts adds no command, nor does the 200th delta.
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    for size in ("small", "large"):
        text_delta = costs["patch: delta 1"][size]
        assert costs["patch: part delta 1"][size] == text_delta
        assert costs["patch: part delta 200"][size] == text_delta
        assert costs["patch: tool upsert"][size] == text_delta


def test_parts_cost_no_command_more(costs: dict[str, dict[str, Any]], standin: Standin) -> None:
    # Parts and metadata are fields of the message hash the call writes and reads anyway.
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    for size in ("small", "large"):
        assert costs["append (parts)"][size] <= costs["append message"][size]
        assert costs["patch: parts"][size] <= costs["patch: finish"][size]


# Billed commands per call, rate limit included, at most (a call whose rounded expiry moved on
# re-sends it, about once an hour per user and conversation: not measured here).
TARGETS = {
    "patch: delta 1": 6,
    "patch: delta 200": 6,
    "append message": 10,
    "patch: finish": 10,
    "patch: part delta 1": 6,
    "patch: part delta 200": 6,
    "patch: tool upsert": 6,
    "patch: parts finish": 10,
    "list (page of 20)": 6,
    "list (next page)": 6,
    # A filtered page looks at a bounded window in one batch: the commands of any page.
    "list archived": 6,
    "list archived next": 6,
    "list not archived": 6,
    "patch: archive": 5,
    "get (newest 50)": 8,
    "get (page back)": 8,
    "me": 5,
    "changes (idle)": 4,
}


# Streaming into parts, exactly (a text delta's count, and a finish's): what the route
# helper's every chunk and its end cost.
PART_CHANGES_EXACT = {
    "patch: part delta 1": 5,
    "patch: part delta 200": 5,
    "patch: tool upsert": 5,
    "patch: parts finish": 9,
}


@pytest.mark.parametrize("name", list(PART_CHANGES_EXACT))
def test_part_changes_cost_exactly(
    costs: dict[str, dict[str, Any]], name: str, standin: Standin
) -> None:
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    for size in ("small", "large"):
        assert costs[name][size] == (1, PART_CHANGES_EXACT[name]), (name, size)


@pytest.mark.parametrize("name", list(TARGETS))
def test_commands_per_call_meet_their_target(
    costs: dict[str, dict[str, Any]], name: str, standin: Standin
) -> None:
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    for size in ("small", "large"):
        commands = costs[name][size][1]
        assert commands <= TARGETS[name], f"{name} ({size}): {commands} commands"


# ------------------------------------------------------------------------------ push on

# Each write the change feed reports, with push on (WEBSOCKET_ENDPOINT set): its script reads
# the user's connections with one HGETALL, and a streamed delta keeps where its last push ended
# in the message hash it writes anyway. Exactly one command more than with push off, still one
# request; the pushes themselves go to API Gateway, not Upstash (none here: no connection).
PUSH_WRITES = (
    "put",
    "append",
    "append streaming",
    "delta",
    "finish",
    "rename",
    "archive",
    "delete message",
    "import",
    "delete",
)


async def _push_costs(
    settings: Settings, redis_url: str | None
) -> dict[str, tuple[tuple[int, int | None], tuple[int, int | None]]]:
    """Each write's (requests, commands) with push off and on, on the same data."""
    now = time.time_ns() // 1_000_000
    measured: dict[str, list[tuple[int, int | None]]] = {name: [] for name in PUSH_WRITES}
    for push in (False, True):
        changed = settings.model_copy(
            update={"websocket_endpoint": "http://127.0.0.1:9" if push else None}
        )
        upstash = Upstash(changed)
        store = ConversationStore(upstash, changed, clock_ms=lambda: now)
        limits = RateLimits(upstash, changed)
        meter = Meter(upstash, redis_url)
        user = limits.caller(f"push-{push}")
        stream = limits.caller(f"push-{push}", streaming=True)
        reply = _streaming_reply("r")
        plain = reply.model_copy(update={"id": "u", "streaming": None})
        archive = ConversationPatch(archived=True)
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "put": partial(store.put_conversation, user, _conversation("p", 2, 0)),
            "append": partial(store.append_message, user, "p", plain),
            "append streaming": partial(store.append_message, user, "p", reply),
            "delta": partial(
                store.update_message, stream, "p", "r",
                MessagePatch(appendContent="Hello", sequence=1), return_message=False,
            ),
            "finish": partial(store.update_message, user, "p", "r", MessagePatch(streaming=False)),
            "rename": partial(store.update_conversation, user, "p", ConversationPatch(title="R")),
            "archive": partial(store.update_conversation, user, "p", archive),
            "delete message": partial(store.delete_message, user, "p", "u"),
            "import": partial(store.import_conversations, user, [_conversation("i", 2, 5)], None),
            "delete": partial(store.delete_conversation, user, "p"),
        }  # fmt: skip
        try:
            await store.put_conversation(user, _conversation("warm", 1, 0))  # (scripts loaded)
            for name in PUSH_WRITES:
                measured[name].append(await meter.measure(calls[name]))
        finally:
            await upstash.aclose()
    return {name: (off, on) for name, (off, on) in measured.items()}


@pytest.fixture(scope="module")
def push_costs(
    standin: Standin,
) -> dict[str, tuple[tuple[int, int | None], tuple[int, int | None]]]:
    return asyncio.run(_push_costs(make_settings(standin), standin.redis_url))


def test_prints_push_cost_table(
    push_costs: dict[str, tuple[tuple[int, int | None], tuple[int, int | None]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capsys.disabled():
        print("\n\nwrite with push off / on      requests  commands off  commands on")
        for name, ((requests, off), (requests_on, on)) in push_costs.items():
            print(f"{name:<28} {requests:>3} / {requests_on:<3}   {off!s:>10}  {on!s:>11}")


@pytest.mark.parametrize("name", PUSH_WRITES)
def test_push_on_costs_one_command_more_and_no_request(
    push_costs: dict[str, tuple[tuple[int, int | None], tuple[int, int | None]]],
    name: str,
    standin: Standin,
) -> None:
    (requests_off, off), (requests_on, on) = push_costs[name]
    assert requests_off == requests_on == 1
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    assert off is not None
    assert on == off + 1, (name, off, on)


async def _moving_clock_costs(settings: Settings, redis_url: str | None) -> dict[str, int | None]:
    """Commands of a reply streamed as a clock moves on, then of writes to other conversations.

    The table above runs at one instant. Streaming runs on a clock that moves with every
    delta: each delta moves the reply's conversation up (its updatedAt), which the index learns
    only when another conversation is written at or above the score it still holds. Then notes
    are appended to b, c, c again and b again, a millisecond apart.
    """
    upstash = Upstash(settings)
    clock = [time.time_ns() // 1_000_000]
    store = ConversationStore(upstash, settings, clock_ms=lambda: clock[0])
    limits = RateLimits(upstash, settings)
    meter = Meter(upstash, redis_url)
    user = limits.caller("moving")
    stream = limits.caller("moving", streaming=True)
    measured: dict[str, int | None] = {}
    try:
        for cid in ("a", "b", "c"):
            await store.put_conversation(user, _conversation(cid, 2, 0))
        reply = _streaming_reply("reply")
        note = ConversationMessage(
            id="note", type="user", content="and then", timestamp="2025-01-01T00:00:00.000Z"
        )
        clock[0] += 1
        await store.append_message(user, "a", reply)
        for sequence in range(1, 4):
            clock[0] += 250
            patch = MessagePatch(appendContent=f"token {sequence} ", sequence=sequence)
            delta = partial(store.update_message, stream, "a", "reply", patch, return_message=False)
            measured[f"delta {sequence}"] = (await meter.measure(delta))[1]
        clock[0] += 250
        for name in ("b", "c", "c2", "b2"):
            clock[0] += 1
            written = note.model_copy(update={"id": f"note-{name}"})
            append = partial(store.append_message, user, name[0], written)
            measured[f"append to {name}"] = (await meter.measure(append))[1]
        listed = await store.list_conversations(user, limit=20, cursor=None)
        assert isinstance(listed, ConversationPage)
        assert [s.id for s in listed.conversations] == ["b", "c", "a"]
    finally:
        await upstash.aclose()
    return measured


def test_a_reply_on_a_moving_clock_then_a_switch_of_conversation_cost_exactly(
    costs: dict[str, dict[str, Any]], standin: Standin
) -> None:
    # Deltas cost what they cost at one instant. The first write to another conversation pays
    # the reply's conversation its true place in the index (one ZADD); the next write, to the
    # one now on top, skips its own ZADD, and a switch back pays that one again.
    if standin.redis_url is None:
        pytest.skip("command counts need a redis-server (fakeredis keeps no commandstats)")
    settings = make_settings(
        standin, rate_limit_user_requests=10**9, rate_limit_stream_requests=10**9
    )
    measured = asyncio.run(_moving_clock_costs(settings, standin.redis_url))
    delta = costs["patch: delta 1"]["small"][1]
    append = costs["append message"]["small"][1]
    assert measured == {
        "delta 1": delta,
        "delta 2": delta,
        "delta 3": delta,
        "append to b": append + 1,
        "append to c": append,
        "append to c2": append - 1,
        "append to b2": append + 1,
    }
