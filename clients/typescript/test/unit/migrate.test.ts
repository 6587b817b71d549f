import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";

import {
  ChatStoreClient,
  ChatStoreError,
  MemoryStorage,
  dismissMigrationNotice,
  migrateFromLocalStorage,
  migrationNotice,
} from "../../src/index.js";
import type { MigrationProgress } from "../../src/index.js";
import { fakeFetch, problem } from "../support/fake-fetch.js";
import type { Scripted, SeenRequest } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const LIMIT_BYTES = 2_000;
const HEADROOM = 1_000;
const BUDGET = LIMIT_BYTES - HEADROOM;

/** A legacy conversation of about `chars` characters, most of them two UTF-8 bytes each. */
function legacy(id: string, chars: number) {
  return {
    id,
    title: `Chat ${id}`,
    createdAt: "2025-03-01T09:00:00.000Z",
    updatedAt: "2025-03-01T09:00:00.000Z",
    totalTokens: 0,
    messages: [{ id: `${id}-m1`, type: "user", content: "é".repeat(chars), timestamp: "2025-03-01T09:00:00.000Z" }],
  };
}

const limits = (maxConversationsPerUser = 100): Scripted => ({
  status: 200,
  body: { maxBodyBytes: LIMIT_BYTES, maxConversationsPerUser },
});
const imported = (n: number, extra: Record<string, unknown> = {}): Scripted => ({
  status: 200,
  body: { imported: n, updated: 0, skipped: 0, evicted: [], rejected: [], ...extra },
});

function setup(conversations: unknown[], current?: string) {
  const storage = new MemoryStorage();
  storage.setItem("conversations", JSON.stringify(conversations));
  if (current !== undefined) storage.setItem("currentConversationId", current);
  const requests: SeenRequest[] = [];
  let script = fakeFetch();
  const client = new ChatStoreClient({
    baseUrl: BASE,
    retry: { retries: 0 },
    fetch: async (url, init) => {
      try {
        return await script.fetch(url, init);
      } finally {
        requests.push(script.requests[script.requests.length - 1]!);
      }
    },
  });
  return {
    storage,
    requests,
    run: (answers: Scripted[], progress?: MigrationProgress[]) => {
      script = fakeFetch(...answers);
      return migrateFromLocalStorage({
        client,
        storage,
        headroomBytes: HEADROOM,
        onProgress: (p) => progress?.push(structuredClone(p)),
      });
    },
  };
}

const bytes = (r: SeenRequest) => Buffer.byteLength(JSON.stringify(r.body), "utf8");
const ids = (r: SeenRequest) => (r.body as { conversations: Array<{ id: string }> }).conversations.map((c) => c.id);
const key = (r: SeenRequest) => r.headers.get("Idempotency-Key");

