/**
 * streamReply against a scripted fetch and a manual clock: which requests go, when, and with
 * exactly what body.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ChatStoreClient,
  ChatStoreError,
  DEFAULT_FLUSH_INTERVAL_MS,
  streamReply,
  streamingStaleMs,
} from "../../src/index.js";
import type { ReplyEvent, StreamReplyOptions } from "../../src/index.js";
import { FakeClock } from "../support/fake-clock.js";
import { fakeFetch, fakeSleep, problem } from "../support/fake-fetch.js";
import type { Scripted, SeenRequest } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const TIMESTAMP = "2025-03-01T09:00:01.000Z";
const PATCH_URL = `${BASE}/api/conversations/c1/messages/a1`;

interface Timed extends SeenRequest {
  at: number;
}

function setup(script: Scripted[]) {
  const clock = new FakeClock();
  const fake = fakeFetch(...script);
  const requests: Timed[] = [];
  let n = 0;
  const client = new ChatStoreClient({
    baseUrl: BASE,
    fetch: async (url, init) => {
      const answer = fake.fetch(url, init);
      requests.push({ ...fake.requests[fake.requests.length - 1]!, at: clock.now() });
      return answer;
    },
    sleep: fakeSleep().sleep,
    random: () => 0,
    generateId: () => `id-${++n}`,
    getToken: () => "tok",
  });
  const stream = (source: AsyncIterable<string | ReplyEvent>, options: Partial<StreamReplyOptions> = {}) =>
    streamReply({
      client,
      conversationId: "c1",
      message: { id: "a1", timestamp: TIMESTAMP },
      source,
      now: clock.now,
      sleep: clock.sleep,
      random: () => 0,
      ...options,
    });
  const patches = () => requests.filter((r) => r.method === "PATCH");
  return { clock, client, requests, patches, stream };
}

/** Yields each item after its delay on the fake clock (which only `clock.run` moves on). */
async function* timed(clock: FakeClock, items: [number, string | ReplyEvent][]): AsyncGenerator<string | ReplyEvent> {
  for (const [delay, item] of items) {
    await clock.sleep(delay);
    yield item;
  }
}

/**
 * `count` words, one every 10 ms from 5 ms on: off the 250 ms ticks, so no word and no delta
 * fall due at the same instant.
 */
function words(count: number): [number, string][] {
  return Array.from({ length: count }, (_, i) => [i === 0 ? 5 : 10, `w${i} `] as [number, string]);
}

const ok = (count: number): Scripted[] => Array.from({ length: count }, () => ({ status: 204 }));
const APPENDED: Scripted = { status: 201, body: { id: "a1", type: "assistant", content: "", timestamp: TIMESTAMP } };

function body(request: SeenRequest | undefined): Record<string, unknown> {
  assert.ok(request, "no such request");
  return request.body as Record<string, unknown>;
}

