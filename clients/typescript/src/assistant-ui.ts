/**
 * `@chat-store/client/assistant-ui`: the API as assistant-ui's storage (`@assistant-ui/react`
 * 0.15): a `RemoteThreadListAdapter` whose threads are the user's conversations, and a
 * `ThreadHistoryAdapter` whose messages are a conversation's, so `useRemoteThreadListRuntime`
 * keeps its threads here. With a {@link SyncEngine}, the adapter tells its subscribers when
 * another device changed the list, and the app reloads the runtime's thread list
 * (`runtime.threads.reload()`): assistant-ui's adapter has no subscription of its own.
 *
 * The API keeps a conversation's messages as one line, oldest first: a thread loads as that
 * line (each message's parent the one before it), and an append adds to its end whatever its
 * `parentId`. Branches (an edited message, a regenerated reply) are not kept as branches.
 */
import type {
  AssistantClient,
  ExportedMessageRepository,
  ExportedMessageRepositoryItem,
  GenericThreadHistoryAdapter,
  MessageFormatAdapter,
  MessageFormatItem,
  MessageFormatRepository,
  RemoteThreadListAdapter,
  RuntimeAdapters,
  ThreadHistoryAdapter,
  ThreadMessage,
} from "@assistant-ui/react";
import type { UIMessage } from "ai";

import { fromUIMessage, toUIMessage } from "./ai-sdk.js";
import type { StoredMessage } from "./ai-sdk.js";
import type { ChatStoreClient } from "./client.js";
import { ChatStoreError } from "./errors.js";
import type { SyncEngine } from "./sync.js";
import { defaultTitle } from "./title.js";
import type { ConversationSummary } from "./types.js";

// The adapter's own types name what its methods take and answer: `@assistant-ui/react` exports
// the adapter's type but not these.
/** A page of threads, as `list` answers it. */
type RemoteThreadListResponse = Awaited<ReturnType<RemoteThreadListAdapter["list"]>>;
/** A thread's metadata, as `fetch` answers it and `list` holds it. */
type RemoteThreadMetadata = Awaited<ReturnType<RemoteThreadListAdapter["fetch"]>>;
/** What `initialize` answers. */
type RemoteThreadInitializeResponse = Awaited<ReturnType<RemoteThreadListAdapter["initialize"]>>;
/** What `generateTitle` answers: assistant-ui's `AssistantStream`, named through the adapter's own type. */
type TitleStream = Awaited<ReturnType<RemoteThreadListAdapter["generateTitle"]>>;
/** One chunk of an `AssistantStream`. */
type TitleChunk = TitleStream extends ReadableStream<infer C> ? C : never;
/** A part of an assistant's message, as assistant-ui shows it. */
type AssistantPart = Extract<ThreadMessage, { role: "assistant" }>["content"][number];
/** A part of a user's message, as assistant-ui shows it. */
type UserPart = Extract<ThreadMessage, { role: "user" }>["content"][number];
/** A tool call's arguments, as assistant-ui holds them. */
type ToolArgs = Extract<AssistantPart, { type: "tool-call" }>["args"];
/** A part of a `UIMessage`. */
type UIPart = UIMessage["parts"][number];

/** Options of {@link ChatStoreThreadListAdapter}. */
export interface ChatStoreThreadListOptions {
  /**
   * The sync engine whose change feed says when another device changed the list; the adapter
   * listens to it and tells {@link ChatStoreThreadListAdapter.subscribe}'s listeners. The app
   * starts and stops it (`engine.start()` once mounted, `engine.stop()` on unmount).
   */
  sync?: SyncEngine;
  /** Conversations a `list` request asks for (1-100). Default 100, the API's largest page. */
  pageSize?: number;
  /**
   * `useAui` from `@assistant-ui/react`, the app's copy of it: with it, the adapter gives each
   * thread a {@link ChatStoreHistoryAdapter} (`unstable_useAdapters`). This module imports
   * nothing of assistant-ui or React at run time, so an app never bundles a second copy of
   * either (their contexts would not meet); it takes the one hook it needs from the app.
   */
  useAui?: () => AssistantClient;
}

