"""``make dev`` keeps its data and its anonymous-token secret across restarts (devtools.dev_data).

Each test stops a served stand-in and starts another on the same folder, as a developer
restarting the dev server does; everything runs in-process on loopback ports, in well under a
second.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devtools import dev_server, serve, upstash_local
from devtools.dev_data import DevData
from shared import app as shared_app
from shared import settings

TOKEN = "dev-data-test-token"


@contextmanager
def served(data: DevData) -> Iterator[httpx.Client]:
    """The stand-in on ``data``'s fakeredis, as the dev server builds it; a client for it."""
    app = data.autosave(upstash_local.create_app(token=TOKEN, fake_server=data.open_fakeredis()))
    with (
        serve.serve_in_thread(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        yield client


def run(client: httpx.Client, *commands: list[Any]) -> list[Any]:
    """The results of ``commands``, sent as one pipeline."""
    answer = client.post("/pipeline", json=list(commands))
    assert answer.status_code == 200, answer.text
    return [entry["result"] for entry in answer.json()]


def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    """Poll ``condition`` until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_data_survives_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / ".dev-data"
    first = DevData(folder, save_delay_s=0.01)
    with served(first) as client:
        run(
            client,
            ["SET", "s", "välue"],
            ["HSET", "h", "a|c1", "1", "t|c1", '{"x":1}'],
            ["ZADD", "z", "1740823200000", "c1", "-5", "old", "+inf", "top"],
            ["RPUSH", "l", "a", "b"],
            ["SADD", "set", "x"],
            ["SET", "lives", "1", "PX", "600000"],
            ["SET", "gone", "1", "PX", "50"],
        )
        # Saved a moment after the requests, without waiting for the shutdown.
        wait_for(first.snapshot_path.is_file)
        run(client, ["HSET", "h", "late", "2"])
    first.save()  # what the dev server does once uvicorn has stopped
    assert (folder / ".gitignore").read_text() == "*\n"
    assert stat.S_IMODE(first.snapshot_path.stat().st_mode) == 0o600

    time.sleep(0.06)  # "gone" expires while the server is stopped
    second = DevData(folder)
    with served(second) as client:
        s, h, z, lst, members, ttl, gone = run(
            client,
            ["GET", "s"],
            ["HGETALL", "h"],
            ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            ["LRANGE", "l", "0", "-1"],
            ["SMEMBERS", "set"],
            ["PTTL", "lives"],
            ["EXISTS", "gone"],
        )
    assert s == "välue"
    assert dict(zip(h[::2], h[1::2], strict=True)) == {
        "a|c1": "1",
        "t|c1": '{"x":1}',
        "late": "2",
    }
    assert z == ["old", "-5", "c1", "1740823200000", "top", "inf"]
    assert lst == ["a", "b"]
    assert members == ["x"]
    assert 0 < ttl <= 600000
    assert gone == 0


def test_unchanged_data_is_not_rewritten(tmp_path: Path) -> None:
    data = DevData(tmp_path / "d", save_delay_s=0.01)
    with served(data) as client:
        run(client, ["SET", "k", "v", "PX", "600000"])
        wait_for(data.snapshot_path.is_file)
    assert data.save() is False  # reads and expiries that did not move leave the file alone
    assert DevData(tmp_path / "d").save() is False  # nothing opened: nothing to save


def test_an_unreadable_snapshot_stops_the_start_instead_of_being_overwritten(
    tmp_path: Path,
) -> None:
    data = DevData(tmp_path)
    data.snapshot_path.write_text('{"format": 1, "keys": [{"key": "!!"')
    with pytest.raises(SystemExit, match="make dev-reset"):
        data.open_fakeredis()
    assert data.snapshot_path.read_text().startswith('{"format": 1')


def test_the_anonymous_token_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    folder = tmp_path / ".dev-data"
    secret = DevData(folder).anonymous_token_secret()
    assert len(secret) >= 32
    assert DevData(folder).anonymous_token_secret() == secret
    path = folder / "anonymous-token-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def closing_upstash(app: ASGIApp) -> ASGIApp:
    """``app``, closing the API's Upstash client on shutdown, in the loop that opened it."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_and_close() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await shared_app.get_services().upstash.aclose()
            return message

        await app(scope, receive_and_close if scope["type"] == "lifespan" else receive, send)

    return wrapped


def restart_process() -> None:
    """Forget the settings and services, as a new dev-server process starts without them."""
    shared_app.get_services.cache_clear()
    settings.get_settings.cache_clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_AWS_DUMMIES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def test_make_dev_keeps_tokens_and_chats_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dev server itself, twice on one folder: uvicorn.run is replaced by a short session
    # on a real socket, then main() returns as it does after Ctrl+C.
    monkeypatch.chdir(tmp_path)
    started_with = ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "ANONYMOUS_TOKEN_SECRET")
    for name in (*started_with, "REDIS_URL", "CORS_ALLOW_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    # What main() sets for its local WebSocket API: recorded (set, then unset) so that the
    # monkeypatch takes it away again, whatever main() left.
    for name in ("WEBSOCKET_ENDPOINT", *_AWS_DUMMIES):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    port = _free_port()
    body = {
        "id": "kept",
        "title": "Kept",
        "messages": [],
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z",
        "totalTokens": 0,
    }
    found: dict[str, Any] = {}

    def first_session(app: Any, host: str, port: int, **_: Any) -> None:
        with (
            serve.serve_in_thread(closing_upstash(app), host, port) as url,
            httpx.Client(base_url=url) as client,
        ):
            found["token"] = client.post("/api/auth/anonymous").json()["token"]
            auth = {"Authorization": f"Bearer {found['token']}"}
            assert client.put("/api/conversations/kept", json=body, headers=auth).status_code == 201

    def second_session(app: Any, host: str, port: int, **_: Any) -> None:
        with (
            serve.serve_in_thread(closing_upstash(app), host, port) as url,
            httpx.Client(base_url=url) as client,
        ):
            auth = {"Authorization": f"Bearer {found['token']}"}
            found["after"] = client.get("/api/conversations/kept", headers=auth)

    for session in (first_session, second_session):
        # Each start builds its services afresh from the environment, as a new process does.
        restart_process()
        monkeypatch.setattr(uvicorn, "run", session)
        dev_server.main(["--port", str(port)])
        # A new process starts without what main() set: the secret must come from the folder.
        for name in started_with:
            monkeypatch.delenv(name)
    restart_process()

    after = found["after"]
    assert after.status_code == 200, after.text
    assert json.loads(after.text)["title"] == "Kept"
    assert (tmp_path / ".dev-data" / "redis.json").is_file()
    assert (tmp_path / ".dev-data" / "anonymous-token-secret").is_file()


def test_a_terminated_dev_server_saves_what_it_was_just_sent(tmp_path: Path) -> None:
    # A process manager (or a test harness) stops the server with SIGTERM, not Ctrl+C: the
    # write made just before must be in the snapshot, not lost with the autosave's delay.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "REDIS_URL"}
    }
    env["ANONYMOUS_TOKEN_SECRET"] = "terminated-dev-server-test-secret-0123456789"
    data_dir = tmp_path / "data"

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        command = [sys.executable, "-m", "devtools.dev_server", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/api/health").status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the dev server exited at start"
            assert time.monotonic() < deadline, "the dev server did not answer in time"
            time.sleep(0.05)

    process, url = start()
    try:
        token = httpx.post(f"{url}/api/auth/anonymous").json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = {
            "id": "last",
            "title": "Written just before the stop",
            "messages": [],
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
            "totalTokens": 0,
        }
        written = httpx.put(f"{url}/api/conversations/last", json=body, headers=auth)
        assert written.status_code == 201, written.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 128 + signal.SIGTERM

    process, url = start()
    try:
        kept = httpx.get(f"{url}/api/conversations/last", headers=auth)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert kept.status_code == 200, kept.text
    assert kept.json()["title"] == "Written just before the stop"
