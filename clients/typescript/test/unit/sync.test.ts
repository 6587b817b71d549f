/**
 * SyncEngine against a scripted fetch, a manual clock and a fake `document`: exactly which
 * requests a sync, a tick, a hidden tab, a watched conversation and a followed reply cost.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, MemoryStorage, SYNC_STORAGE_KEY, SyncEngine } from "../../src/index.js";
import type { Change, SyncEngineOptions, SyncEvents, VisibilityDocument } from "../../src/index.js";
import { FakeClock } from "../support/fake-clock.js";
import { fakeFetch, fakeSleep, problem } from "../support/fake-fetch.js";
import type { Scripted } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const T = "2025-03-01T09:00:00.000Z";

class FakeDocument implements VisibilityDocument {
  visibilityState = "visible";
  readonly #listeners = new Set<() => void>();
  addEventListener(_type: "visibilitychange", listener: () => void): void {
    this.#listeners.add(listener);
  }
  removeEventListener(_type: "visibilitychange", listener: () => void): void {
    this.#listeners.delete(listener);
  }
  show(state: "visible" | "hidden"): void {
    this.visibilityState = state;
    for (const listener of this.#listeners) listener();
  }
}

function summary(id: string) {
  return { id, title: `title ${id}`, createdAt: T, updatedAt: T, messageCount: 1, totalTokens: 0 };
}

function conversation<M extends Record<string, unknown>>(id: string, messages: M[]) {
  return { ...summary(id), messages, messageCount: messages.length, nextCursor: null };
}

const emptyPage = (nextCursor: string): Scripted => ({ status: 200, body: { changes: [], nextCursor, hasMore: false } });

/** `stored`: the cursor a previous page load kept. */
function setup(script: Scripted[], { stored, ...options }: Partial<SyncEngineOptions> & { stored?: string } = {}) {
  const clock = new FakeClock();
  const fake = fakeFetch(...script);
  const storage = options.storage ?? new MemoryStorage();
  if (stored !== undefined) storage.setItem(SYNC_STORAGE_KEY, JSON.stringify({ cursor: stored }));
  const document = new FakeDocument();
  const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, sleep: fakeSleep().sleep, getToken: () => "tok" });
  const changes: Change[] = [];
  const engine = new SyncEngine({
    client,
    storage,
    document,
    sleep: clock.sleep,
    onChange: (change) => changes.push(change),
    ...options,
  });
  const events: [keyof SyncEvents, unknown][] = [];
  for (const name of ["upsert", "tombstone", "reset", "conversation", "message", "error"] as const) {
    engine.on(name, (payload) => events.push([name, payload]));
  }
  const urls = () => fake.requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`);
  return { clock, engine, requests: fake.requests, urls, events, changes, storage, document };
}

describe("SyncEngine", () => {
  it("lists every page at the first start and keeps the first page's changesCursor", async () => {
    const { clock, engine, urls, events, storage } = setup([
      { status: 200, body: { conversations: [summary("a")], nextCursor: "p2", changesCursor: "cur0" } },
      { status: 200, body: { conversations: [summary("b")], nextCursor: null, changesCursor: "later" } },
    ]);
    engine.start();
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/conversations?limit=100", "GET /api/conversations?limit=100&cursor=p2"]);
    assert.equal(engine.cursor, "cur0");
    assert.equal(storage.getItem(SYNC_STORAGE_KEY), '{"cursor":"cur0"}');
    assert.equal(events.length, 1);
    const [name, payload] = events[0]!;
    assert.equal(name, "reset");
    const summaries = (payload as SyncEvents["reset"]).summaries;
    assert.deepEqual(
      summaries.map((s) => s.id),
      ["a", "b"],
    );
    assert.ok(summaries[0]!.updatedAt instanceof Date);
    engine.stop();
  });

  it("sends exactly one GET /api/changes per tick, and nothing between ticks", async () => {
    const { clock, engine, requests, urls, events } = setup([emptyPage("cur1"), emptyPage("cur2")], { stored: "cur0" });
    engine.start();
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=cur0"]);
    await clock.advance(29_999);
    assert.equal(requests.length, 1);
    await clock.advance(1);
    assert.deepEqual(urls(), ["GET /api/changes?since=cur0", "GET /api/changes?since=cur1"]);
    assert.equal(requests[1]!.body, undefined);
    assert.equal(requests[1]!.headers.get("Authorization"), "Bearer tok");
    assert.equal(engine.cursor, "cur2");
    assert.deepEqual(events, [], "an empty page tells the app nothing");
    engine.stop();
    await clock.advance(60_000);
    assert.equal(requests.length, 2, "stopped: no more ticks");
  });

  it("asks again at once while hasMore, telling each change in order", async () => {
    const upsert = { type: "upsert", id: "a", version: 7, conversation: summary("a") };
    const tombstone = { type: "tombstone", id: "b", reason: "deleted", at: T };
    const { clock, engine, urls, events, changes, storage } = setup(
      [
        { status: 200, body: { changes: [upsert], nextCursor: "c1", hasMore: true } },
        { status: 200, body: { changes: [tombstone], nextCursor: "c2", hasMore: false } },
      ],
      { stored: "c0" },
    );
    await engine.syncNow();
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/changes?since=c1"]);
    assert.deepEqual(
      changes.map((c) => [c.type, c.id]),
      [
        ["upsert", "a"],
        ["tombstone", "b"],
      ],
    );
    assert.equal(events.length, 2);
    assert.equal(events[0]![0], "upsert");
    const up = events[0]![1] as SyncEvents["upsert"];
    assert.equal(up.version, 7);
    assert.equal(up.summary.id, "a");
    assert.ok(up.summary.createdAt instanceof Date);
    assert.deepEqual(events[1], ["tombstone", { id: "b", reason: "deleted" }]);
    assert.equal(storage.getItem(SYNC_STORAGE_KEY), '{"cursor":"c2"}');
    assert.equal(clock.pending, 0, "syncNow alone starts no timer");
  });

  it("lists again on 410 changes_reset and emits reset", async () => {
    const { engine, urls, events } = setup(
      [
        { status: 410, body: problem(410, "changes_reset") },
        { status: 200, body: { conversations: [summary("a")], nextCursor: null, changesCursor: "fresh" } },
      ],
      { stored: "old" },
    );
    await engine.syncNow();
    assert.deepEqual(urls(), ["GET /api/changes?since=old", "GET /api/conversations?limit=100"]);
    assert.equal(engine.cursor, "fresh");
    assert.deepEqual(
      events.map(([name]) => name),
      ["reset"],
    );
  });

  it("sends nothing while the page is hidden and syncs at once when it is visible again", async () => {
    const { clock, engine, requests, urls, document } = setup([emptyPage("c1"), emptyPage("c2")], { stored: "c0" });
    document.visibilityState = "hidden";
    engine.start();
    await clock.advance(120_000);
    assert.equal(requests.length, 0);
    document.show("visible");
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0"]);
    document.show("hidden");
    await clock.advance(120_000);
    assert.equal(requests.length, 1);
    engine.stop();
    document.show("visible");
    await clock.advance(0);
    assert.equal(requests.length, 1, "stopped: visibility no longer syncs");
  });

  it("refetches a watched conversation with If-None-Match when the feed moves its version", async () => {
    const view = conversation("w", [{ id: "u1", type: "user", content: "Hi", timestamp: T }]);
    const upsert = (version: number) => ({ type: "upsert", id: "w", version, conversation: summary("w") });
    const { clock, engine, requests, urls, events } = setup(
      [
        emptyPage("c1"),
        { status: 200, body: view, headers: { ETag: '"3"' } },
        { status: 200, body: { changes: [upsert(3)], nextCursor: "c2", hasMore: false } },
        { status: 200, body: { changes: [upsert(4)], nextCursor: "c3", hasMore: false } },
        { status: 304, headers: { ETag: '"3"' } },
      ],
      { stored: "c0" },
    );
    engine.watch("w");
    engine.start();
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/conversations/w"]);
    assert.equal(requests[1]!.headers.has("If-None-Match"), false);
    assert.deepEqual(
      events.map(([name]) => name),
      ["conversation"],
    );
    const shown = (events[0]![1] as SyncEvents["conversation"]).conversation;
    assert.equal(shown.id, "w");
    assert.ok(shown.messages[0]!.timestamp instanceof Date);

    await clock.advance(30_000);
    assert.equal(requests.length, 3, "an upsert at the version held costs no refetch");
    await clock.advance(30_000);
    assert.deepEqual(urls().slice(3), ["GET /api/changes?since=c2", "GET /api/conversations/w"]);
    assert.equal(requests[4]!.headers.get("If-None-Match"), '"3"');
    assert.deepEqual(
      events.map(([name]) => name),
      ["conversation", "upsert", "upsert"],
      "a 304 emits nothing (and is no error)",
    );
    engine.stop();
  });

  it("follows a reply streaming in the watched conversation by offset until it finishes", async () => {
    const view = conversation("w", [
      { id: "u1", type: "user", content: "Hi", timestamp: T },
      { id: "a1", type: "assistant", content: "Hel", streaming: true, timestamp: T },
    ]);
    const tail = (content: string, offset: number, length: number, streaming: boolean) => ({
      id: "a1",
      type: "assistant",
      timestamp: T,
      content,
      offset,
      length,
      streaming,
    });
    const { clock, engine, requests, urls, events, document } = setup(
      [
        emptyPage("c1"),
        { status: 200, body: view, headers: { ETag: '"5"' } },
        { status: 200, body: tail("lo wor", 3, 9, true), headers: { ETag: '"6"' } },
        { status: 304, headers: { ETag: '"6"' } },
        { status: 200, body: tail("ld", 9, 11, false), headers: { ETag: '"7"' } },
      ],
      { stored: "c0", followIntervalMs: 1_000 },
    );
    engine.watch("w");
    engine.start();
    await clock.advance(999);
    assert.equal(requests.length, 2, "the first poll waits an interval: the conversation is fresh");
    await clock.advance(1);
    await clock.advance(1_000);
    document.show("hidden");
    await clock.advance(5_000);
    assert.equal(requests.length, 4, "no poll while hidden");
    document.visibilityState = "visible"; // no event: only the follow's own timer notices
    await clock.advance(1_000);
    const path = "GET /api/conversations/w/messages/a1";
    assert.deepEqual(urls().slice(2), [`${path}?after=3`, `${path}?after=9`, `${path}?after=9`]);
    assert.deepEqual(
      requests.slice(2).map((r) => r.headers.get("If-None-Match")),
      ['"5"', '"6"', '"6"'],
    );
    const messages = events.filter(([name]) => name === "message").map(([, payload]) => payload);
    assert.deepEqual(messages, [
      { conversationId: "w", messageId: "a1", content: "Hello wor", streaming: true, interrupted: false, toolExecutions: [] },
      { conversationId: "w", messageId: "a1", content: "Hello world", streaming: false, interrupted: false, toolExecutions: [] },
    ]);
    await clock.advance(10_000);
    assert.equal(requests.length, 5, "finished: no more polls");
    engine.stop();
  });

  describe("a followed reply that stops growing", () => {
    const tail = (content: string, offset: number, length: number, extra: Record<string, unknown> = {}) => ({
      body: { id: "m", type: "assistant", timestamp: T, content, offset, length, streaming: true, ...extra },
    });
    /** Follows "m" on a fake clock; the times of its polls, and what it yielded. */
    async function follow(script: Scripted[], options: Partial<SyncEngineOptions> = {}, limits?: number) {
      const clock = new FakeClock();
      const fake = fakeFetch(...script);
      const at: number[] = [];
      const client = new ChatStoreClient({
        baseUrl: BASE,
        fetch: (url, init) => {
          if (!url.endsWith("/api/limits")) at.push(clock.now());
          return fake.fetch(url, init);
        },
        sleep: fakeSleep().sleep,
        getToken: () => "tok",
      });
      if (limits !== undefined) await client.getLimits();
      const engine = new SyncEngine({ client, storage: new MemoryStorage(), document: null, sleep: clock.sleep, ...options });
      const seen: { content: string; streaming: boolean; interrupted: boolean }[] = [];
      const done = (async () => {
        for await (const { content, streaming, interrupted } of engine.followMessage("c", "m")) {
          seen.push({ content, streaming, interrupted });
        }
      })();
      await clock.advance(60_000);
      await done;
      return { at, seen };
    }

    it("backs off while nothing changes, up to a quarter of the stale limit, and stops once interrupted", async () => {
      const unchanged: Scripted = { status: 304, headers: { ETag: '"1"' } };
      const { at, seen } = await follow([
        { status: 200, ...tail("Hel", 0, 3), headers: { ETag: '"1"' } },
        { status: 200, ...tail("lo", 3, 5), headers: { ETag: '"2"' } },
        unchanged,
        unchanged,
        unchanged,
        unchanged,
        // The writer went away: the server reads it stale, no longer streaming.
        { status: 200, ...tail("", 5, 5, { streaming: false, interrupted: true }), headers: { ETag: '"2i"' } },
      ]);
      // Each poll that brings nothing doubles the wait (1 s, 2 s, then 3.75 s: a quarter of the
      // 15 s default stale limit); one that brings text resets it.
      assert.deepEqual(at, [0, 1_000, 2_000, 4_000, 7_750, 11_500, 15_250]);
      assert.deepEqual(seen, [
        { content: "Hel", streaming: true, interrupted: false },
        { content: "Hello", streaming: true, interrupted: false },
        { content: "Hello", streaming: false, interrupted: true },
      ]);
    });

    it("takes the cap from the server's stale limit once the client read it", async () => {
      const unchanged: Scripted = { status: 304, headers: { ETag: '"1"' } };
      const { at } = await follow(
        [
          { status: 200, body: { streamingStaleSeconds: 6 } },
          { status: 200, ...tail("a", 0, 1), headers: { ETag: '"1"' } },
          unchanged,
          unchanged,
          unchanged,
          { status: 200, ...tail("", 1, 1, { streaming: false, interrupted: true }), headers: { ETag: '"1i"' } },
        ],
        {},
        6,
      );
      // A 6 s stale limit: the wait stops growing at 1.5 s.
      assert.deepEqual(at, [0, 1_000, 2_500, 4_000, 5_500]);
    });

    it("counts a writer's keep-alive (a new version, no new text) as nothing new", async () => {
      const { at, seen } = await follow(
        [
          { status: 200, ...tail("a", 0, 1), headers: { ETag: '"1"' } },
          { status: 200, ...tail("", 1, 1), headers: { ETag: '"2"' } },
          { status: 200, ...tail("", 1, 1), headers: { ETag: '"3"' } },
          { status: 200, ...tail("b", 1, 2, { streaming: false }), headers: { ETag: '"4"' } },
        ],
        { maxFollowIntervalMs: 10_000 },
      );
      assert.deepEqual(at, [0, 1_000, 3_000, 7_000]);
      assert.deepEqual(seen.map((s) => s.content), ["a", "ab"]);
    });
  });

  it("followMessage alone polls at once without an ETag and yields the whole text", async () => {
    const { engine, urls } = setup([
      { status: 200, body: { id: "m", type: "assistant", timestamp: T, content: "abc", offset: 0, length: 3, streaming: false } },
    ]);
    const seen: string[] = [];
    for await (const progress of engine.followMessage("c", "m")) seen.push(progress.content);
    assert.deepEqual(seen, ["abc"]);
    assert.deepEqual(urls(), ["GET /api/conversations/c/messages/m?after=0"]);
  });

  it("keeps the cursor in storage, where a new engine starts from it without listing", async () => {
    const storage = new MemoryStorage();
    const first = setup([{ status: 200, body: { conversations: [], nextCursor: null, changesCursor: "k1" } }], { storage });
    await first.engine.syncNow();
    const second = setup([emptyPage("k2")], { storage });
    assert.equal(second.engine.cursor, "k1");
    second.engine.start();
    await second.clock.advance(0);
    assert.deepEqual(second.urls(), ["GET /api/changes?since=k1"]);
    assert.equal(storage.getItem(SYNC_STORAGE_KEY), '{"cursor":"k2"}');
    second.engine.stop();
  });

  it("watching with the ETag the app holds costs no request; the feed decides what is newer", async () => {
    const upsert = (version: number) => ({ type: "upsert", id: "w", version, conversation: summary("w") });
    const view = conversation("w", [{ id: "u1", type: "user", content: "Hi", timestamp: T }]);
    const { clock, engine, requests, urls, events } = setup(
      [
        emptyPage("c1"),
        { status: 200, body: { changes: [upsert(3)], nextCursor: "c2", hasMore: false } },
        { status: 200, body: { changes: [upsert(2)], nextCursor: "c3", hasMore: false } },
        { status: 200, body: { changes: [upsert(4)], nextCursor: "c4", hasMore: false } },
        { status: 200, body: view, headers: { ETag: '"4"' } },
        { status: 200, body: { changes: [upsert(4)], nextCursor: "c5", hasMore: false } },
      ],
      { stored: "c0" },
    );
    // As an app opens a conversation at page load: read it, watch it, then start.
    engine.watch("w", { etag: '"3"', conversation: view });
    engine.start();
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0"], "no read of the watched conversation");
    await clock.advance(30_000);
    await clock.advance(30_000);
    assert.equal(requests.length, 3, "upserts at the held version, or an older one, cost no request");
    await clock.advance(30_000);
    assert.deepEqual(urls().slice(3), ["GET /api/changes?since=c3", "GET /api/conversations/w"]);
    assert.equal(requests[4]!.headers.get("If-None-Match"), '"3"', "the held ETag, as the engine's own");
    await clock.advance(30_000);
    assert.deepEqual(urls().slice(5), ["GET /api/changes?since=c4"], "the read's ETag is held now");
    assert.deepEqual(
      events.map(([name]) => name),
      ["upsert", "upsert", "upsert", "conversation", "upsert"],
    );
    engine.stop();
  });

  it("watching while running with a held ETag sends nothing; one the feed already passed is read now", async () => {
    const upsert = (version: number) => ({ type: "upsert", id: "w", version, conversation: summary("w") });
    const { clock, engine, requests, urls } = setup(
      [
        { status: 200, body: { changes: [upsert(5)], nextCursor: "c1", hasMore: false } },
        { status: 200, body: conversation("w", []), headers: { ETag: '"5"' } },
      ],
      { stored: "c0" },
    );
    engine.start();
    await clock.advance(0);
    engine.watch("v", { etag: '"9"' });
    await clock.advance(0);
    assert.equal(requests.length, 1, "current: no request");
    // A change the feed told of before the app's read landed: the held ETag is behind it.
    engine.watch("w", { etag: '"4"' });
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/conversations/w"]);
    assert.equal(requests[1]!.headers.get("If-None-Match"), '"4"');
    engine.stop();
  });

  it("follows a reply streaming in a held conversation from its length, without reading it", async () => {
    const held = conversation("w", [
      { id: "u1", type: "user", content: "Hi", timestamp: T },
      { id: "a1", type: "assistant", content: "Hel", streaming: true, timestamp: T },
    ]);
    const tail = { id: "a1", type: "assistant", timestamp: T, content: "lo", offset: 3, length: 5, streaming: false };
    const { clock, engine, requests, urls, events } = setup(
      [emptyPage("c1"), { status: 200, body: tail, headers: { ETag: '"6"' } }],
      { stored: "c0", followIntervalMs: 1_000 },
    );
    engine.watch("w", { etag: '"5"', conversation: held });
    await clock.advance(5_000);
    assert.equal(requests.length, 0, "not running: nothing yet");
    engine.start();
    await clock.advance(999);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0"]);
    await clock.advance(1);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/conversations/w/messages/a1?after=3"]);
    assert.equal(requests[1]!.headers.get("If-None-Match"), '"5"');
    const messages = events.filter(([name]) => name === "message").map(([, payload]) => payload);
    assert.deepEqual(messages, [
      { conversationId: "w", messageId: "a1", content: "Hello", streaming: false, interrupted: false, toolExecutions: [] },
    ]);
    engine.stop();
  });

  it("follows a held streaming reply at once when running and no ETag is held", async () => {
    const held = conversation("w", [{ id: "a1", type: "assistant", content: "Hello", streaming: true, timestamp: T }]);
    const tail = { id: "a1", type: "assistant", timestamp: T, content: "!", offset: 5, length: 6, streaming: false };
    const { clock, engine, requests, urls } = setup([emptyPage("c1"), { status: 200, body: tail, headers: { ETag: '"8"' } }], {
      stored: "c0",
    });
    engine.start();
    await clock.advance(0);
    engine.watch("w", { conversation: held });
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/conversations/w/messages/a1?after=5"]);
    assert.equal(requests[1]!.headers.has("If-None-Match"), false);
    engine.stop();
  });

  it("with followReplies false, polls no reply streaming in the watched conversation, held or read", async () => {
    const streaming = [{ id: "a1", type: "assistant", content: "Hel", streaming: true, timestamp: T }];
    const upsert = { type: "upsert", id: "w", version: 6, conversation: summary("w") };
    const { clock, engine, urls, events } = setup(
      [
        emptyPage("c1"),
        { status: 200, body: { changes: [upsert], nextCursor: "c2", hasMore: false } },
        { status: 200, body: conversation("w", streaming), headers: { ETag: '"6"' } },
        emptyPage("c3"),
      ],
      { stored: "c0", followIntervalMs: 1_000, followReplies: false },
    );
    engine.watch("w", { etag: '"5"', conversation: conversation("w", streaming) });
    engine.start();
    await clock.advance(29_999);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0"], "the held reply is not polled");
    await clock.advance(1);
    assert.deepEqual(urls().slice(1), ["GET /api/changes?since=c1", "GET /api/conversations/w"]);
    assert.equal(events.filter(([name]) => name === "conversation").length, 1, "the feed's move is still read");
    await clock.advance(30_000);
    assert.deepEqual(urls().slice(3), ["GET /api/changes?since=c2"], "nor the reply the read shows");
    assert.equal(events.filter(([name]) => name === "message").length, 0);
    engine.stop();
  });

  it("starts from the app's cursor when it keeps none: no list, the feed from it at the first tick", async () => {
    const { clock, engine, requests, urls, events, storage } = setup([emptyPage("k2")]);
    engine.start({ cursor: "k1" });
    assert.equal(engine.cursor, "k1");
    assert.equal(storage.getItem(SYNC_STORAGE_KEY), '{"cursor":"k1"}');
    await clock.advance(29_999);
    assert.equal(requests.length, 0, "the app's list is current: nothing until the first tick");
    await clock.advance(1);
    assert.deepEqual(urls(), ["GET /api/changes?since=k1"]);
    assert.equal(engine.cursor, "k2");
    assert.deepEqual(events, [], "no reset: the app shows its own list");
    engine.stop();
  });

  it("takes the app's cursor as current when it is the one it keeps", async () => {
    const { clock, engine, urls } = setup([emptyPage("k2")], { stored: "k1" });
    engine.start({ cursor: "k1" });
    await clock.advance(29_999);
    assert.deepEqual(urls(), []);
    await clock.advance(1);
    assert.deepEqual(urls(), ["GET /api/changes?since=k1"]);
    engine.stop();
  });

  it("keeps its cursor under its prefix, or with the persister it is given", async () => {
    const storage = new MemoryStorage();
    const { clock, engine } = setup([{ status: 200, body: { conversations: [], nextCursor: null, changesCursor: "p1" } }], {
      storage,
      prefix: "u2:",
    });
    engine.start();
    await clock.advance(0);
    engine.stop();
    assert.deepEqual(storage.keys(), ["u2:sync"]);
    const kept: string[] = [];
    const own = setup([emptyPage("q2")], { cursor: { restore: () => kept.at(-1) ?? "q1", persist: (c) => kept.push(c) } });
    own.engine.start();
    await own.clock.advance(0);
    own.engine.stop();
    assert.deepEqual([own.urls(), kept], [["GET /api/changes?since=q1"], ["q2"]]);
  });

  it("keeps its own cursor over the app's, and syncs from it at once", async () => {
    const { clock, engine, urls } = setup([emptyPage("k2")], { stored: "mine" });
    engine.start({ cursor: "theirs" });
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/changes?since=mine"]);
    engine.stop();
  });

  it("started from the app's cursor, still reads a watched conversation it holds nothing of", async () => {
    const { clock, engine, urls } = setup([{ status: 200, body: conversation("w", []), headers: { ETag: '"2"' } }]);
    engine.watch("w");
    engine.start({ cursor: "k1" });
    await clock.advance(0);
    assert.deepEqual(urls(), ["GET /api/conversations/w"]);
    engine.stop();
  });

  it("stops reading a watched conversation once its tombstone came", async () => {
    const tombstone = { type: "tombstone", id: "w", reason: "deleted", at: T };
    const { clock, engine, urls } = setup(
      [{ status: 200, body: { changes: [tombstone], nextCursor: "c1", hasMore: false } }, emptyPage("c2")],
      { stored: "c0" },
    );
    engine.watch("w", { etag: '"3"' });
    engine.start();
    await clock.advance(30_000);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/changes?since=c1"], "no read of a deleted conversation");
    engine.stop();
  });

  it("reports a failed sync as an error event and tries again at the next tick", async () => {
    const { clock, engine, urls, events } = setup(
      [{ status: 400, body: problem(400, "invalid_request") }, emptyPage("c1")],
      { stored: "c0" },
    );
    engine.start();
    await clock.advance(30_000);
    assert.deepEqual(urls(), ["GET /api/changes?since=c0", "GET /api/changes?since=c0"]);
    assert.deepEqual(
      events.map(([name]) => name),
      ["error"],
    );
    assert.equal(engine.cursor, "c1");
    engine.stop();
  });
});
