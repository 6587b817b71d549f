/**
 * The assistant-ui adapters against a scripted fetch: the requests each method sends, what it
 * makes of the answers, and that assistant-ui's own code reads what they give (the title
 * stream through `AssistantMessageStream`, the AI SDK format through its real adapter). The
 * type-level checks compile only while the adapters fit `@assistant-ui/react`'s interfaces.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { AssistantClient, RemoteThreadListAdapter, ThreadHistoryAdapter, ThreadMessage } from "@assistant-ui/react";
import { fromThreadMessageLike } from "@assistant-ui/react";
import { aiSDKV6FormatAdapter } from "assistant-cloud/ai-sdk";
import { AssistantMessageStream } from "assistant-stream";
import type { UIMessage } from "ai";

import { ChatStoreHistoryAdapter, ChatStoreThreadListAdapter } from "../../src/assistant-ui.js";
import type { HistoryThread } from "../../src/assistant-ui.js";
import { ChatStoreClient, MemoryStorage, SyncEngine } from "../../src/index.js";
import { fakeFetch, fakeSleep, problem } from "../support/fake-fetch.js";
import type { Scripted } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const T = "2026-03-01T09:00:00.000Z";

// --- Type-level checks: these lines compile only against the real package's types -----------
// The adapters are what assistant-ui's runtime takes.
export const listAdapterFits = (client: ChatStoreClient): RemoteThreadListAdapter => new ChatStoreThreadListAdapter(client);
export const historyAdapterFits = (client: ChatStoreClient): ThreadHistoryAdapter => new ChatStoreHistoryAdapter(client, "c1");
// The thread a history adapter is given is assistant-ui's own `threadListItem`.
export const threadFits = (aui: AssistantClient): HistoryThread => aui.threadListItem();

function setup(...script: Scripted[]) {
  const fake = fakeFetch(...script);
  const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, sleep: fakeSleep().sleep, getToken: () => "tok" });
  const urls = () => fake.requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`);
  return { client, requests: fake.requests, urls };
}

function summary(id: string, extra: Record<string, unknown> = {}) {
  return { id, title: `title ${id}`, createdAt: T, updatedAt: T, messageCount: 1, totalTokens: 0, ...extra };
}

function view(id: string, messages: Record<string, unknown>[]) {
  return { ...summary(id), messages, messageCount: messages.length, nextCursor: null };
}

/** A thread as assistant-ui's `threadListItem` is, recording its initializations. */
function thread(remoteId: string | undefined, created = "c-new") {
  const calls: string[] = [];
  const item: HistoryThread = {
    getState: () => ({ remoteId }),
    initialize: async () => {
      calls.push("initialize");
      return { remoteId: remoteId ?? created };
    },
  };
  return { item, calls };
}

/** A ThreadMessage as assistant-ui's runtime hands one to `append`. */
function threadMessage(like: Parameters<typeof fromThreadMessageLike>[0]): ThreadMessage {
  return fromThreadMessageLike(like, "fallback", { type: "complete", reason: "unknown" });
}

