/**
 * TEMPORARY: a minimal stand-in for the parts of `@chat-store/client` still being written
 * (HybridConversationStore, migrateFromLocalStorage, SyncEngine, streamReply), with the
 * signatures of the shared design, so the app and its browser tests can be built meanwhile.
 * Removed once they are in the package: `lib/chat.ts` then imports them from it.
 */
import { ChatStoreClient, ChatStoreError, Emitter, readJson, writeJson } from "@chat-store/client";
import type { Change, ConversationInput, ConversationSummary, MessageInput, MessagePatch, StorageLike } from "@chat-store/client";

export { ChatStoreClient, ChatStoreError, Emitter, browserStorage, readJson, writeJson } from "@chat-store/client";
export type { ConversationSummary, StorageLike } from "@chat-store/client";

import type { ConversationView, Message } from "@chat-store/client";
export type ChatMessage = Message;
export type Conversation = Omit<ConversationView, "messages" | "messageCount" | "nextCursor"> & {
  messages: ChatMessage[];
  messageCount?: number;
  nextCursor?: string | null;
};
export type ToolExecution = NonNullable<ChatMessage["toolExecutions"]>[number];
export type ReplyEvent =
  | { type: "text"; text: string }
  | ({ type: "tool" } & ToolExecution)
  | { type: "usage"; tokens: { input: number; output: number; total: number } };
export interface MigrationReport {
  imported: number;
  rejected: { id: string; code: string; detail: string }[];
  done: boolean;
}

const P = "chat-store:v1:";
const unreachable = (e: unknown): boolean => e instanceof ChatStoreError && e.retryable;

interface StoreEvents {
  change: { conversationIds: string[] };
  revert: { operation: string; conversationId: string; error: unknown };
  status: { online: boolean; queued: number };
}
type Op = { kind: "save"; c: ConversationInput } | { kind: "add"; id: string; m: MessageInput } | { kind: "delete"; id: string };

