/**
 * Streaming into parts against the real API (../support/server.ts): a route's reply stored by
 * persistReply while it streams, resumed on another device by ChatStoreTransport into the very
 * reply, and stopped from that device.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readUIMessageStream, validateUIMessages } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";

import { ChatStoreTransport, loadChat, persistReply, stopReply } from "../../src/ai-sdk.js";
import { ChatStoreClient } from "../../src/index.js";
import type { FetchLike } from "../../src/index.js";
import { useApiUser } from "../support/server.js";
import { AFTER_RESUME, BEFORE_RESUME, builtFrom, streamOf as streamOfChunks } from "../support/ui-chunks.js";

const local = useApiUser();

/** A deep copy through JSON, as messages travel. */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** One device's client; `bodies` gets every PATCH body it sends. */
function device(bodies: unknown[] = []): ChatStoreClient {
  const recording: FetchLike = (url, init) => {
    if (init.method === "PATCH" && typeof init.body === "string") bodies.push(JSON.parse(init.body));
    return fetch(url, init);
  };
  return new ChatStoreClient({ baseUrl: local.api.baseUrl, getToken: () => local.token, timeoutMs: 5_000, fetch: recording });
}

/** A reply source the test writes chunk by chunk. */
function source(): { stream: ReadableStream<UIMessageChunk>; send: (chunks: UIMessageChunk[]) => void; end: () => void } {
  let controller!: ReadableStreamDefaultController<UIMessageChunk>;
  const stream = new ReadableStream<UIMessageChunk>({ start: (c) => void (controller = c) });
  return { stream, send: (chunks) => chunks.forEach((chunk) => controller.enqueue(chunk)), end: () => controller.close() };
}

/** Polls until `check` holds (within a deadline): slow waits poll, they do not sleep blindly. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function storedParts(client: ChatStoreClient, chatId: string, id: string): Promise<number> {
  const answer = await client.getMessage(chatId, id).catch(() => undefined);
  return answer && !answer.notModified ? (answer.data.parts?.length ?? 0) : 0;
}

/** The `sequence` of each PATCH that had one. */
const numbers = (bodies: unknown[]): number[] =>
  bodies.map((body) => (body as { sequence?: number }).sequence).filter((n): n is number => n !== undefined);

const user = (id: string): UIMessage => ({ id, role: "user", parts: [{ type: "text", text: "Weather in Lisbon?" }] });

