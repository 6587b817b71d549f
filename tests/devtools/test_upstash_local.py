"""The local Upstash stand-in, checked with the real SDKs and at the byte level.

The SDK tests show that ``upstash_redis`` (sync and asyncio) and ``upstash_ratelimit`` work
unchanged against it; the raw HTTP tests pin the wire format of Upstash's REST API and the limits
Upstash enforces (request and key size, key-locked and read-only scripts).

Every test runs on redis-server and on fakeredis, except where fakeredis cannot: it keeps no
command statistics (the billed-command tests only assert ``None`` there), and it ignores shebang
flags (``test_redis_flags_survive_the_rewrite`` is skipped; the stand-in's own guard enforces
``no-writes`` there instead, which the read-only tests check on both backends).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from upstash_ratelimit import FixedWindow, Ratelimit, SlidingWindow, TokenBucket
from upstash_ratelimit.asyncio import Ratelimit as AsyncRatelimit
from upstash_redis import Redis
from upstash_redis.asyncio import Redis as AsyncRedis
from upstash_redis.errors import UpstashError

from devtools import redis_backend, serve, upstash_local

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
# What upstash-ratelimit sends: an Upstash-only flag that both local backends reject as is.
LOCKING_SCRIPT = "#!lua flags=allow-key-locking\nreturn redis.call('GET', KEYS[1])"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA1)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def post(http: httpx.Client, command: list[Any], path: str = "/", **headers: str) -> httpx.Response:
    return http.post(path, json=command, headers=headers)


# ------------------------------------------------------------------------------ the sync SDK


def test_sdk_strings_ints_and_nulls(sdk: Redis) -> None:
    # The SDK's stubs type SET as returning str | None; at run time it returns a bool.
    assert cast(object, sdk.set("greeting", "héllo wörld 🌍🚀")) is True
    assert sdk.get("greeting") == "héllo wörld 🌍🚀"
    assert sdk.get("missing") is None
    assert sdk.mget("greeting", "missing") == ["héllo wörld 🌍🚀", None]
    assert sdk.incr("counter") == 1
    assert sdk.incrby("counter", 41) == 42
    assert sdk.get("counter") == "42"
    assert sdk.exists("greeting", "missing") == 1
    assert sdk.delete("greeting", "counter") == 2
    assert cast(object, sdk.set("k", "v", nx=True)) is True
    assert cast(object, sdk.set("k", "w", nx=True)) is False  # a null reply


def test_sdk_hashes_sorted_sets_and_lists(sdk: Redis) -> None:
    assert sdk.hset("h", values={"a": "1", "ü": "ß"}) == 2
    assert sdk.hgetall("h") == {"a": "1", "ü": "ß"}  # needs RESP2's flat array
    assert sdk.hgetall("missing") == {}

    assert sdk.zadd("z", {"small": 1.5, "huge": 1e20, "neg": -0.25}) == 3
    assert sdk.zrange("z", 0, -1, withscores=True) == [
        ("neg", -0.25),
        ("small", 1.5),
        ("huge", 1e20),
    ]
    assert sdk.zscore("z", "small") == 1.5
    assert sdk.zincrby("z", 1, "small") == 2.5

    assert sdk.rpush("l", "a", "b", "ç") == 3
    assert sdk.lrange("l", 0, -1) == ["a", "b", "ç"]


def test_sdk_eval_returns_nested_tables(sdk: Redis) -> None:
    script = "return {1, 'a', {2, 'ü', {}}, 3.99, false, ARGV[1]}"
    # Lua numbers become integers (truncated) and false becomes null, as on Redis.
    assert sdk.eval(script, [], ["🙂"]) == [1, "a", [2, "ü", []], 3, None, "🙂"]


def test_sdk_script_load_evalsha_and_exists(sdk: Redis) -> None:
    sdk.set("k", "v")
    sha = sdk.script_load(LOCKING_SCRIPT)
    assert sha == sha1(LOCKING_SCRIPT)  # the SHA of the text the client sent, not the rewrite
    assert sdk.evalsha(sha, ["k"]) == "v"
    assert sdk.script_exists(sha, "0" * 40) == [True, False]
    assert sdk.eval(LOCKING_SCRIPT, ["k"]) == "v"


def test_sdk_pipeline_and_transaction(sdk: Redis) -> None:
    pipeline = sdk.pipeline()
    pipeline.set("a", "1")
    pipeline.incr("a")
    pipeline.hset("h", values={"f": "v"})
    pipeline.hgetall("h")
    assert pipeline.exec() == [True, 2, 1, {"f": "v"}]

    transaction = sdk.multi()
    transaction.incr("a")
    transaction.get("a")
    assert transaction.exec() == [3, "3"]


def test_sdk_errors_keep_their_prefix(sdk: Redis) -> None:
    sdk.set("k", "v")
    with pytest.raises(UpstashError, match=f"^{re.escape(WRONGTYPE)}$"):
        sdk.lpush("k", "x")
    with pytest.raises(UpstashError, match=r"^ERR value is not an integer"):
        sdk.incr("k")
    with pytest.raises(UpstashError, match=f"^{re.escape(NOSCRIPT)}$"):
        sdk.evalsha("0" * 40)


def test_sdk_without_base64_encoding(standin_url: str, standin_token: str) -> None:
    with Redis(standin_url, standin_token, rest_encoding=None, rest_retries=0) as plain:
        assert cast(object, plain.set("k", "naïve ☕")) is True
        assert plain.get("k") == "naïve ☕"
        assert plain.hgetall("missing") == {}


def test_sdk_follows_the_sync_token(sdk: Redis) -> None:
    sdk.set("k", "v")
    after_write = sdk._sync_token
    assert after_write
    sdk.get("k")
    assert sdk._sync_token == after_write
    sdk.set("k", "w")
    assert sdk._sync_token != after_write


# ----------------------------------------------------------------------------- the async SDK


def test_async_sdk(standin_url: str, standin_token: str) -> None:
    async def scenario() -> None:
        async with AsyncRedis(
            standin_url, standin_token, rest_retries=0, allow_telemetry=False
        ) as redis:
            assert cast(object, await redis.set("k", "héllo 🌍")) is True
            assert await redis.get("k") == "héllo 🌍"
            assert await redis.get("missing") is None
            assert await redis.hset("h", values={"a": "1"}) == 1
            assert await redis.hgetall("h") == {"a": "1"}
            await redis.zadd("z", {"m": 2.5})
            assert await redis.zrange("z", 0, -1, withscores=True) == [("m", 2.5)]
            assert await redis.eval("return {1, {'x', {}}}") == [1, ["x", []]]
            sha = await redis.script_load(LOCKING_SCRIPT)
            assert await redis.evalsha(sha, ["k"]) == "héllo 🌍"
            pipeline = redis.pipeline()
            pipeline.incr("n")
            pipeline.get("n")
            assert await pipeline.exec() == [1, "1"]
            transaction = redis.multi()
            transaction.incr("n")
            assert await transaction.exec() == [2]
            with pytest.raises(UpstashError, match=f"^{re.escape(WRONGTYPE)}$"):
                await redis.lpush("k", "x")

    asyncio.run(scenario())


# ------------------------------------------------------------------------- upstash-ratelimit

# Windows are aligned on the epoch: with day-long ones, a test never straddles a boundary (which
# would reset a fixed window, or let a sliding one allow a fourth request).
LIMITERS: dict[str, Callable[[], Any]] = {
    "fixed-window": lambda: FixedWindow(max_requests=3, window=1, unit="d"),
    "sliding-window": lambda: SlidingWindow(max_requests=3, window=1, unit="d"),
    "token-bucket": lambda: TokenBucket(max_tokens=3, refill_rate=1, interval=1, unit="d"),
}


@pytest.mark.parametrize("kind", LIMITERS)
def test_ratelimit_sync(sdk: Redis, kind: str) -> None:
    limiter = Ratelimit(redis=sdk, limiter=LIMITERS[kind](), prefix=f"rl-{kind}")
    responses = [limiter.limit("user") for _ in range(4)]
    assert [r.allowed for r in responses] == [True, True, True, False]
    assert [r.remaining for r in responses] == [2, 1, 0, 0]
    assert limiter.get_remaining("user") == 0
    assert limiter.get_remaining("someone-else") == 3
    assert limiter.limit("someone-else").allowed


@pytest.mark.parametrize("kind", LIMITERS)
def test_ratelimit_async(standin_url: str, standin_token: str, kind: str) -> None:
    async def scenario() -> list[bool]:
        async with AsyncRedis(standin_url, standin_token, rest_retries=0) as redis:
            limiter = AsyncRatelimit(redis=redis, limiter=LIMITERS[kind](), prefix=f"rl-{kind}")
            allowed = [(await limiter.limit("user")).allowed for _ in range(4)]
            assert await limiter.get_remaining("user") == 0
            return allowed

    assert asyncio.run(scenario()) == [True, True, True, False]


# ------------------------------------------------------------------------------ raw protocol


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "{token}"},
        {"Authorization": "Basic x"},
    ],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
@pytest.mark.parametrize("path", ["/", "/pipeline", "/multi-exec"])
def test_auth_failure(
    standin_url: str, standin_token: str, headers: dict[str, str], path: str
) -> None:
    headers = {name: value.format(token=standin_token) for name, value in headers.items()}
    response = httpx.post(standin_url + path, json=["PING"], headers=headers)
    assert response.status_code == 401
    assert response.content == b'{"error":"WRONGPASS invalid or missing auth token"}'


def test_auth_needs_no_content_type(standin_url: str, standin_token: str) -> None:
    response = httpx.post(
        standin_url, content=b'["PING"]', headers={"Authorization": f"Bearer {standin_token}"}
    )
    assert response.status_code == 200
    assert response.json() == {"result": "PONG"}


def test_error_envelope_has_the_full_message(http: httpx.Client) -> None:
    post(http, ["SET", "k", "v"])
    response = post(http, ["LPUSH", "k", "x"])
    assert response.status_code == 400
    assert response.json() == {"error": WRONGTYPE}

    cases: list[tuple[list[Any], str]] = [
        (["NOSUCHCOMMAND", "x"], "ERR unknown command"),
        (["INCR", "k"], "ERR value is not an integer or out of range"),
        (["GET"], "ERR wrong number of arguments"),
        (["EVAL", "return redis.call('NOPE')", 0], "ERR "),
    ]
    for command, prefix in cases:
        response = post(http, command)
        assert response.status_code == 400
        assert set(response.json()) == {"error"}
        assert response.json()["error"].startswith(prefix), response.json()


def test_noscript_error_text(http: httpx.Client) -> None:
    response = post(http, ["EVALSHA", "f" * 40, 0])
    assert response.status_code == 400
    assert response.content == json.dumps({"error": NOSCRIPT}, separators=(",", ":")).encode()


def test_pipeline_shape(http: httpx.Client) -> None:
    response = post(
        http,
        [["SET", "a", "1"], ["INCR", "a"], ["LPUSH", "a", "x"], ["GET", "a"], ["GET", "nope"]],
        "/pipeline",
    )
    assert response.status_code == 200
    # Not atomic, not aborted: the error takes its slot and the next command still runs.
    assert response.json() == [
        {"result": "OK"},
        {"result": 2},
        {"error": WRONGTYPE},
        {"result": "2"},
        {"result": None},
    ]


def test_multi_exec_shape(http: httpx.Client) -> None:
    response = post(
        http, [["SET", "b", "1"], ["INCR", "b"], ["LPUSH", "b", "x"], ["GET", "b"]], "/multi-exec"
    )
    assert response.status_code == 200
    # A runtime error inside EXEC does not undo the others, as in Redis.
    assert response.json() == [
        {"result": "OK"},
        {"result": 2},
        {"error": WRONGTYPE},
        {"result": "2"},
    ]


def test_multi_exec_discarded_whole(http: httpx.Client) -> None:
    response = post(http, [["SET", "c", "1"], ["NOSUCHCOMMAND"], ["SET", "d", "1"]], "/multi-exec")
    assert response.status_code == 400
    assert response.json() == {"error": EXECABORT}
    assert post(http, ["MGET", "c", "d"]).json() == {"result": [None, None]}


def test_empty_batches(http: httpx.Client) -> None:
    assert post(http, [], "/pipeline").json() == []
    assert post(http, [], "/multi-exec").json() == []


def test_base64_and_plain_encoding(http: httpx.Client) -> None:
    base64_header = {"Upstash-Encoding": "base64"}
    assert post(http, ["SET", "k", "héllo 🌍"], **base64_header).json() == {"result": b64("OK")}
    assert post(http, ["GET", "k"], **base64_header).json() == {"result": b64("héllo 🌍")}
    assert post(http, ["GET", "k"]).json() == {"result": "héllo 🌍"}
    assert post(http, ["PING"], **base64_header).json() == {"result": b64("PONG")}

    # Integers and null are never encoded; nested strings are, at every depth.
    nested = ["EVAL", "return {1, 'a', {'b', false}}", 0]
    assert post(http, nested, **base64_header).json() == {"result": [1, b64("a"), [b64("b"), None]]}
    assert post(http, ["INCR", "n"], **base64_header).json() == {"result": 1}
    assert post(http, ["GET", "nope"], **base64_header).json() == {"result": None}

    # Bytes that are not UTF-8: exact in base64, replaced in plain mode.
    invalid = ["EVAL", "return string.char(255, 65)", 0]
    assert post(http, invalid, **base64_header).json() == {"result": "/0E="}
    assert post(http, invalid).json() == {"result": "\ufffdA"}

    # Errors are plain text whatever the encoding.
    assert post(http, ["LPUSH", "k", "x"], **base64_header).json() == {"error": WRONGTYPE}
    pipeline = post(http, [["GET", "k"], ["LPUSH", "k", "x"]], "/pipeline", **base64_header)
    assert pipeline.json() == [{"result": b64("héllo 🌍")}, {"error": WRONGTYPE}]


def test_resp2_shapes_and_no_floats(http: httpx.Client) -> None:
    post(http, ["HSET", "h", "a", "1", "b", "2"])
    assert post(http, ["HGETALL", "h"]).json() == {"result": ["a", "1", "b", "2"]}
    post(http, ["ZADD", "z", 1.5, "m", 2, "n"])
    assert post(http, ["ZRANGE", "z", 0, -1, "WITHSCORES"]).json() == {
        "result": ["m", "1.5", "n", "2"]
    }
    assert post(http, ["ZSCORE", "z", "m"]).json() == {"result": "1.5"}
    assert post(http, ["EVAL", "return 3.99", 0]).json() == {"result": 3}
    raw = post(http, ["EVAL", "return {0.5, 7.25}", 0]).content
    assert raw == b'{"result":[0,7]}'


def test_numbers_keep_their_literal_text(http: httpx.Client) -> None:
    body = (
        b'[["ZADD","z",1e+20,"m"],["ZSCORE","z","m"],'
        b'["SET","n",1.50],["GET","n"],["EVAL","return KEYS[1]",1,"k"]]'
    )
    response = http.post("/pipeline", content=body)
    assert response.json() == [
        {"result": 1},
        {"result": "1e+20"},
        {"result": "OK"},
        {"result": "1.50"},
        {"result": "k"},
    ]


def test_booleans_are_sent_as_their_json_text(http: httpx.Client) -> None:
    assert post(http, ["SET", "flag", True]).json() == {"result": "OK"}
    assert post(http, ["GET", "flag"]).json() == {"result": "true"}


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"command":"PING"}', b"[]", b'["SET","k",null]', b'["SET","k",["v"]]'],
    ids=["not-json", "object", "empty", "null-arg", "nested-arg"],
)
def test_malformed_requests(http: httpx.Client, body: bytes) -> None:
    response = http.post("/", content=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("ERR ")


REFUSED = [
    ["BLPOP", "l", 0],
    ["BRPOP", "l", 0],
    ["BLMOVE", "a", "b", "LEFT", "RIGHT", 0],
    ["BZPOPMIN", "z", 0],
    ["WAIT", 0, 0],
    ["XREAD", "BLOCK", 0, "STREAMS", "s", "$"],
    ["XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "s", ">"],
    ["WATCH", "k"],
    ["UNWATCH"],
    ["DISCARD"],
    ["MULTI"],
    ["EXEC"],
    ["SELECT", 1],
    ["AUTH", "x"],
    ["HELLO", 3],
    ["CLIENT", "LIST"],
    ["QUIT"],
    ["RESET"],
    ["SUBSCRIBE", "channel"],
    ["MONITOR"],
]


@pytest.mark.parametrize("command", REFUSED, ids=lambda c: " ".join(map(str, c[:2])))
def test_refused_commands(http: httpx.Client, command: list[Any]) -> None:
    response = post(http, command)
    assert response.status_code == 400
    assert response.json() == {"error": f"ERR Command is not available: '{command[0].lower()}'"}


def test_allowed_lookalikes(http: httpx.Client) -> None:
    assert post(http, ["PING"]).json() == {"result": "PONG"}
    assert post(http, ["ECHO", "hi"]).json() == {"result": "hi"}
    # Without BLOCK (or with a stream named BLOCK) XREAD does not block. (No stream: Redis
    # answers null, fakeredis an empty array.)
    post(http, ["XADD", "BLOCK", "1-1", "f", "v"])
    assert post(http, ["XREAD", "STREAMS", "BLOCK", "0"]).json() == {
        "result": [["BLOCK", [["1-1", ["f", "v"]]]]]
    }
    assert post(http, ["XREAD", "STREAMS", "s", "0"]).status_code == 200


def test_refused_inside_batches(http: httpx.Client) -> None:
    pipeline = post(http, [["SET", "a", "1"], ["BLPOP", "l", 0], ["GET", "a"]], "/pipeline")
    assert pipeline.json() == [
        {"result": "OK"},
        {"error": "ERR Command is not available: 'blpop'"},
        {"result": "1"},
    ]
    transaction = post(http, [["SET", "b", "1"], ["WATCH", "b"]], "/multi-exec")
    assert transaction.status_code == 400
    assert transaction.json() == {"error": "ERR Command is not available: 'watch'"}
    assert post(http, ["GET", "b"]).json() == {"result": None}  # nothing ran


def test_request_size_cap(http: httpx.Client) -> None:
    big = "x" * upstash_local.MAX_REQUEST_BYTES
    response = post(http, ["SET", "big", big])
    assert response.status_code == 400
    assert response.json() == {"error": "ERR max request size exceeded"}
    assert post(http, ["EXISTS", "big"]).json() == {"result": 0}
    # Just under the cap is fine.
    fits = "x" * (upstash_local.MAX_REQUEST_BYTES - 100)
    assert post(http, ["SET", "big", fits]).json() == {"result": "OK"}
    assert post(http, ["STRLEN", "big"]).json() == {"result": len(fits)}


def test_sync_token_changes_on_every_write(http: httpx.Client) -> None:
    def token(command: list[Any], path: str = "/") -> str:
        value = post(http, command, path).headers["Upstash-Sync-Token"]
        assert value
        return value

    first = token(["SET", "k", "1"])
    assert token(["GET", "k"]) == first
    assert token([["GET", "k"], ["TTL", "k"]], "/pipeline") == first
    second = token(["INCR", "k"])
    assert second != first
    third = token([["GET", "k"], ["SET", "j", "1"]], "/pipeline")
    assert third not in {first, second}
    fourth = token([["INCR", "k"]], "/multi-exec")
    assert fourth not in {first, second, third}
    assert token(["PING"]) == fourth


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("//", ["PING"], {"result": "PONG"}),
        ("//pipeline", [["PING"]], [{"result": "PONG"}]),
        ("/pipeline/", [["PING"]], [{"result": "PONG"}]),
        ("//multi-exec", [["PING"]], [{"result": "PONG"}]),
    ],
)
def test_slashes_are_normalised(
    http: httpx.Client, standin_url: str, path: str, body: Any, expected: Any
) -> None:
    # An absolute URL: httpx would read "//pipeline" on its own as a host name.
    response = http.post(f"{standin_url}{path}", json=body)
    assert response.status_code == 200
    assert response.json() == expected


def test_sdk_url_with_trailing_slash(standin_url: str, standin_token: str) -> None:
    # The SDK appends "/pipeline" without stripping the URL's slash: http://h//pipeline.
    with Redis(standin_url + "/", standin_token, rest_retries=0) as redis:
        pipeline = redis.pipeline()
        pipeline.set("a", "1")
        assert pipeline.exec() == [True]
        assert redis.get("a") == "1"


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert http.post("/set/k/v", json=["PING"]).status_code == 404
    assert http.get("/").status_code == 405


# -------------------------------------------------------------------------------------- Lua


def test_evalsha_after_script_load_of_an_upstash_script(http: httpx.Client) -> None:
    post(http, ["SET", "k", "v"])
    loaded = post(http, ["SCRIPT", "LOAD", LOCKING_SCRIPT])
    assert loaded.json() == {"result": sha1(LOCKING_SCRIPT)}
    sha = sha1(LOCKING_SCRIPT)
    assert post(http, ["EVALSHA", sha, 1, "k"]).json() == {"result": "v"}
    assert post(http, ["EVALSHA", sha.upper(), 1, "k"]).json() == {"result": "v"}
    assert post(http, ["SCRIPT", "EXISTS", sha, "0" * 40]).json() == {"result": [1, 0]}
    # The mapping works inside transactions and pipelines too.
    assert post(http, [["EVALSHA", sha, 1, "k"]], "/multi-exec").json() == [{"result": "v"}]
    assert post(http, [["SCRIPT", "LOAD", LOCKING_SCRIPT]], "/pipeline").json() == [{"result": sha}]

    # SCRIPT FLUSH forgets it, as Upstash does on restart; EVAL loads it again.
    post(http, ["SCRIPT", "FLUSH"])
    assert post(http, ["EVALSHA", sha, 1, "k"]).json() == {"error": NOSCRIPT}
    assert post(http, ["EVAL", LOCKING_SCRIPT, 1, "k"]).json() == {"result": "v"}
    assert post(http, ["EVALSHA", sha, 1, "k"]).json() == {"result": "v"}


def test_script_errors_name_the_client_sha(backend_url: str | None, http: httpx.Client) -> None:
    script = "#!lua flags=allow-key-locking\n\nreturn redis.call('INCR', KEYS[1])"
    post(http, ["SET", "k", "not a number"])
    error = post(http, ["EVAL", script, 1, "k"]).json()["error"]
    assert error.startswith("ERR ")
    rewritten = upstash_local.backend_script(script.encode(), keep_shebang=backend_url is not None)
    assert hashlib.sha1(rewritten).hexdigest() not in error  # noqa: S324


def test_redis_flags_survive_the_rewrite(backend_url: str | None, http: httpx.Client) -> None:
    if backend_url is None:
        pytest.skip("fakeredis ignores shebang flags: the line is commented out")
    script = "#!lua flags=allow-key-locking,no-writes\nreturn redis.call('SET', KEYS[1], 'x')"
    error = post(http, ["EVAL", script, 1, "k"]).json()["error"]
    assert "Write commands are not allowed from read-only scripts" in error


@pytest.mark.parametrize(
    ("script", "keep", "expected"),
    [
        (b"return 1", True, b"return 1"),
        (b"#!lua flags=allow-key-locking\nreturn 1", True, b"#!lua\nreturn 1"),
        (
            b"#!lua flags=allow-key-locking,no-writes\nreturn 1",
            True,
            b"#!lua flags=no-writes\nreturn 1",
        ),
        (b"#!lua flags=no-writes\nreturn 1", True, b"#!lua flags=no-writes\nreturn 1"),
        (
            b"#!lua flags=allow-key-locking\nreturn 1",
            False,
            b"-- #!lua flags=allow-key-locking\nreturn 1",
        ),
    ],
)
def test_rewrite_script(script: bytes, keep: bool, expected: bytes) -> None:
    assert upstash_local.rewrite_script(script, keep_shebang=keep) == expected


# ------------------------------------------------------------------------- key-locked scripts

KEY_LOCKED = "#!lua flags=allow-key-locking\n"


def dynamic_key_error(key: str) -> str:
    return upstash_local.DYNAMIC_KEY_ERROR + key


@pytest.mark.parametrize(
    "body",
    [
        "return redis.call('GET', 'other')",
        "return redis.call('SET', 'other', 'x')",
        "return redis.call('MGET', KEYS[1], 'other')",
        "return redis.call('DEL', KEYS[1], 'other')",
        "return redis.call('HSET', 'other', 'f', 'v')",
        "return redis.call('RENAME', KEYS[1], 'other')",
        "return redis.call('GET', 'oth' .. 'er')",
    ],
    ids=["get", "set", "mget", "del", "hset", "rename", "built"],
)
def test_undeclared_key_refused_by_call(http: httpx.Client, body: str) -> None:
    post(http, ["SET", "declared", "v"])
    response = post(http, ["EVAL", KEY_LOCKED + body, 1, "declared"])
    assert response.status_code == 400
    assert response.json()["error"].startswith(dynamic_key_error("other") + " script: ")
    # Nothing ran: neither the write nor the rename.
    assert post(http, ["MGET", "declared", "other"]).json() == {"result": ["v", None]}


def test_undeclared_key_refused_by_pcall(http: httpx.Client) -> None:
    script = KEY_LOCKED + (
        "local read = redis.pcall('GET', 'other')\n"
        "local write = redis.pcall('SET', 'other', 'x')\n"
        "return {read.err, write.err, redis.pcall('SET', KEYS[1], 'ok')}"
    )
    response = post(http, ["EVAL", script, 1, "declared"])
    assert response.json() == {
        "result": [dynamic_key_error("other"), dynamic_key_error("other"), "OK"]
    }
    assert post(http, ["EXISTS", "other"]).json() == {"result": 0}


def test_declared_keys_are_allowed(http: httpx.Client) -> None:
    script = KEY_LOCKED + (
        "redis.call('SET', KEYS[1], ARGV[1])\n"
        "redis.call('HSET', KEYS[2], 'f', ARGV[1])\n"
        "local call = redis.call\n"
        "call('ZADD', KEYS[3], 1, 'm')\n"
        "call('EXPIRE', KEYS[1], 100)\n"
        "return {redis.call('MGET', KEYS[1], 'a' .. 'b'), redis.call('HGET', KEYS[2], 'f'),\n"
        "  redis.call('ZCARD', KEYS[3]), redis.call('PING'), redis.pcall('DEL', KEYS[3])}"
    )
    # A key built inside the script is fine when it equals a declared one.
    response = post(http, ["EVAL", script, 3, "ab", "h", "z", "v"])
    assert response.json() == {"result": [["v", "v"], "v", 1, "PONG", 1]}


def test_unflagged_script_may_touch_any_key(http: httpx.Client) -> None:
    script = "redis.call('SET', 'anywhere', 'x')\nreturn redis.call('GET', 'anywhere')"
    assert post(http, ["EVAL", script, 0]).json() == {"result": "x"}
    no_flag = "#!lua\nreturn redis.call('GET', 'anywhere')"
    assert post(http, ["EVAL", no_flag, 0]).json() == {"result": "x"}


def test_key_locked_scripts_refuse_flushing(http: httpx.Client) -> None:
    response = post(http, ["EVAL", KEY_LOCKED + "return redis.call('FLUSHALL')", 0])
    assert response.json()["error"].startswith(
        "ERR FLUSHALL is not allowed in Lua scripts when 'allow-key-locking' flag is set"
    )


def test_commands_outside_the_key_table(backend_url: str | None, http: httpx.Client) -> None:
    declared = KEY_LOCKED + "return redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[2])"
    undeclared = KEY_LOCKED + "return redis.call('ZUNIONSTORE', KEYS[1], 1, 'other')"
    post(http, ["ZADD", "src", 1, "m"])
    if backend_url is None:  # no COMMAND GETKEYS: refused, whatever the keys
        error = post(http, ["EVAL", declared, 2, "dst", "src"]).json()["error"]
        assert error.startswith(
            "ERR the local Upstash stand-in cannot find the keys of 'ZUNIONSTORE'"
        )
    else:  # redis-server: COMMAND GETKEYS finds them
        assert post(http, ["EVAL", declared, 2, "dst", "src"]).json() == {"result": 1}
        error = post(http, ["EVAL", undeclared, 1, "dst"]).json()["error"]
        assert error.startswith(dynamic_key_error("other"))


def test_guard_keeps_line_numbers(backend_url: str | None, http: httpx.Client) -> None:
    # The guard shares a line with the script: every line number below is the client's.
    script = (
        KEY_LOCKED + "local v = redis.call('GET', KEYS[1])\n\nreturn redis.call('GET', 'other')"
    )
    error = post(http, ["EVAL", script, 1, "k"]).json()["error"]
    assert error == f"{dynamic_key_error('other')} script: {sha1(script)}, on @user_script:4."

    # A command failing inside the guard, in a tail call too (fakeredis reports no line for it).
    post(http, ["SET", "k", "not a number"])
    for line, body in [
        (3, "\nlocal n = redis.call('INCR', KEYS[1])\nreturn n"),
        (4, "\n\nreturn redis.call('INCR', KEYS[1])"),
    ]:
        failing = KEY_LOCKED + body
        error = post(http, ["EVAL", failing, 1, "k"]).json()["error"]
        if backend_url is None:
            assert error == "ERR value is not an integer or out of range"
        else:
            assert error == (
                "ERR value is not an integer or out of range "
                f"script: {sha1(failing)}, on @user_script:{line}."
            )

    broken = KEY_LOCKED + "local x = 1\n\nreturn x +"
    error = post(http, ["EVAL", broken, 0]).json()["error"]
    assert re.search(r"\]?:4: unexpected symbol near '<eof>'", error), error

    raising = KEY_LOCKED + "\n\nerror('boom')"
    error = post(http, ["EVAL", raising, 0]).json()["error"]
    assert ":4: boom" in error, error


def test_upstash_ratelimit_scripts_declare_their_keys(sdk: Redis) -> None:
    # The limiters' scripts are key-locked; a dynamic key in them would fail here.
    for kind, make in LIMITERS.items():
        limiter = Ratelimit(redis=sdk, limiter=make(), prefix=f"locked-{kind}")
        assert limiter.limit("someone").allowed


# ---------------------------------------------------------------------------- read-only scripts

READ_ONLY = "#!lua flags=no-writes,allow-key-locking\n"


def test_eval_ro_refuses_a_script_without_no_writes(http: httpx.Client) -> None:
    for script in [LOCKING_SCRIPT, "#!lua\nreturn 1"]:
        response = post(http, ["EVAL_RO", script, 1, "k"])
        assert response.status_code == 400
        assert response.json() == {"error": upstash_local.READ_ONLY_SCRIPT_ERROR}
        sha = post(http, ["SCRIPT", "LOAD", script]).json()["result"]
        assert sha == sha1(script)
        assert post(http, ["EVALSHA_RO", sha, 1, "k"]).json() == {
            "error": upstash_local.READ_ONLY_SCRIPT_ERROR
        }
    # Inside a pipeline the refusal takes its slot.
    pipeline = post(http, [["EVAL_RO", LOCKING_SCRIPT, 1, "k"], ["PING"]], "/pipeline")
    assert pipeline.json() == [{"error": upstash_local.READ_ONLY_SCRIPT_ERROR}, {"result": "PONG"}]


def test_read_only_script_that_writes_fails(http: httpx.Client) -> None:
    writes = READ_ONLY + "\nreturn redis.call('SET', KEYS[1], 'x')"
    for command in (["EVAL_RO", writes, 1, "k"], ["EVAL", writes, 1, "k"]):
        error = post(http, command).json()["error"]
        assert error.startswith(upstash_local.WRITE_IN_READ_ONLY_SCRIPT_ERROR), error
        assert error.endswith("@user_script:3."), error
    # A script without a shebang may run read-only (Upstash's own EVAL_RO example); its writes fail.
    assert post(http, ["EVAL_RO", "return ARGV[1]", 0, "hello"]).json() == {"result": "hello"}
    error = post(http, ["EVAL_RO", "return redis.call('SET', 'k', 'x')", 0]).json()["error"]
    assert error.startswith(upstash_local.WRITE_IN_READ_ONLY_SCRIPT_ERROR), error
    assert post(http, ["EXISTS", "k"]).json() == {"result": 0}


def test_evalsha_ro_runs_a_loaded_no_writes_script(http: httpx.Client, sdk: Redis) -> None:
    post(http, ["SET", "k", "v"])
    script = READ_ONLY + "return redis.call('GET', KEYS[1])"
    loaded = post(http, ["SCRIPT", "LOAD", script]).json()
    assert loaded == {"result": sha1(script)}  # the client's SHA, not the rewrite's
    assert post(http, ["EVALSHA_RO", sha1(script), 1, "k"]).json() == {"result": "v"}
    assert post(http, ["EVAL_RO", script, 1, "k"]).json() == {"result": "v"}
    assert sdk.evalsha_ro(sha1(script), ["k"]) == "v"
    assert sdk.eval_ro(script, ["k"]) == "v"
    dynamic = READ_ONLY + "return redis.call('GET', 'k')"
    error = post(http, ["EVAL_RO", dynamic, 1, "other"]).json()["error"]
    assert error.startswith(dynamic_key_error("k"))
    # A loaded script without a shebang runs read-only too, and cannot write.
    plain = "return redis.call('GET', KEYS[1])"
    post(http, ["SCRIPT", "LOAD", plain])
    assert post(http, ["EVALSHA_RO", sha1(plain), 1, "k"]).json() == {"result": "v"}
    post(http, ["SCRIPT", "FLUSH"])
    assert post(http, ["EVALSHA_RO", sha1(script), 1, "k"]).json() == {"error": NOSCRIPT}


# --------------------------------------------------------------------------------- size limits

TOO_LONG_KEY = "k" * (upstash_local.MAX_KEY_BYTES + 1)
KEY_SIZE_ERROR = (
    f"ERR max key size exceeded. Limit: {upstash_local.MAX_KEY_BYTES} bytes, "
    f"Actual: {upstash_local.MAX_KEY_BYTES + 1} bytes"
)


@pytest.mark.parametrize(
    "command",
    [
        ["SET", TOO_LONG_KEY, "v"],
        ["GET", TOO_LONG_KEY],
        ["MGET", "a", TOO_LONG_KEY],
        ["MSET", "a", "1", TOO_LONG_KEY, "2"],
        ["HSET", TOO_LONG_KEY, "f", "v"],
        ["RENAME", "a", TOO_LONG_KEY],
        ["EVAL", "return 1", 2, "a", TOO_LONG_KEY],
        ["EVAL", LOCKING_SCRIPT, 1, TOO_LONG_KEY],
        ["EVALSHA", "0" * 40, 1, TOO_LONG_KEY],
    ],
    ids=["set", "get", "mget", "mset", "hset", "rename", "eval", "eval-locked", "evalsha"],
)
def test_key_over_32_kb_refused(http: httpx.Client, command: list[Any]) -> None:
    response = post(http, command)
    assert response.status_code == 400
    assert response.json() == {"error": KEY_SIZE_ERROR}


def test_key_of_32_kb_and_long_values_allowed(http: httpx.Client) -> None:
    longest = "k" * upstash_local.MAX_KEY_BYTES
    assert post(http, ["SET", longest, TOO_LONG_KEY]).json() == {"result": "OK"}
    assert post(http, ["STRLEN", longest]).json() == {"result": len(TOO_LONG_KEY)}
    # Only key positions are measured: a long value or script argument is fine.
    assert post(http, ["EVAL", "return #ARGV[1]", 1, longest, TOO_LONG_KEY]).json() == {
        "result": len(TOO_LONG_KEY)
    }
    refused = post(http, [["SET", TOO_LONG_KEY, "v"], ["GET", longest]], "/pipeline")
    assert refused.json() == [{"error": KEY_SIZE_ERROR}, {"result": TOO_LONG_KEY}]


# ---------------------------------------------------------------------- stats and counting


def test_stats(
    standin_app: upstash_local.UpstashLocal, standin_url: str, http: httpx.Client
) -> None:
    stats = standin_app.stats
    sent: list[bytes] = []
    received: list[bytes] = []
    for path, body in [
        ("/", ["SET", "a", "1"]),
        ("/pipeline", [["GET", "a"], ["INCR", "a"], ["BLPOP", "l", 0]]),
        ("/multi-exec", [["INCR", "a"], ["GET", "a"]]),
    ]:
        content = json.dumps(body).encode()
        sent.append(content)
        received.append(http.post(path, content=content).content)
    received.append(httpx.post(standin_url, json=["PING"]).content)  # 401: still a request
    sent.append(b'["PING"]')

    assert stats.requests == 4
    assert stats.commands == 1 + 3 + 2
    assert stats.bytes_in == sum(map(len, sent))
    assert stats.bytes_out == sum(map(len, received))
    stats.reset()
    assert (stats.requests, stats.commands, stats.bytes_in, stats.bytes_out) == (0, 0, 0, 0)


def test_lock_counters(standin_app: upstash_local.UpstashLocal, http: httpx.Client) -> None:
    stats = standin_app.stats
    plain = "return 1"
    post(http, ["EVAL", LOCKING_SCRIPT, 1, "k"])
    post(http, ["EVAL", plain, 0])
    post(http, ["EVAL_RO", READ_ONLY + "return 1", 0])
    post(http, ["EVAL_RO", LOCKING_SCRIPT, 1, "k"])  # refused, but received
    post(http, ["EVALSHA", sha1(LOCKING_SCRIPT), 1, "k"])
    post(http, ["EVALSHA_RO", sha1(plain), 0])
    post(http, [["EVAL", LOCKING_SCRIPT, 1, "k"], ["EVALSHA", sha1(plain), 0]], "/pipeline")
    # Upstash runs every script of a transaction under the global lock.
    post(http, [["EVAL", LOCKING_SCRIPT, 1, "k"]], "/multi-exec")
    post(http, ["EVALSHA", "0" * 40, 0])  # unknown: NOSCRIPT, counted in neither
    post(http, ["GET", "k"])
    assert (stats.key_locked_scripts, stats.global_lock_scripts) == (5, 4)
    stats.reset()
    assert (stats.key_locked_scripts, stats.global_lock_scripts) == (0, 0)


def test_guard_adds_no_billed_commands(backend_url: str | None, http: httpx.Client) -> None:
    if backend_url is None:
        pytest.skip("fakeredis keeps no command statistics")
    script = KEY_LOCKED + (
        "redis.call('SET', KEYS[1], 1)\nredis.call('INCR', KEYS[1])\n"
        "return redis.call('ZCARD', KEYS[2])"
    )
    for command in (["EVAL", script, 2, "a", "b"], ["EVALSHA", sha1(script), 2, "a", "b"]):
        redis_backend.reset_stats(backend_url)
        assert post(http, command).json() == {"result": 0}
        assert redis_backend.redis_command_total(backend_url) == 1 + 3
    # Commands outside the key table are checked with COMMAND GETKEYS, which is not billed either.
    outside = KEY_LOCKED + "return redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[2])"
    redis_backend.reset_stats(backend_url)
    assert post(http, ["EVAL", outside, 2, "a", "b"]).json() == {"result": 0}
    assert redis_backend.redis_command_total(backend_url) == 1 + 1


def test_billed_commands(backend_url: str | None, http: httpx.Client) -> None:
    redis_backend.reset_stats(backend_url)
    post(http, ["EVAL", "redis.call('SET', KEYS[1], 1); return redis.call('GET', KEYS[1])", 1, "k"])
    post(http, [["INCR", "k"], ["GET", "k"]], "/pipeline")
    post(http, [["INCR", "k"], ["GET", "k"]], "/multi-exec")
    total = redis_backend.redis_command_total(backend_url)
    if backend_url is None:
        assert total is None  # fakeredis keeps no command statistics
    else:
        # EVAL + its 2 calls, 2 pipelined, 2 in the transaction (MULTI/EXEC are ours, not billed).
        assert total == 3 + 2 + 2


# ------------------------------------------------------------- other ways to run the stand-in


def test_latency(backend_url: str | None, standin_token: str) -> None:
    app = upstash_local.create_app(token=standin_token, redis_url=backend_url, latency_ms=80)
    with serve.serve_in_thread(app) as url, Redis(url, standin_token, rest_retries=0) as redis:
        redis.ping()  # warm up the connection
        started = time.perf_counter()
        redis.ping()
        assert time.perf_counter() - started >= 0.08


def test_mounted_under_a_sub_path(backend_url: str | None, standin_token: str) -> None:
    standin = upstash_local.create_app(token=standin_token, redis_url=backend_url)
    parent = Starlette(routes=[Mount("/__upstash", app=standin)], lifespan=standin.lifespan)
    with serve.serve_in_thread(parent) as url:
        with Redis(f"{url}/__upstash/", standin_token, rest_retries=0) as redis:
            assert cast(object, redis.set("mounted", "yes")) is True
            pipeline = redis.pipeline()
            pipeline.get("mounted")
            assert pipeline.exec() == ["yes"]
            transaction = redis.multi()
            transaction.get("mounted")
            assert transaction.exec() == ["yes"]
        # Starlette redirects the bare prefix, and the SDK does not follow redirects: mounted,
        # the stand-in's URL must end with a slash.
        bare = httpx.post(f"{url}/__upstash", json=["PING"])
        assert bare.status_code == 307


def test_one_app_served_twice(backend_url: str | None, standin_token: str) -> None:
    # Each server has its own event loop; the app reconnects in the new one.
    app = upstash_local.create_app(token=standin_token, redis_url=backend_url)
    with serve.serve_in_thread(app) as url, Redis(url, standin_token, rest_retries=0) as redis:
        redis.set("survives", "yes")
    with serve.serve_in_thread(app) as url, Redis(url, standin_token, rest_retries=0) as redis:
        assert redis.get("survives") == "yes"


def test_served_port_is_released(standin_token: str) -> None:
    app = upstash_local.create_app(token=standin_token)
    with serve.serve_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        assert httpx.post(
            url, json=["PING"], headers={"Authorization": f"Bearer {standin_token}"}
        ).json()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_private_redis_without_a_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with redis_backend.private_redis() as url:
        assert url is None
    assert redis_backend.redis_command_total(None) is None
    redis_backend.reset_stats(None)  # a no-op
