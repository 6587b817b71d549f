/**
 * SyncEngine with a push channel, over a fake WebSocket, a scripted fetch and a manual clock:
 * which requests pushes cost, that an open channel stops the polling and a closed one brings it
 * back, and that a change crossing a drop is told once, neither lost nor repeated.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, HybridConversationStore, MemoryStorage, PushChannel, SYNC_STORAGE_KEY, SyncEngine } from "../../src/index.js";
import type { Change, SyncEngineOptions, SyncEvents } from "../../src/index.js";
import { FakeClock } from "../support/fake-clock.js";
import { fakeFetch, fakeSleep } from "../support/fake-fetch.js";
import type { Scripted, SeenRequest } from "../support/fake-fetch.js";
import type { FetchLike } from "../../src/index.js";
import { fakeWebSocket } from "../support/fake-websocket.js";

const BASE = "https://api.test";
const T = "2025-03-01T09:00:00.000Z";
const HOUR = 3_600_000;

function summary(id: string) {
  return { id, title: `title ${id}`, createdAt: T, updatedAt: T, messageCount: 1, totalTokens: 0 };
}

function conversation<M extends Record<string, unknown>>(id: string, messages: M[]) {
  return { ...summary(id), messages, messageCount: messages.length, nextCursor: null };
}

const upsert = (id: string, version: number) => ({ type: "upsert", id, version, conversation: summary(id) });
const page = (nextCursor: string, ...changes: unknown[]): Scripted => ({
  status: 200,
  body: { changes, nextCursor, hasMore: false },
});

const conversationPush = (id: string, version: number, change = "changed") => ({
  type: "conversation",
  conversationId: id,
  version,
  change,
});
const messagePush = (id: string, messageId: string, version: number, change = "appended") => ({
  type: "message",
  conversationId: id,
  messageId,
  version,
  change,
});
const delta = (version: number, offset: number, text: string, extra: Record<string, unknown> = {}) => ({
  type: "delta",
  conversationId: "w",
  messageId: "a1",
  version,
  offset,
  text,
  streaming: true,
  ...extra,
});

/**
 * Answers each request from its route's script (the feed, a message, a conversation), in order
 * within each: the feed and a followed reply may both ask when the socket opens, in either order.
 */
function routedFetch(script: Scripted[] | Routes): { fetch: FetchLike; requests: SeenRequest[] } {
  if (Array.isArray(script)) return fakeFetch(...script);
  const routes = {
    changes: fakeFetch(...(script.changes ?? [])),
    message: fakeFetch(...(script.message ?? [])),
    conversation: fakeFetch(...(script.conversation ?? [])),
  };
  const requests: SeenRequest[] = [];
  const fetch: FetchLike = async (url, init) => {
    const route = url.includes("/changes") ? routes.changes : url.includes("/messages/") ? routes.message : routes.conversation;
    const answer = route.fetch(url, init);
    requests.push(route.requests.at(-1)!);
    return answer;
  };
  return { fetch, requests };
}

interface Routes {
  changes?: Scripted[];
  message?: Scripted[];
  conversation?: Scripted[];
}

