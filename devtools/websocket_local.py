"""API Gateway's WebSocket API, locally: ``/ws`` for the sockets, ``/@connections`` to push.

``make dev`` serves both beside the HTTP API on its one port, so no AWS account is needed and the
code deployed runs unchanged. Each socket's upgrade, frame and close becomes the event API
Gateway sends the WebSocket function (``requestContext.routeKey``, ``eventType`` CONNECT /
MESSAGE / DISCONNECT, ``connectionId``, ``queryStringParameters``, the headers with
``Sec-WebSocket-Protocol``), for the real handler (``functions.websocket.handle``): its status
accepts or refuses the upgrade (with the subprotocol it names), and a ``$default`` answer's body
goes back to the socket, as the route's response does on AWS. ``/@connections/{id}`` answers as
the management API does (``POST`` sends a frame, ``DELETE`` closes, ``GET`` describes; 410
``GoneException`` for a connection that is not there), so boto3 pointed at it with
``endpoint_url`` posts unchanged (any SigV4 credentials do). A ``DELETE`` closes with code 4401:
the handlers end a connection only when its token has expired or it is no longer registered.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

SOCKET_PATH = "/ws"
CONNECTIONS_PATH = "/@connections/"
#: The close code of a connection the handlers ended (its token expired).
CLOSE_UNAUTHORIZED = 4401

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class _Socket:
    """One open socket: what ``@connections`` pushes through and reports."""

    def __init__(self, websocket: WebSocket, source_ip: str, user_agent: str) -> None:
        self.websocket = websocket
        self.connected_at = datetime.now(UTC)
        self.last_active_at = self.connected_at
        self.source_ip = source_ip
        self.user_agent = user_agent


class LocalWebSocketApi:
    """The sockets and the management API; ``handler`` answers each event as on Lambda."""

    def __init__(self, handler: Handler, *, stage: str = "local") -> None:
        self._handler = handler
        self._stage = stage
        self._sockets: dict[str, _Socket] = {}

    def wrap(self, api: ASGIApp) -> ASGIApp:
        """``api`` with ``/ws`` and ``/@connections/`` served beside it, on the same port."""

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] == "websocket" and path == SOCKET_PATH:
                await self._socket(WebSocket(scope, receive, send))
            elif scope["type"] == "http" and path.startswith(CONNECTIONS_PATH):
                response = await self._management(Request(scope, receive))
                await response(scope, receive, send)
            else:
                await api(scope, receive, send)

        return dispatch

    @property
    def connection_ids(self) -> list[str]:
        """The connections open now."""
        return list(self._sockets)

    # ------------------------------------------------------------------------- the sockets

    async def _socket(self, websocket: WebSocket) -> None:
        connection_id = base64.urlsafe_b64encode(secrets.token_bytes(10)).decode()
        headers = _aws_headers(websocket.headers.items())
        client = websocket.client
        source_ip = client.host if client else "127.0.0.1"
        user_agent = websocket.headers.get("user-agent", "")
        connected_ms = _now_ms()
        connect = self._event("$connect", "CONNECT", connection_id, connected_ms, source_ip)
        query = dict(parse_qsl(websocket.scope.get("query_string", b"").decode()))
        connect.update(
            headers=headers,
            multiValueHeaders={k: [v] for k, v in headers.items()},
            queryStringParameters=query or None,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} or None,
        )
        answer = await self._handler(connect)
        if answer.get("statusCode") != 200:
            await websocket.close()  # before accepting: the upgrade is refused (HTTP 403)
            return
        protocol = (answer.get("headers") or {}).get("Sec-WebSocket-Protocol")
        await websocket.accept(subprotocol=protocol)
        socket = _Socket(websocket, source_ip, user_agent)
        self._sockets[connection_id] = socket
        close_code, reason = 1000, "Client closed"
        try:
            while True:
                try:
                    body = await websocket.receive_text()
                except WebSocketDisconnect as closed:
                    close_code, reason = closed.code, closed.reason or "Client closed"
                    break
                except RuntimeError:  # closed by a DELETE of @connections
                    close_code, reason = CLOSE_UNAUTHORIZED, "token expired"
                    break
                socket.last_active_at = datetime.now(UTC)
                message = self._event("$default", "MESSAGE", connection_id, connected_ms, source_ip)
                message.update(body=body, messageId=str(uuid.uuid4()))
                message["requestContext"]["messageId"] = message.pop("messageId")
                answer = await self._handler(message)
                if answer.get("body") and connection_id in self._sockets:
                    await websocket.send_text(str(answer["body"]))
        finally:
            self._sockets.pop(connection_id, None)
            disconnect = self._event(
                "$disconnect", "DISCONNECT", connection_id, connected_ms, source_ip
            )
            disconnect["requestContext"].update(
                disconnectStatusCode=close_code, disconnectReason=reason
            )
            disconnect["headers"] = headers
            disconnect["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
            await self._handler(disconnect)

    def _event(
        self, route: str, kind: str, connection_id: str, connected_ms: int, source_ip: str
    ) -> dict[str, Any]:
        # The fields API Gateway's Lambda proxy events carry (docs: "Set up WebSocket API
        # integration requests", the $connect/$default/$disconnect examples).
        now = datetime.now(UTC)
        return {
            "requestContext": {
                "routeKey": route,
                "eventType": kind,
                "extendedRequestId": secrets.token_urlsafe(12),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "messageDirection": "IN",
                "stage": self._stage,
                "connectedAt": connected_ms,
                "requestTimeEpoch": _now_ms(),
                "identity": {"sourceIp": source_ip},
                "requestId": secrets.token_urlsafe(12),
                "domainName": "127.0.0.1",
                "connectionId": connection_id,
                "apiId": "local",
            },
            "isBase64Encoded": False,
        }

    # ------------------------------------------------------------------------- @connections

    async def _management(self, request: Request) -> Response:
        connection_id = unquote(request.url.path[len(CONNECTIONS_PATH) :])
        socket = self._sockets.get(connection_id)
        if socket is None or socket.websocket.application_state != WebSocketState.CONNECTED:
            # What API Gateway answers for a connection that is not there.
            return JSONResponse(
                {"message": None}, status_code=410, headers={"x-amzn-ErrorType": "GoneException"}
            )
        if request.method == "POST":
            data = await request.body()
            try:
                await socket.websocket.send_text(data.decode())
            except UnicodeDecodeError:
                await socket.websocket.send_bytes(data)
            return Response(status_code=200)
        if request.method == "DELETE":
            self._sockets.pop(connection_id, None)
            await socket.websocket.close(code=CLOSE_UNAUTHORIZED, reason="token expired")
            return Response(status_code=204)
        if request.method == "GET":
            # The wire names of GetConnection's output (botocore's service model maps them to
            # ConnectedAt, Identity.SourceIp, ...): camelCase, timestamps ISO 8601.
            return JSONResponse(
                {
                    "connectedAt": socket.connected_at.isoformat(timespec="milliseconds"),
                    "identity": {"sourceIp": socket.source_ip, "userAgent": socket.user_agent},
                    "lastActiveAt": socket.last_active_at.isoformat(timespec="milliseconds"),
                }
            )
        return JSONResponse({"message": "method not allowed"}, status_code=405)


def _aws_headers(items: Any) -> dict[str, str]:
    # API Gateway passes the upgrade's headers as sent (uvicorn lowercases them): the usual case.
    def name(header: str) -> str:
        words = header.split("-")
        if header.startswith("sec-websocket-"):
            return "Sec-WebSocket-" + "-".join(w.capitalize() for w in words[2:])
        return "-".join(w.capitalize() for w in words)

    return {name(k): v for k, v in items}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
