"""Every setting is passed by the deployment, shown in ``.env.example`` and documented.

A setting missing from ``serverless.yml``'s environment cannot be set by a stage parameter, one
missing from ``.env.example`` or from "Configuration" in docs/operations.md is one nobody finds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shared import ui_parts
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = [name.upper() for name in Settings.model_fields]


def _camel(name: str) -> str:
    head, *rest = name.lower().split("_")
    return head + "".join(word.capitalize() for word in rest)


@pytest.mark.parametrize("name", NAMES)
def test_each_setting_is_deployed_shown_and_documented(name: str) -> None:
    environment = yaml.safe_load((ROOT / "serverless.yml").read_text("utf-8"))["provider"][
        "environment"
    ]
    # A required setting's parameter has no fallback: a deploy without it fails.
    fallback = "" if Settings.model_fields[name.lower()].is_required() else ", ''"
    assert environment.get(name) == f"${{param:{_camel(name)}{fallback}}}"
    example = (ROOT / ".env.example").read_text("utf-8")
    assert re.search(rf"^#? ?{name}=", example, re.MULTILINE), f".env.example lacks {name}"
    operations = (ROOT / "docs" / "operations.md").read_text("utf-8")
    assert f"| `{name}` |" in operations, f"docs/operations.md's Configuration lacks {name}"
    assert f"`{_camel(name)}`" in operations, f"docs/operations.md names no {_camel(name)}"


def test_the_part_limits_default_to_what_validation_holds_to_alone() -> None:
    # (Validation without the deployment's limits, as in tests/shared/test_ui_parts.py.)
    fields = Settings.model_fields
    assert (
        ui_parts.PartLimits(
            fields["max_parts_per_message"].default,
            fields["max_metadata_bytes"].default,
            fields["max_data_url_bytes"].default,
        )
        == ui_parts.PartLimits()
    )