describe("streamReply", () => {
  it("keeps a silent reply alive with an empty delta every 5 s, so it never reads as stale", async () => {
    const { clock, patches, stream } = setup([APPENDED, ...ok(10)]);
    // A word, then a model silent for 12 s (a slow tool), then the last word.
    const result = await clock.run(stream(timed(clock, [[5, "a"], [12_000, "b"]])));
    assert.equal(result.delivered, true);
    const sent = patches();
    assert.deepEqual(
      sent.map((r) => [r.at, body(r)]),
      [
        [250, { appendContent: "a", sequence: 1 }],
        [5_250, { appendContent: "" }],
        [10_250, { appendContent: "" }],
        [12_005, { appendContent: "b", sequence: 2 }],
        [12_005, { streaming: false }],
      ],
    );
    assert.equal(sent[1]!.headers.has("Idempotency-Key"), false, "a beat appends nothing: safe to resend as it is");
  });

  it("beats at a third of the server's stale limit when the client read a shorter one", async () => {
    const { clock, client, patches, stream } = setup([{ status: 200, body: { streamingStaleSeconds: 6 } }, APPENDED, ...ok(10)]);
    await client.getLimits();
    assert.equal(streamingStaleMs(client), 6_000);
    await clock.run(stream(timed(clock, [[5, "a"], [5_000, "b"]])));
    assert.deepEqual(
      patches().map((r) => [r.at, body(r)["appendContent"]]),
      [
        [250, "a"],
        [2_250, ""],
        [4_250, ""],
        [5_005, "b"],
        [5_005, undefined],
      ],
    );
  });

  it("appends the reply, then batches the text into numbered minimal deltas by the interval", async () => {
    const { clock, requests, patches, stream } = setup([APPENDED, ...ok(20)]);
    const shown: string[] = [];
    const items = words(100);
    const result = await clock.run(stream(timed(clock, items), { onText: (text) => shown.push(text) }));
    const full = items.map(([, w]) => w).join("");

    assert.equal(requests[0]!.method, "POST");
    assert.equal(requests[0]!.url, `${BASE}/api/conversations/c1/messages`);
    assert.deepEqual(requests[0]!.body, { id: "a1", type: "assistant", content: "", streaming: true, timestamp: TIMESTAMP });
    // 100 chunks over 1 s at one delta per 250 ms: three timed deltas and the closing one.
    const sent = patches();
    assert.equal(sent.length, 4);
    assert.deepEqual(
      sent.map((r) => body(r)["sequence"]),
      [1, 2, 3, 4],
    );
    assert.deepEqual(
      sent.map((r) => r.at),
      [250, 500, 750, 1000],
    );
    for (const r of sent) {
      assert.equal(r.url, PATCH_URL);
      assert.equal(r.headers.get("Prefer"), "return=minimal");
    }
    assert.equal(sent.map((r) => body(r)["appendContent"]).join(""), full);
    // Plain deltas carry no Idempotency-Key (their sequence makes them safe); the finish does.
    assert.deepEqual(
      sent.map((r) => r.headers.has("Idempotency-Key")),
      [false, false, false, true],
    );
    assert.deepEqual(Object.keys(body(sent[0])).sort(), ["appendContent", "sequence"]);
    assert.equal(body(sent[3])["streaming"], false);
    assert.equal("tokens" in body(sent[3]), false, "no usage event: no tokens");
    assert.deepEqual(result, { delivered: true, content: full, deltas: 4, toolExecutions: [] });
    assert.equal(shown.length, 100);
    assert.equal(shown.at(-1), full);
    assert.equal(DEFAULT_FLUSH_INTERVAL_MS, 250);
  });

  it("folds tool events into the next delta and sends the last usage with the finish", async () => {
    const { clock, patches, stream } = setup([APPENDED, ...ok(5)]);
    const tokens = { input: 12, output: 7, total: 19 };
    const result = await clock.run(
      stream(
        timed(clock, [
          [10, { type: "text", text: "Looking" }],
          [10, { type: "tool", id: "t1", name: "search", status: "running", input: { q: "x" } }],
          [10, { type: "tool", id: "t1", name: "search", status: "completed", input: { q: "x" }, output: [1] }],
          [10, { type: "usage", tokens: { input: 1, output: 1, total: 2 } }],
          [300, " found."],
          [10, { type: "usage", tokens }],
        ]),
      ),
    );
    const sent = patches();
    assert.equal(sent.length, 2);
    assert.deepEqual(body(sent[0]), {
      appendContent: "Looking",
      sequence: 1,
      toolExecutions: [{ id: "t1", name: "search", status: "completed", input: { q: "x" }, output: [1] }],
    });
    assert.ok(sent[0]!.headers.has("Idempotency-Key"), "a delta with tools is a change: it needs a key");
    assert.deepEqual(body(sent[1]), { appendContent: " found.", sequence: 2, streaming: false, tokens });
    assert.deepEqual(result, {
      delivered: true,
      content: "Looking found.",
      deltas: 2,
      toolExecutions: [{ id: "t1", name: "search", status: "completed", input: { q: "x" }, output: [1] }],
      tokens,
    });
  });

  it("on 429 sends nothing until Retry-After, then everything that piled up in one delta", async () => {
    const { clock, patches, stream } = setup([
      APPENDED,
      { status: 429, body: problem(429, "rate_limited"), headers: { "Retry-After": "2" } },
      ...ok(10),
    ]);
    const items = words(300);
    const result = await clock.run(stream(timed(clock, items)));
    const full = items.map(([, w]) => w).join("");
    const sent = patches();
    assert.equal(sent[0]!.at, 250);
    assert.equal(body(sent[0])["sequence"], 1);
    // The next request only after Retry-After (250 + 2,000), with the refused text and all since.
    assert.equal(sent[1]!.at, 2250);
    assert.equal(body(sent[1])["sequence"], 1);
    const piled = body(sent[1])["appendContent"] as string;
    assert.ok(piled.startsWith(body(sent[0])["appendContent"] as string));
    assert.equal(piled, full.slice(0, piled.length));
    assert.equal(piled.split(" ").length - 1, 225, "every word read by 2,250 ms");
    assert.deepEqual(
      sent.slice(1).map((r) => [r.at, body(r)["sequence"]]),
      [
        [2250, 1],
        [2500, 2],
        [2750, 3],
        [3000, 4],
      ],
    );
    assert.equal(
      sent
        .slice(1)
        .map((r) => body(r)["appendContent"])
        .join(""),
      full,
    );
    assert.equal(result.delivered, true);
  });

  it("on 409 sequence_gap sends again from lastSequence + 1", async () => {
    const { clock, patches, stream } = setup([
      APPENDED,
      ...ok(2),
      { status: 409, body: problem(409, "sequence_gap", { lastSequence: 1 }) },
      ...ok(5),
    ]);
    const items = words(150);
    const result = await clock.run(stream(timed(clock, items)));
    const full = items.map(([, w]) => w).join("");
    const sent = patches();
    const text = (i: number): string => body(sent[i])["appendContent"] as string;
    assert.deepEqual(
      sent.map((r) => body(r)["sequence"]),
      [1, 2, 3, 2, 3, 4],
    );
    // Delta 2 was lost: the resend numbered 2 starts where delta 2 started.
    assert.ok(text(3).startsWith(text(1) + text(2)));
    assert.equal(text(0) + text(3) + text(4) + text(5), full);
    assert.deepEqual(result.delivered && result.deltas, 4);
  });

  it("resends an unanswered delta exactly as it was, with the same key, before any newer text", async () => {
    const { clock, patches, stream } = setup([
      APPENDED,
      { status: 503, body: problem(503, "store_unavailable"), headers: { "Retry-After": "1" } },
      ...ok(5),
    ]);
    const result = await clock.run(
      stream(
        timed(clock, [
          [10, "one "],
          [10, { type: "tool", id: "t1", name: "calc", status: "running" }],
          ...words(60),
        ]),
      ),
    );
    const sent = patches();
    assert.deepEqual(body(sent[1]), body(sent[0]));
    assert.equal(sent[1]!.headers.get("Idempotency-Key"), sent[0]!.headers.get("Idempotency-Key"));
    assert.equal(sent[1]!.at, 1250, "after the 503's Retry-After");
    assert.equal(body(sent[2])["sequence"], 2);
    assert.equal(result.delivered && result.content, sent.slice(1).map((r) => body(r)["appendContent"]).join(""));
  });

  it("finishes the reply with what was received when aborted, and rethrows", async () => {
    const { clock, patches, stream } = setup([APPENDED, ...ok(3)]);
    const controller = new AbortController();
    let closed = false;
    async function* hangs(): AsyncGenerator<string> {
      try {
        yield "partial ";
        yield "reply";
        await new Promise(() => undefined); // a generator that never answers again
      } finally {
        closed = true;
      }
    }
    const done = stream(hangs(), { signal: controller.signal });
    await clock.advance(100);
    controller.abort(new Error("user pressed stop"));
    await assert.rejects(clock.run(done), /user pressed stop/);
    const sent = patches();
    assert.equal(sent.length, 1);
    assert.deepEqual(body(sent[0]), { appendContent: "partial reply", sequence: 1, streaming: false });
    assert.equal(closed, false, "a generator stuck in an await cannot be closed; it is not waited for");
  });

  it("finishes the reply when the source fails, and rethrows the source's error", async () => {
    const { clock, patches, stream } = setup([APPENDED, ...ok(3)]);
    async function* fails(): AsyncGenerator<string> {
      yield "half a ";
      await clock.sleep(10);
      throw new Error("model crashed");
    }
    await assert.rejects(clock.run(stream(fails())), /model crashed/);
    assert.deepEqual(
      patches().map((r) => body(r)),
      [{ appendContent: "half a ", sequence: 1, streaming: false }],
    );
  });

  it("keeps reading when the API is unreachable and resolves undelivered with all the text", async () => {
    const down = (): Scripted => ({ throws: new TypeError("fetch failed") });
    const { clock, patches, stream } = setup([APPENDED, down(), down(), down(), down()]);
    const items = words(80);
    const shown: string[] = [];
    const result = await clock.run(stream(timed(clock, items), { onText: (text) => shown.push(text) }));
    const full = items.map(([, w]) => w).join("");
    const sent = patches();
    assert.equal(sent.length, 4, "the delta and its 3 retries, then nothing more");
    for (const r of sent) assert.deepEqual(body(r), body(sent[0]));
    assert.equal(result.delivered, false);
    assert.equal(result.content, full);
    assert.equal(shown.at(-1), full);
    assert.ok(!result.delivered && result.error instanceof ChatStoreError && result.error.code === "network_error");
  });

  it("rejects on a refusal and stops reading the source", async () => {
    const { clock, patches, stream } = setup([APPENDED, { status: 404, body: problem(404, "not_found") }]);
    let read = 0;
    async function* endless(): AsyncGenerator<string> {
      for (;;) {
        await clock.sleep(10);
        read++;
        yield "x";
      }
    }
    const error = await clock.run(stream(endless())).catch((e: unknown) => e);
    assert.ok(error instanceof ChatStoreError && error.code === "not_found");
    assert.equal(patches().length, 1);
    assert.ok(read < 40, `read ${read} chunks after the refusal`);
  });
});
