/**
 * The local copy the stores keep in a {@link StorageLike} (localStorage in a browser): the
 * server's state as last seen (the summaries list and each opened conversation, with their
 * ETags) and the persisted queue of writes not yet confirmed by the server.
 *
 * The copy holds the server's state and the queue apart, and what the app sees is the
 * first with the second applied on top ({@link applyWrite}). Reverting a refused write is
 * then just dropping it from the queue, with no snapshot to keep; and a reload replays the
 * same writes, in the same order, with the same idempotency keys.
 *
 * Keys, under the prefix (default {@link STORAGE_PREFIX}, `chat-store:v1:`):
 * `summaries` (the list), `state` (the list's ETag, and the changes cursor: where the change
 * feed goes on from for the list as kept, the one a list was answered with or the one its last
 * applied page of the feed ended at), `conversation:<id>` (an opened conversation, its ETag,
 * and whether it is exactly the server's), `queue` (the writes).
 * Values are JSON; dates are revived on the way back.
 */
import { reviveDates } from "./dates.js";
import type { Conversation, MessageUpdate } from "./model.js";
import { readJson, writeJson } from "./storage.js";
import type { StorageLike } from "./storage.js";
import { DEFAULT_TITLE, defaultTitle, messageText } from "./title.js";
import type { ConversationInput, ConversationPatch, ConversationSummary, MessageInput } from "./types.js";

/** The prefix of every key the stores write; `v1` changes if the stored shapes ever do. */
export const STORAGE_PREFIX = "chat-store:v1:";

/** One request's worth of change to a conversation: what the stores send and queue. */
export type Write =
  | {
      op: "put";
      conversationId: string;
      conversation: ConversationInput;
      /** Brings back a conversation deleted on another device (`If-None-Match: *`). */
      restore?: boolean;
    }
  | { op: "patch"; conversationId: string; patch: ConversationPatch }
  | {
      op: "append";
      conversationId: string;
      message: MessageInput;
      /**
       * The message is this device's last word on one the server may hold in part (a reply
       * whose streaming the server stopped taking): where the id is stored with other
       * content, that message is set to this one instead of the append being refused.
       */
      replace?: boolean;
    }
  | { op: "updateMessage"; conversationId: string; messageId: string; updates: MessageUpdate }
  | { op: "delete"; conversationId: string };

/** A write waiting for the server, with the key and time it was made with. */
export interface QueuedWrite {
  write: Write;
  /** Sent as `Idempotency-Key` on every try, across reloads: the server applies it once. */
  idempotencyKey: string;
  /** When the user made the edit (ms since the epoch); the 412 rule compares it. */
  madeAt: number;
}

/** An opened conversation as the copy holds it. */
export interface CachedConversation {
  conversation: Conversation;
  /** The conversation's last known `ETag`, sent as `If-Match` on guarded writes. */
  etag: string | undefined;
  /**
   * True when `conversation` is exactly what the server answered for `etag`, so a read may
   * send it as `If-None-Match`. A write applied locally clears it: the server derives
   * fields of its own (a title, `updatedAt`) that the local copy only approximates.
   */
  exact: boolean;
}

/** See the module's comment. */
export class LocalCopy {
  readonly #storage: StorageLike;
  readonly #prefix: string;
  /** The queue, while the storage refuses to hold it. */
  #unpersisted: QueuedWrite[] | undefined;
  /** The list's ETag and cursor, while the storage refuses to hold them. */
  #unpersistedState: ListState | undefined;

  constructor(storage: StorageLike, prefix: string = STORAGE_PREFIX) {
    this.#storage = storage;
    this.#prefix = prefix;
  }

