"""What ``make dev`` keeps between runs: its fakeredis data and its anonymous-token secret.

A frontend developer restarts the dev server often; their anonymous token and their chats must
survive that. Both live in one gitignored folder (``.dev-data/`` by default; ``make dev-reset``
removes it):

- ``anonymous-token-secret``: generated on first use, readable by the owner only, used unless
  ``ANONYMOUS_TOKEN_SECRET`` is set; tokens issued before a restart stay valid after it.
- ``redis.json``: a snapshot of the in-process fakeredis (when ``REDIS_URL`` is not set),
  restored at start, written a moment after requests change the data and once more on shutdown.

The snapshot is portable JSON written with ordinary commands (each key's type, value and absolute
expiry; bytes as base64), not fakeredis's pickled ``DUMP`` format, so a fakeredis upgrade does not
strand it. It is taken inside the server's event loop without yielding, so no request runs in the
middle of it: it holds whole API calls (each one script), never half of one. Written to a temporary
file and renamed over the old one, a crash mid-write leaves the previous snapshot whole.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DEFAULT_FOLDER", "DevData"]

DEFAULT_FOLDER = Path(".dev-data")
_SECRET_FILE = "anonymous-token-secret"  # noqa: S105  (a file name, not the secret)
_SNAPSHOT_FILE = "redis.json"
_FORMAT = 1
# Requests arrive in bursts (a streamed reply is a delta every 100-250 ms): one snapshot a moment
# after a burst, not one per request.
_SAVE_DELAY_S = 1.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class DevData:
    """The dev server's data folder: the anonymous-token secret and the fakeredis snapshot."""

    def __init__(self, folder: Path = DEFAULT_FOLDER, *, save_delay_s: float = _SAVE_DELAY_S):
        """Use ``folder`` (created when first written); snapshots wait ``save_delay_s``."""
        self.folder = folder
        self.snapshot_path = folder / _SNAPSHOT_FILE
        self._save_delay_s = save_delay_s
        self._server: Any = None
        self._saved: bytes | None = None
        self._pending: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ the secret

    def anonymous_token_secret(self) -> str:
        """The folder's anonymous-token secret, generated and stored on first use."""
        path = self.folder / _SECRET_FILE
        if path.is_file():
            secret = path.read_text().strip()
            if len(secret.encode()) >= 32:  # the settings' minimum
                return secret
        self._make_folder()
        secret = secrets.token_urlsafe(32)
        # Owner-only from the start: the secret signs tokens that stand for a user.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secret + "\n")
        return secret

    # ------------------------------------------------------------------ the data

    def open_fakeredis(self) -> Any:
        """A ``fakeredis.FakeServer`` holding the last snapshot (empty without one).

        Raises ``SystemExit`` naming the file when it cannot be read, rather than start empty and
        overwrite it at the first save.
        """
        import fakeredis

        self._server = fakeredis.FakeServer()
        if self.snapshot_path.is_file():
            raw = self.snapshot_path.read_bytes()
            try:
                self._restore(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(
                    f"{self.snapshot_path} cannot be read ({exc}); move it aside, or start "
                    f"afresh with `make dev-reset`"
                ) from exc
            self._saved = raw
        return self._server

    def save(self) -> bool:
        """Write the snapshot if the data changed since the last one; whether it wrote."""
        if self._server is None:
            return False
        data = json.dumps(self._snapshot(), separators=(",", ":")).encode()
        if data == self._saved:
            return False
        self._make_folder()
        partial = self.snapshot_path.with_name(self.snapshot_path.name + ".partial")
        # Owner-only, like the secret: the snapshot holds the developer's chats.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(self.snapshot_path)
        self._saved = data
        return True

    def autosave(self, app: ASGIApp) -> ASGIApp:
        """``app`` (the stand-in), saving the data a moment after the requests it serves."""

        async def saving(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                if scope["type"] == "http" and self._pending is None:
                    loop = asyncio.get_running_loop()
                    self._pending = loop.call_later(self._save_delay_s, self._save_later)

        return saving

    def _save_later(self) -> None:
        self._pending = None
        try:
            self.save()
        except OSError as exc:  # a full disk must not take the dev server down with it
            print(f"could not save {self.snapshot_path}: {exc}", file=sys.stderr)

    def _make_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.exists():  # never committed, whatever the repository's own .gitignore says
            ignore.write_text("*\n")

    def _client(self) -> Any:
        import fakeredis

        # RESP2, as the stand-in speaks to it; a synchronous client: no await, no interleaving.
        return fakeredis.FakeRedis(server=self._server, protocol=2)

    def _snapshot(self) -> dict[str, Any]:
        client = self._client()
        keys: list[dict[str, Any]] = []
        for key in sorted(client.scan_iter(count=1000)):
            kind = client.type(key).decode()
            value: Any
            if kind == "string":
                value = _b64(client.get(key))
            elif kind == "hash":
                value = [[_b64(f), _b64(v)] for f, v in sorted(client.hgetall(key).items())]
            elif kind == "zset":
                pairs = client.zrange(key, 0, -1, withscores=True)
                value = [[_b64(member), repr(score)] for member, score in pairs]
            elif kind == "list":
                value = [_b64(item) for item in client.lrange(key, 0, -1)]
            elif kind == "set":
                value = [_b64(item) for item in sorted(client.smembers(key))]
            else:  # nothing here writes other types; keep the rest rather than fail the save
                print(f"not saved: {key!r} of type {kind}", file=sys.stderr)
                continue
            # Absolute (PEXPIRETIME, not PTTL): unchanged data gives an unchanged snapshot.
            expire_at = client.pexpiretime(key)
            if expire_at == -2:  # expired between SCAN and now
                continue
            expire_at = None if expire_at < 0 else expire_at
            keys.append({"key": _b64(key), "type": kind, "expireAt": expire_at, "value": value})
        return {"format": _FORMAT, "keys": keys}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        if snapshot["format"] != _FORMAT:
            raise ValueError(f"unknown snapshot format {snapshot['format']!r}")
        client = self._client()
        now_ms = time.time_ns() // 1_000_000
        for entry in snapshot["keys"]:
            key, kind, value, expire_at = (
                _unb64(entry["key"]),
                entry["type"],
                entry["value"],
                entry["expireAt"],
            )
            if expire_at is not None and expire_at <= now_ms:
                continue  # expired while the server was stopped, as it would have while running
            if kind == "string":
                client.set(key, _unb64(value))
            elif kind == "hash":
                client.hset(key, mapping={_unb64(f): _unb64(v) for f, v in value})
            elif kind == "zset":
                client.zadd(key, {_unb64(member): float(score) for member, score in value})
            elif kind == "list":
                client.rpush(key, *(_unb64(item) for item in value))
            elif kind == "set":
                client.sadd(key, *(_unb64(item) for item in value))
            else:
                raise ValueError(f"unknown key type {kind!r}")
            if expire_at is not None:
                client.pexpireat(key, expire_at)
