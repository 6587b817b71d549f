"""JSON the service stores and hands back unread: only numbers ``JSON.parse`` reads back as sent.

Tool input and output, MCP servers, a message's parts and metadata are the client's JSON, kept
as sent. Python's JSON parser takes what JavaScript's cannot read back (``NaN``, ``1e400``,
integers past 2^53), so each such value is walked once (``PortableJson``) before it is stored.
Its own module because both ``shared.models`` and ``shared.ui_parts`` build on it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, JsonValue, WithJsonSchema
from pydantic_core import PydanticCustomError

# The largest integer JavaScript's JSON.parse reads exactly (Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1


def _portable_json(value: JsonValue) -> JsonValue:
    """``value`` if every number in it reads back in ``JSON.parse`` as the number sent.

    The JSON parser takes ``NaN``, ``Infinity`` and ``1e400`` (read as infinity), which would be
    stored and echoed back as bare ``NaN``/``Infinity`` that ``JSON.parse`` refuses; integers
    beyond ``MAX_SAFE_INTEGER`` would come back rounded. Both are refused here, whatever the
    depth (iteratively: a deeply nested value must not exhaust the stack).
    """
    pending: list[tuple[str, JsonValue]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            pending.extend((f"{path}.{key}", child) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise PydanticCustomError(
                "non_finite_number",
                "{at}NaN, Infinity and numbers too large for a double (1e400) are not JSON",
                {"at": f"at {path.lstrip('.')}: " if path else ""},
            )
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_SAFE_INTEGER:
            raise PydanticCustomError(
                "unsafe_integer",
                "{at}integers must be within +-(2^53 - 1), which JavaScript reads exactly; "
                "send a larger one as a string",
                {"at": f"at {path.lstrip('.')}: " if path else ""},
            )
    return value


# Arbitrary JSON the service stores and returns unread (tool input and output, MCP servers):
# any shape, but only numbers the frontend's JSON.parse reads back as sent. The document names
# its schema once, as a component (shared/openapi.py puts it there and makes each
# PORTABLE_JSON_MARK a reference to it: pydantic would try to resolve a reference to a
# definition it does not hold). The schema checks the top level only: a recursive one is
# what client generators cannot read (openapi-python-client drops it and every model that
# holds it), so its description says the rest.
PORTABLE_JSON_MARK = "x-portable-json"
PORTABLE_JSON_SCHEMA: dict[str, Any] = {
    "title": "PortableJson",
    "description": "Any JSON whose numbers, at any depth, JSON.parse reads back as sent: no "
    "NaN or Infinity, and integers within +-(2^53 - 1) (send a larger one as a string); "
    "otherwise 422 `validation_failed` (`unsafe_integer`, `non_finite_number`).",
    "anyOf": [
        {"type": ["null", "boolean", "string"]},
        {"type": "integer", "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "array", "items": {}},
        {"type": "object", "additionalProperties": {}},
    ],
}
PortableJson = Annotated[
    JsonValue, AfterValidator(_portable_json), WithJsonSchema({PORTABLE_JSON_MARK: True})
]
PortableJsonObject = Annotated[
    dict[str, JsonValue],
    AfterValidator(_portable_json),
    WithJsonSchema({"type": "object", "additionalProperties": {PORTABLE_JSON_MARK: True}}),
]
# The same schema for what responses hold, which passed PortableJsonObject on its way in: no
# validator, as a summary is built from stored values on every write.
StoredJsonObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "additionalProperties": {PORTABLE_JSON_MARK: True}}),
]