describe("ChatStoreThreadListAdapter", () => {
  it("lists archived and regular conversations as threads, with the API's cursor", async () => {
    const { client, urls } = setup(
      {
        status: 200,
        body: { conversations: [summary("a"), summary("b", { archived: true })], nextCursor: "p2", changesCursor: "k" },
      },
      { status: 200, body: { conversations: [summary("c")], nextCursor: null, changesCursor: "k" } },
    );
    const adapter = new ChatStoreThreadListAdapter(client);
    const first = await adapter.list();
    assert.deepEqual(first, {
      threads: [
        { status: "regular", remoteId: "a", title: "title a", lastMessageAt: new Date(T) },
        { status: "archived", remoteId: "b", title: "title b", lastMessageAt: new Date(T) },
      ],
      nextCursor: "p2",
    });
    const second = await adapter.list({ after: "p2" });
    assert.deepEqual(second.threads.map((t) => t.remoteId), ["c"]);
    assert.equal("nextCursor" in second, false, "the last page has no cursor");
    assert.deepEqual(urls(), [
      "GET /api/conversations?archived=any&limit=100",
      "GET /api/conversations?archived=any&limit=100&cursor=p2",
    ]);
  });

  it("renames, archives and unarchives with one PATCH each, and fetches one thread", async () => {
    const { client, urls, requests } = setup(
      { status: 200, body: summary("a", { title: "Trip" }) },
      { status: 200, body: summary("a", { archived: true }) },
      { status: 200, body: summary("a") },
      { status: 200, body: view("a", []) },
    );
    const adapter = new ChatStoreThreadListAdapter(client);
    await adapter.rename("a", "Trip");
    await adapter.archive("a");
    await adapter.unarchive("a");
    const fetched = await adapter.fetch("a");
    assert.deepEqual(urls(), [
      "PATCH /api/conversations/a",
      "PATCH /api/conversations/a",
      "PATCH /api/conversations/a",
      "GET /api/conversations/a?limit=1",
    ]);
    assert.deepEqual(
      requests.slice(0, 3).map((r) => r.body),
      [{ title: "Trip" }, { archived: true }, { archived: false }],
    );
    assert.deepEqual(fetched, { status: "regular", remoteId: "a", title: "title a", lastMessageAt: new Date(T) });
  });

  it("initializes without a request: the API creates the conversation with its first message", async () => {
    const { client, requests } = setup();
    assert.deepEqual(await new ChatStoreThreadListAdapter(client).initialize("t1"), { remoteId: "t1" });
    assert.equal(requests.length, 0);
  });

  it("deletes; a thread already gone counts as deleted, another failure is thrown", async () => {
    const { client, urls } = setup(
      { status: 204 },
      { status: 404, body: problem(404, "not_found") },
      { status: 403, body: problem(403, "forbidden") },
    );
    const adapter = new ChatStoreThreadListAdapter(client);
    await adapter.delete("a");
    await adapter.delete("a");
    await assert.rejects(adapter.delete("a"), { code: "forbidden" });
    assert.deepEqual(urls(), ["DELETE /api/conversations/a", "DELETE /api/conversations/a", "DELETE /api/conversations/a"]);
  });

  it("streams the title the API gives by the first user message, as assistant-ui reads a title", async () => {
    const { client, requests } = setup();
    const adapter = new ChatStoreThreadListAdapter(client);
    const long = "Plan two days in Lisbon with a tram ride, the castle, and a long lunch by the river please";
    const messages = [threadMessage({ role: "user", content: long }), threadMessage({ role: "assistant", content: "Sure" })];
    const titles: string[] = [];
    // What assistant-ui does with the stream (runtimes/remote-thread-list/title.ts).
    for await (const result of AssistantMessageStream.fromAssistantStream(await adapter.generateTitle("a", messages))) {
      const text = result.parts.find((part) => part.type === "text");
      if (text?.type === "text") titles.push(text.text);
    }
    assert.equal(titles.at(-1), "Plan two days in Lisbon with a tram ride, the castle, and a…");
    assert.equal(requests.length, 0, "no request, no model");
  });

  it("gives each thread a history adapter over its conversation when given the app's useAui", async () => {
    const { client, urls } = setup({ status: 200, body: view("c9", []) }, { status: 200, body: view("moved", []) });
    assert.equal(new ChatStoreThreadListAdapter(client).unstable_useAdapters, undefined);
    let remoteId = "c9";
    const item: HistoryThread = { getState: () => ({ remoteId }), initialize: async () => ({ remoteId }) };
    const aui = { threadListItem: () => item } as unknown as AssistantClient;
    const adapter = new ChatStoreThreadListAdapter(client, { useAui: () => aui });
    const useAdapters = adapter.unstable_useAdapters!;
    const adapters = useAdapters();
    assert.equal(useAdapters(), adapters, "memoized per assistant client");
    assert.ok(adapters.history instanceof ChatStoreHistoryAdapter);
    await adapters.history.load();
    remoteId = "moved"; // the thread is resolved at each call, not captured when the hook ran
    await adapters.history.load();
    assert.deepEqual(urls(), ["GET /api/conversations/c9", "GET /api/conversations/moved"]);
  });

  it("tells subscribers once per feed page that changed the list, and no more once disposed", async () => {
    const page = (changes: unknown[], nextCursor: string): Scripted => ({ status: 200, body: { changes, nextCursor, hasMore: false } });
    const { client } = setup(
      page([{ type: "upsert", id: "a", version: 2, conversation: summary("a") }, { type: "tombstone", id: "b", reason: "deleted", at: T }], "c1"),
      page([], "c1"),
      page([{ type: "upsert", id: "c", version: 1, conversation: summary("c") }], "c2"),
    );
    const storage = new MemoryStorage();
    storage.setItem("chat-store:v1:sync", JSON.stringify({ cursor: "c0" }));
    const sync = new SyncEngine({ client, storage, document: null });
    const adapter = new ChatStoreThreadListAdapter(client, { sync });
    let told = 0;
    const unsubscribe = adapter.subscribe(() => (told += 1));
    await sync.syncNow();
    await Promise.resolve();
    assert.equal(told, 1, "an upsert and a tombstone of one page: one call");
    await sync.syncNow();
    await Promise.resolve();
    assert.equal(told, 1, "an empty page changes nothing");
    unsubscribe();
    adapter.dispose();
    await sync.syncNow();
    await Promise.resolve();
    assert.equal(told, 1);
  });
});

