"""The UIMessage part models against the cases the AI SDK itself checks.

tests/fixtures/ui_messages.json and ui_messages_invalid.json are written from
clients/typescript/test/support/ui-messages.ts, where the conversation type-checks as ai 7's
``UIMessage[]``; clients/typescript/test/unit/ui-messages.test.ts runs ``validateUIMessages`` on
them. Here shared/ui_parts.py must take the same conversation back key for key, and refuse the
same invalid cases at the same field, apart from the DELIBERATE differences listed below.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from shared.errors import ApiError, PayloadTooLarge
from shared.ui_parts import (
    INTERRUPTED_TOOL_ERROR,
    MAX_DATA_URL_BYTES,
    MAX_METADATA_BYTES,
    MAX_PARTS_PER_MESSAGE,
    DataUrlTooLarge,
    Metadata,
    PartLimits,
    Parts,
    content_text,
    limits_context,
    mark_interrupted,
    validate_message,
    validate_parts,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
VALID = json.loads((FIXTURES / "ui_messages.json").read_text(encoding="utf-8"))
INVALID = json.loads((FIXTURES / "ui_messages_invalid.json").read_text(encoding="utf-8"))
MESSAGES: list[dict[str, Any]] = VALID["messages"]
CASES: list[dict[str, Any]] = INVALID["cases"]

# Cases the SDK refuses and this API takes, each with why.
DELIBERATE = {
    # The SDK refuses to be called with no messages; a conversation with none yet is one to store.
    "no messages at all": "an empty conversation is stored, not sent to a model",
}


def exact(value: object) -> str:
    """JSON that differs when a key, a value or the order of either does."""
    return json.dumps(value, ensure_ascii=False)


def validate_all(messages: object) -> None:
    TypeAdapter(list[object]).validate_python(messages, strict=True)
    assert isinstance(messages, list)
    for message in messages:
        validate_message(message)


def message(*parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "m", "role": "assistant", **fields, "parts": list(parts)}


def tool(state: str, **fields: Any) -> dict[str, Any]:
    return {"type": "tool-getWeather", "toolCallId": "c1", "state": state, **fields}


def file(url: str) -> dict[str, Any]:
    return {"type": "file", "mediaType": "image/png", "url": url}


def data_url(size: int) -> str:
    prefix = "data:image/png;base64,"
    return prefix + "A" * (size - len(prefix))


# --- The conversation ----------------------------------------------------------------------


@pytest.mark.parametrize("sent", MESSAGES, ids=[m["id"] for m in MESSAGES])
def test_each_message_is_taken_and_read_back_as_sent(sent: dict[str, Any]) -> None:
    received = json.loads(exact(sent))
    assert exact(validate_message(received)) == exact(sent)


def test_the_conversation_reads_back_through_a_model_from_a_json_body() -> None:
    # What the wiring will do: a model with parts and metadata fields, read from a body.
    class Carrier(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")
        parts: Parts
        metadata: Metadata | None = None

    for sent in MESSAGES:
        body = {key: sent[key] for key in ("metadata", "parts") if key in sent}
        carried = Carrier.model_validate_json(exact(body))
        # (The model's own fields come in its order; what each holds, in the body's.)
        dumped = carried.model_dump(mode="json")
        assert exact(dumped["parts"]) == exact(body["parts"])
        assert exact(dumped["metadata"]) == exact(body.get("metadata"))
        written = json.loads(carried.model_dump_json())
        assert exact(written["parts"]) == exact(body["parts"])


def test_parts_validate_alone_as_the_dicts_given() -> None:
    parts = MESSAGES[2]["parts"]
    validated = validate_parts(parts)
    assert all(a is b for a, b in zip(validated, parts, strict=True))


@pytest.mark.parametrize(
    "extra",
    [
        message({"type": "text", "text": "hi", "createdAt": "2026-01-01", "nested": {"b": 1}}),
        message(tool("approval-requested", input={}, approval={"id": "a", "x-audit": [1, 2]})),
        message({"type": "step-start", "stepId": 3}, createdAt="2026-01-01T00:00:00Z"),
    ],
    ids=["part", "approval", "message"],
)
def test_keys_a_kind_does_not_define_are_kept(extra: dict[str, Any]) -> None:
    # DELIBERATE: the SDK drops them; an app on a newer ai must not lose what it stored.
    assert exact(validate_message(copy.deepcopy(extra))) == exact(extra)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), 2**53])
def test_numbers_json_parse_would_change_are_refused_in_kept_keys_too(number: float) -> None:
    with pytest.raises(ValidationError):
        validate_message(message({"type": "text", "text": "hi", "score": number}))
    with pytest.raises(ValidationError):
        validate_message(message({"type": "data-x", "data": {"deep": [number]}}))
    with pytest.raises(ValidationError):
        validate_message(message({"type": "step-start"}, score={"deep": [number]}))


@pytest.mark.parametrize("metadata", ["hi", 1, ["a"], None])
def test_metadata_is_a_json_object(metadata: object) -> None:
    # DELIBERATE: the SDK takes any value (and null); an app's metadata is an object.
    with pytest.raises(ValidationError):
        validate_message(message({"type": "step-start"}, metadata=metadata))


# --- The invalid cases ---------------------------------------------------------------------


def named(error: ErrorDetails) -> set[str]:
    """The names an error points at: its location, and the key it is about."""
    names = {str(part) for part in error["loc"]}
    context: dict[str, Any] = error.get("ctx", {})
    names.add(str(context.get("field", "")))
    names.add(str(context.get("discriminator", "")).strip("'"))
    return names


@pytest.mark.parametrize("case", CASES, ids=[c["reason"] for c in CASES])
def test_each_case_the_sdk_refuses_is_refused_at_its_field(case: dict[str, Any]) -> None:
    if case["reason"] in DELIBERATE:
        validate_all(case["messages"])
        return
    with pytest.raises(ValidationError) as refused:
        validate_all(case["messages"])
    if "field" in case:
        assert case["field"] in named(refused.value.errors()[0])


def test_the_deliberate_differences_are_cases_of_the_fixture() -> None:
    assert set(DELIBERATE) <= {case["reason"] for case in CASES}


# --- Content text --------------------------------------------------------------------------


def test_content_is_the_text_parts_joined_as_the_sdk_joins_them() -> None:
    parts = validate_parts(
        [
            {"type": "step-start"},
            {"type": "reasoning", "text": "thinking", "state": "done"},
            {"type": "text", "text": "Let me check. ", "state": "done"},
            tool("output-available", input={}, output={"text": "not this"}),
            {"type": "steering-message", "id": "s", "parts": [{"type": "text", "text": "nor"}]},
            {"type": "data-note", "data": {"text": "nor this"}},
            {"type": "text", "text": "It is sunny.", "state": "streaming"},
        ]
    )
    assert content_text(parts) == "Let me check. It is sunny."


def test_content_of_the_fixture_messages() -> None:
    texts = {m["id"]: content_text(validate_message(m)["parts"]) for m in MESSAGES}
    assert texts["msg-a2"] == "I did not delete the export. You have 3 bookings."
    assert texts["msg-a4"] == "Here is the updated plan: on day 2 take"
    assert content_text(validate_parts([file("https://x.test/a.png")])) == ""


# --- Interrupted messages ------------------------------------------------------------------


def test_an_interrupted_message_settles_as_the_fixture_says() -> None:
    # The fixture's `interrupted` is written out in the TypeScript module and passes
    # validateUIMessages there, so this is the SDK's view of the result, key order included.
    in_flight = copy.deepcopy(MESSAGES[-1])
    assert exact(mark_interrupted(validate_message(in_flight))) == exact(VALID["interrupted"])
    assert exact(in_flight) == exact(MESSAGES[-1]), "the message given is left as it was"


def test_settling_twice_is_settling_once() -> None:
    once = mark_interrupted(validate_message(MESSAGES[-1]))
    assert exact(mark_interrupted(once)) == exact(once)


@pytest.mark.parametrize("settled", MESSAGES[:-1], ids=[m["id"] for m in MESSAGES[:-1]])
def test_a_message_with_nothing_in_flight_is_left_as_it_is(settled: dict[str, Any]) -> None:
    # Approvals asked or answered, failed and denied calls: states the user or the SDK go on from.
    assert exact(mark_interrupted(validate_message(settled))) == exact(settled)


@pytest.mark.parametrize("state", ["input-available", "input-streaming"])
def test_a_call_waiting_for_its_input_or_output_fails(state: str) -> None:
    fields = {"input": {"city": "L"}} if state == "input-available" else {"rawInput": '{"ci'}
    settled = mark_interrupted(validate_message(message(tool(state, **fields))))
    assert settled["parts"][0] == {
        **tool("output-error", **({"input": {"city": "L"}} if state == "input-available" else {})),
        "errorText": INTERRUPTED_TOOL_ERROR,
    }


# --- Size limits ---------------------------------------------------------------------------


def test_a_message_holds_at_most_the_maximum_of_parts() -> None:
    step = {"type": "step-start"}
    validate_message(message(*[step] * MAX_PARTS_PER_MESSAGE))
    with pytest.raises(PayloadTooLarge, match=f"{MAX_PARTS_PER_MESSAGE + 1:,} parts"):
        validate_message(message(*[step] * (MAX_PARTS_PER_MESSAGE + 1)))


def test_metadata_holds_at_most_its_maximum_of_bytes() -> None:
    def metadata(size: int) -> dict[str, str]:
        # {"n":"..."} takes 8 bytes besides the string; "é" takes 2.
        return {"n": "é" * ((size - 8) // 2) + "x" * ((size - 8) % 2)}

    validate_message(message({"type": "step-start"}, metadata=metadata(MAX_METADATA_BYTES)))
    with pytest.raises(PayloadTooLarge, match="metadata"):
        validate_message(message({"type": "step-start"}, metadata=metadata(MAX_METADATA_BYTES + 1)))


@pytest.mark.parametrize(
    "part",
    [
        file,
        lambda url: {"type": "reasoning-file", "mediaType": "image/png", "url": url},
        lambda url: {"type": "source-url", "sourceId": "s", "url": url},
        lambda url: {"type": "steering-message", "id": "s", "parts": [file(url)]},
    ],
    ids=["file", "reasoning-file", "source-url", "steering-file"],
)
def test_a_data_url_over_the_cap_is_a_413_that_says_to_upload(part: Any) -> None:
    validate_message(message(part(data_url(MAX_DATA_URL_BYTES))))
    with pytest.raises(DataUrlTooLarge) as too_large:
        validate_message(message(part(data_url(MAX_DATA_URL_BYTES + 1))))
    # Not a validation error (422) but the API's 413, telling the client what to do instead.
    assert not isinstance(too_large.value, ValidationError)
    assert isinstance(too_large.value, ApiError)
    assert too_large.value.status == 413
    assert "upload the file" in too_large.value.detail


def test_the_cap_is_on_data_urls_only_whatever_their_case() -> None:
    long_https = "https://files.example.com/" + "a" * MAX_DATA_URL_BYTES
    validate_message(message(file(long_https)))
    with pytest.raises(DataUrlTooLarge):
        validate_message(message(file("DATA:" + data_url(MAX_DATA_URL_BYTES)[5:] + "A")))


def test_the_fixture_data_url_is_well_under_the_cap() -> None:
    urls = [p["url"] for m in MESSAGES for p in m["parts"] if p["type"] == "file"]
    assert any(url.startswith("data:") and len(url) < MAX_DATA_URL_BYTES for url in urls)


def test_a_deployments_own_limits_come_through_the_context() -> None:
    tighter = limits_context(PartLimits(2, 20, 40))
    adapter = TypeAdapter(Parts)
    adapter.validate_python([{"type": "step-start"}] * 2, context=tighter)
    with pytest.raises(PayloadTooLarge, match="MAX_PARTS_PER_MESSAGE"):
        adapter.validate_python([{"type": "step-start"}] * 3, context=tighter)
    with pytest.raises(DataUrlTooLarge, match="MAX_DATA_URL_BYTES"):
        adapter.validate_python([file(data_url(41))], context=tighter)
    with pytest.raises(PayloadTooLarge, match="MAX_METADATA_BYTES"):
        TypeAdapter(Metadata).validate_python({"note": "x" * 20}, context=tighter)
    # Without one, the defaults.
    adapter.validate_python([file(data_url(41))] * 3)
