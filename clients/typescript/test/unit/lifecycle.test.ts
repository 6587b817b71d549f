/**
 * Starting and stopping in any order: one sync engine running and one anonymous token issued,
 * whatever the interleaving of start, stop and a start still pending (React strict mode mounts,
 * unmounts and mounts again an effect before the first one's loading has finished).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, HybridConversationStore, MemoryStorage, SyncEngine, anonymousToken } from "../../src/index.js";
import type { FetchLike, StorageLike } from "../../src/index.js";
import { FakeClock, settle } from "../support/fake-clock.js";

const BASE = "https://api.test";
const INTERVAL = 1_000;
const FAR = "2099-01-01T00:00:00.000Z";

/**
 * A server by route: what each request asks, with the list held back until `release()`, and
 * the first feed poll hanging (until aborted) with `hangFirstPoll`.
 */
function server({ hangFirstPoll = false } = {}) {
  let hang = hangFirstPoll;
  const seen: string[] = [];
  let release!: () => void;
  const listed = new Promise<void>((resolve) => (release = resolve));
  let tokens = 0;
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch: FetchLike = async (url, init) => {
    const path = url.slice(BASE.length);
    seen.push(`${init.method} ${path}`);
    if (path === "/api/auth/anonymous") return json(201, { token: `tok-${++tokens}`, expiresAt: FAR });
    if (path.startsWith("/api/conversations?")) {
      await listed;
      return json(200, { conversations: [], nextCursor: null, changesCursor: "c1" });
    }
    if (path.startsWith("/api/changes")) {
      // The first poll hangs until a stop aborts it; the others answer at once.
      if (hang) {
        hang = false;
        await new Promise<void>((_, reject) => {
          init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        });
      }
      return json(200, { changes: [], nextCursor: "c1", hasMore: false });
    }
    throw new Error(`unexpected ${init.method} ${url}`);
  };
  const feedPolls = () => seen.filter((line) => line.startsWith("GET /api/changes")).length;
  return { fetch, seen, release, feedPolls };
}

type Step = "start" | "stop";

/** Every sequence of `length` starts and stops. */
function sequences(length: number): Step[][] {
  if (length === 0) return [[]];
  return sequences(length - 1).flatMap((rest) => [["start" as Step, ...rest], ["stop" as Step, ...rest]]);
}

describe("SyncEngine start and stop", () => {
  for (const steps of sequences(4)) {
    it(`${steps.join(", ")}: ${steps.at(-1) === "start" ? "one run" : "none"}, one feed poll per tick`, async () => {
      const clock = new FakeClock();
      const { fetch, feedPolls } = server();
      const storage = new MemoryStorage();
      storage.setItem("chat-store:v1:sync", JSON.stringify({ cursor: "c0" }));
      const client = new ChatStoreClient({ baseUrl: BASE, fetch, getToken: () => "tok", retry: { retries: 0 } });
      const engine = new SyncEngine({ client, storage, document: null, sleep: clock.sleep, intervalMs: INTERVAL });
      // Each step before the previous one's sync has answered.
      for (const step of steps) engine[step]();
      await clock.advance(0);
      const running = steps.lastIndexOf("start") > steps.lastIndexOf("stop");
      assert.equal(engine.running, running);
      const before = feedPolls();
      await clock.advance(INTERVAL * 3);
      assert.equal(feedPolls() - before, running ? 3 : 0, "one poll per tick: one loop, not two");
      engine.stop();
      await clock.advance(INTERVAL * 3);
      assert.equal(clock.pending, 0, "nothing left waiting once stopped");
    });
  }

  it("a start after a stop makes its own first sync, not the aborted one's", async () => {
    const clock = new FakeClock();
    const { fetch, seen } = server({ hangFirstPoll: true });
    const storage = new MemoryStorage();
    storage.setItem("chat-store:v1:sync", JSON.stringify({ cursor: "c0" }));
    const client = new ChatStoreClient({ baseUrl: BASE, fetch, getToken: () => "tok", retry: { retries: 0 } });
    const engine = new SyncEngine({ client, storage, document: null, sleep: clock.sleep, intervalMs: INTERVAL });
    const errors: unknown[] = [];
    engine.on("error", ({ error }) => errors.push(error));
    engine.start();
    await settle(); // its first poll is in flight
    engine.stop();
    engine.start();
    await clock.advance(0);
    assert.deepEqual(seen, ["GET /api/changes?since=c0", "GET /api/changes?since=c0"], "the second run polls at once");
    assert.equal(engine.cursor, "c1", "and its answer is applied");
    assert.deepEqual(errors, [], "an aborted poll is no failure");
    engine.stop();
  });
});

