"""A fault-injecting HTTP proxy between the service and the Upstash stand-in.

A mock that answers *instead of* Upstash cannot show the fault that duplicates data: the script
ran, then its answer was lost. This proxy sits on a real socket in front of the real stand-in
and forwards each request (Upstash's REST API is one POST per command), unless a fault is due:

- ``lose_answer``: forward, let the script run, then reset the connection instead of answering.
- ``reset``: reset the connection before forwarding (nothing ran).
- ``stall``: hold the request ``seconds`` (past the client's timeout), then forward it anyway:
  an attempt that reaches Upstash after its own re-send.
- ``noscript``: ``SCRIPT FLUSH`` the stand-in first (Upstash restarted and forgot its scripts).
- ``reply``: answer ``status`` and ``{"error": text}`` without forwarding (Upstash refusing).
- ``outage``: stop listening for ``seconds`` (connections refused), then listen again.

Faults are queued (``inject``) for the next requests that ``match`` or drawn at random
(``randomly``, seeded). Everything the proxy did is in ``events``. It serves HTTP/1.1 with
keep-alive, enough for httpx; it runs its own event loop in a daemon thread, like
``devtools.serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

__all__ = ["Fault", "FaultProxy", "is_write", "running_proxy"]

Kind = Literal["lose_answer", "reset", "stall", "noscript", "reply", "outage"]

# The request headers Upstash reads, and the answer headers the SDK reads.
_FORWARDED = ("authorization", "upstash-encoding", "upstash-sync-token", "content-type")
_ANSWERED = ("content-type", "upstash-sync-token")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """One fault for one request (see the module docstring for the kinds)."""

    kind: Kind
    seconds: float = 0.0
    status: int = 400
    text: str = ""


@dataclass
class Event:
    """What the proxy did with one request: its command's first words and the fault, if any."""

    command: list[Any]
    fault: Fault | None
    ran: bool
    """Whether the request reached the stand-in."""


@dataclass
class _Random:
    rng: random.Random
    rates: list[tuple[float, Fault]]


@dataclass
class FaultProxy:
    """The proxy's state; ``running_proxy`` starts one."""

    upstream: str
    url: str = ""
    events: list[Event] = field(default_factory=list)
    _queue: deque[tuple[Fault, Callable[[list[Any]], bool]]] = field(default_factory=deque)
    _random: _Random | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reopen: Callable[[float], None] | None = None

    def inject(self, *faults: Fault, match: Callable[[list[Any]], bool] | None = None) -> None:
        """Apply ``faults``, in order, to the next requests whose command ``match`` accepts."""
        with self._lock:
            for fault in faults:
                self._queue.append((fault, match or (lambda _command: True)))

    def randomly(self, seed: int, rates: list[tuple[float, Fault]]) -> None:
        """Draw a fault for every request: each of ``rates`` is (probability, fault)."""
        with self._lock:
            self._random = _Random(random.Random(seed), rates)  # noqa: S311  (faults, not secrets)

    def calm(self) -> None:
        """Inject nothing more: forget queued faults and stop drawing them."""
        with self._lock:
            self._queue.clear()
            self._random = None

    def pending(self) -> int:
        """Faults queued and not yet applied."""
        with self._lock:
            return len(self._queue)

    def _draw(self, command: list[Any]) -> Fault | None:
        with self._lock:
            for i, (fault, match) in enumerate(self._queue):
                if match(command):
                    del self._queue[i]
                    return fault
            if self._random is not None:
                roll = self._random.rng.random()
                for rate, fault in self._random.rates:
                    if roll < rate:
                        return fault
                    roll -= rate
        return None


def is_write(command: list[Any]) -> bool:
    """Whether ``command`` runs a script that may write (``EVAL``/``EVALSHA``, not ``*_RO``)."""
    return bool(command) and command[0] in ("EVAL", "EVALSHA")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    if len(head) > _MAX_HEAD:
        return None
    lines = head.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return target, headers, body


def _answer(status: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"content-length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _command(body: bytes) -> list[Any]:
    try:
        command = json.loads(body)
    except ValueError:
        return []
    return command if isinstance(command, list) else []


class _Server:
    def __init__(self, proxy: FaultProxy, sock: socket.socket) -> None:
        self.proxy = proxy
        self.sock = sock
        self.server: asyncio.AbstractServer | None = None
        self.client = httpx.AsyncClient(base_url=proxy.upstream, timeout=30)
        self.tasks: set[asyncio.Task[None]] = set()
        # Every connection's transport from the moment it is accepted: one accepted just
        # before the proxy stops has no handler running yet to close it.
        self.transports: set[asyncio.Transport] = set()
        self.down = False

    async def start(self) -> None:
        transports = self.transports

        class Tracked(asyncio.StreamReaderProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                if isinstance(transport, asyncio.Transport):
                    transports.add(transport)
                super().connection_made(transport)

        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: Tracked(asyncio.StreamReader(), self.handle), sock=self.sock
        )

    async def outage(self, seconds: float) -> None:
        # Closing the listening socket refuses new connections; open ones are reset.
        host, port = self.sock.getsockname()[:2]
        assert self.server is not None
        self.down = True
        self.server.close()
        await asyncio.sleep(seconds)
        self.sock = _bind(host, port)
        await self.start()
        self.down = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if not await self.serve(writer, *request):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def serve(
        self, writer: asyncio.StreamWriter, target: str, headers: dict[str, str], body: bytes
    ) -> bool:
        """Forward one request, or not; whether the connection stays open."""
        if self.down:  # a connection kept alive from before the outage
            writer.transport.abort()
            return False
        command = _command(body)
        fault = self.proxy._draw(command)
        event = Event(command[:2], fault, ran=False)
        self.proxy.events.append(event)
        kind = fault.kind if fault else None
        if kind == "reset":
            writer.transport.abort()
            return False
        if kind == "outage":
            assert fault is not None
            writer.transport.abort()
            task = asyncio.get_running_loop().create_task(self.outage(fault.seconds))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return False
        if kind == "reply":
            assert fault is not None
            reply = json.dumps({"error": fault.text}).encode()
            writer.write(_answer(fault.status, {"content-type": "application/json"}, reply))
            await writer.drain()
            return True
        if kind == "stall":
            assert fault is not None
            await asyncio.sleep(fault.seconds)
        if kind == "noscript":
            await self.client.post(
                "/", json=["SCRIPT", "FLUSH"], headers={"authorization": headers["authorization"]}
            )
        forwarded = {name: headers[name] for name in _FORWARDED if name in headers}
        answer = await self.client.post(target, content=body, headers=forwarded)
        event.ran = True
        if kind == "lose_answer":
            writer.transport.abort()
            return False
        kept = {name: answer.headers[name] for name in _ANSWERED if name in answer.headers}
        writer.write(_answer(answer.status_code, kept, answer.content))
        await writer.drain()
        return True


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(100)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def running_proxy(upstream: str, host: str = "127.0.0.1") -> Iterator[FaultProxy]:
    """A proxy to ``upstream`` on a free loopback port until the block exits."""
    sock = _bind(host, 0)
    proxy = FaultProxy(upstream, url=f"http://{host}:{sock.getsockname()[1]}")
    loop = asyncio.new_event_loop()
    server = _Server(proxy, sock)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=f"fault-proxy:{proxy.url}", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield proxy
    finally:

        async def stop() -> None:
            if server.server is not None:
                server.server.close()
            tasks = list(server.tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for transport in server.transports:
                transport.abort()  # (those no handler reached: closed here, on their loop)
            await asyncio.sleep(0)
            await server.client.aclose()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        sock.close()
