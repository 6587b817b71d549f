/**
 * Keeping a device in step with the others (docs/sync.md, "Keeping devices in sync"): list once, then
 * follow the change feed from the list's `changesCursor`; refetch the conversation the user has
 * open when it changes; follow a reply another device is streaming by offset.
 *
 * Every request is billed (Upstash counts commands), so the engine asks only for what can have
 * changed: an idle sync is one `GET /api/changes` answered with an empty page, a hidden tab
 * sends nothing at all, the open conversation is refetched with `If-None-Match` and only when the
 * feed says its version moved, and a streamed reply is polled from the length already held,
 * with `If-None-Match`, so a poll with nothing new is a bodiless 304.
 *
 * With a push channel open, nothing is polled: a push newer than what the engine holds makes it
 * read the feed (once per burst), and a followed reply grows by its delta pushes. While the
 * channel is down, the engine polls as above; each time it opens, the feed is read once, for
 * what was missed meanwhile.
 */
import type { ChatStoreClient } from "./client.js";
import { ChatStoreError } from "./errors.js";
import { Emitter } from "./events.js";
import { STORAGE_PREFIX, etagVersion } from "./local.js";
import { PushInbox } from "./push.js";
import type { PushChannel, PushEvent } from "./push.js";
import { MemoryStorage, browserStorage, readJson, writeJson } from "./storage.js";
import type { StorageLike } from "./storage.js";
import { streamingStaleMs } from "./stream.js";
import { abortableSleep } from "./transport.js";
import type { Sleep } from "./transport.js";
import type { Change, ConversationSummary, ConversationView, MessageTail } from "./types.js";
import type { ChatMessage } from "./model.js";

/**
 * Where an engine of its own (not a `HybridConversationStore`'s) keeps its changes cursor with
 * the default prefix: `{"cursor": "<the next since>"}`; with `prefix`, `<prefix>sync`.
 */
export const SYNC_STORAGE_KEY = `${STORAGE_PREFIX}sync`;

/**
 * Where the engine's changes cursor lives: read before every sync, written after every page.
 * A `HybridConversationStore` keeps it with its copy's list, so the two cannot disagree.
 */
export interface CursorPersister {
  /** The cursor the next sync starts from; undefined: list first. */
  restore(): string | undefined;
  /** Keeps the cursor a list or a page of the feed ended at. */
  persist(cursor: string): void;
}

/** The page size of a full list: the API's largest, so a list costs as few requests as it can. */
const LIST_PAGE = 100;

/** The part of `document` the engine needs: whether the tab is visible, and when that changes. */
export interface VisibilityDocument {
  readonly visibilityState: string;
  addEventListener(type: "visibilitychange", listener: () => void): void;
  removeEventListener(type: "visibilitychange", listener: () => void): void;
}

/** A reply being followed, as it stands after a poll. */
export interface MessageProgress {
  conversationId: string;
  messageId: string;
  /** The whole text so far (not only what the poll brought). */
  content: string;
  /** False once the reply is finished (or went stale): the last progress of a follow. */
  streaming: boolean;
  /** The generator went away before finishing it (`streamingStaleSeconds` without a delta). */
  interrupted: boolean;
  toolExecutions: NonNullable<MessageTail["toolExecutions"]>;
}

/** The events of {@link SyncEngine} and their payloads. */
export interface SyncEvents {
  /** A conversation was created or changed (its summary, no messages) at `version`. */
  upsert: { summary: ConversationSummary; version: number };
  /** A conversation is gone: drop the copy (may come twice; dropping twice is harmless). */
  tombstone: { id: string; reason: "deleted" | "evicted" | "expired" };
  /**
   * The whole list, after the first start or a 410 `changes_reset`: replace the copy's list.
   * `etag` is its first page's, `changesCursor` where the feed goes on from.
   */
  reset: { summaries: ConversationSummary[]; etag: string | undefined; changesCursor: string | undefined };
  /** The watched conversation as it is now, with its newest page of messages, and its `ETag`. */
  conversation: { conversation: ConversationView; etag: string | undefined };
  /** A poll of a followed reply brought new text, tools or its end. */
  message: MessageProgress;
  /** A sync or a poll failed; the engine keeps going and tries again at the next tick. */
  error: { error: unknown };
}

