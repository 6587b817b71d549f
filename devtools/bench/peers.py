"""Other ways to keep chat history in Upstash, measured beside this project on the same stand-in.

- LangChain's ``UpstashRedisChatMessageHistory`` (langchain-community): one Redis list per
  session, ``LPUSH`` per message, and ``messages`` reads the whole list (``LRANGE 0 -1``).
- LlamaIndex's ``UpstashChatStore`` (llama-index-storage-chat-store-upstash): one list per key,
  ``RPUSH`` per message, ``get_messages`` reads the whole list.
- The Vercel AI chatbot's KV pattern (vercel/ai-chatbot with ``@vercel/kv``), written here with
  ``upstash_redis`` directly: a sorted set ``user:chat:<user>`` of chat keys and one hash
  ``chat:<id>`` per chat whose ``messages`` field holds the whole JSON array. ``saveChat``
  pipelines ``HMSET`` of the whole chat and ``ZADD`` on every turn; ``getChats`` is
  ``ZRANGE 0 -1 REV`` then one pipeline of ``HGETALL`` per chat; ``getChat`` is ``HGETALL``.

Neither library can read only a page or list a user's conversations: "the newest 50" is the
whole history sliced, and listing is measured for the Vercel pattern only. Peers are optional
(the ``bench`` extra): one that cannot be imported or run is reported with the reason.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from upstash_redis.asyncio import Redis as AsyncRedis

from devtools.bench import fixtures
from devtools.bench.api import TARGET, ApiBench, Op
from devtools.bench.report import percentile
from devtools.bench.standin import Reading, Standin

LANGCHAIN = "LangChain UpstashRedisChatMessageHistory"
LLAMAINDEX = "LlamaIndex UpstashChatStore"
VERCEL = "Vercel KV chatbot pattern"
OURS_STORE = "this project: store call"
OURS_API = "this project: API (auth + rate limit)"
LIST_CHATS = 20


@dataclass
class PeerResult:
    """One implementation doing one operation at one history size."""

    implementation: str
    operation: str
    messages: int
    latency: list[float] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    error: str | None = None

    def mean(self, pick: Callable[[Reading], int | None]) -> float | None:
        """Mean per call of one counter; None when not counted."""
        values = [pick(r) for r in self.readings]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None) / len(values)

    def summary(self) -> dict[str, Any]:
        """Per-call figures for tables and the results file."""
        sent, received = self.mean(lambda r: r.bytes_in), self.mean(lambda r: r.bytes_out)
        return {
            "implementation": self.implementation,
            "operation": self.operation,
            "messages": self.messages,
            "samples": len(self.latency),
            "p50_ms": percentile(self.latency, 50) * 1000,
            "p99_ms": percentile(self.latency, 99) * 1000,
            "requests": self.mean(lambda r: r.requests),
            "billed_commands": self.mean(lambda r: r.billed),
            "bytes_sent": sent,
            "bytes_received": received,
            "bytes": None if sent is None or received is None else sent + received,
            "error": self.error,
        }


async def measure(
    standin: Standin,
    result: PeerResult,
    call: Callable[[], Awaitable[object]],
    iterations: int,
    budget_s: float = 15.0,
) -> PeerResult:
    """Call ``call`` after a warm-up call, metering each call on the stand-in."""
    try:
        await call()
        last = standin.read()
        began = time.perf_counter()
        for done in range(iterations):
            if done >= 3 and time.perf_counter() - began > budget_s:
                break
            started = time.perf_counter()
            await call()
            result.latency.append(time.perf_counter() - started)
            now = standin.read()
            result.readings.append(now - last)
            last = now
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:300]
    return result


# ----------------------------------------------------------------------------- LangChain


def langchain_messages(count: int) -> list[str]:
    """``count`` messages as LangChain's history stores them (JSON of ``message_to_dict``)."""
    from langchain_core.messages import AIMessage, HumanMessage, message_to_dict

    out = []
    for i in range(count):
        text = fixtures.message_dict(i)["content"]
        message = HumanMessage(content=text) if i % 2 == 0 else AIMessage(content=text)
        out.append(json.dumps(message_to_dict(message)))
    return out


