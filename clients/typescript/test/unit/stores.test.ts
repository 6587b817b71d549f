import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ChatStoreClient,
  CircuitBreaker,
  HybridConversationStore,
  MemoryStorage,
  RemoteConversationStore,
  SyncEngine,
} from "../../src/index.js";
import type {
  ConversationInput,
  HybridStoreEvents,
  HybridStoreOptions,
  MessageInput,
  QueuedWrite,
  ReplyEvent,
} from "../../src/index.js";
import { settle } from "../support/fake-clock.js";
import { fakeFetch, fakeSleep, problem } from "../support/fake-fetch.js";
import type { Scripted, SeenRequest } from "../support/fake-fetch.js";

type Parts = NonNullable<MessageInput["parts"]>;

const BASE = "https://api.test";
const T0 = "2025-03-01T09:00:00.000Z";
const M1 = { id: "m1", type: "user", content: "Hello", timestamp: T0 } as const;
const M2 = { id: "m2", type: "assistant", content: "Hi!", timestamp: "2025-03-01T09:00:05.000Z" } as const;

/** The conversation as the API answers a GET. */
function view(over: Record<string, unknown> = {}) {
  return {
    id: "c1",
    title: "Hello",
    createdAt: T0,
    updatedAt: T0,
    totalTokens: 0,
    messageCount: 1,
    nextCursor: null,
    messages: [M1],
    ...over,
  };
}

/** The conversation as the app passes it to saveConversation (dates as strings or Dates). */
function input(over: Partial<ConversationInput> = {}): ConversationInput {
  return { id: "c1", title: "Hello", createdAt: T0, updatedAt: T0, totalTokens: 0, messages: [M1], ...over };
}

const summary = (id: string, updatedAt: string) => ({
  id,
  title: id,
  createdAt: T0,
  updatedAt,
  totalTokens: 0,
  messageCount: 0,
});

/** A client over a fake fetch whose script can be extended while the test runs. */
function setup(...script: Scripted[]) {
  const fake = fakeFetch(...script);
  let live = fake;
  let n = 0;
  const client = new ChatStoreClient({
    baseUrl: BASE,
    fetch: (url, init) => live.fetch(url, init),
    retry: { retries: 0 },
    generateId: () => `req-${++n}`,
    getToken: () => "tok",
  });
  const requests: SeenRequest[] = [];
  return {
    client,
    requests,
    /** Answers the next requests with `more` (the earlier script is used up). */
    then(...more: Scripted[]) {
      live = fakeFetch(...more);
      const seen = live.requests;
      const original = live.fetch;
      live = {
        requests: seen,
        fetch: async (url, init) => {
          try {
            return await original(url, init);
          } finally {
            requests.push(seen[seen.length - 1]!);
          }
        },
      };
    },
  };
}

/** Setup whose every request is recorded in `requests`. */
function recorded(...script: Scripted[]) {
  const s = setup();
  s.then(...script);
  return s;
}