/** Options of {@link SyncEngine}. */
export interface SyncEngineOptions {
  /** The client to send with. */
  client: ChatStoreClient;
  /** Where the cursor lives; default `localStorage`, else memory. Unused with `cursor`. */
  storage?: StorageLike;
  /** The cursor's key is `<prefix>sync` in `storage`; default `chat-store:v1:`. */
  prefix?: string;
  /** Keeps the cursor somewhere else than `storage` (a store's copy does). */
  cursor?: CursorPersister;
  /** Time between two syncs. Default 30,000 ms: an idle device costs 2 requests a minute. */
  intervalMs?: number;
  /**
   * Time between two polls of a followed reply while it grows. Default 1,000 ms. Each poll that
   * brings nothing doubles the wait, up to `maxFollowIntervalMs`; one that brings text resets it.
   */
  followIntervalMs?: number;
  /**
   * The longest wait between two polls of a reply that brings nothing. Default a quarter of the
   * stale limit (the server's `streamingStaleSeconds` when the client knows it, else 15 s:
   * 3.75 s), so a reply whose writer went away is seen interrupted, and no longer polled, at
   * most that long after the server calls it stale.
   */
  maxFollowIntervalMs?: number;
  /**
   * False: a reply streaming in the watched conversation is not followed; the conversation is
   * still refetched when the feed moves it. For an app that follows such a reply itself (the AI
   * SDK's `ChatStoreTransport` resuming it), so it is polled once, not twice. Default true.
   */
  followReplies?: boolean;
  /** The page whose visibility pauses the engine; default `globalThis.document`; null: none. */
  document?: VisibilityDocument | null;
  /**
   * Told every change of the feed, in order, before the `upsert`/`tombstone` event: where the
   * owner of a copy applies it (a `HybridConversationStore` does, to its own engine's changes).
   */
  onChange?: (change: Change) => void;
  /** Injectable for tests: the wait between syncs and between polls. */
  sleep?: Sleep;
  /**
   * A push channel (started by the app, or shared with `ChatStoreTransport`). While it is open
   * the engine does not poll: it reads the feed when it opens and when a push tells of a
   * version newer than it holds, and follows a reply by its delta pushes (a poll only every
   * stale limit, 15 s, without one, to see a reply whose writer went away). While it is down,
   * the engine polls every `intervalMs` as without one. The watched conversation is the
   * channel's watch while the engine runs.
   */
  push?: PushChannel;
}

/** Options of {@link SyncEngine.followMessage}. */
export interface FollowOptions {
  /** The UTF-16 length already held: the first poll asks for what comes after it. Default 0. */
  after?: number;
  /** The text already held (the first `after` code units), so each progress has the whole text. */
  content?: string;
  /**
   * The `ETag` the held text was read at (the conversation's does). With one, the first poll
   * waits `followIntervalMs` and may be a 304; without, it goes at once.
   */
  etag?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /**
   * Told a poll that got no answer (timeout, network, 429, 502-504); the next poll tries again.
   * Other errors (the message was deleted) end the iteration by throwing.
   */
  onError?: (error: ChatStoreError) => void;
}

/** Options of {@link SyncEngine.start}. */
export interface SyncStartOptions {
  /**
   * A `changesCursor` the app already has: the one answered with the first page of the list it
   * shows, read just now. Taken when the engine keeps no cursor of its own, instead of listing
   * again; the list is then current, so the first sync (the feed from this cursor) is one
   * `intervalMs` away. The same when the engine's cursor is this one. Ignored when the engine
   * has another cursor.
   */
  cursor?: string;
}

/**
 * What the app already holds of a conversation it asks the engine to watch
 * ({@link SyncEngine.watch}): handed over, it spares the engine reading it again.
 */
