"""The Upstash stand-in in a child process, and a meter of what it served.

The stand-in runs in its own process (served by ``devtools.serve.serve_in_thread``) so that its
work -- parsing commands, base64-encoding replies -- neither shares this process's GIL nor is
counted as the handler's own time, as on AWS where Upstash is another machine. Beside the
Upstash routes it answers ``GET /__bench/stats`` (its ``Stats`` counters as JSON) and
``POST /__bench/reset``; those two are not counted. Its stats include, once the stand-in
counts them, how many scripts it received with and without Upstash's ``allow-key-locking``
flag (``Reading.key_locked_scripts`` / ``global_lock_scripts``; None while it does not).

Run as ``python -m devtools.bench.standin --token T [--redis-url URL] [--latency-ms MS]``: it
prints its base URL on one line, then serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from devtools import redis_backend, serve, upstash_local

STATS_PATH = "/__bench/stats"
RESET_PATH = "/__bench/reset"
# Script counters the stand-in may or may not keep (per EVAL/EVALSHA/EVAL_RO/EVALSHA_RO: whether
# the script's shebang carries `allow-key-locking`); read with a default so that the bench runs
# on a stand-in with or without them.
# What redis_backend.redis_command_total leaves out (the tooling's own commands, which no client
# of Upstash is billed for), shared so that the split by name adds up to the same total.
TOOLING_COMMANDS = redis_backend._TOOLING_COMMANDS
LOCK_COUNTERS = ("key_locked_scripts", "global_lock_scripts")


def _with_stats(app: upstash_local.UpstashLocal) -> Any:
    """``app`` plus the two uncounted bench routes."""

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in {STATS_PATH, RESET_PATH}:
            await app(scope, receive, send)
            return
        if path == RESET_PATH:
            app.stats.reset()
        stats = dataclasses.asdict(app.stats)
        for name in LOCK_COUNTERS:
            stats[name] = getattr(app.stats, name, None)
        body = json.dumps(stats).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return dispatch


def main(argv: list[str] | None = None) -> None:
    """Serve the stand-in until standard input closes."""
    parser = argparse.ArgumentParser(description="The Upstash stand-in for benchmarks.")
    parser.add_argument("--token", required=True)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    app = upstash_local.create_app(
        token=args.token, redis_url=args.redis_url, latency_ms=args.latency_ms
    )
    with serve.serve_in_thread(_with_stats(app)) as url:
        print(url, flush=True)
        sys.stdin.read()  # until the parent closes it (or exits)


@dataclass(frozen=True)
class Reading:
    """Counters at one instant: the stand-in's and, with redis-server, Redis's."""

    requests: int
    commands: int
    """Top-level commands the stand-in received (a script counts once)."""
    bytes_in: int
    bytes_out: int
    billed: int | None
    """Commands Redis executed, every ``redis.call`` of a script included (None: fakeredis)."""
    key_locked_scripts: int | None = None
    """Scripts received whose shebang has ``allow-key-locking`` (None: not counted)."""
    global_lock_scripts: int | None = None
    """Scripts received without that flag: Upstash runs them under its global lock."""

    def __sub__(self, other: Reading) -> Reading:
        return Reading(
            self.requests - other.requests,
            self.commands - other.commands,
            self.bytes_in - other.bytes_in,
            self.bytes_out - other.bytes_out,
            _minus(self.billed, other.billed),
            _minus(self.key_locked_scripts, other.key_locked_scripts),
            _minus(self.global_lock_scripts, other.global_lock_scripts),
        )


def _minus(a: int | None, b: int | None) -> int | None:
    """``a - b``; None when either was not counted."""
    return None if a is None or b is None else a - b


def lock_kind(key_locked: float | None, global_lock: float | None) -> str:
    """What the scripts of a call lock on Upstash: global, key, mixed, none; n/a if not counted."""
    if key_locked is None or global_lock is None:
        return "n/a"
    if key_locked and global_lock:
        return "mixed"
    return "global" if global_lock else "key" if key_locked else "none"


class Standin:
    """A running stand-in child process: its URL, token, and a meter of what it served."""

    def __init__(self, process: subprocess.Popen[str], url: str, token: str, redis_url: str | None):
        self.process = process
        self.url = url
        self.token = token
        self.redis_url = redis_url
        self._http = httpx.Client(base_url=url, timeout=30)

    def read(self) -> Reading:
        """The counters now."""
        stats = self._http.get(STATS_PATH).json()
        return Reading(
            stats["requests"],
            stats["commands"],
            stats["bytes_in"],
            stats["bytes_out"],
            redis_backend.redis_command_total(self.redis_url),
            stats.get("key_locked_scripts"),
            stats.get("global_lock_scripts"),
        )

    def commands_by_name(self) -> dict[str, int] | None:
        """Redis's executed commands per name since its last reset (None: fakeredis).

        The same count as ``Reading.billed``, split by command (``evalsha``, ``hset``, ...), for
        telling writes from reads. Subcommands keep Redis's ``name|sub`` form.
        """
        if self.redis_url is None:
            return None
        with redis.Redis.from_url(self.redis_url, protocol=2) as client:
            stats = client.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        return {name: n for name, n in calls.items() if name not in TOOLING_COMMANDS}

    def close(self) -> None:
        """Stop the child process (it exits when its standard input closes)."""
        self._http.close()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def standin_process(*, token: str, redis_url: str | None, latency_ms: float) -> Iterator[Standin]:
    """Start a stand-in child process on ``redis_url`` (None: its own fakeredis)."""
    command = [
        sys.executable,
        "-m",
        "devtools.bench.standin",
        "--token",
        token,
        "--latency-ms",
        str(latency_ms),
    ]
    if redis_url is not None:
        command += ["--redis-url", redis_url]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        process.wait()
        raise RuntimeError(f"the stand-in did not start (exit code {process.poll()})")
    standin = Standin(process, url, token, redis_url)
    try:
        yield standin
    finally:
        standin.close()


if __name__ == "__main__":
    main()