describe("ChatStoreHistoryAdapter", () => {
  it("loads the conversation as a line of ThreadMessages, each part as assistant-ui shows it", async () => {
    const { client, urls } = setup({
      status: 200,
      body: view("c1", [
        { id: "u1", type: "user", content: "Hi", timestamp: T },
        {
          id: "a1",
          type: "assistant",
          content: "Looked it up.",
          timestamp: T,
          metadata: { createdAt: T, model: "m" },
          parts: [
            { type: "step-start" },
            { type: "reasoning", text: "thinking" },
            { type: "dynamic-tool", toolName: "search", toolCallId: "t1", state: "output-available", input: { q: "x" }, output: { hits: 1 } },
            { type: "tool-weather", toolCallId: "t2", state: "output-error", input: { city: "Oslo" }, errorText: "down" },
            { type: "source-url", sourceId: "s1", url: "https://example.com", title: "Example" },
            { type: "file", mediaType: "image/png", url: "https://example.com/a.png" },
            { type: "file", mediaType: "application/pdf", url: "https://example.com/a.pdf", filename: "a.pdf" },
            { type: "data-weather", id: "d1", data: { c: 3 } },
            { type: "text", text: "Looked it up.", state: "done" },
          ],
        },
        { id: "a2", type: "assistant", content: "Still wri", timestamp: T, streaming: true },
      ]),
    });
    const repository = await new ChatStoreHistoryAdapter(client, () => thread("c1").item).load();
    assert.deepEqual(urls(), ["GET /api/conversations/c1"]);
    assert.equal(repository.headId, "a2");
    assert.deepEqual(
      repository.messages.map((m) => [m.message.id, m.parentId]),
      [
        ["u1", null],
        ["a1", "u1"],
        ["a2", "a1"],
      ],
    );
    const [user, reply, streaming] = repository.messages.map((m) => m.message);
    assert.deepEqual(reply?.createdAt, new Date(T), "createdAt is the stored timestamp");
    assert.equal(user?.role, "user");
    assert.deepEqual(user?.content, [{ type: "text", text: "Hi" }]);
    assert.deepEqual(user?.createdAt, new Date(T));
    assert.equal(reply?.role, "assistant");
    assert.deepEqual(reply?.metadata.custom, { createdAt: T, model: "m" });
    assert.deepEqual(
      reply?.content.map((part) => {
        const { parentId: _, ...rest } = part as typeof part & { parentId?: string };
        return rest;
      }),
      [
        { type: "reasoning", text: "thinking" },
        { type: "tool-call", toolCallId: "t1", toolName: "search", args: { q: "x" }, argsText: '{"q":"x"}', result: { hits: 1 } },
        { type: "tool-call", toolCallId: "t2", toolName: "weather", args: { city: "Oslo" }, argsText: '{"city":"Oslo"}', result: "down", isError: true },
        { type: "source", sourceType: "url", id: "s1", url: "https://example.com", title: "Example" },
        { type: "image", image: "https://example.com/a.png" },
        { type: "file", data: "https://example.com/a.pdf", mimeType: "application/pdf", filename: "a.pdf" },
        { type: "data", name: "weather", data: { c: 3 } },
        { type: "text", text: "Looked it up." },
      ].map((part) => (part.type === "data" ? { ...part, id: "d1" } : part)),
    );
    assert.equal(reply?.role === "assistant" && reply.status.type, "complete");
    // What load builds is what assistant-ui's own normalization keeps as it is.
    for (const { message } of repository.messages) {
      assert.deepEqual(fromThreadMessageLike(message, "other", { type: "complete", reason: "stop" }), message, message.id);
    }
    assert.equal(streaming?.role === "assistant" && streaming.status.type, "running", "another device still writes it");
  });

  it("loads nothing for a thread not initialized, and [] for a conversation not written yet", async () => {
    const { client, urls } = setup({ status: 404, body: problem(404, "not_found") });
    assert.deepEqual((await new ChatStoreHistoryAdapter(client, () => thread(undefined).item).load()).messages, []);
    assert.deepEqual(urls(), []);
    assert.deepEqual((await new ChatStoreHistoryAdapter(client, "gone").load()).messages, []);
    assert.deepEqual(urls(), ["GET /api/conversations/gone"]);
  });

  it("appends a message as its UIMessage, initializing the thread first", async () => {
    const { client, urls, requests } = setup({ status: 201, body: { id: "a1", type: "assistant", content: "Hi", timestamp: T } });
    const { item, calls } = thread(undefined, "c-new");
    const message = threadMessage({
      id: "a1",
      role: "assistant",
      createdAt: new Date(T),
      content: [
        { type: "reasoning", text: "hm" },
        { type: "tool-call", toolCallId: "t1", toolName: "search", args: { q: "x" }, result: [1] },
        { type: "source", sourceType: "url", id: "s1", url: "https://example.com" },
        { type: "image", image: "data:image/png;base64,AAAA" },
        { type: "data", name: "weather", data: { c: 3 } },
        { type: "text", text: "Hi" },
      ],
      metadata: { custom: { model: "m" } },
    });
    await new ChatStoreHistoryAdapter(client, () => item).append({ parentId: "u1", message });
    assert.deepEqual(calls, ["initialize"]);
    assert.deepEqual(urls(), ["POST /api/conversations/c-new/messages"]);
    assert.deepEqual(requests[0]!.body, {
      id: "a1",
      type: "assistant",
      timestamp: T,
      metadata: { model: "m" },
      parts: [
        { type: "reasoning", text: "hm" },
        { type: "dynamic-tool", toolName: "search", toolCallId: "t1", input: { q: "x" }, state: "output-available", output: [1] },
        { type: "source-url", sourceId: "s1", url: "https://example.com" },
        { type: "file", mediaType: "image/png", url: "data:image/png;base64,AAAA" },
        { type: "data-weather", data: { c: 3 } },
        { type: "text", text: "Hi" },
      ],
    });
  });

  it("stores a turn's messages in the order assistant-ui hands them over, each after the one before", async () => {
    // assistant-ui appends the reply without waiting for the user's message to be stored; the
    // API keeps messages in the order they arrive, so the second must not overtake the first.
    const sent: string[] = [];
    const releases: (() => void)[] = [];
    const fetch = async (url: string, init: RequestInit): Promise<Response> => {
      sent.push((JSON.parse(init.body as string) as { id: string }).id);
      await new Promise<void>((resolve) => releases.push(resolve));
      return new Response(JSON.stringify({ id: "x", type: "user", content: "", timestamp: T }), {
        status: 201,
        headers: { "Content-Type": "application/json" },
      });
    };
    const client = new ChatStoreClient({ baseUrl: BASE, fetch, sleep: fakeSleep().sleep, getToken: () => "tok" });
    const history = new ChatStoreHistoryAdapter(client, () => thread("c1").item);
    const user = threadMessage({ id: "u1", role: "user", createdAt: new Date(T), content: [{ type: "text", text: "Hi" }] });
    const reply = threadMessage({ id: "a1", role: "assistant", createdAt: new Date(T), content: [{ type: "text", text: "Yo" }] });
    const first = history.append({ parentId: null, message: user });
    const second = history.append({ parentId: "u1", message: reply });
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(sent, ["u1"], "the reply waits for the user's message");
    releases.shift()?.();
    await first;
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(sent, ["u1", "a1"]);
    releases.shift()?.();
    await second;
  });

  it("refuses a part the API cannot keep rather than dropping it", async () => {
    const { client, requests } = setup();
    const message = threadMessage({ role: "user", content: [{ type: "audio", audio: { data: "AAAA", format: "mp3" } }] });
    await assert.rejects(new ChatStoreHistoryAdapter(client, "c1").append({ parentId: null, message }), {
      name: "TypeError",
      message: 'chat-store cannot keep a message part of type "audio"',
    });
    assert.equal(requests.length, 0);
  });

  it("keeps the AI SDK's format (useChatRuntime) as the UIMessages it is, through its real format adapter", async () => {
    const parts = [{ type: "text", text: "Hi" }];
    const { client, requests } = setup(
      { status: 201, body: { id: "u1", type: "user", content: "Hi", timestamp: T } },
      {
        status: 200,
        body: view("c1", [{ id: "u1", type: "user", content: "Hi", timestamp: T, metadata: { createdAt: T }, parts }]),
      },
    );
    const history = new ChatStoreHistoryAdapter(client, () => thread("c1").item).withFormat(aiSDKV6FormatAdapter);
    const message: UIMessage = { id: "u1", role: "user", metadata: { createdAt: T }, parts: [{ type: "text", text: "Hi" }] };
    await history.append({ parentId: null, message });
    assert.deepEqual(requests[0]!.body, { id: "u1", type: "user", timestamp: T, metadata: { createdAt: T }, parts });
    const loaded = await history.load();
    assert.deepEqual(loaded, { headId: "u1", messages: [{ parentId: null, message }] });
  });

  it("refuses a message format that is not the AI SDK's", () => {
    const { client } = setup();
    const other = { format: "langgraph/v1", encode: () => ({}), decode: () => ({ parentId: null, message: {} }), getId: () => "x" };
    assert.throws(() => new ChatStoreHistoryAdapter(client, "c1").withFormat(other), TypeError);
  });
});