/**
 * assistant-ui's `RemoteThreadListAdapter` over the API: a thread is a conversation, its
 * `remoteId` the conversation's id, archived or not as the API keeps it.
 *
 * - `list` reads a page of conversations, archived ones included (`archived=any`), most
 *   recently updated first; `after` is the API's cursor.
 * - `initialize` sends nothing: the API creates a conversation with its first message (the
 *   history adapter's first `append`) and titles it by its first user message.
 * - `rename`, `archive`, `unarchive` are one `PATCH` each; `delete` one `DELETE` (a thread
 *   already gone counts as deleted).
 * - `generateTitle` streams the title the API gives a conversation by its first user message
 *   ({@link defaultTitle}, the server's rule): no request, no model.
 * - With `useAui`, `unstable_useAdapters` gives each thread a {@link ChatStoreHistoryAdapter}
 *   over its conversation, so the runtime needs no other wiring.
 *
 * @example
 * ```tsx
 * const sync = new SyncEngine({ client });
 * const adapter = new ChatStoreThreadListAdapter(client, { sync, useAui }); // stable: make it once
 * const runtime = useRemoteThreadListRuntime({ runtimeHook: () => useLocalRuntime(model), adapter });
 * useEffect(() => {
 *   sync.start();
 *   const unsubscribe = adapter.subscribe(() => void runtime.threads.reload());
 *   return () => (unsubscribe(), sync.stop());
 * }, [runtime]);
 * ```
 */
export class ChatStoreThreadListAdapter implements RemoteThreadListAdapter {
  readonly #client: ChatStoreClient;
  readonly #pageSize: number;
  readonly #listeners = new Set<() => void>();
  readonly #unsubscribeSync: () => void;
  #notifying = false;
  /**
   * With `useAui`: gives each mounted thread a {@link ChatStoreHistoryAdapter} over its
   * conversation. A property, not a method: assistant-ui calls it as a React hook, without `this`.
   */
  readonly unstable_useAdapters: (() => RuntimeAdapters) | undefined;

  constructor(client: ChatStoreClient, options: ChatStoreThreadListOptions = {}) {
    this.#client = client;
    this.#pageSize = options.pageSize ?? 100;
    this.unstable_useAdapters = options.useAui && useChatStoreAdapters(client, options.useAui);
    const changed = (): void => this.#changed();
    const sync = options.sync;
    const stops = sync ? [sync.on("upsert", changed), sync.on("tombstone", changed), sync.on("reset", changed)] : [];
    this.#unsubscribeSync = () => stops.forEach((stop) => stop());
  }

  /**
   * Calls `listener` once the sync engine has applied a page of the change feed that changed
   * the list (a conversation created, renamed, archived, given a message or deleted on any
   * device), or listed anew; several changes of one page call it once. Returns the function
   * that unsubscribes. What to do then: `runtime.threads.reload()`.
   */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Stops listening to the sync engine (the engine itself keeps running). */
  dispose(): void {
    this.#unsubscribeSync();
    this.#listeners.clear();
  }

