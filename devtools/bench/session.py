"""A realistic chat session, end to end: what one user's visit costs on Upstash.

The session (BENCHMARKS.md, "A realistic session", says it in prose):

- The user has ``CONVERSATIONS`` conversations; the current one holds ``HISTORY`` messages.
- **Open** (device A): ``GET /api/me`` (which conversation is current) and
  ``GET /api/conversations?limit=20`` (the sidebar), sent together, then
  ``GET /api/conversations/{current}?limit=50`` (the chat on screen).
- **5 turns** (device A), each ``TURN_S`` seconds: append the user's message; append the
  assistant's reply with ``streaming: true`` and empty content; ``DELTAS`` deltas
  (``PATCH .../messages/{id}`` with ``appendContent``, ``sequence`` 1..40 and
  ``Prefer: return=minimal``), one every ``DELTA_INTERVAL_S``; then ``PATCH`` it
  ``{streaming: false, tokens}``. The final-reply-only variant appends the finished reply
  once instead (no deltas, no finishing patch).
- **Device B** re-lists (``GET /api/conversations?limit=20``) every ``RELIST_EVERY_S`` of the
  session: ``RELISTS`` times. Nothing sleeps: the simulated clock only decides that count.

The peers do the same conversation their natural way; they stream nothing and (but for the
Vercel pattern) list nothing. Every call is metered on its own (stand-in counters, Redis's
``INFO commandstats`` per command name, and for this project the Upstash requests its client
sent), so nothing here assumes how many Upstash requests an API call makes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import httpx
import redis
from upstash_redis.asyncio import Redis as AsyncRedis

from devtools.bench import fixtures, peers
from devtools.bench.api import TARGET, ApiBench, UpstashCall, scripts_seen
from devtools.bench.standin import Reading, Standin

CONVERSATIONS = 20
HISTORY = 20
TURNS = 5
DELTAS = 40
DELTA_INTERVAL_S = 0.25
READ_AND_TYPE_S = 5.0
"""The user reads the reply and types the next message."""
TURN_S = DELTAS * DELTA_INTERVAL_S + READ_AND_TYPE_S
SESSION_S = TURNS * TURN_S
RELIST_EVERY_S = 30.0
RELISTS = int(SESSION_S // RELIST_EVERY_S)
# One delta carries what the model produced in DELTA_INTERVAL_S (about 8 tokens at 30 a second).
DELTA_TEXT = "and keep each message on its own. "
TOKENS = {"input": 1_200, "output": 320, "total": 1_520}

OURS_STREAMED = "this project, streamed"
OURS_FINAL = "this project, final reply only"

SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro"})
READ_ONLY_SCRIPT_COMMANDS = frozenset({"EVAL_RO", "EVALSHA_RO"})
_CALL = re.compile(r"""redis\.p?call\s*\(\s*(?:(['"])([A-Za-z_]+)\1)?""")
_ALIASED = re.compile(r"redis\.p?call\b(?!\s*\()")


@dataclass
class Tally:
    """What some API calls (or peer calls) of a session cost, summed."""

    calls: int = 0
    """API calls (this project) or library calls (peers)."""
    requests: int = 0
    """Upstash HTTP requests."""
    rate_limit_requests: int = 0
    """Of ``requests``, the ones running upstash-ratelimit's own script (0 when there are none)."""
    billed: int | None = 0
    """Commands Redis executed: what Upstash bills (None: fakeredis)."""
    writes: int | None = 0
    """Of ``billed``, the write commands (see ``Classifier``)."""
    sent: int = 0
    received: int = 0
    rate_limit_sent: int = 0
    waits: int = 0
    """Sequential Upstash round trips on device A's critical path."""
    key_locked_scripts: int | None = 0
    global_lock_scripts: int | None = 0

    def __iadd__(self, other: Tally) -> Tally:
        """Add ``other`` in place; a counter unknown on either side stays unknown."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, None if mine is None or theirs is None else mine + theirs)
        return self

    @property
    def reads(self) -> int | None:
        """Of ``billed``, the read commands."""
        return None if self.billed is None or self.writes is None else self.billed - self.writes


@dataclass
class SessionResult:
    """One implementation's whole session, and its parts."""

    name: str
    streamed: bool
    open: Tally = field(default_factory=Tally)
    turns: Tally = field(default_factory=Tally)
    relists: Tally = field(default_factory=Tally)
    unknown_scripts: int = 0
    """Script runs whose text was never seen: counted as writes."""
    error: str | None = None

    @property
    def total(self) -> Tally:
        """The whole session: open, turns and device B's re-lists."""
        out = Tally()
        for part in (self.open, self.turns, self.relists):
            out += part
        return out

    def summary(self) -> dict[str, Any]:
        """Figures for the results file."""
        parts = {"open": self.open, "turns": self.turns, "relists": self.relists}
        out: dict[str, Any] = {"name": self.name, "streamed": self.streamed, "error": self.error}
        for label, tally in {**parts, "total": self.total}.items():
            out[label] = {f.name: getattr(tally, f.name) for f in fields(tally)}
            out[label]["reads"] = tally.reads
        out["unknown_scripts"] = self.unknown_scripts
        return out


# ------------------------------------------------------------------------------ classifying


class Classifier:
    """Tells write commands from reads, as a global database bills them.

    A command is a write when Redis flags it ``write`` (``COMMAND``). A script run counts as a
    write unless it is ``EVAL_RO`` / ``EVALSHA_RO`` or its text can call no write command: its
    ``redis.call`` / ``redis.pcall`` names are all literal read commands (or its shebang says
    ``no-writes``). A script whose text the bench never saw, or that builds a command name at
    run time, counts as a write.
    """

    def __init__(self, redis_url: str | None) -> None:
        self.write_commands: frozenset[str] | None = None
        if redis_url is not None:
            with redis.Redis.from_url(redis_url, protocol=2) as client:
                table = client.command()
            self.write_commands = frozenset(
                name.lower() for name, info in table.items() if "write" in info["flags"]
            )
        self.texts: dict[str, str] = {}

    def learn(self, calls: Iterable[UpstashCall]) -> None:
        """Remember the text of every script ``calls`` sent whole."""
        self.texts.update(scripts_seen(calls))

    def script_writes(self, text: str | None) -> bool:
        """Whether a script can write (None: text unknown, so it may)."""
        if text is None or self.write_commands is None:
            return True
        first = text.split("\n", 1)[0]
        if first.startswith("#!") and "no-writes" in first:
            return False
        if _ALIASED.search(text):
            return True
        for found in _CALL.finditer(text):
            name = found.group(2)
            if name is None or name.lower() in self.write_commands:
                return True
        return False

    def writes(
        self, by_name: dict[str, int] | None, script_calls: Sequence[UpstashCall]
    ) -> tuple[int | None, int]:
        """Write commands among ``by_name`` (one call's commands), and unknown script runs.

        ``script_calls`` are the Upstash requests that ran a script, when known (this project);
        runs that Redis counted beyond them (a peer's, or in a pipeline) count as writes.
        """
        if by_name is None or self.write_commands is None:
            return None, 0
        writes = sum(
            n
            for name, n in by_name.items()
            if name not in SCRIPT_COMMANDS and name.split("|")[0] in self.write_commands
        )
        runs = sum(n for name, n in by_name.items() if name in SCRIPT_COMMANDS)
        reading = unknown = 0
        for call in script_calls:
            if call.command in READ_ONLY_SCRIPT_COMMANDS:
                reading += 1
                continue
            sha = call.script
            text = None if sha is None else self.texts.get(sha)
            unknown += text is None
            if not self.script_writes(text):
                reading += 1
        return writes + max(0, runs - reading), unknown


# ------------------------------------------------------------------------------ metering


class Meter:
    """Meters one call at a time: stand-in counters and Redis's commands per name."""

    def __init__(self, standin: Standin, classifier: Classifier) -> None:
        self.standin = standin
        self.classifier = classifier
        self.unknown_scripts = 0

    def _now(self) -> tuple[Reading, dict[str, int] | None]:
        return self.standin.read(), self.standin.commands_by_name()

    async def call(
        self,
        work: Callable[[], Awaitable[object]],
        *,
        recorder_calls: list[UpstashCall] | None = None,
    ) -> Tally:
        """Run ``work`` (one API or library call) and return what it cost.

        With ``recorder_calls`` (this project's client recorder), the Upstash requests the call
        sent give its round trips (requests in flight together count once) and its rate-limit
        share; without (a peer, which sends one request at a time), each request is a round trip.
        """
        first = None if recorder_calls is None else len(recorder_calls)
        before, names_before = self._now()
        await work()
        after, names_after = self._now()
        spent = after - before
        by_name = None
        if names_before is not None and names_after is not None:
            by_name = {
                name: n - names_before.get(name, 0)
                for name, n in names_after.items()
                if n != names_before.get(name, 0)
            }
        sent_calls = [] if recorder_calls is None or first is None else recorder_calls[first:]
        if sent_calls:
            self.classifier.learn(sent_calls)
        scripts = [c for c in sent_calls if c.script is not None]
        writes, unknown = self.classifier.writes(by_name, scripts)
        self.unknown_scripts += unknown
        rate_limit = [c for c in sent_calls if c.rate_limit]
        return Tally(
            calls=1,
            requests=spent.requests,
            rate_limit_requests=len(rate_limit),
            billed=spent.billed,
            writes=writes,
            sent=spent.bytes_in,
            received=spent.bytes_out,
            rate_limit_sent=sum(c.sent for c in rate_limit),
            waits=round_trips(sent_calls) if recorder_calls is not None else spent.requests,
            key_locked_scripts=spent.key_locked_scripts,
            global_lock_scripts=spent.global_lock_scripts,
        )


def round_trips(calls: Sequence[UpstashCall]) -> int:
    """Sequential round trips: groups of requests whose time in flight overlaps count once."""
    count, reach = 0, -float("inf")
    for call in sorted(calls, key=lambda c: c.start):
        if call.start >= reach:
            count += 1
        reach = max(reach, call.end)
    return count


def together(*tallies: Tally) -> Tally:
    """Calls a client sends at once: costs add up, the round trips are the longest one's."""
    out = Tally()
    for tally in tallies:
        out += tally
    out.waits = max((t.waits for t in tallies), default=0)
    return out


def off_path(tally: Tally) -> Tally:
    """Calls of another device: they cost, but device A's user does not wait for them."""
    tally.waits = 0
    return tally


# ------------------------------------------------------------------------------ this project


def _reply_text() -> str:
    """The whole reply: the deltas' text, joined."""
    return DELTA_TEXT * DELTAS


async def ours(bench: ApiBench, classifier: Classifier, *, streamed: bool) -> SessionResult:
    """The session on this project's API, streamed or final-reply-only."""
    name = OURS_STREAMED if streamed else OURS_FINAL
    label = "s" if streamed else "f"
    # A warm-up session on another user first: a warm Lambda container and an Upstash that has
    # every script loaded, as in a real session, and the bench sees each script's text once.
    await _ours_once(bench, classifier, f"session-{label}-warm", streamed=streamed)
    return await _ours_once(bench, classifier, f"session-{label}", streamed=streamed, name=name)


async def _ours_once(
    bench: ApiBench, classifier: Classifier, user: str, *, streamed: bool, name: str = ""
) -> SessionResult:
    """One session of ``user``, populated first; ``name`` labels the result."""
    assert bench.recorder is not None, "start() first"
    recorder = bench.recorder
    await bench.populate(user, conversations=CONVERSATIONS, messages=HISTORY)
    current = await bench.send(
        "PUT", "/api/me/current-conversation", user, body={"conversationId": TARGET}
    )
    _expect(current, 204)
    # Populating may have been the first to run a script the session runs (and sent it whole).
    classifier.learn(recorder.calls)
    recorder.calls.clear()
    meter = Meter(bench.standin, classifier)
    result = SessionResult(name, streamed)

    async def api(
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        expect: int = 200,
    ) -> Tally:
        async def work() -> None:
            _expect(await bench.send(method, path, user, body=body, headers=headers), expect)

        tally = await meter.call(work, recorder_calls=recorder.calls)
        # The calls so far are counted; their scripts' texts are learnt.
        recorder.calls.clear()
        return tally

    base = f"/api/conversations/{TARGET}"
    me = await api("GET", "/api/me")
    listed = await api("GET", "/api/conversations?limit=20")
    result.open += together(me, listed)
    result.open += await api("GET", f"{base}?limit=50")
    for turn in range(TURNS):
        stamp = fixtures.iso(fixtures.EPOCH_MS + (HISTORY + 2 * turn) * 1000)
        user_message = {
            "id": f"u{turn}",
            "type": "user",
            "content": f"{fixtures.USER_TEXT}({turn})",
            "timestamp": stamp,
        }
        result.turns += await api("POST", f"{base}/messages", user_message, expect=201)
        reply = {"id": f"r{turn}", "type": "assistant", "timestamp": stamp}
        if not streamed:
            done = reply | {"content": _reply_text(), "tokens": TOKENS}
            result.turns += await api("POST", f"{base}/messages", done, expect=201)
            continue
        start = reply | {"content": "", "streaming": True}
        result.turns += await api("POST", f"{base}/messages", start, expect=201)
        path = f"{base}/messages/{reply['id']}"
        for sequence in range(1, DELTAS + 1):
            delta = {"appendContent": DELTA_TEXT, "sequence": sequence}
            result.turns += await api(
                "PATCH", path, delta, headers={"Prefer": "return=minimal"}, expect=204
            )
        result.turns += await api("PATCH", path, {"streaming": False, "tokens": TOKENS})
    for _ in range(RELISTS):
        result.relists += off_path(await api("GET", "/api/conversations?limit=20"))
    result.unknown_scripts = meter.unknown_scripts
    return result


def _expect(response: httpx.Response, status: int) -> None:
    """Stop the session on an unexpected answer: its figures would be of something else."""
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: HTTP "
            f"{response.status_code} {response.text[:300]} (expected {status})"
        )


# ------------------------------------------------------------------------------ peers


async def langchain(standin: Standin, classifier: Classifier) -> SessionResult:
    """LangChain's history as ``RunnableWithMessageHistory`` uses it, turn by turn.

    Open: read the history (``messages``, ``LRANGE 0 -1``). Each turn: read the history for
    the prompt, then ``add_messages([human, ai])``, one ``LPUSH`` per message.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community warns that it is being sunset
        from langchain_community.chat_message_histories import UpstashRedisChatMessageHistory
        from langchain_core.messages import AIMessage, HumanMessage

    history = UpstashRedisChatMessageHistory(
        session_id="session-lc", url=standin.url, token=standin.token
    )
    seed = AsyncRedis(standin.url, standin.token, allow_telemetry=False)
    result = SessionResult(peers.LANGCHAIN, streamed=False)
    meter = Meter(standin, classifier)
    try:
        await seed.lpush(history.key, *peers.langchain_messages(HISTORY))

        async def read() -> None:
            history.messages  # noqa: B018  (the property is the read)

        result.open += await meter.call(read)
        for turn in range(TURNS):
            result.turns += await meter.call(read)
            pair = [
                HumanMessage(content=f"{fixtures.USER_TEXT}({turn})"),
                AIMessage(content=_reply_text()),
            ]

            async def add(messages: list[Any] = pair) -> None:
                history.add_messages(messages)

            result.turns += await meter.call(add)
    finally:
        history.redis_client.close()
        await seed.close()
    return result


async def llamaindex(standin: Standin, classifier: Classifier) -> SessionResult:
    """LlamaIndex's store as its ``ChatMemoryBuffer`` uses it, turn by turn.

    Open: ``get_messages``. Each turn: ``add_message`` of the user's message (``RPUSH``),
    ``get_messages`` for the prompt (``LRANGE 0 -1``), ``add_message`` of the reply.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from llama_index.core.llms import ChatMessage
        from llama_index.storage.chat_store.upstash import UpstashChatStore

    store = UpstashChatStore(redis_url=standin.url, redis_token=standin.token)
    seed = AsyncRedis(standin.url, standin.token, allow_telemetry=False)
    key = "session-li"
    result = SessionResult(peers.LLAMAINDEX, streamed=False)
    meter = Meter(standin, classifier)
    try:
        await seed.rpush(key, *peers.llamaindex_messages(HISTORY))

        async def read() -> None:
            await store.async_get_messages(key)

        def add(role: str, text: str) -> Callable[[], Awaitable[None]]:
            async def work() -> None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await store.async_add_message(key, ChatMessage(role=role, content=text))

            return work

        result.open += await meter.call(read)
        for turn in range(TURNS):
            result.turns += await meter.call(add("user", f"{fixtures.USER_TEXT}({turn})"))
            result.turns += await meter.call(read)
            result.turns += await meter.call(add("assistant", _reply_text()))
    finally:
        await store._async_redis_client.close()
        store._sync_redis_client.close()
        await seed.close()
    return result


async def vercel(standin: Standin, classifier: Classifier) -> SessionResult:
    """The Vercel KV chatbot pattern: list and open, one whole-chat save per turn, re-lists.

    Open: ``getChats`` (the sidebar) and ``getChat`` (the page) at once. Each turn: ``saveChat``
    when the reply is complete, the whole chat re-sent. Device B: ``getChats`` every
    ``RELIST_EVERY_S``.
    """
    client = AsyncRedis(standin.url, standin.token, allow_telemetry=False)
    kv = peers.VercelKv(client, "session-vercel")
    result = SessionResult(peers.VERCEL, streamed=False)
    meter = Meter(standin, classifier)
    try:
        chats = [f"session-{i}" for i in range(CONVERSATIONS)]
        for chat in chats[1:]:
            await kv.save_chat(chat, peers.vercel_messages(4))
        current = chats[0]
        history = peers.vercel_messages(HISTORY)
        await kv.save_chat(current, history)

        async def get_chats() -> None:
            await kv.get_chats()

        async def get_chat() -> None:
            await kv.get_chat(current)

        result.open += together(await meter.call(get_chats), await meter.call(get_chat))
        for turn in range(TURNS):
            history = [
                *history,
                {"id": f"u{turn}", "role": "user", "content": f"{fixtures.USER_TEXT}({turn})"},
                {"id": f"r{turn}", "role": "assistant", "content": _reply_text()},
            ]

            async def save(messages: list[dict[str, str]] = history) -> None:
                await kv.save_chat(current, messages)

            result.turns += await meter.call(save)
        for _ in range(RELISTS):
            result.relists += off_path(await meter.call(get_chats))
    finally:
        await client.close()
    return result


async def run_all(bench: ApiBench) -> tuple[list[SessionResult], dict[str, str]]:
    """Every implementation's session; peers that cannot run are named with the reason."""
    classifier = Classifier(bench.standin.redis_url)
    _flush_scripts(bench.standin.redis_url)
    results = [
        await ours(bench, classifier, streamed=True),
        await ours(bench, classifier, streamed=False),
    ]
    failures: dict[str, str] = {}
    for name, runner in (
        (peers.LANGCHAIN, langchain),
        (peers.LLAMAINDEX, llamaindex),
        (peers.VERCEL, vercel),
    ):
        try:
            results.append(await runner(bench.standin, classifier))
        except ImportError as exc:
            failures[name] = f"cannot be imported ({exc})"
        except Exception as exc:
            failures[name] = f"failed: {type(exc).__name__}: {exc}"[:400]
    return results, failures


def _flush_scripts(redis_url: str | None) -> None:
    """Forget loaded scripts, so that the warm-up sends each one whole and the bench learns it.

    Earlier sections may have loaded them; a script run by SHA alone cannot be read.
    """
    if redis_url is None:
        return
    with redis.Redis.from_url(redis_url, protocol=2) as client:
        client.script_flush()


# ------------------------------------------------------------------------------ a second device

#: How often device B polls a reply streaming on device A, in deltas (one delta per 0.25 s:
#: one poll a second).
POLL_EVERY_DELTAS = round(1 / DELTA_INTERVAL_S)


@dataclass
class SyncResult:
    """What keeping a second device in sync costs, per way of doing it."""

    rows: list[tuple[str, Tally, int]] = field(default_factory=list)
    """(what device B does, what it cost on Upstash, bytes of the API's answers to it)."""


async def second_device(bench: ApiBench, classifier: Classifier) -> SyncResult:
    """Device B keeping up with device A: idle syncs, and following a streamed reply.

    Idle: one feed page with nothing new; the list, a conversation and /api/me asked again with
    ``If-None-Match`` (304). Following a reply of ``DELTAS`` deltas: one poll a second by
    offset (``?after=``) with ``If-None-Match``, against re-reading the conversation's newest
    page as often.
    """
    assert bench.recorder is not None, "start() first"
    recorder = bench.recorder
    user = "sync-device"
    await bench.populate(user, conversations=CONVERSATIONS, messages=HISTORY)
    meter = Meter(bench.standin, classifier)
    base = f"/api/conversations/{TARGET}"

    async def api(
        method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await bench.send(method, path, user, body=body, headers=headers)

    async def metered(path: str, headers: dict[str, str] | None = None) -> tuple[Tally, int]:
        answers: list[httpx.Response] = []

        async def work() -> None:
            answers.append(await api("GET", path, headers=headers))

        tally = await meter.call(work, recorder_calls=recorder.calls)
        recorder.calls.clear()
        return tally, len(answers[0].content)

    listed = await api("GET", "/api/conversations?limit=20")
    cursor = listed.json()["changesCursor"]
    got = await api("GET", f"{base}?limit=50")
    me = await api("GET", "/api/me")
    # Warm: every script these use has run once (and so is loaded) before anything is metered.
    await api("GET", f"/api/changes?since={cursor}")
    first_id = got.json()["messages"][0]["id"]
    await api("GET", f"{base}/messages/{first_id}?after=0")
    recorder.calls.clear()
    result = SyncResult()
    idle = [
        ("idle sync: feed page, nothing new", f"/api/changes?since={cursor}", None),
        ("idle: list again, 304", "/api/conversations?limit=20", listed),
        ("idle: conversation again, 304", f"{base}?limit=50", got),
        ("idle: /api/me again, 304", "/api/me", me),
    ]
    for name, idle_path, earlier in idle:
        tag = None if earlier is None else {"If-None-Match": earlier.headers["etag"]}
        result.rows.append((name, *await metered(idle_path, tag)))

    # A reply streams on device A; device B follows it.
    stamp = fixtures.iso(fixtures.EPOCH_MS + (HISTORY + 1) * 1000)
    start = {"id": "followed", "type": "assistant", "timestamp": stamp, "content": "",
             "streaming": True}  # fmt: skip
    await api("POST", f"{base}/messages", start)
    path = f"{base}/messages/followed"
    by_offset, by_page = Tally(), Tally()
    offset_bytes = page_bytes = 0
    length, etag = 0, ""
    for sequence in range(1, DELTAS + 1):
        delta = {"appendContent": DELTA_TEXT, "sequence": sequence}
        await api("PATCH", path, delta, headers={"Prefer": "return=minimal"})
        recorder.calls.clear()
        if sequence % POLL_EVERY_DELTAS == 0 or sequence == DELTAS:
            tally, size = await metered(
                f"{path}?after={length}", {"If-None-Match": etag} if etag else None
            )
            by_offset += tally
            offset_bytes += size
            polled = await api("GET", f"{path}?after=0")  # (not metered: where B now is)
            length, etag = polled.json()["length"], polled.headers["etag"]
            tally, size = await metered(f"{base}?limit=50")
            by_page += tally
            page_bytes += size
    await api("PATCH", path, {"streaming": False, "tokens": TOKENS})
    result.rows.append(
        (f"follow a {DELTAS}-delta reply by offset (a poll a second)", by_offset, offset_bytes)
    )
    result.rows.append(("the same by re-reading the conversation's page", by_page, page_bytes))
    return result