export class HybridConversationStore extends Emitter<StoreEvents> {
  #online = true;
  constructor(
    private readonly client: ChatStoreClient,
    private readonly options: { storage: StorageLike },
  ) {
    super();
  }
  get online(): boolean {
    return this.#online;
  }
  get #queue(): Op[] {
    return (readJson(this.options.storage, `${P}queue`) as Op[] | undefined) ?? [];
  }
  #setQueue(q: Op[]): void {
    writeJson(this.options.storage, `${P}queue`, q);
  }
  #status(online: boolean): void {
    this.#online = online;
    this.emit("status", { online, queued: this.#queue.length });
  }
  #summaries(): ConversationSummary[] {
    return (readJson(this.options.storage, `${P}summaries`) as ConversationSummary[] | undefined) ?? [];
  }
  async #call<T>(work: () => Promise<T>, offline: () => T): Promise<T> {
    try {
      const result = await work();
      if (!this.#online) {
        this.#status(true);
        await this.flush();
      }
      return result;
    } catch (e) {
      if (!unreachable(e)) throw e;
      this.#status(false);
      return offline();
    }
  }
  async flush(): Promise<void> {
    for (;;) {
      const q = this.#queue;
      const op = q[0];
      if (!op) break;
      if (op.kind === "save") await this.client.putConversation(op.c.id, op.c);
      else if (op.kind === "add") await this.client.appendMessage(op.id, op.m);
      else await this.client.deleteConversation(op.id).catch(() => undefined);
      this.#setQueue(q.slice(1));
    }
    this.#status(true);
  }
  async getAllConversations(): Promise<ConversationSummary[]> {
    return this.#call(
      async () => {
        if (this.#queue.length > 0) await this.flush();
        const r = await this.client.listConversations({ limit: 100 });
        if (r.notModified) return this.#summaries();
        writeJson(this.options.storage, `${P}summaries`, r.data.conversations);
        return r.data.conversations;
      },
      () => this.#summaries(),
    );
  }
  async getConversation(id: string): Promise<Conversation | null> {
    const cached = (): Conversation | null =>
      (readJson(this.options.storage, `${P}c:${id}`) as Conversation | undefined) ?? null;
    return this.#call(
      async () => {
        try {
          const r = await this.client.getConversation(id, { limit: 100 });
          if (r.notModified) return cached();
          writeJson(this.options.storage, `${P}c:${id}`, r.data);
          return r.data as unknown as Conversation;
        } catch (e) {
          if (e instanceof ChatStoreError && e.status === 404) return null;
          throw e;
        }
      },
      cached,
    );
  }
  #local(c: unknown): void {
    const conv = c as Conversation;
    writeJson(this.options.storage, `${P}c:${conv.id}`, conv);
    const s = this.#summaries().filter((x) => x.id !== conv.id);
    s.unshift({ id: conv.id, title: conv.title, createdAt: conv.createdAt, updatedAt: conv.updatedAt, totalTokens: conv.totalTokens, messageCount: conv.messages.length } as ConversationSummary);
    writeJson(this.options.storage, `${P}summaries`, s);
  }
  async #write(op: Op, send: () => Promise<unknown>): Promise<void> {
    if (!this.#online) {
      this.#setQueue([...this.#queue, op]);
      this.#status(false);
      return;
    }
    await this.#call(send, () => {
      this.#setQueue([...this.#queue, op]);
      this.#status(false);
    });
  }
  async saveConversation(c: ConversationInput): Promise<void> {
    this.#local(c);
    await this.#write({ kind: "save", c }, () => this.client.putConversation(c.id, c));
  }
  async deleteConversation(id: string): Promise<void> {
    writeJson(this.options.storage, `${P}summaries`, this.#summaries().filter((x) => x.id !== id));
    await this.#write({ kind: "delete", id }, () => this.client.deleteConversation(id));
  }
  async addMessage(id: string, m: MessageInput): Promise<void> {
    const c = readJson(this.options.storage, `${P}c:${id}`) as Conversation | undefined;
    if (c) this.#local({ ...c, messages: [...c.messages, m], updatedAt: new Date().toISOString() });
    await this.#write({ kind: "add", id, m }, () => this.client.appendMessage(id, m));
  }
  async updateMessage(_c: string, _m: string, _u: MessagePatch): Promise<void> {}
  applyChange(change: Change): void {
    if (change.type === "tombstone") {
      writeJson(this.options.storage, `${P}summaries`, this.#summaries().filter((x) => x.id !== change.id));
    }
  }
}

export async function migrateFromLocalStorage(o: { client: ChatStoreClient; storage: StorageLike }): Promise<MigrationReport> {
  const done = readJson(o.storage, `${P}migration`) as MigrationReport | undefined;
  if (done?.done) return done;
  const conversations = (readJson(o.storage, "conversations") as ConversationInput[] | undefined) ?? [];
  const { data } = await o.client.importConversations({ conversations });
  const report = { imported: data.imported, rejected: data.rejected as MigrationReport["rejected"], done: true };
  writeJson(o.storage, `${P}migration`, report);
  return report;
}

interface SyncEvents {
  upsert: Extract<Change, { type: "upsert" }>;
  tombstone: Extract<Change, { type: "tombstone" }>;
  reset: { summaries: ConversationSummary[] };
  conversation: { conversation: Conversation };
  message: {
    conversationId: string;
    messageId: string;
    content: string;
    streaming: boolean;
    interrupted: boolean;
    toolExecutions: ToolExecution[];
  };
  error: unknown;
}

export class SyncEngine extends Emitter<SyncEvents> {
  #timer: ReturnType<typeof setInterval> | undefined;
  #cursor: string | undefined;
  #watched: string | null = null;
  #following = false;
  constructor(private readonly o: { client: ChatStoreClient; storage: StorageLike; intervalMs: number; followIntervalMs: number }) {
    super();
  }
  start(): void {
    void this.#first();
    this.#timer = setInterval(() => void this.syncNow(), this.o.intervalMs);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
  watch(id: string | null): void {
    this.#watched = id;
  }
  async #first(): Promise<void> {
    try {
      const r = await this.o.client.listConversations({ limit: 100 });
      if (!r.notModified) this.#cursor = r.data.changesCursor;
    } catch (e) {
      this.emit("error", e);
    }
  }
  async syncNow(): Promise<void> {
    if (this.#cursor === undefined) return this.#first();
    try {
      const { data } = await this.o.client.listChanges({ since: this.#cursor }, { retry: false });
      this.#cursor = data.nextCursor;
      for (const c of data.changes) {
        if (c.type === "upsert") {
          this.emit("upsert", c);
          if (c.id === this.#watched) await this.#refetch(c.id);
        } else this.emit("tombstone", c);
      }
    } catch (e) {
      this.emit("error", e);
    }
  }
  async #refetch(id: string): Promise<void> {
    const r = await this.o.client.getConversation(id, { limit: 100 });
    if (r.notModified) return;
    const conversation = r.data as unknown as Conversation;
    this.emit("conversation", { conversation });
    const last = conversation.messages.at(-1);
    if (last?.streaming && !this.#following) void this.#follow(id, last.id, last.content);
  }
  async #follow(cid: string, mid: string, content: string): Promise<void> {
    this.#following = true;
    let etag: string | undefined;
    try {
      for (;;) {
        await new Promise((r) => setTimeout(r, this.o.followIntervalMs));
        const r = await this.o.client.getMessage(cid, mid, { after: content.length }, etag ? { ifNoneMatch: etag } : {});
        if (r.notModified) continue;
        etag = r.etag;
        content = content.slice(0, r.data.offset) + r.data.content;
        this.emit("message", {
          conversationId: cid,
          messageId: mid,
          content,
          streaming: r.data.streaming ?? false,
          interrupted: r.data.interrupted ?? false,
          toolExecutions: (r.data.toolExecutions ?? []) as ToolExecution[],
        });
        if (!r.data.streaming) break;
      }
    } finally {
      this.#following = false;
    }
  }
}

export async function streamReply(o: {
  client: ChatStoreClient;
  conversationId: string;
  message: { id: string; timestamp?: Date };
  source: AsyncIterable<string | ReplyEvent>;
}): Promise<{ delivered: boolean; content: string; toolExecutions: ToolExecution[]; tokens?: ChatMessage["tokens"] }> {
  const { client, conversationId: cid, message } = o;
  await client.appendMessage(cid, { id: message.id, type: "assistant", content: "", streaming: true, timestamp: message.timestamp ?? new Date() });
  let content = "";
  let pending = "";
  let tools = new Map<string, ToolExecution>();
  let pendingTools = false;
  let tokens: ChatMessage["tokens"];
  let sequence = 0;
  let last = 0;
  const send = async (): Promise<void> => {
    if (pending === "" && !pendingTools) return;
    sequence += 1;
    const patch: MessagePatch = { appendContent: pending, sequence };
    if (pendingTools) patch.toolExecutions = [...tools.values()] as MessagePatch["toolExecutions"];
    pending = "";
    pendingTools = false;
    last = Date.now();
    await client.updateMessage(cid, message.id, patch, { returnMinimal: true });
  };
  for await (const e of o.source) {
    if (typeof e === "string" || e.type === "text") {
      const t = typeof e === "string" ? e : e.text;
      content += t;
      pending += t;
    } else if (e.type === "tool") {
      const { type: _t, ...tool } = e;
      tools = new Map(tools).set(tool.id, tool);
      pendingTools = true;
    } else tokens = e.tokens;
    if (Date.now() - last >= 250) await send();
  }
  await send();
  await client.updateMessage(cid, message.id, { streaming: false, ...(tokens ? { tokens } : {}) });
  return { delivered: true, content, toolExecutions: [...tools.values()], ...(tokens ? { tokens } : {}) };
}