  async list(params: { after?: string | undefined } = {}): Promise<RemoteThreadListResponse> {
    const answer = await this.#client.listConversations({
      archived: "any",
      limit: this.#pageSize,
      ...(params.after !== undefined && { cursor: params.after }),
    });
    // No If-None-Match was sent, so the answer is never a 304.
    if (answer.notModified) return { threads: [] };
    const { conversations, nextCursor } = answer.data;
    return { threads: conversations.map(threadOf), ...(nextCursor !== null && { nextCursor }) };
  }

  async initialize(threadId: string): Promise<RemoteThreadInitializeResponse> {
    return { remoteId: threadId };
  }

  async rename(remoteId: string, newTitle: string): Promise<void> {
    await this.#client.updateConversation(remoteId, { title: newTitle });
  }

  async archive(remoteId: string): Promise<void> {
    await this.#client.updateConversation(remoteId, { archived: true });
  }

  async unarchive(remoteId: string): Promise<void> {
    await this.#client.updateConversation(remoteId, { archived: false });
  }

  async delete(remoteId: string): Promise<void> {
    try {
      await this.#client.deleteConversation(remoteId);
    } catch (error) {
      // assistant-ui may delete twice (a retry, another tab): gone is what it asked for.
      if (!(error instanceof ChatStoreError && error.code === "not_found")) throw error;
    }
  }

  async generateTitle(_remoteId: string, messages: readonly ThreadMessage[]): Promise<TitleStream> {
    const first = messages.find((message) => message.role === "user");
    return titleStream(defaultTitle(first === undefined ? "" : textOf(first)));
  }

  async fetch(threadId: string): Promise<RemoteThreadMetadata> {
    const answer = await this.#client.getConversation(threadId, { limit: 1 });
    if (answer.notModified) throw new Error("unreachable: no If-None-Match was sent");
    return threadOf(answer.data);
  }

  /** Coalesces the changes of one feed page (told one by one, synchronously) into one call. */
  #changed(): void {
    if (this.#notifying) return;
    this.#notifying = true;
    queueMicrotask(() => {
      this.#notifying = false;
      for (const listener of [...this.#listeners]) listener();
    });
  }
}

/**
 * The hook `unstable_useAdapters` is: a {@link ChatStoreHistoryAdapter} for the thread the
 * hook runs in, its item resolved at each call (assistant-ui's advice), one per assistant
 * client (assistant-ui asks that the answer be memoized; one hook call, so no `useMemo`).
 */
function useChatStoreAdapters(client: ChatStoreClient, useAui: () => AssistantClient): () => RuntimeAdapters {
  const made = new WeakMap<AssistantClient, RuntimeAdapters>();
  return function useAdapters(): RuntimeAdapters {
    const aui = useAui();
    let adapters = made.get(aui);
    if (adapters === undefined) {
      adapters = { history: new ChatStoreHistoryAdapter(client, () => aui.threadListItem()) };
      made.set(aui, adapters);
    }
    return adapters;
  };
}

/**
 * The thread a history adapter reads and writes: assistant-ui's `threadListItem` (its state's
 * `remoteId`, undefined until the thread is initialized, and `initialize`, which creates it).
 */
export interface HistoryThread {
  getState(): { readonly remoteId?: string | undefined };
  initialize(): Promise<{ remoteId: string }>;
}

/** Options of {@link ChatStoreHistoryAdapter}. */
export interface ChatStoreHistoryOptions {
  /** Messages per request while loading (1-500). Default: the API's (50). */
  pageSize?: number;
}

/**
 * assistant-ui's `ThreadHistoryAdapter` over one conversation's messages.
 *
 * - `load` reads every message, oldest first, as a line of `ThreadMessage`s: each message's
 *   parts as its `UIMessage` has them ({@link toUIMessage}), mapped to assistant-ui's (text,
 *   reasoning, tool calls, sources, files and images, `data-*`), its `createdAt` the stored
 *   `timestamp`; a thread not written yet is empty.
 * - `append` initializes the thread when it is new and appends the message as a `UIMessage`
 *   ({@link fromUIMessage}); the same message again stores nothing. A part the API cannot keep
 *   (audio, generative UI) throws rather than being dropped.
 * - `withFormat` serves runtimes that keep their own message type: the AI SDK's
 *   (`useChatRuntime`, format `ai-sdk/…`) is stored as the `UIMessage` it is. Other formats
 *   throw: the API keeps `UIMessage`s, not opaque payloads.
 */
export class ChatStoreHistoryAdapter implements ThreadHistoryAdapter {
  readonly #client: ChatStoreClient;
  readonly #thread: () => HistoryThread;
  readonly #pageSize: number | undefined;
  /**
   * The appends sent so far, settled or not. assistant-ui hands over a turn's user message and
   * its reply without waiting for the first to be stored; the API keeps messages in the order
   * they arrive, so each append waits for the one before it.
   */
  #appending: Promise<unknown> = Promise.resolve();

  /**
   * @param thread the thread to read and write, asked at every call (assistant-ui's
   *   `() => aui.threadListItem()`), or the conversation's id when it is known and exists.
   */
  constructor(client: ChatStoreClient, thread: (() => HistoryThread) | string, options: ChatStoreHistoryOptions = {}) {
    this.#client = client;
    this.#thread = typeof thread === "string" ? () => knownThread(thread) : thread;
    this.#pageSize = options.pageSize;
  }

  async load(): Promise<ExportedMessageRepository> {
    const messages = await this.#load();
    let parentId: string | null = null;
    const items = messages.map((message) => {
      const item = { parentId, message: threadMessageOf(toUIMessage(message), dateOf(message.timestamp)) };
      parentId = message.id;
      return item;
    });
    return { headId: parentId, messages: items };
  }

  async append(item: ExportedMessageRepositoryItem): Promise<void> {
    // Mapped before queueing: a part the API cannot keep throws now, not behind other appends.
    const message = fromUIMessage(uiMessageOf(item.message), { timestamp: item.message.createdAt });
    await this.#inOrder(async () => {
      const { remoteId } = await this.#thread().initialize();
      await this.#client.appendMessage(remoteId, message);
    });
  }

  /** Runs `task` once every append before it has settled. */
  #inOrder(task: () => Promise<void>): Promise<void> {
    const run = this.#appending.then(task);
    this.#appending = run.catch(() => undefined);
    return run;
  }

  withFormat<TMessage, TStorageFormat extends Record<string, unknown>>(
    format: MessageFormatAdapter<TMessage, TStorageFormat>,
  ): GenericThreadHistoryAdapter<TMessage> {
    if (!format.format.startsWith("ai-sdk/")) {
      throw new TypeError(`chat-store keeps UIMessages: the message format "${format.format}" is not one`);
    }
    return {
      load: async (): Promise<MessageFormatRepository<TMessage>> => {
        const messages = await this.#load();
        let parentId: string | null = null;
        const items = messages.map((stored) => {
          // The AI SDK's format stores a UIMessage without its id, and decodes it back with it.
          const { id, ...content } = toUIMessage(stored);
          const item = format.decode({ id, parent_id: parentId, format: format.format, content: content as unknown as TStorageFormat });
          parentId = id;
          return item;
        });
        return { headId: parentId, messages: items };
      },
      append: async (item: MessageFormatItem<TMessage>): Promise<void> => {
        const message = { ...format.encode(item), id: format.getId(item.message) } as unknown as UIMessage;
        const body = fromUIMessage(message);
        await this.#inOrder(async () => {
          const { remoteId } = await this.#thread().initialize();
          await this.#client.appendMessage(remoteId, body);
        });
      },
    };
  }

  /**
   * The thread's messages, oldest first: the newest page, then the older ones by the API's
   * cursor. None before the thread is initialized, nor while its conversation is not written.
   */
  async #load(): Promise<StoredMessage[]> {
    const remoteId = this.#thread().getState().remoteId;
    if (remoteId === undefined) return [];
    const pages: StoredMessage[][] = [];
    let before: string | undefined;
    do {
      let answer;
      try {
        answer = await this.#client.getConversation(remoteId, { limit: this.#pageSize, before });
      } catch (error) {
        if (error instanceof ChatStoreError && error.code === "not_found") return [];
        throw error;
      }
      // No If-None-Match was sent, so the answer is never a 304.
      if (answer.notModified) return [];
      pages.push(answer.data.messages);
      before = answer.data.nextCursor ?? undefined;
    } while (before !== undefined);
    return pages.reverse().flat();
  }
}

