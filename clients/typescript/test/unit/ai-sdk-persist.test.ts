/**
 * `persistReply` with the real SDK: a mock model's stream through `streamText` and
 * `toUIMessageStream`, stored in the parts API's stand-in; the PATCHes asserted one by one.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readUIMessageStream, streamText } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";
import { MockLanguageModelV3 } from "ai/test";

import { persistReply, stopReply } from "../../src/ai-sdk.js";
import type { PersistReplyOptions } from "../../src/ai-sdk.js";
import { ChatStoreClient } from "../../src/index.js";
import { FakeClock, settle } from "../support/fake-clock.js";
import { FakePartsApi } from "../support/fake-parts-api.js";

/** What the mock model streams. */
type ModelPart = Awaited<ReturnType<MockLanguageModelV3["doStream"]>>["stream"] extends ReadableStream<infer P> ? P : never;

const USAGE = {
  inputTokens: { total: 12, noCache: 12, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 7, text: 7, reasoning: undefined },
};

const USER: UIMessage = { id: "u1", role: "user", parts: [{ type: "text", text: "Hi there" }] };

/** A model whose stream the test writes part by part. */
function scriptedModel(): { model: MockLanguageModelV3; send: (...parts: ModelPart[]) => void; end: () => void } {
  let controller!: ReadableStreamDefaultController<ModelPart>;
  const stream = new ReadableStream<ModelPart>({ start: (c) => void (controller = c) });
  const model = new MockLanguageModelV3({ doStream: async () => ({ stream }) });
  return {
    model,
    send: (...parts) => parts.forEach((part) => controller.enqueue(part)),
    end: () => controller.close(),
  };
}

const text = (delta: string): ModelPart => ({ type: "text-delta", id: "t1", delta });
const finish: ModelPart = { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: USAGE };

interface Setup {
  api: FakePartsApi;
  clock: FakeClock;
  model: ReturnType<typeof scriptedModel>;
  abortController: AbortController;
  /** The chunks the browser got, and the promise of their end. */
  browser: { chunks: UIMessageChunk[]; done: Promise<void> };
  stopped: { count: number };
  errors: unknown[];
}

function setup(options: Partial<PersistReplyOptions> = {}, browserLeavesAfter = Number.POSITIVE_INFINITY): Setup {
  const api = new FakePartsApi();
  const clock = new FakeClock();
  const client = new ChatStoreClient({ baseUrl: "https://api.test", fetch: api.fetch, getToken: () => "tok", sleep: clock.sleep });
  const model = scriptedModel();
  const abortController = new AbortController();
  const result = streamText({ model: model.model, prompt: "Hi there", abortSignal: abortController.signal });
  const stopped = { count: 0 };
  const errors: unknown[] = [];
  const stream = persistReply({
    client,
    chatId: "c1",
    messages: [USER],
    stream: result.toUIMessageStream({ messageMetadata: ({ part }) => (part.type === "finish" ? { usage: part.totalUsage } : undefined) }),
    messageId: "a1",
    abortController,
    onStopped: () => stopped.count++,
    onError: (error) => errors.push(error),
    now: clock.now,
    sleep: clock.sleep,
    ...options,
  });
  const chunks: UIMessageChunk[] = [];
  const done = (async () => {
    const reader = stream.getReader();
    for (let step = await reader.read(); !step.done; step = await reader.read()) {
      chunks.push(step.value);
      if (chunks.length >= browserLeavesAfter) return reader.cancel();
    }
  })();
  return { api, clock, model, abortController, browser: { chunks, done }, stopped, errors };
}

/** The PATCH bodies, as sent. */
const patchBodies = (api: FakePartsApi): unknown[] => api.patches.map((request) => request.body);

