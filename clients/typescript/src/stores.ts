/**
 * The conversation stores: drop-in replacements of the frontend's localStorage store
 * ({@link ConversationStore}) backed by the API.
 *
 * - {@link RemoteConversationStore} talks to the API only, and sends the smallest write that
 *   says what changed: Upstash bills every command, and an append costs the same whatever
 *   the history, where a `PUT` rewrites all of it.
 * - {@link HybridConversationStore} puts a local copy and a persisted write queue in front of
 *   it, so the app keeps working offline and catches up when the API is back. It owns the
 *   app's conversation state: the copy, the sync engine that keeps it in step with other
 *   devices, the changes cursor, and the snapshot the UI renders ({@link StoreSnapshot}).
 */
import { CircuitBreaker } from "./breaker.js";
import type { CircuitBreakerOptions } from "./breaker.js";
import type { ChatStoreClient } from "./client.js";
import { ChatStoreError } from "./errors.js";
import { Emitter } from "./events.js";
import { randomId } from "./ids.js";
import { DEFAULT_TITLE, messageText } from "./title.js";
import { LocalCopy, applyToSummaries, applyWrite, etagVersion, summaryOf } from "./local.js";
import type { QueuedWrite, Write } from "./local.js";
import type { ChatMessage, Conversation, ConversationStore, MessageUpdate } from "./model.js";
import { MemoryStorage } from "./storage.js";
import type { StorageLike } from "./storage.js";
import { readReply, streamReply } from "./stream.js";
import type { ReadReply, StreamReplyOptions, StreamReplyResult, UndeliveredReply } from "./stream.js";
import { SyncEngine } from "./sync.js";
import type { MessageProgress, SyncEngineOptions } from "./sync.js";
import type { Reachability } from "./transport.js";
import type { Change, ConversationInput, ConversationPatch, ConversationSummary, MessageInput } from "./types.js";

/** The most summaries one list request may ask for (the API's `limit` ceiling). */
const LIST_PAGE = 100;

/** Options of {@link RemoteConversationStore}. */
export interface RemoteStoreOptions {
  /** Messages per conversation read (the newest ones). Default 100. */
  messageLimit?: number;
  /** Where ETags and read copies are kept. Default: in memory, for this store's lifetime. */
  copy?: LocalCopy;
}

/** Which page of a conversation's messages {@link RemoteConversationStore.getConversation} reads. */
export interface MessagePage {
  /** A `nextCursor` of an earlier read: the messages before it. */
  before?: string;
  /** How many; default the store's `messageLimit`. */
  limit?: number;
}

/** Options of one write sent by {@link RemoteConversationStore.send}. */
export interface SendOptions {
  /** The `Idempotency-Key` (default: a new one for this call). */
  idempotencyKey?: string;
  /** When the edit was made, for the local copy's `updatedAt`. Default now. */
  at?: Date;
}

/**
 * The six store methods against the API. Reads are conditional (`If-None-Match` with the
 * ETag kept from the last read, answered from the kept copy on 304); writes are the smallest
 * that say what changed (see {@link planSave}), with `If-Match` where a concurrent edit could
 * be lost (rename, delete, `PUT` over a conversation read before): a 412 rejects with
 * `precondition_failed`, and nothing is overwritten. Other failures reject with
 * {@link ChatStoreError} too.
 */
export class RemoteConversationStore implements ConversationStore {
  readonly #client: ChatStoreClient;
  readonly #copy: LocalCopy;
  readonly #limit: number;

  constructor(client: ChatStoreClient, options: RemoteStoreOptions = {}) {
    this.#client = client;
    this.#copy = options.copy ?? new LocalCopy(new MemoryStorage());
    this.#limit = options.messageLimit ?? 100;
  }

  /**
   * Every summary, a page of 100 at a time. The first page carries the kept ETag: on 304 the
   * kept list is returned and nothing else is read.
   */
  async getAllConversations(): Promise<ConversationSummary[]> {
    const kept = this.#copy.summaries();
    const etag = kept === undefined ? undefined : this.#copy.listEtag();
    const first = await this.#client.listConversations({ limit: LIST_PAGE }, { ifNoneMatch: etag });
    if (first.notModified) return kept ?? [];
    const all = [...first.data.conversations];
    for (let cursor = first.data.nextCursor; cursor !== null; ) {
      const page = await this.#client.listConversations({ limit: LIST_PAGE, cursor });
      if (page.notModified) break; // not asked for: no If-None-Match was sent
      all.push(...page.data.conversations);
      cursor = page.data.nextCursor;
    }
    this.#copy.setSummaries(all, first.etag, first.data.changesCursor);
    return all;
  }

  /**
   * The `changesCursor` answered with the first page of the list the copy holds (kept with it):
   * a `SyncEngine` can start from it (`start({ cursor })`) instead of listing again. Undefined
   * before a list was read.
   */
  get changesCursor(): string | undefined {
    return this.#copy.changesCursor();
  }

  /**
   * The `ETag` of the conversation as the copy holds it, when the copy is exactly what the
   * server answered for it (read with the default page, no write applied since). Undefined
   * otherwise.
   */
  etagOf(id: string): string | undefined {
    const cached = this.#copy.conversation(id);
    return cached?.exact ? cached.etag : undefined;
  }