  /** The summaries list as last read (plus confirmed writes), or undefined before any read. */
  summaries(): ConversationSummary[] | undefined {
    const value = readJson(this.#storage, this.#key("summaries"));
    return Array.isArray(value) ? (reviveDates(value) as ConversationSummary[]) : undefined;
  }

  /** The `ETag` of the list as last read. */
  listEtag(): string | undefined {
    return this.#state().listEtag;
  }

  /**
   * Where the change feed goes on from for the list as kept: the `changesCursor` the first page
   * of the list as last read was answered with, or where the last page of the feed applied to
   * it ended. The feed from it brings everything the kept list does not show.
   */
  changesCursor(): string | undefined {
    return this.#state().changesCursor;
  }

  /** Keeps a list the server answered, its `ETag` and the `changesCursor` of its first page. */
  setSummaries(summaries: ConversationSummary[], etag: string | undefined, changesCursor?: string): void {
    writeJson(this.#storage, this.#key("summaries"), summaries);
    this.#setState({ listEtag: etag, changesCursor });
  }

  /** Keeps where the change feed goes on from, once its changes are applied to the list. */
  setChangesCursor(changesCursor: string): void {
    this.#setState({ ...this.#state(), changesCursor });
  }

  /** Puts one summary in the list (replacing its old one), if a list is kept. */
  upsertSummary(summary: ConversationSummary): void {
    const list = this.summaries();
    if (list === undefined) return;
    writeJson(this.#storage, this.#key("summaries"), sortSummaries([...list.filter((s) => s.id !== summary.id), summary]));
  }

  /** The opened conversation `id`, or undefined. */
  conversation(id: string): CachedConversation | undefined {
    const value = readJson(this.#storage, this.#key(`conversation:${id}`));
    if (value === null || typeof value !== "object" || !("conversation" in value)) return undefined;
    return reviveDates(value) as CachedConversation;
  }

  /** Keeps an opened conversation. */
  setConversation(id: string, cached: CachedConversation): void {
    writeJson(this.#storage, this.#key(`conversation:${id}`), cached);
  }

  /** Drops the conversation and its summary (deleted, or gone on the server). */
  forget(id: string): void {
    this.#storage.removeItem(this.#key(`conversation:${id}`));
    const list = this.summaries();
    if (list?.some((s) => s.id === id)) {
      writeJson(this.#storage, this.#key("summaries"), list.filter((s) => s.id !== id));
    }
  }

  /** Applies a write the server confirmed to the server's state as kept here. */
  confirm(write: Write, at: Date, etag: string | undefined): void {
    const id = write.conversationId;
    if (write.op === "delete") {
      this.forget(id);
      return;
    }
    const cached = this.conversation(id);
    // A write to a conversation never opened here leaves it unopened: keeping a made-up
    // copy would answer later reads with it.
    if (cached !== undefined || write.op === "put") {
      const conversation = applyWrite(cached?.conversation, write, at);
      if (conversation !== undefined) {
        this.setConversation(id, { conversation, etag: etag ?? cached?.etag, exact: false });
      }
    }
    const list = this.summaries();
    if (list !== undefined) writeJson(this.#storage, this.#key("summaries"), applyToSummaries(list, write, at));
  }

  /** The writes waiting for the server, oldest first. */
  queue(): QueuedWrite[] {
    if (this.#unpersisted !== undefined) return [...this.#unpersisted];
    const value = readJson(this.#storage, this.#key("queue"));
    return Array.isArray(value) ? (reviveDates(value) as QueuedWrite[]) : [];
  }

  /**
   * Replaces the queue (an empty one leaves no key behind). A storage that refuses it (its
   * quota full) first gets room: the opened conversations' copies are dropped, since the next
   * read brings them back and a queued write cannot be brought back. If it still refuses,
   * the queue is kept in memory (lost only if the page closes before the server is back) and
   * false is returned.
   */
  setQueue(queue: QueuedWrite[]): boolean {
    const key = this.#key("queue");
    let persisted = true;
    if (queue.length === 0) {
      this.#storage.removeItem(key);
    } else if (!writeJson(this.#storage, key, queue)) {
      for (const summary of this.summaries() ?? []) this.#storage.removeItem(this.#key(`conversation:${summary.id}`));
      persisted = writeJson(this.#storage, key, queue);
    }
    this.#unpersisted = persisted ? undefined : [...queue];
    return persisted;
  }

  #state(): ListState {
    if (this.#unpersistedState !== undefined) return this.#unpersistedState;
    const state = readJson(this.#storage, this.#key("state")) as Record<string, unknown> | undefined;
    return {
      listEtag: typeof state?.["listEtag"] === "string" ? state["listEtag"] : undefined,
      changesCursor: typeof state?.["changesCursor"] === "string" ? state["changesCursor"] : undefined,
    };
  }

  /** A storage that refuses it costs a list at the next page load; this page goes on in memory. */
  #setState(state: ListState): void {
    this.#unpersistedState = writeJson(this.#storage, this.#key("state"), state) ? undefined : state;
  }

  #key(name: string): string {
    return `${this.#prefix}${name}`;
  }
}

/** What the copy keeps beside the list. */
interface ListState {
  listEtag: string | undefined;
  changesCursor: string | undefined;
}

/**
 * `conversation` after `write`, made at `at`, as far as the client can tell: the server's
 * own answer (its title from the first user message, its `updatedAt`) replaces it on the
 * next read. Undefined when the write deletes it, or updates what is not there.
 */
export function applyWrite(conversation: Conversation | undefined, write: Write, at: Date): Conversation | undefined {
  switch (write.op) {
    case "delete":
      return undefined;
    case "put": {
      const copy = clone(write.conversation) as unknown as Conversation;
      return { ...copy, messageCount: copy.messages.length, nextCursor: null };
    }
    case "patch": {
      if (conversation === undefined) return undefined;
      const next: Conversation = { ...conversation, updatedAt: patchMoves(write.patch) ? at : conversation.updatedAt };
      applyPatch(next, write.patch);
      return next;
    }
    case "append": {
      // (A message sent with parts and no content has their text as its content.)
      const message = { ...clone(write.message), content: messageText(write.message) } as unknown as Conversation["messages"][number];
      const tokens = message.tokens?.total ?? 0;
      if (conversation === undefined) {
        return {
          id: write.conversationId,
          title: guessTitle(message),
          createdAt: at,
          updatedAt: at,
          totalTokens: tokens,
          messages: [message],
          messageCount: 1,
          nextCursor: null,
        };
      }
      const stored = conversation.messages.find((m) => m.id === message.id);
      if (stored !== undefined) {
        // The same id again is a retry the server stores once; so does the copy.
        if (!write.replace) return conversation;
        return {
          ...conversation,
          updatedAt: at,
          totalTokens: conversation.totalTokens + tokens - (stored.tokens?.total ?? 0),
          messages: conversation.messages.map((m) => (m === stored ? message : m)),
        };
      }
      return {
        ...conversation,
        title: conversation.title === DEFAULT_TITLE ? guessTitle(message) : conversation.title,
        updatedAt: at,
        totalTokens: conversation.totalTokens + tokens,
        messages: [...conversation.messages, message],
        messageCount: (conversation.messageCount ?? conversation.messages.length) + 1,
      };
    }
    case "updateMessage": {
      if (conversation === undefined) return undefined;
      const updates = clone(write.updates) as Record<string, unknown>;
      let tokens = conversation.totalTokens;
      const messages = conversation.messages.map((m) => {
        if (m.id !== write.messageId) return m;
        const next = { ...m } as Record<string, unknown>;
        // A null field in a patch means "leave it", as the API reads it.
        for (const [field, value] of Object.entries(updates)) if (value != null) next[field] = value;
        // New parts bring their text as the content, as the server sets it.
        if (Array.isArray(updates.parts)) next.content = messageText({ parts: updates.parts as { type: string }[] });
        tokens += ((next as typeof m).tokens?.total ?? 0) - (m.tokens?.total ?? 0);
        return next as typeof m;
      });
      return { ...conversation, messages, totalTokens: tokens, updatedAt: at };
    }
  }
}

/** The summaries list after `write`, most recently updated first. */
export function applyToSummaries(list: ConversationSummary[], write: Write, at: Date): ConversationSummary[] {
  const id = write.conversationId;
  const old = list.find((s) => s.id === id);
  const rest = list.filter((s) => s.id !== id);
  if (write.op === "delete") return rest;
  if (write.op === "put") return sortSummaries([...rest, summaryOf(applyWrite(undefined, write, at)!)]);
  if (old === undefined) {
    // Only an append creates a conversation; other writes to one not listed change nothing.
    return write.op === "append" ? sortSummaries([...rest, summaryOf(applyWrite(undefined, write, at)!)]) : list;
  }
  const next: ConversationSummary = { ...old, updatedAt: at };
  if (write.op === "patch") {
    if (!patchMoves(write.patch)) next.updatedAt = old.updatedAt;
    applyPatch(next, write.patch);
  } else if (write.op === "append" && !write.replace) {
    next.messageCount += 1;
    next.totalTokens += write.message.tokens?.total ?? 0;
    if (old.title === DEFAULT_TITLE) next.title = guessTitle({ type: write.message.type, content: messageText(write.message) });
  }
  return sortSummaries([...rest, next]);
}

/**
 * The version a conversation's `ETag` names (the API's tag is the version in quotes), or
 * undefined for a tag that names none.
 */
export function etagVersion(etag: string | undefined): number | undefined {
  const match = etag === undefined ? null : /^(?:W\/)?"(\d+)"$/.exec(etag);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Whether a conversation patch moves the conversation to the top (a new `updatedAt`), as the
 * server does: a title or MCP servers do; archiving or unarchiving alone does not.
 */
function patchMoves(patch: ConversationPatch): boolean {
  return patch.title != null || patch.mcpServers !== undefined;
}

/** `patch` applied to a conversation or its summary, as the server applies it. */
function applyPatch(next: Pick<ConversationSummary, "title" | "mcpServers" | "archived">, patch: ConversationPatch): void {
  if (patch.title != null) next.title = patch.title;
  if (patch.mcpServers === null) delete next.mcpServers;
  else if (patch.mcpServers !== undefined) next.mcpServers = patch.mcpServers;
  // `archived` is `true` while archived and absent otherwise, as the API answers it.
  if (patch.archived === true) next.archived = true;
  else if (patch.archived === false) delete next.archived;
}

/** A conversation's summary: everything but its messages. */
export function summaryOf(conversation: Conversation): ConversationSummary {
  const { messages, nextCursor: _cursor, messageCount, ...rest } = conversation;
  return { ...rest, messageCount: messageCount ?? messages.length };
}

function sortSummaries(list: ConversationSummary[]): ConversationSummary[] {
  return list.sort((a, b) => new Date(b.updatedAt).getTime() - new Date(a.updatedAt).getTime());
}

/** The title the server gives a conversation whose first message (user's or not) this is. */
function guessTitle(message: { type: string; content: string }): string {
  return message.type === "user" ? defaultTitle(message.content) : DEFAULT_TITLE;
}

/** A deep copy with `Date`s for dates, whatever mix of `Date`s and strings came in. */
function clone<T>(value: T): T {
  return reviveDates(JSON.parse(JSON.stringify(value)) as T) as T;
}
