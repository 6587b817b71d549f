"""`make load`: a bounded load test of the whole app, on loopback, at rising concurrency.

What runs (every address a loopback one; nothing leaves the machine):

- a private ``redis-server`` (``devtools.redis_backend.private_redis``; fakeredis where the binary
  is absent, said in the header), behind the local Upstash stand-in in a child process
  (``devtools.bench.standin``), as the tests and the bench run it;
- the app -- every function's routes in one ``shared.app.create_app``, served over real HTTP by
  uvicorn (``devtools.serve``) -- in a second child process, configured through its environment
  like a Lambda container, with the rate limits raised out of the way: this measures capacity,
  not limits;
- this process: ``N`` virtual users per level (1, 4, 16, 64 by default), each its own user.

A virtual user does what the frontend does, in a seeded random mix: open the app (list and
``/api/me`` together, then the current conversation); then, per session, one to three turns in
a new conversation -- append the user's message, append the assistant's reply with
``streaming: true``, ``--deltas`` deltas numbered with ``sequence`` (``Prefer: return=minimal``),
then finish it -- make it the current conversation, sometimes rename it, sometimes delete an
older one, and sometimes re-list from a second device. Every loop is bounded: a user stops
starting turns when its level's ``--seconds`` are up, and the whole run stops after
``--max-total-seconds`` whatever happens.

After each level, every conversation a user got a 2xx for is read back: every acknowledged
message must be there exactly once, every acknowledged delta's text exactly once in its reply
(the whole reply equal to the deltas when all were acknowledged), an acknowledged rename's
title kept, an acknowledged delete gone. Per level it prints throughput, p50/p99 latency and
the answers that were not 2xx, by status. It exits 1 if any answer was a 5xx (or no answer at
all), or any acknowledged write was lost; 2 when the run ran out of time.

Figures are for comparing runs on one machine: client, app, stand-in and Redis share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import random
import secrets
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

LEVELS = (1, 4, 16, 64)
LEVEL_SECONDS = 12.0
DELTAS = 10
MAX_TOTAL_SECONDS = 170.0
STANDIN_TOKEN = "load-standin-token"  # noqa: S105  (a throw-away stand-in on loopback)
# Generous, so that a slow machine shows up as latency, not as a client-side error.
CLIENT_TIMEOUT_SECONDS = 30.0
MAX_SESSIONS = 1_000  # per user and level; the deadline ends the loop long before
MAX_PAGES = 50  # when reading a conversation back
DELTA_FILLER = "tokens streamed in one batch, "
TOKENS = {"input": 1_200, "output": 320, "total": 1_520}


# ------------------------------------------------------------------------------ expectations


@dataclass
class ExpectedMessage:
    """One message as its acknowledged writes say it must read."""

    content: str | None
    """The exact content of an appended message; None for a streamed reply (see ``deltas``)."""
    deltas: list[str] = field(default_factory=list)
    """The text of every acknowledged delta, in order."""
    every_delta_acknowledged: bool = True
    """Whether the reply must equal its deltas joined (no delta went unanswered)."""
    finished: bool = False
    """Whether ``streaming: false`` was acknowledged."""


@dataclass
class ExpectedConversation:
    """One conversation as a virtual user's acknowledged writes say it must read."""

    cid: str
    messages: dict[str, ExpectedMessage] = field(default_factory=dict)
    title: str | None = None
    """The title of the last acknowledged rename."""
    deleted: bool = False


def check_conversation(
    expected: ExpectedConversation, messages: Sequence[dict[str, Any]]
) -> list[str]:
    """Every way ``messages`` (as read back) lose or repeat an acknowledged write; [] if none."""
    problems: list[str] = []
    seen = Counter(str(m.get("id")) for m in messages)
    stored = {str(m.get("id")): m for m in messages}
    for mid, want in expected.messages.items():
        where = f"{expected.cid}/{mid}"
        if seen[mid] != 1:
            problems.append(f"{where}: acknowledged message stored {seen[mid]} times")
            continue
        content = str(stored[mid].get("content"))
        if want.content is not None and content != want.content:
            problems.append(f"{where}: content {content[:40]!r} is not what was acknowledged")
        for text in want.deltas:
            if (count := content.count(text)) != 1:
                problems.append(f"{where}: acknowledged delta {text!r} found {count} times")
        if (
            want.content is None
            and want.every_delta_acknowledged
            and content != "".join(want.deltas)
        ):
            problems.append(f"{where}: reply is not its acknowledged deltas joined")
        if want.finished and stored[mid].get("streaming"):
            problems.append(f"{where}: acknowledged finish, still streaming")
    return problems


