"""A cold start imports no more than a request needs.

boto3 and botocore take longer to import than a whole request takes to answer (``make report``
times it), and only a write that has someone to push to needs them: ``shared/push.py`` imports
them on its first push. Importing every Lambda handler module, push on, must leave them out.
A fresh interpreter tells: this one has them imported already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devtools.package import IMPORT_ENV

ROOT = Path(__file__).resolve().parents[2]

_IMPORT_EVERY_HANDLER = """
import importlib, json, pkgutil, sys
import functions
names = [m.name for m in pkgutil.iter_modules(functions.__path__)]
for name in names:
    importlib.import_module("functions." + name)
heavy = sorted(n for n in sys.modules if n.split(".")[0] in ("boto3", "botocore"))
print(json.dumps({"modules": names, "heavy": heavy}))
"""


def test_importing_every_handler_leaves_boto3_unimported() -> None:
    env = {
        **IMPORT_ENV,
        # Push on, as deployed with a WebSocket API: the pusher is built, boto3 still waits.
        "WEBSOCKET_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_HANDLER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert "websocket" in result["modules"]
    assert len(result["modules"]) > 10  # every handler, not an empty package
    assert result["heavy"] == []
