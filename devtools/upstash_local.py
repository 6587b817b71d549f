"""A local stand-in for Upstash Redis's REST API, in front of a real Redis or fakeredis.

Upstash's own stand-in (serverless-redis-http) needs Docker and Elixir, which we cannot run in CI or
on a laptop without setup. This module is a small ASGI app that speaks the same wire protocol, so
the real ``upstash_redis`` clients (sync and asyncio) and ``upstash_ratelimit`` work unchanged
against it. The rules it follows come from the team's notes on Upstash's REST protocol
(``upstash-rest.md``, gathered from the SDK source, Upstash's docs and serverless-redis-http); each
is summarised where it is implemented.

Routes, all ``POST`` (duplicate slashes are folded, so the SDK's ``http://h//pipeline`` works):

- ``/``: one command, ``["SET", "k", "v"]`` -> ``{"result": "OK"}`` or 400 ``{"error": "..."}``.
- ``/pipeline``: a list of commands run in order, not atomically -> a list of ``{"result"}`` /
  ``{"error"}``.
- ``/multi-exec``: the same, wrapped in MULTI/EXEC on one dedicated connection; a transaction that
  Redis discards whole gives one top-level 400 ``{"error"}``.

Typical use::

    app = create_app(token="dev-token")            # fakeredis in-process
    with serve_in_thread(app) as url:              # devtools.serve
        redis = upstash_redis.Redis(url, "dev-token", rest_retries=0)

The app can also be mounted under a sub-path of a Starlette app (``Mount("/__upstash", app=...)``);
point the SDK at ``http://host/__upstash/`` (with the trailing slash, since Starlette redirects
``POST /__upstash`` and the SDK does not follow redirects) and close it from the parent's lifespan,
e.g. ``Starlette(routes=[...], lifespan=app.lifespan)``.

It is a development tool: one process, no persistence of its own, no TLS, no rate limits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

__all__ = [
    "AUTH_ERROR",
    "MAX_REQUEST_BYTES",
    "Stats",
    "UpstashLocal",
    "create_app",
    "rewrite_script",
]

# ASGI types, spelled out so that this module needs nothing from Starlette.
Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]

#: What the SDK can decode: strings, integers, null, and nested lists of those.
JSONResult: TypeAlias = str | int | list["JSONResult"] | None
#: The arguments of one command as sent to Redis.
Args: TypeAlias = tuple[bytes, ...]

#: Upstash refuses requests above 10 MB.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: Upstash's answer (401) to a missing or wrong token; the SDK only reads the ``error`` key.
AUTH_ERROR = "WRONGPASS invalid or missing auth token"
_SIZE_ERROR = "ERR max request size exceeded"

# Commands that a pool of shared connections cannot honour: they block a connection, or they
# change per-connection state that the next request (served by any connection) would inherit.
_BLOCKING = frozenset(
    {
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BLMOVE",
        "BLMPOP",
        "BZPOPMIN",
        "BZPOPMAX",
        "BZMPOP",
        "WAIT",
        "WAITAOF",
    }
)
_CONNECTION_STATE = frozenset(
    {
        # Transactions are only available through /multi-exec.
        "WATCH",
        "UNWATCH",
        "DISCARD",
        "MULTI",
        "EXEC",
        # Connection commands (PING and ECHO are harmless and allowed).
        "AUTH",
        "CLIENT",
        "HELLO",
        "QUIT",
        "RESET",
        "SELECT",
        "READONLY",
        "READWRITE",
        # These turn the connection into a push channel.
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
        "MONITOR",
        "SYNC",
        "PSYNC",
    }
)

# Commands that never change data. Anything else counts as a write and moves the sync token; an
# unnecessary move is harmless (the SDK just sends the new token back), a missing one is not.
_READ_ONLY = frozenset(
    {
        "BITCOUNT",
        "BITFIELD_RO",
        "BITPOS",
        "DBSIZE",
        "DUMP",
        "ECHO",
        "EVAL_RO",
        "EVALSHA_RO",
        "EXISTS",
        "EXPIRETIME",
        "FCALL_RO",
        "GEODIST",
        "GEOHASH",
        "GEOPOS",
        "GEORADIUS_RO",
        "GEORADIUSBYMEMBER_RO",
        "GEOSEARCH",
        "GET",
        "GETBIT",
        "GETRANGE",
        "HEXISTS",
        "HGET",
        "HGETALL",
        "HKEYS",
        "HLEN",
        "HMGET",
        "HRANDFIELD",
        "HSCAN",
        "HSTRLEN",
        "HVALS",
        "INFO",
        "JSON.ARRLEN",
        "JSON.GET",
        "JSON.MGET",
        "JSON.OBJKEYS",
        "JSON.OBJLEN",
        "JSON.STRLEN",
        "JSON.TYPE",
        "KEYS",
        "LCS",
        "LINDEX",
        "LLEN",
        "LPOS",
        "LRANGE",
        "MGET",
        "PEXPIRETIME",
        "PFCOUNT",
        "PING",
        "PTTL",
        "RANDOMKEY",
        "SCAN",
        "SCARD",
        "SDIFF",
        "SINTER",
        "SINTERCARD",
        "SISMEMBER",
        "SMEMBERS",
        "SMISMEMBER",
        "SORT_RO",
        "SRANDMEMBER",
        "SSCAN",
        "STRLEN",
        "SUBSTR",
        "SUNION",
        "TIME",
        "TTL",
        "TYPE",
        "XLEN",
        "XPENDING",
        "XRANGE",
        "XREAD",
        "XREVRANGE",
        "ZCARD",
        "ZCOUNT",
        "ZDIFF",
        "ZINTER",
        "ZINTERCARD",
        "ZLEXCOUNT",
        "ZMSCORE",
        "ZRANDMEMBER",
        "ZRANGE",
        "ZRANGEBYLEX",
        "ZRANGEBYSCORE",
        "ZRANK",
        "ZREVRANGE",
        "ZREVRANGEBYLEX",
        "ZREVRANGEBYSCORE",
        "ZREVRANK",
        "ZSCAN",
        "ZSCORE",
        "ZUNION",
    }
)

# Script flags that only Upstash understands; redis-server 7 rejects a shebang naming them.
_UPSTASH_ONLY_FLAGS = frozenset({b"allow-key-locking"})


@dataclass
class Stats:
    """Counters for benchmarks: what crossed the HTTP boundary."""

    requests: int = 0
    """HTTP requests answered, on any route and with any status."""
    commands: int = 0
    """Top-level commands received; each command of a pipeline or transaction counts."""
    bytes_in: int = 0
    """Request body bytes received."""
    bytes_out: int = 0
    """Response body bytes sent."""

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.requests = self.commands = self.bytes_in = self.bytes_out = 0


class _BadRequest(Exception):
    """A request we answer with 400 before anything reaches Redis."""


@dataclass(frozen=True)
class _Command:
    """One client command, translated for the backend."""

    name: str
    """Upper-cased command name, for the checks below."""
    args: Args
    """What is sent to Redis (Lua scripts and SHA1s already rewritten)."""
    refusal: str | None = None
    """Set when the command must not reach Redis: the error text to answer with."""
    sha_swap: tuple[bytes, bytes] | None = None
    """(backend SHA1, client SHA1) when a rewritten script is involved, to hide the rewrite."""
    swap_result: bool = False
    """Whether the reply itself is the backend SHA1 (SCRIPT LOAD)."""


def create_app(
    *, token: str, redis_url: str | None = None, latency_ms: float = 0.0
) -> UpstashLocal:
    """Build the stand-in.

    :param token: the bearer token clients must send (``UPSTASH_REDIS_REST_TOKEN``).
    :param redis_url: a ``redis://`` URL of the backend; ``None`` uses an in-process fakeredis.
    :param latency_ms: extra delay per HTTP request, to simulate the network round trip to Upstash.
    """
    return UpstashLocal(token=token, redis_url=redis_url, latency_ms=latency_ms)


def rewrite_script(script: bytes, *, keep_shebang: bool) -> bytes:
    """Make a script with an Upstash shebang (``#!lua flags=allow-key-locking``) runnable locally.

    With ``keep_shebang`` (redis-server 7), only the flags Redis does not know are dropped, so Redis
    flags such as ``no-writes`` keep their meaning. Without it (fakeredis, whose Lua loader rejects
    any ``#!`` line) the line becomes a Lua comment. Either way the line count is unchanged, so
    line numbers in error messages still match the client's script.
    """
    if not script.startswith(b"#!"):
        return script
    first, newline, rest = script.partition(b"\n")
    if not keep_shebang:
        return b"-- " + first + newline + rest
    words = []
    for word in first.split():
        if word.startswith(b"flags="):
            flags = [f for f in word[6:].split(b",") if f and f not in _UPSTASH_ONLY_FLAGS]
            if not flags:
                continue
            word = b"flags=" + b",".join(flags)  # noqa: PLW2901 (rebuilding the word is the point)
        words.append(word)
    return b" ".join(words) + newline + rest


def _sha1_hex(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest().encode()


def _error_text(exc: RedisError) -> str:
    """Rebuild the full error line Redis sent (``WRONGTYPE ...``, ``NOSCRIPT ...``, ``ERR ...``).

    redis-py (and fakeredis, which reuses its parser) strips a known error code from the message
    and keeps it in ``status_code``; unknown codes such as WRONGTYPE stay in the message. The
    ``startswith`` guard keeps a future redis-py that also fills ``status_code`` for those from
    doubling the prefix. (redis-py releases without ``status_code`` would lose the ``ERR``.)
    """
    message = str(exc)
    code = getattr(exc, "status_code", None)
    if not code or message == code or message.startswith(f"{code} "):
        return message
    return f"{code} {message}" if message else str(code)


def _encode_result(reply: object, base64_encoding: bool) -> JSONResult:
    """Turn a RESP2 reply into what the SDK decodes.

    With ``Upstash-Encoding: base64`` every string at every depth is base64 (status replies such
    as ``OK`` too); without it, UTF-8 with invalid bytes replaced. Integers and null are unchanged.
    RESP2 has no floats, but the SDK's decoder raises on one, so any that slipped through would be
    sent as text.
    """
    if isinstance(reply, bool):  # before int: bool is an int subclass
        return int(reply)
    if isinstance(reply, int) or reply is None:
        return reply
    if isinstance(reply, list | tuple):
        return [_encode_result(item, base64_encoding) for item in reply]
    if isinstance(reply, bytes):
        raw = reply
    elif isinstance(reply, RedisError):  # an error nested in a script's table
        raw = _error_text(reply).encode()
    else:  # str or float
        raw = str(reply).encode()
    if base64_encoding:
        return base64.b64encode(raw).decode("ascii")
    return raw.decode("utf-8", errors="replace")


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _route(scope: Scope) -> str:
    """Return the request path relative to where the app is mounted, with slashes folded.

    Starlette's ``Mount`` keeps the full ``path`` and records the prefix in ``root_path``; older
    servers and frameworks strip it. Both are handled.
    """
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return "/" + "/".join(part for part in path.split("/") if part)


def _parse_body(body: bytes) -> object:
    """Parse JSON, keeping every number as its literal text.

    Redis wants ``1.5`` or ``1e+20`` exactly as the client wrote them (ZADD scores, EVAL numkeys);
    a round trip through float would turn ``1e+20`` into ``1e20`` and lose precision on others.
    """
    try:
        return json.loads(body, parse_int=str, parse_float=str, parse_constant=str)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _BadRequest(f"ERR failed to parse request body as JSON: {exc}") from exc


def _command_args(raw: object) -> Args:
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("ERR a command must be a non-empty JSON array")
    args = []
    for item in raw:
        if isinstance(item, bool):  # json true/false: their literal text, like numbers
            args.append(b"true" if item else b"false")
        elif isinstance(item, str):  # numbers arrive here as their literal text too
            args.append(item.encode("utf-8", errors="surrogatepass"))
        else:
            raise _BadRequest(
                "ERR command arguments must be strings, numbers or booleans, "
                f"got {json.dumps(item)[:100]}"
            )
    return tuple(args)


def _refusal(name: str, args: Args) -> str | None:
    blocking = name in _BLOCKING
    if name in {"XREAD", "XREADGROUP"}:
        options = [arg.upper() for arg in args[1:]]
        streams_at = options.index(b"STREAMS") if b"STREAMS" in options else len(options)
        blocking = b"BLOCK" in options[:streams_at]
    if blocking or name in _CONNECTION_STATE:
        return f"ERR Command is not available: '{name.lower()}'"
    return None


class UpstashLocal:
    """The ASGI app. Build it with :func:`create_app`.

    Backend connections live in the event loop that first used them. :meth:`aclose` (also run on
    ASGI lifespan shutdown, and by :meth:`lifespan`) releases them; the app stays usable afterwards
    and reconnects lazily, which lets one app be served by several short-lived servers in turn.
    """

    def __init__(self, *, token: str, redis_url: str | None, latency_ms: float) -> None:
        """See :func:`create_app`."""
        if not token:
            raise ValueError("token must not be empty")
        self.stats = Stats()
        self._token = token.encode()
        self._redis_url = redis_url
        self._latency_s = latency_ms / 1000
        self._fake_server: Any = None
        if redis_url is None:
            import fakeredis  # a dev extra, only needed for this backend

            # One server per app: its data outlives the per-loop clients below.
            self._fake_server = fakeredis.FakeServer()
        self._client: aioredis.Redis | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        # Client-visible SHA1 of a rewritten script -> SHA1 of what the backend actually holds.
        self._script_shas: dict[bytes, bytes] = {}
        self._writes = 0

    # ----------------------------------------------------------------- backend

    def _new_client(self) -> aioredis.Redis:
        # RESP2 is what Upstash speaks: redis-py 8 and fakeredis default to RESP3 (maps, doubles),
        # which would give HGETALL and ZRANGE WITHSCORES shapes the SDK does not expect.
        if self._redis_url is None:
            import fakeredis

            client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=self._fake_server, protocol=2)
            return client
        return aioredis.Redis.from_url(self._redis_url, protocol=2)

    def _pool(self) -> aioredis.ConnectionPool:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # Connections cannot move between event loops; a new loop gets a new client. The old
            # one was closed by aclose() when its server shut down.
            self._client = self._new_client()
            self._client_loop = loop
        return self._client.connection_pool

    async def aclose(self) -> None:
        """Close the backend connections (call it in the event loop that served requests)."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
            await client.connection_pool.disconnect()
            await client.aclose()

    @asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """Lifespan for a parent Starlette app that mounts this one: closes it on shutdown."""
        try:
            yield
        finally:
            await self.aclose()

    async def _roundtrip(self, commands: Sequence[Args]) -> list[object]:
        """Send commands pipelined on one pooled connection; return one reply per command.

        Error replies come back as ``ResponseError`` instances in the list, not raised, so one
        failing command does not hide the replies of the others.
        """
        if not commands:
            return []
        pool = self._pool()
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # unannotated upstream
        try:
            await conn.send_packed_command(conn.pack_commands(commands))
            replies: list[object] = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            # Half-read replies (a cancelled request, a dropped socket) must not reach the next
            # request that borrows this connection.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        return replies

    # ---------------------------------------------------------------- commands

    def _prepare(self, raw: object) -> _Command:
        args = _command_args(raw)
        name = args[0].decode("utf-8", errors="replace").upper()
        refusal = _refusal(name, args)
        if refusal is not None:
            return _Command(name, args, refusal=refusal)
        keep_shebang = self._redis_url is not None
        # Lua: Upstash's shebang flag is rewritten away, and the client keeps seeing the SHA1 of
        # its original text, so SCRIPT LOAD / EVALSHA / SCRIPT EXISTS work as on Upstash.
        if name in {"EVAL", "EVAL_RO"} and len(args) > 1:
            script = rewrite_script(args[1], keep_shebang=keep_shebang)
            if script != args[1]:
                swap = self._remember_script(args[1], script)
                return _Command(name, (args[0], script, *args[2:]), sha_swap=swap)
        elif name in {"EVALSHA", "EVALSHA_RO"} and len(args) > 1:
            client_sha = args[1].lower()
            backend_sha = self._script_shas.get(client_sha, client_sha)
            mapped = (backend_sha, client_sha) if backend_sha != client_sha else None
            return _Command(name, (args[0], backend_sha, *args[2:]), sha_swap=mapped)
        elif name == "SCRIPT" and len(args) > 1:
            sub = args[1].upper()
            if sub == b"LOAD" and len(args) == 3:
                script = rewrite_script(args[2], keep_shebang=keep_shebang)
                if script != args[2]:
                    swap = self._remember_script(args[2], script)
                    return _Command(name, (*args[:2], script), sha_swap=swap, swap_result=True)
            elif sub == b"EXISTS":
                shas = tuple(self._script_shas.get(a.lower(), a) for a in args[2:])
                return _Command(name, (*args[:2], *shas))
            elif sub == b"FLUSH":
                self._script_shas.clear()
        return _Command(name, args)

    def _remember_script(self, original: bytes, rewritten: bytes) -> tuple[bytes, bytes]:
        client_sha, backend_sha = _sha1_hex(original), _sha1_hex(rewritten)
        self._script_shas[client_sha] = backend_sha
        return backend_sha, client_sha

    @staticmethod
    def _outcome(command: _Command, reply: object, base64_encoding: bool) -> dict[str, JSONResult]:
        """Build the ``{"result": ...}`` or ``{"error": ...}`` entry for one command's reply."""
        if isinstance(reply, RedisError):
            text = _error_text(reply)
            if command.sha_swap is not None:  # error messages name the script by its SHA1
                text = text.replace(command.sha_swap[0].decode(), command.sha_swap[1].decode())
            return {"error": text}
        if command.swap_result and command.sha_swap is not None and reply == command.sha_swap[0]:
            reply = command.sha_swap[1]
        return {"result": _encode_result(reply, base64_encoding)}

    def _note_writes(self, commands: Sequence[_Command]) -> None:
        if any(c.refusal is None and c.name not in _READ_ONLY for c in commands):
            self._writes += 1

    async def _run_single(self, body: object, b64: bool) -> tuple[int, object]:
        command = self._prepare(body)
        self.stats.commands += 1
        if command.refusal is not None:
            return 400, {"error": command.refusal}
        self._note_writes([command])
        (reply,) = await self._roundtrip([command.args])
        outcome = self._outcome(command, reply, b64)
        return (400 if "error" in outcome else 200), outcome

    async def _run_pipeline(self, body: object, b64: bool) -> tuple[int, object]:
        commands = self._prepare_batch(body)
        self._note_writes(commands)
        # Refused commands are answered in their slot; the rest still run, in order.
        runnable = [c for c in commands if c.refusal is None]
        replies = iter(await self._roundtrip([c.args for c in runnable]))
        results = [
            {"error": c.refusal} if c.refusal is not None else self._outcome(c, next(replies), b64)
            for c in commands
        ]
        return 200, results

    async def _run_multi_exec(self, body: object, b64: bool) -> tuple[int, object]:
        commands = self._prepare_batch(body)
        refused = next((c for c in commands if c.refusal is not None), None)
        if refused is not None:  # nothing is queued, so nothing runs: like a queueing error
            return 400, {"error": refused.refusal}
        if not commands:
            return 200, []
        self._note_writes(commands)
        # One connection, held for the whole exchange, so MULTI ... EXEC cannot interleave with
        # other requests. Queueing errors make Redis discard the transaction at EXEC.
        replies = await self._roundtrip([(b"MULTI",), *(c.args for c in commands), (b"EXEC",)])
        exec_reply = replies[-1]
        if isinstance(exec_reply, RedisError):  # EXECABORT: discarded whole
            return 400, {"error": _error_text(exec_reply)}
        if not isinstance(exec_reply, list):  # nil: only WATCH can cause it, and it is refused
            return 400, {"error": "EXECABORT Transaction discarded"}
        return 200, [self._outcome(c, r, b64) for c, r in zip(commands, exec_reply, strict=True)]

    def _prepare_batch(self, body: object) -> list[_Command]:
        if not isinstance(body, list):
            raise _BadRequest("ERR a pipeline must be a JSON array of commands")
        self.stats.commands += len(body)
        return [self._prepare(raw) for raw in body]

    # -------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (HTTP requests and lifespan events)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Close connections while their event loop is still running.
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._latency_s > 0:
            await asyncio.sleep(self._latency_s)
        # Read the whole body first, even when the answer will be an error: a server that answers
        # before the client has finished sending makes the client see a broken connection.
        body, too_big = await self._read_body(receive)
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        route = _route(scope)

        if route not in {"/", "/pipeline", "/multi-exec"}:
            await self._send_json(send, 404, {"error": f"ERR unknown endpoint: {route}"})
            return
        if scope.get("method") != "POST":
            await self._send_json(send, 405, {"error": "ERR only POST is supported"})
            return
        if not self._authorised(headers.get(b"authorization", b"")):
            await self._send_json(send, 401, {"error": AUTH_ERROR})
            return
        if too_big:
            await self._send_json(send, 400, {"error": _SIZE_ERROR})
            return

        b64 = headers.get(b"upstash-encoding", b"").lower() == b"base64"
        run = {
            "/": self._run_single,
            "/pipeline": self._run_pipeline,
            "/multi-exec": self._run_multi_exec,
        }[route]
        try:
            status, payload = await run(_parse_body(body), b64)
        except _BadRequest as exc:
            status, payload = 400, {"error": str(exc)}
        except RedisError as exc:  # the backend is down or dropped the connection
            status, payload = 500, {"error": f"ERR backend error: {_error_text(exc)}"}
        await self._send_json(send, status, payload, sync_token=str(self._writes))

    def _authorised(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._token)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        """Read the request body, keeping at most MAX_REQUEST_BYTES of it in memory."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_REQUEST_BYTES:
                chunks.append(chunk)
            else:
                chunks.clear()  # keep draining, but stop storing
            if not message.get("more_body", False):
                break
        self.stats.bytes_in += size
        return b"".join(chunks), size > MAX_REQUEST_BYTES

    async def _send_json(
        self, send: Send, status: int, payload: object, sync_token: str | None = None
    ) -> None:
        body = _json_bytes(payload)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if sync_token is not None:
            # Upstash's read-your-writes token; the SDK sends back the last one it saw.
            headers.append((b"upstash-sync-token", sync_token.encode()))
        # Counted before sending: a client in another thread may look as soon as it has the reply.
        self.stats.requests += 1
        self.stats.bytes_out += len(body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
