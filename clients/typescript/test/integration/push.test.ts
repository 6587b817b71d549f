/**
 * Two devices of one user against the real API and its local WebSocket (`ws://.../ws`, served by
 * `make dev`'s server, ../support/server.ts): device B's engine polls no more (an interval of an
 * hour) and still sees A's conversation, its messages and a streamed reply, by the pushes; a
 * change A makes while B's channel is down reaches B once, through the feed, when it is back.
 *
 * Needs a WebSocket in Node: Node 22's global, or Node 20 with `--experimental-websocket` (the
 * package's test scripts pass it).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { ChatStoreClient, MemoryStorage, PushChannel, SyncEngine, pushUrl, streamReply } from "../../src/index.js";
import type { Change, FetchLike, PushChannelEvents, SyncEvents, WebSocketConstructor } from "../../src/index.js";
import { startApi } from "../support/server.js";
import type { ApiServer } from "../support/server.js";

const WebSocketHere = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
const HOUR = 3_600_000;

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

/** The first `event` of `emitter` whose payload passes `test`, within `timeoutMs`. */
function next<E extends object, K extends keyof E>(
  emitter: { on(event: K, listener: (payload: E[K]) => void): () => void },
  event: K,
  test: (payload: E[K]) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<E[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = emitter.on(event, (payload) => {
      if (!test(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A fetch that records each request's method and path. */
function recording(paths: string[]): FetchLike {
  return async (url, init) => {
    const { pathname, search } = new URL(url);
    paths.push(`${init.method ?? "GET"} ${pathname}${search}`);
    return fetch(url, init);
  };
}

describe("push: two devices on one token, polling off", { skip: WebSocketHere === undefined && "no WebSocket in this Node" }, () => {
  it("B sees A's conversation, its messages and a streamed reply live, and catches up once after a drop", async () => {
    const a = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000 });
    const requests: string[] = [];
    const b = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000, fetch: recording(requests) });
    const push = new PushChannel({ url: pushUrl(api.baseUrl), client: b, WebSocket: WebSocketHere! });
    const changes: Change[] = [];
    const engine = new SyncEngine({
      client: b,
      storage: new MemoryStorage(),
      document: null,
      intervalMs: HOUR, // no polling: only the pushes (and the feed they point to) can tell B
      push,
      onChange: (change) => changes.push(change),
    });
    const errors: unknown[] = [];
    engine.on("error", ({ error }) => errors.push(error));
    push.on("error", ({ error }) => errors.push(error));

    // A has a channel too: the server names its connection, and A's writes carry that name, so
    // they are pushed to B and not back to A.
    const pushA = new PushChannel({ url: pushUrl(api.baseUrl), client: a, WebSocket: WebSocketHere! });
    const pushedToA: unknown[] = [];
    pushA.on("push", (event) => pushedToA.push(event));
    const opened = next<PushChannelEvents, "open">(push, "open");
    pushA.start();
    push.start();
    engine.start();
    await opened;
    for (let waited = 0; a.transport.connectionId === undefined; waited += 20) {
      assert.ok(waited < 5_000, "A's connection named within 5 s");
      await pause(20);
    }
    await engine.syncNow(); // the list, and the open's feed read: B is current
    const id = "chat-pushed";

    // A conversation and its first message appear on B.
    const appeared = next<SyncEvents, "upsert">(engine, "upsert", ({ summary }) => summary.id === id);
    const started = Date.now();
    await a.appendMessage(id, { id: "u1", type: "user", content: "Tell me a story", timestamp: new Date() });
    await appeared;
    console.log(`a new conversation seen by push ${Date.now() - started} ms after A began writing it`);

    // B opens it; a reply A streams grows on B by its delta pushes, to its exact text.
    const shown = next<SyncEvents, "conversation">(engine, "conversation", ({ conversation }) => conversation.id === id);
    engine.watch(id);
    await shown;
    await pause(100); // the watch frame reaches the server
    const followStart = requests.length;
    const progress: string[] = [];
    engine.on("message", ({ messageId, content }) => {
      if (messageId === "a1") progress.push(content);
    });
    const finished = next<SyncEvents, "message">(engine, "message", ({ messageId, streaming }) => messageId === "a1" && !streaming);
    const chunks = Array.from({ length: 20 }, (_, i) => `part ${i} with ünïcode 🙂; `);
    async function* reply(): AsyncGenerator<string> {
      yield "Once upon a time: ";
      for (const chunk of chunks) {
        await pause(40);
        yield chunk;
      }
    }
    const result = await streamReply({ client: a, conversationId: id, message: { id: "a1" }, source: reply(), flushIntervalMs: 50 });
    assert.equal(result.delivered, true);
    const expected = "Once upon a time: " + chunks.join("");
    const final = await finished;
    assert.equal(final.content, expected);
    assert.equal(final.interrupted, false);
    assert.ok(progress.length >= 3, `the reply grew on B as it streamed: ${progress.length} steps`);
    for (const step of progress) assert.ok(expected.startsWith(step), "each step a prefix of the reply");
    const polls = requests.slice(followStart).filter((r) => r.includes("/messages/a1"));
    console.log(
      `a ${expected.length}-character reply in ${result.delivered ? result.deltas : 0} deltas followed with ` +
        `${polls.length} message reads (by polling: one a second), ${requests.length - followStart} requests in all`,
    );
    assert.ok(polls.length <= 3, `the reply is followed by its pushes, not polled: ${polls.join(", ")}`);

    // B's channel goes down; A renames meanwhile (nothing can push it to B); B's channel comes
    // back and its engine reads the feed once: the rename arrives once, neither lost nor twice.
    const closed = next<PushChannelEvents, "closed">(push, "closed");
    push.stop();
    await closed;
    const before = changes.filter((c) => c.id === id).length;
    await a.updateConversation(id, { title: "Renamed while B was offline" });
    await pause(300);
    assert.equal(changes.filter((c) => c.id === id).length, before, "down, and polling off: not seen yet");
    const renamed = next<SyncEvents, "upsert">(engine, "upsert", ({ summary }) => summary.title === "Renamed while B was offline");
    push.start();
    await renamed;
    await pause(500);
    const after = changes.filter((c) => c.id === id);
    assert.equal(after.length, before + 1, "the rename came once");

    engine.stop();
    push.stop();
    pushA.stop();
    assert.deepEqual(pushedToA, [], "A's own writes were not pushed back to it");
    assert.deepEqual(errors, []);
  });
});
