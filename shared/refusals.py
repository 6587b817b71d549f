"""What a script's refusal means to the client: one table from status words to API errors.

A script that refuses a call answers a status word (``shared/scripts.py``, ``REFUSALS``) and
writes nothing. ``error_of`` turns it into the error the API answers, its detail naming the
conversation and message the call was about (``About``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from shared import scripts
from shared.errors import (
    ApiError,
    ChangesReset,
    Conflict,
    ConversationDeleted,
    IdempotencyKeyReused,
    MessageFinished,
    MessageHasParts,
    NotFound,
    PartConflict,
    PayloadTooLarge,
    PreconditionFailed,
    SequenceGap,
    StoreUnavailable,
)
from shared.scripts import Reply


class About(NamedTuple):
    """What a call was about, for its error's detail."""

    conversation_id: str = ""
    message_id: str = ""
    """Set when the call was about one message: 'not_found' then names it."""
    sequence: int | None = None
    """A streamed delta's sequence number."""
    idempotency_key: str = ""
    max_messages: int = 0
    """MAX_MESSAGES_PER_CONVERSATION, for 'too_many'."""
    max_message_chars: int = 0
    """MAX_MESSAGE_CHARS, for 'too_large'."""


def not_found(about: About) -> NotFound:
    """The conversation, or the message of it, does not exist."""
    cid = about.conversation_id
    if about.message_id:
        return NotFound(f"message {about.message_id!r} does not exist in conversation {cid!r}")
    return NotFound(f"conversation {cid!r} does not exist")


def _not_found(about: About, _: Reply) -> ApiError:
    return not_found(about)


def _precondition_failed(about: About, reply: Reply) -> ApiError:
    cid, current = about.conversation_id, int(reply["version"])
    if current == 0:
        return PreconditionFailed(
            f"conversation {cid!r} does not exist, so it is at no version the request's "
            "If-Match names"
        )
    return PreconditionFailed(
        f"conversation {cid!r} is at version {current}, not the one the request's If-Match or "
        "If-None-Match names; read it again, then retry with its ETag",
        current_version=current,
    )


def _deleted(about: About, _: Reply) -> ApiError:
    return ConversationDeleted(
        f"conversation {about.conversation_id!r} was deleted; a write that means to bring it "
        "back says so with If-None-Match: *"
    )


def _conflict(about: About, _: Reply) -> ApiError:
    return Conflict(
        f"message {about.message_id!r} already exists in conversation {about.conversation_id!r} "
        "with other content; use a new message id, or PATCH the message to change it"
    )


def _too_many(about: About, _: Reply) -> ApiError:
    return PayloadTooLarge(
        f"conversation {about.conversation_id!r} already has {about.max_messages:,} messages, "
        "the most allowed (MAX_MESSAGES_PER_CONVERSATION)"
    )


def _too_large(about: About, _: Reply) -> ApiError:
    return PayloadTooLarge(
        f"message {about.message_id!r} would have more than {about.max_message_chars:,} "
        "characters (MAX_MESSAGE_CHARS)"
    )


def _out_of_order(about: About, reply: Reply) -> ApiError:
    last = int(reply["last_sequence"])
    return SequenceGap(
        f"delta sequence {about.sequence} does not follow the last applied delta ({last}) of "
        f"message {about.message_id!r}; resend the deltas from {last + 1} on",
        last_sequence=last,
    )


def _finished(about: About, _: Reply) -> ApiError:
    return MessageFinished(
        f"message {about.message_id!r} is no longer streaming: a finished reply takes no more "
        "deltas (set streaming: true in the same patch to continue it)"
    )


def _has_parts(about: About, _: Reply) -> ApiError:
    return MessageHasParts(
        f"message {about.message_id!r} has parts, and its content is their text: send new "
        "parts (content and appendContent alone cannot change it)"
    )


# What each rule a part change broke means (update_message.lua's part_conflict refusals).
_PART_RULES = {
    "past_end": "its index is past the end of the parts",
    "other_kind": "its index names a part of another kind",
    "not_appendable": "it appends to a part that an append did not start, or that is done "
    "(only text and reasoning an append started and still streaming take more text)",
    "tool_index": "its index is not that of the part with its toolCallId (a new tool call goes "
    "at the end)",
    "no_parts": "the message has content but no parts (written before parts): send its parts "
    "whole first",
    "not_indexed": "the message's parts were stored before they could be changed one by one: "
    "send them whole first",
}


def _part_conflict(about: About, reply: Reply) -> ApiError:
    rule = str(reply["rule"])
    return PartConflict(
        f"partChanges[{reply['change']}] cannot be applied to message {about.message_id!r}: "
        f"{_PART_RULES.get(rule, rule)} ({rule}); nothing was applied",
        extra={"rule": rule},
    )


def _parts_too_large(about: About, reply: Reply) -> ApiError:
    setting, limit = str(reply["setting"]), int(reply["limit"])
    what = "parts" if setting == "MAX_PARTS_PER_MESSAGE" else "bytes of parts as JSON"
    return PayloadTooLarge(
        f"message {about.message_id!r} would have more than {limit:,} {what} ({setting}); "
        "nothing was applied"
    )


def _reset(_about: About, _: Reply) -> ApiError:
    return ChangesReset(
        "this changes cursor is older than the changes kept (or the user's data was erased "
        "since): list the conversations again and follow the changes from the list's "
        "changesCursor"
    )


def _idempotency_mismatch(about: About, _: Reply) -> ApiError:
    return IdempotencyKeyReused.of(about.idempotency_key)


def _cancelled(_about: About, _: Reply) -> ApiError:
    return StoreUnavailable(
        "the conversation store did not answer in time; nothing was written, so retrying is safe"
    )


_ERRORS: dict[str, Callable[[About, Reply], ApiError]] = {
    "not_found": _not_found,
    "precondition_failed": _precondition_failed,
    "deleted": _deleted,
    "conflict": _conflict,
    "too_many": _too_many,
    "too_large": _too_large,
    "out_of_order": _out_of_order,
    "finished": _finished,
    "has_parts": _has_parts,
    "part_conflict": _part_conflict,
    "parts_too_large": _parts_too_large,
    "reset": _reset,
    "idempotency_mismatch": _idempotency_mismatch,
    "cancelled": _cancelled,
}
# Every refusal a script may answer has its error, and none other is listed.
if set(_ERRORS) != set(scripts.REFUSALS):  # pragma: no cover  (fails at import)
    _msg = f"refusals without an error: {set(scripts.REFUSALS) ^ set(_ERRORS)}"
    raise ValueError(_msg)


def error_of(reply: Reply, about: About) -> ApiError:
    """The API error a refused ``reply`` stands for."""
    return _ERRORS[reply.status](about, reply)
