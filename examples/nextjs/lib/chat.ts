/**
 * The app's data layer: everything the UI does with its conversations goes through one
 * {@link ChatSession}, over `@chat-store/client`'s pieces:
 *
 * - `ChatStoreClient` with an anonymous token kept in localStorage (key {@link TOKEN_KEY});
 * - `migrateFromLocalStorage` on first load, moving the old localStorage history
 *   (`conversations`, `currentConversationId`) to the server once;
 * - `HybridConversationStore`, the one owner of the conversations: server first, with a local
 *   copy and a write queue, so the app keeps working while the API is unreachable and catches
 *   up when it returns; its own sync engine brings other devices' changes (the change feed
 *   every `syncIntervalMs`) and their replies as they stream (`followIntervalMs`) into that
 *   copy; `store.streamReply` sends this device's replies as batched deltas other devices can
 *   follow, or queues them whole while the API is away. Nothing is read twice: the engine
 *   follows the feed from the cursor of the store's list (a first load lists once) and watches
 *   a conversation from the store's read of it (opening one is one GET).
 *
 * The UI renders the store's snapshot (the list, the open conversation, the connection's state,
 * queued) with the little this session adds (`ready`, the store's notices until answered, the
 * migration's notice until dismissed, a `problem` in plain words), and calls its verbs (`open`,
 * `begin`, `keep`, `refresh`, `older`, `rename`, `remove`, `answer`, `dismissMigration`). It
 * keeps no list of its own. Developer codes and texts go to the console, never to the page.
 */
import {
  ChatStoreClient,
  ChatStoreError,
  Emitter,
  HybridConversationStore,
  anonymousToken,
  browserStorage,
  defaultTitle,
  dismissMigrationNotice,
  isUnreachable,
  migrateFromLocalStorage,
  migrationNotice,
  readJson,
} from "@chat-store/client";
import type {
  ChatMessage,
  ConnectionState,
  Conversation,
  ConversationSummary,
  MigrationNotice,
  PushChannel,
  StorageLike,
  StoreNotice,
  StoreSnapshot,
} from "@chat-store/client";
import { fromUIMessage } from "@chat-store/client/ai-sdk";
import type { UIMessage } from "ai";
import { pushChannel } from "./push";

export type { ChatMessage, ConnectionState, Conversation, ConversationSummary, MigrationNotice, StoreNotice };

/**
 * Where the app keeps its anonymous token (`{token, expiresAt}` JSON). A second tab or a test
 * that copies this key into another browser acts as the same user.
 */
export const TOKEN_KEY = "chat-store-example:token";
/** The conversation open when the page was left, reopened on the next load. */
export const OPEN_KEY = "chat-store-example:open";
/** The old store's keys, read once by the migration (and left in place: see README). */
export const LEGACY_KEY = "conversations";
export const LEGACY_CURRENT_KEY = "currentConversationId";
/** Messages per "older" page, as the user scrolls up. */
const OLDER_PAGE = 50;

/** What the page gives the session; all of it decided at request time by the server page. */
export interface ChatSessionOptions {
  /** The API's origin, without `/api`. */
  apiUrl: string;
  /** How often to ask the change feed for other devices' changes (ms). */
  syncIntervalMs: number;
  /** How often to poll a reply another device is streaming (ms). */
  followIntervalMs: number;
  /** The push channel's WebSocket URL (lib/push.ts); null or absent: polling alone. */
  pushUrl?: string | null;
  /** Defaults to `localStorage`. */
  storage?: StorageLike;
}

/** Everything the UI shows. */
export interface ChatState {
  /** False until the first list is shown (from the server or the local copy). */
  ready: boolean;
  /** The store's list, most recently updated first. */
  conversations: ConversationSummary[];
  /** The open conversation, with its messages (a reply as it streams); `null` for a new chat. */
  current: Conversation | null;
  /** False while the API is unreachable or refuses more for now. */
  online: boolean;
  /** Why, when not online (offline, rate limited, its storage down): the banner's words. */
  connection: ConnectionState;
  /** Writes made offline, waiting for the API. */
  queued: number;
  /** Writes that did not go as made (a conflict, a deletion elsewhere, a refusal), until answered. */
  notices: StoreNotice[];
  /** The old history's entries that could not be moved, until dismissed (once, ever). */
  migration: MigrationNotice | null;
  /**
   * Something else that went wrong, in the user's words (the developer's code and text go to
   * the console); null when nothing did.
   */
  problem: string | null;
}

