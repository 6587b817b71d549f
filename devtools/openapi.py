"""Print the API's OpenAPI document: ``python -m devtools.openapi > openapi.json``.

The document does not depend on the configuration, but the function modules build their apps
(and read their settings) when imported, so placeholder values are set for any unset setting.
``make openapi`` writes ``openapi.json``; ``tests/api/test_openapi.py`` fails when it is stale.
"""

from __future__ import annotations

import os
import sys


def use_placeholders() -> None:
    """Set a placeholder for every required setting left unset, so the modules import."""
    # Placeholders only: nothing is sent to Upstash, no token is checked.
    os.environ.setdefault("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:9/not-used")
    os.environ.setdefault("UPSTASH_REDIS_REST_TOKEN", "openapi-placeholder")
    os.environ.setdefault(
        "ANONYMOUS_TOKEN_SECRET",
        "openapi-placeholder-anonymous-secret-of-32-bytes",
    )


def main() -> None:
    """Write the document to standard output."""
    use_placeholders()
    from functions import openapi_document
    from shared.openapi import render

    sys.stdout.write(render(openapi_document()))


if __name__ == "__main__":
    main()
