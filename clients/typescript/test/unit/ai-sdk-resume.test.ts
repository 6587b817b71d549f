/**
 * A reply stored by `persistReply` while it streams, resumed by `ChatStoreTransport` from the
 * store: the SDK's own `readUIMessageStream` and `AbstractChat` rebuild the very reply that was
 * streamed, every part kind included, once, whether or not `loadChat` already gave a copy.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readUIMessageStream, validateUIMessages } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";

import { ChatStoreTransport, bearerTokenOf, loadChat, persistReply, stopReply } from "../../src/ai-sdk.js";
import { ChatStoreClient } from "../../src/index.js";
import { TestChat } from "../support/chat.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakePartsApi } from "../support/fake-parts-api.js";
import { AFTER_RESUME, BEFORE_RESUME, builtFrom as built } from "../support/ui-chunks.js";

/** A deep copy through JSON, as messages travel. */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const USER: UIMessage = { id: "u1", role: "user", parts: [{ type: "text", text: "Weather in Lisbon?" }] };

/** A route storing a reply whose chunks the test sends, against the parts API's stand-in. */
function route() {
  const api = new FakePartsApi();
  const clock = new FakeClock();
  const client = new ChatStoreClient({ baseUrl: "https://api.test", fetch: api.fetch, sleep: clock.sleep });
  let controller!: ReadableStreamDefaultController<UIMessageChunk>;
  const source = new ReadableStream<UIMessageChunk>({ start: (c) => void (controller = c) });
  const stream = persistReply({ client, chatId: "c1", messages: [USER], stream: source, now: clock.now, sleep: clock.sleep });
  const answered = stream.pipeTo(new WritableStream());
  const transport = new ChatStoreTransport({ client, sleep: clock.sleep });
  return { api, clock, client, transport, answered, send: (chunks: UIMessageChunk[]) => chunks.forEach((c) => controller.enqueue(c)), end: () => controller.close() };
}

describe("ChatStoreTransport.reconnectToStream", () => {
  it("replays a reply still streaming from the store and follows it to the end: the SDK rebuilds the very reply", async () => {
    const { api, clock, transport, answered, send, end } = route();
    send(BEFORE_RESUME);
    await clock.advance(250);
    assert.ok((api.message("c1", "a1")?.parts.length ?? 0) > 0, "part of the reply is stored");

    const stream = await transport.reconnectToStream({ chatId: "c1" });
    assert.ok(stream);
    let resumed: UIMessage | undefined;
    const following = (async () => {
      for await (const message of readUIMessageStream({ stream })) resumed = message;
    })();
    await clock.advance(300);
    send(AFTER_RESUME);
    end();
    await clock.run(Promise.all([following, answered]));

    const original = await built([...BEFORE_RESUME, ...AFTER_RESUME]);
    assert.deepEqual(wire(resumed), wire(original));
    assert.deepEqual(wire(api.message("c1", "a1")?.parts), wire(original?.parts), "stored as streamed");
    assert.deepEqual(wire(api.message("c1", "a1")?.metadata), wire(original?.metadata));
    await validateUIMessages({ messages: [USER, wire(resumed)] });
    assert.equal(await transport.reconnectToStream({ chatId: "c1" }), null, "a finished reply is not resumed");
  });

  it("gives useChat one copy of the reply whether or not loadChat already had it", async () => {
    const { clock, client, transport, answered, send, end } = route();
    send(BEFORE_RESUME);
    await clock.advance(250);
    const loaded = await loadChat(client, "c1");
    assert.deepEqual(loaded.map((m) => m.id), ["u1", "a1"], "loadChat gives the reply as stored so far");

    const withCopy = new TestChat({ id: "c1", messages: loaded, transport });
    const withoutCopy = new TestChat({ id: "c1", messages: loaded.slice(0, 1), transport });
    const resuming = Promise.all([withCopy.resumeStream(), withoutCopy.resumeStream()]);
    await clock.advance(300);
    send(AFTER_RESUME);
    end();
    await clock.run(Promise.all([resuming, answered]));

    const original = wire(await built([...BEFORE_RESUME, ...AFTER_RESUME]));
    for (const chat of [withCopy, withoutCopy]) {
      assert.deepEqual(chat.all.map((m) => m.id), ["u1", "a1"]);
      assert.deepEqual(wire(chat.all[1]), original);
    }
  });

  it("ends a reply stopped from another device as stored, its partial parts settled", async () => {
    const { clock, client, transport, answered, send, end } = route();
    send(BEFORE_RESUME);
    await clock.advance(250);
    const stream = await transport.reconnectToStream({ chatId: "c1" });
    assert.ok(stream);
    let resumed: UIMessage | undefined;
    const following = (async () => {
      for await (const message of readUIMessageStream({ stream })) resumed = message;
    })();
    await clock.advance(300);
    await stopReply(client, "c1", "a1");
    await clock.run(following);
    const stored = (await loadChat(client, "c1"))[1];
    assert.deepEqual(wire(resumed), wire(stored));
    assert.ok(resumed?.parts.every((part) => !("state" in part) || (part.state !== "streaming" && part.state !== "input-streaming")));
    end();
    await clock.run(answered);
  });

  it("polls with If-None-Match, backing off while nothing changes and back to the first interval once it does", async () => {
    const { api, clock, client, answered, send, end } = route();
    const waits: number[] = [];
    const sleep = (ms: number, signal?: AbortSignal): Promise<void> => (waits.push(ms), clock.sleep(ms, signal));
    const transport = new ChatStoreTransport({ client, sleep, pollIntervalMs: 300, maxPollIntervalMs: 1_000 });
    send(BEFORE_RESUME.slice(0, 8));
    await clock.advance(250);
    const stream = await transport.reconnectToStream({ chatId: "c1" });
    assert.ok(stream);
    const reader = stream.getReader();
    const read = (async () => {
      for (let step = await reader.read(); !step.done; step = await reader.read());
    })();
    await clock.advance(3_000);
    const polls = api.requests.filter((r) => r.method === "GET" && r.path.startsWith("/api/conversations/c1/messages/a1"));
    assert.ok(polls.length >= 4);
    assert.equal(polls[0]?.headers.get("If-None-Match"), null);
    assert.ok(polls.slice(1).every((poll) => poll.headers.get("If-None-Match") !== null), "then each poll names the copy it has");
    assert.ok(polls.every((poll) => poll.path.includes("after=11")), "content only from where it was");
    assert.deepEqual(waits.slice(0, 5), [300, 450, 675, 1_000, 1_000], "backing off to the longest wait");
    send(BEFORE_RESUME.slice(8));
    await clock.advance(2_000);
    assert.ok(waits.indexOf(300, 1) > 4, "a change brings the first interval back");
    end();
    await clock.run(Promise.all([read, answered]));
  });
});