  /**
   * The conversation with its newest `messageLimit` messages (conditional on the kept ETag),
   * or, with `page.before`, an older page of them (`nextCursor` says where the next starts).
   * Null when the API has no such conversation.
   */
  async getConversation(id: string, page: MessagePage = {}): Promise<Conversation | null> {
    const limit = page.limit ?? this.#limit;
    const cached = page.before === undefined && limit === this.#limit ? this.#copy.conversation(id) : undefined;
    try {
      const answer = await this.#client.getConversation(
        id,
        { limit, before: page.before },
        { ifNoneMatch: cached?.exact ? cached.etag : undefined },
      );
      if (answer.notModified) return cached!.conversation;
      // Only the default page is the copy; an older page or another size is handed out only.
      if (page.before === undefined && limit === this.#limit) {
        this.#copy.setConversation(id, { conversation: answer.data, etag: answer.etag, exact: true });
        this.#copy.upsertSummary(summaryOf(answer.data));
      }
      return answer.data;
    } catch (error) {
      if (error instanceof ChatStoreError && error.status === 404) {
        this.#copy.forget(id);
        return null;
      }
      throw error;
    }
  }

  /** Sends what changed since the conversation was read here (a plain `PUT` if it was not). */
  async saveConversation(conversation: ConversationInput): Promise<void> {
    for (const write of planSave(this.#copy.conversation(conversation.id)?.conversation, conversation)) {
      await this.send(write);
    }
  }

  /** `DELETE`, with `If-Match` when the conversation was read here; a 404 is not an error. */
  async deleteConversation(id: string): Promise<void> {
    await this.send({ op: "delete", conversationId: id });
  }

  /** One append (no `If-Match`: two tabs appending at once both keep their messages). */
  async addMessage(conversationId: string, message: MessageInput): Promise<void> {
    await this.send({ op: "append", conversationId, message });
  }

  /** One message `PATCH`, answered with `Prefer: return=minimal`. */
  async updateMessage(conversationId: string, messageId: string, updates: MessageUpdate): Promise<void> {
    await this.send({ op: "updateMessage", conversationId, messageId, updates });
  }

  /**
   * Sends one {@link Write} and records it in the kept copy with the answer's ETag. The
   * hybrid store replays its queue through this, each write with the key it was queued with.
   */
  async send(write: Write, options: SendOptions = {}): Promise<void> {
    const id = write.conversationId;
    const etag = this.#copy.conversation(id)?.etag;
    const key = { idempotencyKey: options.idempotencyKey };
    let answerEtag: string | undefined;
    switch (write.op) {
      case "put": {
        // Restoring: only as a new conversation, whatever this copy last read of it.
        const guard = write.restore ? { ifNoneMatch: "*" as const } : { ifMatch: etag };
        answerEtag = (await this.#client.putConversation(id, write.conversation, { ...key, ...guard })).etag;
        break;
      }
      case "patch":
        answerEtag = (await this.#client.updateConversation(id, write.patch, { ...key, ifMatch: etag })).etag;
        break;
      case "append":
        answerEtag = await this.#append(write, key.idempotencyKey);
        break;
      case "updateMessage":
        answerEtag = (
          await this.#client.updateMessage(id, write.messageId, write.updates, { ...key, returnMinimal: true })
        ).etag;
        break;
      case "delete":
        try {
          await this.#client.deleteConversation(id, { ...key, ifMatch: etag });
        } catch (error) {
          // Already gone (deleted elsewhere, or a retry after an unanswered delete): done.
          if (!(error instanceof ChatStoreError && error.status === 404)) throw error;
        }
        break;
    }
    this.#copy.confirm(write, options.at ?? new Date(), answerEtag);
  }

  /**
   * An append; one marked `replace` that finds its id stored with other content (part of a
   * streamed reply) sets that message to the whole of it with a message `PATCH` instead.
   */
  async #append(write: Extract<Write, { op: "append" }>, idempotencyKey: string | undefined): Promise<string | undefined> {
    const id = write.conversationId;
    try {
      return (await this.#client.appendMessage(id, write.message, { idempotencyKey })).etag;
    } catch (error) {
      if (!(write.replace && error instanceof ChatStoreError && error.code === "conflict")) throw error;
    }
    const { content, tokens, toolExecutions, parts, metadata } = write.message;
    // A message with parts is set by its parts (its content is their text, and a content alone
    // is refused for it).
    const updates: MessageUpdate = parts ? { parts, streaming: false } : { content: content ?? "", streaming: false };
    if (metadata) updates.metadata = metadata;
    if (tokens) updates.tokens = tokens;
    if (toolExecutions) updates.toolExecutions = toolExecutions;
    // Its own key: the refused append kept no answer under the first, and a replay of the
    // whole write then finds the append a duplicate (200) rather than a reused key (422).
    const patchKey = idempotencyKey === undefined ? undefined : `${idempotencyKey}.replace`;
    const answer = await this.#client.updateMessage(id, write.message.id, updates, {
      idempotencyKey: patchKey,
      returnMinimal: true,
    });
    return answer.etag;
  }
}

/**
 * The writes that turn `known` (the conversation as last read, or undefined) into `next`:
 * a plain `PUT` for a conversation not read before; else a `PATCH` of the title, MCP servers
 * and archived flag when they changed, a message `PATCH` per changed message and an append per new
 * one. A `PUT` of the whole `next` only when the messages read were removed or reordered,
 * or changed in a way a patch cannot say (type, timestamp, a tool execution removed).
 *
 * Messages older than the page read (`known.nextCursor` not null) may sit before the known
 * ones in `next`; they are taken as unchanged.
 */
export function planSave(known: Conversation | undefined, next: ConversationInput): Write[] {
  const conversationId = next.id;
  const put: Write[] = [{ op: "put", conversationId, conversation: next }];
  if (known === undefined) return put;

  const writes: Write[] = [];
  const patch: ConversationPatch = {};
  if (next.title !== known.title) patch.title = next.title;
  if (!sameJson(next.mcpServers ?? null, known.mcpServers ?? null)) patch.mcpServers = next.mcpServers ?? null;
  // A whole conversation without `archived` is not archived, as a PUT of it would say.
  if ((next.archived ?? false) !== (known.archived ?? false)) patch.archived = next.archived ?? false;
  if (Object.keys(patch).length > 0) writes.push({ op: "patch", conversationId, patch });

  const seen = known.messages;
  const first = seen[0];
  const start = first === undefined ? next.messages.length : next.messages.findIndex((m) => m.id === first.id);
  if (first !== undefined && (start < 0 || (start > 0 && !known.nextCursor))) return put;
  for (const [i, old] of seen.entries()) {
    const now = next.messages[start + i];
    if (now === undefined || now.id !== old.id) return put;
    const updates = messageUpdates(old, now);
    if (updates === null) return put;
    if (updates !== undefined) writes.push({ op: "updateMessage", conversationId, messageId: old.id, updates });
  }
  const fresh = first === undefined ? next.messages : next.messages.slice(start + seen.length);
  for (const message of fresh) writes.push({ op: "append", conversationId, message });
  return writes;
}

