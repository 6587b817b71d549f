"""Run an ASGI app under uvicorn in a background thread, for tests and benchmarks.

The Upstash SDK only talks HTTP through its own ``httpx`` client, so the honest way to test
against the stand-in is to put it behind a real socket. :func:`serve_in_thread` does that without
a subprocess: uvicorn runs its own event loop in a daemon thread, on a port chosen by the OS.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["serve_in_thread"]

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, websockets: bool = False
) -> Iterator[str]:
    """Serve ``app`` until the block exits; yield its base URL, e.g. ``http://127.0.0.1:54321``.

    ``port=0`` lets the OS pick a free port. The socket is bound here, before the thread starts,
    so the port is known without parsing logs and cannot be taken by someone else meanwhile.
    uvicorn runs the app's lifespan, so an app that closes its connections on shutdown (like the
    Upstash stand-in) does so inside the loop that opened them. ``websockets``: serve the app's
    WebSocket routes too (the local WebSocket API), with the ``websockets`` package.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this. asyncio sets it itself only on sockets it creates;
        # without it, each response's second write waits ~40 ms for a delayed ACK (Nagle).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port: int = sock.getsockname()[1]

    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="websockets-sansio" if websockets else "none",
        lifespan="auto",
        # log_config=None leaves the process's logging configuration alone; warnings and errors
        # still reach the root logger, informational chatter does not.
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        # Longer than any client keeps an idle connection (httpx: 5 s, browsers: up to 60 s), so
        # the server never closes one just as a client sends on it: that race reads as a reset.
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    # uvicorn only installs signal handlers in the main thread, so Ctrl+C still reaches the caller.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{bound_port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {host}:{bound_port}")
            time.sleep(0.005)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():  # a request that never ends: stop waiting for it
            server.force_exit = True
            thread.join(_STOP_TIMEOUT_S)
        sock.close()  # uvicorn closes it on a clean shutdown; this covers a failed start