describe("streaming into parts against the local API", () => {
  it("stores a reply as it streams, and another device resumes it into the very reply", async () => {
    const patches: unknown[] = [];
    const route = device(patches);
    const reply = source();
    const answered = persistReply({ client: route, chatId: "resume", messages: [user("u1")], stream: reply.stream, throttleMs: 20 })
      .pipeTo(new WritableStream());
    reply.send(BEFORE_RESUME);
    await until(async () => (await storedParts(route, "resume", "a1")) >= 3, "part of the reply is stored");

    const other = device();
    const transport = new ChatStoreTransport({ client: other, pollIntervalMs: 25, maxPollIntervalMs: 100 });
    const stream = await transport.reconnectToStream({ chatId: "resume" });
    assert.ok(stream, "a reply still streaming is resumed");
    let resumed: UIMessage | undefined;
    const following = (async () => {
      for await (const message of readUIMessageStream({ stream })) resumed = message;
    })();
    reply.send(AFTER_RESUME);
    reply.end();
    await Promise.all([answered, following]);

    const original = wire(await builtFrom([...BEFORE_RESUME, ...AFTER_RESUME]));
    assert.deepEqual(wire(resumed), original);
    const loaded = await loadChat(other, "resume");
    assert.deepEqual(loaded.map((m) => m.id), ["u1", "a1"]);
    assert.deepEqual(wire(loaded[1]), original, "stored as streamed");
    await validateUIMessages({ messages: wire(loaded) });
    assert.equal(await transport.reconnectToStream({ chatId: "resume" }), null, "a finished reply is not resumed");

    const view = await other.getConversation("resume");
    assert.ok(!view.notModified);
    const stored = view.data.messages.at(-1);
    assert.equal(stored?.content, "Looking it up.Sunny, 19 degrees.");
    assert.deepEqual(stored?.tokens, { input: 3, output: 4, total: 7 });
    const sequences = numbers(patches);
    assert.deepEqual(sequences, sequences.map((_, i) => i + 1), "numbered 1, 2, 3...");
    assert.equal((patches.at(-1) as { streaming?: boolean }).streaming, false);
  });

  it("a stop from another device ends the reply for every device and stops the route's model", async () => {
    const route = device();
    const reply = source();
    const abortController = new AbortController();
    let stopped = 0;
    const answered = persistReply({
      client: route,
      chatId: "stop",
      messages: [user("u2")],
      stream: reply.stream,
      throttleMs: 20,
      abortController,
      onStopped: () => stopped++,
    }).pipeTo(new WritableStream());
    reply.send(BEFORE_RESUME);
    await until(async () => (await storedParts(route, "stop", "a1")) >= 3, "part of the reply is stored");

    const other = device();
    const transport = new ChatStoreTransport({ client: other, pollIntervalMs: 25, maxPollIntervalMs: 100 });
    const stream = await transport.reconnectToStream({ chatId: "stop" });
    assert.ok(stream);
    let resumed: UIMessage | undefined;
    const following = (async () => {
      for await (const message of readUIMessageStream({ stream })) resumed = message;
    })();
    await stopReply(other, "stop", "a1");
    await following;

    reply.send(AFTER_RESUME.slice(0, 1));
    await until(async () => abortController.signal.aborted, "the route learns of the stop");
    assert.equal(stopped, 1);
    // The model stops once its signal aborts; here the test's source ends in its place.
    reply.send([{ type: "abort" }]);
    reply.end();
    await answered;

    const loaded = await loadChat(other, "stop");
    assert.deepEqual(wire(resumed), wire(loaded[1]), "the follower ends on the stored partial reply");
    await validateUIMessages({ messages: wire(loaded) });
    const view = await other.getConversation("stop");
    assert.ok(!view.notModified);
    assert.equal(view.data.messages.at(-1)?.interrupted, true);
    assert.equal(view.data.messages.at(-1)?.streaming, false);
  });

  it("keeps a reply whose generation was aborted, marked interrupted, its parts settled", async () => {
    const route = device();
    const reply = source();
    const answered = persistReply({ client: route, chatId: "abort", messages: [user("u3")], stream: reply.stream, throttleMs: 20 })
      .pipeTo(new WritableStream());
    reply.send([...BEFORE_RESUME, { type: "abort" }]);
    reply.end();
    await answered;
    const view = await route.getConversation("abort");
    assert.ok(!view.notModified);
    const stored = view.data.messages.at(-1);
    assert.equal(stored?.interrupted, true);
    assert.equal(stored?.content, "Looking it ");
    const loaded = await loadChat(route, "abort");
    await validateUIMessages({ messages: wire(loaded) });
  });

  it("streams on into the reply a tool approval continues, its deltas numbered afresh", async () => {
    const patches: unknown[] = [];
    const route = device(patches);
    const first = source();
    const firstTurn = persistReply({ client: route, chatId: "approve", messages: [user("u4")], stream: first.stream, throttleMs: 20 })
      .pipeTo(new WritableStream());
    first.send([...BEFORE_RESUME, ...AFTER_RESUME]);
    first.end();
    await firstTurn;

    // The user approves the call: useChat sends the reply back with the approval answered.
    const [asked, reply] = await loadChat(route, "approve");
    assert.ok(asked && reply);
    const answered = wire({
      ...reply,
      parts: reply.parts.map((part) =>
        part.type === "tool-deleteFile" ? { ...part, state: "approval-responded", approval: { id: "ap1", approved: true } } : part,
      ),
    }) as UIMessage;
    const more: UIMessageChunk[] = [
      { type: "start", messageId: "a1" },
      { type: "tool-output-available", toolCallId: "c3", output: { deleted: true } },
      { type: "start-step" },
      { type: "text-start", id: "t3" },
      { type: "text-delta", id: "t3", delta: "Deleted." },
      { type: "text-end", id: "t3" },
      { type: "finish", finishReason: "stop" },
    ];
    const firstSequences = numbers(patches);
    patches.length = 0;
    const second = source();
    const secondTurn = persistReply({ client: route, chatId: "approve", messages: [asked, answered], stream: second.stream, throttleMs: 20 })
      .pipeTo(new WritableStream());
    second.send(more);
    second.end();
    await secondTurn;

    let expected: UIMessage | undefined;
    for await (const message of readUIMessageStream({ message: structuredClone(answered), stream: streamOfChunks(more) })) expected = message;
    const loaded = await loadChat(route, "approve");
    assert.deepEqual(loaded.map((m) => m.id), ["u4", "a1"], "one reply, continued");
    assert.ok((firstSequences.at(-1) ?? 0) >= 1, "the first turn had numbered deltas of its own");
    assert.equal(numbers(patches)[0], 1, "the reopened reply is numbered from 1, with no probe");
    assert.deepEqual(wire(loaded[1]), wire(expected));
    await validateUIMessages({ messages: wire(loaded) });
  });
});
