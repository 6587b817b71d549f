r"""What fits a Lambda invocation: its request and response payloads are at most 6 MB each.

The limit is on the JSON Lambda carries, not on the HTTP body. API Gateway's proxy integration
puts the body in the event, and Mangum's answer puts it in the response, as a JSON string
(or base64): every quote, backslash and newline of the body is escaped once more, and a control
character written ``\u0001`` in the body takes 7 bytes there. Sizes here are measured as
``json.dumps`` writes a string with its defaults: escapes included and non-ASCII as ``\u``
escapes, as runtimes before python3.12 write it (python3.12 writes UTF-8, never longer), so a
size holds whichever runtime returns it.
"""

from __future__ import annotations

import json

#: Lambda's limit on a synchronous invocation's request (the event) and its response.
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
#: What the response holds besides the body: status, headers, the JSON members around it.
RESPONSE_ENVELOPE_BYTES = 16 * 1024
#: The most a response body may take, measured by :func:`encoded_size`.
MAX_RESPONSE_BODY_BYTES = LAMBDA_PAYLOAD_BYTES - RESPONSE_ENVELOPE_BYTES
#: What the event holds besides the body: the request line and headers (API Gateway allows
#: 10 KB of them), the request context, the JSON members around it.
REQUEST_ENVELOPE_BYTES = 64 * 1024
#: The largest request body every event can carry: a JSON body's quotes and backslashes
#: (``\"``, ``\\``) double once the body is a string in the event, and base64 (API Gateway's
#: other way to carry it) adds a third, so half of what the event leaves is always safe.
MAX_REQUEST_BODY_BYTES = (LAMBDA_PAYLOAD_BYTES - REQUEST_ENVELOPE_BYTES) // 2


def encoded_size(text: str) -> int:
    """Bytes ``text`` takes as a JSON string inside Lambda's payload, its quotes included."""
    return len(json.dumps(text))
