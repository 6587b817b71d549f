"""The deploy artifact itself: every function served from the unzipped zip alone.

``make package`` (which ``make test`` runs first) builds ``.serverless/chat-store.zip`` and the
CloudFormation template beside it. These tests unzip the zip into an empty folder and run each
function as Lambda would: its own process of CPython 3.12 (the runtime's version, so the
manylinux wheels load) started with ``-I -S``, so neither the work tree, the virtualenv nor
site-packages is on its path; ``sys.path`` built from the task root and the template's
``PYTHONPATH``; the handler named by the template; the template's environment. Requests are
API Gateway HTTP API v2 events for the routes the template wires to that function, served by
the local Upstash stand-in.

Each reply carries the files of every module the process has loaded, and the tests require all
of them to sit in the artifact or the interpreter's standard library: the artifact, not the
work tree, served the request.

The zip itself must hold each module once, as CPython 3.12 bytecode in place of its source, the
Lua scripts, and the lock's versions of the dependencies, and the template must ship this very
zip; made-up zips show that each check catches what it is for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from devtools import package
from functions import function_names
from tests.factories import (
    ANONYMOUS_SECRET,
    JWT_SECRET,
    Standin,
    conversation,
    http_api_v2_event,
    token_for,
    websocket_event,
)

IN_CI = bool(os.environ.get("CI"))
TEMPLATE = package.ROOT / ".serverless" / "cloudformation-template-update-stack.json"
ORIGIN = "https://chat.example.com"
REPLY_TIMEOUT_SECONDS = 60

# Runs in the function's own process: argv is the task root, the handler setting, the fd to
# reply on. Lambda's bootstrap puts the task root first on sys.path, then PYTHONPATH.
_WORKER = r"""
import importlib, json, os, sys, sysconfig
task, handler_setting, reply_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
deps = [
    entry.replace("/var/task", task, 1)
    for entry in os.environ.get("PYTHONPATH", "").split(":")
    if entry == "/var/task" or entry.startswith("/var/task/")
]
sys.path[:0] = [task, *deps]
module_name, _, attribute = handler_setting.rpartition(".")
module = importlib.import_module(module_name.replace("/", "."))
handler = getattr(module, attribute)
allowed = tuple(
    os.path.realpath(folder) + os.sep
    for folder in (task, sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"))
)

def foreign():
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return sorted(
        f for f in files if isinstance(f, str) and not os.path.realpath(f).startswith(allowed)
    )

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = 256
    aws_request_id = "artifact-smoke"
    def get_remaining_time_in_millis(self):
        return 20_000

replies = os.fdopen(reply_fd, "w")
def reply(**fields):
    replies.write(json.dumps(fields) + "\n")
    replies.flush()

scripts = sys.modules.get("shared.scripts")
reply(
    module=module.__file__,
    path=sys.path,
    foreign=foreign(),
    checking=None if scripts is None else scripts.CHECKING,
)
for line in sys.stdin:
    reply(response=handler(json.loads(line), Context()), foreign=foreign())
"""


@dataclass(frozen=True)
class DeployedFunction:
    """One function as the packaged CloudFormation template defines it."""

    logical_id: str
    name: str
    handler: str
    runtime: str
    environment: dict[str, str]
    routes: frozenset[str]


@dataclass
class Invocation:
    """What one invocation returned, and the log lines it wrote."""

    response: dict[str, Any]
    logs: list[str]

    @property
    def status(self) -> int:
        status: int = self.response["statusCode"]
        return status

    def json(self) -> Any:
        body = self.response.get("body") or ""
        if self.response.get("isBase64Encoded"):  # Mangum's choice for application/problem+json
            body = base64.b64decode(body).decode()
        return json.loads(body) if body else None


@dataclass
class Worker:
    """A function's own process, as one warm Lambda container."""

    process: subprocess.Popen[str]
    replies: IO[str]
    log: Path
    hello: dict[str, Any]
    log_offset: int = 0

    def read_reply(self) -> dict[str, Any]:
        ready, _, _ = select.select([self.replies], [], [], REPLY_TIMEOUT_SECONDS)
        line = self.replies.readline() if ready else ""
        if not line:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the function process gave no reply (exit {self.process.returncode}):\n"
                + self.log.with_suffix(".stderr").read_text()
            )
        reply: dict[str, Any] = json.loads(line)
        assert reply["foreign"] == [], "modules loaded from outside the artifact"
        return reply

    def invoke(self, event: dict[str, Any]) -> Invocation:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        reply = self.read_reply()
        with self.log.open() as file:
            file.seek(self.log_offset)
            written = file.read()
            self.log_offset = file.tell()
        return Invocation(reply["response"], written.splitlines())


