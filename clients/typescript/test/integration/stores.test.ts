/**
 * The stores and the migration against the real API (see ../support/server.ts): a legacy
 * history migrated and read back, and a hybrid store that goes offline, queues, comes back
 * and replays its queue so the server holds each message once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ChatStoreClient,
  CircuitBreaker,
  HybridConversationStore,
  MemoryStorage,
  RemoteConversationStore,
  dismissMigrationNotice,
  migrateFromLocalStorage,
  migrationNotice,
} from "../../src/index.js";
import type { FetchLike, StoreNotice } from "../../src/index.js";
import { useApiUser } from "../support/server.js";

const local = useApiUser();

/** How the switchable fetch behaves: through, at a port nobody listens on, or answer lost. */
type Network = "up" | "down" | "lose-answer";

function client(network: () => Network = () => "up", seen: string[] = []): ChatStoreClient {
  const fetch: FetchLike = async (url, init) => {
    seen.push(`${init.method} ${url.slice(local.api.baseUrl.length)}`);
    const mode = network();
    // Port 1 on loopback: nothing listens there, so the connection is refused for real.
    if (mode === "down") return globalThis.fetch(url.replace(local.api.baseUrl, "http://127.0.0.1:1"), init);
    const response = await globalThis.fetch(url, init);
    if (mode === "lose-answer") throw new TypeError("the connection dropped before the answer");
    return response;
  };
  return new ChatStoreClient({ baseUrl: local.api.baseUrl, getToken: () => local.token, fetch, retry: { retries: 0 }, timeoutMs: 5_000 });
}

const at = (second: number): string => new Date(Date.UTC(2025, 2, 1, 9, 0, second)).toISOString();