describe("persistReply", () => {
  it("stores the user message, then the reply, in numbered throttled PATCHes, and finishes it with its metadata", async () => {
    const { api, clock, model, browser } = setup();
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("Hel"));
    await clock.advance(0);
    const [user, reply] = api.requests;
    assert.equal(user?.method, "POST");
    assert.deepEqual(user?.body?.["parts"], USER.parts);
    assert.equal(reply?.method, "POST");
    assert.deepEqual(
      { ...reply?.body, timestamp: undefined },
      { id: "a1", type: "assistant", content: "", parts: [], streaming: true, timestamp: undefined },
    );
    assert.equal(api.patches.length, 0, "nothing before the throttle has passed");

    model.send(text("lo"));
    await clock.advance(250);
    assert.deepEqual(patchBodies(api), [{ partChanges: [{ part: { type: "step-start" }, index: 0 }, { append: "Hello", type: "text", index: 1 }], sequence: 1 }]);
    assert.equal(api.patches[0]?.headers.get("Prefer"), "return=minimal");
    assert.equal(api.patches[0]?.headers.get("Idempotency-Key"), null, "a numbered delta needs no key");

    model.send(text(", world"));
    await clock.advance(100);
    assert.equal(api.patches.length, 1, "one PATCH per 250 ms");
    await clock.advance(150);
    assert.deepEqual(patchBodies(api)[1], { partChanges: [{ append: ", world", type: "text", index: 1 }], sequence: 2 });

    model.send({ type: "text-end", id: "t1" }, finish);
    model.end();
    await clock.run(browser.done);
    const usage = { inputTokens: 12, inputTokenDetails: {}, outputTokens: 7, outputTokenDetails: {}, totalTokens: 19 };
    const last = patchBodies(api).at(-1) as Record<string, unknown>;
    assert.equal(api.patches.length, 3);
    assert.equal(last["streaming"], false);
    assert.deepEqual(last["tokens"], { input: 12, output: 7, total: 19 });
    assert.equal((last["metadata"] as { usage: typeof usage }).usage.totalTokens, usage.totalTokens);
    assert.ok(api.patches.at(-1)?.headers.get("Idempotency-Key"), "the finish is made safe to resend by a key");

    const stored = api.message("c1", "a1");
    assert.deepEqual(stored?.parts, [{ type: "step-start" }, { type: "text", text: "Hello, world", state: "done" }]);
    assert.equal(stored?.streaming, false);
    const start = browser.chunks.find((chunk) => chunk.type === "start");
    assert.deepEqual(start, { type: "start", messageId: "a1" }, "the browser's reply has the stored id");
  });

  it("keeps a silent reply alive with an unnumbered empty delta every 5 s, and numbers on after it", async () => {
    const { api, clock, model, browser } = setup();
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("Let me look"));
    await clock.advance(250);
    assert.equal(api.patches.length, 1);
    // A tool runs, or the model thinks: nothing to store for 12 s.
    await clock.advance(4_900);
    assert.equal(api.patches.length, 1, "nothing before 5 s of silence");
    await clock.advance(100);
    assert.deepEqual(patchBodies(api)[1], { appendContent: "" });
    assert.equal(api.patches[1]?.headers.get("Idempotency-Key"), null, "it appends nothing: safe to resend as it is");
    await clock.advance(5_000);
    assert.deepEqual(patchBodies(api).slice(1), [{ appendContent: "" }, { appendContent: "" }]);
    model.send(text(" that up"));
    await clock.advance(250);
    assert.deepEqual(patchBodies(api)[3], { partChanges: [{ append: " that up", type: "text", index: 1 }], sequence: 2 });
    model.send({ type: "text-end", id: "t1" }, finish);
    model.end();
    await clock.run(browser.done);
    assert.deepEqual(api.message("c1", "a1")?.parts, [
      { type: "step-start" },
      { type: "text", text: "Let me look that up", state: "done" },
    ]);
  });

  it("keeps one PATCH in flight, and resends one whose answer was lost byte for byte", async () => {
    const { api, clock, model, browser } = setup();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    api.fault = (request) => {
      if (request.method !== "PATCH") return undefined;
      const sequence = request.body?.["sequence"];
      if (sequence === 1 && api.patches.length === 1) return { hold: held };
      if (sequence === 2 && api.patches.length === 2) return { lose: true };
      return undefined;
    };
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("One"));
    await clock.advance(250);
    assert.equal(api.patches.length, 1);
    model.send(text(" two"));
    await clock.advance(1_000);
    assert.equal(api.patches.length, 1, "no second PATCH while the first is unanswered");
    release();
    await clock.advance(0);
    assert.equal(api.patches.length, 2, "the next one goes once the first is answered and the throttle has passed");
    assert.deepEqual(api.patches[1]?.body, { partChanges: [{ append: " two", type: "text", index: 1 }], sequence: 2 });
    model.send(text(" three"));
    await clock.advance(5_000);
    assert.equal(api.patches[2]?.text, api.patches[1]?.text, "the unanswered PATCH again, byte for byte");
    assert.deepEqual(api.patches[3]?.body, { partChanges: [{ append: " three", type: "text", index: 1 }], sequence: 3 });
    model.send({ type: "text-end", id: "t1" }, finish);
    model.end();
    await clock.run(browser.done);
    assert.deepEqual(api.message("c1", "a1")?.parts, [{ type: "step-start" }, { type: "text", text: "One two three", state: "done" }]);
  });

  it("keeps the partial reply and marks it interrupted when the generation is aborted", async () => {
    const { api, clock, model, abortController, browser } = setup();
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("Half a"));
    await clock.advance(250);
    model.send(text(" thought"));
    await settle();
    abortController.abort();
    await clock.run(browser.done);
    assert.ok(browser.chunks.some((chunk) => chunk.type === "abort"), "streamText reports the abort");
    assert.deepEqual(api.patches.at(-1)?.body, {
      partChanges: [{ append: " thought", type: "text", index: 1 }],
      sequence: 2,
      streaming: false,
      interrupted: true,
    });
    const stored = api.message("c1", "a1");
    assert.equal(stored?.interrupted, true);
    assert.equal(stored?.streaming, false);
    assert.deepEqual(stored?.parts, [{ type: "step-start" }, { type: "text", text: "Half a thought", state: "done" }]);
  });

  it("stops the model and stores nothing more once another device stopped the reply (409 message_finished)", async () => {
    const { api, clock, model, abortController, browser, stopped, errors } = setup();
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("Before"));
    await clock.advance(250);
    const other = new ChatStoreClient({ baseUrl: "https://api.test", fetch: api.fetch });
    await stopReply(other, "c1", "a1");
    assert.deepEqual(api.patches.at(-1)?.body, { streaming: false, interrupted: true });
    const seen = api.patches.length;
    model.send(text(" after"));
    await clock.advance(250);
    assert.equal(api.patches.length, seen + 1, "the next delta is refused");
    assert.ok(abortController.signal.aborted, "the generation is aborted");
    assert.equal(stopped.count, 1);
    await clock.run(browser.done);
    assert.equal(api.patches.length, seen + 1, "nothing more is sent");
    assert.deepEqual(errors, []);
    assert.deepEqual(api.message("c1", "a1")?.parts, [{ type: "step-start" }, { type: "text", text: "Before", state: "done" }]);
  });

  it("carries on storing when the browser goes away, and the stream it handed back ends once the reply is stored", async () => {
    const { api, clock, model, browser } = setup({}, 1);
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("All"));
    await clock.run(browser.done);
    assert.deepEqual(browser.chunks, [{ type: "start", messageId: "a1" }], "the browser read one chunk and left");
    model.send(text(" of it"), { type: "text-end", id: "t1" }, finish);
    model.end();
    await clock.advance(1_000);
    assert.equal(api.message("c1", "a1")?.streaming, false);
    assert.deepEqual(api.message("c1", "a1")?.parts, [{ type: "step-start" }, { type: "text", text: "All of it", state: "done" }]);
  });

  it("marks the reply interrupted when the model fails mid-reply, keeping what it wrote", async () => {
    const { api, clock, model, browser, errors } = setup();
    model.send({ type: "stream-start", warnings: [] }, { type: "text-start", id: "t1" }, text("Partly"));
    await clock.advance(250);
    model.send({ type: "error", error: new Error("provider overloaded") });
    model.end();
    await clock.run(browser.done);
    assert.ok(browser.chunks.some((chunk) => chunk.type === "error"), "the browser is told");
    assert.deepEqual(api.patches.at(-1)?.body, { streaming: false, interrupted: true });
    assert.equal(api.message("c1", "a1")?.interrupted, true);
    assert.deepEqual(api.message("c1", "a1")?.parts, [{ type: "step-start" }, { type: "text", text: "Partly", state: "done" }]);
    assert.deepEqual(errors, [], "a model's failure is not the store's");
  });
});
