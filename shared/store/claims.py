"""Claiming: an anonymous visitor's conversations moved to a signed-in user, page by page.

A claim is the store's own export, import and erase, in a loop: an exported page is imported
by the user (the newer copy of a conversation both have wins), and the visitor is erased once
every page has moved. It goes on from a cursor, within a time budget. The response is the
signed-in user's: what the visitor's calls answered (their quota, their sync token) stays out
of it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from shared.context import Answered, Caller
from shared.errors import ApiError
from shared.models import Conversation
from shared.store.results import Claimed, ExportItem, Rejected

if TYPE_CHECKING:
    from shared.store.conversations import ConversationStore

T = TypeVar("T")

# Conversations a claim moves per import: a batch stays well under Upstash's request limit.
_CLAIM_BATCH = 20
# A claim starts no new page after this long, so that it answers well within the function's
# timeout however many conversations the visitor has (tests/deploy/test_timeouts.py sums it).
CLAIM_BUDGET_SECONDS = 8.0


async def claim(
    store: ConversationStore,
    caller: Caller,
    anonymous: Caller,
    *,
    cursor: str | None,
    budget_seconds: float,
) -> Claimed:
    """Move ``anonymous``'s conversations to ``caller`` (``ConversationStore.claim``)."""
    started = time.monotonic()
    totals = Claimed(0, 0, 0, [], [], done=False, cursor=cursor)
    answered = Answered(None, caller.sync_token)  # (the user's calls, so far: none)
    while True:  # (a page at least, however small the budget)
        page = await _visitors(
            answered, store.export_conversations(anonymous, limit=_CLAIM_BATCH, cursor=cursor)
        )
        # The visitor's next call reads at least what its last one wrote.
        anonymous = anonymous._replace(sync_token=page.answered.sync_token)
        whole = [
            _conversation_of(item) for item in page.conversations
            if item.older_messages_cursor is None
        ]  # fmt: skip
        if whole:
            result = await store.import_conversations(
                caller, whole, None if cursor else page.current_conversation_id, before=answered
            )
            answered = result.answered
            totals.imported += result.imported
            totals.updated += result.updated
            totals.skipped += result.skipped
            totals.rejected.extend(result.rejected)
            totals.evicted.extend(result.evicted)
        for item in page.conversations:
            if item.older_messages_cursor is not None:
                totals.rejected.append(
                    Rejected(
                        item.summary.id,
                        "payload_too_large",
                        "too large to move in one response; export it and PUT it",
                    )
                )
        cursor = totals.cursor = page.next_cursor
        if cursor is None:
            # Every page moved. A conversation too large to move keeps the visitor.
            if not any(r.code == "payload_too_large" for r in totals.rejected):
                await _visitors(answered, store.erase_user(anonymous))
            totals.done = True
            break
        if time.monotonic() - started >= budget_seconds:
            break
    totals.answered = answered
    return totals


async def _visitors(answered: Answered, call: Awaitable[T]) -> T:
    # A call of the visitor's data. An error it raises is answered to the signed-in user, with
    # what the user's calls answered (``answered``), not what the visitor's did.
    try:
        return await call
    except ApiError as error:
        error.answered = answered
        raise


def _conversation_of(item: ExportItem) -> Conversation:
    # An exported conversation as one to import, built without validating again: its messages
    # are the models the export decoded, validated when they were written.
    summary = item.summary
    return Conversation.model_construct(
        id=summary.id,
        title=summary.title,
        messages=item.messages,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
        total_tokens=summary.total_tokens,
        mcp_servers=summary.mcp_servers,
        archived=summary.archived,
    )
