"""The local dev server: every function in one app, on an embedded Upstash stand-in.

``make dev`` (``python -m devtools.dev_server``) serves the API at http://127.0.0.1:8000 with no
Upstash account and no Redis install: the stand-in speaks Upstash's REST protocol at
``/__upstash`` on the same port, in front of an in-process fakeredis (or a real Redis when
``REDIS_URL`` is set). With ``UPSTASH_REDIS_REST_URL`` set, it talks to that database instead.

The fakeredis data and the anonymous-token secret persist in ``.dev-data/`` (``--data-dir``;
``devtools.dev_data``), so tokens and chats survive a restart; ``make dev-reset`` starts afresh.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
from pathlib import Path
from types import FrameType

from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.dev_data import DEFAULT_FOLDER, DevData
from functions import all_routes

STANDIN_PATH = "/__upstash"


def _load_dotenv(path: Path) -> None:
    # KEY=VALUE lines; the real environment wins over the file.
    if not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def use_local_websocket_api(base: str) -> None:
    """Push through the dev server's own ``@connections`` unless ``WEBSOCKET_ENDPOINT`` says.

    boto3 signs every request, so it needs credentials: dummy ones do for the local endpoint
    (a real AWS endpoint in ``WEBSOCKET_ENDPOINT`` takes the real ones from the environment).
    """
    if os.environ.get("WEBSOCKET_ENDPOINT") is None:
        os.environ["WEBSOCKET_ENDPOINT"] = base
    if os.environ["WEBSOCKET_ENDPOINT"] == base:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _with_standin(api: ASGIApp, standin: ASGIApp) -> ASGIApp:
    # The stand-in sits beside the API, not inside it: no API middleware (request log, CORS)
    # and no Starlette slash redirect between the service and its store.
    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == STANDIN_PATH or path.startswith(STANDIN_PATH + "/"):
            await standin({**scope, "root_path": STANDIN_PATH}, receive, send)
        else:
            await api(scope, receive, send)

    return dispatch


def main(argv: list[str] | None = None) -> None:
    """Configure the environment, build the app and serve it with uvicorn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_FOLDER,
        help="where data and the anonymous-token secret persist (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    _load_dotenv(Path(".env"))
    data = DevData(args.data_dir)
    embedded = not os.environ.get("UPSTASH_REDIS_REST_URL")
    token = secrets.token_urlsafe(24)
    if embedded:
        os.environ["UPSTASH_REDIS_REST_URL"] = f"http://{args.host}:{args.port}{STANDIN_PATH}"
        os.environ["UPSTASH_REDIS_REST_TOKEN"] = token
    # An empty value counts as unset, as in the settings.
    if not os.environ.get("ANONYMOUS_TOKEN_SECRET"):
        os.environ["ANONYMOUS_TOKEN_SECRET"] = data.anonymous_token_secret()
    os.environ.setdefault("CORS_ALLOW_ORIGINS", "http://localhost:3000")
    use_local_websocket_api(f"http://{args.host}:{args.port}")

    import uvicorn

    from devtools import upstash_local
    from devtools.websocket_local import LocalWebSocketApi
    from functions.websocket import handle
    from shared.app import create_app, get_services

    app: ASGIApp = LocalWebSocketApi(handle).wrap(create_app(all_routes()))
    redis_url = os.environ.get("REDIS_URL") or None
    persisted = embedded and redis_url is None
    if embedded:
        standin: ASGIApp
        if persisted:
            standin = data.autosave(
                upstash_local.create_app(token=token, fake_server=data.open_fakeredis())
            )
        else:
            standin = upstash_local.create_app(token=token, redis_url=redis_url)
        app = _with_standin(app, standin)

    issued = get_services().identity.issue_anonymous_token()
    base = f"http://{args.host}:{args.port}"
    redis = redis_url or f"in-process fakeredis, kept in {data.snapshot_path}"
    backend = (
        f"the embedded Upstash stand-in on {redis}"
        if embedded
        else os.environ["UPSTASH_REDIS_REST_URL"]
    )
    print(
        f"\nChat store API on {base}/api, storing in {backend}.\n"
        f"Live pushes on ws://{args.host}:{args.port}/ws?token=$TOKEN"
        f" (pushed through {os.environ.get('WEBSOCKET_ENDPOINT') or 'nothing: push is off'}).\n"
        f"An anonymous token, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC:\n\n"
        f"  export TOKEN={issued.token}\n\n"
        f"Try:\n"
        f"  curl -s {base}/api/health\n"
        f'  curl -s -X PUT {base}/api/conversations/hello -H "Authorization: Bearer $TOKEN" '
        f'-H \'Content-Type: application/json\' -d \'{{"id":"hello","title":"Hello",'
        f'"messages":[],"createdAt":"2025-01-01T00:00:00.000Z",'
        f'"updatedAt":"2025-01-01T00:00:00.000Z","totalTokens":0}}\'\n'
        f'  curl -s {base}/api/conversations -H "Authorization: Bearer $TOKEN"\n',
        file=sys.stderr,
        flush=True,
    )
    # uvicorn stops on SIGTERM as on Ctrl+C, then raises the signal again with the handler it
    # found: the default one would end the process before the save below (losing the last
    # second of writes), so SIGTERM gets one that exits through it, as SIGINT does.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(
            app, host=args.host, port=args.port, log_level="warning", ws="websockets-sansio"
        )
    finally:
        if persisted:
            # What changed in the last moment before Ctrl+C, not yet saved by the autosave.
            data.save()


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
