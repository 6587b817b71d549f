"""The local WebSocket API against AWS's own definitions of what it stands in for.

``/ws`` must hand the handler the events API Gateway sends: each is validated against the
published models of AWS Lambda Powertools (``APIGatewayWebSocket{Connect,Message,Disconnect}
EventModel``), not against our reading of the docs. ``/@connections`` must answer as the
management API does: boto3 drives it with ``endpoint_url`` and botocore's service model for
``apigatewaymanagementapi`` parses (and so checks) every answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from devtools.websocket_local import CLOSE_UNAUTHORIZED, LocalWebSocketApi
from functions.websocket import handle
from shared.app import Services
from shared.settings import Settings
from tests.factories import Live, token_for

WAIT = 5.0

#: The model each route's event must satisfy.
MODELS: dict[str, type[BaseModel]] = {
    "$connect": APIGatewayWebSocketConnectEventModel,
    "$default": APIGatewayWebSocketMessageEventModel,
    "$disconnect": APIGatewayWebSocketDisconnectEventModel,
}


@pytest.fixture
def recorded(settings: Settings) -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    """A client of the local WebSocket API whose events are kept, then answered for real."""
    events: list[dict[str, Any]] = []
    svc = Services.from_settings(settings)

    async def recording(event: dict[str, Any]) -> dict[str, Any]:
        events.append(json.loads(json.dumps(event)))  # as Lambda gets it: JSON, copied
        return await handle(event, svc)

    sockets = LocalWebSocketApi(recording)
    # A peer with an IP address, as uvicorn reports one (the test client's default is a name).
    with TestClient(sockets.wrap(Starlette()), client=("127.0.0.1", 50000)) as client:
        yield client, events
        assert client.portal is not None
        client.portal.call(svc.upstash.aclose)


def test_each_frame_becomes_the_event_api_gateway_sends(
    recorded: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, events = recorded
    subprotocols = ["chat-store", f"bearer.{token_for('alice')}"]
    with client.websocket_connect("/ws?source=test", subprotocols=subprotocols) as ws:
        assert ws.accepted_subprotocol == "chat-store"
        ws.send_text(json.dumps({"type": "ping"}))
        assert ws.receive_json()["type"] == "pong"
        ws.send_text(json.dumps({"type": "watch", "conversationIds": ["c1"]}))
        assert ws.receive_json()["conversationIds"] == ["c1"]

    assert [e["requestContext"]["routeKey"] for e in events] == [
        "$connect",
        "$default",
        "$default",
        "$disconnect",
    ]
    for event in events:
        parsed: Any = MODELS[event["requestContext"]["routeKey"]].model_validate(event)
        # One connection, from its upgrade to its close.
        assert parsed.request_context.connection_id == events[0]["requestContext"]["connectionId"]
    connect_event: Any = APIGatewayWebSocketConnectEventModel.model_validate(events[0])
    assert connect_event.headers["Sec-WebSocket-Protocol"] == ", ".join(subprotocols)
    assert events[0]["queryStringParameters"] == {"source": "test"}
    message: Any = APIGatewayWebSocketMessageEventModel.model_validate(events[1])
    assert json.loads(message.body) == {"type": "ping"}
    assert message.request_context.message_direction == "IN"
    assert events[1]["requestContext"]["messageId"] != events[2]["requestContext"]["messageId"]
    disconnect: Any = APIGatewayWebSocketDisconnectEventModel.model_validate(events[3])
    assert disconnect.request_context.disconnect_status_code == 1000


def test_a_refused_upgrade_is_one_connect_event(
    recorded: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, events = recorded
    with pytest.raises(Exception), client.websocket_connect("/ws?token=forged"):  # noqa: B017,PT011
        pass  # (Starlette's test client raises its own disconnect type: the refusal is the point)
    assert [e["requestContext"]["routeKey"] for e in events] == ["$connect"]
    APIGatewayWebSocketConnectEventModel.model_validate(events[0])


# --- @connections, through boto3 -----------------------------------------------------------


def _management(live: Live) -> Any:
    import boto3

    # (The live fixture gives boto3 its dummy credentials and region.)
    return boto3.session.Session().client("apigatewaymanagementapi", endpoint_url=live.url)


@contextmanager
def _connected(live: Live) -> Iterator[tuple[ClientConnection, str]]:
    """A socket of alice's and its connection id (from the answer to a ping)."""
    with connect(live.ws_url(token_for("alice")), open_timeout=WAIT) as ws:
        ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(ws.recv(timeout=WAIT))
        yield ws, str(pong["connectionId"])


def test_boto3_posts_describes_and_deletes_a_connection(live: Live) -> None:
    management = _management(live)
    with _connected(live) as (ws, connection_id):
        frame = json.dumps({"type": "conversation", "conversationId": "c1"}).encode()
        answer = management.post_to_connection(ConnectionId=connection_id, Data=frame)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert ws.recv(timeout=WAIT) == frame.decode()

        described = management.get_connection(ConnectionId=connection_id)
        # botocore parsed the answer by GetConnection's output shape: every member it names,
        # each of its type (timestamps parsed, not left as strings).
        shape = management.meta.service_model.operation_model("GetConnection").output_shape
        body = {k: v for k, v in described.items() if k != "ResponseMetadata"}
        assert set(body) == set(shape.members)
        assert isinstance(body["ConnectedAt"], datetime)
        assert isinstance(body["LastActiveAt"], datetime)
        assert body["ConnectedAt"] <= body["LastActiveAt"]
        identity = shape.members["Identity"]
        assert set(body["Identity"]) == set(identity.members)
        assert body["Identity"]["SourceIp"] == "127.0.0.1"

        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CLOSE_UNAUTHORIZED


def test_a_connection_that_is_not_there_is_gone_to_boto3(live: Live) -> None:
    management = _management(live)
    calls: list[Callable[[], object]] = [
        lambda: management.post_to_connection(ConnectionId="nobody", Data=b"{}"),
        lambda: management.get_connection(ConnectionId="nobody"),
        lambda: management.delete_connection(ConnectionId="nobody"),
    ]
    for call in calls:
        with pytest.raises(management.exceptions.GoneException):
            call()
