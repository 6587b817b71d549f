"""A local stand-in for Upstash Redis's REST API, in front of a real Redis or fakeredis.

Upstash's own stand-in (serverless-redis-http) needs Docker and Elixir, which we cannot run in CI or
on a laptop without setup. This module is a small ASGI app that speaks the same wire protocol, so
the real ``upstash_redis`` clients (sync and asyncio) and ``upstash_ratelimit`` work unchanged
against it. The rules it follows come from the SDK source, Upstash's documentation and
serverless-redis-http; each is summarised where it is implemented.

Routes, all ``POST`` (duplicate slashes are folded, so the SDK's ``http://h//pipeline`` works):

- ``/``: one command, ``["SET", "k", "v"]`` -> ``{"result": "OK"}`` or 400 ``{"error": "..."}``.
- ``/pipeline``: a list of commands run in order, not atomically -> a list of ``{"result"}`` /
  ``{"error"}``.
- ``/multi-exec``: the same, wrapped in MULTI/EXEC on one dedicated connection; a transaction that
  Redis discards whole gives one top-level 400 ``{"error"}``.

What it enforces, as Upstash does (always on):

- **Request size**: a body over 10 MB gets ``ERR max request size exceeded``.
- **Key size**: a key over 32 KB (32,768 bytes), as an argument of a plain command or in a script's
  KEYS, gets ``ERR max key size exceeded. Limit: 32768 bytes, Actual: N bytes`` (Upstash's text).
  Key positions come from a table of common commands (``_KEY_POSITIONS``); the keys of commands
  outside it (ZUNIONSTORE, XREAD, ...) are not measured.
- **Key-locked scripts**: a script whose shebang carries Upstash's ``allow-key-locking`` flag may
  only touch the keys it declares in KEYS; any other key fails with Upstash's text ``ERR Dynamic
  keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. Key was: <key>``
  (raised by ``redis.call``, returned as an error table by ``redis.pcall``), and FLUSHALL/FLUSHDB
  fail too (our text). The stand-in injects a Lua guard that shadows ``redis``; it finds key
  arguments in the same table, and asks ``COMMAND GETKEYS`` on redis-server for other commands
  (fakeredis has no COMMAND GETKEYS: there, a command outside the table is refused in a flagged
  script). The guard sends no command of its own for the commands in the table, so billed-command
  counts are unchanged. Scripts without the flag run under Upstash's global lock and may touch any
  key.
- **Read-only scripts**: ``EVAL_RO`` / ``EVALSHA_RO`` refuse a script whose shebang lacks
  ``no-writes`` with ``ERR Can not execute a script with write flag using *_ro command.``
  (redis-server 7's text; Upstash's documentation gives none). A script without any shebang may be
  run read-only, as in Upstash's own EVAL_RO example; its writes fail. A ``no-writes`` script that
  writes fails with ``ERR Write commands are not allowed from read-only scripts.``: redis-server
  does this itself; on fakeredis (which has neither EVAL_RO nor shebang flags) the guard does it,
  treating any command outside ``_READ_ONLY`` as a write.

The guard is injected on an existing line (the shebang's replacement, or the line after a kept
shebang), so line numbers in error messages still match the client's script; on fakeredis, errors
raised by the guard are reshaped into redis-server's ``<error> script: <sha1>, on
@user_script:<line>.``. Clients always see the SHA1 of the text they sent.

Scripts queued in /multi-exec are checked the same way, although Upstash runs them under the global
lock (``Stats`` counts them so). Known gaps: a key-locked script that keeps ``redis.call`` in a
local and calls it again after catching an error raised through it gets ``cannot resume dead
coroutine``; keys built in a script without the flag are not measured. What fakeredis cannot do:
it keeps no command statistics (billing is measured on redis-server only), it has no COMMAND
GETKEYS (see above), and its errors for commands failing inside a script carry no line number.

Typical use::

    app = create_app(token="dev-token")            # fakeredis in-process
    with serve_in_thread(app) as url:              # devtools.serve
        redis = upstash_redis.Redis(url, "dev-token", rest_retries=0)

The app can also be mounted under a sub-path of a Starlette app (``Mount("/__upstash", app=...)``);
point the SDK at ``http://host/__upstash/`` (with the trailing slash, since Starlette redirects
``POST /__upstash`` and the SDK does not follow redirects) and close it from the parent's lifespan,
e.g. ``Starlette(routes=[...], lifespan=app.lifespan)``.

It is a development tool: one process, no persistence of its own (``devtools.dev_data`` keeps the
dev server's fakeredis in a file), no TLS, no rate limits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

__all__ = [
    "AUTH_ERROR",
    "DYNAMIC_KEY_ERROR",
    "MAX_KEY_BYTES",
    "MAX_REQUEST_BYTES",
    "READ_ONLY_SCRIPT_ERROR",
    "WRITE_IN_READ_ONLY_SCRIPT_ERROR",
    "Stats",
    "UpstashLocal",
    "backend_script",
    "create_app",
    "key_size_error",
    "rewrite_script",
    "script_flags",
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
#: Upstash's maximum key size (32 KB).
MAX_KEY_BYTES = 32 * 1024
#: Upstash's answer when a script flagged ``allow-key-locking`` touches a key missing from KEYS
#: (Upstash's documentation, "Key-Based Locking"); the key follows.
DYNAMIC_KEY_ERROR = (
    "ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. "
    "Key was: "
)
#: EVAL_RO / EVALSHA_RO of a script whose shebang lacks ``no-writes`` (redis-server 7's text).
READ_ONLY_SCRIPT_ERROR = "ERR Can not execute a script with write flag using *_ro command."
#: A write from a ``no-writes`` or read-only script (redis-server 7's text).
WRITE_IN_READ_ONLY_SCRIPT_ERROR = "ERR Write commands are not allowed from read-only scripts."

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
_KEY_LOCKING_FLAG = b"allow-key-locking"
_UPSTASH_ONLY_FLAGS = frozenset({_KEY_LOCKING_FLAG})
_NO_WRITES_FLAG = b"no-writes"
_SCRIPT_RUNNERS = frozenset({"EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO"})


def _positions(names: str, first: int, last: int, step: int) -> dict[str, tuple[int, int, int]]:
    """Give every command in ``names`` (whitespace-separated) the same key positions."""
    return dict.fromkeys(names.split(), (first, last, step))


# Where the keys are among a command's arguments (the name excluded), like Redis's legacy key
# specs: (first, last, step), a negative last counting from the end (-1: the last argument), and
# (0, 0, 0) for no keys. Used for the key size limit and, in flagged scripts, to find undeclared
# keys without sending COMMAND GETKEYS (which fakeredis lacks, and which would cost a command).
# Commands whose keys depend on other arguments (ZUNIONSTORE numkeys ..., XREAD ... STREAMS,
# SORT ... STORE) are left out on purpose.
_KEY_POSITIONS: dict[str, tuple[int, int, int]] = {
    **_positions(
        """GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND STRLEN GETRANGE SETRANGE SUBSTR
        INCR INCRBY INCRBYFLOAT DECR DECRBY
        HGET HSET HSETNX HMSET HMGET HDEL HINCRBY HINCRBYFLOAT HGETALL HLEN HEXISTS HKEYS HVALS
        HSTRLEN HRANDFIELD HSCAN
        EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME PERSIST TTL PTTL TYPE DUMP RESTORE
        ZADD ZREM ZSCORE ZCARD ZCOUNT ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX
        ZREVRANGEBYLEX ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZINCRBY ZMSCORE ZRANK
        ZREVRANK ZLEXCOUNT ZPOPMIN ZPOPMAX ZRANDMEMBER ZSCAN
        SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SSCAN
        LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE LLEN LTRIM LINDEX LSET LREM LINSERT LPOS
        SETBIT GETBIT BITCOUNT BITPOS BITFIELD BITFIELD_RO PFADD
        XADD XLEN XRANGE XREVRANGE XDEL XTRIM XACK XCLAIM XAUTOCLAIM XPENDING XSETID
        GEOADD GEODIST GEOHASH GEOPOS GEOSEARCH GEORADIUS_RO GEORADIUSBYMEMBER_RO""",
        1,
        1,
        1,
    ),
    **_positions(
        """MGET DEL EXISTS UNLINK TOUCH SDIFF SINTER SUNION SDIFFSTORE SINTERSTORE SUNIONSTORE
        PFCOUNT PFMERGE""",
        1,
        -1,
        1,
    ),
    **_positions("MSET MSETNX", 1, -1, 2),
    **_positions(
        "RENAME RENAMENX RPOPLPUSH LMOVE SMOVE COPY LCS ZRANGESTORE GEOSEARCHSTORE", 1, 2, 1
    ),
    **_positions("BITOP", 2, -1, 1),
    **_positions("PING ECHO TIME DBSIZE RANDOMKEY KEYS SCAN", 0, 0, 0),
}

# The guard injected into a script that needs checks. It is joined into one line (so it must hold
# no `--` comment) and replaces the global `redis` with a local proxy:
# - `redis.call` is looked up afresh each time and is a `coroutine.wrap` function: a C function, so
#   an error raised through it is reported by Redis at the caller's line, even for a
#   `return redis.call(...)` tail call (a Lua wrapper would replace the caller's frame). The
#   coroutine loops, so a `local call = redis.call` stays usable until an error passes through it.
# - `redis.pcall` answers a refusal with an error table, like Redis does for a failed command.
# - Everything else (`error_reply`, `setresp`, ...) is the real `redis`.
# Errors are raised as tables on redis-server (Redis adds "script: ..., on @user_script:N.") and as
# strings on fakeredis (which loses tables' text; the stand-in reshapes those afterwards).
_GUARD_TEMPLATE = """
local redis = (function(real, keys, lock, check_writes, table_errors, getkeys)
  local declared = {}
  for i = 1, #keys do declared[keys[i]] = true end
  local positions = @POSITIONS@
  local read_only = @READ_ONLY@
  local function pack(...) return {...}, select('#', ...) end
  local function problem(args, n)
    local name = string.upper(tostring(args[1]))
    if check_writes and not read_only[name] then return "@WRITE_ERROR@" end
    if not lock then return nil end
    if name == 'FLUSHALL' or name == 'FLUSHDB' then
      return "ERR " .. name .. " is not allowed in Lua scripts when 'allow-key-locking' flag is set"
    end
    local found = {}
    local spec = positions[name]
    if spec then
      if spec[1] > 0 then
        local last = spec[2]
        if last < 0 then last = n + last end
        for i = spec[1], last, spec[3] do
          if args[i + 1] ~= nil then found[#found + 1] = args[i + 1] end
        end
      end
    elseif getkeys then
      local reply = real.pcall('COMMAND', 'GETKEYS', unpack(args, 1, n))
      if type(reply) == 'table' and reply.err == nil then found = reply end
    else
      return "ERR the local Upstash stand-in cannot find the keys of '" .. name ..
        "' on fakeredis, so a script with 'allow-key-locking' may not call it"
    end
    for i = 1, #found do
      if not declared[tostring(found[i])] then return "@KEY_ERROR@" .. tostring(found[i]) end
    end
    return nil
  end
  local function raise(message)
    if table_errors then error({err = message}, 0) end
    error(message, 0)
  end
  local function call(...)
    local args, n = pack(...)
    while true do
      local message = problem(args, n)
      if message then raise(message) end
      args, n = pack(coroutine.yield(real.call(unpack(args, 1, n))))
    end
  end
  local function guarded_pcall(...)
    local message = problem(pack(...))
    if message then return {err = message} end
    return real.pcall(...)
  end
  return setmetatable({}, {__index = function(_, name)
    if name == 'call' then return coroutine.wrap(call) end
    if name == 'pcall' then return guarded_pcall end
    return real[name]
  end})
end)(redis, KEYS, @LOCK@, @CHECK_WRITES@, @TABLE_ERRORS@, @GETKEYS@);
"""


def _lua_table(entries: dict[str, str]) -> str:
    """Render a Lua table literal from names and Lua values (sorted, so the text is stable)."""
    return "{" + ",".join(f'["{name}"]={value}' for name, value in sorted(entries.items())) + "}"


# The parts of the guard that never change, filled in once.
_GUARD_BASE = (
    " ".join(line.strip() for line in _GUARD_TEMPLATE.strip().splitlines())
    .replace(
        "@POSITIONS@",
        _lua_table({name: "{{{},{},{}}}".format(*spec) for name, spec in _KEY_POSITIONS.items()}),
    )
    .replace("@WRITE_ERROR@", WRITE_IN_READ_ONLY_SCRIPT_ERROR)
    .replace("@KEY_ERROR@", DYNAMIC_KEY_ERROR)
)
_LUA_READ_ONLY = _lua_table(dict.fromkeys(_READ_ONLY, "true"))


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
    key_locked_scripts: int = 0
    """EVAL, EVAL_RO, EVALSHA and EVALSHA_RO received whose script carries ``allow-key-locking``:
    Upstash locks only their KEYS. Counted as received (refused ones too), pipelines included."""
    global_lock_scripts: int = 0
    """The same commands for scripts without the flag, which run under Upstash's database-wide
    lock, and for every script in a /multi-exec transaction (Upstash runs those under the global
    lock whatever their flags). An EVALSHA of a script the stand-in has not seen (answered
    NOSCRIPT) counts in neither."""
    sync_tokens: list[str] = field(default_factory=list)
    """The ``Upstash-Sync-Token`` of each request that sent one, in order. The stand-in is one
    node, so every read already sees every write: it honours a token by answering from state
    at least that new, which is all there is; tests read these to see the token travel."""

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.requests = self.commands = self.bytes_in = self.bytes_out = 0
        self.key_locked_scripts = self.global_lock_scripts = 0
        self.sync_tokens.clear()


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


@dataclass
class _Script:
    """A script a client sent (EVAL, EVAL_RO, SCRIPT LOAD), remembered by its client SHA1."""

    text: bytes
    """The client's text."""
    flags: frozenset[bytes] | None
    """Its shebang flags; ``None`` without a shebang."""
    bodies: dict[bool, tuple[bytes, bytes]] = field(default_factory=dict)
    """Backend text and its SHA1, by whether the script runs read-only (computed once)."""

    @property
    def key_locked(self) -> bool:
        """Whether Upstash would lock only its KEYS."""
        return self.flags is not None and _KEY_LOCKING_FLAG in self.flags

    @property
    def runs_read_only(self) -> bool:
        """Whether EVAL_RO / EVALSHA_RO may run it: no shebang, or one with ``no-writes``."""
        return self.flags is None or _NO_WRITES_FLAG in self.flags


def create_app(
    *,
    token: str,
    redis_url: str | None = None,
    latency_ms: float = 0.0,
    fake_server: Any = None,
) -> UpstashLocal:
    """Build the stand-in.

    :param token: the bearer token clients must send (``UPSTASH_REDIS_REST_TOKEN``).
    :param redis_url: a ``redis://`` URL of the backend; ``None`` uses an in-process fakeredis.
    :param latency_ms: extra delay per HTTP request, to simulate the network round trip to Upstash.
    :param fake_server: with ``redis_url`` ``None``, the ``fakeredis.FakeServer`` to serve (the
        dev server's, restored from its data folder by ``devtools.dev_data``); a new empty one
        when ``None``.
    """
    return UpstashLocal(
        token=token, redis_url=redis_url, latency_ms=latency_ms, fake_server=fake_server
    )


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


def script_flags(script: bytes) -> frozenset[bytes] | None:
    """Return the flags of a script's ``#!`` line (``flags=a,b``), or ``None`` without one."""
    if not script.startswith(b"#!"):
        return None
    first = script.partition(b"\n")[0]
    return frozenset(
        flag
        for word in first.split()
        if word.startswith(b"flags=")
        for flag in word[6:].split(b",")
        if flag
    )


def backend_script(script: bytes, *, keep_shebang: bool, read_only: bool = False) -> bytes:
    """Return the text the backend runs for a client's script.

    The shebang is rewritten (:func:`rewrite_script`), and a one-line Lua guard is added where the
    script needs checks the backend cannot do: undeclared keys under ``allow-key-locking``, and,
    on fakeredis (``keep_shebang`` false), writes from a ``no-writes`` script or a script run with
    ``read_only`` (EVAL_RO / EVALSHA_RO). The guard shares a line with the script's own first line
    of code (after a kept shebang, which redis-server needs alone on line 1), or with the
    commented-out shebang, so the line count, and every line number, is unchanged.
    """
    flags = script_flags(script)
    lock = flags is not None and _KEY_LOCKING_FLAG in flags
    # redis-server enforces no-writes and EVAL_RO itself.
    check_writes = not keep_shebang and (
        read_only or (flags is not None and _NO_WRITES_FLAG in flags)
    )
    rewritten = rewrite_script(script, keep_shebang=keep_shebang)
    if not (lock or check_writes):
        return rewritten
    guard = _guard(lock=lock, check_writes=check_writes, redis_server=keep_shebang)
    if flags is not None and keep_shebang:
        first, _, rest = rewritten.partition(b"\n")
        return first + b"\n" + guard + b" " + rest
    return guard + b" " + rewritten


def _guard(*, lock: bool, check_writes: bool, redis_server: bool) -> bytes:
    """Fill in the guard's switches; the read-only table is only sent where it is used."""

    def lua_bool(value: bool) -> str:
        return "true" if value else "false"

    return (
        _GUARD_BASE.replace("@READ_ONLY@", _LUA_READ_ONLY if check_writes else "{}")
        .replace("@LOCK@", lua_bool(lock))
        .replace("@CHECK_WRITES@", lua_bool(check_writes))
        .replace("@TABLE_ERRORS@", lua_bool(redis_server))
        .replace("@GETKEYS@", lua_bool(redis_server))
        .encode()
    )


def _command_keys(name: str, args: Args) -> Args:
    """Return the key arguments of a plain command, as far as ``_KEY_POSITIONS`` knows them."""
    spec = _KEY_POSITIONS.get(name)
    if spec is None or spec[0] == 0:
        return ()
    first, last, step = spec
    count = len(args) - 1
    end = count + last + 1 if last < 0 else last
    return args[first : end + 1 : step]


def key_size_error(keys: Sequence[bytes]) -> str | None:
    """Return Upstash's refusal for the first key over 32 KB, or ``None`` if all fit."""
    for key in keys:
        if len(key) > MAX_KEY_BYTES:
            return (
                f"ERR max key size exceeded. Limit: {MAX_KEY_BYTES} bytes, Actual: {len(key)} bytes"
            )
    return None


# fakeredis reports a string error raised in a script as a Lua traceback; the guard's own errors
# start with an error code, and are reshaped into what redis-server says.
_FAKE_SCRIPT_ERROR = re.compile(
    r"ERR Error running script \(call to f_(?P<sha>[0-9a-f]{40})\): @user_script:\?: "
    r'\[string "<python>"\]:(?P<line>\d+): (?P<message>[A-Z]+ [^\n]*)'
)


def _tidy_fake_script_error(text: str) -> str:
    """Reshape fakeredis's report of a guard error into redis-server's, if it is one."""
    match = _FAKE_SCRIPT_ERROR.match(text)
    if match is None:
        return text
    return f"{match['message']} script: {match['sha']}, on @user_script:{match['line']}."


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


def _script_keys(args: Args) -> Args:
    """Return the KEYS of an EVAL-like command (none if numkeys is not a usable number)."""
    try:
        count = int(args[2]) if len(args) > 2 else 0
    except ValueError:
        return ()
    return args[3 : 3 + count] if count > 0 else ()


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

    def __init__(
        self, *, token: str, redis_url: str | None, latency_ms: float, fake_server: Any = None
    ) -> None:
        """See :func:`create_app`."""
        if not token:
            raise ValueError("token must not be empty")
        self.stats = Stats()
        self._token = token.encode()
        self._redis_url = redis_url
        self._latency_s = latency_ms / 1000
        self._fake_server: Any = fake_server
        if redis_url is None and fake_server is None:
            import fakeredis  # a dev extra, only needed for this backend

            # One server per app: its data outlives the per-loop clients below.
            self._fake_server = fakeredis.FakeServer()
        self._client: aioredis.Redis | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        # Every script a client sent, by the SHA1 of its text (which is what the client sees): what
        # the backend runs instead, and the flags the *_RO commands and the counters look at.
        self._scripts: dict[bytes, _Script] = {}
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

    def _prepare(self, raw: object, *, in_transaction: bool = False) -> _Command:
        args = _command_args(raw)
        name = args[0].decode("utf-8", errors="replace").upper()
        refusal = _refusal(name, args)
        if refusal is not None:
            return _Command(name, args, refusal=refusal)
        # Lua: Upstash's shebang flag is rewritten away (and checks added), and the client keeps
        # seeing the SHA1 of its original text, so SCRIPT LOAD / EVALSHA / SCRIPT EXISTS work as
        # on Upstash.
        if name in _SCRIPT_RUNNERS and len(args) > 1:
            return self._prepare_script_run(name, args, in_transaction)
        refusal = key_size_error(_command_keys(name, args))
        if refusal is not None:
            return _Command(name, args, refusal=refusal)
        if name == "SCRIPT" and len(args) > 1:
            sub = args[1].upper()
            if sub == b"LOAD" and len(args) == 3:
                script = self._remember_script(args[2])
                body, backend_sha = self._backend(script, read_only=False)
                client_sha = _sha1_hex(args[2])
                swap = (backend_sha, client_sha) if backend_sha != client_sha else None
                return _Command(name, (*args[:2], body), sha_swap=swap, swap_result=True)
            if sub == b"EXISTS":
                shas = tuple(self._backend_sha(a.lower()) for a in args[2:])
                return _Command(name, (*args[:2], *shas))
            if sub == b"FLUSH":
                self._scripts.clear()
        return _Command(name, args)

    def _prepare_script_run(self, name: str, args: Args, in_transaction: bool) -> _Command:
        """Translate EVAL, EVAL_RO, EVALSHA or EVALSHA_RO, and refuse what Upstash refuses."""
        by_sha = name.startswith("EVALSHA")
        read_only = name.endswith("_RO")
        fake = self._redis_url is None
        # fakeredis has no *_RO commands: the guard enforces read-only there instead.
        backend_name = name.removesuffix("_RO").encode() if fake else args[0]
        refusal = key_size_error(_script_keys(args))
        if by_sha:
            client_sha = args[1].lower()
            known = self._scripts.get(client_sha)
            if known is None:  # the backend answers NOSCRIPT (or runs a script it still has)
                if refusal is not None:
                    return _Command(name, args, refusal=refusal)
                return _Command(name, (backend_name, *args[1:]))
            script = known
        else:
            client_sha = _sha1_hex(args[1])
            script = self._remember_script(args[1])
        if script.key_locked and not in_transaction:
            self.stats.key_locked_scripts += 1
        else:
            self.stats.global_lock_scripts += 1

        if refusal is None and read_only and not script.runs_read_only:
            refusal = READ_ONLY_SCRIPT_ERROR
        if refusal is not None:
            return _Command(name, args, refusal=refusal)

        body, backend_sha = self._backend(script, read_only=read_only)
        swap = (backend_sha, client_sha) if backend_sha != client_sha else None
        if not by_sha:
            return _Command(name, (backend_name, body, *args[2:]), sha_swap=swap)
        if read_only and fake and body != self._backend(script, read_only=False)[0]:
            # The read-only variant of a script without a shebang was never loaded: send its text.
            return _Command(name, (b"EVAL", body, *args[2:]), sha_swap=swap)
        return _Command(name, (backend_name, backend_sha, *args[2:]), sha_swap=swap)

    def _remember_script(self, text: bytes) -> _Script:
        """Return what is known of a client's script, noting it first if it is new."""
        client_sha = _sha1_hex(text)
        script = self._scripts.get(client_sha)
        if script is None:
            script = self._scripts[client_sha] = _Script(text, script_flags(text))
        return script

    def _backend(self, script: _Script, *, read_only: bool) -> tuple[bytes, bytes]:
        """Return the backend's text for a script and its SHA1."""
        body = script.bodies.get(read_only)
        if body is None:
            text = backend_script(
                script.text, keep_shebang=self._redis_url is not None, read_only=read_only
            )
            body = script.bodies[read_only] = (text, _sha1_hex(text))
        return body

    def _backend_sha(self, client_sha: bytes) -> bytes:
        """Map a client's SHA1 to the backend's (itself for scripts the stand-in never saw)."""
        script = self._scripts.get(client_sha)
        return client_sha if script is None else self._backend(script, read_only=False)[1]

    def _outcome(
        self, command: _Command, reply: object, base64_encoding: bool
    ) -> dict[str, JSONResult]:
        """Build the ``{"result": ...}`` or ``{"error": ...}`` entry for one command's reply."""
        if isinstance(reply, RedisError):
            text = _error_text(reply)
            if self._redis_url is None:
                text = _tidy_fake_script_error(text)
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
        commands = self._prepare_batch(body, in_transaction=True)
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

    def _prepare_batch(self, body: object, *, in_transaction: bool = False) -> list[_Command]:
        if not isinstance(body, list):
            raise _BadRequest("ERR a pipeline must be a JSON array of commands")
        self.stats.commands += len(body)
        return [self._prepare(raw, in_transaction=in_transaction) for raw in body]

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
        if sync_token := headers.get(b"upstash-sync-token"):
            self.stats.sync_tokens.append(sync_token.decode("latin-1"))

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
