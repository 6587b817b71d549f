"""The OpenAPI document as tools read it: Redocly's linter and a client generator.

A document that validates can still be one a generator reads badly (two schemas of one title,
one dropped with everything that uses it) or a linter flags (no servers, an operation without
a client error). Both tools run here on the checked-in ``openapi.json``, as a user would run
them: ``@redocly/cli`` from the tooling's ``package.json`` (installed by ``make package``'s
``npm ci``), ``openapi-python-client`` from the test extra.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi.json"
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"
# Nothing leaves the machine: no usage telemetry, no update check.
QUIET_REDOCLY = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def _unavailable(reason: str) -> None:
    # Locally a developer may run pytest without `make package`; CI must never skip these.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_redocly_recommended_rules_find_nothing(tmp_path: Path) -> None:
    if not REDOCLY.exists():
        _unavailable("node_modules/.bin/redocly is missing: run make package (npm ci)")
    result = subprocess.run(
        [str(REDOCLY), "lint", str(DOCUMENT), "--config", str(ROOT / "redocly.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **QUIET_REDOCLY},
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    # Warnings too: the recommended set's warnings are findings we fix, not noise.
    assert "Your API description is valid" in report, report
    assert "warning" not in report.replace("Deprecation warning", ""), report


def test_openapi_python_client_generates_every_model_and_response(tmp_path: Path) -> None:
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        found = shutil.which("openapi-python-client")
        assert found, "openapi-python-client is missing: make install (the test extra)"
        generator = Path(found)
    config = tmp_path / "config.yaml"
    # No post hooks: the generated code is not ours to format.
    config.write_text("post_hooks: []\n", encoding="utf-8")
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(DOCUMENT),
            "--output-path",
            str(tmp_path / "client"),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "Warning" not in report, report
    assert "Unable to" not in report, report
    models = {path.stem for path in (tmp_path / "client" / "models").glob("*.py")}
    # The response shapes that hold messages, dropped while request and response schemas of
    # a message shared a title.
    assert {"conversation_view", "message_tail", "exported_conversation", "export_page"} <= models
    assert {"conversation_message_input", "conversation_message_output"} <= models