export interface HeldConversation {
  /**
   * The `ETag` the app read the conversation at, as the server answered it (e.g.
   * `HybridConversationStore.etagOf`). The engine takes it as its own: no read now, the next
   * refetch sends it as `If-None-Match`, and a change of the feed at a version not newer than
   * it costs no request. Give it only for a read that reached the server just now.
   */
  etag?: string;
  /**
   * The conversation as read (at `etag`). When its last message is streaming, the engine
   * follows that reply at once, from the length held, without reading the conversation.
   */
  conversation?: { messages: readonly Pick<ChatMessage, "id" | "content" | "streaming">[] };
}

/** The conversation the UI has open, and what the engine holds of it. */
interface Watched {
  id: string;
  etag: string | undefined;
  /** True while the engine holds nothing of it: it is read at the next chance. */
  unread: boolean;
  /** A streaming reply handed over before {@link SyncEngine.start}: followed once running. */
  pending: { messageId: string; content: string } | undefined;
  /** The reply being followed, and how to stop following it. */
  following: { messageId: string; controller: AbortController } | undefined;
}

/**
 * Syncs one user's conversations on one device; see the module's comment for what it sends.
 *
 * @example
 * ```ts
 * const engine = new SyncEngine({ client, onChange: (c) => applyToMyCopy(c) });
 * engine.on("message", ({ content }) => setStreamingText(content));
 * engine.start();
 * engine.watch(openConversationId);
 * ```
 */
export class SyncEngine extends Emitter<SyncEvents> {
  readonly #client: ChatStoreClient;
  readonly #cursor: CursorPersister;
  readonly #intervalMs: number;
  readonly #followIntervalMs: number;
  readonly #maxFollowIntervalMs: number | undefined;
  readonly #followReplies: boolean;
  readonly #document: VisibilityDocument | undefined;
  readonly #onChange: ((change: Change) => void) | undefined;
  readonly #sleep: Sleep;
  readonly #push: PushChannel | undefined;
  #running: AbortController | undefined;
  /** What the running engine holds of the push channel: its listeners, and its watch. */
  #pushHold: { unsubscribe: (() => void)[]; release: (() => void) | undefined } | undefined;
  /** The socket opened while a sync ran, which may have read the feed before it: sync again. */
  #again = false;
  /** Versions pushes told of that the feed has not shown yet, per conversation. */
  readonly #pushed = new Map<string, number>();
  /** One of them came while a sync ran: if that read does not show it, it may have asked too early. */
  #pushedDuring = false;
  /** Feed reads in a row that did not yet show a pushed version (a replica behind). */
  #behind = 0;
  /** Counts the sockets seen open (1 for one already open at start): which one is open now. */
  #opened = 0;
  /** The socket (by {@link #opened}) since whose opening a feed read succeeded; -1: none. */
  #current = -1;
  /** The sync in flight, and the run it belongs to: a run after a stop never shares an aborted one. */
  #syncing: { promise: Promise<void>; run: AbortController | undefined } | undefined;
  #watched: Watched | undefined;
  /** The newest version the feed told of, per conversation, since this engine was made. */
  readonly #versions = new Map<string, number>();

  constructor(options: SyncEngineOptions) {
    super();
    this.#client = options.client;
    this.#cursor =
      options.cursor ??
      storedCursor(options.storage ?? browserStorage() ?? new MemoryStorage(), `${options.prefix ?? STORAGE_PREFIX}sync`);
    this.#intervalMs = options.intervalMs ?? 30_000;
    this.#followIntervalMs = options.followIntervalMs ?? 1_000;
    this.#maxFollowIntervalMs = options.maxFollowIntervalMs;
    this.#followReplies = options.followReplies ?? true;
    this.#document =
      options.document === null ? undefined : (options.document ?? (globalThis as { document?: VisibilityDocument }).document);
    this.#onChange = options.onChange;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#push = options.push;
  }

  /** The changes cursor the next sync starts from; undefined until the first list. */
  get cursor(): string | undefined {
    return this.#cursor.restore();
  }

