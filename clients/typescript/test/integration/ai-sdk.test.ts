/**
 * The AI SDK adapter against the real API (../support/server.ts): UIMessages appended with
 * `fromUIMessage` come back from `loadChat` as they were written, and pass the SDK's own
 * `validateUIMessages`; so do messages written without parts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";

import { validateUIMessages } from "ai";
import type { UIMessage } from "ai";

import { fromUIMessage, loadChat } from "../../src/ai-sdk.js";
import { ChatStoreClient } from "../../src/index.js";
import type { MessageInput } from "../../src/index.js";
import { startApi } from "../support/server.js";
import type { ApiServer } from "../support/server.js";
import { dataSchemas, metadataSchema, tools } from "../support/ui-messages.js";
import type { ChatMessage } from "../support/ui-messages.js";

/** The conversation with every part kind and metadata, as the server's tests read it too. */
const FIXTURE = JSON.parse(
  readFileSync(new URL("../../../../../tests/fixtures/ui_messages.json", import.meta.url), "utf8"),
) as { messages: ChatMessage[] };

let api: ApiServer;
let client: ChatStoreClient;

before(async () => {
  api = await startApi();
  const { data } = await new ChatStoreClient({ baseUrl: api.baseUrl }).issueAnonymousToken();
  client = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => data.token, timeoutMs: 5_000 });
});

after(async () => {
  await api?.stop();
});

/** A deep copy through JSON, as messages travel. */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe("the AI SDK adapter against the local API", () => {
  it("round-trips a UIMessage[] with every part kind and metadata, which validateUIMessages takes", async () => {
    for (const message of FIXTURE.messages) {
      const answer = await client.appendMessage("ui-chat", fromUIMessage(message));
      assert.equal(answer.status, 201, message.id);
    }
    const loaded = await loadChat<ChatMessage>(client, "ui-chat");
    assert.deepEqual(loaded, FIXTURE.messages);
    assert.deepEqual(await validateUIMessages({ messages: wire(loaded) }), FIXTURE.messages);
    const typed = await validateUIMessages<ChatMessage>({ messages: wire(loaded), metadataSchema, dataSchemas, tools });
    assert.deepEqual(wire(typed), FIXTURE.messages);

    // The API's own fields follow: content is the text, the usage in metadata counts as tokens.
    const view = await client.getConversation("ui-chat");
    assert.ok(!view.notModified);
    const [, user, reply] = view.data.messages;
    assert.equal(user?.content, "Plan two days in Lisbon. Here is my route and a sketch of the hotel.");
    assert.deepEqual(user?.timestamp, new Date("2026-03-01T09:00:00.000Z"));
    assert.deepEqual(reply?.tokens, { input: 1834, output: 402, total: 2236 });
    assert.equal(view.data.totalTokens, 2236);
    assert.equal(view.data.messages.at(-1)?.streaming, true, "the message whose text streams");
  });

  it("reads messages written without parts as before, and as UIMessages validateUIMessages takes", async () => {
    const at = (second: number): string => `2025-03-01T09:00:0${second}.000Z`;
    const written: MessageInput[] = [
      { id: "u1", type: "user", content: "What's the weather?", timestamp: at(1) },
      {
        id: "a1",
        type: "assistant",
        content: "Sunny, 19 degrees.",
        timestamp: at(2),
        streaming: false,
        tokens: { input: 10, output: 5, total: 15 },
        toolExecutions: [
          { id: "t1", name: "getWeather", status: "completed", input: { city: "Lisbon" }, output: { temperature: 19 } },
          { id: "t2", name: "getAlerts", status: "failed", error: "timeout" },
        ],
      },
      { id: "a2", type: "assistant", content: "", timestamp: at(3), streaming: true },
    ];
    for (const message of written) await client.appendMessage("old-chat", message);
    await client.updateMessage("old-chat", "a2", {
      appendContent: "Let me check",
      sequence: 1,
      toolExecutions: [{ id: "t3", name: "search", status: "running", input: { q: "x" } }],
    });

    const view = await client.getConversation("old-chat");
    assert.ok(!view.notModified);
    const [user, reply, streaming] = view.data.messages;
    assert.deepEqual(
      [user?.content, reply?.content, streaming?.content],
      ["What's the weather?", "Sunny, 19 degrees.", "Let me check"],
    );
    assert.deepEqual(reply?.toolExecutions?.map((execution) => execution.status), ["completed", "failed"]);
    assert.equal(view.data.messages.some((message) => "parts" in message || "metadata" in message), false);

    const loaded = await loadChat(client, "old-chat");
    assert.deepEqual(await validateUIMessages({ messages: wire(loaded) }), wire(loaded));
    assert.deepEqual(loaded[1], {
      id: "a1",
      role: "assistant",
      metadata: { createdAt: at(2), usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 } },
      parts: [
        {
          type: "dynamic-tool",
          toolName: "getWeather",
          toolCallId: "t1",
          state: "output-available",
          input: { city: "Lisbon" },
          output: { temperature: 19 },
        },
        { type: "dynamic-tool", toolName: "getAlerts", toolCallId: "t2", state: "output-error", input: null, errorText: "timeout" },
        { type: "text", text: "Sunny, 19 degrees.", state: "done" },
      ],
    });
    assert.deepEqual(loaded[2]?.parts, [
      { type: "dynamic-tool", toolName: "search", toolCallId: "t3", state: "input-available", input: { q: "x" } },
      { type: "text", text: "Let me check", state: "streaming" },
    ]);
  });

  it("loads a chat longer than a page whole, oldest first", async () => {
    const start = Date.parse("2025-06-01T00:00:00.000Z");
    const messages: UIMessage[] = Array.from({ length: 150 }, (_, n) => ({
      id: `m${n}`,
      role: n % 2 === 0 ? "user" : "assistant",
      metadata: { createdAt: new Date(start + n * 1000).toISOString() },
      parts: [{ type: "text", text: `message ${n}` }],
    }));
    const now = new Date(start);
    await client.putConversation("long-chat", {
      id: "long-chat",
      title: "Long",
      createdAt: now,
      updatedAt: now,
      messages: messages.map((message) => fromUIMessage(message)),
    });
    const first = await client.getConversation("long-chat");
    assert.ok(!first.notModified && first.data.nextCursor !== null, "more than one page");

    const loaded = await loadChat(client, "long-chat");
    assert.deepEqual(loaded, messages);
    const paged = await loadChat(client, "long-chat", { pageSize: 7 });
    assert.deepEqual(paged, messages);
  });

  it("loads a conversation that is not there as a new chat", async () => {
    assert.deepEqual(await loadChat(client, "never-written"), []);
  });
});
