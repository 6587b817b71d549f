"""Realistic writes under every fault Upstash can show, checked against a ledger.

Eight users each keep a conversation: create it, append ten messages, stream a reply in ten
pieces and finish it, stream another into its parts as an AI SDK route does (reasoning, a tool
call through two states, text in ten pieces, finished with metadata), rename it, archive it,
delete a message, import another, half of them with an Idempotency-Key and half without.
Between the API (served over HTTP, one container) and the stand-in, the fault proxy loses
answers after the script ran, resets connections, holds requests past the client's timeout
(they arrive after their re-send), makes Upstash forget its scripts, answers every refusal text
Upstash sends, and stops listening for a second, which opens the circuit breaker. The users act
like the TypeScript client: they wait out 503 and 429, re-send a keyed write with its key, and
read back what a 503 left unknown.

Then, past the proxy: every acknowledged write is there once (each write moves the version by
one, so the versions count them), nothing came back 500, every key has a TTL, the totals agree,
and the breaker opened and closed again. Fixed seed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from upstash_redis import Redis

from devtools import serve
from devtools.fault_proxy import Fault, FaultProxy
from functions import all_routes
from shared.app import Services, create_app
from shared.settings import Settings
from shared.upstash_replies import REFUSALS
from tests.factories import (
    Standin,
    auth,
    conversation,
    make_settings,
    message,
)

SEED = 20261207
# How long a held request is held: past the API's timeout (0.3 s), so it arrives after its
# re-send.
STALL_S = 0.5
USERS = 8
MESSAGES = 10
PIECES = 10
# Per Upstash request: the fault drawn for it (the rest go through untouched). Every refusal
# but those that say the request was too large (413, final: these requests are small).
RATES: list[tuple[float, Fault]] = [
    (0.05, Fault("lose_answer")),
    (0.03, Fault("reset")),
    (0.02, Fault("stall", seconds=STALL_S)),
    (0.01, Fault("noscript")),
    *(
        (
            0.004,
            Fault("reply", status=401 if row.kind == "misconfigured" else 400, text=row.example),
        )
        for row in REFUSALS
        if row.kind not in ("noscript", "bug", "too_large")
    ),
]
# The users wait out Retry-After, but no longer than this (a plan limit says 60 s).
LONGEST_WAIT_S = 0.2
# How long a user keeps sending a request that is answered 503 or 429, as a client would: time,
# not attempts, so a slow machine (every Upstash call near the API's 0.3 s timeout, the breaker
# opening again and again) gets the same patience as a fast one.
PATIENCE_S = 30.0


@dataclass
class Ledger:
    """What the API told the users, and what they know was written."""

    statuses: list[int] = field(default_factory=list)
    unknown: int = 0
    """503s that said a write may have been applied (read back to learn which)."""


class User:
    """One user acting as the TypeScript client does."""

    def __init__(self, http: httpx.AsyncClient, n: int, ledger: Ledger) -> None:
        self.http = http
        self.name = f"user{n}"
        self.keyed = n % 2 == 0
        self.ledger = ledger
        self.rng = random.Random(SEED + n)
        self.version = 0
        self.pieces: list[str] = []

    async def send(
        self, method: str, path: str, body: Any = None, *, keyed: bool | None = None
    ) -> httpx.Response | None:
        """The answer to one request (retried as the client does), or None: may be applied."""
        key = f"{self.name}-{self.rng.getrandbits(64):x}" if keyed or self.keyed else None
        headers = auth(self.name) | ({"Idempotency-Key": key} if key else {})
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        while asyncio.get_running_loop().time() < deadline:
            answer = await self.http.request(method, path, json=body, headers=headers)
            self.ledger.statuses.append(answer.status_code)
            if answer.status_code not in (429, 503):
                return answer
            if key is None and "may have been applied" in answer.json()["detail"]:
                self.ledger.unknown += 1
                return None
            await asyncio.sleep(min(float(answer.headers["retry-after"]), LONGEST_WAIT_S))
        raise AssertionError(f"{method} {path}: no answer in {PATIENCE_S} s")

    async def read(self, path: str) -> httpx.Response:
        """A read, retried until it is answered."""
        answer = await self.send("GET", path, keyed=False)
        assert answer is not None
        return answer

    async def write(self, method: str, path: str, body: Any, ok: int) -> None:
        """One write, applied once.

        Answered ``ok`` with the next version; or, when the API could not learn its outcome,
        read back and sent again if it was not applied.
        """
        while True:
            answer = await self.send(method, path, body)
            if answer is not None:
                assert answer.status_code == ok, (method, path, answer.status_code, answer.text)
                self.version += 1
                if "etag" in answer.headers:
                    assert answer.headers["etag"] == f'"{self.version}"', (method, path)
                return
            # Read back once no attempt can still be on its way (the proxy holds one at most
            # STALL_S), else a re-send could race it.
            await asyncio.sleep(2 * STALL_S)
            stored = await self.read(f"/api/conversations/{self.name}-c")
            version = 0
            if stored.status_code == 200:
                # The tag's digits: a reply gone stale under the faults adds an 'i' to them.
                version = int(stored.headers["etag"].strip('"').rstrip("i"))
            assert version in (self.version, self.version + 1), (method, path, version)
            if version == self.version + 1:
                self.version = version
                return

    async def stream_parts(self, messages: str) -> None:
        """A reply as an AI SDK route stores it: reasoning, a tool call, then text, finished."""
        reply = {**message("r2", "", "assistant", streaming=True), "parts": []}
        del reply["content"]
        await self.write("POST", messages, reply, 201)
        changes: list[list[dict[str, Any]]] = [[{"append": "thinking", "type": "reasoning"}]]
        tool = {"type": "tool-search", "toolCallId": "t1", "input": {"q": self.name}}
        changes.append([{"part": {**tool, "state": "input-available"}}])
        changes.append([{"part": {**tool, "state": "output-available", "output": {"n": 1}}}])
        changes += [[{"append": f"part {k}; ", "type": "text"}] for k in range(PIECES)]
        for sequence, change in enumerate(changes, 1):
            body = {"partChanges": change, "sequence": sequence}
            await self.write("PATCH", f"{messages}/r2", body, 200)
        finish = {"streaming": False, "metadata": {"model": "m", "user": self.name}}
        await self.write("PATCH", f"{messages}/r2", finish, 200)

    async def act(self) -> None:
        cid = f"{self.name}-c"
        base = f"/api/conversations/{cid}"
        await self.write("PUT", base, conversation(cid), 201)
        for j in range(2, 2 + MESSAGES):
            await self.write("POST", f"{base}/messages", message(f"m{j}", f"text {j}"), 201)
        reply = message("r1", "", "assistant", streaming=True)
        await self.write("POST", f"{base}/messages", reply, 201)
        for k in range(PIECES):
            piece = f"piece {k}; "
            await self.write("PATCH", f"{base}/messages/r1", {"appendContent": piece}, 200)
            self.pieces.append(piece)
        await self.write("PATCH", f"{base}/messages/r1", {"streaming": False}, 200)
        await self.stream_parts(f"{base}/messages")
        await self.write("PATCH", base, {"title": f"Title {self.name}"}, 200)
        await self.write("PATCH", base, {"archived": True}, 200)
        await self.write("DELETE", f"{base}/messages/m2", None, 204)
        # An import, judged by what it reports rather than by a version.
        other = f"{self.name}-x"
        body = {"conversations": [conversation(other)]}
        while True:
            answer = await self.send("POST", "/api/import", body)
            if answer is not None:
                assert answer.status_code == 200, answer.text
                assert answer.json()["imported"] == 1, answer.text
                break
            await asyncio.sleep(2 * STALL_S)
            if (await self.read(f"/api/conversations/{other}")).status_code == 200:
                break

    async def check(self) -> None:
        cid = f"{self.name}-c"
        stored = await self.read(f"/api/conversations/{cid}")
        assert stored.status_code == 200
        assert stored.headers["etag"] == f'"{self.version}"'
        body = stored.json()
        ids = ["m0", "m1", *(f"m{j}" for j in range(3, 2 + MESSAGES)), "r1", "r2"]
        assert [m["id"] for m in body["messages"]] == ids
        reply = body["messages"][-2]
        assert reply["content"] == "".join(self.pieces)
        assert reply.get("streaming") is not True
        text = "".join(f"part {k}; " for k in range(PIECES))
        assert body["messages"][-1]["content"] == text
        assert body["messages"][-1]["parts"] == [
            {"type": "reasoning", "text": "thinking", "state": "done"},
            {
                "type": "tool-search",
                "toolCallId": "t1",
                "input": {"q": self.name},
                "state": "output-available",
                "output": {"n": 1},
            },
            {"type": "text", "text": text, "state": "done"},
        ]
        assert body["messages"][-1]["metadata"] == {"model": "m", "user": self.name}
        assert body["title"] == f"Title {self.name}"
        assert body["archived"] is True
        for m in body["messages"][2:-2]:
            assert m["content"] == f"text {m['id'][1:]}"
        me = (await self.read("/api/me")).json()
        assert me["conversationCount"] == 2
        assert me["messageCount"] == len(ids) + 2


@pytest.fixture
def chaos_settings(standin: Standin) -> Settings:
    return make_settings(
        standin,
        upstash_retries=1,
        upstash_retry_interval_seconds=0,
        upstash_timeout_seconds=0.3,
        upstash_breaker_failures=3,
        upstash_breaker_open_seconds=0.3,
        upstash_breaker_max_open_seconds=1.0,
        rate_limit_user_requests=100_000,
        rate_limit_stream_requests=100_000,
    )


def _serve(settings: Settings) -> Any:
    """Serve every route on one container's services, closing its Upstash client at the end."""
    services = Services.from_settings(settings)
    app = create_app(all_routes(), services=services)

    async def closing(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await services.upstash.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    return serve.serve_in_thread(closing)


async def _load(url: str, fault_proxy: FaultProxy, ledger: Ledger) -> list[User]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        users = [User(http, n, ledger) for n in range(USERS)]
        fault_proxy.randomly(SEED, RATES)

        async def outage() -> None:
            await asyncio.sleep(1.0)
            fault_proxy.inject(Fault("outage", seconds=1.0))

        await asyncio.gather(outage(), *(user.act() for user in users))
        fault_proxy.calm()
    return users


async def _check(url: str, users: list[User]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for user in users:
            user.http = http
            await user.check()


def test_every_acknowledged_write_is_stored_once_under_faults(
    chaos_settings: Settings,
    fault_proxy: FaultProxy,
    standin: Standin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = Ledger()
    through_proxy = chaos_settings.model_copy(update={"upstash_redis_rest_url": fault_proxy.url})
    with caplog.at_level(logging.WARNING, logger="shared.upstash"), _serve(through_proxy) as url:
        users = asyncio.run(_load(url, fault_proxy, ledger))
    with _serve(chaos_settings) as url:  # past the proxy
        asyncio.run(_check(url, users))

    assert 500 not in ledger.statuses
    faults = [e.fault.kind for e in fault_proxy.events if e.fault is not None]
    for kind in ("lose_answer", "reset", "stall", "noscript", "reply", "outage"):
        assert kind in faults, f"no {kind} was injected: the load is too small for the rates"
    logged = [r.getMessage() for r in caplog.records]
    assert any("circuit breaker open" in line for line in logged)
    assert any("circuit breaker closed" in line for line in logged)

    with Redis(standin.url, standin.token, rest_retries=0, allow_telemetry=False) as raw:
        keys = raw.keys(f"{chaos_settings.key_prefix}:*")
        assert keys
        untimed = [key for key in keys if raw.pttl(key) < 0]
    assert untimed == []
    print(
        json.dumps(
            {
                "requests to Upstash": len(fault_proxy.events),
                "faults": {kind: faults.count(kind) for kind in sorted(set(faults))},
                "API answers": {
                    str(s): ledger.statuses.count(s) for s in sorted(set(ledger.statuses))
                },
                "outcomes read back": ledger.unknown,
            }
        )
    )