async def langchain(standin: Standin, sizes: list[int], iterations: int) -> list[PeerResult]:
    """Append one message and read the newest 50 with LangChain's Upstash history."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community warns that it is being sunset
        from langchain_community.chat_message_histories import UpstashRedisChatMessageHistory
        from langchain_core.messages import HumanMessage

    seed = AsyncRedis(standin.url, standin.token, allow_telemetry=False)
    results = []
    try:
        for size in sizes:
            history = UpstashRedisChatMessageHistory(
                session_id=f"lc-{size}", url=standin.url, token=standin.token
            )
            # Bulk-loaded in the library's own format (LPUSH order: newest first).
            await seed.lpush(history.key, *langchain_messages(size))
            text = fixtures.message_dict(0)["content"]

            async def append(h: Any = history, t: str = text) -> None:
                h.add_message(HumanMessage(content=t))

            async def newest(h: Any = history) -> None:
                h.messages[-50:]  # the library reads the whole list (LRANGE 0 -1)

            results.append(
                await measure(
                    standin, PeerResult(LANGCHAIN, "read newest 50", size), newest, iterations
                )
            )
            results.append(
                await measure(
                    standin, PeerResult(LANGCHAIN, "append 1 message", size), append, iterations
                )
            )
            history.redis_client.close()
    finally:
        await seed.close()
    return results


# ----------------------------------------------------------------------------- LlamaIndex


def llamaindex_messages(count: int) -> list[str]:
    """``count`` messages as LlamaIndex's Upstash store keeps them (JSON of ``ChatMessage``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ChatMessage.dict() is deprecated in pydantic 2
        from llama_index.core.llms import ChatMessage

        return [
            json.dumps(
                ChatMessage(
                    role="user" if i % 2 == 0 else "assistant",
                    content=fixtures.message_dict(i)["content"],
                ).dict()
            )
            for i in range(count)
        ]


async def llamaindex(standin: Standin, sizes: list[int], iterations: int) -> list[PeerResult]:
    """Append one message and read the newest 50 with LlamaIndex's Upstash chat store."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from llama_index.core.llms import ChatMessage
        from llama_index.storage.chat_store.upstash import UpstashChatStore

    store = UpstashChatStore(redis_url=standin.url, redis_token=standin.token)
    seed = AsyncRedis(standin.url, standin.token, allow_telemetry=False)
    results = []
    try:
        for size in sizes:
            key = f"li-{size}"
            await seed.rpush(key, *llamaindex_messages(size))
            text = fixtures.message_dict(0)["content"]

            async def append(k: str = key, t: str = text) -> None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await store.async_add_message(k, ChatMessage(role="user", content=t))

            async def newest(k: str = key) -> None:
                (await store.async_get_messages(k))[-50:]

            results.append(
                await measure(
                    standin, PeerResult(LLAMAINDEX, "read newest 50", size), newest, iterations
                )
            )
            results.append(
                await measure(
                    standin, PeerResult(LLAMAINDEX, "append 1 message", size), append, iterations
                )
            )
    finally:
        await store._async_redis_client.close()
        store._sync_redis_client.close()
        await seed.close()
    return results


# ----------------------------------------------------------------------------- Vercel KV


def vercel_messages(count: int) -> list[dict[str, str]]:
    """``count`` messages as the Vercel chatbot keeps them in a chat's ``messages`` field."""
    return [
        {
            "id": f"m{i}",
            "role": "user" if i % 2 == 0 else "assistant",
            "content": fixtures.message_dict(i)["content"],
        }
        for i in range(count)
    ]


class VercelKv:
    """The Vercel AI chatbot's storage, as its ``app/actions.ts`` and chat route did it."""

    def __init__(self, redis: AsyncRedis, user: str) -> None:
        self.redis = redis
        self.user = user

    async def save_chat(self, chat_id: str, messages: list[dict[str, str]]) -> None:
        """``saveChat``: the whole chat, every message included, on every turn."""
        payload = {
            "id": chat_id,
            "title": messages[0]["content"][:100],
            "userId": self.user,
            "createdAt": str(fixtures.EPOCH_MS),
            "path": f"/chat/{chat_id}",
            "messages": json.dumps(messages),
        }
        pipeline = self.redis.pipeline()
        pipeline.hmset(f"chat:{chat_id}", payload)
        pipeline.zadd(f"user:chat:{self.user}", {f"chat:{chat_id}": time.time() * 1000})
        await pipeline.exec()

    async def get_chats(self) -> list[dict[str, Any]]:
        """``getChats``: every chat of the user, whole."""
        keys = await self.redis.zrange(f"user:chat:{self.user}", 0, -1, rev=True)
        pipeline = self.redis.pipeline()
        for key in keys:
            pipeline.hgetall(str(key))
        replies = await pipeline.exec()
        chats: list[dict[str, Any]] = []
        for reply in replies:
            # The SDK turns HGETALL's flat [field, value, ...] reply into a dict.
            chat: dict[str, Any] = (
                dict(reply)
                if isinstance(reply, dict)
                else dict(zip(reply[::2], reply[1::2], strict=True))  # type: ignore[index]
            )
            chat["messages"] = json.loads(chat["messages"])
            chats.append(chat)
        return chats

    async def get_chat(self, chat_id: str) -> dict[str, Any]:
        """``getChat``: one whole chat."""
        chat: dict[str, Any] = await self.redis.hgetall(f"chat:{chat_id}")
        chat["messages"] = json.loads(chat["messages"])
        return chat