/** A thread whose conversation is known to exist: nothing to initialize. */
function knownThread(remoteId: string): HistoryThread {
  return { getState: () => ({ remoteId }), initialize: async () => ({ remoteId }) };
}

/** A conversation summary as assistant-ui's thread metadata. */
function threadOf(summary: Pick<ConversationSummary, "id" | "title" | "archived" | "updatedAt">): RemoteThreadMetadata {
  return {
    status: summary.archived === true ? "archived" : "regular",
    remoteId: summary.id,
    title: summary.title,
    lastMessageAt: summary.updatedAt,
  };
}

/** `title` as the one text part of an `AssistantStream`, as assistant-ui reads a generated title. */
function titleStream(title: string): TitleStream {
  const chunks: TitleChunk[] = [
    { type: "part-start", path: [], part: { type: "text" } },
    { type: "text-delta", path: [0], textDelta: title },
    { type: "part-finish", path: [0] },
  ];
  return new ReadableStream<TitleChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

function textOf(message: ThreadMessage): string {
  return message.content.map((part) => (part.type === "text" ? part.text : "")).join("");
}

// --- ThreadMessage <-> UIMessage --------------------------------------------------------------

/**
 * A stored message (as its `UIMessage`) as assistant-ui shows it: the `ThreadMessage`
 * `fromThreadMessageLike` would make of it (a unit test holds the two to the same output).
 */
function threadMessageOf(message: UIMessage, createdAt: Date): ThreadMessage {
  const custom = isObject(message.metadata) ? message.metadata : {};
  const parts = message.parts.flatMap(threadPartsOf);
  switch (message.role) {
    case "assistant": {
      const streaming = message.parts.some((part) => part.type === "text" && part.state === "streaming");
      return {
        id: message.id,
        createdAt,
        role: "assistant",
        content: parts,
        // A reply another device is still writing shows as running, not as finished.
        status: streaming ? { type: "running" } : { type: "complete", reason: "unknown" },
        metadata: { unstable_state: null, unstable_annotations: [], unstable_data: [], custom, steps: [] },
      };
    }
    case "user":
      return { id: message.id, createdAt, role: "user", content: parts.map(userPart), attachments: [], metadata: { custom } };
    case "system": {
      const [text, ...rest] = parts;
      if (text?.type !== "text" || rest.length > 0) throw new TypeError("a system message is one text part in assistant-ui");
      return { id: message.id, createdAt, role: "system", content: [text], metadata: { custom } };
    }
  }
}

/** A part of a user's message, which in assistant-ui has no reasoning, sources or tool calls. */
function userPart(part: AssistantPart): UserPart {
  if (part.type === "text" || part.type === "image" || part.type === "file" || part.type === "data") return part;
  throw new TypeError(`assistant-ui shows no "${part.type}" part in a user's message`);
}

function threadPartsOf(part: UIPart): AssistantPart[] {
  switch (part.type) {
    case "text":
      // assistant-ui shows no empty text part (fromThreadMessageLike drops one).
      return part.text.trim() === "" ? [] : [{ type: "text", text: part.text }];
    case "reasoning":
      return part.text.trim() === "" ? [] : [{ type: "reasoning", text: part.text }];
    case "source-url":
      return [{ type: "source", sourceType: "url", id: part.sourceId, url: part.url, ...(part.title !== undefined && { title: part.title }) }];
    case "source-document":
      return [
        {
          type: "source",
          sourceType: "document",
          id: part.sourceId,
          title: part.title,
          mediaType: part.mediaType,
          ...(part.filename !== undefined && { filename: part.filename }),
        },
      ];
    case "file":
      return part.mediaType.startsWith("image/")
        ? [{ type: "image", image: part.url, ...(part.filename !== undefined && { filename: part.filename }) }]
        : [{ type: "file", data: part.url, mimeType: part.mediaType, ...(part.filename !== undefined && { filename: part.filename }) }];
    case "dynamic-tool":
      return [toolCallOf(part.toolCallId, part.toolName, part)];
    case "step-start":
      return []; // a boundary between steps: nothing to show
    default:
      if (part.type.startsWith("data-")) {
        const data = part as { type: `data-${string}`; id?: string; data: unknown };
        return [{ type: "data", name: data.type.slice("data-".length), data: data.data, ...(data.id !== undefined && { id: data.id }) }];
      }
      if (part.type.startsWith("tool-")) {
        const tool = part as Extract<UIPart, { toolCallId: string }>;
        return [toolCallOf(tool.toolCallId, part.type.slice("tool-".length), tool)];
      }
      return [];
  }
}

/** A tool part of a `UIMessage` (static or dynamic) as assistant-ui's tool call. */
function toolCallOf(
  toolCallId: string,
  toolName: string,
  part: { state: string; input?: unknown; output?: unknown; errorText?: string },
): AssistantPart {
  // The API keeps a tool's input as JSON; assistant-ui holds arguments that are an object.
  const args = (isObject(part.input) ? part.input : {}) as ToolArgs;
  const result =
    part.state === "output-available" ? { result: part.output } : part.state === "output-error" ? { result: part.errorText, isError: true } : {};
  return { type: "tool-call", toolCallId, toolName, args, argsText: JSON.stringify(args), ...result };
}

/** What assistant-ui shows as a `UIMessage` the API stores. */
function uiMessageOf(message: ThreadMessage): UIMessage {
  const attachments = message.role === "user" ? message.attachments.flatMap((attachment) => attachment.content) : [];
  const parts = [...message.content, ...attachments].map(uiPartOf);
  const custom = message.metadata.custom;
  const streaming = message.role === "assistant" && message.status.type === "running";
  if (streaming) {
    for (const [index, part] of parts.entries()) if (part.type === "text") parts[index] = { ...part, state: "streaming" };
  }
  return { id: message.id, role: message.role, parts, ...(Object.keys(custom).length > 0 && { metadata: custom }) };
}

function uiPartOf(part: ThreadMessage["content"][number]): UIPart {
  switch (part.type) {
    case "text":
      return { type: "text", text: part.text };
    case "reasoning":
      return { type: "reasoning", text: part.text };
    case "source":
      return part.sourceType === "url"
        ? { type: "source-url", sourceId: part.id, url: part.url, ...(part.title !== undefined && { title: part.title }) }
        : {
            type: "source-document",
            sourceId: part.id,
            title: part.title,
            mediaType: part.mediaType,
            ...(part.filename !== undefined && { filename: part.filename }),
          };
    case "image":
      return { type: "file", mediaType: mediaTypeOf(part.image) ?? "image/*", url: part.image, ...(part.filename !== undefined && { filename: part.filename }) };
    case "file":
      return { type: "file", mediaType: part.mimeType, url: part.data, ...(part.filename !== undefined && { filename: part.filename }) };
    case "data":
      return { type: `data-${part.name}`, data: part.data, ...(part.id !== undefined && { id: part.id }) } as UIPart;
    case "tool-call": {
      const call = { type: "dynamic-tool", toolName: part.toolName, toolCallId: part.toolCallId, input: part.args } as const;
      if (part.result === undefined) return { ...call, state: "input-available" };
      if (part.isError === true) return { ...call, state: "output-error", errorText: String(part.result) };
      return { ...call, state: "output-available", output: part.result };
    }
    default:
      // Audio, generative UI: the API has no part for them, and dropping one would lose it.
      throw new TypeError(`chat-store cannot keep a message part of type "${part.type}"`);
  }
}

/** The media type of a `data:` URL, else undefined. */
function mediaTypeOf(url: string): string | undefined {
  return /^data:([^;,]+)[;,]/.exec(url)?.[1];
}

function dateOf(timestamp: Date | string): Date {
  return typeof timestamp === "string" ? new Date(timestamp) : timestamp;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