describe("ChatStoreTransport.sendMessages", () => {
  it("posts to the app's route as DefaultChatTransport does, with the store's token as its bearer", async () => {
    const seen: { url: string; headers: Headers; body: unknown }[] = [];
    const routeFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
      seen.push({ url: String(url), headers: new Headers(init?.headers), body: JSON.parse(String(init?.body)) });
      const events = [{ type: "start", messageId: "a9" }, { type: "finish" }].map((c) => `data: ${JSON.stringify(c)}\n\n`);
      return new Response(events.join("") + "data: [DONE]\n\n", { headers: { "Content-Type": "text/event-stream" } });
    };
    const client = new ChatStoreClient({ baseUrl: "https://api.test", fetch: new FakePartsApi().fetch });
    const transport = new ChatStoreTransport({ client, getToken: () => "tok-1", api: "/api/chat", fetch: routeFetch, headers: { "X-App": "1" } });
    const stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId: "c9",
      messageId: undefined,
      messages: [USER],
      abortSignal: undefined,
    });
    const chunks: UIMessageChunk[] = [];
    const reader = stream.getReader();
    for (let step = await reader.read(); !step.done; step = await reader.read()) chunks.push(step.value);
    assert.deepEqual(chunks, [{ type: "start", messageId: "a9" }, { type: "finish" }]);
    assert.equal(seen[0]?.url, "/api/chat");
    assert.equal(seen[0]?.headers.get("Authorization"), "Bearer tok-1");
    assert.equal(seen[0]?.headers.get("X-App"), "1", "the app's own headers are kept");
    assert.deepEqual((seen[0]?.body as { id: string; messages: UIMessage[] }).messages, [USER]);
    assert.equal((seen[0]?.body as { id: string }).id, "c9");
  });

  it("bearerTokenOf reads the token back in the route", () => {
    assert.equal(bearerTokenOf(new Request("https://app.test/api/chat", { headers: { Authorization: "Bearer tok-1" } })), "tok-1");
    assert.equal(bearerTokenOf(new Request("https://app.test/api/chat")), undefined);
  });
});