  /** Whether {@link start} was called and {@link stop} not since. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Syncs now (a list the first time, else the feed from the kept cursor), then every
   * `intervalMs` and whenever the page becomes visible again. Nothing is sent while the page
   * is hidden. Calling it again while running does nothing: start, stop and start in any order
   * leave one run (a stop aborts the run's requests in flight; the next run makes its own).
   *
   * With `options.cursor` and no cursor kept, the engine starts from the app's cursor instead
   * of listing: no request now, the feed from that cursor at the first tick.
   */
  start(options: SyncStartOptions = {}): void {
    if (this.#running) return;
    const kept = this.cursor;
    const adopted = options.cursor !== undefined && (kept === undefined || kept === options.cursor);
    if (adopted && kept === undefined) this.#keep(options.cursor!);
    const controller = new AbortController();
    this.#running = controller;
    this.#document?.addEventListener("visibilitychange", this.#onVisibility);
    this.#opened++; // whatever socket is open now was opened before this run listened
    this.#holdPush();
    const pending = this.#watched?.pending;
    if (pending) {
      this.#watched!.pending = undefined;
      this.#follow(this.#watched!, pending.messageId, pending.content, this.#watched!.etag);
    }
    void this.#loop(controller.signal, adopted);
  }

  /** Stops the timer, the visibility listener, a followed reply and any request in flight. */
  stop(): void {
    this.#running?.abort();
    this.#running = undefined;
    this.#again = false;
    this.#pushedDuring = false;
    this.#pushed.clear();
    this.#document?.removeEventListener("visibilitychange", this.#onVisibility);
    if (this.#pushHold) {
      for (const unsubscribe of this.#pushHold.unsubscribe) unsubscribe();
      this.#pushHold.release?.();
      this.#pushHold = undefined;
    }
    this.#stopFollowing();
  }

  /**
   * Syncs at once (even while hidden: the app asked). A call while a sync runs shares it.
   * Never rejects: failures are `error` events.
   */
  syncNow(): Promise<void> {
    const run = this.#running;
    if (this.#syncing === undefined || this.#syncing.run !== run) {
      const syncing = {
        run,
        promise: this.#sync().finally(() => {
          if (this.#syncing === syncing) this.#syncing = undefined;
          if (run !== undefined && run === this.#running) this.#afterSync();
        }),
      };
      this.#syncing = syncing;
    }
    return this.#syncing.promise;
  }

  /**
   * Marks the conversation the UI has open (null: none). It is refetched whenever the feed
   * says it changed, and a reply streaming in it is followed. Watching the one already watched
   * does nothing.
   *
   * Without `held`, the engine holds nothing of it and reads it now (when running; else at the
   * first sync). With `held` (what the app just read, see {@link HeldConversation}), watching
   * costs no request: the engine takes `held.etag` as its own, and follows a reply streaming
   * at the end of `held.conversation` from its length (once running). Only when the feed
   * already told of a version newer than `held.etag` is it read now, with `If-None-Match`.
   */
  watch(conversationId: string | null, held?: HeldConversation): void {
    if (this.#watched?.id === conversationId) return;
    this.#stopFollowing();
    if (conversationId === null) {
      this.#watched = undefined;
      this.#watchPush();
      return;
    }
    const etag = held?.etag;
    const seen = this.#versions.get(conversationId);
    const behind = etag !== undefined && seen !== undefined && !notNewer(seen, etag);
    const unread = (etag === undefined && held?.conversation === undefined) || behind;
    const watched: Watched = { id: conversationId, etag, unread, pending: undefined, following: undefined };
    this.#watched = watched;
    this.#watchPush();
    if (unread) {
      if (this.#running && !this.#hidden()) {
        void this.#refresh(this.#running.signal).catch((error: unknown) => this.#report(error));
      }
      return;
    }
    const last = held?.conversation?.messages.at(-1);
    if (last?.streaming !== true || !this.#followReplies) return;
    if (this.#running) this.#follow(watched, last.id, last.content, etag);
    else watched.pending = { messageId: last.id, content: last.content };
  }

  /**
   * Follows a reply another device is streaming: polls
   * `GET /api/conversations/{id}/messages/{messageId}?after=<length held>` with
   * `If-None-Match` every `followIntervalMs` (none while the page is hidden), and yields the
   * whole text each time a poll brings something, until the reply is no longer streaming:
   * finished, or interrupted (its writer sent nothing for the server's stale limit). A poll
   * that brings nothing (a 304, a writer's empty keep-alive, no answer) doubles the wait, up
   * to `maxFollowIntervalMs`; new text or tools bring it back to `followIntervalMs`.
   *
   * With the engine's push channel open, it watches the conversation and polls no more: each
   * delta push that goes on from the text held is applied as it is; one with parts, one that
   * skips ahead (pushes missed), the reply's end, or a stale limit without any push costs one
   * poll, as above. While the channel is down it polls; when it opens again, one poll catches up.
   */
  async *followMessage(
    conversationId: string,
    messageId: string,
    options: FollowOptions = {},
  ): AsyncGenerator<MessageProgress, void, undefined> {
    let after = options.after ?? 0;
    let content = options.content ?? "";
    let etag = options.etag;
    // The conversation version the text held is at: a delta not newer is one a poll already brought.
    let version = etagVersion(etag) ?? -1;
    let wait = etag !== undefined;
    let interval = this.#followIntervalMs;
    let tools = "";
    let toolExecutions: MessageProgress["toolExecutions"] = [];
    // A poll the pushes asked for that a hidden page put off.
    let owed = false;
    const inbox = this.#push ? new PushInbox(this.#push, conversationId, messageId) : undefined;
    try {
      for (;;) {
        const live = inbox?.open === true;
        if (wait) {
          // Live, a wait ends with a push or the stale limit, whichever comes first.
          const ms = live ? streamingStaleMs(this.#client) : interval;
          const going = inbox ? await inbox.wait(ms, this.#sleep, options.signal) : await this.#wait(ms, options.signal);
          if (!going) return;
        }
        wait = true;
        let grew = false;
        let poll = !(inbox?.open === true);
        if (inbox) {
          const deltas = inbox.take();
          // Woken without a delta: the stale limit passed, the channel opened or closed, or the
          // message changed otherwise: only a poll can tell.
          if (deltas.length === 0) poll = true;
          for (const delta of deltas) {
            if (delta.version <= version) continue; // a poll already brought it
            if (delta.parts === true || !delta.streaming || delta.offset > after) {
              poll = true; // parts, the end (and whether it was interrupted), or text missed
              continue;
            }
            content = content.slice(0, delta.offset) + delta.text;
            after = content.length;
            version = delta.version;
            grew = true;
          }
        }
        owed = owed || poll;
        if (owed && !this.#hidden()) {
          owed = false;
          if (!live) interval = Math.min(interval * 2, this.#followCap()); // reset below by news
          let answer;
          try {
            answer = await this.#client.getMessage(conversationId, messageId, { after }, { ifNoneMatch: etag, signal: options.signal });
          } catch (error) {
            if (options.signal?.aborted) return;
            if (error instanceof ChatStoreError && error.retryable) {
              options.onError?.(error);
              answer = undefined;
            } else {
              throw error;
            }
          }
          if (answer !== undefined && !answer.notModified) {
            const tail = answer.data;
            etag = answer.etag;
            version = etagVersion(etag) ?? version;
            const streaming = tail.streaming === true;
            const toolsNow = JSON.stringify(tail.toolExecutions ?? []);
            // A new version with no new text nor tools (the writer's keep-alive) is nothing to show.
            if (!(streaming && tail.content === "" && tail.offset === after && toolsNow === tools)) {
              // `offset` is `after`, or 0 when the text was replaced and came back whole.
              content = content.slice(0, tail.offset) + tail.content;
              after = tail.length;
              tools = toolsNow;
              toolExecutions = tail.toolExecutions ?? [];
              interval = this.#followIntervalMs;
              yield { conversationId, messageId, content, streaming, interrupted: tail.interrupted === true, toolExecutions };
              if (!streaming) return;
              continue;
            }
          }
        }
        if (grew) yield { conversationId, messageId, content, streaming: true, interrupted: false, toolExecutions };
      }
    } finally {
      inbox?.close();
    }
  }

  /** Waits `ms`; false when `signal` aborted first. */
  async #wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await this.#sleep(ms, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** The longest wait between two polls of a followed reply; see `maxFollowIntervalMs`. */
  #followCap(): number {
    return Math.max(this.#followIntervalMs, this.#maxFollowIntervalMs ?? streamingStaleMs(this.#client) / 4);
  }

  #onVisibility = (): void => {
    if (!this.#hidden()) void this.syncNow();
  };

  #hidden(): boolean {
    return this.#document?.visibilityState === "hidden";
  }

  /** `current`: the cursor came with the app's list just now, so the first sync waits a tick. */
  async #loop(signal: AbortSignal, current: boolean): Promise<void> {
    if (this.#hidden()) {
      // Nothing now: the first visible tick or visibilitychange syncs.
    } else if (!current) {
      await this.syncNow();
    } else if (this.#watched?.unread) {
      await this.#refresh(signal).catch((error: unknown) => this.#report(error));
    }
    for (;;) {
      try {
        await this.#sleep(this.#intervalMs, signal);
      } catch {
        return; // stopped
      }
      // An open push channel tells of every change since the feed was read with it open: the
      // tick has nothing to ask. (Started on an app's cursor with the socket already open, a
      // push before the start went unheard: the first tick reads the feed.)
      if (!this.#hidden() && !this.#pushCovers()) await this.syncNow();
    }
  }

  /** Whether the open socket has pushed all the feed has not shown: ticks need not read it. */
  #pushCovers(): boolean {
    return this.#push?.open === true && this.#current === this.#opened;
  }

  /** Listens to the push channel while running, and holds its watch of the watched conversation. */
  #holdPush(): void {
    const push = this.#push;
    if (!push) return;
    this.#pushHold = {
      unsubscribe: [
        push.on("push", (event) => this.#onPush(event)),
        // Pushes sent before this socket opened went nowhere: the feed has them.
        push.on("open", () => {
          this.#opened++;
          this.#catchUp();
        }),
      ],
      release: undefined,
    };
    this.#watchPush();
    // Already open before this run: the run's first sync covers what came before.
  }

  /** Makes the channel's watch follow the watched conversation. */
  #watchPush(): void {
    const hold = this.#pushHold;
    if (!hold || !this.#push) return;
    const previous = hold.release;
    hold.release = this.#watched ? this.#push.watch(this.#watched.id) : undefined;
    previous?.();
  }

  /**
   * A push of a conversation or message change at a version newer than the engine holds: the
   * feed is read for it. A push names no summary, which the app's list needs, and the feed's
   * cursor is what keeps a change from coming twice; so a burst of pushes costs one feed read,
   * as one poll would have, and a push at a version already held (its own write seen through
   * the feed, a push repeated) costs nothing. Deltas are the followed reply's.
   */
  #onPush(event: PushEvent): void {
    if (event.type === "delta") return;
    const held = this.#held(event.conversationId);
    // A deletion is read whatever its version: an eviction over the cap is pushed at version 0.
    const deleted = event.type === "conversation" && event.change === "deleted";
    if (deleted) {
      // Its tombstone is the feed's; nothing to wait for in versions (a repeated one reads an empty page).
      this.#catchUp();
      return;
    }
    if (held !== undefined && event.version <= held) return;
    this.#pushed.set(event.conversationId, Math.max(event.version, this.#pushed.get(event.conversationId) ?? 0));
    this.#catchUpPushed();
  }

  /** The newest version of a conversation the engine holds: the feed's or the watched read's. */
  #held(conversationId: string): number | undefined {
    const fed = this.#versions.get(conversationId);
    const read = this.#watched?.id === conversationId ? etagVersion(this.#watched.etag) : undefined;
    if (fed === undefined) return read;
    return read === undefined ? fed : Math.max(fed, read);
  }

  /**
   * Reads the feed now, or, when a read is under way (it may have asked before the change
   * committed), once more right after it. A hidden page waits for visibilitychange's sync.
   */
  #catchUp(): void {
    if (!this.#running || this.#hidden()) return;
    if (this.#syncing !== undefined && this.#syncing.run === this.#running) {
      this.#again = true;
      return;
    }
    void this.syncNow();
  }

  /** A push newer than held: the feed is read for it (see {@link #afterSync} for a read under way). */
  #catchUpPushed(): void {
    if (this.#syncing !== undefined && this.#syncing.run === this.#running) {
      this.#pushedDuring = true;
      return;
    }
    this.#catchUp();
  }

  /**
   * After a feed read: forgets the pushed versions it showed. One it did not show was either
   * pushed while it ran (it may have asked before the write: read again at once) or before it
   * (an Upstash read replica a moment behind the write: read again a little later, a few times;
   * after that the next push, reconnect or poll brings it).
   */
  #afterSync(): void {
    for (const [id, version] of this.#pushed) {
      const held = this.#held(id);
      if (held !== undefined && held >= version) this.#pushed.delete(id);
    }
    const again = this.#again || (this.#pushedDuring && this.#pushed.size > 0);
    this.#again = false;
    this.#pushedDuring = false;
    if (again) {
      void this.syncNow();
      return;
    }
    if (this.#pushed.size === 0) {
      this.#behind = 0;
      return;
    }
    if (++this.#behind > 3) {
      this.#pushed.clear();
      this.#behind = 0;
      return;
    }
    const run = this.#running;
    if (!run) return;
    void this.#sleep(this.#followIntervalMs, run.signal).then(
      () => this.#catchUp(),
      () => undefined, // stopped
    );
  }

