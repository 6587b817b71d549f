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
 * The UI renders the store's snapshot (the list, the open conversation, online, queued) with
 * the little this session adds (`ready`, `error`), and calls its verbs (`open`, `begin`, `keep`,
 * `refresh`, `older`, `rename`, `remove`). It keeps no list of its own.
 */
import {
  ChatStoreClient,
  ChatStoreError,
  Emitter,
  HybridConversationStore,
  browserStorage,
  defaultTitle,
  isUnreachable,
  migrateFromLocalStorage,
  readJson,
  writeJson,
} from "@chat-store/client";
import type {
  ChatMessage,
  Conversation,
  ConversationSummary,
  PushChannel,
  StorageLike,
  StoreSnapshot,
} from "@chat-store/client";
import { fromUIMessage } from "@chat-store/client/ai-sdk";
import type { UIMessage } from "ai";
import { pushChannel } from "./push";

export type { ChatMessage, Conversation, ConversationSummary };

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
  /** False while the API is unreachable: the offline banner. */
  online: boolean;
  /** Writes made offline, waiting for the API. */
  queued: number;
  /** The last thing that went wrong, for a small notice. */
  error: string | null;
}

/** What the session adds to the store's snapshot. */
type SessionState = Pick<ChatState, "ready" | "error">;

interface SessionEvents {
  state: ChatState;
}

interface StoredToken {
  token: string;
  expiresAt: string;
}

/** One user's chat on this device. Create it in an effect; `stop()` in its cleanup. */
export class ChatSession {
  readonly #events = new Emitter<SessionEvents>();
  readonly #options: ChatSessionOptions;
  readonly #storage: StorageLike;
  readonly #client: ChatStoreClient;
  readonly #store: HybridConversationStore;
  readonly #push: PushChannel | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  #catchingUp = false;
  #session: SessionState = { ready: false, error: null };
  #state: ChatState;

  constructor(options: ChatSessionOptions) {
    this.#options = options;
    this.#storage = options.storage ?? browserStorage() ?? fail("localStorage is not available");
    this.#client = new ChatStoreClient({
      baseUrl: options.apiUrl,
      getToken: () => this.#token(),
    });
    // One channel for the page: the store's engine syncs by it and the transport follows
    // replies by it (`push`), so neither polls while it is open.
    this.#push = pushChannel(options.pushUrl, this.#client);
    // The store owns the sync engine and shares the client with it: the engine's polls tell the
    // store when the API leaves (the banner) and when it is back (the queue goes at once).
    this.#store = new HybridConversationStore(this.#client, {
      storage: this.#storage,
      sync: { intervalMs: options.syncIntervalMs, followIntervalMs: options.followIntervalMs, push: this.#push },
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

  /** Migrates (once), shows the list and the last open conversation, starts syncing. */
  async start(): Promise<void> {
    this.#wire();
    const legacyCurrent = await this.#migrate();
    const conversations = await this.#store.getAllConversations();
    this.#set({ ready: true });
    const open = legacyCurrent ?? this.#storage.getItem(OPEN_KEY);
    if (open !== null && conversations.some((c) => c.id === open)) await this.open(open);
    // The list just read came with its changesCursor: the store's engine follows the feed
    // from there instead of reading the list again (and once more when the socket opens).
    this.#store.start();
    this.#push?.start();
  }

  /** Stops syncing and listening; the session is done. */
  stop(): void {
    this.#push?.stop();
    this.#store.dispose();
    for (const off of this.#unsubscribe.splice(0)) off();
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
    await this.#guard(this.#store.saveConversation(conversation));
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
        return this.#guard(this.#store.addMessage(id, stopped ? { ...input, interrupted: true } : input));
      });
    await Promise.all(writes);
  }

  /** Reads `id` again after a reply the route stored, so the list and the local copy hold it. */
  async refresh(id: string): Promise<void> {
    await this.#guard(this.#store.getConversation(id));
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
    await this.#guard(this.#store.saveConversation({ ...conversation, title: trimmed, updatedAt: new Date() }));
  }

  /** Deletes a conversation (on every device, at their next sync). */
  async remove(id: string): Promise<void> {
    if (this.#state.current?.id === id) await this.open(null);
    await this.#guard(this.#store.deleteConversation(id));
  }

  // --- Wiring -------------------------------------------------------------------------------

  #wire(): void {
    this.#unsubscribe.push(
      this.#store.subscribe((snapshot) => this.#publish(snapshot)),
      this.#store.on("status", ({ online }) => {
        // Back: the store is sending its queue; then show what the server holds.
        if (online && !this.#state.online) void this.#catchUp();
      }),
      this.#store.on("revert", ({ error }) => this.#set({ error: describe(error) })),
    );
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
      this.#set({ error: describe(error) });
    } finally {
      this.#catchingUp = false;
    }
  }

  async #migrate(): Promise<string | null> {
    if (this.#storage.getItem(LEGACY_KEY) === null) return null;
    try {
      const report = await migrateFromLocalStorage({ client: this.#client, storage: this.#storage });
      if (report.rejected.length > 0) {
        this.#set({ error: `${report.rejected.length} old conversation(s) could not be moved` });
      }
      if (!report.done) return null;
      const current = readJson(this.#storage, LEGACY_CURRENT_KEY);
      return typeof current === "string" ? current : null;
    } catch (error) {
      // Offline at first load: the migration resumes on a later load.
      if (!isUnreachable(error)) this.#set({ error: describe(error) });
      return null;
    }
  }

  async #token(): Promise<string> {
    const stored = readJson(this.#storage, TOKEN_KEY) as StoredToken | undefined;
    // A minute of margin: a token that expires mid-request is a 401.
    if (stored !== undefined && Date.parse(stored.expiresAt) - Date.now() > 60_000) return stored.token;
    const { data } = await this.#client.issueAnonymousToken();
    writeJson(this.#storage, TOKEN_KEY, { token: data.token, expiresAt: data.expiresAt.toISOString() });
    return data.token;
  }

  async #guard(work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (error) {
      this.#set({ error: describe(error) });
    }
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
  #compose({ conversations, watched, online, queued }: StoreSnapshot): ChatState {
    return { ...this.#session, conversations, current: watched, online, queued };
  }
}

// --- Helpers ----------------------------------------------------------------------------------

/** A new id for a conversation or message, as the API takes them. */
export function newId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

function describe(error: unknown): string {
  if (error instanceof ChatStoreError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function fail(message: string): never {
  throw new Error(message);
}
