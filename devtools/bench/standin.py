"""The Upstash stand-in in a child process, and a meter of what it served.

The stand-in runs in its own process (served by ``devtools.serve.serve_in_thread``) so that its
work -- parsing commands, base64-encoding replies -- neither shares this process's GIL nor is
counted as the handler's own time, as on AWS where Upstash is another machine. Beside the
Upstash routes it answers ``GET /__bench/stats`` (its ``Stats`` counters as JSON) and
``POST /__bench/reset``; those two are not counted.

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

from devtools import redis_backend, serve, upstash_local

STATS_PATH = "/__bench/stats"
RESET_PATH = "/__bench/reset"


def _with_stats(app: upstash_local.UpstashLocal) -> Any:
    """``app`` plus the two uncounted bench routes."""

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in {STATS_PATH, RESET_PATH}:
            await app(scope, receive, send)
            return
        if path == RESET_PATH:
            app.stats.reset()
        body = json.dumps(dataclasses.asdict(app.stats)).encode()
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

    def __sub__(self, other: Reading) -> Reading:
        billed = None
        if self.billed is not None and other.billed is not None:
            billed = self.billed - other.billed
        return Reading(
            self.requests - other.requests,
            self.commands - other.commands,
            self.bytes_in - other.bytes_in,
            self.bytes_out - other.bytes_out,
            billed,
        )


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
        )

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
