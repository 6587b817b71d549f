/**
 * The app's data layer: everything the UI does with its conversations goes through one
 * {@link ChatSession}, which wires `@chat-store/client`'s pieces together:
 *
 * - `ChatStoreClient` with an anonymous token kept in localStorage (key {@link TOKEN_KEY});
 * - `migrateFromLocalStorage` on first load, moving the old localStorage history
 *   (`conversations`, `currentConversationId`) to the server once;
 * - `HybridConversationStore`: server first, with a local copy and a write queue, so the app
 *   keeps working while the API is unreachable and catches up when it returns. It shares the
 *   client with the sync engine, so the engine's polls tell it when the API leaves (the
 *   banner) and when it is back (the queue goes at once);
 * - `SyncEngine`: other devices' changes (the change feed every `syncIntervalMs`) and their
 *   replies as they stream (`followIntervalMs`). It is handed what the store already read, so
 *   nothing is read twice: it starts from the cursor of the store's list (a first load lists
 *   once) and watches a conversation from the store's read of it (opening one is one GET);
 * - `HybridConversationStore.streamReply`: this device's replies, sent as batched deltas other
 *   devices can follow, or queued whole while the API is away.
 *
 * The UI only renders the state this class emits (`state`) and calls its verbs (`open`,
 * `send`, `rename`, `remove`).
 */
import {
  ChatStoreClient,
  ChatStoreError,
  Emitter,
  HybridConversationStore,
  SyncEngine,
  browserStorage,
  defaultTitle,
  isUnreachable,
  migrateFromLocalStorage,
  readJson,
  writeJson,
} from "@chat-store/client";
import type { ChatMessage, Conversation, ConversationSummary, ReplyEvent, StorageLike } from "@chat-store/client";
import { fakeReply } from "./fake-reply";

export type { ChatMessage, Conversation, ConversationSummary, ReplyEvent };
/** A tool step as a message holds it. */
export type ToolExecution = NonNullable<ChatMessage["toolExecutions"]>[number];

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

/** What the page gives the session; all of it decided at request time by the server page. */
export interface ChatSessionOptions {
  /** The API's origin, without `/api`. */
  apiUrl: string;
  /** How often to ask the change feed for other devices' changes (ms). */
  syncIntervalMs: number;
  /** How often to poll a reply another device is streaming (ms). */
  followIntervalMs: number;
  /** The fake model's pace (ms per token). */
  tokenDelayMs: number;
  /** Defaults to `localStorage`. */
  storage?: StorageLike;
}

