"""The conversation store: the typed interface handlers use, over one Lua script per call.

Each method builds its call (the script, its keys and arguments), has ``calls`` run it and
``decode`` turn the named reply into a result. Every method is one atomic script, one Upstash
HTTP request (export and erase, which must first learn which conversations' keys to name,
take two), whose cost depends on the page asked for, never on how much history the user has.
The caller's rate limit is part of the same script; what is left of it, and Upstash's sync
token, come back in each result's ``answered``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared import codec, part_index, push, scripts
from shared.context import Answered, Caller
from shared.errors import StoreUnavailable
from shared.keys import UserKeys, connection_owner_key
from shared.models import (
    DEFAULT_TITLE,
    Conversation,
    ConversationMessage,
    ConversationPatch,
    MessagePatch,
    timestamp_ms,
    title_from,
)
from shared.refusals import About
from shared.scripts import Reply
from shared.settings import Settings
from shared.store import claims, cursors, decode, etags
from shared.store.calls import Replied, UserCalls
from shared.store.claims import CLAIM_BUDGET_SECONDS
from shared.store.results import (
    AppendResult,
    ChangesRead,
    Claimed,
    ConversationPage,
    ConversationPut,
    ConversationRead,
    ConversationUpdate,
    Done,
    Erased,
    ExportRead,
    Imported,
    MessageDeleted,
    MessageRead,
    MessageUpdate,
    NotModified,
    UserTotals,
)
from shared.ttl_policy import TtlPolicy
from shared.upstash import Upstash

# How much of a response a page's messages may take, in bytes as Lambda returns the response
# (a message's stored size, codec.message_size, is measured so): Lambda returns at most 6 MB,
# and the rest of the body (summaries, the page's own fields) needs room too.
PAGE_BUDGET_BYTES = 5_000_000
EXPORT_BUDGET_BYTES = PAGE_BUDGET_BYTES
# Erasing lists the conversations' keys, then deletes them: again, once, when a conversation
# appeared in between (tests/deploy/test_timeouts.py counts on it).
_ERASE_ATTEMPTS = 2


class ConversationStore:
    """Conversations of every user, each user's data under its own keys.

    Each method builds one script call (what to send), has ``UserCalls`` send it as one
    Upstash request, and ``decode`` turn the answer into a result. The caller's rate limit is
    checked by the same script, before it writes anything; what is left of it comes back in
    the result's ``answered``, with Upstash's sync token (an error raised carries them too).
    """

    def __init__(
        self,
        upstash: Upstash,
        settings: Settings,
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._upstash = upstash
        self._settings = settings
        self._prefix = settings.key_prefix
        self._ttl = TtlPolicy.from_settings(settings)
        self._clock_ms = clock_ms
        self._stale_ms = settings.streaming_stale_seconds * 1000
        self._calls = UserCalls(upstash, settings, self._ttl, clock_ms)
        self._pusher = push.Pusher(settings) if settings.websocket_endpoint else None

    @property
    def pusher(self) -> push.Pusher | None:
        """What posts to WebSocket connections; None while push is off."""
        return self._pusher

    # ------------------------------------------------------------------------- reads

    async def list_conversations(
        self,
        caller: Caller,
        *,
        limit: int,
        cursor: str | None,
        if_none_match: str | None = None,
        archived: bool | None = None,
    ) -> ConversationPage | NotModified:
        """A page of the user's conversations, most recently updated first.

        ``archived`` True or False lists only the conversations archived or not; such a page
        looks at a bounded window of the list and may come short (even empty) with a
        ``next_cursor`` that goes on after it. None lists them all.
        """
        after = cursors.decode_list_cursor(cursor) if cursor else ("", "")
        now = self._clock_ms()
        period = self._expiry_period(now)
        kind = {None: etags.LIST, True: etags.LIST_ARCHIVED, False: etags.LIST_NOT_ARCHIVED}[
            archived
        ]
        held = etags.list_tag_version(if_none_match, kind, period)
        reply, answered = await self._list(
            caller, limit, after, now, if_none_match=held, archived=archived
        )
        page = decode.conversation_page(reply, held=held, period=period, now=now, kind=kind)
        return page._replace(answered=answered)

    async def get_conversation(
        self,
        caller: Caller,
        conversation_id: str,
        *,
        limit: int,
        before: str | None,
        if_none_match: str | None = None,
    ) -> ConversationRead | NotModified:
        """The conversation's summary and the newest ``limit`` messages before ``before``."""
        upper = cursors.decode_message_cursor(before) if before else ""
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.GET_CONVERSATION,
            caller,
            {"sum": keys.summaries, **keys.conversation(conversation_id)},
            {
                "cid": conversation_id,
                "limit": limit,
                "before": upper,
                "budget": self._settings.max_page_chars,
                "budget_bytes": PAGE_BUDGET_BYTES,
                "if_none_match": if_none_match or "",
                "stale_ms": self._stale_ms,
            },
            now=now,
            about=About(conversation_id),
        )
        view = decode.conversation_view(conversation_id, reply, self._stale(now))
        return view._replace(answered=answered)

    async def get_message(
        self,
        caller: Caller,
        conversation_id: str,
        message_id: str,
        *,
        after: int,
        if_none_match: str | None = None,
    ) -> MessageRead | NotModified:
        """One message with its content after the first ``after`` UTF-16 code units."""
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.GET_MESSAGE,
            caller,
            {"sum": keys.summaries, "msgs": keys.messages(conversation_id)},
            {
                "cid": conversation_id,
                "mid": message_id,
                "after": after,
                "if_none_match": if_none_match or "",
                "stale_ms": self._stale_ms,
            },
            now=now,
            about=About(conversation_id, message_id),
        )
        tail = decode.message_tail(message_id, reply, self._stale(now))
        return tail._replace(answered=answered)

    async def list_changes(self, caller: Caller, *, cursor: str, limit: int) -> ChangesRead:
        """What changed since ``cursor`` (a list's ``changesCursor`` or a previous page's)."""
        sent_generation, since, since_ms = cursors.decode_feed_cursor(cursor)
        now = self._clock_ms()
        expired_from = self._expired_from(since_ms, now)
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.LIST_CHANGES,
            caller,
            {"exp": keys.expiry, "sum": keys.summaries, "chg": keys.changes},
            {
                "fid": sent_generation,
                "since": since,
                "expired_from": expired_from,
                "limit": limit,
            },
            now=now,
        )
        page = decode.changes_page(
            reply,
            cursor=cursor,
            sent_generation=sent_generation,
            since_ms=since_ms,
            expired_from=expired_from,
            now=now,
        )
        return page._replace(answered=answered)

    async def user_totals(
        self, caller: Caller, *, if_none_match: str | None = None
    ) -> UserTotals | NotModified:
        """Counts and totals of everything the user has, and the current conversation."""
        keys = UserKeys(self._prefix, caller.user_id)
        now = self._clock_ms()
        period = self._expiry_period(now)
        held = etags.list_tag_version(if_none_match, etags.TOTALS, period)
        reply, answered = await self._calls.run(
            scripts.GET_ME,
            caller,
            {"exp": keys.expiry, "sum": keys.summaries},
            {"if_none_match": held or ""},
            now=now,
        )
        totals = decode.user_totals(reply, held=held, period=period)
        return totals._replace(answered=answered)

    async def export_conversations(
        self, caller: Caller, *, limit: int, cursor: str | None
    ) -> ExportRead:
        """A page of whole conversations, every message included, most recent first.

        Two requests: the page's ids (counted against the caller's limit), then those
        conversations, whose keys the second script can only reach once they are named. The
        page stops before its messages would take more than ``EXPORT_BUDGET_BYTES``.
        """
        after = cursors.decode_list_cursor(cursor) if cursor else ("", "")
        now = self._clock_ms()
        listed, counted = await self._list(caller, limit, after, now, budget=EXPORT_BUDGET_BYTES)
        ids = decode.listed_ids(listed)
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.EXPORT_CONVERSATIONS,
            caller,
            {"exp": keys.expiry, "sum": keys.summaries},
            {"budget": EXPORT_BUDGET_BYTES},
            rest_keys=[k for cid in ids for k in (keys.messages(cid), keys.order(cid))],
            rest_args=ids,
            now=now,
            counted=False,
            before=counted,
        )
        page = decode.export_page(listed, reply, self._stale(now))
        return page._replace(answered=answered)

    # ------------------------------------------------------------------------- writes

    async def put_conversation(
        self,
        caller: Caller,
        conversation: Conversation,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> ConversationPut:
        """Replace (or create) a conversation with its whole message list, atomically."""
        cid = conversation.id
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.PUT_CONVERSATION,
            caller,
            {**keys.user(), **keys.conversation(cid)},
            {
                "cap": self._settings.max_conversations_per_user,
                "if_match": if_match or "",
                "if_none_match": if_none_match or "",
            },
            rest_args=codec.record(conversation, now),
            now=now,
            about=About(cid),
        )
        put = decode.put_result(conversation, reply)
        await self._push(
            caller,
            reply,
            lambda _: [
                push.conversation_event(
                    cid, int(reply["version"]), "created" if put.created else "changed"
                ),
                *_evictions(put.evicted),
            ],
        )
        return put._replace(answered=answered)

    async def delete_conversation(
        self, caller: Caller, conversation_id: str, *, if_match: str | None = None
    ) -> Done:
        """Delete the conversation and all its messages; ``NotFound`` when there is none.

        The deletion stays: no later write brings the conversation back unless it says so.
        """
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.DELETE_CONVERSATION,
            caller,
            {**keys.user(), **keys.conversation(conversation_id)},
            {"cid": conversation_id, "if_match": if_match or ""},
            about=About(conversation_id),
        )
        await self._push(
            caller,
            reply,
            lambda extra: [push.conversation_event(conversation_id, int(extra[0]), "deleted")],
        )
        return Done(answered)

    async def update_conversation(
        self,
        caller: Caller,
        conversation_id: str,
        patch: ConversationPatch,
        *,
        if_match: str | None = None,
    ) -> ConversationUpdate:
        """Change the title, mcpServers and/or archived flag.

        A new title or mcpServers make the conversation the most recent; archiving or
        unarchiving alone keeps its updatedAt and place in the list.
        """
        given = patch.model_fields_set
        reply, answered = await self._calls.run(
            scripts.UPDATE_CONVERSATION,
            caller,
            self._conversation_keys(caller, conversation_id),
            {
                "cid": conversation_id,
                "set_title": "1" if "title" in given and patch.title is not None else "",
                "title": patch.title or "",
                "set_mcp": "1" if "mcp_servers" in given else "",
                "mcp": codec.json_or_empty(patch.mcp_servers),
                "archived": codec.flag(patch.archived),
                "if_match": if_match or "",
            },
            about=About(conversation_id),
        )
        summary, etag = decode.conversation_update(conversation_id, reply)
        change = "changed"
        if given & {"title", "mcp_servers"} == set() and patch.archived is not None:
            change = "archived" if patch.archived else "unarchived"
        await self._push(
            caller,
            reply,
            lambda _: [push.conversation_event(conversation_id, etags.version_of(etag), change)],
        )
        return ConversationUpdate(summary, etag, answered)

    async def append_message(
        self,
        caller: Caller,
        conversation_id: str,
        message: ConversationMessage,
        *,
        if_match: str | None = None,
        revive: bool = False,
    ) -> AppendResult:
        """Append one message, creating the conversation when absent; safe to retry.

        ``revive`` lets the append bring back a conversation the user deleted.
        """
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        reply, answered = await self._calls.run(
            scripts.APPEND_MESSAGE,
            caller,
            {**keys.user(), **keys.conversation(conversation_id)},
            {
                "cid": conversation_id,
                "mid": message.id,
                "type": message.type,
                "content": message.content,
                "title": title_from(message.content) if message.type == "user" else "",
                "default_title": DEFAULT_TITLE,
                "tokens": message.tokens.total if message.tokens else 0,
                "max_messages": self._settings.max_messages_per_conversation,
                "cap": self._settings.max_conversations_per_user,
                "if_match": if_match or "",
                "revive": "1" if revive else "",
                "streaming": "1" if message.streaming else "",
                "size": codec.message_size(message),
            },
            rest_args=codec.message_fields(message, now),
            now=now,
            about=About(conversation_id, message.id),
        )
        appended = decode.append_result(message, reply, self._stale(now))
        version = int(reply["version"]) if reply.status == "created" else 0
        await self._push(
            caller,
            reply,
            lambda _: [
                *(
                    [push.conversation_event(conversation_id, version, "created")]
                    if appended.conversation_created
                    else []
                ),
                push.message_event(conversation_id, message.id, version, "appended"),
                *_evictions(appended.evicted),
            ],
        )
        return appended._replace(answered=answered)

    async def update_message(
        self,
        caller: Caller,
        conversation_id: str,
        message_id: str,
        patch: MessagePatch,
        *,
        return_message: bool = True,
        if_match: str | None = None,
    ) -> MessageUpdate:
        """Apply ``patch`` to one message: the message as stored afterwards, when asked for."""
        now = self._clock_ms()
        content = patch.new_content
        delta = patch.append_content or ""
        tools = patch.tool_executions or []
        parts = codec.json_or_empty(patch.parts)
        metadata = codec.json_or_empty(patch.metadata)
        size = (codec.text_size(content) if content is not None else 0) + (
            codec.text_size(delta) if delta else 0
        )
        size += sum(codec.json_size(tool.model_dump(exclude_none=True)) for tool in tools)
        size += codec.json_text_size(parts) + codec.json_text_size(metadata)
        changes = patch.part_changes or []
        change_args = part_index.change_args(changes)
        size += codec.part_changes_size(changes)
        # A delta alone is followed by offset, not through the change feed (docs/sync.md,
        # "Keeping devices in sync"); anything else a patch changes is a change. Part changes
        # alone are such a delta while the reply streams, which only the script knows ('p').
        change = patch.model_fields_set - {"append_content", "sequence", "part_changes"}
        change_word = "1" if change else ("p" if changes else "")
        # A numbered delta alone is already safe to retry (its sequence says whether it was
        # applied): no Idempotency-Key answer is kept for it, so a delta stays lean.
        numbered_delta = not change and patch.sequence is not None
        reply, answered = await self._calls.run(
            scripts.UPDATE_MESSAGE,
            caller,
            self._conversation_keys(caller, conversation_id),
            {
                "cid": conversation_id,
                "mid": message_id,
                "content": content or "",
                "set_content": "1" if content is not None else "",
                "content_length": codec.utf16_length(content or ""),
                "delta": delta,
                "delta_length": codec.utf16_length(delta),
                "sequence": "" if patch.sequence is None else patch.sequence,
                "max_chars": self._settings.max_message_chars,
                "streaming": codec.flag(patch.ends_stream),
                "editable": codec.flag(patch.editable),
                "tokens": "" if patch.tokens is None else patch.tokens.model_dump_json(),
                "token_total": patch.tokens.total if patch.tokens else 0,
                "return_message": "1" if return_message else "",
                "if_match": if_match or "",
                "size": size,
                "change": change_word,
                "parts": parts,
                "parts_index": "" if patch.parts is None else part_index.index(patch.parts),
                "metadata": metadata,
                "interrupted": codec.flag(patch.interrupted),
                "part_changes": len(changes) if changes else "",
                "max_parts": self._settings.max_parts_per_message,
                "max_parts_bytes": self._settings.max_parts_bytes,
            },
            rest_args=[
                *change_args,
                *(part for tool in tools for part in (tool.id, codec.tool_json(tool))),
            ],
            now=now,
            idempotent=not numbered_delta,
            about=About(conversation_id, message_id, sequence=patch.sequence),
        )
        stored, etag = decode.message_update(
            message_id, reply, self._stale(now), returned=return_message
        )
        await self._push(
            caller,
            reply,
            lambda extra: _message_update_events(
                conversation_id, message_id, int(reply["version"]), extra
            ),
        )
        return MessageUpdate(stored, etag, answered)

    async def delete_message(
        self,
        caller: Caller,
        conversation_id: str,
        message_id: str,
        *,
        if_match: str | None = None,
    ) -> MessageDeleted:
        """Delete one message."""
        reply, answered = await self._calls.run(
            scripts.DELETE_MESSAGE,
            caller,
            self._conversation_keys(caller, conversation_id),
            {"cid": conversation_id, "mid": message_id, "if_match": if_match or ""},
            about=About(conversation_id, message_id),
        )
        await self._push(
            caller,
            reply,
            lambda _: [
                push.message_event(conversation_id, message_id, int(reply["version"]), "deleted")
            ],
        )
        return MessageDeleted(etags.etag(reply["version"]), answered)

    async def set_current_conversation(self, caller: Caller, conversation_id: str | None) -> Done:
        """Point the user's session at a conversation (None clears it) for the session TTL."""
        now = self._clock_ms()
        until = self._ttl.session_until_ms(now)
        keys = UserKeys(self._prefix, caller.user_id)
        _, answered = await self._calls.run(
            scripts.SET_CURRENT_CONVERSATION,
            caller,
            {k: v for k, v in keys.user().items() if k != "gy"},
            {"cid": conversation_id or "", "until_ms": "" if until is None else until},
            now=now,
        )
        return Done(answered)

    async def import_conversations(
        self,
        caller: Caller,
        conversations: Sequence[Conversation],
        current_conversation_id: str | None,
        *,
        versions: Mapping[str, int] | None = None,
        before: Answered | None = None,
    ) -> Imported:
        """Store a localStorage dump: new conversations added, newer ones replaced.

        Importing the same dump twice changes nothing the second time. A conversation the
        user deleted is not brought back, and one named in ``versions`` is written only while
        it is still at that version: both are reported as rejected. ``before``: what the
        request's earlier calls answered (a claim's earlier pages), as ``UserCalls.run`` takes it.
        """
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        # Newest first, so that over the cap the oldest are the ones left out.
        ordered = sorted(conversations, key=lambda c: timestamp_ms(c.updated_at), reverse=True)
        until = self._ttl.session_until_ms(now)
        wanted = versions or {}
        reply, answered = await self._calls.run(
            scripts.IMPORT_CONVERSATIONS,
            caller,
            keys.user(),
            {
                "cap": self._settings.max_conversations_per_user,
                "current": current_conversation_id or "",
                "until_ms": "" if until is None else until,
                "records": len(ordered),
            },
            rest_keys=[k for c in ordered for k in (keys.messages(c.id), keys.order(c.id))],
            rest_args=[
                *(wanted.get(c.id, "") for c in ordered),
                *(value for c in ordered for value in codec.record(c, now)),
            ],
            now=now,
            before=before,
        )
        imported = decode.import_result(reply)
        await self._push(
            caller,
            reply,
            lambda extra: [
                *(
                    push.conversation_event(
                        str(w["id"]),
                        int(w["version"]),
                        "created" if int(w["created"]) else "changed",
                    )
                    for w in scripts.WRITTEN.each(extra)
                ),
                *_evictions(imported.evicted),
            ],
        )
        return imported._replace(answered=answered)

    async def erase_user(self, caller: Caller) -> Erased:
        """Delete every key of the user, and say how many conversations it had.

        The conversations' keys are found first, then deleted by a script that names them all
        (a conversation created in between sends it round again with the new list).
        """
        keys = UserKeys(self._prefix, caller.user_id)
        listing = scripts.LIST_CONVERSATION_KEYS.call(
            {
                "idx": keys.index,
                "exp": keys.expiry,
                "gy": keys.graveyard,
                "ik": keys.idempotency_index,
            },
            {},
        )
        received = await self._upstash.run(listing, sync_token=caller.sync_token)
        listed = scripts.LIST_CONVERSATION_KEYS.replies.decode(received.answer)
        ids, answers = listed["conversations"], listed["answers"]
        answered = Answered(None, received.sync_token)
        for _ in range(_ERASE_ATTEMPTS):
            reply, answered = await self._calls.run(
                scripts.ERASE_USER,
                caller,
                {**keys.user(), "ik": keys.idempotency_index},
                {},
                rest_keys=[
                    *(k for cid in ids for k in (keys.messages(cid), keys.order(cid))),
                    *answers,
                ],
                rest_args=ids,
                before=answered,
            )
            if reply.status == "erased":
                return Erased(int(reply["conversations"]), answered)
            ids = reply["conversations"]
        error = StoreUnavailable(
            "the user's conversations kept changing while they were being erased; retry",
            retry_after=1,
        )
        error.answered = answered
        raise error

    async def claim(
        self,
        caller: Caller,
        anonymous: Caller,
        *,
        cursor: str | None = None,
        budget_seconds: float = CLAIM_BUDGET_SECONDS,
    ) -> Claimed:
        """Move the conversations of ``anonymous`` to ``caller``, then erase ``anonymous``.

        A conversation both have goes to the newer copy (the import rule), so nothing is
        duplicated. The move goes a page at a time from ``cursor`` (None: the first), and starts
        no page after ``budget_seconds`` but the first: then ``done`` is False and ``cursor``
        says where to go on. The visitor is erased once every page has moved. Claiming again,
        from any cursor, is safe: what was moved already is skipped.
        """
        return await claims.claim(
            self, caller, anonymous, cursor=cursor, budget_seconds=budget_seconds
        )

    # ------------------------------------------------------------------------- connections

    async def connect(
        self, user_id: str, connection_id: str, *, token_expires_ms: int, now_ms: int
    ) -> None:
        """Register a WebSocket connection of the user (docs/sync.md, "Live pushes")."""
        await self._connection("connect", user_id, connection_id, token_expires_ms, now_ms)

    async def connection_owner(self, connection_id: str) -> str | None:
        """Whose connection ``connection_id`` is; None when it is not (or no longer) registered."""
        owner = connection_owner_key(self._prefix, connection_id)
        return await self._upstash.get(owner)

    async def connection_frame(
        self,
        user_id: str,
        connection_id: str,
        *,
        now_ms: int,
        watch: Sequence[str] | None = None,
    ) -> Reply:
        """A frame came from the connection: its entry lives on, watching ``watch`` when given.

        The reply's status: ``ok`` (``watched``), ``gone`` or ``expired`` (its token).
        """
        watching = "-" if watch is None else " ".join(watch)
        return await self._connection("frame", user_id, connection_id, 0, now_ms, watch=watching)

    async def remove_connections(self, user_id: str, connection_ids: Sequence[str]) -> None:
        """Forget connections of the user (closed, gone, or their token expired)."""
        if connection_ids:
            await self._connection(
                "remove", user_id, connection_ids[0], 0, self._clock_ms(), rest=connection_ids[1:]
            )

    async def _connection(
        self,
        op: str,
        user_id: str,
        connection_id: str,
        token_expires_ms: int,
        now_ms: int,
        *,
        watch: str = "-",
        rest: Sequence[str] = (),
    ) -> Reply:
        keys = UserKeys(self._prefix, user_id)
        call = scripts.CONNECTION.call(
            {"ws": keys.connections, "owner": connection_owner_key(self._prefix, connection_id)},
            {
                "now": now_ms,
                "op": op,
                "user": user_id,
                "cid": connection_id,
                "token_expires": token_expires_ms,
                "max_ms": push.CONNECTION_MAX_MS,
                "idle_ms": push.CONNECTION_IDLE_MS,
                "watch": watch,
                "cap": self._settings.websocket_max_connections,
            },
            rest_args=rest,
        )
        received = await self._upstash.run(call)
        return scripts.CONNECTION.replies.decode(received.answer)

    async def _push(
        self,
        caller: Caller,
        reply: Reply,
        events: Callable[[list[Any]], list[dict[str, Any]]],
    ) -> None:
        # After a committed write: its events to the user's other connections (the events are
        # made only when there is someone to push to).
        listeners: push.Listeners | None = reply.listeners
        if self._pusher is None or listeners is None or not listeners.connections:
            return
        await self._pusher.push(
            caller.user_id,
            listeners,
            events(listeners.extra),
            skip=caller.connection_id,
            now_ms=self._clock_ms(),
            remove=self.remove_connections,
        )

    # ------------------------------------------------------------------------- helpers

    async def _list(
        self,
        caller: Caller,
        limit: int,
        after: tuple[str, str],
        now: int,
        *,
        if_none_match: str | None = None,
        budget: int | None = None,
        archived: bool | None = None,
    ) -> Replied:
        keys = UserKeys(self._prefix, caller.user_id)
        return await self._calls.run(
            scripts.LIST_CONVERSATIONS,
            caller,
            {"idx": keys.index, "sum": keys.summaries},
            {
                "limit": limit,
                "cursor_score": after[0],
                "cursor_id": after[1],
                "if_none_match": if_none_match or "",
                "budget": "" if budget is None else budget,
                "archived": codec.flag(archived),
            },
            now=now,
        )

    def _expiry_period(self, now_ms: int) -> int:
        # Conversations expire only at these steps (a write epoch, a multiple of the step, plus
        # the TTL): a list's tag that includes the step changes exactly when one may have.
        if self._ttl.conversation_ttl_ms == 0:
            return 0
        return (now_ms - self._ttl.conversation_ttl_ms) // self._ttl.step_ms

    def _expired_from(self, since_ms: int, now_ms: int) -> str:
        # The write epochs after which a conversation may have expired since `since_ms`; ''
        # when none can have (no expiry step passed), which spares the feed a query.
        if self._ttl.conversation_ttl_ms == 0:
            return ""
        if self._expiry_period(since_ms) == self._expiry_period(now_ms):
            return ""
        return str(since_ms - self._ttl.conversation_ttl_ms)

    def _conversation_keys(self, caller: Caller, conversation_id: str) -> dict[str, str]:
        keys = UserKeys(self._prefix, caller.user_id)
        user = {k: v for k, v in keys.user().items() if k != "gy"}
        return {**user, **keys.conversation(conversation_id)}

    def _stale(self, now_ms: int) -> Callable[[int], bool]:
        return lambda updated_ms: now_ms - updated_ms > self._stale_ms


def _evictions(evicted: Sequence[str]) -> list[dict[str, Any]]:
    # Conversations evicted over the cap: deleted for every device (version 0: the feed's
    # tombstone says why).
    return [push.conversation_event(cid, 0, "deleted") for cid in evicted]


def _message_update_events(
    conversation_id: str, message_id: str, version: int, extra: Sequence[Any]
) -> list[dict[str, Any]]:
    # update_message.lua's extra: whether the write is a change the feed reports, then, when it
    # pushes a delta, its offset, text, streaming and whether the message has parts.
    events = []
    if int(extra[0]):
        events.append(push.message_event(conversation_id, message_id, version, "changed"))
    if len(extra) > 1:
        delta = scripts.DELTA.named(extra[1:])
        events.append(
            push.delta_event(
                conversation_id,
                message_id,
                version,
                offset=int(delta["offset"]),
                text=str(delta["text"]),
                streaming=bool(int(delta["streaming"])),
                parts=bool(int(delta["parts"])),
            )
        )
    return events
