/**
 * Every state a user meets, as a typed state or event of HybridConversationStore: where the
 * API stands (online, offline, rate limited with the time left, storage down) and what became
 * of a write (a conflict to keep or discard, a deletion elsewhere to restore from), with the
 * developer's code kept apart from what the page words.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, HybridConversationStore, MemoryStorage } from "../../src/index.js";
import type { ConnectionState, StoreNotice } from "../../src/index.js";
import { settle } from "../support/fake-clock.js";
import { fakeFetch, problem } from "../support/fake-fetch.js";
import type { Scripted } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const T0 = "2025-03-01T09:00:00.000Z";
const NOW = Date.parse("2025-03-02T00:00:00.000Z");
const M1 = { id: "m1", type: "user", content: "Hello", timestamp: T0 } as const;

const view = (over: Record<string, unknown> = {}) => ({
  id: "c1",
  title: "Trip plans",
  createdAt: T0,
  updatedAt: T0,
  totalTokens: 0,
  messageCount: 1,
  nextCursor: null,
  messages: [M1],
  ...over,
});

function setup(...script: Scripted[]) {
  const fake = fakeFetch(...script);
  const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, retry: { retries: 0 }, getToken: () => "tok" });
  let clock = NOW;
  const store = new HybridConversationStore(client, {
    storage: new MemoryStorage(),
    sync: false,
    now: () => clock,
    schedule: () => () => undefined,
    events: { addEventListener: () => undefined, removeEventListener: () => undefined },
  });
  const notices: StoreNotice[] = [];
  const connections: ConnectionState[] = [];
  store.on("notice", (n) => notices.push(n));
  store.on("connection", (c) => connections.push(c));
  const lines = () => fake.requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`);
  return { store, notices, connections, lines, requests: fake.requests, tick: (ms: number) => (clock += ms) };
}

/** The fields a page words a notice from: none of them may carry developer text. */
function userFacing(notice: StoreNotice): string {
  const { code: _code, detail: _detail, ...rest } = notice;
  return JSON.stringify(rest);
}
const DEVELOPER_TEXT = /precondition|If-Match|If-None-Match|ETag|conversation_deleted|version \d/i;