/** Everything the UI shows. */
export interface ChatState {
  /** False until the first list is shown (from the server or the local copy). */
  ready: boolean;
  conversations: ConversationSummary[];
  /** The open conversation, with its messages; `null` for a new chat. */
  current: Conversation | null;
  /** False while the API is unreachable: the offline banner. */
  online: boolean;
  /** Writes made offline, waiting for the API. */
  queued: number;
  /** The reply this device is producing, if any. */
  replying: boolean;
  /** The last thing that went wrong, for a small notice. */
  error: string | null;
}

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
  readonly #sync: SyncEngine;
  readonly #unsubscribe: (() => void)[] = [];
  #catchingUp = false;
  #state: ChatState = {
    ready: false,
    conversations: [],
    current: null,
    online: true,
    queued: 0,
    replying: false,
    error: null,
  };

  constructor(options: ChatSessionOptions) {
    this.#options = options;
    this.#storage = options.storage ?? browserStorage() ?? fail("localStorage is not available");
    this.#client = new ChatStoreClient({
      baseUrl: options.apiUrl,
      getToken: () => this.#token(),
    });
    // Every request on the client tells the store whether the API answered: the sync engine's
    // polls notice the API's return within one interval, and the store sends its queue then,
    // without waiting for its breaker's next probe.
    this.#store = new HybridConversationStore(this.#client, { storage: this.#storage });
    this.#sync = new SyncEngine({
      client: this.#client,
      storage: this.#storage,
      intervalMs: options.syncIntervalMs,
      followIntervalMs: options.followIntervalMs,
      // Other devices' changes go into the local copy first, so a reload offline shows them.
      onChange: (change) => this.#store.applyChange(change),
    });
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
    this.#set({ ready: true, conversations });
    const open = legacyCurrent ?? this.#storage.getItem(OPEN_KEY);
    if (open !== null && conversations.some((c) => c.id === open)) await this.open(open);
    // The list just shown came with its changesCursor: with none of its own yet (a first
    // load), the engine follows the feed from there instead of reading the list again.
    this.#sync.start({ cursor: this.#store.changesCursor });
  }

  /** Stops syncing and listening; the session is done. */
  stop(): void {
    this.#sync.stop();
    this.#store.dispose();
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  /** Opens a conversation (`null`: a new chat). */
  async open(id: string | null): Promise<void> {
    if (id === null) {
      this.#storage.removeItem(OPEN_KEY);
      this.#sync.watch(null);
      this.#set({ current: null });
      return;
    }
    const conversation = await this.#store.getConversation(id);
    if (conversation === null) {
      this.#set({ conversations: this.#state.conversations.filter((c) => c.id !== id) });
      return;
    }
    this.#storage.setItem(OPEN_KEY, id);
    this.#set({ current: conversation });
    // Read from the server just now: the engine takes that read as its own (no second read of
    // the conversation) and follows a reply streaming at its end. Answered from the copy
    // (offline), the engine reads it itself when it can.
    const etag = this.#store.online ? this.#store.etagOf(id) : undefined;
    this.#sync.watch(id, etag === undefined ? undefined : { etag, conversation });
  }

  /** Sends `text` in the open conversation (a new one when none is open), then the reply. */
  async send(text: string): Promise<void> {
    const content = text.trim();
    if (content === "" || this.#state.replying) return;
    const now = new Date();
    const userMessage: ChatMessage = { id: newId("msg"), type: "user", content, timestamp: now };
    let conversation = this.#state.current;
    let saved: Promise<void>;
    if (conversation === null) {
      conversation = {
        id: newId("conv"),
        title: defaultTitle(content),
        messages: [userMessage],
        createdAt: now,
        updatedAt: now,
        totalTokens: 0,
      };
      this.#storage.setItem(OPEN_KEY, conversation.id);
      this.#showConversation(conversation);
      saved = this.#guard(this.#store.saveConversation(conversation));
    } else {
      conversation = { ...conversation, messages: [...conversation.messages, userMessage], updatedAt: now };
      this.#showConversation(conversation);
      saved = this.#guard(this.#store.addMessage(conversation.id, userMessage));
    }
    // The question is queued (and shown) already; the store sends it before the reply.
    await Promise.all([saved, this.#reply(conversation.id, content)]);
  }

  /** Renames a conversation. */
  async rename(id: string, title: string): Promise<void> {
    const trimmed = title.trim();
    if (trimmed === "") return;
    // The store's copy as the base, so the save it plans is the title alone.
    const conversation = this.#store.cachedConversation(id) ?? (await this.#store.getConversation(id));
    if (conversation === null) return;
    const renamed = { ...conversation, title: trimmed, updatedAt: new Date() };
    this.#showConversation(renamed, false);
    const current = this.#state.current;
    if (current?.id === id) this.#set({ current: { ...current, title: trimmed } });
    await this.#guard(this.#store.saveConversation(renamed));
  }

  /** Deletes a conversation (on every device, at their next sync). */
  async remove(id: string): Promise<void> {
    this.#forget(id);
    await this.#guard(this.#store.deleteConversation(id));
  }

  // --- The reply ----------------------------------------------------------------------------

  async #reply(conversationId: string, prompt: string): Promise<void> {
    const message: ChatMessage = {
      id: newId("msg"),
      type: "assistant",
      content: "",
      timestamp: new Date(),
      streaming: true,
    };
    this.#set({ replying: true });
    // This device shows its own reply as it makes it: no need to poll the server for it.
    this.#sync.watch(null);
    this.#patchMessage(conversationId, message, {});
    const source = fakeReply(prompt, { tokenDelayMs: this.#options.tokenDelayMs });
    try {
      // Online: streamed in deltas other devices can follow. Offline (or the API leaving
      // part-way): read to its end here and queued whole, replacing any part already sent.
      const result = await this.#store.streamReply(
        conversationId,
        { id: message.id, timestamp: message.timestamp },
        source,
        {
          // Every chunk and tool step shown as it comes, whether streamed or read offline.
          onUpdate: (reply) =>
            this.#patchMessage(conversationId, message, {
              content: reply.content,
              toolExecutions: reply.toolExecutions.map(shownTool),
            }),
        },
      );
      this.#patchMessage(conversationId, message, finalFields(result));
    } catch (error) {
      // Refused (the conversation was deleted on another device meanwhile): say so.
      this.#set({ error: describe(error) });
    } finally {
      this.#set({ replying: false });
      if (this.#state.current?.id === conversationId) this.#sync.watch(conversationId);
    }
  }

  // --- Wiring -------------------------------------------------------------------------------

  #wire(): void {
    this.#unsubscribe.push(
      this.#store.on("status", ({ online, queued }) => {
        const back = online && !this.#state.online;
        this.#set({ online, queued });
        // Back: the store is sending its queue; then show what the server holds.
        if (back) void this.#catchUp();
      }),
      this.#store.on("revert", ({ error }) => {
        this.#set({ error: describe(error) });
        void this.#store.getAllConversations().then((conversations) => this.#set({ conversations }));
      }),
      this.#sync.on("upsert", ({ summary }) => this.#upsertSummary(summary)),
      this.#sync.on("tombstone", ({ id }) => this.#forget(id)),
      this.#sync.on("reset", ({ summaries }) => this.#set({ conversations: sortSummaries(summaries) })),
      this.#sync.on("conversation", ({ conversation }) => {
        if (this.#state.current?.id === conversation.id && !this.#state.replying) {
          this.#set({ current: conversation });
        }
      }),
      this.#sync.on("message", (update) => {
        if (this.#state.replying) return; // our own reply: already shown as it is produced
        const current = this.#state.current;
        const existing = current?.messages.find((m) => m.id === update.messageId);
        if (current?.id !== update.conversationId || existing === undefined) return;
        this.#patchMessage(current.id, existing, {
          content: update.content,
          streaming: update.streaming,
          interrupted: update.interrupted,
          toolExecutions: update.toolExecutions,
        });
      }),
    );
  }

  // --- Catching up ------------------------------------------------------------------------

  /** Online again: the queue goes first (the store sends it before any read), then a fresh list. */
  async #catchUp(): Promise<void> {
    if (this.#catchingUp || !this.#state.ready) return;
    this.#catchingUp = true;
    try {
      const conversations = await this.#store.getAllConversations();
      this.#set({ conversations });
      const current = this.#state.current;
      if (current !== null && !this.#state.replying) {
        const fresh = await this.#store.getConversation(current.id);
        if (fresh !== null && this.#state.current?.id === current.id && !this.#state.replying) {
          this.#set({ current: fresh });
        }
      }
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

  #set(patch: Partial<ChatState>): void {
    this.#state = { ...this.#state, ...patch };
    this.#events.emit("state", this.#state);
  }

  /** Shows `conversation` as open (when `open`) and its summary first in the list. */
  #showConversation(conversation: Conversation, open = true): void {
    this.#upsertSummary({
      id: conversation.id,
      title: conversation.title,
      createdAt: conversation.createdAt,
      updatedAt: conversation.updatedAt,
      totalTokens: conversation.totalTokens,
      messageCount: conversation.messages.length,
    });
    if (open) this.#set({ current: conversation });
  }

  #upsertSummary(summary: ConversationSummary): void {
    const others = this.#state.conversations.filter((c) => c.id !== summary.id);
    this.#set({ conversations: sortSummaries([summary, ...others]) });
  }

  #forget(id: string): void {
    const current = this.#state.current?.id === id ? null : this.#state.current;
    if (current === null && this.#state.current !== null) {
      this.#storage.removeItem(OPEN_KEY);
      this.#sync.watch(null);
    }
    this.#set({ conversations: this.#state.conversations.filter((c) => c.id !== id), current });
  }

  /** Replaces (or adds) `message` in the open conversation with `fields` applied. */
  #patchMessage(conversationId: string, message: ChatMessage, fields: Partial<ChatMessage>): void {
    const current = this.#state.current;
    if (current?.id !== conversationId) return;
    const updated = { ...message, ...current.messages.find((m) => m.id === message.id), ...fields };
    const messages = current.messages.some((m) => m.id === message.id)
      ? current.messages.map((m) => (m.id === message.id ? updated : m))
      : [...current.messages, updated];
    this.#set({ current: { ...current, messages } });
  }
}

// --- Helpers ----------------------------------------------------------------------------------

/** The message fields a finished `streamReply` leaves (delivered or not). */
function finalFields(result: {
  content: string;
  toolExecutions?: ToolInput[];
  tokens?: ChatMessage["tokens"];
}): Partial<ChatMessage> {
  const tools = (result.toolExecutions ?? []).map(shownTool);
  return {
    content: result.content,
    streaming: false,
    ...(tools.length > 0 ? { toolExecutions: tools } : {}),
    ...(result.tokens ? { tokens: result.tokens } : {}),
  };
}

/** A tool step as a reply source gives it (`error` may be null). */
type ToolInput = Omit<ToolExecution, "error"> & { error?: string | null };

/** A tool step as a message holds it. */
function shownTool({ id, name, status, input, output, error }: ToolInput): ToolExecution {
  return { id, name, status, input, output, ...(error ? { error } : {}) };
}

function sortSummaries(summaries: ConversationSummary[]): ConversationSummary[] {
  return [...summaries].sort((a, b) => new Date(b.updatedAt).getTime() - new Date(a.updatedAt).getTime());
}

function newId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

function describe(error: unknown): string {
  if (error instanceof ChatStoreError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function fail(message: string): never {
  throw new Error(message);
}