/** method, path and query of each request. */
const lines = (requests: SeenRequest[]) => requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`);
const header = (r: SeenRequest | undefined, name: string) => r?.headers.get(name) ?? null;
const down: Scripted = { throws: new TypeError("fetch failed") };

describe("RemoteConversationStore", () => {
  it("creates an unknown conversation with one plain PUT", async () => {
    const { client, requests } = recorded({ status: 201, body: { ...summary("c1", T0), evicted: [] }, headers: { ETag: '"1"' } });
    await new RemoteConversationStore(client).saveConversation({ ...input(), createdAt: new Date(T0) });
    assert.deepEqual(lines(requests), ["PUT /api/conversations/c1"]);
    assert.deepEqual(requests[0]!.body, input());
    assert.equal(header(requests[0], "If-Match"), null);
    assert.equal(header(requests[0], "If-None-Match"), null, "a restore must not be refused for existing");
  });

  it("renames a conversation it read with one PATCH guarded by its ETag", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 200, body: summary("c1", T0), headers: { ETag: '"4"' } },
    );
    const store = new RemoteConversationStore(client);
    const read = await store.getConversation("c1");
    assert.ok(read?.updatedAt instanceof Date);
    await store.saveConversation(input({ title: "Renamed" }));
    assert.deepEqual(lines(requests), ["GET /api/conversations/c1?limit=100", "PATCH /api/conversations/c1"]);
    assert.deepEqual(requests[1]!.body, { title: "Renamed" });
    assert.equal(header(requests[1], "If-Match"), '"3"');
  });

  it("sends a new message of a known conversation as one append, without If-Match", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 201, body: M2, headers: { ETag: '"4"' } },
    );
    const store = new RemoteConversationStore(client);
    await store.getConversation("c1");
    await store.saveConversation(input({ messages: [M1, M2] }));
    assert.deepEqual(lines(requests), ["GET /api/conversations/c1?limit=100", "POST /api/conversations/c1/messages"]);
    assert.deepEqual(requests[1]!.body, M2);
    assert.equal(header(requests[1], "If-Match"), null);
    assert.ok(header(requests[1], "Idempotency-Key"));
  });

  it("sends a changed message as one minimal PATCH, and a removed one as a guarded PUT", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view({ messages: [M1, M2], messageCount: 2 }), headers: { ETag: '"3"' } },
      { status: 204, headers: { ETag: '"4"' } },
      { status: 200, body: { ...summary("c1", T0), evicted: [] }, headers: { ETag: '"5"' } },
    );
    const store = new RemoteConversationStore(client);
    await store.getConversation("c1");
    await store.saveConversation(input({ messages: [M1, { ...M2, content: "Hi there!" }] }));
    await store.saveConversation(input({ messages: [M1] }));
    assert.deepEqual(lines(requests), [
      "GET /api/conversations/c1?limit=100",
      "PATCH /api/conversations/c1/messages/m2",
      "PUT /api/conversations/c1",
    ]);
    assert.deepEqual(requests[1]!.body, { content: "Hi there!" });
    assert.equal(header(requests[1], "Prefer"), "return=minimal");
    assert.equal(header(requests[2], "If-Match"), '"4"', "the ETag of its own last write");
  });

  it("sends a message's changed parts whole, their text as its content, and its metadata", async () => {
    const parts: Parts = [{ type: "text", text: "Hi!" }];
    const withParts = { ...M2, parts, metadata: { model: "m" } };
    const { client, requests } = recorded(
      { status: 200, body: view({ messages: [M1, withParts], messageCount: 2 }), headers: { ETag: '"3"' } },
      { status: 204, headers: { ETag: '"4"' } },
      { status: 204, headers: { ETag: '"5"' } },
    );
    const store = new RemoteConversationStore(client);
    await store.getConversation("c1");
    const longer: Parts = [...parts, { type: "step-start" }, { type: "text", text: " More." }];
    const { content: _content, ...withoutContent } = withParts;
    await store.saveConversation(input({ messages: [M1, { ...withoutContent, parts: longer }] }));
    await store.saveConversation(input({ messages: [M1, { ...withoutContent, parts: longer, metadata: { model: "n" } }] }));
    assert.deepEqual(lines(requests), [
      "GET /api/conversations/c1?limit=100",
      "PATCH /api/conversations/c1/messages/m2",
      "PATCH /api/conversations/c1/messages/m2",
    ]);
    // (Never a content alone: the server refuses it for a message with parts.)
    assert.deepEqual(requests[1]!.body, { parts: longer });
    assert.deepEqual(requests[2]!.body, { metadata: { model: "n" } });
  });

  it("sends nothing when nothing changed", async () => {
    const { client, requests } = recorded({ status: 200, body: view(), headers: { ETag: '"3"' } });
    const store = new RemoteConversationStore(client);
    await store.getConversation("c1");
    await store.saveConversation(input());
    assert.equal(requests.length, 1);
  });

  it("pages the list, then answers a 304 from the kept list", async () => {
    const { client, requests } = recorded(
      { status: 200, body: { conversations: [summary("a", T0)], nextCursor: "n1", changesCursor: "c" }, headers: { ETag: '"L1"' } },
      { status: 200, body: { conversations: [summary("b", T0)], nextCursor: null, changesCursor: "c" } },
      { status: 304, headers: { ETag: '"L1"' } },
    );
    const store = new RemoteConversationStore(client);
    const first = await store.getAllConversations();
    const second = await store.getAllConversations();
    assert.deepEqual(lines(requests), [
      "GET /api/conversations?limit=100",
      "GET /api/conversations?limit=100&cursor=n1",
      "GET /api/conversations?limit=100",
    ]);
    assert.equal(header(requests[0], "If-None-Match"), null);
    assert.equal(header(requests[1], "If-None-Match"), null);
    assert.equal(header(requests[2], "If-None-Match"), '"L1"');
    assert.deepEqual(second.map((s) => s.id), ["a", "b"]);
    assert.deepEqual(second, first);
    assert.ok(second[0]!.updatedAt instanceof Date);
  });

  it("reads a conversation conditionally, and answers null on 404", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 304, headers: { ETag: '"3"' } },
      { status: 404, body: problem(404, "not_found") },
    );
    const store = new RemoteConversationStore(client, { messageLimit: 20 });
    await store.getConversation("c1");
    const cached = await store.getConversation("c1");
    assert.equal(cached?.messages[0]?.content, "Hello");
    assert.equal(await store.getConversation("c1"), null);
    assert.deepEqual(lines(requests), Array(3).fill("GET /api/conversations/c1?limit=20"));
    assert.deepEqual(requests.map((r) => header(r, "If-None-Match")), [null, '"3"', '"3"']);
  });
});

/** A hybrid store over `storage`, with a manual clock, keys and retry schedule. */
function hybrid(client: ChatStoreClient, storage: MemoryStorage, options: Partial<HybridStoreOptions> = {}) {
  let clock = Date.parse("2025-03-02T00:00:00.000Z");
  let k = 0;
  const scheduled: Array<() => void> = [];
  const store = new HybridConversationStore(client, {
    storage,
    now: () => clock,
    generateId: () => `key-${++k}`,
    schedule: (run) => {
      scheduled.push(run);
      return () => scheduled.splice(scheduled.indexOf(run), 1);
    },
    ...options,
  });
  const events: Array<{ [K in keyof HybridStoreEvents]: [K, HybridStoreEvents[K]] }[keyof HybridStoreEvents]> = [];
  store.on("change", (p) => events.push(["change", p]));
  store.on("revert", (p) => events.push(["revert", p]));
  store.on("status", (p) => events.push(["status", p]));
  return {
    store,
    events,
    scheduled,
    setClock: (iso: string) => {
      clock = Date.parse(iso);
    },
  };
}

const queueIn = (storage: MemoryStorage): QueuedWrite[] =>
  JSON.parse(storage.getItem("chat-store:v1:queue") ?? "[]") as QueuedWrite[];

describe("HybridConversationStore", () => {
  it("answers reads from the copy while the server is unreachable", async () => {
    const { client, requests } = recorded(
      { status: 200, body: { conversations: [summary("c1", T0)], nextCursor: null, changesCursor: "c" }, headers: { ETag: '"L"' } },
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      down,
      down,
    );
    const storage = new MemoryStorage();
    const { store, events } = hybrid(client, storage);
    await store.getAllConversations();
    await store.getConversation("c1");
    assert.equal(store.online, true);

    const list = await store.getAllConversations();
    const conversation = await store.getConversation("c1");
    assert.equal(requests.length, 4);
    assert.equal(store.online, false);
    assert.deepEqual(list.map((s) => s.id), ["c1"]);
    assert.equal(conversation?.messages[0]?.content, "Hello");
    assert.ok(conversation?.createdAt instanceof Date);
    assert.equal(await store.getConversation("never-opened"), null, "offline, no request: the breaker is not open yet");
    assert.deepEqual(events, [["status", { online: false, queued: 0 }]]);
    assert.deepEqual(
      storage.keys().sort(),
      ["chat-store:v1:conversation:c1", "chat-store:v1:state", "chat-store:v1:summaries"],
    );
  });

  it("queues writes while offline, persists them, and replays them in order with their recorded keys", async () => {
    const storage = new MemoryStorage();
    const first = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      down,
      down,
    );
    const a = hybrid(first.client, storage);
    await a.store.getConversation("c1");
    a.setClock("2025-03-02T00:00:01.000Z");
    await a.store.saveConversation(input({ title: "Renamed" }));
    a.setClock("2025-03-02T00:00:02.000Z");
    await a.store.addMessage("c1", M2);
    assert.deepEqual(
      lines(first.requests),
      ["GET /api/conversations/c1?limit=100", "PATCH /api/conversations/c1", "PATCH /api/conversations/c1"],
      "the second write tries the first again, in order, and waits behind it",
    );
    assert.equal(header(first.requests[2], "Idempotency-Key"), header(first.requests[1], "Idempotency-Key"));
    assert.equal(a.store.pending, 2);
    assert.equal(a.scheduled.length, 1, "a flush is scheduled for the breaker's probe");
    const seen = a.store.cachedConversation("c1");
    assert.equal(seen?.title, "Renamed");
    assert.deepEqual(seen?.messages.map((m) => m.id), ["m1", "m2"]);

    // A reload: a new store over the same storage still has the queue.
    const recordedQueue = queueIn(storage);
    assert.deepEqual(
      recordedQueue.map((q) => [q.write.op, q.idempotencyKey, q.madeAt]),
      [
        ["patch", "key-1", Date.parse("2025-03-02T00:00:01.000Z")],
        ["append", "key-2", Date.parse("2025-03-02T00:00:02.000Z")],
      ],
    );
    const second = recorded(
      { status: 200, body: summary("c1", T0), headers: { ETag: '"4"' } },
      { status: 201, body: M2, headers: { ETag: '"5"' } },
    );
    const b = hybrid(second.client, storage);
    assert.equal(b.store.pending, 2);
    assert.equal(b.store.cachedConversation("c1")?.title, "Renamed");
    await b.store.flush();
    assert.deepEqual(lines(second.requests), ["PATCH /api/conversations/c1", "POST /api/conversations/c1/messages"]);
    assert.deepEqual(second.requests.map((r) => header(r, "Idempotency-Key")), ["key-1", "key-2"]);
    assert.equal(header(second.requests[0], "If-Match"), '"3"');
    assert.deepEqual(second.requests[0]!.body, { title: "Renamed" });
    assert.deepEqual(second.requests[1]!.body, M2);
    assert.equal(b.store.pending, 0);
    assert.equal(storage.getItem("chat-store:v1:queue"), null);
    assert.deepEqual(b.events, [
      ["status", { online: true, queued: 1 }],
      ["status", { online: true, queued: 0 }],
    ]);
  });

  it("flushes on the browser's online event and on the next successful call", async () => {
    const target = new EventTarget();
    const { client, requests, then } = recorded(down);
    const { store } = hybrid(client, new MemoryStorage(), { events: target });
    await store.addMessage("c1", M1);
    assert.equal(store.pending, 1);
    then({ status: 201, body: M1, headers: { ETag: '"1"' } });
    target.dispatchEvent(new Event("online"));
    await store.flush();
    assert.equal(store.pending, 0);
    assert.deepEqual(lines(requests), ["POST /api/conversations/c1/messages", "POST /api/conversations/c1/messages"]);
    assert.equal(header(requests[1], "Idempotency-Key"), header(requests[0], "Idempotency-Key"));
    store.dispose();
  });

  it("shows a write before its request, and reverts it when the server refuses it", async () => {
    const { client, requests } = recorded({ status: 409, body: problem(409, "conflict") });
    const { store, events } = hybrid(client, new MemoryStorage());
    const seenAtChange: unknown[] = [];
    store.on("change", () => seenAtChange.push([requests.length, store.cachedConversation("c1")?.messages.length]));
    await store.addMessage("c1", M1);
    assert.deepEqual(seenAtChange[0], [0, 1], "optimistic: shown before any request");
    assert.equal(store.cachedConversation("c1"), null, "reverted");
    assert.equal(store.pending, 0);
    const revert = events.find((e) => e[0] === "revert");
    assert.ok(revert && revert[0] === "revert");
    assert.equal(revert[1].operation, "append");
    assert.equal(revert[1].conversationId, "c1");
    assert.equal(revert[1].error.code, "conflict");
  });

  it("412, the queued edit newer than the server's: re-reads the ETag and sends it again", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 412, body: problem(412, "precondition_failed", { currentVersion: 5 }), headers: { ETag: '"5"' } },
      { status: 200, body: view({ title: "Theirs", updatedAt: "2025-03-01T10:00:00.000Z" }), headers: { ETag: '"5"' } },
      { status: 200, body: summary("c1", T0), headers: { ETag: '"6"' } },
    );
    const { store, events, setClock } = hybrid(client, new MemoryStorage());
    await store.getConversation("c1");
    setClock("2025-03-01T11:00:00.000Z");
    await store.saveConversation(input({ title: "Mine" }));
    assert.deepEqual(lines(requests), [
      "GET /api/conversations/c1?limit=100",
      "PATCH /api/conversations/c1",
      "GET /api/conversations/c1?limit=100",
      "PATCH /api/conversations/c1",
    ]);
    assert.deepEqual(requests.map((r) => header(r, "If-Match")), [null, '"3"', null, '"5"']);
    assert.equal(header(requests[3], "Idempotency-Key"), header(requests[1], "Idempotency-Key"));
    assert.equal(store.cachedConversation("c1")?.title, "Mine");
    assert.equal(events.some((e) => e[0] === "revert"), false);
  });

  it("412, the server's version newer: drops the edit, takes the server's copy, emits revert", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 412, body: problem(412, "precondition_failed", { currentVersion: 5 }), headers: { ETag: '"5"' } },
      { status: 200, body: view({ title: "Theirs", updatedAt: "2025-03-01T10:00:00.000Z" }), headers: { ETag: '"5"' } },
    );
    const { store, events, setClock } = hybrid(client, new MemoryStorage());
    await store.getConversation("c1");
    setClock("2025-03-01T09:30:00.000Z");
    await store.saveConversation(input({ title: "Mine" }));
    assert.equal(requests.length, 3);
    assert.equal(store.cachedConversation("c1")?.title, "Theirs");
    const revert = events.find((e) => e[0] === "revert");
    assert.ok(revert && revert[0] === "revert");
    assert.deepEqual([revert[1].operation, revert[1].error.code], ["patch", "precondition_failed"]);
  });

  it("412: onConflict overrides the rule", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 412, body: problem(412, "precondition_failed"), headers: { ETag: '"5"' } },
      { status: 200, body: view({ title: "Theirs" }), headers: { ETag: '"5"' } },
    );
    const asked: string[] = [];
    const { store, events, setClock } = hybrid(client, new MemoryStorage(), {
      onConflict: (conflict) => {
        asked.push(`${conflict.write.op} ${conflict.server?.title}`);
        return "discard";
      },
    });
    await store.getConversation("c1");
    setClock("2025-03-01T11:00:00.000Z"); // newer: the default rule would retry
    await store.deleteConversation("c1");
    assert.deepEqual(asked, ["delete Theirs"]);
    assert.equal(requests.length, 3);
    assert.equal(header(requests[1], "If-Match"), '"3"');
    assert.equal(store.cachedConversation("c1")?.title, "Theirs");
    assert.equal(events.filter((e) => e[0] === "revert").length, 1);
  });

  it("makes no request while the breaker is open, and probes when the cooldown ends", async () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000, now: () => now });
    const { client, requests, then } = recorded(down);
    const { store, events, scheduled } = hybrid(client, new MemoryStorage(), { breaker });
    await store.addMessage("c1", M1);
    await store.addMessage("c1", M2);
    await store.getAllConversations();
    await store.flush();
    assert.equal(requests.length, 1, "only the call that opened the breaker");
    assert.equal(breaker.state, "open");
    assert.deepEqual(store.cachedConversation("c1")?.messages.map((m) => m.id), ["m1", "m2"]);
    assert.deepEqual(events.filter((e) => e[0] === "status").at(-1), ["status", { online: false, queued: 2 }]);

    now = 1_000;
    then({ status: 201, body: M1 }, { status: 201, body: M2 });
    assert.equal(scheduled.length, 1);
    scheduled[0]!();
    await store.flush();
    assert.deepEqual(lines(requests).slice(1), ["POST /api/conversations/c1/messages", "POST /api/conversations/c1/messages"]);
    assert.equal(store.online, true);
    assert.equal(store.pending, 0);
  });

  it("keeps the first list page's changesCursor with the list, through a 304 and a reload", async () => {
    const { client, requests } = recorded(
      { status: 200, body: { conversations: [summary("a", T0)], nextCursor: "n1", changesCursor: "cur-1" }, headers: { ETag: '"L1"' } },
      { status: 200, body: { conversations: [summary("b", T0)], nextCursor: null, changesCursor: "cur-later" } },
      { status: 304, headers: { ETag: '"L1"' } },
      { status: 200, body: { conversations: [], nextCursor: null, changesCursor: "cur-2" }, headers: { ETag: '"L2"' } },
      down,
    );
    const storage = new MemoryStorage();
    const { store } = hybrid(client, storage);
    assert.equal(store.changesCursor, undefined, "no list read yet");
    await store.getAllConversations();
    assert.equal(store.changesCursor, "cur-1", "the first page's: the feed from it covers the later pages");
    await store.getAllConversations();
    assert.equal(store.changesCursor, "cur-1", "a 304: the same list, the same cursor");
    assert.equal(hybrid(client, storage).store.changesCursor, "cur-1", "kept in storage");
    await store.getAllConversations();
    assert.equal(store.changesCursor, "cur-2");
    await store.getAllConversations();
    assert.equal(store.online, false);
    assert.equal(store.changesCursor, "cur-2", "answered from the copy: the copy's list and its cursor");
    assert.equal(requests.length, 5);
  });

  it("tells the ETag of a copy that is exactly the server's, and none once a write or a change touched it", async () => {
    const { client, requests } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      down,
      { status: 201, body: M2, headers: { ETag: '"4"' } },
      { status: 200, body: view({ messages: [M1, M2], messageCount: 2 }), headers: { ETag: '"4"' } },
      { status: 304, headers: { ETag: '"4"' } },
    );
    const { store } = hybrid(client, new MemoryStorage());
    assert.equal(store.etagOf("c1"), undefined, "never read");
    await store.getConversation("c1");
    assert.equal(store.etagOf("c1"), '"3"');
    await store.addMessage("c1", M2);
    assert.equal(store.pending, 1);
    assert.equal(store.etagOf("c1"), undefined, "a queued write: the copy shows more than version 3");
    await store.flush();
    assert.equal(store.pending, 0);
    assert.equal(store.etagOf("c1"), undefined, "version 4 as the copy guesses it, not as the server answered it");
    await store.getConversation("c1");
    assert.equal(store.etagOf("c1"), '"4"');
    for (const version of [4, 3]) {
      store.applyChange({ type: "upsert", id: "c1", version, conversation: summary("c1", T0) as never });
    }
    assert.equal(store.etagOf("c1"), '"4"', "changes the read already holds leave the copy exact");
    await store.getConversation("c1");
    store.applyChange({ type: "upsert", id: "c1", version: 5, conversation: summary("c1", T0) as never });
    assert.equal(store.etagOf("c1"), undefined, "the feed says it moved on: the copy is not version 5");
    assert.deepEqual(lines(requests), [
      "GET /api/conversations/c1?limit=100",
      "POST /api/conversations/c1/messages",
      "POST /api/conversations/c1/messages",
      "GET /api/conversations/c1?limit=100",
      "GET /api/conversations/c1?limit=100",
    ]);
    assert.equal(header(requests[4], "If-None-Match"), '"4"', "still exact: the read may be a 304");
  });

  it("applies the sync engine's changes to the copy", async () => {
    const { client } = recorded(
      { status: 200, body: { conversations: [summary("a", T0), summary("b", T0)], nextCursor: null, changesCursor: "c" } },
      down,
    );
    const { store, events } = hybrid(client, new MemoryStorage());
    await store.getAllConversations();
    store.applyChange({ type: "tombstone", id: "a", reason: "deleted", at: new Date(T0) });
    store.applyChange({
      type: "upsert",
      id: "b",
      version: 7,
      conversation: { ...summary("b", "2025-03-03T00:00:00.000Z"), title: "B!" } as never,
    });
    const list = await store.getAllConversations();
    assert.deepEqual(list.map((s) => [s.id, s.title]), [["b", "B!"]]);
    assert.deepEqual(
      events.filter((e) => e[0] === "change").map((e) => e[1]),
      [{ conversationIds: ["a"] }, { conversationIds: ["b"] }],
    );
  });
});

describe("HybridConversationStore and other requests on its client", () => {
  const changes = (nextCursor: string): Scripted => ({ status: 200, body: { changes: [], nextCursor, hasMore: false } });

  /** A store that queued M1 while the API was away, its breaker open for a minute. */
  async function offlineWithQueue() {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000, now: () => 0 });
    const s = recorded(down);
    const h = hybrid(s.client, new MemoryStorage(), { breaker });
    await h.store.addMessage("c1", M1);
    assert.equal(h.store.online, false);
    assert.equal(h.store.pending, 1);
    assert.equal(breaker.state, "open");
    assert.equal(h.scheduled.length, 1, "the breaker's probe, a minute away");
    // Not `then`: an async function's result with a `then` would be taken for a promise.
    const { then: answer, ...rest } = s;
    return { ...rest, ...h, answer, breaker };
  }

  it("goes online and sends its queue when another caller's request gets an answer, without waiting for the probe", async () => {
    const t = await offlineWithQueue();
    t.answer(changes("c2"), { status: 201, body: M1, headers: { ETag: '"1"' } });
    await t.client.listChanges({ since: "c1" });
    await settle(); // no store.flush() here: it would send the queue by itself
    assert.deepEqual(lines(t.requests), [
      "POST /api/conversations/c1/messages",
      "GET /api/changes?since=c1",
      "POST /api/conversations/c1/messages",
    ]);
    assert.equal(header(t.requests[2], "Idempotency-Key"), header(t.requests[0], "Idempotency-Key"));
    assert.equal(t.store.pending, 0);
    assert.equal(t.store.online, true);
    assert.equal(t.breaker.state, "closed", "the answer closed the breaker");
    assert.equal(t.scheduled.length, 0, "the probe was not needed");
    assert.deepEqual(t.events.filter((e) => e[0] === "status").map((e) => e[1]), [
      { online: true, queued: 1 },
      { online: false, queued: 1 },
      { online: true, queued: 1 },
      { online: true, queued: 0 },
    ]);
  });

  it("a sync engine's tick on the same client is such a request", async () => {
    const t = await offlineWithQueue();
    const engine = new SyncEngine({ client: t.client, storage: new MemoryStorage(), document: null, sleep: fakeSleep().sleep });
    t.answer(
      { status: 200, body: { conversations: [], nextCursor: null, changesCursor: "c1" } },
      { status: 201, body: M1, headers: { ETag: '"1"' } },
    );
    await engine.syncNow();
    await settle();
    assert.deepEqual(lines(t.requests).slice(1), ["GET /api/conversations?limit=100", "POST /api/conversations/c1/messages"]);
    assert.equal(t.store.pending, 0);
    assert.equal(t.store.online, true);
  });

  it("a refusal is an answer too; a 429 closes the breaker but does not set the store online", async () => {
    const t = await offlineWithQueue();
    t.answer({ status: 429, body: problem(429, "rate_limited") });
    await t.client.listChanges({ since: "c1" }).catch(() => undefined);
    await settle();
    assert.equal(t.store.online, false);
    assert.equal(t.breaker.state, "closed");
    assert.equal(t.requests.length, 2, "nothing sent behind a 429");

    t.answer({ status: 404, body: problem(404, "not_found") }, { status: 201, body: M1 });
    await t.client.getConversation("elsewhere").catch(() => undefined);
    await settle();
    assert.equal(t.store.pending, 0);
    assert.equal(t.store.online, true);
  });

  it("goes offline when another caller's request gets no answer or a 503, without counting it in the breaker", async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    const { client, requests, then } = recorded(
      down,
      { status: 503, body: problem(503, "store_unavailable") },
      down,
    );
    const { store, events } = hybrid(client, new MemoryStorage(), { breaker });
    for (let i = 0; i < 3; i++) await client.listChanges({ since: "c1" }).catch(() => undefined);
    assert.equal(store.online, false);
    assert.deepEqual(events, [["status", { online: false, queued: 0 }]]);
    assert.equal(breaker.state, "closed", "three failures of other callers, threshold two: still closed");

    then({ status: 200, body: { conversations: [], nextCursor: null, changesCursor: "c" } });
    await store.getAllConversations();
    assert.equal(requests.length, 4, "the store's own read still went");
    assert.equal(store.online, true);
  });

  it("stops listening to the client on dispose", async () => {
    const t = await offlineWithQueue();
    t.store.dispose();
    t.answer(changes("c2"));
    await t.client.listChanges({ since: "c1" });
    await settle();
    assert.equal(t.requests.length, 2, "no flush");
    assert.equal(t.store.online, false);
    assert.equal(t.store.pending, 1);
    assert.equal(t.breaker.state, "open");
  });
});

describe("HybridConversationStore.streamReply", () => {
  async function* reply(): AsyncGenerator<string | ReplyEvent> {
    yield "Hel";
    yield { type: "tool", id: "t1", name: "search", status: "completed", output: { hits: 1 } };
    yield "lo";
    yield { type: "usage", tokens: { input: 3, output: 2, total: 5 } };
  }

  it("online: streams the reply, keeps it in the copy, and keeps the finish's ETag for the next guarded write", async () => {
    const { client, requests, then } = recorded(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 201, body: { ...M2, id: "r1", content: "", streaming: true }, headers: { ETag: '"4"' } },
      // One delta per item at most; how many go depends on how the reads and sends interleave.
      ...Array.from({ length: 4 }, () => ({ status: 204, headers: { ETag: '"9"' } })),
    );
    const { store, events } = hybrid(client, new MemoryStorage());
    await store.getConversation("c1");
    const shown: string[] = [];
    const tools: number[] = [];
    const result = await store.streamReply("c1", { id: "r1" }, reply(), {
      flushIntervalMs: 0,
      onText: (text) => shown.push(text),
      onUpdate: (r) => tools.push(r.toolExecutions.length),
    });
    assert.equal(result.delivered, true);
    assert.deepEqual(shown, ["Hel", "Hello"]);
    assert.deepEqual(tools, [0, 1, 1, 1], "told after each item, tools included");
    assert.equal(lines(requests)[1], "POST /api/conversations/c1/messages");
    const patches = requests.slice(2);
    assert.ok(patches.every((r) => r.method === "PATCH" && r.url.endsWith("/messages/r1")));
    assert.equal(patches.map((r) => (r.body as { appendContent?: string }).appendContent ?? "").join(""), "Hello");
    assert.deepEqual(patches.at(-1)!.body, {
      ...(patches.at(-1)!.body as object),
      streaming: false,
      tokens: { input: 3, output: 2, total: 5 },
    });
    const copy = store.cachedConversation("c1");
    assert.deepEqual(
      copy?.messages.map((m) => [m.id, m.content, m.streaming ?? false]),
      [["m1", "Hello", false], ["r1", "Hello", false]],
    );
    assert.equal(copy?.totalTokens, 5);
    assert.equal(store.pending, 0);
    assert.deepEqual(events.at(-1), ["change", { conversationIds: ["c1"] }]);

    then({ status: 200, body: summary("c1", T0), headers: { ETag: '"10"' } });
    await store.saveConversation({ ...input(), messages: copy!.messages, title: "Renamed" });
    assert.equal(lines(requests).at(-1), "PATCH /api/conversations/c1");
    assert.equal(header(requests.at(-1), "If-Match"), '"9"', "the finish's ETag, not the one read before the reply");
  });

  it("offline: reads the whole reply without a request, queues it, and the replay replaces the part the server kept", async () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000, now: () => now });
    const { client, requests, then } = recorded(down);
    const storage = new MemoryStorage();
    const { store, events, scheduled } = hybrid(client, storage, { breaker });
    await store.getAllConversations();
    assert.equal(breaker.state, "open");

    const shown: string[] = [];
    const updates: unknown[] = [];
    const result = await store.streamReply("c1", { id: "r1" }, reply(), {
      onText: (text) => shown.push(text),
      onUpdate: (r) => updates.push([r.content, r.toolExecutions.map((t) => t.status), r.tokens?.total]),
    });
    assert.equal(requests.length, 1, "no request while the breaker is open");
    assert.equal(result.delivered, false);
    assert.equal(result.content, "Hello");
    assert.deepEqual(shown, ["Hel", "Hello"]);
    assert.deepEqual(updates, [
      ["Hel", [], undefined],
      ["Hel", ["completed"], undefined],
      ["Hello", ["completed"], undefined],
      ["Hello", ["completed"], 5],
    ]);
    const [queued] = queueIn(storage);
    assert.equal(queued?.write.op, "append");
    assert.deepEqual(
      queued?.write.op === "append" ? [queued.write.replace, queued.write.message.content, queued.write.message.streaming] : [],
      [true, "Hello", false],
    );
    assert.deepEqual(store.cachedConversation("c1")?.messages.map((m) => [m.id, m.content]), [["r1", "Hello"]]);

    // Back: an earlier try had left part of the reply on the server, so the append conflicts
    // and the message is set whole instead, under a key of its own.
    now = 1_000;
    then({ status: 409, body: problem(409, "conflict") }, { status: 204, headers: { ETag: '"6"' } });
    scheduled[0]!();
    await store.flush();
    assert.deepEqual(lines(requests).slice(1), [
      "POST /api/conversations/c1/messages",
      "PATCH /api/conversations/c1/messages/r1",
    ]);
    assert.equal(header(requests[2], "Idempotency-Key"), `${header(requests[1], "Idempotency-Key")}.replace`);
    assert.equal(header(requests[2], "Prefer"), "return=minimal");
    assert.deepEqual(requests[2]!.body, {
      content: "Hello",
      streaming: false,
      tokens: { input: 3, output: 2, total: 5 },
      toolExecutions: [{ id: "t1", name: "search", status: "completed", output: { hits: 1 } }],
    });
    assert.equal(store.pending, 0);
    assert.equal(events.filter((e) => e[0] === "revert").length, 0);
  });
});

describe("HybridConversationStore with a full storage", () => {
  /** localStorage with a quota: refuses a value that would take it past `limit` characters. */
  class QuotaStorage extends MemoryStorage {
    constructor(readonly limit: number) {
      super();
    }
    override setItem(key: string, value: string): void {
      const used = this.keys().reduce((n, k) => n + (k === key ? 0 : (this.getItem(k)?.length ?? 0)), 0);
      if (used + value.length > this.limit) throw new DOMException("quota", "QuotaExceededError");
      super.setItem(key, value);
    }
  }

  it("drops the conversation copies to make room for the queue", async () => {
    const big = { ...M1, content: "x".repeat(600) };
    const { client, then } = recorded(
      { status: 200, body: { conversations: [summary("c1", T0)], nextCursor: null, changesCursor: "c" } },
      { status: 200, body: view({ messages: [big] }), headers: { ETag: '"3"' } },
    );
    // Room for the list and the copy (about 1,000 characters), not for the copy and the queue.
    const storage = new QuotaStorage(1_300);
    const { store } = hybrid(client, storage);
    const full: unknown[] = [];
    store.on("storageFull", (p) => full.push(p));
    await store.getAllConversations();
    await store.getConversation("c1");
    assert.ok(storage.getItem("chat-store:v1:conversation:c1"), "the copy fits at first");

    then(down);
    await store.addMessage("c2", { ...M2, content: "y".repeat(300) });
    assert.equal(storage.getItem("chat-store:v1:conversation:c1"), null, "the copy made room");
    assert.equal(queueIn(storage).length, 1, "the queue is persisted");
    assert.deepEqual(full, []);
  });

  it("keeps the queue in memory when the storage refuses it anyway, says so, and still sends it", async () => {
    const { client, requests, then } = recorded(down);
    const storage = new QuotaStorage(100);
    const { store } = hybrid(client, storage);
    const full: unknown[] = [];
    store.on("storageFull", (p) => full.push(p));
    await store.addMessage("c1", { ...M1, content: "z".repeat(200) });
    assert.equal(storage.getItem("chat-store:v1:queue"), null);
    assert.equal(store.pending, 1, "the write is not lost");
    assert.deepEqual(full, [{ queued: 1 }]);

    then({ status: 201, body: M1, headers: { ETag: '"1"' } });
    await store.flush();
    assert.equal(store.pending, 0);
    assert.deepEqual(lines(requests), ["POST /api/conversations/c1/messages", "POST /api/conversations/c1/messages"]);
    assert.equal((requests[1]!.body as { content: string }).content, "z".repeat(200));
  });
});
