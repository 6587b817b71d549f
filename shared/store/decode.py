"""Script replies, read by name, turned into the store's results.

Each function takes a reply as ``shared/scripts.py`` declares it (and what the call was asked,
where the answer depends on it) and builds one result of ``results``. ``stale`` says whether a
message still marked streaming, last updated at the given ms, has been given up on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shared import codec, records, scripts
from shared.models import Conversation, ConversationMessage, ConversationSummary
from shared.scripts import Reply
from shared.store import cursors, etags
from shared.store.results import (
    AppendResult,
    Change,
    ChangesRead,
    ConversationPage,
    ConversationPut,
    ConversationRead,
    ExportItem,
    ExportRead,
    Imported,
    MessageRead,
    NotModified,
    Rejected,
    UserTotals,
)

Stale = Callable[[int], bool]
_LENGTH = records.MESSAGE.getter("length")


def conversation_page(
    reply: Reply, *, held: str | None, period: int, now: int, kind: str = etags.LIST
) -> ConversationPage | NotModified:
    """A list page; NotModified when the caller's tag (version ``held``) is still current.

    ``kind`` is the tag's kind letter: each filter of the list has its own.
    """
    if reply.status == "not_modified":
        return NotModified(etags.list_etag(kind, held or "0", period))
    page = pairs(reply["page"])
    shown = records.SUMMARY.each(reply["summaries"])
    summaries = [codec.summary(cid, fields) for (cid, _), fields in zip(page, shown, strict=False)]
    next_cursor = cursors.list_cursor(page, len(shown))
    resume = reply["resume"]
    if next_cursor is None and resume:
        # A filtered page stopped at its window: the next one starts after what it looked at.
        next_cursor = cursors.position_cursor(resume[0], resume[1])
    return ConversationPage(
        summaries,
        next_cursor,
        etags.list_etag(kind, reply["list_version"], period),
        cursors.feed_cursor(reply["generation"], reply["sequence"], now),
    )


def conversation_view(
    conversation_id: str, reply: Reply, stale: Stale
) -> ConversationRead | NotModified:
    """A conversation's summary and page of messages, oldest first."""
    if reply.status == "not_modified":
        return NotModified(etags.etag(reply["tag"]))
    page = pairs(reply["page"])
    newest_first = messages([mid for mid, _ in page], reply["messages"], stale)
    next_cursor = None
    if reply["more"]:
        next_cursor = cursors.message_cursor(page[-1][1])
    return ConversationRead(
        summary=codec.summary(conversation_id, records.SUMMARY.one(reply["summary"])),
        messages=newest_first[::-1],
        next_cursor=next_cursor,
        etag=etags.etag(reply["tag"]),
    )


def message_tail(message_id: str, reply: Reply, stale: Stale) -> MessageRead | NotModified:
    """A message with its content from the offset the script answered."""
    if reply.status == "not_modified":
        return NotModified(etags.etag(reply["tag"]))
    fields = records.MESSAGE.one(reply["message"])
    contents = iter([reply["text"], reply["parts"], reply["metadata"], *reply["tools"]])
    stored = codec.message(message_id, fields, contents, stale)
    length = int(_LENGTH(fields) or 0)
    return MessageRead(stored, int(reply["offset"]), length, etags.etag(reply["tag"]))


def changes_page(
    reply: Reply,
    *,
    cursor: str,
    sent_generation: str,
    since_ms: int,
    expired_from: str,
    now: int,
) -> ChangesRead:
    """The changes after ``cursor`` (whose generation and instant were sent) and the next one."""
    generation, last, more = reply["generation"], reply["last"], reply["more"]
    changes = []
    for entry in reply["changes"]:
        kind, change = scripts.CHANGE.decode(entry)
        cid, sequence = change["id"], int(change["sequence"])
        if kind == "upsert":
            fields = records.SUMMARY.one(change["summary"])
            changes.append(
                Change(
                    cid, sequence, codec.summary(cid, fields), codec.version(fields),
                    None, None,
                )
            )  # fmt: skip
        else:
            when = codec.iso(int(change["removed_at"]))
            changes.append(Change(cid, sequence, None, None, change["removed"], when))
    if not changes and not more and not expired_from and generation == sent_generation:
        # Idle, and no expiry step passed since the cursor's instant: nothing can have
        # expired since then, so the same cursor asks the same question next time. Given
        # back byte for byte, it keeps the poll's URL (and the browser's cached CORS
        # preflight for it) the same. Once a step passes, the page looked for expiries and
        # moves the cursor on (below), or every later poll would look again.
        return ChangesRead([], cursor, False)
    # Caught up: the next page starts now (conversations that expire later are reported
    # then); with more to come, from the same instant.
    next_ms = since_ms if more else now
    return ChangesRead(changes, cursors.feed_cursor(generation, last, next_ms), bool(more))