/** The patch from `old` to `now`; undefined when equal, null when a patch cannot say it. */
function messageUpdates(old: ChatMessage, now: MessageInput): MessageUpdate | undefined | null {
  if (old.type !== now.type || new Date(old.timestamp).getTime() !== new Date(now.timestamp).getTime()) return null;
  const updates: MessageUpdate = {};
  if (now.parts != null || old.parts != null) {
    // Parts are replaced whole, and bring their text as the content.
    if (now.parts == null) return null;
    if (!sameJson(old.parts ?? null, now.parts)) updates.parts = now.parts;
  } else if (old.content !== now.content && now.content !== undefined) updates.content = now.content;
  if (now.metadata != null && !sameJson(old.metadata ?? null, now.metadata)) updates.metadata = now.metadata;
  if ((old.editable ?? null) !== (now.editable ?? null) && now.editable != null) updates.editable = now.editable;
  if ((old.streaming ?? null) !== (now.streaming ?? null) && now.streaming != null) updates.streaming = now.streaming;
  if (now.tokens != null && !sameJson(old.tokens ?? null, now.tokens)) updates.tokens = now.tokens;
  if (!sameJson(old.toolExecutions ?? [], now.toolExecutions ?? [])) {
    // A patch replaces tools by id and adds new ones; it cannot remove one.
    const kept = new Set((now.toolExecutions ?? []).map((t) => t.id));
    if ((old.toolExecutions ?? []).some((t) => !kept.has(t.id))) return null;
    updates.toolExecutions = now.toolExecutions ?? [];
  }
  return Object.keys(updates).length === 0 ? undefined : updates;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// --- The hybrid store -----------------------------------------------------------------------

/** A queued write's kind, as the `revert` event names it. */
export type WriteOperation = Write["op"];

/** What a 412 on a queued write is about, for {@link HybridStoreOptions.onConflict}. */
export interface Conflict {
  write: Write;
  /** When the queued edit was made (ms since the epoch). */
  madeAt: number;
  /** The server's conversation now; null when it no longer exists. */
  server: Conversation | null;
  error: ChatStoreError;
}

/** `retry`: send the edit again over the server's current version; `discard`: drop it. */
export type ConflictDecision = "retry" | "discard";

/**
 * Where the API stands, as this store last found it: what a banner says, one state at a time.
 * `code` is the developer's reason, for the console, not the page.
 *
 * - `online`: answering.
 * - `offline`: no answer (the device's network, a timeout), or a gateway with nothing behind it
 *   (502, 504); writes are queued and go when it answers again.
 * - `rate_limited`: the API answers but refuses more for now (429); writes wait. `retryAt` is when
 *   it said to try again (from `Retry-After`), for a "try again in N s"; null when it did not say.
 * - `store_down`: the API answers that its storage is unavailable (503); writes are queued.
 *   `retryAt` as for `rate_limited`.
 */
export type ConnectionState =
  | { state: "online" }
  | { state: "offline"; code: "network_error" | "timeout" | "bad_gateway" | "gateway_timeout" | "circuit_open" }
  | { state: "rate_limited"; code: "rate_limited"; retryAt: Date | null }
  | { state: "store_down"; code: "store_unavailable"; retryAt: Date | null };

/** What every {@link StoreNotice} carries. */
interface NoticeBase {
  /** Unique per notice: a key to render it by and to dismiss it with. */
  id: string;
  conversationId: string;
  /** The conversation's title as this device last showed it, when it knew one. */
  title?: string;
  /** The API's (or the client's) error code, for the console: not for the page. */
  code: string;
  /** The developer's explanation, for the console: not for the page. */
  detail: string;
}

/**
 * Another device changed the conversation first (412) and its version was kept: this device's
 * edit (`operation`) is not applied. `keepMine()` sends the edit again over the other version;
 * `discard()` (or nothing) leaves the other device's.
 */
export interface ConflictNotice extends NoticeBase {
  kind: "conflict";
  operation: WriteOperation;
  keepMine(): Promise<void>;
  discard(): void;
}

/**
 * The conversation was deleted on another device while this one still had writes for it; they
 * were not applied. `unsent` are the messages written here that the server never got (offline
 * while it was deleted): `restore()` brings the conversation back with them (what this device
 * held of it, then those); `discard()` (or nothing) lets the deletion stand.
 */
export interface DeletedElsewhereNotice extends NoticeBase {
  kind: "deleted_elsewhere";
  unsent: ChatMessage[];
  restore(): Promise<void>;
  discard(): void;
}

/** Another refusal of a write (a 4xx: too large, invalid): taken out of the copy, nothing to choose. */
export interface RefusedNotice extends NoticeBase {
  kind: "refused";
  operation: WriteOperation;
}

/**
 * Something the user should hear about a write, with what they can do about it: the `notice`
 * event. `kind` is the stable discriminant to word it by.
 */
export type StoreNotice = ConflictNotice | DeletedElsewhereNotice | RefusedNotice;

/** Events of {@link HybridConversationStore}. */
export interface HybridStoreEvents {
  /** A write did not go as made: see {@link StoreNotice}. Told once each, after `revert`. */
  notice: StoreNotice;
  /** Where the API stands changed: see {@link ConnectionState}. */
  connection: ConnectionState;
  /** The local copy changed (an optimistic write, a revert, a read, a synced change). */
  change: { conversationIds: string[] };
  /** The server refused a write; the copy no longer shows it. */
  revert: { operation: WriteOperation; conversationId: string; error: ChatStoreError };
  /** Reachability or the number of queued writes changed. */
  status: { online: boolean; queued: number };
  /**
   * The storage refused the write queue even after the conversation copies were dropped to
   * make room: the queued writes live in memory until the server takes them, and would be
   * lost if the page closed first. Worth telling the user.
   */
  storageFull: { queued: number };
}

/** Options of {@link HybridConversationStore}. */
export interface HybridStoreOptions {
  /** Where the copy and the queue live: `window.localStorage`, or a {@link MemoryStorage}. */
  storage: StorageLike;
  /** Key prefix (default `chat-store:v1:`); give each signed-in user their own. */
  prefix?: string;
  /** Messages per conversation read. Default 100. */
  messageLimit?: number;
  /** The breaker, or its options. Default `new CircuitBreaker()`. */
  breaker?: CircuitBreaker | CircuitBreakerOptions;
  /** Overrides the 412 rule (see {@link HybridConversationStore}). */
  onConflict?: (conflict: Conflict) => ConflictDecision | Promise<ConflictDecision>;
  /** Injectable for tests: the clock queued writes are stamped with. */
  now?: () => number;
  /** Injectable for tests: idempotency keys of queued writes. */
  generateId?: () => string;
  /**
   * Schedules the next flush while offline (when the breaker lets a probe through); returns
   * its cancel. Default `setTimeout`. Tests pass their own to run it by hand.
   */
  schedule?: (run: () => void, ms: number) => () => void;
  /** Where the `online` event comes from. Default `globalThis` when it has `addEventListener`. */
  events?: Pick<EventTarget, "addEventListener" | "removeEventListener">;
  /**
   * The store's sync engine (other devices' changes and replies, see {@link SyncEngine}): its
   * intervals, the page whose visibility pauses it, the push channel that spares it polling
   * (`push`, see {@link SyncEngineOptions.push}), its sleep for tests. `false`: none (a
   * store that never syncs, or one whose app runs an engine of its own). It runs between
   * {@link HybridConversationStore.start} and `stop`.
   */
  sync?: HybridSyncOptions | false;
}

/** The sync engine options a {@link HybridConversationStore} passes on to the engine it owns. */
export type HybridSyncOptions = Pick<
  SyncEngineOptions,
  "intervalMs" | "followIntervalMs" | "followReplies" | "document" | "sleep" | "push"
>;

/**
 * What the UI renders, as the store holds it now: {@link HybridConversationStore.subscribe}
 * tells each new one. One object per change (React's `useSyncExternalStore` compares them by
 * identity), never changed once handed out.
 */
export interface StoreSnapshot {
  /**
   * Every conversation's summary, most recently updated first, queued writes applied; empty
   * until a list was read (from the server, or kept from an earlier visit).
   */
  conversations: ConversationSummary[];
  /** The conversation {@link HybridConversationStore.watch} named, or null. */
  watchedId: string | null;
  /**
   * That conversation as the copy shows it, queued writes applied, with a reply streaming in
   * it as far as it has come (this device's, or another's the sync engine follows); null when
   * none is watched or the copy does not hold it.
   */
  watched: Conversation | null;
  /** False while the API is unreachable (or refuses more for now). */
  online: boolean;
  /** Why, when not online: offline, rate limited (with when to retry), or its storage down. */
  connection: ConnectionState;
  /** Writes waiting for the server. */
  queued: number;
}

/** Options of {@link HybridConversationStore.watch}. */
export interface WatchOptions {
  /**
   * False: the copy already shows what the app needs (a conversation it has just made), so it
   * is not read now; the sync engine reads it when the feed tells of a version of it. Default true.
   */
  read?: boolean;
}

/** The most times one queued write is sent again after a 412 before it is dropped. */
const MAX_CONFLICT_RETRIES = 3;

/**
 * The six store methods, server first, with a local copy and a write queue in `storage`, so
 * the app works offline:
 *
 * - **Reads** go to the server (through {@link RemoteConversationStore}, so conditionally)
 *   and refresh the copy. When the server is unreachable (no answer, timeout, 429/502-504, or the
 *   breaker open) they answer from the copy: the server's state as last seen with the queued
 *   writes applied on top.
 * - **Writes** are optimistic: the write is queued (persisted, with its own Idempotency-Key
 *   and the time it was made), the copy shows it and `change` is emitted, then the queue is
 *   sent in order. Unreachable: the write stays queued and the promise resolves; the queue is
 *   replayed by {@link flush}, which also runs after the next call that gets an answer (this
 *   store's or any other on the same client, see below), on the browser's `online` event,
 *   and when the breaker's cooldown ends (the first queued write is the probe). Refused (a
 *   4xx): the write is dropped, the copy no longer shows it, and `revert` is emitted; the
 *   promise still resolves, so listen for `revert`.
 * - **Reachability from the whole client**: the store listens to its client's transport
 *   (`reachability`, see {@link Reachability}), so it learns from every request sent through
 *   that client, a `SyncEngine`'s polls or the app's own calls included. An answer
 *   closes the breaker and, unless it is a 429, sets the store online, which flushes the
 *   queue at once instead of at the breaker's next probe. No answer (or a 502-504) sets it
 *   offline, so `status` tells the app the API left even while the store sends nothing. Those
 *   failures do not feed the breaker: it counts this store's calls (one failure per call,
 *   whatever its retries), and other layers' polls would open it, and double its cooldown,
 *   for calls the store never tried. {@link dispose} stops listening.
 * - **The 412 rule** (a rename, delete or `PUT` guarded by an ETag another device moved on):
 *   the newer edit wins, by the time it was made. The server's conversation is read again;
 *   if the queued edit was made after the server copy's `updatedAt`, it is sent again over
 *   the current ETag; otherwise it is dropped, the copy takes the server's version, and
 *   `revert` is emitted. `onConflict` may decide otherwise.
 * - **One owner of the app's state.** The store owns its sync engine ({@link sync}): the
 *   feed's changes go into the copy, the engine's changes cursor is kept once, with the
 *   copy's list (under the store's prefix), and a list or conversation the engine reads
 *   becomes the copy's. The UI renders {@link subscribe}'s snapshots (the list in order, the
 *   watched conversation, online and queued) and keeps no list of its own.
 *
 * @example
 * ```ts
 * const store = new HybridConversationStore(client, { storage: localStorage });
 * const off = store.subscribe((snapshot) => render(snapshot));
 * await store.getAllConversations();
 * store.start(); // syncing from the cursor of the list just read
 * await store.watch(openId);
 * // React: useSyncExternalStore(store.subscribe, store.getSnapshot)
 * ```
 */
export class HybridConversationStore implements ConversationStore {
  readonly #client: ChatStoreClient;
  readonly #remote: RemoteConversationStore;
  readonly #copy: LocalCopy;
  readonly #breaker: CircuitBreaker;
  readonly #events = new Emitter<HybridStoreEvents>();
  readonly #onConflict: NonNullable<HybridStoreOptions["onConflict"]>;
  readonly #now: () => number;
  readonly #generateId: () => string;
  readonly #schedule: NonNullable<HybridStoreOptions["schedule"]>;
  readonly #target: HybridStoreOptions["events"];
  readonly #onOnline = (): void => void this.flush();
  readonly #stopListening: (() => void)[] = [];
  readonly #engine: SyncEngine | undefined;
  readonly #listeners = new Set<(snapshot: StoreSnapshot) => void>();
  #online = true;
  #connection: ConnectionState = { state: "online" };
  #flushing: Promise<void> | undefined;
  #cancelRetry: (() => void) | undefined;
  /** The cursor of a list this store read from the server (a 304 too) since it was made. */
  #listed: string | undefined;
  #watchedId: string | null = null;
  /** A reply in the watched conversation as far as it has come, ahead of the copy. */
  #live: { conversationId: string; message: ChatMessage } | undefined;
  /** The conversation this store streams a reply into, if any. */
  #replyingIn: string | undefined;
  #snapshot: StoreSnapshot | undefined;
  /** Counts starts and stops: a pending start goes on only while it is the last of them. */
  #runs = 0;
  #disposed = false;
  /** Notices told so far: each one's id. */
  #notices = 0;
  #told: StoreSnapshot | undefined;
  #telling = false;

  constructor(client: ChatStoreClient, options: HybridStoreOptions) {
    this.#client = client;
    this.#copy = new LocalCopy(options.storage, options.prefix);
    this.#remote = new RemoteConversationStore(client, { copy: this.#copy, messageLimit: options.messageLimit });
    this.#breaker = options.breaker instanceof CircuitBreaker ? options.breaker : new CircuitBreaker(options.breaker);
    this.#onConflict = options.onConflict ?? newerEditWins;
    this.#now = options.now ?? Date.now;
    this.#generateId = options.generateId ?? randomId;
    this.#schedule =
      options.schedule ??
      ((run, ms) => {
        const timer = setTimeout(run, ms);
        return () => clearTimeout(timer);
      });
    const global = globalThis as Partial<Pick<EventTarget, "addEventListener" | "removeEventListener">>;
    this.#target =
      options.events ?? (typeof global.addEventListener === "function" ? (global as EventTarget) : undefined);
    this.#target?.addEventListener("online", this.#onOnline);
    this.#stopListening.push(
      client.transport.on("reachability", (reachability) => this.#observe(reachability)),
      // Whatever changes the copy or the status changes the snapshot.
      this.#events.on("change", () => this.#invalidate()),
      this.#events.on("status", () => this.#invalidate()),
    );
    if (options.sync !== false) this.#engine = this.#ownEngine(options.sync ?? {});
  }

  /**
   * The sync engine this store owns (undefined with `sync: false`): listen to its `error`
   * events, call `syncNow()`, or `followMessage()` a reply of your own choosing. Its feed, its
   * cursor and what it reads are the store's; {@link start}, {@link stop} and {@link watch}
   * drive it.
   */
  get sync(): SyncEngine | undefined {
    return this.#engine;
  }

  /**
   * Starts syncing with other devices: the change feed from the copy's cursor, or a list when
   * the copy has none. After a {@link getAllConversations} that reached the server, the list
   * is current and the first feed poll comes one interval later. Does nothing without an engine,
   * while running, or once disposed.
   *
   * With `after` (the app's own loading: the migration, the first list), the engine starts once
   * it settles, unless {@link stop} or {@link dispose} came first, or another start since: what
   * an effect's cleanup stops while its start is pending stays stopped, and start, stop and
   * start in any order leave one engine running. Resolves when started, or not to be.
   */
  async start(options: { after?: PromiseLike<unknown> } = {}): Promise<void> {
    const run = ++this.#runs;
    if (options.after !== undefined) {
      try {
        await options.after;
      } catch {
        // The app's loading failed: it says so itself; the engine still starts if still wanted.
      }
    }
    if (run !== this.#runs || this.#disposed) return;
    this.#engine?.start({ cursor: this.#listed });
  }

  /** Stops syncing (the engine's timer, polls and a followed reply), and a pending {@link start}. */
  stop(): void {
    this.#runs++;
    this.#engine?.stop();
  }

  /**
   * Calls `listener` with a new {@link StoreSnapshot} whenever what the UI shows changed
   * (batched: many changes in one task tell once), until the returned function is called.
   * Bound, so it can be passed as it is: `useSyncExternalStore(store.subscribe, store.getSnapshot)`.
   */
  readonly subscribe = (listener: (snapshot: StoreSnapshot) => void): (() => void) => {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  };

  /** The snapshot now; the same object until something in it changes. Bound, like {@link subscribe}. */
  readonly getSnapshot = (): StoreSnapshot => {
    this.#snapshot ??= this.#makeSnapshot();
    return this.#snapshot;
  };

  /**
   * Makes `id` the watched conversation (null: none): the snapshot's `watched`, at once as the
   * copy shows it; then read from the server (conditionally, the copy answering offline) and
   * handed to the sync engine with that read, so the engine refetches it only when the feed
   * says it changed and follows a reply streaming in it, at no extra request. Resolves with the
   * conversation as read; null (and nothing watched) when it does not exist.
   */
  async watch(id: string | null, options: WatchOptions = {}): Promise<Conversation | null> {
    this.#watchedId = id;
    this.#live = undefined;
    this.#invalidate();
    if (id === null) {
      this.#engine?.watch(null);
      return null;
    }
    if (options.read === false) {
      const shown = this.cachedConversation(id);
      // Held without an ETag: the engine reads it once the feed tells of a version of it.
      if (this.#replyingIn !== id) this.#engine?.watch(id, shown === null ? undefined : { conversation: shown });
      return shown;
    }
    const conversation = await this.getConversation(id);
    if (this.#watchedId !== id) return conversation;
    if (conversation === null) {
      this.#watchedId = null;
      this.#engine?.watch(null);
      this.#invalidate();
      return null;
    }
    if (this.#replyingIn !== id) {
      // Read from the server just now: the engine takes that read as its own. Answered from the
      // copy (offline), the engine reads it itself when it can.
      const etag = this.#online ? this.etagOf(id) : undefined;
      this.#engine?.watch(id, etag === undefined ? undefined : { etag, conversation });
    }
    return conversation;
  }

  /** Subscribes to an event; returns the unsubscribe. */
  on<K extends keyof HybridStoreEvents>(event: K, listener: (payload: HybridStoreEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * False since a request on the client found the server unreachable (or this store's call
   * found it busy), until one gets an answer again.
   */
  get online(): boolean {
    return this.#online;
  }

  /** How many writes wait for the server. */
  get pending(): number {
    return this.#copy.queue().length;
  }

  /** Every summary, most recently updated first, from the server or (offline) the copy. */
  async getAllConversations(): Promise<ConversationSummary[]> {
    if (await this.#reachServer(() => this.#remote.getAllConversations())) this.#listed = this.changesCursor;
    this.#invalidate();
    return this.#summariesView();
  }

  /**
   * The `changesCursor` answered with the first page of the list the copy holds (kept with it
   * in `storage`; a 304 keeps it too, the list being the same). The change feed from it brings
   * everything that list does not show, so a `SyncEngine` can start from it rather than list
   * again. The store's own engine keeps its cursor here too ({@link sync}): once it has
   * applied a page of the feed, this is where that page ended. Undefined until a list was read.
   */
  get changesCursor(): string | undefined {
    return this.#remote.changesCursor;
  }

  /** The conversation from the server or (offline) the copy; null when neither has it. */
  async getConversation(id: string): Promise<Conversation | null> {
    await this.#reachServer(() => this.#remote.getConversation(id));
    this.#invalidate();
    return this.cachedConversation(id);
  }

  /**
   * The `ETag` of the server's version the copy of `id` shows: set when the copy is exactly
   * what the server last answered for it (no write applied to it since, no change of the feed
   * applied, none queued), so what {@link cachedConversation} returns is that version.
   * Undefined otherwise.
   *
   * Right after a {@link getConversation} that reached the server ({@link online} still true),
   * it is the conversation's current ETag: hand it to a `SyncEngine` with what was read,
   * `engine.watch(id, { etag, conversation })`, and watching costs no second read.
   */
  etagOf(id: string): string | undefined {
    if (this.#copy.queue().some((queued) => queued.write.conversationId === id)) return undefined;
    return this.#remote.etagOf(id);
  }

  /** Queues the smallest writes from the copy's version to `conversation`, then sends them. */
  async saveConversation(conversation: ConversationInput): Promise<void> {
    await this.#write(planSave(this.cachedConversation(conversation.id) ?? undefined, conversation));
  }

  /** Queues the delete, then sends it. */
  async deleteConversation(id: string): Promise<void> {
    await this.#write([{ op: "delete", conversationId: id }]);
  }

  /** Queues the append (it keeps the message's id, so a replay is stored once), then sends it. */
  async addMessage(conversationId: string, message: MessageInput): Promise<void> {
    await this.#write([{ op: "append", conversationId, message }]);
  }

  /** Queues the message update, then sends it. */
  async updateMessage(conversationId: string, messageId: string, updates: MessageUpdate): Promise<void> {
    await this.#write([{ op: "updateMessage", conversationId, messageId, updates }]);
  }

  /**
   * Streams an assistant reply into the conversation and keeps it in the copy.
   *
   * Online, it is {@link streamReply}: numbered deltas while the reply is generated, so other
   * devices can follow it. When the server cannot take it (writes still queued, the breaker
   * open, or the server stops answering part-way), the source is still read to its end
   * (`onText` and `onUpdate` show every chunk) and the whole reply is queued as one append
   * marked `replace`: the replay stores it once, replacing whatever part of it an earlier try
   * left on the server. The
   * promise resolves once the reply is stored or queued; `delivered` says which.
   */
  async streamReply(
    conversationId: string,
    message: StreamReplyOptions["message"],
    source: StreamReplyOptions["source"],
    options: HybridReplyOptions = {},
  ): Promise<StreamReplyResult> {
    const reply = { ...message, timestamp: message.timestamp ?? new Date(this.#now()) };
    const shown: ChatMessage = {
      ...reply,
      type: reply.type ?? "assistant",
      content: "",
      streaming: true,
      timestamp: new Date(reply.timestamp),
    };
    // The watched conversation shows the reply as it comes; the engine does not poll for it.
    this.#replyingIn = conversationId;
    if (this.#watchedId === conversationId) this.#engine?.watch(null);
    this.#show(conversationId, shown);
    const onUpdate = (update: ReadReply): void => {
      this.#show(conversationId, { ...shown, content: update.content, toolExecutions: update.toolExecutions.map(toolShown) });
      options.onUpdate?.(update);
    };
    try {
      return await this.#streamReply(conversationId, reply, source, { ...options, onUpdate });
    } finally {
      this.#replyingIn = undefined;
      if (this.#live?.message.id === shown.id) this.#live = undefined;
      this.#invalidate();
      // Then the engine reads the server's version (its title, tokens) and watches it again.
      if (this.#watchedId === conversationId) this.#engine?.watch(conversationId);
    }
  }

  async #streamReply(
    conversationId: string,
    reply: StreamReplyOptions["message"] & { timestamp: Date | string },
    source: StreamReplyOptions["source"],
    options: HybridReplyOptions,
  ): Promise<StreamReplyResult> {
    // The user's message (queued just before) goes first; a queue that will not drain means
    // the server is away, and the reply would only fail behind it.
    if (this.pending > 0) await this.flush();
    let result: StreamReplyResult | undefined;
    if (this.pending === 0 && this.#breaker.state !== "open") {
      try {
        result = await this.#breaker.call(async () => {
          const streamed = await streamReply({ ...options, client: this.#client, conversationId, message: reply, source });
          // Counted by the breaker as the failure it is; the text is in the result.
          if (!streamed.delivered) throw new UndeliveredError(streamed);
          return streamed;
        });
      } catch (error) {
        if (!(error instanceof UndeliveredError)) throw error;
        result = error.reply;
      }
    }
    result ??= { delivered: false, ...(await readReply({ ...options, source })), error: offline() };
    const { content, toolExecutions, tokens } = result;
    const final: MessageInput = { ...reply, type: reply.type ?? "assistant", content, streaming: false, toolExecutions };
    if (tokens) final.tokens = tokens;
    const write: Write = { op: "append", conversationId, message: final, replace: true };
    if (result.delivered) {
      this.#copy.confirm(write, new Date(this.#now()), result.etag);
      this.#setOnline(true);
      this.#events.emit("change", { conversationIds: [conversationId] });
    } else {
      this.#setOnline(false);
      await this.#write([write]);
    }
    return result;
  }

  /** The conversation as the copy shows it (queued writes included), without a request. */
  cachedConversation(id: string): Conversation | null {
    let conversation = this.#copy.conversation(id)?.conversation;
    for (const queued of this.#copy.queue()) {
      if (queued.write.conversationId !== id) continue;
      conversation = applyWrite(conversation, queued.write, new Date(queued.madeAt));
    }
    return conversation ?? null;
  }

  /**
   * Applies a change of the API's change feed to the copy: an upsert refreshes the summary (and
   * the opened copy's title, tokens, times), a tombstone drops the conversation. The store's own
   * engine calls it; an app calls it only for a feed it reads itself (with `sync: false`).
   */
  applyChange(change: Change): void {
    if (change.type === "tombstone") {
      // Messages or edits still queued for it: the copy keeps what this device held until the
      // flush meets the deletion, whose notice (deleted_elsewhere) names it and restores it
      // with them. Forgotten now, the notice would know neither its title nor its messages.
      const unsent = this.#copy.queue().some((q) => q.write.conversationId === change.id && q.write.op !== "delete");
      if (unsent) void this.flush();
      else this.#copy.forget(change.id);
    } else {
      this.#copy.upsertSummary(change.conversation);
      const cached = this.#copy.conversation(change.id);
      const held = etagVersion(cached?.etag);
      // A change the copy already holds (the read was at its version, or a newer one) leaves
      // it as it is: still exact, so the next read may still be a 304.
      if (cached !== undefined && !(cached.exact && held !== undefined && change.version <= held)) {
        const { messageCount: _count, ...fields } = change.conversation;
        // Not exact any more: the messages may have changed too; the next read says.
        this.#copy.setConversation(change.id, {
          ...cached,
          conversation: { ...cached.conversation, ...fields },
          exact: false,
        });
      }
    }
    this.#events.emit("change", { conversationIds: [change.id] });
  }

  /**
   * Sends the queued writes in order, until the queue is empty or the server is unreachable.
   * One flush at a time: a call while one runs gets that one (which also sends what was
   * queued meanwhile).
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /**
   * Stops the engine (for good: a later or pending {@link start} starts nothing), listening
   * for `online` and to the client's transport, and cancels a scheduled flush (the copy and
   * queue stay).
   */
  dispose(): void {
    this.#disposed = true;
    this.stop();
    this.#target?.removeEventListener("online", this.#onOnline);
    for (const stop of this.#stopListening.splice(0)) stop();
    this.#listeners.clear();
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
  }

  /** The engine, wired to the copy: its feed, cursor, lists and reads are the store's. */
  #ownEngine(options: HybridSyncOptions): SyncEngine {
    const engine = new SyncEngine({
      ...options,
      client: this.#client,
      onChange: (change) => this.applyChange(change),
      cursor: {
        restore: () => this.#copy.changesCursor(),
        persist: (cursor) => this.#copy.setChangesCursor(cursor),
      },
    });
    this.#stopListening.push(
      engine.on("reset", ({ summaries, etag, changesCursor }) => {
        this.#copy.setSummaries(summaries, etag, changesCursor);
        this.#events.emit("change", { conversationIds: summaries.map((s) => s.id) });
      }),
      engine.on("conversation", ({ conversation, etag }) => {
        this.#copy.setConversation(conversation.id, { conversation, etag, exact: true });
        this.#copy.upsertSummary(summaryOf(conversation));
        this.#events.emit("change", { conversationIds: [conversation.id] });
      }),
      engine.on("message", (progress) => this.#follow(progress)),
    );
    return engine;
  }

  /** Another device's reply in the watched conversation, as far as the engine's poll brought it. */
  #follow(progress: MessageProgress): void {
    const { conversationId, messageId, content, streaming, interrupted, toolExecutions } = progress;
    if (conversationId !== this.#watchedId || this.#replyingIn === conversationId) return;
    const message = this.cachedConversation(conversationId)?.messages.find((m) => m.id === messageId);
    if (message === undefined) return;
    this.#show(conversationId, { ...message, content, streaming, interrupted, toolExecutions });
  }

  #show(conversationId: string, message: ChatMessage): void {
    this.#live = { conversationId, message };
    this.#invalidate();
  }

  /** The snapshot is stale: made again when asked for, and told to listeners once per task. */
  #invalidate(): void {
    this.#snapshot = undefined;
    if (this.#telling || this.#listeners.size === 0) return;
    this.#telling = true;
    queueMicrotask(() => {
      this.#telling = false;
      const snapshot = this.getSnapshot();
      if (snapshot === this.#told) return;
      this.#told = snapshot;
      for (const listener of [...this.#listeners]) {
        try {
          listener(snapshot);
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    });
  }

  #makeSnapshot(): StoreSnapshot {
    const id = this.#watchedId;
    let watched = id === null ? null : this.cachedConversation(id);
    const live = this.#live;
    if (watched !== null && live !== undefined && live.conversationId === watched.id) {
      const held = watched.messages.find((m) => m.id === live.message.id);
      // A reply the copy already holds finished is the copy's to show.
      if (held === undefined) watched = { ...watched, messages: [...watched.messages, live.message] };
      else if (held.streaming === true || this.#replyingIn === watched.id) {
        watched = { ...watched, messages: watched.messages.map((m) => (m === held ? live.message : m)) };
      }
    }
    return {
      conversations: this.#summariesView(),
      watchedId: id,
      watched,
      online: this.#online,
      connection: this.#connection,
      queued: this.pending,
    };
  }

  async #write(writes: Write[]): Promise<void> {
    if (writes.length === 0) return;
    const madeAt = this.#now();
    const queued = writes.map((write) => ({ write, idempotencyKey: this.#generateId(), madeAt }));
    this.#keepQueue([...this.#copy.queue(), ...queued]);
    this.#events.emit("change", { conversationIds: [writes[0]!.conversationId] });
    this.#emitStatus();
    await this.flush();
  }

  /**
   * Runs a read against the server unless writes wait (they go first, so the read sees them
   * and an ETag refreshed by the read cannot slip a stale edit past its `If-Match`). False
   * when the server could not be reached and the copy must answer.
   */
  async #reachServer(read: () => Promise<unknown>): Promise<boolean> {
    if (this.pending > 0) await this.flush();
    if (this.pending > 0 && !this.#online) return false;
    try {
      await this.#breaker.call(read);
    } catch (error) {
      if (!isUnreachableOrBusy(error)) throw error;
      this.#setOnline(false);
      return false;
    }
    this.#setOnline(true);
    return true;
  }

  async #drain(): Promise<void> {
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
    let conflicts = 0;
    for (let head = this.#copy.queue()[0]; head !== undefined; head = this.#copy.queue()[0]) {
      const { write, idempotencyKey, madeAt } = head;
      try {
        await this.#breaker.call(() => this.#remote.send(write, { idempotencyKey, at: new Date(madeAt) }));
        this.#setOnline(true);
        this.#dequeue(head);
        conflicts = 0;
      } catch (error) {
        if (!(error instanceof ChatStoreError)) throw error;
        if (isUnreachableOrBusy(error)) return this.#pause();
        this.#setOnline(true);
        if (error.status === 412 && conflicts < MAX_CONFLICT_RETRIES) {
          conflicts++;
          let decision: ConflictDecision;
          try {
            decision = await this.#resolveConflict(head, error);
          } catch (failure) {
            if (isUnreachableOrBusy(failure)) return this.#pause();
            decision = "discard"; // the server's version cannot be read: the edit cannot win
          }
          if (decision === "retry") continue;
        }
        conflicts = 0;
        if (isDeletedElsewhere(error, write)) {
          this.#deletedElsewhere(write.conversationId, error);
          continue;
        }
        const title = this.cachedConversation(write.conversationId)?.title;
        this.#dequeue(head);
        this.#events.emit("revert", { operation: write.op, conversationId: write.conversationId, error });
        this.#events.emit("change", { conversationIds: [write.conversationId] });
        this.#notify(
          error.status === 412
            ? {
                kind: "conflict",
                operation: write.op,
                ...this.#noticeBase(write.conversationId, title, error),
                keepMine: () => this.#write([write]),
                discard: () => undefined,
              }
            : { kind: "refused", operation: write.op, ...this.#noticeBase(write.conversationId, title, error) },
        );
      }
    }
  }

  /**
   * The conversation of a refused write was deleted elsewhere: every write queued for it goes
   * (each would be refused alike), each reverted, and one notice carries the messages the
   * server never got, with a restore that brings the conversation back with them.
   */
  #deletedElsewhere(conversationId: string, error: ChatStoreError): void {
    const held = this.cachedConversation(conversationId);
    const queue = this.#copy.queue();
    const dropped = queue.filter((q) => q.write.conversationId === conversationId);
    const unsent: ChatMessage[] = [];
    for (const { write } of dropped) {
      if (write.op === "append") unsent.push(shownMessage(write.message));
      if (write.op === "put") unsent.push(...write.conversation.messages.map(shownMessage));
    }
    const unsentIds = new Set(unsent.map((m) => m.id));
    this.#keepQueue(queue.filter((q) => q.write.conversationId !== conversationId));
    this.#emitStatus();
    for (const { write } of dropped) this.#events.emit("revert", { operation: write.op, conversationId, error });
    // What the server had is gone; the copy shows the deletion.
    this.#copy.forget(conversationId);
    this.#events.emit("change", { conversationIds: [conversationId] });
    const restore = (): Promise<void> => {
      const at = new Date(this.#now());
      const kept = (held?.messages ?? []).filter((m) => !unsentIds.has(m.id));
      const conversation: ConversationInput = {
        id: conversationId,
        title: held?.title ?? DEFAULT_TITLE,
        createdAt: held?.createdAt ?? at,
        updatedAt: at,
        totalTokens: held?.totalTokens ?? 0,
        messages: [...kept, ...unsent],
        ...(held?.mcpServers != null ? { mcpServers: held.mcpServers } : {}),
      };
      return this.#write([{ op: "put", conversationId, conversation, restore: true }]);
    };
    this.#notify({
      kind: "deleted_elsewhere",
      ...this.#noticeBase(conversationId, held?.title, error),
      unsent,
      restore,
      discard: () => undefined,
    });
  }

  #noticeBase(conversationId: string, title: string | undefined, error: ChatStoreError): NoticeBase {
    const base: NoticeBase = { id: `notice-${++this.#notices}`, conversationId, code: error.code, detail: error.detail };
    if (title !== undefined) base.title = title;
    return base;
  }

  #notify(notice: StoreNotice): void {
    this.#events.emit("notice", notice);
  }

  /**
   * Reads the server's version (which also refreshes the copy and the ETag the next try
   * sends) and asks the rule, or `onConflict`, whether the queued edit still goes.
   */
  async #resolveConflict(head: QueuedWrite, error: ChatStoreError): Promise<ConflictDecision> {
    const id = head.write.conversationId;
    const server = await this.#breaker.call(() => this.#remote.getConversation(id));
    // The copy now shows the other device's edit (under this one, while it is retried).
    this.#events.emit("change", { conversationIds: [id] });
    return this.#onConflict({ write: head.write, madeAt: head.madeAt, server, error });
  }

  #dequeue(done: QueuedWrite): void {
    this.#keepQueue(this.#copy.queue().filter((q) => q.idempotencyKey !== done.idempotencyKey));
    this.#emitStatus();
  }

  /**
   * Stops a flush at a write the server could not take now: it stays first in the queue, with
   * its key, and a flush is scheduled for when the breaker lets a probe through.
   */
  #pause(): void {
    this.#setOnline(false);
    if (this.pending === 0 || this.#cancelRetry !== undefined) return;
    this.#cancelRetry = this.#schedule(
      () => {
        this.#cancelRetry = undefined;
        void this.flush();
      },
      Math.max(this.#breaker.retryInMs, 1_000),
    );
  }

  #keepQueue(queue: QueuedWrite[]): void {
    if (!this.#copy.setQueue(queue)) this.#events.emit("storageFull", { queued: queue.length });
  }

  #summariesView(): ConversationSummary[] {
    let list = this.#copy.summaries() ?? [];
    for (const queued of this.#copy.queue()) list = applyToSummaries(list, queued.write, new Date(queued.madeAt));
    return list;
  }

  /**
   * What any request on the client found (this store's own included, told before the store
   * sees their outcome): see "Reachability from the whole client" above.
   */
  #observe({ reachable, status, code, retryAfter }: Reachability): void {
    const retryAt = retryAfter === undefined ? null : new Date(this.#now() + retryAfter * 1_000);
    if (!reachable) {
      this.#setConnection(
        status === 503
          ? { state: "store_down", code: "store_unavailable", retryAt }
          : { state: "offline", code: status === 502 ? "bad_gateway" : status === 504 ? "gateway_timeout" : (code ?? "network_error") },
      );
      this.#setOnline(false);
      return;
    }
    this.#breaker.close();
    // Busy is not back: a 429 makes the store's own calls wait too.
    if (status === 429) {
      this.#setConnection({ state: "rate_limited", code: "rate_limited", retryAt });
      this.#setOnline(false);
    } else this.#setOnline(true);
  }

  #setConnection(connection: ConnectionState): void {
    const now = this.#connection;
    if (JSON.stringify(now) === JSON.stringify(connection)) return;
    this.#connection = connection;
    this.#events.emit("connection", connection);
    this.#invalidate();
  }

  #setOnline(online: boolean): void {
    // Online is online; offline keeps the reason a request found (busy, storage down) over the
    // store's own "could not reach it", which the breaker says without a request.
    if (online) this.#setConnection({ state: "online" });
    else if (this.#connection.state === "online") this.#setConnection({ state: "offline", code: "circuit_open" });
    if (online === this.#online) return;
    this.#online = online;
    this.#emitStatus();
    // The "next answered call" trigger (any layer's): back online with writes waiting, send them.
    if (online && this.pending > 0) void this.flush();
  }

  #emitStatus(): void {
    this.#events.emit("status", { online: this.#online, queued: this.pending });
  }
}

/** A tool step of a reply as a message shows it (a source's `error` may be null). */
function toolShown(tool: ReadReply["toolExecutions"][number]): NonNullable<ChatMessage["toolExecutions"]>[number] {
  const { error, ...rest } = tool;
  return error == null ? rest : { ...rest, error };
}

/** Options of {@link HybridConversationStore.streamReply}: those of {@link streamReply} it passes on. */
export type HybridReplyOptions = Pick<
  StreamReplyOptions,
  "flushIntervalMs" | "maxDeltaChars" | "signal" | "onText" | "onUpdate"
>;

/** Carries an undelivered reply through the breaker, which counts it as a failure. */
class UndeliveredError extends Error {
  constructor(readonly reply: UndeliveredReply) {
    super(reply.error.message);
  }
}

/** Why a reply was not streamed: the store already knew the server was away. */
function offline(): ChatStoreError {
  return new ChatStoreError({ status: 0, code: "circuit_open", detail: "the API is unreachable; the reply is queued" });
}

/**
 * The default 412 rule: the newer edit wins. Retry when the queued edit was made after the
 * server's version was last updated; otherwise (or when the conversation is gone) discard.
 */
export function newerEditWins(conflict: Conflict): ConflictDecision {
  return conflict.server !== null && conflict.madeAt > new Date(conflict.server.updatedAt).getTime()
    ? "retry"
    : "discard";
}

/**
 * A write refused because its conversation is gone: the API's `conversation_deleted` (a `PUT` or
 * an append to a conversation deleted elsewhere), or a 404 on a write that needs it to exist.
 */
function isDeletedElsewhere(error: ChatStoreError, write: Write): boolean {
  return error.code === "conversation_deleted" || (error.status === 404 && write.op !== "delete");
}

/**
 * A message as written here, as the copy shows it. A message with parts and no content gets
 * their text as its content, the server's rule, so a restore sending it back is taken.
 */
function shownMessage(message: MessageInput): ChatMessage {
  return { ...message, content: messageText(message), timestamp: new Date(message.timestamp) } as ChatMessage;
}

/**
 * Unreachable (no answer, 502-504, breaker open) or busy (429): either way the write should wait,
 * not be dropped.
 */
function isUnreachableOrBusy(error: unknown): boolean {
  return error instanceof ChatStoreError && error.retryable;
}
