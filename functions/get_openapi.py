"""``GET /api/openapi.json``: the API's OpenAPI 3.1 document. No authentication.

Built from the routes and models on the first request a container serves, then kept: the
document is the same for every deployment (``openapi.json`` in the repository is a copy).
No Upstash request.
"""

import json
from functools import cache

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import create_app
from shared.openapi import document


@cache
def _body() -> bytes:
    # Built on the first request, not at import: it imports every function module.
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":")).encode()


async def get_openapi(request: Request) -> Response:
    """200 with the document; cacheable for an hour."""
    return Response(
        _body(),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


routes = [Route("/api/openapi.json", get_openapi, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
