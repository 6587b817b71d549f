/**
 * Two devices of one user against the real API (../support/server.ts): device A streams a reply
 * with streamReply while device B's SyncEngine sees the conversation appear, follows the reply by
 * offset to its exact final text, and sees it deleted. Also measures what B's requests cost.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { ChatStoreClient, MemoryStorage, SyncEngine, streamReply } from "../../src/index.js";
import type { FetchLike, SyncEvents } from "../../src/index.js";
import { startApi } from "../support/server.js";
import type { ApiServer } from "../support/server.js";

/** One answer device B received: what it asked, and the bytes that came back (headers included). */
interface Seen {
  method: string;
  path: string;
  status: number;
  bytes: number;
  body: string;
}

let api: ApiServer;
let token: string;

before(async () => {
  api = await startApi();
  const issued = await new ChatStoreClient({ baseUrl: api.baseUrl }).issueAnonymousToken();
  token = issued.data.token;
});

after(async () => {
  await api?.stop();
});

/** A fetch that records every answer. */
function recording(seen: Seen[]): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    const body = await response.clone().text();
    let headerBytes = 0;
    response.headers.forEach((value, name) => {
      headerBytes += name.length + value.length + 4; // "name: value\r\n"
    });
    const { pathname, search } = new URL(url);
    seen.push({
      method: init.method ?? "GET",
      path: pathname + search,
      status: response.status,
      bytes: Buffer.byteLength(body) + headerBytes,
      body,
    });
    return response;
  };
}

/** The first `event` whose payload passes `test`, within `timeoutMs`. */
function next<K extends keyof SyncEvents>(
  engine: SyncEngine,
  event: K,
  test: (payload: SyncEvents[K]) => boolean,
  timeoutMs = 10_000,
): Promise<SyncEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = engine.on(event, (payload) => {
      if (!test(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("two devices: one streams, the other follows", () => {
  it("B sees the conversation, follows the reply to its exact text, then sees it deleted", async () => {
    const a = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000 });
    const seen: Seen[] = [];
    const b = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000, fetch: recording(seen) });
    const engine = new SyncEngine({ client: b, storage: new MemoryStorage(), document: null, intervalMs: 200, followIntervalMs: 100 });
    const errors: unknown[] = [];
    engine.on("error", ({ error }) => errors.push(error));

    // First sync lists; an idle sync after it is one request answered with an empty page.
    await engine.syncNow();
    assert.deepEqual(
      seen.map((s) => s.path),
      ["/api/conversations?limit=100"],
    );
    await engine.syncNow();
    assert.equal(seen.length, 2);
    const idle = seen[1]!;
    assert.ok(idle.path.startsWith("/api/changes?since="), idle.path);
    assert.equal(idle.status, 200);
    assert.deepEqual(JSON.parse(idle.body).changes, []);
    console.log(`idle sync: 1 request, ${idle.bytes} bytes answered (headers included)`);

    // B opens the conversation as soon as the feed shows it.
    const id = "chat-two-devices";
    const appeared = next(engine, "upsert", ({ summary }) => summary.id === id);
    // The reply's own append may land after B's first refetch; its upsert brings it then.
    const opened = next(engine, "conversation", ({ conversation }) => conversation.messages.at(-1)?.id === "a1");
    engine.on("upsert", ({ summary }) => {
      if (summary.id === id) engine.watch(id);
    });
    engine.start();

    await a.appendMessage(id, { id: "u1", type: "user", content: "Tell me a story", timestamp: new Date() });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const chunks = Array.from({ length: 30 }, (_, i) => `part ${i} with ünïcode 🙂; `);
    async function* reply(): AsyncGenerator<string> {
      yield "Once upon a time: ";
      await gate; // the reply goes on once B is following it
      for (const chunk of chunks) {
        await pause(15);
        yield chunk;
      }
    }
    const streaming = streamReply({ client: a, conversationId: id, message: { id: "a1" }, source: reply(), flushIntervalMs: 50 });

    const upsert = await appeared;
    assert.equal(upsert.summary.id, id);
    const { conversation } = await opened;
    const last = conversation.messages.at(-1);
    assert.equal(last?.id, "a1");
    assert.equal(last?.streaming, true);
    const followStart = seen.length;
    const finished = next(engine, "message", ({ messageId, streaming }) => messageId === "a1" && !streaming);
    open();

    const result = await streaming;
    assert.equal(result.delivered, true);
    const expected = "Once upon a time: " + chunks.join("");
    assert.equal(result.content, expected);
    const final = await finished;
    assert.equal(final.content, expected);
    assert.equal(final.interrupted, false);

    const polls = seen.slice(followStart).filter((s) => s.path.startsWith(`/api/conversations/${id}/messages/a1`));
    assert.ok(polls.length >= 2, `${polls.length} polls`);
    assert.ok(polls.every((p) => p.status === 200 || p.status === 304));
    const bytes = polls.reduce((sum, p) => sum + p.bytes, 0);
    const notModified = polls.filter((p) => p.status === 304).length;
    console.log(
      `following a ${expected.length}-character reply sent in ${result.delivered ? result.deltas : 0} deltas: ` +
        `${polls.length} polls (${notModified} answered 304), ${bytes} bytes answered (headers included)`,
    );

    // A deletes it; B's next sync brings the tombstone.
    const gone = next(engine, "tombstone", (t) => t.id === id);
    await a.deleteConversation(id);
    assert.deepEqual(await gone, { id, reason: "deleted" });
    engine.stop();
    assert.deepEqual(errors, []);
  });

  it("a reply that ends before its first delta is due is stored and finished in one request", async () => {
    const seen: Seen[] = [];
    const a = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000, fetch: recording(seen) });
    const tokens = { input: 5, output: 3, total: 8 };
    async function* quick(): AsyncGenerator<string | { type: "usage"; tokens: typeof tokens }> {
      yield "Short ";
      yield "answer.";
      yield { type: "usage", tokens };
    }
    const result = await streamReply({ client: a, conversationId: "chat-short", message: { id: "a1" }, source: quick(), flushIntervalMs: 10_000 });
    // Version 1 after the append, 2 after the one delta that also finished it.
    assert.deepEqual(result, { delivered: true, content: "Short answer.", deltas: 1, toolExecutions: [], tokens, etag: '"2"' });
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.status}`),
      ["POST 201", "PATCH 204"],
    );
    const stored = await a.getMessage("chat-short", "a1");
    assert.ok(!stored.notModified);
    assert.equal(stored.data.content, "Short answer.");
    assert.equal(stored.data.streaming, false);
    assert.deepEqual(stored.data.tokens, tokens);
  });
});
