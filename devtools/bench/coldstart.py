"""Cold start: importing each handler module in a fresh interpreter, against its dependencies.

For each ``functions.<name>``, a child process lists the modules that importing it loads. The
third-party ones (not the standard library, not this project) are the baseline: what any
handler built on the same libraries would import. Both are then timed in fresh interpreters,
alternating, ``runs`` times each; the table shows the medians and their ratio. Interpreter
start-up is left out of both (the clock starts after it). ``-X importtime`` then names the
project's own modules and how long each took by itself, to say where the difference goes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from devtools.bench.report import median

PROJECT_PACKAGES = frozenset({"functions", "shared", "devtools"})
# What a Lambda container has: a valid configuration (settings are validated at import).
ENV = {
    "UPSTASH_REDIS_REST_URL": "https://example-12345.upstash.io",
    "UPSTASH_REDIS_REST_TOKEN": "cold-start-token",
    "AUTH_JWT_SECRET": "cold-start-sign-in-secret-that-is-long-enough-0123",
    "ANONYMOUS_TOKEN_SECRET": "cold-start-anonymous-secret-that-is-long-enough-01",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
}

_LIST_MODULES = """
import json, sys
before = set(sys.modules)
import functions.{name}
print(json.dumps([m for m in sys.modules if m not in before]))
"""

_TIME_HANDLER = """
import time
started = time.perf_counter()
import functions.{name}
print(time.perf_counter() - started)
"""

_TIME_DEPENDENCIES = """
import importlib, time
modules = {modules!r}
started = time.perf_counter()
for name in modules:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(time.perf_counter() - started)
"""

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")


@dataclass
class ColdStart:
    """One handler module's import, against importing only its third-party dependencies."""

    module: str
    handler: list[float] = field(default_factory=list)
    dependencies: list[float] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)
    own_modules_us: dict[str, int] = field(default_factory=dict)
    """Self time (microseconds) of each project module, from ``-X importtime``."""

    def summary(self) -> dict[str, Any]:
        """Medians and ratio, for tables and the results file."""
        handler, deps = median(self.handler), median(self.dependencies)
        return {
            "module": self.module,
            "runs": len(self.handler),
            "handler_ms": handler * 1000,
            "dependencies_ms": deps * 1000,
            "ratio": handler / deps if deps else None,
            "third_party_modules": len(self.third_party),
            "own_modules_self_ms": {k: v / 1000 for k, v in self.own_modules_us.items()},
        }


def _run(code: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(
        [sys.executable, *extra, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=os.getcwd(),
    )


def _third_party(modules: list[str]) -> list[str]:
    stdlib = sys.stdlib_module_names
    return [
        m
        for m in modules
        if (top := m.split(".")[0]) not in PROJECT_PACKAGES
        and top not in stdlib
        and not top.startswith("_sysconfigdata")
    ]


def own_import_times(name: str) -> dict[str, int]:
    """Self import time (us) of each project module loaded by ``functions.<name>``."""
    output = _run(f"import functions.{name}", "-X", "importtime").stderr
    times: dict[str, int] = {}
    for line in output.splitlines():
        match = _IMPORTTIME.match(line)
        if match and match.group(4).split(".")[0] in PROJECT_PACKAGES:
            times[match.group(4)] = int(match.group(1))
    return times


def measure(name: str, runs: int) -> ColdStart:
    """Time importing ``functions.<name>`` and its third-party dependencies, ``runs`` each."""
    result = ColdStart(name)
    loaded = json.loads(_run(_LIST_MODULES.format(name=name)).stdout)
    result.third_party = _third_party(loaded)
    handler_code = _TIME_HANDLER.format(name=name)
    deps_code = _TIME_DEPENDENCIES.format(modules=result.third_party)
    _run(handler_code)  # byte-compile once, outside the timed runs
    for _ in range(runs):
        result.handler.append(float(_run(handler_code).stdout))
        result.dependencies.append(float(_run(deps_code).stdout))
    result.own_modules_us = own_import_times(name)
    return result


def measure_all(runs: int) -> list[ColdStart]:
    """Every function module, in ``functions.module_names()`` order."""
    from functions import module_names

    return [measure(name, runs) for name in module_names()]
