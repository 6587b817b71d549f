/**
 * `ChatStoreTransport.reconnectToStream` with a push channel: a reply stored by `persistReply`
 * is read when a push says it grew, not every 300 ms; while the channel is closed it is polled
 * as without one. The SDK still rebuilds the very reply that was streamed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readUIMessageStream } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";

import { ChatStoreTransport, persistReply } from "../../src/ai-sdk.js";
import { ChatStoreClient, PushChannel } from "../../src/index.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakePartsApi } from "../support/fake-parts-api.js";
import { fakeWebSocket } from "../support/fake-websocket.js";
import { AFTER_RESUME, BEFORE_RESUME, builtFrom as built } from "../support/ui-chunks.js";

const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const USER: UIMessage = { id: "u1", role: "user", parts: [{ type: "text", text: "Weather in Lisbon?" }] };
const REPLY_PATH = "/api/conversations/c1/messages/a1";

/** A route storing a reply the test streams, and a page resuming it with a push channel. */
async function setup() {
  const api = new FakePartsApi();
  const clock = new FakeClock();
  const client = new ChatStoreClient({ baseUrl: "https://api.test", fetch: api.fetch, sleep: clock.sleep });
  let controller!: ReadableStreamDefaultController<UIMessageChunk>;
  const source = new ReadableStream<UIMessageChunk>({ start: (c) => void (controller = c) });
  const stream = persistReply({ client, chatId: "c1", messages: [USER], stream: source, now: clock.now, sleep: clock.sleep });
  const answered = stream.pipeTo(new WritableStream());
  const ws = fakeWebSocket();
  const push = new PushChannel({
    url: "wss://push.test",
    getToken: () => "tok",
    WebSocket: ws.WebSocket,
    sleep: clock.sleep,
    random: () => 0.5,
    pingIntervalMs: 3_600_000,
  });
  push.start();
  await clock.advance(0);
  ws.last().accept();
  const transport = new ChatStoreTransport({ client, sleep: clock.sleep, push });
  const replyReads = () => api.requests.filter((r) => r.method === "GET" && r.path.startsWith(REPLY_PATH)).length;
  /** What the server pushes after a write to the reply: a delta with parts. */
  const pushDelta = (streaming = true) =>
    ws.last().receive({ type: "delta", conversationId: "c1", messageId: "a1", version: 99, offset: 0, text: "", streaming, parts: true });
  return {
    api,
    clock,
    ws,
    push,
    transport,
    answered,
    replyReads,
    pushDelta,
    send: (chunks: UIMessageChunk[]) => chunks.forEach((c) => controller.enqueue(c)),
    end: () => controller.close(),
  };
}

describe("ChatStoreTransport.reconnectToStream with a push channel", () => {
  it("reads the reply on its pushes and a slow safety poll, not every 300 ms, and rebuilds it whole", async () => {
    const { clock, ws, push, transport, answered, replyReads, pushDelta, send, end } = await setup();
    send(BEFORE_RESUME);
    await clock.advance(250);
    const stream = await transport.reconnectToStream({ chatId: "c1" });
    assert.ok(stream);
    let resumed: UIMessage | undefined;
    const following = (async () => {
      for await (const message of readUIMessageStream({ stream })) resumed = message;
    })();
    await clock.advance(0);
    assert.deepEqual(ws.last().sentOf("watch"), [{ type: "watch", conversationIds: ["c1"] }]);
    const first = replyReads();
    assert.equal(first, 1, "the first read at once");
    await clock.advance(4_999);
    assert.equal(replyReads(), first, "no push: no read before the safety interval");
    await clock.advance(1);
    assert.equal(replyReads(), first + 1, "the safety poll");

    send(AFTER_RESUME);
    await clock.advance(250); // persistReply stores it
    assert.equal(replyReads(), first + 1, "stored, but not pushed yet: not read");
    pushDelta();
    await clock.advance(0);
    assert.equal(replyReads(), first + 2, "one read per push");
    end();
    await clock.advance(250);
    await answered;
    pushDelta(false);
    await clock.run(following, 10);
    assert.equal(replyReads(), first + 3, "the end's push: one read, which finishes the stream");

    const original = await built([...BEFORE_RESUME, ...AFTER_RESUME]);
    assert.deepEqual(wire(resumed), wire(original));
    assert.deepEqual(ws.last().sentOf("watch").at(-1), { type: "watch", conversationIds: [] }, "the watch is released");
    push.stop();
  });

  it("polls while the channel is closed, and reads once more when it opens again", async () => {
    const { clock, ws, push, transport, answered, replyReads, send, end } = await setup();
    send(BEFORE_RESUME);
    await clock.advance(250);
    const stream = await transport.reconnectToStream({ chatId: "c1" });
    assert.ok(stream);
    const following = (async () => {
      for await (const _ of readUIMessageStream({ stream })) void _;
    })();
    await clock.advance(0);
    const first = replyReads();
    ws.last().drop(1006);
    await clock.advance(0);
    assert.equal(replyReads(), first + 1, "closed: read at once (pushes may have been lost)");
    await clock.advance(449); // nothing new (304): the poll's wait grows by half, as without a channel
    assert.equal(replyReads(), first + 1);
    await clock.advance(1);
    assert.equal(replyReads(), first + 2);
    await clock.advance(300); // the reconnect, 750 ms after the drop
    assert.equal(ws.sockets.length, 2);
    const before = replyReads();
    ws.last().accept();
    await clock.advance(0);
    assert.equal(replyReads(), before + 1, "open again: one read to catch up");
    assert.deepEqual(ws.last().sentOf("watch"), [{ type: "watch", conversationIds: ["c1"] }], "the watch is sent again");
    await clock.advance(4_000);
    assert.equal(replyReads(), before + 1, "then quiet until a push or the safety interval");
    send(AFTER_RESUME);
    end();
    await clock.run(Promise.all([following, answered]));
    push.stop();
  });
});