async def vercel(standin: Standin, sizes: list[int], iterations: int) -> list[PeerResult]:
    """List 20 chats, read the newest 50 messages and append one, the Vercel KV way."""
    redis = AsyncRedis(standin.url, standin.token, allow_telemetry=False)
    results = []
    try:
        for size in sizes:
            kv = VercelKv(redis, f"vercel-{size}")
            history = vercel_messages(size)
            for i in range(LIST_CHATS):
                await kv.save_chat(f"{size}-{i}", history)
            chat = f"{size}-0"

            async def append(k: VercelKv = kv, c: str = chat, h: list[Any] = history) -> None:
                turn = {"id": "new", "role": "user", "content": fixtures.USER_TEXT}
                await k.save_chat(c, [*h, turn])

            async def newest(k: VercelKv = kv, c: str = chat) -> None:
                (await k.get_chat(c))["messages"][-50:]

            async def listing(k: VercelKv = kv) -> None:
                await k.get_chats()

            for name, call in (
                ("list 20 conversations", listing),
                ("read newest 50", newest),
                ("append 1 message", append),
            ):
                results.append(
                    await measure(standin, PeerResult(VERCEL, name, size), call, iterations)
                )
    finally:
        await redis.close()
    return results


# ----------------------------------------------------------------------------- ours


async def ours(bench: ApiBench, sizes: list[int], iterations: int) -> list[PeerResult]:
    """The same operations on this project: store calls, and the same through the API.

    Reads go first, both ways, so that both read the same page; then the appends.
    """
    results = []
    counter = iter(range(10**9))
    for size in sizes:
        user = f"peers-{size}"
        # Every conversation holds `size` messages; TARGET is the most recent.
        for i, cid in enumerate([*(f"c{i}" for i in range(LIST_CHATS - 1)), TARGET]):
            await bench.store.put_conversation(
                bench.caller(user),
                fixtures.conversation(cid, size, updated_ms=fixtures.EPOCH_MS + i),
            )

        async def append(u: str = user) -> None:
            message = fixtures.message(0, prefix="x").model_copy(update={"id": f"n{next(counter)}"})
            await bench.store.append_message(bench.caller(u), TARGET, message)

        async def newest(u: str = user) -> None:
            await bench.store.get_conversation(bench.caller(u), TARGET, limit=50, before=None)

        async def listing(u: str = user) -> None:
            await bench.store.list_conversations(bench.caller(u), limit=LIST_CHATS, cursor=None)

        api_ops = _api_ops(bench, user)
        for name, call in (("list 20 conversations", listing), ("read newest 50", newest)):
            results.append(
                await measure(bench.standin, PeerResult(OURS_STORE, name, size), call, iterations)
            )
        for op in api_ops[:2]:
            results.append(await _measure_api(bench, op, size, iterations))
        results.append(
            await measure(
                bench.standin, PeerResult(OURS_STORE, "append 1 message", size), append, iterations
            )
        )
        results.append(await _measure_api(bench, api_ops[2], size, iterations))
    return results


def _api_ops(bench: ApiBench, user: str) -> list[Op]:
    counter = iter(range(10**9))

    async def append() -> Any:
        body = fixtures.message_dict(0, prefix="x") | {"id": f"api{next(counter)}"}
        return await bench.send("POST", f"/api/conversations/{TARGET}/messages", user, body=body)

    return [
        Op(
            "list 20 conversations",
            lambda: bench.send("GET", f"/api/conversations?limit={LIST_CHATS}", user),
        ),
        Op(
            "read newest 50",
            lambda: bench.send("GET", f"/api/conversations/{TARGET}?limit=50", user),
        ),
        Op("append 1 message", append, expect=(201,)),
    ]


async def _measure_api(bench: ApiBench, op: Op, size: int, iterations: int) -> PeerResult:
    measured = await bench.measure(op, iterations)
    return PeerResult(OURS_API, op.name, size, latency=measured.latency, readings=measured.readings)
