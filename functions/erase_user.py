"""``DELETE /api/me``: erase every key of the user: conversations, session, rate limits."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import no_content
from shared.operation import Answer, Operation

operation = Operation(
    "DELETE",
    "/api/me",
    "Erase every key of the user",
    tag="account",
    description="Conversations, messages, totals and the change feed: nothing of the user is left.",
    answers=(Answer(204, "Erased (also when there was nothing to erase)."),),
)


async def erase_user(request: Request) -> Response:
    """204 once everything is gone (also when there was nothing to erase)."""
    caller = authenticate(request)
    erased = await services(request).store.erase_user(caller)
    return no_content(erased.answered)


routes = [operation.route(erase_user)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
