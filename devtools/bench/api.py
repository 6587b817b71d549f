"""The HTTP API under measurement: every endpoint, called the way the frontend calls it.

The app is the one ``make dev`` serves (every function's routes, ``shared.app.create_app``),
called in-process through ``httpx.ASGITransport`` as Mangum calls it on Lambda, and wired to the
stand-in exactly as a Lambda container wires itself to Upstash. Three instruments sit around it:

- the stand-in's counters and Redis's ``INFO commandstats`` (``standin.Reading``): Upstash HTTP
  requests, bytes each way, and billed commands, per call;
- ``RecordingTransport`` under the Upstash client's ``httpx`` client: when each Upstash request
  started and ended and whether it was the rate-limit check, so rate-limit and data requests
  are told apart and the time the handler spent waiting on Upstash can be subtracted;
- ``TimedApp`` around the ASGI app: wall and CPU time inside the handler, per request.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.bench import fixtures
from devtools.bench.report import median, percentile
from devtools.bench.standin import Reading, Standin, lock_kind

if TYPE_CHECKING:
    from shared.context import Caller

JWT_SECRET = "bench-sign-in-secret-that-is-long-enough-0123456789"  # noqa: S105  (local only)
ANONYMOUS_SECRET = "bench-anonymous-secret-that-is-long-enough-012345"  # noqa: S105
# Raised so that no benchmark request is refused; every call still makes its rate-limit check.
UNLIMITED = 10**9
# Big enough for the largest growth step, with room for what the benchmark appends.
MAX_CONVERSATIONS = 20_000
MAX_MESSAGES = 20_000
IMPORT_BATCH = 1_000
TARGET = "target"


def ensure_import_env() -> None:
    """Give the function modules, which build their app at import, a valid configuration.

    The benchmark's own apps are built on the stand-in with ``Services.from_settings``; this
    configuration is only what importing ``functions.*`` needs, and is never sent traffic.
    """
    os.environ.setdefault("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:9/not-used")
    os.environ.setdefault("UPSTASH_REDIS_REST_TOKEN", "import-time-token")
    os.environ.setdefault("ANONYMOUS_TOKEN_SECRET", ANONYMOUS_SECRET)
    # The request log stays on (it is part of every request's work) but goes nowhere.
    logger = logging.getLogger("chat_store")
    if not logger.handlers:
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def all_routes() -> list[BaseRoute]:
    """Every function's routes, as the dev server serves them."""
    ensure_import_env()
    from functions import module_names

    routes: list[BaseRoute] = []
    for name in module_names():
        routes.extend(importlib.import_module(f"functions.{name}").routes)
    return routes


# ------------------------------------------------------------------------------ instruments


def _ratelimit_shas() -> frozenset[str]:
    """SHA1s of the scripts upstash-ratelimit sends whole (EVAL) on every check."""
    try:
        from upstash_ratelimit import limiter
    except ImportError:  # a store that limits inside its own scripts need not install it
        return frozenset()
    scripts = (getattr(value, "SCRIPT", None) for value in vars(limiter).values())
    return frozenset(sha1(s) for s in scripts if isinstance(s, str))