/** An engine kept at cursor `c0`, with a push channel on the same clock (pings once an hour). */
function setup(script: Scripted[] | Routes, options: Partial<SyncEngineOptions> = {}) {
  const clock = new FakeClock();
  const fake = routedFetch(script);
  const storage = new MemoryStorage();
  storage.setItem(SYNC_STORAGE_KEY, JSON.stringify({ cursor: "c0" }));
  const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, sleep: fakeSleep().sleep, getToken: () => "tok" });
  const ws = fakeWebSocket();
  const push = new PushChannel({
    url: "wss://push.test",
    getToken: () => "tok",
    WebSocket: ws.WebSocket,
    sleep: clock.sleep,
    random: () => 0.5,
    pingIntervalMs: HOUR,
  });
  const changes: Change[] = [];
  const engine = new SyncEngine({
    client,
    storage,
    document: null,
    sleep: clock.sleep,
    push,
    onChange: (change) => changes.push(change),
    ...options,
  });
  const events: [keyof SyncEvents, unknown][] = [];
  for (const name of ["upsert", "tombstone", "reset", "conversation", "message", "error"] as const) {
    engine.on(name, (payload) => events.push([name, payload]));
  }
  const urls = () => fake.requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`);
  const messages = () => events.filter(([name]) => name === "message").map(([, p]) => (p as SyncEvents["message"]).content);
  /** Starts the channel and the engine, and opens the socket once the engine's first sync is done. */
  const begin = async () => {
    push.start();
    engine.start();
    await clock.advance(0);
    ws.last().accept();
    await clock.advance(0);
  };
  /** Stops both, and checks that nothing went wrong on the way (an unscripted request included). */
  const finish = () => {
    engine.stop();
    push.stop();
    assert.deepEqual(
      events.filter(([name]) => name === "error"),
      [],
    );
  };
  return { clock, engine, push, ws, requests: fake.requests, urls, events, changes, messages, begin, finish };
}

describe("SyncEngine with a push channel", () => {
  it("reads the feed when the socket opens, then polls no more; a push newer than held is one feed read", async () => {
    const { clock, engine, finish, push, ws, urls, changes, begin } = setup([
      page("c1"),
      page("c2"),
      page("c3", upsert("x", 3)),
      page("c4", upsert("x", 5)),
    ]);
    await begin();
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/changes?since=c1"], "the start's sync, then the open's");
    await clock.advance(10 * 60_000);
    assert.equal(urls().length, 2, "open: no interval polling");
    ws.last().receive(conversationPush("x", 3, "created"));
    await clock.advance(0);
    assert.deepEqual(urls().slice(2), ["GET /api/changes?since=c2"]);
    assert.deepEqual(
      changes.map((c) => [c.id, c.type === "upsert" ? c.version : 0]),
      [["x", 3]],
    );
    // A push at the version held (repeated, or the device's own write already read): nothing.
    ws.last().receive(conversationPush("x", 3));
    ws.last().receive(messagePush("x", "m1", 2));
    await clock.advance(0);
    assert.equal(urls().length, 3);
    // Two pushes newer than held, in one burst: one feed read.
    ws.last().receive(messagePush("x", "m1", 4));
    ws.last().receive(messagePush("x", "m2", 5));
    await clock.advance(0);
    assert.deepEqual(urls().slice(3), ["GET /api/changes?since=c3"]);
    assert.deepEqual(
      changes.map((c) => [c.id, c.type === "upsert" ? c.version : 0]),
      [
        ["x", 3],
        ["x", 5],
      ],
    );
    assert.equal(engine.cursor, "c4");
    finish();
  });

  it("started on the app's cursor with the socket already open, reads the feed at the first tick, then no more", async () => {
    const { clock, engine, finish, push, ws, urls, changes } = setup([page("c1", upsert("x", 2))]);
    push.start();
    await clock.advance(0);
    ws.last().accept();
    await clock.advance(0);
    // The app listed (the list's cursor is c0) while the socket was open, then starts the engine:
    // a push in between went to nobody.
    engine.start({ cursor: "c0" });
    await clock.advance(0);
    assert.deepEqual(urls(), [], "the app's list is current: nothing at once");
    await clock.advance(30_000);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0"], "the first tick: the push it may have missed");
    assert.deepEqual(
      changes.map((c) => c.id),
      ["x"],
    );
    await clock.advance(10 * 60_000);
    assert.equal(urls().length, 1, "then the socket covers it");
    finish();
  });

  it("polls while the socket is down, and a change made meanwhile comes once, through the feed, on reconnect", async () => {
    const { clock, engine, finish, push, ws, urls, changes, begin } = setup([
      page("c1"),
      page("c2"),
      // Socket down: the interval's polls, each from the cursor the last ended at.
      page("c2"),
      // Reopened: the feed shows what was missed (y, written while nothing could push it).
      page("c3", upsert("y", 2)),
    ]);
    await begin();
    ws.last().drop(1006);
    await clock.advance(0);
    assert.equal(push.state, "closed");
    await clock.advance(750);
    assert.equal(ws.sockets.length, 2, "reconnecting");
    assert.equal(push.open, false, "not accepted yet");
    await clock.advance(30_000);
    assert.deepEqual(urls().slice(2), ["GET /api/changes?since=c2"], "down: the interval polls");
    ws.last().accept();
    await clock.advance(0);
    assert.deepEqual(urls().slice(3), ["GET /api/changes?since=c2"], "open again: the feed once");
    assert.deepEqual(
      changes.map((c) => c.id),
      ["y"],
    );
    // The push for y, late or repeated, is at a version held: nothing read, nothing told again.
    ws.last().receive(conversationPush("y", 2, "created"));
    await clock.advance(60_000);
    assert.equal(urls().length, 4);
    assert.deepEqual(
      changes.map((c) => c.id),
      ["y"],
    );
    finish();
  });

  it("a push during a feed read reads the feed again after it: the read may have asked before the change", async () => {
    let pushed = false;
    const { clock, engine, finish, push, ws, urls, changes, begin } = setup(
      [page("c1"), page("c2", upsert("a", 1)), page("c3", upsert("b", 7))],
      {
        onChange: (change) => {
          changes.push(change);
          if (!pushed) {
            pushed = true;
            ws.last().receive(conversationPush("b", 7, "created"));
          }
        },
      },
    );
    await begin();
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/changes?since=c1", "GET /api/changes?since=c2"]);
    assert.deepEqual(
      changes.map((c) => c.id),
      ["a", "b"],
    );
    finish();
  });

  it("asks the feed again when it does not show a pushed version yet (a replica behind), a few times", async () => {
    const { clock, engine, finish, push, ws, urls, begin } = setup(
      [page("c1"), page("c2"), page("c2"), page("c2"), page("c3", upsert("x", 5))],
      { followIntervalMs: 1_000 },
    );
    await begin();
    ws.last().receive(conversationPush("x", 5));
    await clock.advance(0);
    assert.equal(urls().length, 3);
    await clock.advance(1_000);
    assert.equal(urls().length, 4);
    await clock.advance(1_000);
    assert.equal(urls().length, 5, "shown at last");
    await clock.advance(60_000);
    assert.equal(urls().length, 5, "then nothing more");
    finish();
  });

  it("reads the feed for a deletion whatever its version: an eviction is pushed at version 0", async () => {
    const tombstone = { type: "tombstone", id: "x", reason: "evicted", at: T };
    const { clock, finish, ws, urls, events, begin } = setup([page("c1", upsert("x", 4)), page("c2"), page("c3", tombstone)]);
    await begin();
    ws.last().receive(conversationPush("x", 0, "deleted"));
    await clock.advance(0);
    assert.deepEqual(urls().at(-1), "GET /api/changes?since=c2");
    assert.deepEqual(events.at(-1), ["tombstone", { id: "x", reason: "evicted" }]);
    await clock.advance(60_000);
    assert.equal(urls().length, 3, "its tombstone answered it: nothing more");
    finish();
  });

  it("makes the watched conversation the channel's watch while running", async () => {
    const view = (id: string) => ({ status: 200, body: conversation(id, []), headers: { ETag: '"1"' } }) as Scripted;
    const { clock, engine, finish, push, ws, begin } = setup([page("c1"), view("w"), page("c2"), view("v")]);
    engine.watch("w");
    await begin();
    const socket = ws.last();
    assert.deepEqual(socket.sentOf("watch"), [{ type: "watch", conversationIds: ["w"] }]);
    engine.watch("v");
    await clock.advance(0);
    assert.deepEqual(socket.sentOf("watch").at(-1), { type: "watch", conversationIds: ["v"] });
    engine.stop();
    await clock.advance(0);
    assert.deepEqual(socket.sentOf("watch").at(-1), { type: "watch", conversationIds: [] });
    finish();
  });

  it("follows the watched reply by its deltas; parts, a gap and the end cost one poll each", async () => {
    const held = conversation("w", [
      { id: "u1", type: "user", content: "Hi", timestamp: T },
      { id: "a1", type: "assistant", content: "Hel", streaming: true, timestamp: T },
    ]);
    const tail = (content: string, offset: number, length: number, streaming: boolean) => ({
      status: 200,
      body: { id: "a1", type: "assistant", timestamp: T, content, offset, length, streaming },
      headers: { ETag: `"${length}"` },
    });
    const { clock, engine, finish, push, ws, requests, urls, messages, begin } = setup([
      page("c1"),
      page("c2"),
      tail("lo world", 3, 11, true), // the parts delta's poll
      tail(", and more", 11, 21, true), // the gap's poll
      tail(".", 21, 22, false), // the end's poll
    ]);
    await begin();
    engine.watch("w", { etag: '"5"', conversation: held });
    await clock.advance(0);
    const socket = ws.last();
    assert.deepEqual(socket.sentOf("watch"), [{ type: "watch", conversationIds: ["w"] }]);
    await clock.advance(5_000);
    assert.equal(requests.length, 2, "live: the reply is not polled");
    socket.receive(delta(6, 3, "lo"));
    await clock.advance(0);
    socket.receive(delta(7, 5, " wor"));
    socket.receive(delta(4, 0, "stale")); // older than held: a poll brought more
    await clock.advance(0);
    assert.deepEqual(messages(), ["Hello", "Hello wor"]);
    assert.equal(requests.length, 2, "text deltas cost nothing");
    socket.receive(delta(8, 9, "ld", { parts: true }));
    await clock.advance(0);
    assert.deepEqual(urls().slice(2), ["GET /api/conversations/w/messages/a1?after=9"]);
    assert.equal(requests[2]!.headers.get("If-None-Match"), '"5"');
    socket.receive(delta(12, 15, "and more")); // 11..15 was never pushed here: a gap
    await clock.advance(0);
    assert.deepEqual(urls().slice(3), ["GET /api/conversations/w/messages/a1?after=11"]);
    socket.receive(delta(22, 21, ".", { streaming: false }));
    await clock.advance(0);
    assert.deepEqual(urls().slice(4), ["GET /api/conversations/w/messages/a1?after=21"]);
    assert.deepEqual(messages(), ["Hello", "Hello wor", "Hello world", "Hello world, and more", "Hello world, and more."]);
    await clock.advance(60_000);
    assert.equal(requests.length, 5, "finished: no more polls");
    assert.deepEqual(socket.sentOf("watch").length, 1, "the engine's watch and the follow's are one set");
    finish();
  });

  it("live, polls a silent reply once per stale limit; down, polls it every interval; open again, once", async () => {
    const held = conversation("w", [{ id: "a1", type: "assistant", content: "Hel", streaming: true, timestamp: T }]);
    const notModified: Scripted = { status: 304, headers: { ETag: '"5"' } };
    const { clock, engine, finish, push, ws, requests, urls, begin } = setup(
      { changes: [page("c1"), page("c2"), page("c2")], message: Array<Scripted>(6).fill(notModified) },
      { followIntervalMs: 1_000, maxFollowIntervalMs: 1_000, intervalMs: 30_000 },
    );
    await begin();
    engine.watch("w", { etag: '"5"', conversation: held });
    await clock.advance(14_999);
    assert.equal(requests.length, 2);
    await clock.advance(1);
    assert.equal(requests.length, 3, "the stale limit without a push: one safety poll");
    ws.last().drop(1006);
    await clock.advance(0);
    assert.equal(requests.length, 4, "down: a poll at once");
    await clock.advance(2_000);
    assert.equal(requests.length, 6, "then every interval");
    await clock.advance(500); // the reconnect after 750 ms
    ws.last().accept();
    await clock.advance(0);
    assert.deepEqual(urls().slice(6).sort(), ["GET /api/changes?since=c2", "GET /api/conversations/w/messages/a1?after=3"]);
    await clock.advance(10_000);
    assert.equal(requests.length, 8, "open again: silent until a push or the stale limit");
    await clock.advance(5_000);
    assert.equal(requests.length, 9);
    finish();
  });

  it("a HybridConversationStore given the channel (sync: {push}) shows another device's conversation by push", async () => {
    const clock = new FakeClock();
    const fake = routedFetch({
      conversation: [{ status: 200, body: { conversations: [], nextCursor: null, changesCursor: "c0" } }],
      changes: [page("c1"), page("c2", upsert("x", 1))],
    });
    const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, sleep: fakeSleep().sleep, getToken: () => "tok" });
    const ws = fakeWebSocket();
    const push = new PushChannel({ url: "wss://push.test", client, WebSocket: ws.WebSocket, sleep: clock.sleep, pingIntervalMs: HOUR });
    const store = new HybridConversationStore(client, {
      storage: new MemoryStorage(),
      schedule: () => () => undefined,
      events: { addEventListener: () => undefined, removeEventListener: () => undefined },
      sync: { document: null, sleep: clock.sleep, push },
    });
    push.start();
    await clock.advance(0);
    ws.last().accept();
    await store.start({ after: store.getAllConversations() });
    await clock.advance(30_000); // the first tick: the feed, once
    assert.equal(fake.requests.length, 2);
    ws.last().receive(conversationPush("x", 1, "created"));
    await clock.advance(0);
    assert.deepEqual(
      store.getSnapshot().conversations.map((c) => c.id),
      ["x"],
    );
    await clock.advance(10 * 60_000);
    assert.equal(fake.requests.length, 3, "no polling while the socket is open");
    store.dispose();
    push.stop();
  });
});
