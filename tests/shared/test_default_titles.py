"""The default-title rule's shared cases, which the TypeScript client is tested on too.

clients/typescript/test/unit/title.test.ts reads the same file, so a change to either rule
fails one side until tests/fixtures/default_titles.json says what both now give.
"""

import json
import sys
from pathlib import Path

import pytest

from shared.models import title_from

FIXTURE = Path(__file__).parents[1] / "fixtures" / "default_titles.json"
CASES: list[dict[str, str]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[repr(c["input"][:24]) for c in CASES])
def test_the_server_gives_each_shared_title(case: dict[str, str]) -> None:
    assert title_from(case["input"]) == case["title"]


def test_the_cases_hold_every_character_python_splits_on() -> None:
    # The client spells out str.split()'s whitespace; a case with all of it keeps the two equal.
    whitespace = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert any(whitespace <= set(case["input"]) for case in CASES)
