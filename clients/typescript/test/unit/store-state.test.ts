/**
 * HybridConversationStore as the one owner of the app's conversation state: its own sync
 * engine, one changes cursor kept with its list, and the snapshots the UI renders.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, HybridConversationStore, MemoryStorage, SYNC_STORAGE_KEY } from "../../src/index.js";
import type { HybridStoreOptions, StoreSnapshot } from "../../src/index.js";
import { FakeClock, settle } from "../support/fake-clock.js";
import { fakeFetch, problem } from "../support/fake-fetch.js";
import type { Scripted, SeenRequest } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const T0 = "2025-03-01T09:00:00.000Z";
const T1 = "2025-03-01T10:00:00.000Z";
const down: Scripted = { throws: new TypeError("fetch failed") };

const summary = (id: string, updatedAt = T0, title = id) => ({
  id,
  title,
  createdAt: T0,
  updatedAt,
  totalTokens: 0,
  messageCount: 1,
});
const list = (changesCursor: string, ...conversations: ReturnType<typeof summary>[]): Scripted => ({
  status: 200,
  body: { conversations, nextCursor: null, changesCursor },
  headers: { ETag: '"L1"' },
});
const feed = (nextCursor: string, ...changes: unknown[]): Scripted => ({
  status: 200,
  body: { changes, nextCursor, hasMore: false },
});

function setup(script: Scripted[], options: Partial<HybridStoreOptions> = {}) {
  const fake = fakeFetch(...script);
  const clock = new FakeClock();
  const storage = options.storage instanceof MemoryStorage ? options.storage : new MemoryStorage();
  const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, retry: { retries: 0 }, getToken: () => "tok" });
  const make = (more: Partial<HybridStoreOptions> = {}) =>
    new HybridConversationStore(client, {
      storage,
      prefix: "u1:",
      schedule: () => () => undefined,
      sync: { document: null, sleep: clock.sleep, intervalMs: 1_000, followIntervalMs: 100 },
      ...options,
      ...more,
    });
  const store = make();
  const snapshots: StoreSnapshot[] = [];
  store.subscribe((snapshot) => snapshots.push(snapshot));
  const lines = () => fake.requests.map((r: SeenRequest) => `${r.method} ${r.url.slice(BASE.length)}`);
  return { store, make, clock, storage, snapshots, requests: fake.requests, lines };
}

describe("HybridConversationStore owns its sync engine and its cursor", () => {
  it("applies its engine's feed to the copy, with one cursor kept beside the list under its prefix", async () => {
    const t = setup([
      list("c1", summary("a"), summary("b")),
      feed("c2", { type: "tombstone", id: "a", reason: "deleted", at: T1 }, {
        type: "upsert",
        id: "b",
        version: 7,
        conversation: summary("b", T1, "B!"),
      }),
    ]);
    await t.store.getAllConversations();
    t.store.start();
    await t.clock.advance(999);
    assert.deepEqual(t.lines(), ["GET /api/conversations?limit=100"], "the list is current: no feed poll before the first tick");
    await t.clock.advance(1);
    assert.deepEqual(t.lines().slice(1), ["GET /api/changes?since=c1"]);
    t.store.stop();

    assert.deepEqual(t.store.getSnapshot().conversations.map((s) => [s.id, s.title]), [["b", "B!"]]);
    assert.equal(t.store.changesCursor, "c2", "where the feed applied to the list ended");
    assert.deepEqual(t.storage.keys().sort(), ["u1:state", "u1:summaries"]);
    assert.equal(t.storage.getItem(SYNC_STORAGE_KEY), null, "no second copy of the cursor");
    assert.deepEqual(JSON.parse(t.storage.getItem("u1:state")!), { listEtag: '"L1"', changesCursor: "c2" });
  });

  it("a store made again on the same storage goes on from that cursor at once", async () => {
    const t = setup([list("c1", summary("a")), feed("c2"), feed("c3")]);
    await t.store.getAllConversations();
    t.store.start();
    await t.clock.advance(1_000);
    t.store.dispose();
    const again = t.make();
    assert.equal(again.changesCursor, "c2");
    again.start();
    await t.clock.advance(0);
    assert.deepEqual(t.lines().slice(2), ["GET /api/changes?since=c2"], "not read in this page's life: the feed now");
    again.stop();
  });

  it("lets its engine list when the copy holds none, and keeps that list with its ETag", async () => {
    const t = setup([list("c1", summary("a")), { status: 304, headers: { ETag: '"L1"' } }]);
    t.store.start();
    await t.clock.advance(0);
    t.store.stop();
    assert.deepEqual(t.store.getSnapshot().conversations.map((s) => s.id), ["a"]);
    assert.equal(t.store.changesCursor, "c1");
    assert.deepEqual(await t.store.getAllConversations().then((l) => l.map((s) => s.id)), ["a"]);
    assert.equal(t.requests[1]?.headers.get("If-None-Match"), '"L1"', "the engine's list is the store's");
  });

  it("keeps the cursor in memory while the storage refuses it", async () => {
    const storage = new MemoryStorage();
    const refusing = Object.assign(storage, {
      setItem(key: string, value: string) {
        if (key.endsWith("state")) throw new DOMException("full", "QuotaExceededError");
        MemoryStorage.prototype.setItem.call(storage, key, value);
      },
    });
    const t = setup([list("c1", summary("a")), feed("c2")], { storage: refusing });
    await t.store.getAllConversations();
    assert.equal(t.store.changesCursor, "c1");
    t.store.start();
    await t.clock.advance(1_000);
    t.store.stop();
    assert.equal(t.store.changesCursor, "c2");
    assert.equal(storage.getItem("u1:state"), null);
  });

  it("without sync it owns no engine, and start does nothing", async () => {
    const t = setup([], { sync: false });
    assert.equal(t.store.sync, undefined);
    t.store.start();
    await t.clock.advance(5_000);
    assert.equal(t.requests.length, 0);
  });
});

describe("HybridConversationStore.subscribe", () => {
  it("tells one snapshot per change, the list in order, with online and queued", async () => {
    const t = setup([list("c1", summary("b", T1), summary("a", T0)), down]);
    const first = t.store.getSnapshot();
    assert.equal(t.store.getSnapshot(), first, "the same object until something changes");
    assert.deepEqual(first, { conversations: [], watchedId: null, watched: null, online: true, connection: { state: "online" }, queued: 0 });

    await t.store.getAllConversations();
    await settle();
    assert.equal(t.snapshots.length, 1);
    assert.deepEqual(t.snapshots[0]?.conversations.map((s) => s.id), ["b", "a"]);

    await t.store.addMessage("a", { id: "m9", type: "user", content: "Again", timestamp: new Date() });
    await settle();
    const last = t.snapshots.at(-1)!;
    assert.deepEqual(last.conversations.map((s) => s.id), ["a", "b"], "the queued append moved it first");
    assert.deepEqual([last.online, last.connection, last.queued], [false, { state: "offline", code: "network_error" }, 1]);
    assert.equal(t.store.getSnapshot(), last);
    assert.ok(t.snapshots.length <= 3, `batched: ${t.snapshots.length} snapshots`);
  });

  it("stops telling an unsubscribed listener, and tells nothing when nothing changed", async () => {
    const t = setup([list("c1", summary("a")), list("c2", summary("a"), summary("b"))]);
    const seen: StoreSnapshot[] = [];
    const off = t.store.subscribe((snapshot) => seen.push(snapshot));
    await t.store.getAllConversations();
    await settle();
    t.store.getSnapshot();
    await settle();
    off();
    await t.store.getAllConversations();
    await settle();
    assert.equal(seen.length, 1);
    assert.equal(t.snapshots.length, 2);
  });
});

describe("HybridConversationStore.watch", () => {
  const streaming = { id: "r1", type: "assistant", content: "Hel", streaming: true, timestamp: T1 };
  const view = {
    ...summary("c1", T1, "Hi"),
    messageCount: 2,
    nextCursor: null,
    messages: [{ id: "m1", type: "user", content: "Hi", timestamp: T0 }, streaming],
  };

  it("reads the conversation once, then follows another device's reply into the snapshot", async () => {
    const t = setup([
      list("c1", summary("c1", T1, "Hi")),
      { status: 200, body: view, headers: { ETag: '"3"' } },
      { status: 200, body: { ...streaming, content: "lo", offset: 3, length: 5, streaming: false }, headers: { ETag: '"4"' } },
    ]);
    await t.store.getAllConversations();
    t.store.start();
    const read = await t.store.watch("c1");
    assert.equal(read?.messages.length, 2);
    assert.equal(t.store.getSnapshot().watchedId, "c1");
    assert.equal(t.store.getSnapshot().watched?.messages.at(-1)?.content, "Hel");
    await t.clock.advance(100);
    t.store.stop();
    assert.deepEqual(t.lines().slice(1), ["GET /api/conversations/c1?limit=100", "GET /api/conversations/c1/messages/r1?after=3"]);
    assert.equal(t.requests[2]?.headers.get("If-None-Match"), '"3"', "the store's read handed to the engine");
    const last = t.store.getSnapshot().watched?.messages.at(-1);
    assert.deepEqual([last?.content, last?.streaming], ["Hello", false]);

    await t.store.watch(null);
    assert.deepEqual([t.store.getSnapshot().watchedId, t.store.getSnapshot().watched], [null, null]);
  });

  it("watches nothing when the conversation does not exist", async () => {
    const t = setup([{ status: 404, body: problem(404, "not_found") }]);
    assert.equal(await t.store.watch("gone"), null);
    assert.equal(t.store.getSnapshot().watchedId, null);
  });

  it("shows a conversation the app just made without reading it", async () => {
    const t = setup([down], { sync: false });
    const made = { id: "n1", title: "New", createdAt: T0, updatedAt: T0, totalTokens: 0, messages: [] };
    await t.store.saveConversation(made);
    const shown = await t.store.watch("n1", { read: false });
    assert.equal(shown?.title, "New");
    assert.equal(t.store.getSnapshot().watched?.id, "n1");
    assert.equal(t.requests.length, 1, "only the PUT it tried");
  });

  it("shows this device's reply in the watched conversation as it comes", async () => {
    const t = setup([down], { sync: false });
    await t.store.saveConversation({ id: "c1", title: "Hi", createdAt: T0, updatedAt: T0, totalTokens: 0, messages: [] });
    await t.store.watch("c1", { read: false });
    const seen: (string | undefined)[] = [];
    async function* source() {
      yield "Hel";
      yield "lo";
    }
    const result = await t.store.streamReply("c1", { id: "r1" }, source(), {
      onUpdate: () => {
        const last = t.store.getSnapshot().watched?.messages.at(-1);
        seen.push(`${last?.content}${last?.streaming ? "…" : ""}`);
      },
    });
    assert.equal(result.delivered, false);
    assert.deepEqual(seen, ["Hel…", "Hello…"]);
    const last = t.store.getSnapshot().watched?.messages.at(-1);
    assert.deepEqual([last?.id, last?.content, last?.streaming], ["r1", "Hello", false], "then the queued reply");
  });
});

describe("HybridConversationStore and archived conversations", () => {
  it("carries archived from the feed into the copy, its storage and the snapshot, and takes it away again", async () => {
    const archived = { ...summary("b", T0), archived: true };
    const t = setup([
      list("c1", summary("a", T1), summary("b", T0)),
      feed("c2", { type: "upsert", id: "b", version: 2, conversation: archived }),
      feed("c3", { type: "upsert", id: "b", version: 3, conversation: summary("b", T0) }),
    ]);
    await t.store.getAllConversations();
    t.store.start();
    await t.clock.advance(1_000);
    const shown = t.store.getSnapshot().conversations;
    assert.deepEqual(shown.map((s) => [s.id, s.archived]), [["a", undefined], ["b", true]], "archived, and in its place");
    const kept = JSON.parse(t.storage.getItem("u1:summaries")!) as { id: string; archived?: boolean }[];
    assert.equal(kept.find((s) => s.id === "b")?.archived, true, "the copy in storage carries it too");

    await t.clock.advance(1_000);
    t.store.stop();
    const after = t.store.getSnapshot().conversations.find((s) => s.id === "b");
    assert.equal(after !== undefined && "archived" in after, false, "unarchived: the field is gone, as the API answers it");
  });

  it("archives with a PATCH of archived alone, keeping the conversation's place in the list", async () => {
    const view = { ...summary("b", T0), messageCount: 1, nextCursor: null, messages: [{ id: "m1", type: "user", content: "Hi", timestamp: T0 }] };
    const t = setup([
      list("c1", summary("a", T1), summary("b", T0)),
      { status: 200, body: view, headers: { ETag: '"1"' } },
      { status: 200, body: { ...summary("b", T0), archived: true }, headers: { ETag: '"2"' } },
    ]);
    await t.store.getAllConversations();
    const read = await t.store.getConversation("b");
    assert.ok(read !== null);
    await t.store.saveConversation({ ...read, archived: true });
    await t.store.flush();
    const patch = t.requests[2]!;
    assert.deepEqual([patch.method, patch.url.slice(BASE.length), patch.body], ["PATCH", "/api/conversations/b", { archived: true }]);
    assert.equal(patch.headers.get("If-Match"), '"1"');
    const shown = t.store.getSnapshot().conversations;
    assert.deepEqual(shown.map((s) => [s.id, s.archived]), [["a", undefined], ["b", true]]);
    assert.equal(shown[1]?.updatedAt.toISOString(), T0, "archiving alone does not move it to the top");
  });
});