/** What the session adds to the store's snapshot. */
type SessionState = Pick<ChatState, "ready" | "notices" | "migration" | "problem">;

interface SessionEvents {
  state: ChatState;
}

/**
 * One user's chat on this device, for the page's life: {@link sessionFor} gives the page's one
 * session, and an effect calls `start()` on mount and `stop()` in its cleanup, as often as React
 * mounts it (twice under strict mode): the loading (migration, list, open conversation) runs
 * once, one anonymous token is issued, and one sync engine runs.
 */
export class ChatSession {
  readonly #events = new Emitter<SessionEvents>();
  readonly #storage: StorageLike;
  readonly #client: ChatStoreClient;
  readonly #store: HybridConversationStore;
  readonly #token: () => Promise<string>;
  readonly #push: PushChannel | undefined;
  #loading: Promise<void> | undefined;
  #catchingUp = false;
  #session: SessionState = { ready: false, notices: [], migration: null, problem: null };
  #state: ChatState;

  constructor(options: ChatSessionOptions) {
    this.#storage = options.storage ?? browserStorage() ?? fail("localStorage is not available");
    // One issue in flight per storage and key, however many callers ask before it is kept: the
    // first list, the sync engine and the route's transport all act as one visitor.
    this.#token = anonymousToken({
      storage: this.#storage,
      key: TOKEN_KEY,
      issue: () => this.#client.issueAnonymousToken(),
    });
    this.#client = new ChatStoreClient({ baseUrl: options.apiUrl, getToken: this.#token });
    // One channel for the page: the store's engine syncs by it and the transport follows
    // replies by it (`push`), so neither polls while it is open.
    this.#push = pushChannel(options.pushUrl, this.#client);
    // The store owns the sync engine and shares the client with it: the engine's polls tell the
    // store when the API leaves (the banner) and when it is back (the queue goes at once). A
    // reply another device streams is followed by the page's transport (ChatPane resumes it
    // with its parts), so the engine leaves it alone: one poll per interval, not two.
    this.#store = new HybridConversationStore(this.#client, {
      storage: this.#storage,
      sync: {
        intervalMs: options.syncIntervalMs,
        followIntervalMs: options.followIntervalMs,
        followReplies: false,
        push: this.#push,
      },
    });
    this.#state = this.#compose(this.#store.getSnapshot());
  }

  /** The state now; {@link onState} tells each change. */
  get state(): ChatState {
    return this.#state;
  }

  /** Calls `listener` with every new state; returns the unsubscribe function. */
  onState(listener: (state: ChatState) => void): () => void {
    return this.#events.on("state", listener);
  }

  /**
   * Loads (once per session: migrates, shows the list and the last open conversation), then
   * syncs. A `stop()` before the loading settles keeps the engine stopped; start, stop and
   * start in any order leave one engine running (the store's `start({ after })`) and one socket.
   */
  start(): void {
    this.#loading ??= this.#load();
    void this.#store.start({ after: this.#loading });
    this.#push?.start();
  }

  /** Stops syncing (the page unmounts, or strict mode's first cleanup); `start()` resumes. */
  stop(): void {
    this.#store.stop();
    this.#push?.stop();
  }

  /** Stops for good: listeners, the engine, the socket, a scheduled flush. */
  dispose(): void {
    this.#push?.stop();
    this.#store.dispose();
  }

  async #load(): Promise<void> {
    this.#wire();
    const legacyCurrent = await this.#migrate();
    try {
      const conversations = await this.#store.getAllConversations();
      this.#set({ ready: true });
      const open = legacyCurrent ?? this.#storage.getItem(OPEN_KEY);
      if (open !== null && conversations.some((c) => c.id === open)) await this.open(open);
    } catch (error) {
      // A refusal of the list itself: the page opens empty rather than loading forever.
      this.#fail("Your conversations could not be loaded.", error);
      this.#set({ ready: true });
    }
  }

  /** Opens a conversation (`null`: a new chat). */
  async open(id: string | null): Promise<void> {
    if (id === null) this.#storage.removeItem(OPEN_KEY);
    else this.#storage.setItem(OPEN_KEY, id);
    // One conditional read; the store hands it to its engine, which then reads it again only
    // when the feed says it changed, and follows a reply streaming at its end.
    const conversation = await this.#store.watch(id);
    if (id !== null && conversation === null && this.#storage.getItem(OPEN_KEY) === id) {
      this.#storage.removeItem(OPEN_KEY);
    }
  }

  /** The client, for the route's transport and for reading older messages. */
  get client(): ChatStoreClient {
    return this.#client;
  }

  /** The page's push channel, for the transport that follows replies; none when push is off. */
  get push(): PushChannel | undefined {
    return this.#push;
  }

  /** The bearer token the route acts with: the same user as this page. */
  token(): Promise<string> {
    return this.#token();
  }

  /** Answers a notice: `keep` (my version / restore with my messages), or `discard`. */
  async answer(notice: StoreNotice, choice: "keep" | "discard"): Promise<void> {
    this.#set({ notices: this.#session.notices.filter((n) => n.id !== notice.id) });
    if (notice.kind === "refused") return;
    if (choice === "discard") {
      notice.discard();
      return;
    }
    if (notice.kind === "conflict") {
      await this.#guard(notice.keepMine(), "Your change could not be sent again.");
      return;
    }
    await this.#guard(notice.restore(), "The conversation could not be restored.");
    await this.open(notice.conversationId);
  }

  /** The user read the migration notice: it is never shown again. */
  dismissMigration(): void {
    dismissMigrationNotice(this.#storage);
    this.#set({ migration: null });
  }

  /** The user closed the problem line. */
  dismissProblem(): void {
    this.#set({ problem: null });
  }

  /**
   * Makes `id` a conversation before its first message goes to the route: titled by
   * `firstText` (the API's rule), shown in the list at once and kept in the local copy (queued
   * while the API is away). An existing conversation is left as it is.
   */
  async begin(id: string, firstText: string): Promise<void> {
    if (this.#store.cachedConversation(id) !== null) return;
    const now = new Date();
    const conversation: Conversation = {
      id,
      title: defaultTitle(firstText),
      messages: [],
      createdAt: now,
      updatedAt: now,
      totalTokens: 0,
    };
    this.#storage.setItem(OPEN_KEY, id);
    // Awaited: the route appends the user's message next, and a PUT arriving after it would
    // replace the conversation with this empty one.
    await this.#guard(this.#store.saveConversation(conversation), "Your new conversation could not be saved.");
    void this.#store.watch(id, { read: false });
  }

  /**
   * Keeps `messages` (the user's message and the reply) that the route could not store because
   * the API was away: into the local copy now, and to the server, once, when it is back.
   */
  async keep(id: string, messages: UIMessage[], { interrupted }: { interrupted: boolean }): Promise<void> {
    const known = new Set((this.#store.cachedConversation(id)?.messages ?? []).map((message) => message.id));
    // Handed to the store together, in order: each goes into the local copy and the queue at
    // once, so a reload right after finds the whole turn.
    const writes = messages
      .filter((message) => !known.has(message.id))
      .map((message) => {
        // The route's word on storing is for this page only.
        const { stored: _stored, ...metadata } = (message.metadata ?? {}) as Record<string, unknown>;
        const input = { ...fromUIMessage({ ...message, metadata }), streaming: false };
        const stopped = interrupted && message.role === "assistant";
        return this.#guard(
          this.#store.addMessage(id, stopped ? { ...input, interrupted: true } : input),
          "A message could not be saved on this device.",
        );
      });
    await Promise.all(writes);
  }

  /** Reads `id` again after a reply the route stored, so the list and the local copy hold it. */
  async refresh(id: string): Promise<void> {
    await this.#guard(this.#store.getConversation(id), "This conversation could not be read again.");
  }

  /**
   * The page of `id`'s messages before `before` (a `nextCursor`), oldest first, with the
   * cursor of the page before it (null at the first message).
   */
  async older(id: string, before: string): Promise<{ messages: ChatMessage[]; nextCursor: string | null }> {
    const answer = await this.#client.getConversation(id, { before, limit: OLDER_PAGE });
    if (answer.notModified) return { messages: [], nextCursor: null };
    return { messages: answer.data.messages, nextCursor: answer.data.nextCursor };
  }

  /** Renames a conversation. */
  async rename(id: string, title: string): Promise<void> {
    const trimmed = title.trim();
    if (trimmed === "") return;
    // The store's copy as the base, so the save it plans is the title alone.
    const conversation = this.#store.cachedConversation(id) ?? (await this.#store.getConversation(id));
    if (conversation === null) return;
    await this.#guard(
      this.#store.saveConversation({ ...conversation, title: trimmed, updatedAt: new Date() }),
      "The new title could not be saved.",
    );
  }

  /** Deletes a conversation (on every device, at their next sync). */
  async remove(id: string): Promise<void> {
    if (this.#state.current?.id === id) await this.open(null);
    await this.#guard(this.#store.deleteConversation(id), "The conversation could not be deleted.");
  }

  // --- Wiring -------------------------------------------------------------------------------

  #wire(): void {
    this.#store.subscribe((snapshot) => this.#publish(snapshot));
    this.#store.on("status", ({ online }) => {
      // Back: the store is sending its queue; then show what the server holds.
      if (online && !this.#state.online) void this.#catchUp();
    });
    // The developer's reason goes to the console; the page words the state (ConnectionBanner).
    this.#store.on("connection", (connection) => {
      if (connection.state === "online") console.info("chat-store: online");
      else console.warn(`chat-store: ${connection.state} (${connection.code})`);
    });
    this.#store.on("notice", (notice) => {
      console.warn(`chat-store: ${notice.kind} on ${notice.conversationId}: ${notice.code}: ${notice.detail}`);
      this.#set({ notices: [...this.#session.notices, notice] });
    });
  }

  // --- Catching up ------------------------------------------------------------------------

  /** Online again: the queue goes first (the store sends it before any read), then a fresh list. */
  async #catchUp(): Promise<void> {
    if (this.#catchingUp || !this.#session.ready) return;
    this.#catchingUp = true;
    try {
      await this.#store.getAllConversations();
      const current = this.#state.current;
      if (current !== null) await this.#store.getConversation(current.id);
    } catch (error) {
      this.#fail("Your conversations could not be read again.", error);
    } finally {
      this.#catchingUp = false;
    }
  }

  /**
   * Moves the old history once; its entries that could not be moved are told until the user
   * dismisses the notice (the client keeps the report with the migration's progress).
   */
  async #migrate(): Promise<string | null> {
    if (this.#storage.getItem(LEGACY_KEY) === null) return null;
    try {
      const report = await migrateFromLocalStorage({ client: this.#client, storage: this.#storage });
      for (const entry of report.notMoved) {
        console.warn(`chat-store: old conversation #${entry.position} not moved: ${entry.code}: ${entry.detail}`);
      }
      this.#set({ migration: migrationNotice(this.#storage) });
      if (!report.done) return null;
      const current = readJson(this.#storage, LEGACY_CURRENT_KEY);
      return typeof current === "string" ? current : null;
    } catch (error) {
      // Offline at first load: the migration resumes on a later load.
      if (!isUnreachable(error)) this.#fail("Your old conversations could not be moved yet; they will be tried again.", error);
      return null;
    }
  }

  async #guard(work: Promise<unknown>, words: string): Promise<void> {
    try {
      await work;
    } catch (error) {
      this.#fail(words, error);
    }
  }

  /** `words` for the page, the error for the developer's console. */
  #fail(words: string, error: unknown): void {
    if (error instanceof ChatStoreError) console.error(`chat-store: ${error.code}: ${error.detail}`, error);
    else console.error("chat-store:", error);
    this.#set({ problem: words });
  }

  // --- State --------------------------------------------------------------------------------

  #set(patch: Partial<SessionState>): void {
    this.#session = { ...this.#session, ...patch };
    this.#publish(this.#store.getSnapshot());
  }

  #publish(snapshot: StoreSnapshot): void {
    this.#state = this.#compose(snapshot);
    this.#events.emit("state", this.#state);
  }

  /** The store's snapshot as the UI reads it, with what the session adds. */
  #compose({ conversations, watched, online, connection, queued }: StoreSnapshot): ChatState {
    return { ...this.#session, conversations, current: watched, online, connection, queued };
  }
}

// --- Helpers ----------------------------------------------------------------------------------

/** The page's one session per set of options, made on first use in the browser. */
let pageSession: { key: string; session: ChatSession } | undefined;

/**
 * The page's session: the same one for every mount of the page (React strict mode mounts twice),
 * so one page load loads once and issues one token; new options (never, in this app, without a
 * new page load) dispose the old one.
 */
export function sessionFor(options: Omit<ChatSessionOptions, "storage">): ChatSession {
  const key = JSON.stringify([options.apiUrl, options.syncIntervalMs, options.followIntervalMs, options.pushUrl]);
  if (pageSession?.key !== key) {
    pageSession?.session.dispose();
    pageSession = { key, session: new ChatSession(options) };
  }
  return pageSession.session;
}

/** A new id for a conversation or message, as the API takes them. */
export function newId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

function fail(message: string): never {
  throw new Error(message);
}