def sha1(text: str) -> str:
    """The SHA1 Redis names a script by."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# The rate-limit request is told apart by its script, not by the `allow-key-locking` flag it
# carries: the store's own scripts may carry that flag too, and may do the limiting themselves.
RATE_LIMIT_SHAS = _ratelimit_shas()
_FIRST_COMMAND = re.compile(rb'\[\s*"([A-Za-z_.|-]+)"\s*,?\s*')
# Kept of a request body that sends a script whole: enough for any script, and not the megabytes
# of arguments that can follow it (a whole conversation).
_SCRIPT_HEAD_BYTES = 256 * 1024
_SHA_HEAD_BYTES = 48


@dataclass(frozen=True, slots=True)
class UpstashCall:
    """One HTTP request to Upstash, as the handler's client saw it.

    What the request ran is kept raw (``command``, ``head``) and decoded only when asked for,
    so that recording costs the measured handler next to nothing.
    """

    start: float
    end: float
    sent: int
    """Request body bytes."""
    received: int
    """Response body bytes."""
    command: str = ""
    """The command's name (``EVALSHA``, ``GET``, ...); ``PIPELINE`` / ``MULTI-EXEC`` for batches."""
    head: bytes = b""
    """For a script command (and SCRIPT LOAD): the JSON after its name, the script or SHA first."""

    @property
    def script_text(self) -> str | None:
        """The script's text when the request sent it whole (EVAL, EVAL_RO, SCRIPT LOAD)."""
        head = self.head
        if self.command == "SCRIPT":
            found = _FIRST_COMMAND.match(head)  # the subcommand
            if found is None or found.group(1).upper() != b"LOAD":
                return None
            head = head[found.end() :]
        elif self.command not in {"EVAL", "EVAL_RO"}:
            return None
        try:
            text, _ = json.JSONDecoder().raw_decode(head.decode(errors="replace"))
        except ValueError:
            return None
        return text if isinstance(text, str) else None

    @property
    def script(self) -> str | None:
        """SHA1 of the script an ``EVAL*`` / ``EVALSHA*`` ran; None for other commands."""
        if self.command in {"EVALSHA", "EVALSHA_RO"}:
            try:
                sha, _ = json.JSONDecoder().raw_decode(self.head.decode(errors="replace"))
            except ValueError:
                return None
            return str(sha).lower()
        if self.command in {"EVAL", "EVAL_RO"}:
            text = self.script_text
            return None if text is None else sha1(text)
        return None

    @property
    def rate_limit(self) -> bool:
        """Whether it ran one of upstash-ratelimit's own scripts (a separate limiter request)."""
        return self.command in {"EVAL", "EVALSHA"} and self.script in RATE_LIMIT_SHAS


def _identify(path: str, body: bytes) -> tuple[str, bytes]:
    """The command's name and, for a script, the part of the body naming it (see UpstashCall)."""
    if path.rstrip("/").endswith("/pipeline"):
        return "PIPELINE", b""
    if path.rstrip("/").endswith("/multi-exec"):
        return "MULTI-EXEC", b""
    found = _FIRST_COMMAND.match(body)
    if found is None:
        return "?", b""
    name = found.group(1).decode().upper()
    if name in {"EVALSHA", "EVALSHA_RO"}:
        return name, body[found.end() : found.end() + _SHA_HEAD_BYTES]
    if name in {"EVAL", "EVAL_RO", "SCRIPT"}:
        return name, body[found.end() : found.end() + _SCRIPT_HEAD_BYTES]
    return name, b""


def scripts_seen(calls: Iterable[UpstashCall]) -> dict[str, str]:
    """Script text by SHA1, of every script ``calls`` sent whole (EVAL, SCRIPT LOAD)."""
    out: dict[str, str] = {}
    for call in calls:
        text = call.script_text
        if text is not None:
            out[sha1(text)] = text
    return out


class RecordingTransport(httpx.AsyncBaseTransport):
    """Records every Upstash request passing through the wrapped transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.calls: list[UpstashCall] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, read the whole reply, and note when, how big and what it ran."""
        start = time.perf_counter()
        body = request.content
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        end = time.perf_counter()
        command, head = _identify(request.url.path, body)
        self.calls.append(UpstashCall(start, end, len(body), len(content), command, head))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


@dataclass(frozen=True, slots=True)
class AppTiming:
    """Wall and CPU time of one request inside the ASGI app."""

    start: float
    end: float
    cpu: float