describe("stores against the local API", () => {
  it("migrates a legacy localStorage history, reads it back, and does nothing the second time", async () => {
    const storage = new MemoryStorage();
    const history = [1, 2, 3].map((n) => ({
      id: `legacy-${n}`,
      title: `Old chat ${n} é`,
      createdAt: at(n),
      updatedAt: at(n),
      totalTokens: 0,
      messages: [
        { id: `legacy-${n}-u`, type: "user", content: `question ${n} 🙂`, timestamp: at(n) },
        { id: `legacy-${n}-a`, type: "assistant", content: `answer ${n}`, timestamp: at(n) },
      ],
    }));
    storage.setItem("conversations", JSON.stringify(history));
    storage.setItem("currentConversationId", "legacy-2");
    const seen: string[] = [];
    const migrating = client(() => "up", seen);

    const report = await migrateFromLocalStorage({ client: migrating, storage });
    assert.deepEqual(
      { ...report },
      { imported: 3, updated: 0, skipped: 0, evicted: [], rejected: [], notMoved: [], batches: 1, done: true },
    );
    assert.deepEqual(seen, ["GET /api/limits", "POST /api/import"]);

    const store = new RemoteConversationStore(client());
    const list = await store.getAllConversations();
    assert.deepEqual(
      list.filter((s) => s.id.startsWith("legacy-")).map((s) => s.id),
      ["legacy-3", "legacy-2", "legacy-1"],
    );
    const second = await store.getConversation("legacy-2");
    assert.equal(second?.title, "Old chat 2 é");
    assert.deepEqual(second?.messages.map((m) => m.content), ["question 2 🙂", "answer 2"]);
    const me = await migrating.getMe();
    assert.ok(!me.notModified);
    assert.equal(me.data.currentConversationId, "legacy-2");

    seen.length = 0;
    assert.deepEqual(await migrateFromLocalStorage({ client: migrating, storage }), report);
    assert.deepEqual(seen, []);
  });

  it("migrates a history with a null entry and a broken one: the rest moves, each bad entry told once", async () => {
    const storage = new MemoryStorage();
    const good = (n: number) => ({
      id: `holes-${n}`,
      title: `Kept ${n}`,
      createdAt: at(n),
      updatedAt: at(n),
      totalTokens: 0,
      messages: [{ id: `holes-${n}-u`, type: "user", content: `hello ${n}`, timestamp: at(n) }],
    });
    // What `delete arr[i]` then JSON.stringify leaves (a null), and one the server refuses.
    const broken = { ...good(9), id: "holes-broken", title: "Broken", messages: [{ id: "x", type: "robot" }] };
    storage.setItem("conversations", JSON.stringify([good(1), null, broken, good(2)]));

    const report = await migrateFromLocalStorage({ client: client(), storage });
    assert.equal(report.imported, 2);
    assert.deepEqual(
      report.notMoved.map(({ position, id, code }) => ({ position, id, code })),
      [
        { position: 1, id: undefined, code: "not_a_conversation" },
        { position: 2, id: "holes-broken", code: "validation_failed" },
      ],
    );
    assert.equal(report.notMoved[1]?.title, "Broken");
    const ids = (await new RemoteConversationStore(client()).getAllConversations()).map((s) => s.id);
    assert.ok(ids.includes("holes-1") && ids.includes("holes-2") && !ids.includes("holes-broken"));
    assert.equal(migrationNotice(storage)?.notMoved.length, 2);
    dismissMigrationNotice(storage);
    assert.equal(migrationNotice(storage), null);
  });

  it("is answered per entry by the API itself for a null in a batch, not refused whole", async () => {
    const body = { conversations: [null as never, { id: "nulls-ok", title: "ok", messages: [], createdAt: at(1), updatedAt: at(1), totalTokens: 0 }] };
    const { data } = await client().importConversations(body);
    assert.equal(data.imported, 1);
    assert.deepEqual(data.rejected.map((r) => [r.id, r.code]), [["conversations[0]", "validation_failed"]]);
  });

  it("a conversation deleted elsewhere while offline: the message typed offline is told, and restore brings both back", async () => {
    let network: Network = "up";
    const mine = new HybridConversationStore(client(() => network), { storage: new MemoryStorage(), sync: false });
    const other = new RemoteConversationStore(client());
    const notices: StoreNotice[] = [];
    mine.on("notice", (n) => notices.push(n));
    const first = { id: "gone-m1", type: "user" as const, content: "Before", timestamp: at(1) };
    await mine.saveConversation({ id: "gone", title: "To be deleted", createdAt: at(1), updatedAt: at(1), totalTokens: 0, messages: [first] });
    assert.equal(mine.pending, 0);
    network = "down";
    await mine.addMessage("gone", { id: "gone-m2", type: "user", content: "Typed offline", timestamp: at(2) });
    assert.equal(mine.pending, 1);
    await other.getConversation("gone");
    await other.deleteConversation("gone");
    network = "up";
    await mine.flush();
    const notice = notices[0];
    assert.ok(notice?.kind === "deleted_elsewhere", JSON.stringify(notices));
    assert.equal(notice.code, "conversation_deleted");
    assert.deepEqual(notice.unsent.map((m) => m.content), ["Typed offline"]);
    await notice.restore();
    assert.equal(mine.pending, 0);
    const back = await new RemoteConversationStore(client()).getConversation("gone");
    assert.deepEqual(back?.messages.map((m) => m.content), ["Before", "Typed offline"]);
    mine.dispose();
  });

  it("queues writes offline and replays them once the API is back, each message stored once", async () => {
    let network: Network = "up";
    let now = Date.parse("2030-01-01T00:00:00.000Z");
    const storage = new MemoryStorage();
    const options = () => ({
      storage,
      now: () => now,
      breaker: new CircuitBreaker({ now: () => now }),
      schedule: () => () => {}, // flushed by hand below
    });
    const store = new HybridConversationStore(client(() => network), options());
    const m = (id: string, content: string) => ({ id, type: "user" as const, content, timestamp: at(10) });

    await store.addMessage("offline-1", m("m1", "first, online"));
    assert.equal(store.pending, 0);
    assert.equal((await store.getConversation("offline-1"))?.messages.length, 1);

    network = "down";
    await store.addMessage("offline-1", m("m2", "second, offline"));
    await store.addMessage("offline-1", m("m3", "third, offline"));
    await store.updateMessage("offline-1", "m2", { content: "second, edited offline" });
    now += 1_000;
    const view = await store.getConversation("offline-1");
    await store.saveConversation({ ...view!, title: "Renamed offline" });
    assert.equal(store.online, false);
    assert.equal(store.pending, 4);
    assert.deepEqual((await store.getConversation("offline-1"))?.messages.map((m) => m.content), [
      "first, online",
      "second, edited offline",
      "third, offline",
    ]);

    // The page reloads: a new store over the same storage. The network comes back, but the
    // first replayed answer is lost on the way, so that write reaches the server twice.
    network = "lose-answer";
    now += 60_000; // past the breaker's cooldown
    const reloaded = new HybridConversationStore(client(() => network), options());
    assert.equal(reloaded.pending, 4);
    await reloaded.flush();
    assert.equal(reloaded.pending, 4, "the lost answer leaves the write queued");
    network = "up";
    now += 60_000;
    await reloaded.flush();
    assert.equal(reloaded.pending, 0);
    assert.equal(reloaded.online, true);

    const read = await client().getConversation("offline-1");
    assert.ok(!read.notModified);
    const data = read.data;
    assert.deepEqual(
      data.messages.map((message) => [message.id, message.content]),
      [
        ["m1", "first, online"],
        ["m2", "second, edited offline"],
        ["m3", "third, offline"],
      ],
    );
    assert.equal(data.messageCount, 3);
    assert.equal(data.title, "Renamed offline");
    store.dispose();
    reloaded.dispose();
  });
});
