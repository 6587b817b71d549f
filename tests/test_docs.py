"""The docs hold together: every relative link lands, and the endpoint tables name every route.

README.md is the front door and docs/ the rooms behind it; a page moved or a heading renamed
must not leave a link pointing at nothing. Anchors follow GitHub's rule for a heading's id:
its text lowercased, punctuation dropped, each space a hyphen, and -1, -2, ... after a repeat.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from functions import all_routes

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "BENCHMARKS.md",
        ROOT / "clients" / "typescript" / "README.md",
        ROOT / "examples" / "nextjs" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) or ![alt](target), the text possibly across lines, an optional "title".
_LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_ENDPOINT_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/api/[^`?\s]*)")


def _prose(text: str) -> list[str]:
    """The page's lines outside fenced code blocks (a fence's lines become empty)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before the -1, -2 of a repeat)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on the page, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose(page.read_text("utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """Every link target in the page's prose (not in code blocks or inline code)."""
    prose = _INLINE_CODE.sub("", "\n".join(_prose(page.read_text("utf-8"))))
    return [match.group(2) for match in _LINK.finditer(prose)]


def test_the_pages_exist_and_link_somewhere() -> None:
    for page in PAGES:
        assert page.is_file(), page
    assert {p.name for p in (ROOT / "docs").glob("*.md")} >= {
        "api.md",
        "client.md",
        "sync.md",
        "storage-and-cost.md",
        "operations.md",
        "contributing.md",
    }
    readme = set(links(ROOT / "README.md"))
    for name in ("api", "client", "sync", "storage-and-cost", "operations", "contributing"):
        assert f"docs/{name}.md" in readme, f"the README does not point to docs/{name}.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(page: Path) -> None:
    problems = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.is_relative_to(ROOT) or not destination.exists():
            problems.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            problems.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not problems, f"{page.relative_to(ROOT)}: " + "; ".join(problems)


def test_slug_follows_githubs_rule() -> None:
    assert slug("Upstash's answers") == "upstashs-answers"
    assert slug("Configure: the API's URL and the token") == "configure-the-apis-url-and-the-token"
    assert slug("Move the localStorage history, once") == "move-the-localstorage-history-once"
    assert slug("Running it locally (`make dev`)") == "running-it-locally-make-dev"
    assert slug("storage_and cost") == "storage_and-cost"


def _endpoint_rows(page: Path) -> list[tuple[str, str]]:
    """The (method, path) of each row of the page's "Endpoints" table."""
    rows, inside = [], False
    for line in _prose(page.read_text("utf-8")):
        if line.startswith("## "):
            inside = line == "## Endpoints"
        elif inside and (match := _ENDPOINT_ROW.match(line)):
            rows.append((match.group(1), match.group(2)))
    return rows


@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
def test_the_endpoint_tables_name_every_route_once(page: str) -> None:
    rows = _endpoint_rows(ROOT / page)
    operations = {(r.operation.method, r.operation.template) for r in all_routes()}
    assert len(rows) == len(set(rows)), f"{page}: a route is listed twice"
    assert not operations - set(rows), f"{page}'s endpoint table lacks these routes"
    assert not set(rows) - operations, f"{page}'s endpoint table has routes the API lacks"


def _document_codes(*, retry_after: bool, statuses: tuple[str, ...]) -> set[str]:
    """The problem codes the OpenAPI document declares under ``statuses``, by Retry-After."""
    document = json.loads((ROOT / "openapi.json").read_text("utf-8"))
    found: set[str] = set()
    for item in document["paths"].values():
        for operation in item.values():
            for status, answer in operation.get("responses", {}).items():
                if status not in statuses or ("Retry-After" in answer.get("headers", {})) is not (
                    retry_after
                ):
                    continue
                problem = answer["content"].get("application/problem+json")
                if problem is None:
                    continue  # (health's own 503 body)
                schema = problem["schema"]
                found.update(schema["allOf"][1]["properties"]["code"]["enum"])
    return found


def test_readme_says_to_retry_exactly_what_the_api_answers_with_retry_after() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text[text.index("## Errors and retries") : text.index("### Upstash's answers")]
    bullets = {line[4:].split("**")[0]: line for line in section.splitlines() if line[:3] == "- *"}
    [retried] = [head for head in bullets if head.startswith("429")]
    all_errors = [str(s) for s in range(400, 600)]
    assert set(re.findall(r"`([a-z_]+)`", retried)) == _document_codes(
        retry_after=True, statuses=tuple(all_errors)
    )
    [bug] = [head for head in bullets if head.startswith("500")]
    assert set(re.findall(r"`([a-z_]+)`", bug)) == _document_codes(
        retry_after=False, statuses=tuple(s for s in all_errors if s >= "500")
    )
