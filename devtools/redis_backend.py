"""A private, throw-away redis-server for tests and benchmarks, and its command counters.

When ``redis-server`` is on PATH, :func:`private_redis` starts one on a free loopback port with
persistence off, in a temporary directory, and stops it afterwards. When it is not, it yields
``None``, which :func:`devtools.upstash_local.create_app` takes to mean "use fakeredis", so the
same test or benchmark runs on any machine.

Upstash bills per command, including every ``redis.call`` inside a Lua script. Redis's
``INFO commandstats`` counts exactly those, so :func:`redis_command_total` is how benchmarks and
tests/store/test_cost.py measure cost. fakeredis keeps no such statistics: the helpers return
``None`` / do nothing there.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import redis

__all__ = ["private_redis", "redis_command_total", "reset_stats"]

_START_ATTEMPTS = 3
_START_TIMEOUT_S = 10.0

# Commands the tooling itself sends, which a client of Upstash would never be billed for: our own
# INFO and CONFIG RESETSTAT, redis-py's connection handshake, the MULTI/EXEC pair the stand-in
# wraps around /multi-exec requests (clients cannot send those themselves), and the COMMAND
# GETKEYS its script guard asks to find the keys of a command outside its key table (a client
# sending COMMAND GETKEYS itself, which nothing here does, would go uncounted too).
_TOOLING_COMMANDS = frozenset(
    {"info", "config|resetstat", "client|setinfo", "multi", "exec", "command|getkeys"}
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start(binary: str, directory: str) -> tuple[subprocess.Popen[bytes], int] | None:
    """Start redis-server on a free port; None if it exited (e.g. someone took the port)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            directory,
        ],
        cwd=directory,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        if _answers_ping(port):
            return process, port
        time.sleep(0.02)
    _stop(process)
    raise RuntimeError(f"redis-server did not answer PING within {_START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def private_redis() -> Iterator[str | None]:
    """Yield the ``redis://`` URL of a private redis-server, or ``None`` if there is no binary."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="upstash-local-redis-") as directory:
        # The free port is only free until someone else binds it: retry on a lost race.
        for _ in range(_START_ATTEMPTS):
            started = _start(binary, directory)
            if started is not None:
                break
        else:
            raise RuntimeError(f"redis-server failed to start {_START_ATTEMPTS} times")
        process, port = started
        try:
            yield f"redis://127.0.0.1:{port}"
        finally:
            _stop(process)


def redis_command_total(url: str | None) -> int | None:
    """Return the number of commands Redis ran since the last reset (``None`` for fakeredis).

    This is the sum of ``calls`` in ``INFO commandstats``, which counts commands run inside Lua
    scripts as well as the EVAL itself, like Upstash's billing; see ``_TOOLING_COMMANDS`` for what
    is left out. A client sending INFO or CONFIG RESETSTAT through the stand-in is not counted.
    """
    if url is None:
        return None
    with redis.Redis.from_url(url, protocol=2) as client:
        stats = client.info("commandstats")
    return sum(
        int(values["calls"])
        for name, values in stats.items()
        if name.removeprefix("cmdstat_") not in _TOOLING_COMMANDS
    )


def reset_stats(url: str | None) -> None:
    """Zero Redis's command counters (``CONFIG RESETSTAT``); nothing for fakeredis."""
    if url is None:
        return
    with redis.Redis.from_url(url, protocol=2) as client:
        client.config_resetstat()