  async #sync(): Promise<void> {
    const signal = this.#running?.signal;
    // A read that starts with the socket open covers everything not pushed to this socket.
    const socket = this.#push?.open === true ? this.#opened : undefined;
    try {
      const watchedChanged = this.cursor === undefined ? await this.#list(signal) : await this.#changes(signal);
      if (socket !== undefined && socket === this.#opened) this.#current = socket;
      const watched = this.#watched;
      if (watched && (watchedChanged || watched.unread)) await this.#refresh(signal);
    } catch (error) {
      this.#report(error);
    }
  }

  /** The whole list; keeps its `changesCursor`. True when the watched conversation may differ. */
  async #list(signal: AbortSignal | undefined): Promise<boolean> {
    const summaries: ConversationSummary[] = [];
    let changesCursor: string | undefined;
    let etag: string | undefined;
    let cursor: string | undefined;
    do {
      const page = await this.#client.listConversations({ limit: LIST_PAGE, cursor }, { signal });
      if (page.notModified) break; // not asked for (no If-None-Match sent); nothing to add
      summaries.push(...page.data.conversations);
      // The first page's cursor: the feed from there is consistent with the whole list.
      if (changesCursor === undefined) {
        changesCursor = page.data.changesCursor;
        etag = page.etag;
      }
      cursor = page.data.nextCursor ?? undefined;
    } while (cursor !== undefined);
    if (changesCursor !== undefined) this.#keep(changesCursor);
    this.emit("reset", { summaries, etag, changesCursor });
    return true;
  }

  /** The feed from the kept cursor, page after page while `hasMore`; a 410 lists again. */
  async #changes(signal: AbortSignal | undefined): Promise<boolean> {
    let watchedChanged = false;
    for (;;) {
      let page;
      try {
        ({ data: page } = await this.#client.listChanges({ since: this.cursor ?? "" }, { signal }));
      } catch (error) {
        if (error instanceof ChatStoreError && error.code === "changes_reset") return this.#list(signal);
        throw error;
      }
      for (const change of page.changes) watchedChanged = this.#apply(change) || watchedChanged;
      this.#keep(page.nextCursor);
      if (!page.hasMore) return watchedChanged;
    }
  }

  /** Tells the app one change; true when it makes the watched conversation worth refetching. */
  #apply(change: Change): boolean {
    this.#onChange?.(change);
    const watched = this.#watched?.id === change.id ? this.#watched : undefined;
    if (change.type === "tombstone") {
      this.#versions.delete(change.id);
      this.#pushed.delete(change.id); // a deleted conversation's push is answered by its tombstone
      this.emit("tombstone", { id: change.id, reason: change.reason });
      if (watched) {
        this.#stopFollowing();
        watched.etag = undefined;
        watched.unread = false; // gone: nothing to read until an upsert brings it back
      }
      return false;
    }
    this.#versions.set(change.id, Math.max(change.version, this.#versions.get(change.id) ?? 0));
    this.emit("upsert", { summary: change.conversation, version: change.version });
    // The ETag is the version: an upsert at the version held or an older one (the device's own
    // write, the feed repeating, a read that was already newer) needs no request, not even a 304.
    return watched !== undefined && !(watched.etag !== undefined && notNewer(change.version, watched.etag));
  }

  /** Refetches the watched conversation (304 when current) and follows a reply streaming in it. */
  async #refresh(signal: AbortSignal | undefined): Promise<void> {
    const watched = this.#watched;
    if (!watched) return;
    let answer;
    try {
      answer = await this.#client.getConversation(watched.id, {}, { ifNoneMatch: watched.etag, signal });
    } catch (error) {
      // Deleted meanwhile: the feed's tombstone says so; nothing to show.
      if (error instanceof ChatStoreError && error.code === "not_found") {
        watched.unread = false;
        return;
      }
      throw error;
    }
    if (this.#watched !== watched) return;
    watched.unread = false;
    if (answer.notModified) return;
    watched.etag = answer.etag;
    this.emit("conversation", { conversation: answer.data, etag: answer.etag });
    const last = answer.data.messages.at(-1);
    if (this.#followReplies && last?.streaming && watched.following?.messageId !== last.id) {
      this.#follow(watched, last.id, last.content, answer.etag);
    }
  }

  #follow(watched: Watched, messageId: string, content: string, etag: string | undefined): void {
    this.#stopFollowing();
    const controller = new AbortController();
    const following = { messageId, controller };
    watched.following = following;
    void (async () => {
      try {
        const progress = this.followMessage(watched.id, messageId, {
          after: content.length,
          content,
          etag,
          signal: controller.signal,
          onError: (error) => this.#report(error),
        });
        for await (const update of progress) this.emit("message", update);
      } catch (error) {
        this.#report(error);
      } finally {
        if (watched.following === following) watched.following = undefined;
      }
    })();
  }

  #stopFollowing(): void {
    if (this.#watched) this.#watched.pending = undefined;
    this.#watched?.following?.controller.abort();
    if (this.#watched) this.#watched.following = undefined;
  }

  #keep(cursor: string): void {
    this.#cursor.persist(cursor);
  }

  #report(error: unknown): void {
    // A request cut short by stop() is not a failure.
    if (error instanceof ChatStoreError && error.code === "aborted") return;
    this.emit("error", { error });
  }
}

/**
 * Whether `version` is not newer than the one `etag` names. False for a tag that names no
 * version: then only a read can tell.
 */
function notNewer(version: number, etag: string): boolean {
  const held = etagVersion(etag);
  return held !== undefined && version <= held;
}

/**
 * The cursor at `key` in `storage`, held in memory too: a full storage only costs a list at the
 * next page load, and the engine goes on in memory.
 */
function storedCursor(storage: StorageLike, key: string): CursorPersister {
  const stored = readJson(storage, key) as { cursor?: unknown } | undefined;
  let cursor = typeof stored?.cursor === "string" ? stored.cursor : undefined;
  return {
    restore: () => cursor,
    persist: (next) => {
      cursor = next;
      writeJson(storage, key, { cursor: next });
    },
  };
}