def user_totals(reply: Reply, *, held: str | None, period: int) -> UserTotals | NotModified:
    """The user's totals; NotModified when the caller's tag (version ``held``) is current."""
    if reply.status == "not_modified":
        return NotModified(etags.list_etag(etags.TOTALS, held or "", period))
    return UserTotals(
        int(reply["conversations"]),
        int(reply["messages"]),
        int(reply["tokens"]),
        reply["current"] or None,
        etags.list_etag(etags.TOTALS, reply["tag"], period),
    )


def listed_ids(listed: Reply) -> list[str]:
    """The ids of the conversations a listing shows (those it answered summaries of)."""
    shown = len(listed["summaries"]) // records.SUMMARY.width
    return [cid for cid, _ in pairs(listed["page"])[:shown]]


def export_page(listed: Reply, reply: Reply, stale: Stale) -> ExportRead:
    """The conversations an export answered for the page ``listed``, and the next page's cursor."""
    exported = []
    for item in reply["conversations"]:
        conversation = scripts.EXPORTED.named(item)
        fields = records.SUMMARY.one(conversation["summary"])
        cut = conversation["older_before"]
        exported.append(
            ExportItem(
                codec.summary(conversation["id"], fields),
                messages(conversation["message_ids"], conversation["messages"], stale),
                codec.version(fields),
                None if cut is None else cursors.message_cursor(cut),
            )
        )
    shown = len(listed["summaries"]) // records.SUMMARY.width
    next_cursor = cursors.list_cursor(pairs(listed["page"]), shown)
    return ExportRead(exported, reply["current"] or None, next_cursor)


def put_result(conversation: Conversation, reply: Reply) -> ConversationPut:
    """What replacing ``conversation`` did; its summary is the one just written."""
    summary = ConversationSummary(
        id=conversation.id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        total_tokens=conversation.total_tokens,
        message_count=len(conversation.messages),
        mcp_servers=conversation.mcp_servers,
        archived=True if conversation.archived else None,
    )
    return ConversationPut(
        bool(reply["created"]), summary, list(reply["evicted"]), etags.etag(reply["version"])
    )


def conversation_update(conversation_id: str, reply: Reply) -> tuple[ConversationSummary, str]:
    """A conversation's summary and entity tag after its title, mcpServers or archived changed."""
    fields = records.SUMMARY.one(reply["summary"])
    return codec.summary(conversation_id, fields), etags.etag(codec.version(fields))


def append_result(message: ConversationMessage, reply: Reply, stale: Stale) -> AppendResult:
    """What appending ``message`` did; for a retry, the message as stored."""
    if reply.status == "duplicate":
        stored = messages([message.id], reply["message"], stale)[0]
        return AppendResult(
            stored, created=False, conversation_created=False, evicted=[],
            etag=etags.etag(reply["version"]),
        )  # fmt: skip
    return AppendResult(
        message,
        created=True,
        conversation_created=bool(reply["conversation_created"]),
        evicted=list(reply["evicted"]),
        etag=etags.etag(reply["version"]),
    )


def message_update(
    message_id: str, reply: Reply, stale: Stale, *, returned: bool
) -> tuple[ConversationMessage | None, str]:
    """The message as stored after a patch (when ``returned``), and the conversation's tag."""
    etag = etags.etag(reply["version"])
    if not returned:
        return None, etag
    return messages([message_id], reply["message"], stale)[0], etag


def import_result(reply: Reply) -> Imported:
    """What an import did: its counts, evictions and the conversations it refused."""
    refused = [
        _rejection(r["id"], r["reason"], int(r["version"]))
        for r in scripts.REJECTED.each(reply["rejected"])
    ]
    return Imported(
        int(reply["imported"]),
        int(reply["updated"]),
        int(reply["skipped"]),
        list(reply["evicted"]),
        refused,
    )


_REJECTIONS = {
    "deleted": "the user deleted this conversation; it is not brought back by an import",
    "precondition_failed": "it is no longer at the version the import named",
}


def _rejection(cid: str, reason: str, current: int) -> Rejected:
    code = "conversation_deleted" if reason == "deleted" else reason
    detail = _REJECTIONS[reason]
    if reason == "precondition_failed":
        detail += f" (it is at version {current})" if current else " (it does not exist)"
    return Rejected(cid, code, detail)


def messages(ids: Sequence[str], values: Sequence[Any], stale: Stale) -> list[ConversationMessage]:
    """The messages ``ids`` from what read_messages answered for them (``scripts.MESSAGES``)."""
    # The first `len(ids)` messages' attribute values, and their contents and tool executions
    # in order.
    page = scripts.MESSAGES.named(values)
    rest = iter(page["contents"])
    return [
        codec.message(mid, fields, rest, stale)
        for mid, fields in zip(ids, records.MESSAGE.each(page["values"]), strict=False)
    ]


def pairs(flat: Sequence[str]) -> list[tuple[str, str]]:
    """A flat ``[member, score, member, score, ...]`` reply as (member, score) pairs."""
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
