"""``POST /api/auth/anonymous``: a token for a visitor who has not signed in.

Safe to retry with an ``Idempotency-Key``: the same key from the same client IP, with the same
request, answers the same token for 24 hours and counts against the IP's sign-up budget once.
Behind a trusted proxy the client IP is the one it names (``shared/proxy.py``).
"""

import time

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import create_app, idempotency_key, services
from shared.context import request_fingerprint
from shared.errors import NotFound
from shared.http import body_digest, json_response, request_line
from shared.operation import Answer, Operation
from shared.proxy import client_ip

operation = Operation(
    "POST",
    "/api/auth/anonymous",
    "Issue a token for a visitor who has not signed in",
    tag="account",
    description="Rate-limited per client IP (RATE_LIMIT_ANONYMOUS_REQUESTS): the caller's, or "
    "behind a proxy holding TRUSTED_PROXY_SECRET the visitor's it names.",
    auth=False,
    headers=("XProxySecret", "XClientIp"),
    answers=(
        Answer(
            201,
            "A bearer token whose user is `anon_<uuid>`.",
            "AnonymousToken",
            headers=(
                "Cache-Control",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ),
        ),
    ),
    errors={
        400: ("invalid_request",),
        403: ("proxy_refused",),
        404: ("not_found",),
        429: ("rate_limited",),
        503: ("store_unavailable",),
    },
)


async def issue_anonymous_token(request: Request) -> Response:
    """201 with a signed token whose user id is ``anon_<uuid>``; 404 when anonymous use is off."""
    svc = services(request)
    if not svc.identity.anonymous_enabled:
        raise NotFound("anonymous tokens are not enabled on this deployment")
    address = client_ip(request, svc.settings.trusted_proxy_secret)
    key = idempotency_key(request)
    fingerprint = ""
    if key is not None:
        digest = await body_digest(request, max_bytes=svc.settings.max_body_bytes)
        fingerprint = request_fingerprint(request_line(request), digest)
    minted = svc.identity.issue_anonymous_token()
    signup = await svc.rate_limits.anonymous_signup(
        address,
        time.time_ns() // 1_000_000,
        user_id=minted.user_id,
        issued_at=minted.issued_at,
        idempotency_key=key,
        fingerprint=fingerprint,
    )
    issued = minted
    if signup.user_id != minted.user_id:
        # A retry: the token first answered under the key, signed again from its user and iat.
        issued = svc.identity.anonymous_token(signup.user_id, signup.issued_at)
    return json_response(
        {
            "token": issued.token,
            "userId": issued.user_id,
            "expiresAt": issued.expires_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
        },
        status_code=201,
        headers={"Cache-Control": "no-store", **(signup.quota.headers() if signup.quota else {})},
    )


routes = [operation.route(issue_anonymous_token)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