# ------------------------------------------------------------------------------ measuring


@dataclass
class LevelStats:
    """What one level's virtual users sent and were answered."""

    users: int
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    """Answers by status code, or the exception's name when there was no answer."""
    seconds: float = 0.0
    conversations_checked: int = 0
    lost: list[str] = field(default_factory=list)
    """Acknowledged writes missing, repeated or wrong on reading back (and reads that failed)."""

    @property
    def requests(self) -> int:
        """Requests sent (each answered or failed once)."""
        return sum(self.outcomes.values())

    @property
    def server_errors(self) -> int:
        """5xx answers, and requests that got no answer at all."""
        return sum(n for k, n in self.outcomes.items() if not k.isdigit() or k.startswith("5"))

    def percentile(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the requests finished, in ms (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]

    def errors(self) -> str:
        """The answers that were not 2xx, by status: ``409x2 503x1``, or ``none``."""
        bad = sorted((k, n) for k, n in self.outcomes.items() if not k.startswith("2"))
        return " ".join(f"{k}x{n}" for k, n in bad) or "none"


class Driver:
    """Sends the requests of one level and records each one's outcome and latency."""

    def __init__(self, http: httpx.AsyncClient, stats: LevelStats, jwt_secret: str) -> None:
        self.http = http
        self.stats = stats
        self.jwt_secret = jwt_secret

    def auth(self, user: str) -> dict[str, str]:
        """The Authorization header of ``user``."""
        token = jwt.encode({"sub": user}, self.jwt_secret, algorithm="HS256")
        return {"Authorization": f"Bearer {token}"}

    async def send(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> httpx.Response | None:
        """One request; None when no answer came."""
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.stats.outcomes[type(exc).__name__] += 1
            return None
        self.stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.stats.outcomes[str(response.status_code)] += 1
        return response


def _ok(response: httpx.Response | None) -> bool:
    return response is not None and response.is_success


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def virtual_user(
    driver: Driver, user: str, *, seed: int, deadline: float, deltas: int
) -> list[ExpectedConversation]:
    """One user's visits until ``deadline``.

    Returns the conversations as its acknowledged writes left them.
    """
    rng = random.Random(seed)  # noqa: S311  (a workload mix, not a secret)
    device_a = driver.auth(user)
    device_b = {**device_a, "User-Agent": "load-device-b"}
    conversations: dict[str, ExpectedConversation] = {}
    for session in range(MAX_SESSIONS):
        if time.monotonic() >= deadline:
            break
        # Open the app: the sidebar and who-am-I together, then the chat on screen.
        _sidebar, me = await asyncio.gather(
            driver.send("GET", "/api/conversations?limit=20", device_a),
            driver.send("GET", "/api/me", device_a),
        )
        current = me.json().get("currentConversationId") if me is not None and _ok(me) else None
        if current:
            await driver.send("GET", f"/api/conversations/{current}?limit=50", device_a)
        cid = f"c{session}"
        expected = ExpectedConversation(cid)
        conversations[cid] = expected
        for turn in range(rng.randint(1, 3)):
            if time.monotonic() >= deadline:
                break
            await _turn(driver, device_a, expected, turn, deltas)
            if turn == 0:
                await driver.send(
                    "PUT", "/api/me/current-conversation", device_a, {"conversationId": cid}
                )
            if rng.random() < 0.25:
                await driver.send("GET", "/api/conversations?limit=20", device_b)
        if expected.messages and rng.random() < 0.3:
            title = f"Renamed {session}-{rng.randint(0, 999)}"
            renamed = await driver.send(
                "PATCH", f"/api/conversations/{cid}", device_a, {"title": title}
            )
            if _ok(renamed):
                expected.title = title
        older = [c for c in conversations.values() if c.cid != cid and not c.deleted and c.messages]
        if older and rng.random() < 0.15:
            victim = rng.choice(older)
            deleted = await driver.send("DELETE", f"/api/conversations/{victim.cid}", device_a)
            if _ok(deleted):
                victim.deleted = True
    return list(conversations.values())


async def _turn(
    driver: Driver,
    headers: dict[str, str],
    expected: ExpectedConversation,
    turn: int,
    deltas: int,
) -> None:
    """One turn: the user's message, then a streamed reply, finished."""
    path = f"/api/conversations/{expected.cid}/messages"
    question = f"Question {turn} of {expected.cid}: how do I keep chat history in Redis?"
    user_message = {"id": f"u{turn}", "type": "user", "content": question, "timestamp": _now_iso()}
    if _ok(await driver.send("POST", path, headers, user_message)):
        expected.messages[f"u{turn}"] = ExpectedMessage(question)
    reply_id = f"a{turn}"
    reply = {"id": reply_id, "type": "assistant", "content": "", "timestamp": _now_iso()}
    if not _ok(await driver.send("POST", path, headers, {**reply, "streaming": True})):
        return
    want = ExpectedMessage(None)
    expected.messages[reply_id] = want
    minimal = {**headers, "Prefer": "return=minimal"}
    for sequence in range(1, deltas + 1):
        # A marker no other delta's text contains, so "exactly once" can be counted.
        text = f"[{sequence}|{turn}] {DELTA_FILLER}"
        patch = {"appendContent": text, "sequence": sequence}
        if _ok(await driver.send("PATCH", f"{path}/{reply_id}", minimal, patch)):
            want.deltas.append(text)
        else:
            want.every_delta_acknowledged = False
    finish = {"streaming": False, "tokens": TOKENS}
    if _ok(await driver.send("PATCH", f"{path}/{reply_id}", minimal, finish)):
        want.finished = True


async def read_back(
    http: httpx.AsyncClient, headers: dict[str, str], expected: ExpectedConversation
) -> list[str]:
    """Read ``expected`` back, every page of it; what was lost (or wrong)."""
    path = f"/api/conversations/{expected.cid}"
    messages: list[dict[str, Any]] = []
    before: str | None = None
    for _ in range(MAX_PAGES):
        params = {"limit": "500", **({"before": before} if before else {})}
        try:
            response = await http.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            return [f"{expected.cid}: read back failed: {type(exc).__name__}"]
        if expected.deleted:
            return [] if response.status_code == 404 else [f"{expected.cid}: deleted, still there"]
        if response.status_code != 200:
            return [f"{expected.cid}: read back answered {response.status_code}"]
        page = response.json()
        if expected.title is not None and page.get("title") != expected.title:
            return [f"{expected.cid}: acknowledged rename lost"]
        messages = page["messages"] + messages  # older pages come first
        before = page.get("nextCursor")
        if before is None:
            return check_conversation(expected, messages)
    return [f"{expected.cid}: more than {MAX_PAGES} pages"]


async def run_level(
    base_url: str, users: int, *, seconds: float, deltas: int, jwt_secret: str, run_id: str
) -> LevelStats:
    """Drive ``users`` virtual users for ``seconds``; read back what they were told was stored."""
    stats = LevelStats(users)
    limits = httpx.Limits(max_connections=users + 8, max_keepalive_connections=users + 8)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=CLIENT_TIMEOUT_SECONDS, limits=limits
    ) as http:
        driver = Driver(http, stats, jwt_secret)
        names = [f"load-{run_id}-{users}-{n}" for n in range(users)]
        started = time.monotonic()
        deadline = started + seconds
        outcomes = await asyncio.gather(
            *(
                virtual_user(driver, name, seed=users * 1000 + n, deadline=deadline, deltas=deltas)
                for n, name in enumerate(names)
            )
        )
        stats.seconds = time.monotonic() - started
        # Reading back is not part of the measurement; a few at a time, to be quick.
        gate = asyncio.Semaphore(8)

        async def check(name: str, expected: ExpectedConversation) -> list[str]:
            async with gate:
                return await read_back(http, driver.auth(name), expected)

        checks = [
            check(name, c)
            for name, conversations in zip(names, outcomes, strict=True)
            for c in conversations
            if c.messages or c.deleted
        ]
        stats.conversations_checked = len(checks)
        for problems in await asyncio.gather(*checks):
            stats.lost.extend(problems)
    return stats


# ------------------------------------------------------------------------------ processes


def _require_loopback(url: str) -> str:
    """``url`` if its host is a loopback address; the load test never leaves the machine."""
    host = urlsplit(url).hostname or ""
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing a non-loopback address: {url}")
    return url


def serve_app() -> None:
    """Child process: serve every function's routes until standard input closes.

    The environment configures the app, as Lambda's does a container.
    """
    from devtools import serve
    from functions import all_routes
    from shared.app import create_app

    with serve.serve_in_thread(create_app(all_routes())) as url:
        print(url, flush=True)
        sys.stdin.read()


@contextmanager
def app_process(upstash_url: str, jwt_secret: str) -> Iterator[str]:
    """The app in a child process on the stand-in at ``upstash_url``; yields its base URL."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UPSTASH_", "RATE_LIMIT_"))},
        "UPSTASH_REDIS_REST_URL": upstash_url,
        "UPSTASH_REDIS_REST_TOKEN": STANDIN_TOKEN,
        "AUTH_JWT_SECRET": jwt_secret,
        "KEY_PREFIX": "load",
        # Capacity, not limits: the limits stay on (their check is part of every script's
        # cost) but far above what any virtual user sends.
        "RATE_LIMIT_USER_REQUESTS": "100000000",
        "RATE_LIMIT_STREAM_REQUESTS": "100000000",
        # One log line per request would measure the terminal; errors still reach stderr.
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.load", "--serve-app"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the app did not start (exit code {process.poll()})")
        yield _require_loopback(url)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# ------------------------------------------------------------------------------ the run


HEADER = (
    f"{'users':>5}  {'requests':>8}  {'req/s':>7}  {'p50 ms':>7}  {'p99 ms':>7}  "
    f"{'checked':>7}  {'lost':>4}  not 2xx"
)


def row(stats: LevelStats) -> str:
    """One level's line of the table."""
    rate = stats.requests / stats.seconds if stats.seconds else 0.0
    return (
        f"{stats.users:>5}  {stats.requests:>8}  {rate:>7.1f}  {stats.percentile(0.5):>7.1f}  "
        f"{stats.percentile(0.99):>7.1f}  {stats.conversations_checked:>7}  "
        f"{len(stats.lost):>4}  {stats.errors()}"
    )


def _parse_levels(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or any(n < 1 or n > 512 for n in levels):
        raise argparse.ArgumentTypeError("levels are 1-512 users, comma-separated")
    return levels


def main(argv: list[str] | None = None) -> int:
    """Run the load test; the exit code."""
    parser = argparse.ArgumentParser(prog="make load", description=__doc__.split("\n")[0])
    parser.add_argument("--levels", type=_parse_levels, default=list(LEVELS))
    parser.add_argument("--seconds", type=float, default=LEVEL_SECONDS, help="per level")
    parser.add_argument("--deltas", type=int, default=DELTAS, help="streamed deltas per reply")
    parser.add_argument("--max-total-seconds", type=float, default=MAX_TOTAL_SECONDS)
    parser.add_argument("--serve-app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_app:
        serve_app()
        return 0
    from devtools import redis_backend
    from devtools.bench.standin import standin_process

    started = time.monotonic()
    jwt_secret = secrets.token_urlsafe(32)
    run_id = secrets.token_hex(3)
    with redis_backend.private_redis() as redis_url:
        backend = (
            f"redis-server ({shutil.which('redis-server')})"
            if redis_url
            else "fakeredis (no redis-server on PATH)"
        )
        with (
            standin_process(token=STANDIN_TOKEN, redis_url=redis_url, latency_ms=0) as standin,
            app_process(_require_loopback(standin.url), jwt_secret) as app_url,
        ):
            print(f"load: app {app_url} -> Upstash stand-in {standin.url} -> {backend}")
            print(
                f"load: levels {args.levels} users, {args.seconds:g} s each, {args.deltas} "
                f"deltas per reply, rate limits raised; stops after {args.max_total_seconds:g} s"
            )
            print(HEADER, flush=True)
            remaining = args.max_total_seconds - (time.monotonic() - started)
            try:
                failed = asyncio.run(
                    asyncio.wait_for(
                        _levels(app_url, args, jwt_secret, run_id), timeout=max(1.0, remaining)
                    )
                )
            except TimeoutError:
                print(f"load: stopped after {args.max_total_seconds:g} s", flush=True)
                return 2
    print(f"load: {'FAILED' if failed else 'ok'} in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


async def _levels(app_url: str, args: argparse.Namespace, jwt_secret: str, run_id: str) -> bool:
    """Run and print every level; whether any had a 5xx or lost a write."""
    failed = False
    for users in args.levels:
        stats = await run_level(
            app_url,
            users,
            seconds=args.seconds,
            deltas=args.deltas,
            jwt_secret=jwt_secret,
            run_id=run_id,
        )
        print(row(stats), flush=True)
        for problem in stats.lost[:10]:
            print(f"       lost: {problem}", flush=True)
        failed = failed or bool(stats.server_errors or stats.lost)
    return failed


if __name__ == "__main__":
    sys.exit(main())
