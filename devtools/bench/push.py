"""Live pushes measured on loopback: what a write that pushes adds, and what a reply sends.

The API and the local WebSocket API are served as ``make dev`` serves them (one uvicorn, the
stand-in on Redis in-process), push on. A write's added latency is timed with 0, 1 and 5 other
connections of the user listening; a streamed reply is written at a delta every 50 ms while a
second connection watches it, counting the pushes, frames and bytes it receives. Figures only:
loopback has no network in it, so they are the function's own cost, not API Gateway's.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from websockets.sync.client import ClientConnection, connect

from devtools import serve, upstash_local
from devtools.bench.report import percentile

_SECRET = "bench-push-secret-that-is-long-enough-0123456789"  # noqa: S105  (local only)
_TOKEN = "bench-push-standin"  # noqa: S105  (the local stand-in's)
DELTAS = 40
DELTA_INTERVAL_S = 0.05


@dataclass
class PushFigures:
    """What the push section measured."""

    latency_ms: dict[int, tuple[float, float]]
    """Other connections -> (p50, p99) of a write (an append) with push on."""
    reply_pushes: int
    reply_bytes: int
    deltas: int


def measure(redis_url: str | None, iterations: int) -> PushFigures:
    """Run the measurements against a server of its own."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from devtools.websocket_local import LocalWebSocketApi
    from functions import all_routes
    from functions.websocket import handle
    from shared.app import Services, create_app
    from shared.settings import Settings

    standin = upstash_local.create_app(token=_TOKEN, redis_url=redis_url)
    built: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await built["app"](scope, receive, send)

    with (
        serve.serve_in_thread(standin) as standin_url,
        serve.serve_in_thread(app, websockets=True) as url,
    ):
        settings = Settings(
            upstash_redis_rest_url=standin_url,
            upstash_redis_rest_token=_TOKEN,
            auth_jwt_secret=_SECRET,
            websocket_endpoint=url,
            rate_limit_user_requests=0,
            rate_limit_stream_requests=0,
            key_prefix=f"benchpush{int(time.time())}",
        )
        svc = Services.from_settings(settings)
        built["app"] = LocalWebSocketApi(lambda event: handle(event, svc)).wrap(
            create_app(all_routes(), services=svc)
        )
        token = jwt.encode({"sub": "bench"}, _SECRET, algorithm="HS256")
        ws_url = "ws" + url.removeprefix("http") + f"/ws?token={token}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            http.put("/api/conversations/b", json=_conversation("b"))
            latency = {others: _latency(http, ws_url, others, iterations) for others in (0, 1, 5)}
            pushes, size = _reply(http, ws_url)
        built["svc"] = svc
    return PushFigures(latency, pushes, size, DELTAS)


def _latency(http: httpx.Client, ws_url: str, others: int, iterations: int) -> tuple[float, float]:
    # An append's p50 and p99 (ms) while `others` connections of the user listen.
    with ExitStack() as stack:
        sockets = [stack.enter_context(connect(ws_url)) for _ in range(others)]
        for ws in sockets:
            _ping(ws)
        samples = []
        for i in range(iterations):
            body = {"id": f"m{others}-{i}", "type": "user", "content": "hi",
                    "timestamp": "2025-01-01T00:00:00.000Z"}  # fmt: skip
            started = time.perf_counter()
            answer = http.post("/api/conversations/b/messages", json=body)
            samples.append(time.perf_counter() - started)
            assert answer.status_code == 201, answer.text
            for ws in sockets:
                ws.recv(timeout=5)
    return percentile(samples, 50) * 1000, percentile(samples, 99) * 1000


def _reply(http: httpx.Client, ws_url: str) -> tuple[int, int]:
    # The pushes and bytes one watcher receives of a reply streamed at a delta every 50 ms.
    with connect(ws_url) as watcher:
        watcher.send(json.dumps({"type": "watch", "conversationIds": ["s"]}))
        watcher.recv(timeout=5)
        http.put("/api/conversations/s", json=_conversation("s"))
        reply = {"id": "r", "type": "assistant", "content": "", "streaming": True,
                 "timestamp": "2025-01-01T00:00:00.000Z"}  # fmt: skip
        http.post("/api/conversations/s/messages", json=reply)
        for i in range(1, DELTAS + 1):
            patch = {"appendContent": "token " * 3, "sequence": i}
            http.patch("/api/conversations/s/messages/r", json=patch)
            time.sleep(DELTA_INTERVAL_S)
        http.patch("/api/conversations/s/messages/r", json={"streaming": False})
        pushes, size = 0, 0
        while True:
            frame = watcher.recv(timeout=5)
            pushes += 1
            size += len(frame.encode() if isinstance(frame, str) else frame)
            parsed = json.loads(frame)
            if parsed["type"] == "delta" and not parsed["streaming"]:
                return pushes, size


def _ping(ws: ClientConnection) -> None:
    ws.send('{"type":"ping"}')
    ws.recv(timeout=5)


def _conversation(cid: str) -> dict[str, Any]:
    return {"id": cid, "title": cid, "messages": [], "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z", "totalTokens": 0}  # fmt: skip