describe("migrateFromLocalStorage", () => {
  it("sends the history in batches that fit the body limit, measured in UTF-8 bytes", async () => {
    // "a" is 514 UTF-16 units but 814 UTF-8 bytes, "c" 314 and 414: counted in UTF-16 units
    // they would share a batch (~880 of 1,000), in bytes they cannot (~1,280).
    const history = [legacy("a", 300), legacy("c", 100), legacy("b", 300), legacy("d", 100), legacy("huge", 600)];
    const t = setup(history, '"b"');
    const progress: MigrationProgress[] = [];
    const report = await t.run([limits(), imported(1), imported(1), imported(1), imported(1)], progress);

    assert.deepEqual(t.requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`), [
      "GET /api/limits",
      "POST /api/import",
      "POST /api/import",
      "POST /api/import",
      "POST /api/import",
    ]);
    const batches = t.requests.slice(1);
    assert.deepEqual(batches.map(ids), [["a"], ["c"], ["b"], ["d"]], "in order, the huge one not sent");
    assert.deepEqual(batches.map(bytes), [834, 434, 834, 462]);
    for (const batch of batches) assert.ok(bytes(batch) <= BUDGET, `${bytes(batch)} bytes > ${BUDGET}`);
    assert.deepEqual(
      batches.map((r) => (r.body as { currentConversationId?: string }).currentConversationId),
      [undefined, undefined, undefined, "b"],
      "the open conversation's id rides in the last batch",
    );
    assert.equal(new Set(batches.map(key)).size, 4);
    assert.ok(batches.every((r) => /^migration-[0-9a-f]{32}$/.test(key(r) ?? "")));

    assert.deepEqual(report, {
      imported: 4,
      updated: 0,
      skipped: 0,
      evicted: [],
      rejected: [{ id: "huge", code: "payload_too_large", detail: report.rejected[0]!.detail }],
      notMoved: [{ position: 4, id: "huge", title: "Chat huge", code: "payload_too_large", detail: report.rejected[0]!.detail }],
      batches: 4,
      done: true,
    });
    assert.deepEqual(progress.map((p) => [p.sent, p.batches]), [[1, 4], [2, 4], [3, 4], [4, 4]]);
    assert.ok(t.storage.getItem("conversations"), "the legacy key is left for the app to remove");
  });

  it("puts at most maxConversationsPerUser conversations in one batch", async () => {
    const t = setup([legacy("a", 1), legacy("b", 1), legacy("c", 1)]);
    await t.run([limits(2), imported(2), imported(1)]);
    assert.deepEqual(t.requests.slice(1).map(ids), [["a", "b"], ["c"]]);
  });

  it("resumes after a failure with the remaining batches and the same keys, then does nothing once done", async () => {
    const history = [legacy("a", 300), legacy("b", 300), legacy("c", 300)];
    const t = setup(history);
    await assert.rejects(
      t.run([limits(), imported(1), { status: 422, body: problem(422, "validation_failed") }]),
      (error) => error instanceof ChatStoreError && error.code === "validation_failed",
    );
    const firstRun = t.requests.splice(0);
    assert.deepEqual(firstRun.slice(1).map(ids), [["a"], ["b"]]);

    const report = await t.run([limits(), imported(1, { skipped: 0 }), imported(0, { skipped: 1 })]);
    assert.deepEqual(t.requests.slice(1).map(ids), [["b"], ["c"]], "the sent batch is not sent again");
    assert.equal(key(t.requests[1]!), key(firstRun[2]!), "the failed batch keeps its key");
    assert.deepEqual([report.imported, report.skipped, report.batches, report.done], [2, 1, 3, true]);

    t.requests.splice(0);
    const again = await t.run([]);
    assert.equal(t.requests.length, 0, "done: no request at all");
    assert.deepEqual(again, report);
  });

  it("passes the server's rejections and evictions through", async () => {
    const t = setup([legacy("bad id", 1), legacy("ok", 1)]);
    const rejected = [{ id: "bad id", code: "invalid_id", detail: "bad" }];
    const report = await t.run([limits(), imported(1, { rejected, evicted: ["old"] })]);
    assert.deepEqual(report.rejected, rejected);
    assert.deepEqual(report.evicted, ["old"]);
    assert.equal(report.imported, 1);
  });

  it("leaves out what is no conversation and moves the rest, listing each entry not moved once by position", async () => {
    // [good, null (a deleted slot), good, 7, an object without an id, an array, good]
    const history = [legacy("a", 1), null, legacy("b", 1), 7, { title: "No id" }, [], legacy("c", 1)];
    const t = setup(history);
    // The server refuses "b" (by id) and the third entry it was sent (by its place in the batch).
    const rejected = [
      { id: "b", code: "conversation_deleted", detail: "conversation 'b' was deleted" },
      { id: "conversations[2]", code: "validation_failed", detail: "conversations[2].messages: ..." },
    ];
    const report = await t.run([limits(), imported(1, { rejected })]);
    assert.deepEqual(t.requests.slice(1).map(ids), [["a", "b", "c"]], "one batch, the good entries only");
    assert.deepEqual(
      report.notMoved.map(({ detail: _, ...entry }) => entry),
      [
        { position: 1, code: "not_a_conversation" },
        { position: 2, id: "b", title: "Chat b", code: "conversation_deleted" },
        { position: 3, code: "not_a_conversation" },
        { position: 4, title: "No id", code: "no_id" },
        { position: 5, code: "not_a_conversation" },
        { position: 6, id: "c", title: "Chat c", code: "validation_failed" },
      ],
    );
    assert.match(report.notMoved[0]!.detail, /null/);
    assert.deepEqual(report.rejected, rejected, "the server's answer as it came");
    assert.equal(report.done, true);

    // Told until dismissed, across reloads (read from storage), then never again.
    assert.deepEqual(migrationNotice(t.storage)?.notMoved, report.notMoved);
    assert.deepEqual((await t.run([])).notMoved, report.notMoved, "the report stays; no request");
    assert.deepEqual(migrationNotice(t.storage)?.notMoved, report.notMoved);
    dismissMigrationNotice(t.storage);
    assert.equal(migrationNotice(t.storage), null);
    await t.run([]);
    assert.equal(migrationNotice(t.storage), null, "a later call does not bring it back");
  });

  it("has no notice while nothing failed, or before it is done", async () => {
    const t = setup([legacy("a", 1)]);
    assert.equal(migrationNotice(t.storage), null, "not run yet");
    await t.run([limits(), imported(1)]);
    assert.equal(migrationNotice(t.storage), null);
  });

  it("moves a history of nothing but bad entries without a request, and says so", async () => {
    const t = setup([null, null]);
    const report = await t.run([]);
    assert.equal(t.requests.length, 0);
    assert.deepEqual(report.notMoved.map((e) => e.position), [0, 1]);
    assert.equal(migrationNotice(t.storage)?.notMoved.length, 2);
  });

  it("marks an empty or absent history done without a request", async () => {
    const t = setup([]);
    const report = await t.run([]);
    assert.equal(t.requests.length, 0);
    assert.deepEqual([report.batches, report.done], [0, true]);
  });
});
