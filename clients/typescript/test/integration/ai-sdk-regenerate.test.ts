/**
 * A regenerate and an edit, as `useChat` makes them (the SDK's own `AbstractChat`), with the
 * route's `persistReply` against the real API (../support/server.ts): the store ends holding the
 * chat as the browser holds it, the replaced reply gone, and a turn another device added kept.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { convertToModelMessages, simulateReadableStream, streamText } from "ai";
import type { ChatTransport, UIMessage } from "ai";
import { MockLanguageModelV3 } from "ai/test";

import { loadChat, persistReply } from "../../src/ai-sdk.js";
import { ChatStoreClient } from "../../src/index.js";
import type { FetchLike } from "../../src/index.js";
import { TestChat } from "../support/chat.js";
import { useApiUser } from "../support/server.js";

type ModelPart = Awaited<ReturnType<MockLanguageModelV3["doStream"]>>["stream"] extends ReadableStream<infer P> ? P : never;

const local = useApiUser();

/** A client of the user's; `requests` gets each request it sends, as "METHOD path". */
function device(requests: string[] = []): ChatStoreClient {
  const recording: FetchLike = (url, init) => {
    requests.push(`${init.method ?? "GET"} ${new URL(url).pathname}`);
    return fetch(url, init);
  };
  return new ChatStoreClient({ baseUrl: local.api.baseUrl, getToken: () => local.token, timeoutMs: 5_000, fetch: recording });
}

/** A model that answers `text`, whole, at once. */
function saying(text: string): MockLanguageModelV3 {
  const chunks: ModelPart[] = [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id: "t1" },
    { type: "text-delta", id: "t1", delta: text },
    { type: "text-end", id: "t1" },
    {
      type: "finish",
      finishReason: { unified: "stop", raw: "stop" },
      usage: {
        inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: 2, text: 2, reasoning: undefined },
      },
    },
  ];
  return new MockLanguageModelV3({ doStream: async () => ({ stream: simulateReadableStream({ chunks }) }) });
}

/** The chat's route, in process: each request answered by the next of `answers`, stored as it streams. */
function route(client: ChatStoreClient, answers: string[]): ChatTransport<UIMessage> {
  return {
    async sendMessages({ chatId, messages }) {
      const answer = answers.shift();
      assert.ok(answer !== undefined, "a request more than the test expects");
      const result = streamText({ model: saying(answer), messages: await convertToModelMessages(messages) });
      return persistReply({ client, chatId, messages, stream: result.toUIMessageStream({ originalMessages: messages }) });
    },
    reconnectToStream: async () => null,
  };
}

/**
 * What the store and the browser must agree on: each message's id, role and parts, as JSON
 * carries them (the browser's copy holds `undefined` fields that no wire does).
 */
const shape = (messages: readonly UIMessage[]) =>
  JSON.parse(JSON.stringify(messages.map(({ id, role, parts }) => ({ id, role, parts })))) as unknown;

/** The texts of a chat, in order. */
const texts = (messages: readonly UIMessage[]) =>
  messages.map((message) => message.parts.flatMap((part) => (part.type === "text" ? [part.text] : [])).join(""));

describe("a regenerate and an edit against the local API", () => {
  it("a regenerated reply replaces the stored one: the store holds the chat as the browser does", async () => {
    const requests: string[] = [];
    const chat = new TestChat({ id: "regen", transport: route(device(requests), ["First answer", "Second answer"]) });
    await chat.sendMessage({ text: "Hi" });
    const [, first] = chat.all;
    assert.ok(first?.role === "assistant");

    requests.length = 0;
    await chat.regenerate();
    assert.deepEqual(texts(chat.all), ["Hi", "Second answer"]);
    const loaded = await loadChat(device(), "regen");
    assert.deepEqual(shape(loaded), shape(chat.all));

    // The user's message is already there (200), the newest page shows what followed it, the
    // replaced reply goes, and only then the new one is stored.
    const conversation = "/api/conversations/regen";
    assert.deepEqual(requests.slice(0, 4), [
      `POST ${conversation}/messages`,
      `GET ${conversation}`,
      `DELETE ${conversation}/messages/${first.id}`,
      `POST ${conversation}/messages`,
    ]);
    assert.ok(requests.slice(4).every((request) => request.startsWith(`PATCH ${conversation}/messages/`)), requests.join("\n"));
  });

  it("an edited last message is stored as edited, and its old reply goes", async () => {
    const chat = new TestChat({ id: "edit", transport: route(device(), ["About cats", "About dogs"]) });
    await chat.sendMessage({ text: "Tell me about cats", metadata: { createdAt: "2026-12-01T10:00:00.000Z" } });
    const [asked] = chat.all;
    assert.ok(asked !== undefined);

    // useChat's edit: the message sent again under its id, with what follows it dropped.
    const editedAt = { createdAt: "2026-12-01T10:05:00.000Z" };
    await chat.sendMessage({ text: "Tell me about dogs", messageId: asked.id, metadata: editedAt });
    assert.deepEqual(texts(chat.all), ["Tell me about dogs", "About dogs"]);
    const loaded = await loadChat(device(), "edit");
    assert.deepEqual(shape(loaded), shape(chat.all));
    assert.deepEqual(loaded[0]?.metadata, editedAt);
    const stored = await device().getConversation("edit");
    assert.ok(!stored.notModified);
    assert.equal(stored.data.messages[0]?.content, "Tell me about dogs");
  });

  it("a turn another device added after the replaced reply is kept", async () => {
    const chat = new TestChat({ id: "shared", transport: route(device(), ["Paris", "Lyon"]) });
    await chat.sendMessage({ text: "A city in France?" });
    const other = device();
    await other.appendMessage("shared", { id: "elsewhere-user", type: "user", content: "And in Spain?", timestamp: new Date() });
    await other.appendMessage("shared", { id: "elsewhere-reply", type: "assistant", content: "Madrid", timestamp: new Date() });

    await chat.regenerate();
    const loaded = await loadChat(device(), "shared");
    assert.deepEqual(texts(loaded), ["A city in France?", "And in Spain?", "Madrid", "Lyon"]);
  });

  it("a request sent again for a message stored with its reply keeps one reply, the new one", async () => {
    const client = device();
    const transport = route(client, ["One", "Two"]);
    const chat = new TestChat({ id: "again", transport });
    await chat.sendMessage({ text: "Count" });
    const [asked] = chat.all;
    assert.ok(asked !== undefined);

    // The same request reaching the route twice (a retried fetch): the browser shows the second.
    const stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId: "again",
      messageId: undefined,
      messages: [asked],
      abortSignal: undefined,
    });
    await stream.pipeTo(new WritableStream());
    assert.deepEqual(texts(await loadChat(client, "again")), ["Count", "Two"]);
  });
});