class TimedApp:
    """An ASGI wrapper noting how long each HTTP request spent inside the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last: AppTiming | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, timing HTTP requests."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, cpu = time.perf_counter(), time.process_time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last = AppTiming(start, time.perf_counter(), time.process_time() - cpu)


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total time covered by ``intervals`` (overlaps counted once)."""
    total, reach = 0.0, -float("inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


# ------------------------------------------------------------------------------ measurement


@dataclass
class Op:
    """One endpoint call to measure, with what it must answer and any untimed preparation."""

    name: str
    call: Callable[[], Awaitable[httpx.Response]]
    expect: tuple[int, ...] = (200,)
    setup: Callable[[], Awaitable[None]] | None = None
    read: bool = False
    budget_s: float = 20.0
    """Stop after this long (at least ``MIN_ITERATIONS`` calls): the slowest calls take seconds."""


MIN_ITERATIONS = 5
WARM_UP = 2


@dataclass
class OpResult:
    """What one endpoint cost and how fast it answered, per call."""

    name: str
    read: bool
    latency: list[float] = field(default_factory=list)
    """Seconds from sending the request to having the whole response, as the caller sees it."""
    in_app: list[float] = field(default_factory=list)
    upstash_wait: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    calls: list[list[UpstashCall]] = field(default_factory=list)

    @property
    def overhead(self) -> list[float]:
        """Time in the handler not spent waiting for Upstash, per call."""
        return [a - w for a, w in zip(self.in_app, self.upstash_wait, strict=True)]

    def mean(self, pick: Callable[[Reading], int | None]) -> float | None:
        """The mean of one stand-in / Redis counter per call; None when it was not counted."""
        values = [pick(r) for r in self.readings]
        known = [v for v in values if v is not None]
        if not known or len(known) != len(values):
            return None
        return sum(known) / len(known)

    def summary(self) -> dict[str, Any]:
        """Per-call figures, for tables and the results file."""
        requests = self.mean(lambda r: r.requests)
        billed = self.mean(lambda r: r.billed)
        key_locked = self.mean(lambda r: r.key_locked_scripts)
        global_lock = self.mean(lambda r: r.global_lock_scripts)
        return {
            "name": self.name,
            "read": self.read,
            "samples": len(self.latency),
            "p50_ms": percentile(self.latency, 50) * 1000,
            "p99_ms": percentile(self.latency, 99) * 1000,
            "requests": requests,
            "billed_commands": billed,
            "bytes_sent": self.mean(lambda r: r.bytes_in),
            "bytes_received": self.mean(lambda r: r.bytes_out),
            "in_app_p50_ms": median(self.in_app) * 1000,
            "upstash_wait_p50_ms": median(self.upstash_wait) * 1000,
            "overhead_p50_ms": median(self.overhead) * 1000,
            "overhead_p99_ms": percentile(self.overhead, 99) * 1000,
            "cpu_p50_ms": median(self.cpu) * 1000,
            "key_locked_scripts": key_locked,
            "global_lock_scripts": global_lock,
            "locks": lock_kind(key_locked, global_lock),
        }


class ApiBench:
    """The API app on a stand-in, with its instruments and helpers to call and populate it."""

    def __init__(self, standin: Standin, *, label: str) -> None:
        from shared.app import Services, create_app
        from shared.settings import Settings
        from shared.upstash import Upstash

        self.standin = standin
        self.prefix = f"b{label}{uuid.uuid4().hex[:6]}"
        self.settings = Settings(
            upstash_redis_rest_url=standin.url,
            upstash_redis_rest_token=standin.token,
            # Explicit, so that a developer's environment cannot change who is let in.
            auth_jwt_secret=JWT_SECRET,
            auth_jwks_url=None,
            auth_jwt_issuer=None,
            auth_jwt_audience=None,
            anonymous_token_secret=ANONYMOUS_SECRET,
            log_level="INFO",
            key_prefix=self.prefix,
            upstash_retries=0,
            upstash_timeout_seconds=30,
            max_body_bytes=10 * 1024 * 1024,
            max_conversations_per_user=MAX_CONVERSATIONS,
            max_messages_per_conversation=MAX_MESSAGES,
            rate_limit_user_requests=UNLIMITED,
            rate_limit_stream_requests=UNLIMITED,
            rate_limit_anonymous_requests=UNLIMITED,
        )
        self.recorder: RecordingTransport | None = None

        def record(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
            # (Called once the Upstash client is made, for the running loop.)
            self.recorder = RecordingTransport(transport)
            return self.recorder

        upstash = Upstash(self.settings, wrap_transport=record)
        self.services = Services.from_settings(self.settings, upstash=upstash)
        self.store = self.services.store
        self.app = TimedApp(create_app(all_routes(), services=self.services))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://api.bench", timeout=60
        )
        self.ping_ms = float("nan")
        """p50 of one PING through the Upstash client: what one round trip costs here."""
        self._tokens: dict[str, str] = {}

    async def start(self) -> None:
        """Time a round trip through the Upstash client (made for the running loop)."""
        pings = []
        for _ in range(50):
            started = time.perf_counter()
            await self.services.upstash.ping()
            pings.append(time.perf_counter() - started)
        self.ping_ms = median(pings) * 1000

    async def aclose(self) -> None:
        """Close the API client and the Upstash client."""
        await self.client.aclose()
        await self.services.upstash.aclose()

    def caller(self, user: str) -> Caller:
        """``user`` as the store's caller (counted against the bench's unlimited budget)."""
        return self.services.rate_limits.caller(user)

    def auth(self, user: str) -> dict[str, str]:
        """The Authorization header of ``user`` (a sign-in token)."""
        if user not in self._tokens:
            self._tokens[user] = jwt.encode({"sub": user}, JWT_SECRET, algorithm="HS256")
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    async def send(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Call the API; ``raw`` is an already-encoded JSON body."""
        sent = {**(self.auth(user) if user else {}), **(headers or {})}
        if body is not None:
            raw = json.dumps(body, separators=(",", ":")).encode()
        if raw is not None:
            sent["Content-Type"] = "application/json"
        return await self.client.request(method, path, content=raw, headers=sent)

    # -------------------------------------------------------------------------- measuring

    async def measure(self, op: Op, iterations: int, *, meter: bool = True) -> OpResult:
        """Call ``op`` ``iterations`` times after a warm-up; one sample per call."""
        return (await self.measure_interleaved([op], iterations, meter=meter))[0]

    async def measure_interleaved(
        self, ops: Sequence[Op], iterations: int, *, meter: bool = True
    ) -> list[OpResult]:
        """Call each of ``ops`` in turn, ``iterations`` rounds, after a warm-up of each.

        Interleaving calls whose results are compared (the same read at several sizes) keeps
        the machine's drift out of the comparison.
        """
        assert self.recorder is not None, "start() first"
        results = [OpResult(op.name, op.read) for op in ops]
        for op in ops:
            for _ in range(WARM_UP):  # a warm container; EVALSHA hits
                await self._once(op)
        last = self.standin.read() if meter else None
        began = time.perf_counter()
        budget = min(op.budget_s for op in ops)
        for done in range(iterations):
            if done >= MIN_ITERATIONS and time.perf_counter() - began > budget:
                break
            for op, result in zip(ops, results, strict=True):
                if op.setup is not None:
                    await op.setup()
                    last = self.standin.read() if meter else None
                await self._sample(op, result)
                if last is not None:
                    now = self.standin.read()
                    result.readings.append(now - last)
                    last = now
        self.recorder.calls.clear()
        return results

    async def _sample(self, op: Op, result: OpResult) -> None:
        assert self.recorder is not None
        first_call = len(self.recorder.calls)
        elapsed = await self._once(op, setup=False)
        timing = self.app.last
        assert timing is not None
        calls = self.recorder.calls[first_call:]
        result.latency.append(elapsed)
        result.in_app.append(timing.end - timing.start)
        result.cpu.append(timing.cpu)
        result.upstash_wait.append(union_length((c.start, c.end) for c in calls))
        result.calls.append(calls)

    async def _once(self, op: Op, *, setup: bool = True) -> float:
        if setup and op.setup is not None:
            await op.setup()
        started = time.perf_counter()
        response = await op.call()
        elapsed = time.perf_counter() - started
        if response.status_code not in op.expect:
            raise RuntimeError(
                f"{op.name}: HTTP {response.status_code} {response.text[:300]} "
                f"(expected {op.expect})"
            )
        return elapsed

    # ------------------------------------------------------------------------- populating

    async def populate(self, user: str, *, conversations: int, messages: int) -> None:
        """Give ``user`` ``conversations`` conversations; TARGET has ``messages`` messages.

        The others have 4 messages each and are imported in bulk (one request per
        ``IMPORT_BATCH``), each with its own ``updatedAt``; TARGET, the most recent, is one PUT.
        """
        others = conversations - 1
        for first in range(0, others, IMPORT_BATCH):
            batch = [
                fixtures.conversation(f"c{i}", 4, updated_ms=fixtures.EPOCH_MS + i * 1000)
                for i in range(first, min(first + IMPORT_BATCH, others))
            ]
            imported = await self.store.import_conversations(self.caller(user), batch, None)
            if imported.imported != len(batch):
                raise RuntimeError(f"populating {user}: {imported}")
        await self.store.put_conversation(
            self.caller(user),
            fixtures.conversation(
                TARGET, messages, updated_ms=fixtures.EPOCH_MS + conversations * 1000
            ),
        )
        from shared.store import NotModified

        totals = await self.store.user_totals(self.caller(user))
        if isinstance(totals, NotModified) or totals.conversation_count != conversations:
            raise RuntimeError(f"populating {user}: {totals}")

    async def cursors(self, user: str) -> tuple[str | None, str | None]:
        """The ``nextCursor`` of the first list page (20) and of TARGET's newest page (50)."""
        listed = await self.send("GET", "/api/conversations?limit=20", user)
        got = await self.send("GET", f"/api/conversations/{TARGET}?limit=50", user)
        return listed.json()["nextCursor"], got.json()["nextCursor"]


# ------------------------------------------------------------------------------ endpoints


async def read_ops(bench: ApiBench, user: str) -> list[Op]:
    """The reads, in the order measured: they change nothing, so they go first."""
    list_cursor, page_cursor = await bench.cursors(user)
    base = f"/api/conversations/{TARGET}"

    def get(path: str) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: bench.send("GET", path, user)

    ops = [Op("list (page of 20)", get("/api/conversations?limit=20"), read=True)]
    if list_cursor:
        ops.append(
            Op(
                "list (next page)",
                get(f"/api/conversations?limit=20&cursor={list_cursor}"),
                read=True,
            )
        )
    ops.append(Op("get (newest 50)", get(f"{base}?limit=50"), read=True))
    if page_cursor:
        ops.append(Op("get (page back)", get(f"{base}?limit=50&before={page_cursor}"), read=True))
    ops += [
        Op("me", get("/api/me"), read=True),
        Op("export (page of 20)", get("/api/me/export?limit=20"), read=True),
    ]
    return ops


async def write_ops(bench: ApiBench, user: str, label: str) -> list[Op]:
    """The writes, in the order measured; each leaves the user much as it found it."""
    base = f"/api/conversations/{TARGET}"
    counter = itertools.count()
    appended: list[str] = []

    async def append() -> httpx.Response:
        mid = f"a{next(counter)}"
        appended.append(mid)
        message = fixtures.message_dict(0, prefix="x") | {"id": mid}
        return await bench.send("POST", f"{base}/messages", user, body=message)

    reply = f"reply-{label}"
    await bench.store.append_message(
        bench.caller(user),
        TARGET,
        fixtures.message(1, prefix="r").model_copy(
            update={"id": reply, "content": "", "streaming": True}
        ),
    )
    sequence = itertools.count(1)

    async def delta() -> httpx.Response:
        patch = {"appendContent": "a streamed chunk of text ", "sequence": next(sequence)}
        return await bench.send(
            "PATCH", f"{base}/messages/{reply}", user, body=patch,
            headers={"Prefer": "return=minimal"},
        )  # fmt: skip

    async def ensure_appended() -> None:
        if not appended:
            mid = f"a{next(counter)}"
            await bench.store.append_message(
                bench.caller(user),
                TARGET,
                fixtures.message(0, prefix="x").model_copy(update={"id": mid}),
            )
            appended.append(mid)

    async def delete_message() -> httpx.Response:
        return await bench.send("DELETE", f"{base}/messages/{appended.pop()}", user)

    titles = itertools.count()
    put_body = json.dumps(
        fixtures.conversation_dict(f"put-{label}", 10, updated_ms=fixtures.EPOCH_MS)
    ).encode()
    doomed = itertools.count()
    doomed_ids: list[str] = []

    async def make_doomed() -> None:
        cid = f"tmp{next(doomed)}"
        await bench.store.put_conversation(
            bench.caller(user), fixtures.conversation(cid, 4, updated_ms=fixtures.EPOCH_MS)
        )
        doomed_ids.append(cid)

    async def delete_conversation() -> httpx.Response:
        return await bench.send("DELETE", f"/api/conversations/{doomed_ids.pop()}", user)

    return [
        Op("append message", append, expect=(201,)),
        Op("patch message (streamed delta)", delta, expect=(204,)),
        Op("delete message", delete_message, expect=(204,), setup=ensure_appended),
        Op(
            "patch conversation (title)",
            lambda: bench.send("PATCH", base, user, body={"title": f"Title {next(titles)}"}),
        ),
        Op(
            "set current conversation",
            lambda: bench.send(
                "PUT", "/api/me/current-conversation", user, body={"conversationId": TARGET}
            ),
            expect=(204,),
        ),
        Op(
            "put (10 messages)",
            lambda: bench.send("PUT", f"/api/conversations/put-{label}", user, raw=put_body),
            expect=(200, 201),
        ),
        Op("delete conversation", delete_conversation, expect=(204,), setup=make_doomed),
    ]


async def account_ops(bench: ApiBench, label: str) -> list[Op]:
    """Endpoints whose cost does not depend on a user's history: health, sign-up, import, erase."""
    imports = itertools.count()

    async def import_one() -> httpx.Response:
        dump = {
            "conversations": [
                fixtures.conversation_dict(f"imp{next(imports)}", 10, updated_ms=fixtures.EPOCH_MS)
            ]
        }
        return await bench.send("POST", "/api/import", f"importer-{label}", body=dump)

    erased = itertools.count()
    victims: list[str] = []

    async def make_victim() -> None:
        user = f"erase-{label}-{next(erased)}"
        batch = [
            fixtures.conversation(f"c{i}", 4, updated_ms=fixtures.EPOCH_MS + i) for i in range(2)
        ]
        await bench.store.import_conversations(bench.caller(user), batch, None)
        victims.append(user)

    async def erase() -> httpx.Response:
        return await bench.send("DELETE", "/api/me", victims.pop())

    return [
        Op("health", lambda: bench.send("GET", "/api/health")),
        Op("anonymous token", lambda: bench.send("POST", "/api/auth/anonymous"), expect=(201,)),
        Op("import (1 conversation of 10)", import_one),
        Op("erase user (2 conversations)", erase, expect=(204,), setup=make_victim),
    ]


def whole_put_op(bench: ApiBench, user: str, messages: int) -> Op:
    """PUT of TARGET with all its messages: what saving a whole chat every turn costs."""
    body = json.dumps(
        fixtures.conversation_dict(
            TARGET, messages, updated_ms=fixtures.EPOCH_MS + MAX_CONVERSATIONS * 1000
        )
    ).encode()
    return Op(
        "put (whole conversation)",
        lambda: bench.send("PUT", f"/api/conversations/{TARGET}", user, raw=body),
        budget_s=10.0,
    )


async def measure_all(
    bench: ApiBench, ops: Sequence[Op], iterations: int, *, meter: bool = True
) -> list[OpResult]:
    """Measure each op in turn."""
    return [await bench.measure(op, iterations, meter=meter) for op in ops]
