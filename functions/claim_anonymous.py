"""``POST /api/me/claim``: a visitor who chatted anonymously signs in and keeps the chats.

The signed-in user's token authorises the call; the body carries the anonymous token, which
proves the caller held it. Every anonymous conversation moves to the signed-in user (where both
have one, the newer copy wins), then the anonymous user is erased. Safe to retry: a second
claim finds nothing left to move.
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.errors import InvalidRequest, Unauthorized
from shared.http import json_response
from shared.identity import ANONYMOUS_PREFIX
from shared.models import ClaimRequest
from shared.operation import Answer, Operation

operation = Operation(
    "POST",
    "/api/me/claim",
    "Take over an anonymous visitor's conversations",
    tag="account",
    description="Authorised by the signed-in user's token; the body carries the anonymous token.",
    body=ClaimRequest,
    answers=(Answer(200, "What moved.", "ClaimResult"),),
)


async def claim_anonymous(request: Request) -> Response:
    """200 ``{imported, updated, skipped, evicted, rejected, done, cursor}``: what moved.

    A visitor with many conversations may take more than one call: while ``done`` is false,
    claim again with ``cursor`` in the body.
    """
    caller = authenticate(request)
    svc = services(request)
    if caller.user_id.startswith(ANONYMOUS_PREFIX):
        raise InvalidRequest(
            "claim with the signed-in user's token; the anonymous token goes in the body"
        )
    body, caller = await operation.read_body(request, caller)
    try:
        anonymous_id = svc.identity.resolve(f"Bearer {body.anonymous_token}")
    except Unauthorized as exc:
        raise InvalidRequest(f"anonymousToken is not a valid token: {exc.detail}") from None
    if not anonymous_id.startswith(ANONYMOUS_PREFIX):
        raise InvalidRequest("anonymousToken is not an anonymous token (POST /api/auth/anonymous)")
    anonymous = svc.rate_limits.caller(anonymous_id)
    result = await svc.store.claim(caller, anonymous, cursor=body.cursor)
    return json_response(
        {
            "imported": result.imported,
            "updated": result.updated,
            "skipped": result.skipped,
            "evicted": result.evicted,
            "rejected": [{"id": r.id, "code": r.code, "detail": r.detail} for r in result.rejected],
            "done": result.done,
            "cursor": None if result.done else result.cursor,
        },
        answered=result.answered,
    )


routes = [operation.route(claim_anonymous)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
