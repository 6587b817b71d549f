"""``POST /api/import``: move the frontend's localStorage conversations into the store."""

from mangum import Mangum
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.errors import ApiError, ValidationFailed
from shared.http import body_error, json_response
from shared.limits import check_conversation
from shared.models import Conversation, LocalStorageDump, check_id
from shared.operation import Answer, Operation
from shared.store import Rejected
from shared.ui_parts import limits_context

operation = Operation(
    "POST",
    "/api/import",
    "Import the frontend's localStorage conversations",
    tag="account",
    description="Each conversation is judged on its own: those not stored, and entries that "
    "are not conversations at all (`null`, a number), are listed in `rejected` with a code; "
    "the others are imported.",
    body=LocalStorageDump,
    answers=(Answer(200, "What was stored.", "ImportResult"),),
)


async def import_conversations(request: Request) -> Response:
    """200 ``{imported, updated, skipped, evicted, rejected}``, conversation by conversation.

    A conversation that does not validate, is over a limit, appears twice, was deleted by the
    user or is no longer at the version its ``ifMatch`` names is listed in ``rejected`` with a
    code and why; the others are imported. Importing the same dump twice changes nothing.
    """
    caller = authenticate(request)
    svc = services(request)
    body, caller = await operation.read_body(request, caller)
    accepted: list[Conversation] = []
    versions: dict[str, int] = {}
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for index, raw in enumerate(body.conversations):
        label = _label(raw, index)
        try:
            conversation = Conversation.model_validate(
                raw, context=limits_context(svc.settings.part_limits)
            )
            check_conversation(conversation, svc.settings)
            # (A valid conversation came from an object: model_validate takes no other input.)
            if_match = raw.get("ifMatch") if isinstance(raw, dict) else None
            version = None if if_match is None else _version(if_match)
        except ValidationError as exc:
            error = body_error(exc, prefix=f"conversations[{index}]")
            rejected.append(Rejected(label, error.code, error.detail))
            continue
        except ApiError as error:
            rejected.append(Rejected(label, error.code, error.detail))
            continue
        if conversation.id in seen:
            rejected.append(
                Rejected(
                    label, "duplicate_id", "the id appears twice in the import: kept the first"
                )
            )
            continue
        seen.add(conversation.id)
        accepted.append(conversation)
        if version is not None:
            versions[conversation.id] = version
    result = await svc.store.import_conversations(
        caller, accepted, body.current_conversation_id, versions=versions
    )
    return json_response(
        {
            "imported": result.imported,
            "updated": result.updated,
            "skipped": result.skipped,
            "evicted": result.evicted,
            "rejected": [
                {"id": r.id, "code": r.code, "detail": r.detail}
                for r in [*rejected, *result.rejected]
            ],
        },
        answered=result.answered,
    )


def _label(raw: object, index: int) -> str:
    # The conversation's id when it has a usable one, else where it stands in the batch (an
    # entry that is not an object, such as the null a deleted array slot leaves, has no id).
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, str):
        try:
            return check_id(value)
        except ApiError:
            pass
    return f"conversations[{index}]"


def _version(value: object) -> int:
    # ifMatch: the version (or ETag) the conversation was read at, as a number or a string.
    text = str(value).strip().removeprefix("W/").strip('"').rstrip("i")
    if isinstance(value, bool) or not text.isascii() or not text.isdigit() or len(text) > 15:
        raise ValidationFailed(
            "ifMatch must be the conversation's version (its ETag), a whole number",
            [{"location": "ifMatch", "type": "version", "problem": "not a version"}],
        )
    return int(text)


routes = [operation.route(import_conversations)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