describe("HybridConversationStore states", () => {
  it("tells rate limited apart from offline, with when to try again, and online once answered", async () => {
    const { store, connections } = setup(
      { status: 429, body: problem(429, "rate_limited"), headers: { "Retry-After": "20" } },
      { status: 503, body: problem(503, "store_unavailable"), headers: { "Retry-After": "5" } },
      { throws: new TypeError("fetch failed") },
      { status: 200, body: { conversations: [], nextCursor: null, changesCursor: "c1" } },
    );
    await store.getAllConversations();
    assert.deepEqual(store.getSnapshot().connection, { state: "rate_limited", code: "rate_limited", retryAt: new Date(NOW + 20_000) });
    assert.equal(store.online, false, "its writes wait");
    await store.getAllConversations();
    assert.deepEqual(store.getSnapshot().connection, { state: "store_down", code: "store_unavailable", retryAt: new Date(NOW + 5_000) });
    await store.getAllConversations();
    assert.deepEqual(store.getSnapshot().connection, { state: "offline", code: "network_error" });
    await store.getAllConversations();
    assert.deepEqual(store.getSnapshot().connection, { state: "online" });
    assert.deepEqual(
      connections.map((c) => c.state),
      ["rate_limited", "store_down", "offline", "online"],
      "each change told once, as it happened",
    );
  });

  it("a conflict the other device won: a notice to keep mine or discard; keeping mine sends it again", async () => {
    const theirs = view({ title: "Their title", updatedAt: "2025-03-01T23:00:00.000Z" });
    const { store, notices, lines, requests, tick } = setup(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 412, body: problem(412, "precondition_failed", { currentVersion: 5 }), headers: { ETag: '"5"' } },
      { status: 200, body: theirs, headers: { ETag: '"5"' } },
      // keepMine: the edit again, now newer than theirs, over their version.
      { status: 200, body: { ...theirs, title: "My title" }, headers: { ETag: '"6"' } },
    );
    await store.getConversation("c1");
    tick(-3_600_000 * 2); // the edit was made before theirs: the default rule keeps theirs
    await store.saveConversation({ ...view(), title: "My title" });
    assert.equal(store.cachedConversation("c1")?.title, "Their title");
    assert.equal(notices.length, 1);
    const notice = notices[0]!;
    assert.ok(notice.kind === "conflict");
    assert.deepEqual(
      { kind: notice.kind, id: notice.id, conversationId: notice.conversationId, title: notice.title, operation: notice.operation, code: notice.code },
      { kind: "conflict", id: "notice-1", conversationId: "c1", title: "My title", operation: "patch", code: "precondition_failed" },
    );
    assert.doesNotMatch(userFacing(notice), DEVELOPER_TEXT);

    tick(3_600_000 * 3);
    await notice.keepMine();
    assert.deepEqual(lines().slice(3), ["PATCH /api/conversations/c1"]);
    assert.deepEqual(requests[3]?.body, { title: "My title" });
    assert.equal(requests[3]?.headers.get("If-Match"), '"5"', "over their version");
    assert.equal(store.cachedConversation("c1")?.title, "My title");
    assert.equal(notices.length, 1);
  });

  it("deleted on another device while offline: the unsent messages come with a restore", async () => {
    const typed = { id: "m2", type: "user", content: "Written offline", timestamp: "2025-03-01T23:59:00.000Z" } as const;
    const { store, notices, lines, requests } = setup(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { throws: new TypeError("fetch failed") },
      { status: 409, body: problem(409, "conversation_deleted") },
      { status: 201, body: { ...view(), evicted: [] }, headers: { ETag: '"1"' } },
    );
    await store.getConversation("c1");
    await store.addMessage("c1", typed); // offline: queued
    assert.equal(store.pending, 1);
    await store.flush(); // back: the conversation was deleted meanwhile
    assert.equal(store.pending, 0, "its writes are out of the queue");
    assert.equal(store.cachedConversation("c1"), null, "the copy shows the deletion");
    assert.equal(notices.length, 1);
    const notice = notices[0]!;
    assert.ok(notice.kind === "deleted_elsewhere");
    assert.deepEqual([notice.title, notice.code], ["Trip plans", "conversation_deleted"]);
    assert.deepEqual(
      notice.unsent.map((m) => [m.id, m.content]),
      [["m2", "Written offline"]],
      "the message typed offline is not dropped without a word",
    );
    assert.doesNotMatch(userFacing(notice), DEVELOPER_TEXT);

    await notice.restore();
    await settle();
    assert.deepEqual(lines().slice(3), ["PUT /api/conversations/c1"]);
    assert.equal(requests[3]?.headers.get("If-None-Match"), "*", "brought back on purpose");
    assert.equal(requests[3]?.headers.get("If-Match"), null);
    const body = requests[3]?.body as { title: string; messages: { id: string }[] };
    assert.equal(body.title, "Trip plans");
    assert.deepEqual(body.messages.map((m) => m.id), ["m1", "m2"], "what it held, then what was never sent");
    assert.deepEqual(store.cachedConversation("c1")?.messages.map((m) => m.id), ["m1", "m2"]);
  });

  it("deleted elsewhere, the feed's tombstone first: the notice still names it and restores what it held", async () => {
    const typed = { id: "m2", type: "user", content: "Written offline", timestamp: "2025-03-01T23:59:00.000Z" } as const;
    const { store, notices, lines, requests } = setup(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { throws: new TypeError("fetch failed") },
      { status: 409, body: problem(409, "conversation_deleted") },
      { status: 201, body: { ...view(), evicted: [] }, headers: { ETag: '"1"' } },
    );
    await store.getConversation("c1");
    await store.addMessage("c1", typed); // offline: queued
    // Back online, the change feed tells of the deletion before the queue is sent.
    store.applyChange({ type: "tombstone", id: "c1", reason: "deleted", at: new Date(NOW) });
    await settle();
    assert.deepEqual(lines(), ["GET /api/conversations/c1?limit=100", "POST /api/conversations/c1/messages", "POST /api/conversations/c1/messages"]);
    assert.equal(store.cachedConversation("c1"), null, "the copy shows the deletion once the queue met it");
    assert.equal(notices.length, 1);
    const notice = notices[0]!;
    assert.ok(notice.kind === "deleted_elsewhere");
    assert.equal(notice.title, "Trip plans");
    assert.deepEqual(notice.unsent.map((m) => m.id), ["m2"]);
    await notice.restore();
    await settle();
    const body = requests[3]?.body as { title: string; messages: { id: string }[] };
    assert.equal(body.title, "Trip plans");
    assert.deepEqual(body.messages.map((m) => m.id), ["m1", "m2"], "what it held, then what was never sent");
  });

  it("a restored message with parts and no content is sent with their text, as the server takes it", async () => {
    const parts = [{ type: "step-start" }, { type: "text", text: "Pack " }, { type: "text", text: "the tent" }];
    const typed = { id: "m2", type: "assistant", parts, timestamp: "2025-03-01T23:59:00.000Z" } as const;
    const { store, notices, requests } = setup(
      { status: 200, body: view(), headers: { ETag: '"3"' } },
      { status: 409, body: problem(409, "conversation_deleted") },
      { status: 201, body: { ...view(), evicted: [] }, headers: { ETag: '"1"' } },
    );
    await store.getConversation("c1");
    await store.addMessage("c1", typed as Parameters<typeof store.addMessage>[1]);
    const notice = notices[0]!;
    assert.ok(notice.kind === "deleted_elsewhere");
    assert.equal(notice.unsent[0]?.content, "Pack the tent");
    await notice.restore();
    await settle();
    const body = requests[2]?.body as { messages: { id: string; content: string; parts?: unknown }[] };
    assert.deepEqual(body.messages.map((m) => [m.id, m.content]), [["m1", "Hello"], ["m2", "Pack the tent"]]);
    assert.deepEqual(body.messages[1]?.parts, parts);
  });

  it("a tombstone with nothing of this device's queued for it drops the copy at once", async () => {
    const { store, lines } = setup({ status: 200, body: view(), headers: { ETag: '"3"' } });
    await store.getConversation("c1");
    store.applyChange({ type: "tombstone", id: "c1", reason: "deleted", at: new Date(NOW) });
    assert.equal(store.cachedConversation("c1"), null);
    assert.deepEqual(lines(), ["GET /api/conversations/c1?limit=100"]);
  });

  it("another refusal is a plain notice, its developer code apart", async () => {
    const { store, notices } = setup({ status: 413, body: problem(413, "payload_too_large") });
    await store.addMessage("c9", { id: "m1", type: "user", content: "x", timestamp: T0 });
    assert.deepEqual(
      notices.map((n) => [n.kind, n.conversationId, n.code]),
      [["refused", "c9", "payload_too_large"]],
    );
  });
});
