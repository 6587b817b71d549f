/**
 * PushChannel against a fake WebSocket and a manual clock: how it authenticates, when it pings,
 * how long it waits to reconnect, what it says of its state, and which frames become pushes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, PushChannel, pushUrl, reconnectDelayMs } from "../../src/index.js";
import type { PushChannelEvents, PushChannelOptions } from "../../src/index.js";
import { FakeClock, settle } from "../support/fake-clock.js";
import { fakeFetch } from "../support/fake-fetch.js";
import { fakeWebSocket } from "../support/fake-websocket.js";

const URL_WS = "wss://push.test/prod";

function setup(options: Partial<PushChannelOptions> = {}) {
  const clock = new FakeClock();
  const ws = fakeWebSocket();
  const channel = new PushChannel({
    url: URL_WS,
    getToken: () => "tok.en-1",
    WebSocket: ws.WebSocket,
    sleep: clock.sleep,
    random: () => 0.5,
    ...options,
  });
  const events: [keyof PushChannelEvents, unknown][] = [];
  for (const name of ["open", "closed", "push", "watching", "error"] as const) {
    channel.on(name, (payload) => events.push([name, payload]));
  }
  const names = () => events.map(([name]) => name);
  return { clock, ws, channel, events, names };
}

describe("PushChannel", () => {
  it("authenticates with the bearer subprotocol and reports open, then closed when stopped", async () => {
    const { clock, ws, channel, events } = setup();
    assert.equal(channel.state, "closed");
    channel.start();
    channel.start(); // once only
    await clock.advance(0);
    assert.equal(ws.sockets.length, 1);
    assert.equal(channel.state, "connecting");
    const socket = ws.last();
    assert.equal(socket.url, URL_WS, "no token in the URL");
    assert.deepEqual(socket.protocols, ["chat-store", "bearer.tok.en-1"]);
    socket.accept();
    assert.equal(channel.state, "open");
    assert.equal(channel.open, true);
    assert.deepEqual(events, [["open", { reconnected: false }]]);
    assert.deepEqual(socket.sent, [{ type: "ping" }], "nothing watched: a ping, whose answer names the connection");
    channel.stop();
    await clock.advance(0);
    assert.equal(channel.state, "closed");
    assert.deepEqual(socket.closedByClient, { code: 1000, reason: "stopped" });
    assert.deepEqual(events.at(-1), ["closed", { code: 1000, reason: "stopped", retryInMs: undefined }]);
    await clock.advance(600_000);
    assert.equal(ws.sockets.length, 1, "stopped: no reconnect");
  });

  it("takes the token from the client's provider, in the query when a subprotocol cannot carry it", async () => {
    const client = new ChatStoreClient({ baseUrl: "https://api.test", getToken: async () => "a b/c" });
    const { clock, ws, channel } = setup({ client, getToken: undefined });
    channel.start();
    await clock.advance(0);
    const socket = ws.last();
    assert.deepEqual(socket.protocols, ["chat-store"]);
    assert.equal(new URL(socket.url).searchParams.get("token"), "a b/c");
    channel.stop();
  });

  it("pings every 5 minutes while open, and drops a socket that answers nothing within 30 s", async () => {
    const { clock, ws, channel, events } = setup();
    channel.start();
    await clock.advance(0);
    const socket = ws.last();
    socket.accept();
    assert.equal(socket.sentOf("ping").length, 1, "the first, at once");
    socket.receive({ type: "pong" });
    await clock.advance(299_999);
    assert.equal(socket.sentOf("ping").length, 1);
    await clock.advance(1);
    assert.equal(socket.sentOf("ping").length, 2);
    socket.receive({ type: "pong" });
    await clock.advance(300_000);
    assert.equal(socket.sentOf("ping").length, 3);
    assert.equal(channel.state, "open", "the first ping was answered");
    await clock.advance(29_999);
    assert.equal(channel.state, "open");
    await clock.advance(1);
    assert.equal(channel.state, "closed", "the second ping was not: the socket is dead");
    assert.equal(socket.closedByClient?.code, 4000);
    assert.deepEqual(events.at(-1), ["closed", { code: 4000, reason: "no pong", retryInMs: 750 }]);
    await clock.advance(750);
    assert.equal(ws.sockets.length, 2, "and a new one is opened");
    channel.stop();
  });

  it("reconnects with jittered backoff that doubles up to its cap, and starts over once open", async () => {
    const { clock, ws, channel, events } = setup({ random: () => 0 });
    channel.start();
    await clock.advance(0);
    // Refused four times (a 401 at $connect, a network down): 500, 1000, 2000, 4000 ms (half of
    // 1, 2, 4, 8 s at the lowest jitter).
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      ws.last().drop(1006);
      await clock.advance(0);
      const closed = events.at(-1)![1] as PushChannelEvents["closed"];
      waits.push(closed.retryInMs!);
      await clock.advance(closed.retryInMs! - 1);
      assert.equal(ws.sockets.length, i + 1, "not before the wait");
      await clock.advance(1);
      assert.equal(ws.sockets.length, i + 2);
    }
    assert.deepEqual(waits, [500, 1_000, 2_000, 4_000]);
    assert.equal(channel.state, "connecting");
    ws.last().accept();
    assert.deepEqual(events.at(-1), ["open", { reconnected: false }], "never open before: nothing missed");
    ws.last().drop(1001, "going away");
    await clock.advance(0);
    assert.deepEqual(events.at(-1), ["closed", { code: 1001, reason: "going away", retryInMs: 500 }]);
    await clock.advance(500);
    ws.last().accept();
    assert.deepEqual(events.at(-1), ["open", { reconnected: true }]);
    channel.stop();
  });

  it("caps the wait and jitters it within its upper half", () => {
    assert.equal(reconnectDelayMs(0, 1_000, 30_000, 0), 500);
    assert.equal(reconnectDelayMs(0, 1_000, 30_000, 0.999), 1_000);
    assert.equal(reconnectDelayMs(4, 1_000, 30_000, 0.5), 12_000);
    assert.equal(reconnectDelayMs(5, 1_000, 30_000, 1), 30_000);
    assert.equal(reconnectDelayMs(60, 1_000, 30_000, 0), 15_000);
  });

  it("sends its watch set once per change, and again on every new socket", async () => {
    const { clock, ws, channel, events } = setup();
    const releaseA = channel.watch("a");
    channel.start();
    await clock.advance(0);
    const first = ws.last();
    first.accept();
    assert.deepEqual(first.sent, [{ type: "watch", conversationIds: ["a"] }]);
    const releaseB = channel.watch("b");
    const releaseA2 = channel.watch("a");
    await settle();
    assert.deepEqual(first.sentOf("watch").at(-1), { type: "watch", conversationIds: ["b", "a"] });
    assert.equal(first.sentOf("watch").length, 2, "two takes in one task: one frame");
    releaseA2();
    releaseA2(); // twice is once
    await settle();
    assert.equal(first.sentOf("watch").length, 2, "still watched by its first holder: nothing to say");
    first.receive({ type: "watching", conversationIds: ["b", "a"] });
    assert.deepEqual(events.at(-1), ["watching", { conversationIds: ["b", "a"] }]);
    first.drop(1006);
    await clock.advance(750);
    const second = ws.last();
    assert.notEqual(second, first);
    second.accept();
    assert.deepEqual(second.sent, [{ type: "watch", conversationIds: ["a", "b"] }]);
    releaseA();
    releaseB();
    await settle();
    assert.deepEqual(second.sentOf("watch").at(-1), { type: "watch", conversationIds: [] });
    channel.stop();
  });

  it("watches the newest ten conversations taken", async () => {
    const { clock, ws, channel } = setup();
    for (let i = 0; i < 12; i++) channel.watch(`c${i}`);
    channel.start();
    await clock.advance(0);
    ws.last().accept();
    assert.deepEqual(channel.watching, ["c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"]);
    assert.deepEqual(ws.last().sent, [{ type: "watch", conversationIds: channel.watching }]);
    channel.stop();
  });

  it("emits each push typed; reports unreadable and error frames without closing", async () => {
    const { clock, ws, channel, events } = setup();
    channel.start();
    await clock.advance(0);
    const socket = ws.last();
    socket.accept();
    const conversation = { type: "conversation", conversationId: "c", version: 3, change: "created" };
    const message = { type: "message", conversationId: "c", messageId: "m", version: 4, change: "appended" };
    const delta = { type: "delta", conversationId: "c", messageId: "m", version: 5, offset: 0, text: "Hi", streaming: true };
    for (const frame of [conversation, message, delta]) socket.receive(frame);
    socket.receive("not json");
    socket.receive({ type: "error", code: "invalid_frame", detail: "?" });
    socket.receive({ type: "delta", conversationId: "c", version: 6 }); // no messageId, offset, text
    assert.deepEqual(
      events.slice(1, 4).map(([, payload]) => payload),
      [conversation, message, delta],
    );
    assert.deepEqual(events.slice(4).map(([name]) => name), ["error", "error", "error"]);
    assert.equal(channel.state, "open");
    channel.stop();
  });

  it("asks for the token again at every connect and waits when there is none", async () => {
    const tokens: (string | null)[] = [null, "t2", "t3"];
    const { clock, ws, channel, events } = setup({ getToken: () => tokens.shift()! });
    channel.start();
    await clock.advance(0);
    assert.equal(ws.sockets.length, 0, "no token: no socket");
    assert.deepEqual(events, [["closed", { code: 4401, reason: "no token", retryInMs: 750 }]]);
    await clock.advance(750);
    assert.deepEqual(ws.last().protocols, ["chat-store", "bearer.t2"]);
    ws.last().accept();
    ws.last().drop(4401, "token expired");
    await clock.advance(750);
    assert.deepEqual(ws.last().protocols, ["chat-store", "bearer.t3"]);
    channel.stop();
  });

  it("hands the connection id the server names to the client, which sends it with its writes only", async () => {
    const fake = fakeFetch({ status: 200, body: { changes: [], nextCursor: "c", hasMore: false } }, { status: 204 });
    const client = new ChatStoreClient({ baseUrl: "https://api.test", fetch: fake.fetch, getToken: () => "tok" });
    const { clock, ws, channel } = setup({ client, getToken: undefined });
    channel.start();
    await clock.advance(0);
    ws.last().accept();
    ws.last().receive({ type: "pong", connectionId: "conn-1=" });
    assert.equal(channel.connectionId, "conn-1=");
    assert.equal(client.transport.connectionId, "conn-1=");
    await client.listChanges({ since: "c" });
    await client.deleteConversation("x");
    assert.equal(fake.requests[0]!.headers.has("X-Connection-Id"), false, "a read: not sent");
    assert.equal(fake.requests[1]!.headers.get("X-Connection-Id"), "conn-1=");
    ws.last().drop(1006);
    await clock.advance(0);
    assert.equal(channel.connectionId, undefined);
    assert.equal(client.transport.connectionId, undefined, "gone with its socket: writes are pushed to every connection");
    channel.stop();
  });

  it("without a WebSocket, says so at start", () => {
    const channel = new PushChannel({ url: URL_WS, getToken: () => "t", WebSocket: undefined });
    if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function") return; // Node 22
    assert.throws(() => channel.start(), TypeError);
    assert.equal(channel.running, false);
  });

  it("derives the dev server's socket URL from the API's", () => {
    assert.equal(pushUrl("http://127.0.0.1:8000"), "ws://127.0.0.1:8000/ws");
    assert.equal(pushUrl("https://api.example.com/chat/"), "wss://api.example.com/chat/ws");
  });
});