/** One mount of a chat page: a client on the kept anonymous token, a store, its loading. */
function mount(storage: StorageLike, fetch: FetchLike, clock: FakeClock) {
  const client: ChatStoreClient = new ChatStoreClient({
    baseUrl: BASE,
    fetch,
    retry: { retries: 0 },
    getToken: anonymousToken({ storage, issue: () => client.issueAnonymousToken() }),
  });
  const store = new HybridConversationStore(client, {
    storage,
    schedule: () => () => undefined,
    events: { addEventListener: () => undefined, removeEventListener: () => undefined },
    sync: { document: null, sleep: clock.sleep, intervalMs: INTERVAL },
  });
  // The effect: load the list, then sync from its cursor; the cleanup disposes the store.
  const started = store.start({ after: store.getAllConversations() });
  return { store, started, unmount: () => store.dispose() };
}

describe("HybridConversationStore start, pending", () => {
  it("React strict mode (mount, unmount, mount while loading): one token, one engine", async () => {
    const clock = new FakeClock();
    const { fetch, seen, release, feedPolls } = server();
    const storage = new MemoryStorage();
    const first = mount(storage, fetch, clock);
    first.unmount();
    const second = mount(storage, fetch, clock);
    release();
    await Promise.all([first.started, second.started]);
    await clock.advance(0);
    assert.equal(first.store.sync?.running, false, "the unmounted store's pending start started nothing");
    assert.equal(second.store.sync?.running, true);
    assert.deepEqual(
      seen.filter((line) => line.startsWith("POST")),
      ["POST /api/auth/anonymous"],
      "both mounts asked for a token at once: one was issued",
    );
    await clock.advance(INTERVAL * 3);
    assert.equal(feedPolls(), 3, "one engine: one poll per tick");
    second.unmount();
    await clock.advance(INTERVAL * 3);
    assert.equal(feedPolls(), 3);
  });

  it("stop while start waits for the loading: nothing starts; start, stop, start: one engine", async () => {
    const clock = new FakeClock();
    const { fetch, release, feedPolls } = server();
    const storage = new MemoryStorage();
    const { store } = mount(storage, fetch, clock);
    store.stop();
    release();
    await clock.advance(0);
    assert.equal(store.sync?.running, false, "stopped while pending: stays stopped");

    let loaded!: () => void;
    const loading = new Promise<void>((resolve) => (loaded = resolve));
    const a = store.start({ after: loading });
    store.stop();
    const b = store.start({ after: loading });
    const c = store.start({ after: loading });
    loaded();
    await Promise.all([a, b, c]);
    assert.equal(store.sync?.running, true);
    const before = feedPolls();
    await clock.advance(INTERVAL * 2);
    assert.equal(feedPolls() - before, 2);
    store.dispose();
    await store.start();
    assert.equal(store.sync?.running, false, "a disposed store never starts again");
  });
});

describe("anonymousToken", () => {
  it("keeps the token, shares one issue between callers, and replaces one about to expire", async () => {
    const storage = new MemoryStorage();
    let issued = 0;
    let now = Date.parse("2030-01-01T00:00:00.000Z");
    const issue = async () => ({ data: { token: `t${++issued}`, expiresAt: new Date(now + 3_600_000) } });
    const a = anonymousToken({ storage, issue, now: () => now });
    const b = anonymousToken({ storage, issue, now: () => now });
    assert.deepEqual(await Promise.all([a(), b(), a()]), ["t1", "t1", "t1"]);
    assert.equal(await b(), "t1", "kept");
    assert.equal(JSON.parse(storage.getItem("chat-store:anonymous-token")!).token, "t1");
    now += 3_600_000 - 30_000; // within the minute before it expires
    assert.equal(await a(), "t2");
    assert.equal(issued, 2);
  });

  it("keeps the token in memory when the storage is full, rather than issuing one per request", async () => {
    const storage = new MemoryStorage();
    storage.setItem = () => {
      throw new DOMException("full", "QuotaExceededError");
    };
    let issued = 0;
    const token = anonymousToken({ storage, issue: async () => ({ data: { token: `t${++issued}`, expiresAt: FAR } }) });
    assert.deepEqual([await token(), await token()], ["t1", "t1"]);
  });

  it("lets a failed issue be tried again", async () => {
    const storage = new MemoryStorage();
    let calls = 0;
    const token = anonymousToken({
      storage,
      issue: async () => {
        if (++calls === 1) throw new Error("offline");
        return { data: { token: "t", expiresAt: FAR } };
      },
    });
    await assert.rejects(token(), /offline/);
    assert.equal(await token(), "t");
  });
});