@dataclass
class Artifact:
    """The unzipped artifact and the template's functions, started on first use."""

    python: str
    task: Path
    functions: dict[str, DeployedFunction]
    environment: dict[str, str]
    scratch: Path
    workers: dict[str, Worker] = field(default_factory=dict)
    invoked: set[str] = field(default_factory=set)

    def function_for(self, route_key: str) -> DeployedFunction:
        serving = [f for f in self.functions.values() if route_key in f.routes]
        assert len(serving) == 1, f"{route_key} is served by {len(serving)} functions"
        return serving[0]

    def worker(self, function: DeployedFunction) -> Worker:
        if function.logical_id not in self.workers:
            self.workers[function.logical_id] = self._start(function)
        return self.workers[function.logical_id]

    def _start(self, function: DeployedFunction) -> Worker:
        read_fd, write_fd = os.pipe()
        log = self.scratch / f"{function.logical_id}.log"
        environment = {
            **function.environment,
            **self.environment,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "LAMBDA_TASK_ROOT": str(self.task),
        }
        # -I -S: no PYTHON* variables, no site-packages, no script folder on the path.
        command = [self.python, "-I", "-S", "-B", "-c", _WORKER, str(self.task)]
        with log.open("w") as stdout, log.with_suffix(".stderr").open("w") as stderr:
            process = subprocess.Popen(
                [*command, function.handler, str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                cwd=self.task,
                env=environment,
                pass_fds=(write_fd,),
                text=True,
            )
        os.close(write_fd)
        worker = Worker(process, os.fdopen(read_fd), log, hello={})
        worker.hello = worker.read_reply()
        return worker

    def call(
        self,
        method: str,
        route: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> Invocation:
        """Invoke the function the template routes ``method route`` to."""
        route_key = f"{method} {route}"
        function = self.function_for(route_key)
        path = route.format(**(params or {}))
        invocation = self.worker(function).invoke(
            event(method, path, route_key, params, body, headers, query)
        )
        self.invoked.add(function.logical_id)
        return invocation

    def socket(self, route_key: str, event: dict[str, Any]) -> Invocation:
        """Invoke the function the template routes WebSocket route ``route_key`` to."""
        function = self.function_for(route_key)
        invocation = self.worker(function).invoke(event)
        self.invoked.add(function.logical_id)
        return invocation

    def close(self) -> None:
        for worker in self.workers.values():
            if worker.process.stdin is not None:
                worker.process.stdin.close()
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.replies.close()


def event(  # noqa: PLR0917  (one call site; every argument a part of the event)
    method: str,
    path: str,
    route_key: str,
    params: dict[str, str] | None,
    body: Any,
    headers: dict[str, str] | None,
    query: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, with a fresh request id."""
    built = http_api_v2_event(
        method,
        path,
        route_key=route_key,
        body=body,
        headers=headers,
        query=query,
        path_parameters=params,
    )
    built["requestContext"]["requestId"] = f"apigw-{uuid.uuid4().hex}"
    return built


def _unavailable(reason: str) -> None:
    # Locally a developer may run pytest without `make package`; CI must never skip these.
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lambda_python() -> str:
    """A CPython 3.12 interpreter, the Lambda runtime's version."""
    python = package.lambda_python()
    if python is None:
        _unavailable("no CPython 3.12 to run the artifact with (set LAMBDA_PYTHON)")
    assert python is not None
    return python


@pytest.fixture(scope="session")
def artifact_zip(lambda_python: str) -> Path:
    """The packaged zip, checked to be built from the work tree as it is now."""
    path = package.artifact_path()
    if not path.exists() or not TEMPLATE.exists():
        _unavailable(f"{path} is missing: run `make package`")
    stale = package.stale_files(path, lambda_python)
    assert not stale, f"the artifact is older than the work tree, run `make package`: {stale}"
    return path


@pytest.fixture(scope="session")
def deployed_functions(artifact_zip: Path) -> dict[str, DeployedFunction]:
    """The template's Lambda functions and the HTTP API routes wired to each."""
    resources: dict[str, Any] = json.loads(TEMPLATE.read_text())["Resources"]
    integrations = {
        logical_id: _integrated_function(resource["Properties"]["IntegrationUri"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::ApiGatewayV2::Integration"
    }
    routes: dict[str, set[str]] = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            integration = resource["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
            routes.setdefault(integrations[integration], set()).add(
                resource["Properties"]["RouteKey"]
            )
    functions = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            properties = resource["Properties"]
            functions[logical_id] = DeployedFunction(
                logical_id=logical_id,
                name=properties["FunctionName"],
                handler=properties["Handler"],
                runtime=properties["Runtime"],
                environment=properties["Environment"]["Variables"],
                routes=frozenset(routes.get(logical_id, ())),
            )
    return functions


def _integrated_function(uri: dict[str, Any]) -> str:
    # The HTTP API's integrations name the function's ARN; the WebSocket API's join it into
    # an invocation URI.
    if "Fn::GetAtt" in uri:
        return str(uri["Fn::GetAtt"][0])
    [function] = [part["Fn::GetAtt"][0] for part in uri["Fn::Join"][1] if "Fn::GetAtt" in part]
    return str(function)


@pytest.fixture(scope="module")
def artifact(
    artifact_zip: Path,
    lambda_python: str,
    deployed_functions: dict[str, DeployedFunction],
    standin: Standin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Artifact]:
    """The zip unzipped into an empty folder, its functions run on the stand-in."""
    task = package.unzip(artifact_zip, tmp_path_factory.mktemp("artifact") / "task").resolve()
    # The deployment's own settings, but for the values a deploy gives as parameters.
    environment = {
        "UPSTASH_REDIS_REST_URL": standin.url,
        "UPSTASH_REDIS_REST_TOKEN": standin.token,
        "AUTH_JWT_SECRET": JWT_SECRET,
        "ANONYMOUS_TOKEN_SECRET": ANONYMOUS_SECRET,
        "KEY_PREFIX": "artifact" + uuid.uuid4().hex[:8],
        "CORS_ALLOW_ORIGINS": ORIGIN,
        "APP_VERSION": "artifact-smoke",
    }
    for function in deployed_functions.values():
        assert environment.keys() <= function.environment.keys(), function.name
    running = Artifact(
        python=lambda_python,
        task=task,
        functions=deployed_functions,
        environment=environment,
        scratch=tmp_path_factory.mktemp("artifact-logs"),
    )
    yield running
    running.close()


def test_artifact_is_complete_and_lean(artifact_zip: Path) -> None:
    with zipfile.ZipFile(artifact_zip) as archive:
        names = archive.namelist()
    assert package.zip_problems(artifact_zip) == []
    assert package.missing_bytecode(names) == []
    assert not [n for n in names if n.startswith(("tests/", "devtools/", "node_modules/"))]


def test_artifact_ships_each_module_once_as_bytecode(artifact_zip: Path) -> None:
    with zipfile.ZipFile(artifact_zip) as archive:
        names = archive.namelist()
        assert package.bytecode_problems(archive) == []
    assert package.shipped_twice(names) == []
    own = [n for n in names if n.startswith(("functions/", "shared/"))]
    assert not [n for n in own if n.endswith(".py")], "the project's modules ship compiled"
    assert {f"functions/{module}.pyc" for module in function_names()} <= set(own)
    assert {"functions/__init__.pyc", "shared/__init__.pyc"} <= set(own)
    store = {f"shared/store/{p.stem}.pyc" for p in package.ROOT.glob("shared/store/*.py")}
    assert "shared/store/__init__.pyc" in store
    assert store <= set(own), "the store's package ships whole"
    lua = sorted(
        p.relative_to(package.ROOT).as_posix() for p in package.ROOT.glob("shared/lua/**/*.lua")
    )
    assert lua
    assert set(lua) <= set(own), "the Lua scripts ship as they are"


def test_artifact_is_built_from_the_lock(artifact_zip: Path) -> None:
    with zipfile.ZipFile(artifact_zip) as archive:
        names = archive.namelist()
    locked = package.locked_versions()
    assert package.lock_mismatches(names, locked) == []
    shipped = {
        d.rpartition("-")[0].replace("_", "-") for d in package.installed_distributions(names)
    }
    assert shipped == set(locked)


def test_the_template_ships_the_built_zip(artifact_zip: Path) -> None:
    resources: dict[str, Any] = json.loads(TEMPLATE.read_text())["Resources"]
    keys = {
        resource["Properties"]["Code"]["S3Key"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert len(keys) == 1
    assert keys.pop().endswith(f"/{artifact_zip.name}")
    [version_hash] = {
        resource["Properties"]["CodeSha256"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Version"
    }
    digest = hashlib.sha256(artifact_zip.read_bytes()).digest()
    assert version_hash == base64.b64encode(digest).decode(), "packaged from this very zip"


def zip_of(path: Path, files: dict[str, bytes]) -> Path:
    """A zip holding ``files``, for the checks' own tests."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def lean_files(artifact_zip: Path) -> dict[str, bytes]:
    """The names of the real zip, each holding a valid header only: a zip that passes."""
    with zipfile.ZipFile(artifact_zip) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    header = package.PYC_MAGIC + package.PYC_UNCHECKED_HASH + bytes(8)
    return {name: header if name.endswith(".pyc") else b"" for name in names}


def test_checks_pass_a_lean_zip(lean_files: dict[str, bytes], tmp_path: Path) -> None:
    assert package.zip_problems(zip_of(tmp_path / "lean.zip", lean_files)) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            {"shared/store/__init__.py": b"# source"},
            "shared/store/__init__.py and shared/store/__init__.pyc: the same module twice",
            id="source-beside-bytecode",
        ),
        pytest.param(
            {f"{package.DEPS_IN_ZIP}/starlette/__pycache__/routing.cpython-312.pyc": b""},
            "starlette/routing.pyc: the same module twice",
            id="cached-beside-sourceless",
        ),
        pytest.param(
            {"functions/health.pyc": None, "functions/health.py": b"# source"},
            "functions/health.py: ships as source",
            id="handler-as-source",
        ),
        pytest.param(
            {"shared/settings.pyc": b"\xa7\r\r\n" + bytes(12)},
            "shared/settings.pyc: not cpython-312 bytecode",
            id="another-pythons-bytecode",
        ),
        pytest.param(
            {"shared/lua/lib/core.lua": None},
            "shared/lua/lib/core.lua is missing",
            id="lua-left-out",
        ),
    ],
)
def test_checks_catch_a_module_twice_or_as_source(
    lean_files: dict[str, bytes], tmp_path: Path, change: dict[str, bytes | None], problem: str
) -> None:
    for name, data in change.items():
        if data is None:
            del lean_files[name]
        else:
            lean_files[name] = data
    problems = package.zip_problems(zip_of(tmp_path / "changed.zip", lean_files))
    assert [p for p in problems if p.endswith(problem)], problems


def test_checks_catch_a_zip_not_built_from_the_lock(lean_files: dict[str, bytes]) -> None:
    locked = package.locked_versions()
    assert package.lock_mismatches(lean_files, locked) == []
    newer = {**locked, "starlette": "99.0"}
    assert package.lock_mismatches(lean_files, newer) == [
        f"starlette=={locked['starlette']} ships, the lock has starlette==99.0"
    ]
    added = {**locked, "boto3": "1.40.0"}
    assert package.lock_mismatches(lean_files, added) == [
        "boto3==1.40.0 is locked, but does not ship"
    ]
    fewer = {name: version for name, version in locked.items() if name != "mangum"}
    assert package.lock_mismatches(lean_files, fewer) == [
        f"mangum=={locked['mangum']} ships, the lock has no such distribution"
    ]


def test_template_has_one_function_per_module(
    deployed_functions: dict[str, DeployedFunction],
) -> None:
    handlers = sorted(f.handler for f in deployed_functions.values())
    assert handlers == sorted(f"functions/{module}.handler" for module in function_names())
    assert {f.runtime for f in deployed_functions.values()} == {"python3.12"}
    assert all(f.routes for f in deployed_functions.values())


def test_the_shipped_lua_is_stamped_as_checked_so_a_cold_start_skips_the_checks(
    artifact_zip: Path, artifact: Artifact
) -> None:
    with zipfile.ZipFile(artifact_zip) as archive:
        lua = sorted(n for n in archive.namelist() if n.endswith(".lua"))
        stamp = archive.read("shared/lua/checked").decode()
        digest = hashlib.sha1()  # noqa: S324  (shared.scripts.lua_fingerprint's way)
        for name in lua:
            digest.update(name.removeprefix("shared/lua/").encode())
            digest.update(archive.read(name))
    assert stamp == digest.hexdigest()
    artifact.call("GET", "/api/limits")  # (a function that imports no script)
    listed = artifact.call("GET", "/api/conversations")
    assert listed.status == 401  # (no token: the import is what counts here)
    worker = artifact.worker(artifact.function_for("GET /api/conversations"))
    assert worker.hello["checking"] is False


def test_every_function_serves_from_the_artifact(artifact: Artifact) -> None:
    health = artifact.call("GET", "/api/health")
    assert health.status == 200, health.response
    assert health.json()["status"] == "healthy"
    assert health.json()["version"] == "artifact-smoke"
    assert isinstance(health.json()["redis"]["latencyMs"], int | float)
    limits = artifact.call("GET", "/api/limits")
    assert limits.status == 200, limits.response
    assert limits.json()["maxBodyBytes"] > 0
    document = artifact.call("GET", "/api/openapi.json")
    assert document.status == 200, document.response
    assert document.json()["openapi"].startswith("3.1")

    anonymous = artifact.call("POST", "/api/auth/anonymous")
    assert anonymous.status == 201, anonymous.response
    token = {"authorization": f"Bearer {anonymous.json()['token']}"}

    item = "/api/conversations/{id}"
    c1 = {"id": "c1"}
    put = artifact.call("PUT", item, params=c1, body=conversation("c1"), headers=token)
    assert put.status == 201, put.response
    listed = artifact.call("GET", "/api/conversations", query="limit=5", headers=token)
    assert listed.status == 200, listed.response
    assert [c["id"] for c in listed.json()["conversations"]] == ["c1"]
    got = artifact.call("GET", item, params=c1, headers=token)
    assert got.status == 200, got.response
    assert [m["content"] for m in got.json()["messages"]] == ["message 0", "message 1"]
    changes = artifact.call(
        "GET", "/api/changes", query=f"since={listed.json()['changesCursor']}", headers=token
    )
    assert changes.status == 200, changes.response

    messages = "/api/conversations/{id}/messages"
    message = "/api/conversations/{id}/messages/{messageId}"
    m9 = {"id": "c1", "messageId": "m9"}
    text = {"id": "m9", "type": "user", "content": "Hi", "timestamp": "2026-11-21T10:00:00Z"}
    assert artifact.call("POST", messages, params=c1, body=text, headers=token).status == 201
    patched = artifact.call("PATCH", message, params=m9, body={"appendContent": "!"}, headers=token)
    assert patched.status == 200, patched.response
    tail = artifact.call("GET", message, params=m9, query="after=1", headers=token)
    assert tail.status == 200, tail.response
    assert tail.json()["content"] == "i!"
    renamed = artifact.call("PATCH", item, params=c1, body={"title": "Renamed"}, headers=token)
    assert renamed.status == 200, renamed.response
    current = artifact.call(
        "PUT", "/api/me/current-conversation", body={"conversationId": "c1"}, headers=token
    )
    assert current.status == 204, current.response
    me = artifact.call("GET", "/api/me", headers=token)
    assert me.status == 200, me.response
    assert me.json()["conversationCount"] == 1

    exported = artifact.call("GET", "/api/me/export", headers=token)
    assert exported.status == 200, exported.response
    [c1_exported] = exported.json()["conversations"]
    assert c1_exported["title"] == "Renamed"
    assert c1_exported["messages"][-1]["content"] == "Hi!"
    imported = artifact.call(
        "POST", "/api/import", body={"conversations": [conversation("c2")]}, headers=token
    )
    assert imported.status == 200, imported.response

    assert artifact.call("DELETE", message, params=m9, headers=token).status == 204
    assert artifact.call("DELETE", item, params=c1, headers=token).status == 204
    gone = artifact.call("GET", item, params=c1, headers=token)
    assert gone.status == 404
    assert gone.response["headers"]["content-type"] == "application/problem+json"
    assert gone.json()["code"] == "not_found"
    signed_in = {"authorization": f"Bearer {token_for('artifact-user')}"}
    claimed = artifact.call(
        "POST",
        "/api/me/claim",
        body={"anonymousToken": anonymous.json()["token"]},
        headers=signed_in,
    )
    assert claimed.status == 200, claimed.response
    assert claimed.json()["imported"] == 1  # c2: the anonymous user's, now the signed-in one's
    left = artifact.call("GET", "/api/conversations", headers=token)
    assert left.json()["conversations"] == []
    assert artifact.call("DELETE", "/api/me", headers=signed_in).status == 204

    # The WebSocket API's function: a connection opened with the bearer subprotocol, a ping
    # answered through the route's response, a watch, the close.
    protocols = f"chat-store, bearer.{token_for('artifact-user')}"
    opened = artifact.socket(
        "$connect",
        websocket_event("$connect", "art1", headers={"Sec-WebSocket-Protocol": protocols}),
    )
    assert opened.status == 200, opened.response
    assert opened.response["headers"] == {"Sec-WebSocket-Protocol": "chat-store"}
    pong = artifact.socket("$default", websocket_event("$default", "art1", body='{"type":"ping"}'))
    assert pong.json() == {"type": "pong", "connectionId": "art1"}
    watching = artifact.socket(
        "$default",
        websocket_event("$default", "art1", body='{"type":"watch","conversationIds":["c2"]}'),
    )
    assert watching.json()["conversationIds"] == ["c2"]
    closed = artifact.socket("$disconnect", websocket_event("$disconnect", "art1"))
    assert closed.status == 200, closed.response
    refused = artifact.socket("$connect", websocket_event("$connect", "art2", query={"token": "x"}))
    assert refused.status == 401

    assert artifact.invoked == set(artifact.functions), "every function is invoked"
    for worker in artifact.workers.values():
        assert Path(worker.hello["module"]).is_relative_to(artifact.task)
        assert worker.hello["path"][:2] == [str(artifact.task), f"{artifact.task}/.build/deps"]


def test_every_preflight_route_answers_from_the_artifact(artifact: Artifact) -> None:
    preflights = sorted(
        route for f in artifact.functions.values() for route in f.routes if route[:8] == "OPTIONS "
    )
    assert preflights
    for route_key in preflights:
        route = route_key.removeprefix("OPTIONS ")
        params = {"id": "c1", "messageId": "m1"}
        answer = artifact.call(
            "OPTIONS",
            route,
            params=params,
            headers={"origin": ORIGIN, "access-control-request-method": "GET"},
        )
        assert answer.status in {200, 204}, (route_key, answer.response)
        assert answer.response["headers"]["access-control-allow-origin"] == ORIGIN


def test_artifact_logs_one_json_line_per_request_without_secrets(artifact: Artifact) -> None:
    user = f"log-user-{uuid.uuid4().hex[:6]}"
    token = token_for(user)
    content = f"private-words-{uuid.uuid4().hex[:6]}"
    headers = {"authorization": f"Bearer {token}", "x-request-id": "client-chosen-id"}
    body = {"id": "m1", "type": "user", "content": content, "timestamp": "2026-11-21T10:00:00Z"}
    posted = artifact.call(
        "POST", "/api/conversations/{id}/messages", params={"id": "c5"}, body=body, headers=headers
    )
    assert posted.status == 201, posted.response
    assert len(posted.logs) == 1, posted.logs
    line = json.loads(posted.logs[0])
    function = artifact.function_for("POST /api/conversations/{id}/messages")
    request_id = posted.response["headers"]["x-request-id"]
    assert request_id.startswith("apigw-"), "API Gateway's id wins over the client's"
    assert line["requestId"] == request_id
    assert line["function"] == function.name
    assert line["route"] == "/api/conversations/{id}/messages"
    assert (line["method"], line["status"], line["level"]) == ("POST", 201, "INFO")
    assert line["upstashRequests"] == 1  # the append, its rate-limit check included
    assert len(line["userHash"]) == 16
    secrets = (token, token.split(".")[2], content, user, JWT_SECRET, ANONYMOUS_SECRET)
    for secret in (*secrets, artifact.environment["UPSTASH_REDIS_REST_TOKEN"]):
        assert secret not in posted.logs[0]

    denied = artifact.call("GET", "/api/me", headers={"authorization": "Bearer not-a-token"})
    assert denied.status == 401
    [denied_line] = [json.loads(text) for text in denied.logs]
    assert denied_line["errorCode"] == denied.json()["code"]
    assert "not-a-token" not in denied.logs[0]
