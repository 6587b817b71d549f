import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { validateUIMessages } from "ai";
import type { UIMessage } from "ai";

import {
  INTERRUPTED_TOOL_ERROR,
  TOOL_FAILED_ERROR,
  fromUIMessage,
  loadChat,
  toUIMessage,
} from "../../src/ai-sdk.js";
import type { StoredMessage } from "../../src/ai-sdk.js";
import { ChatStoreClient, ChatStoreError, messageText } from "../../src/index.js";
import type { ChatMessage as StoreChatMessage, MessageInput } from "../../src/index.js";
import { fakeFetch, problem } from "../support/fake-fetch.js";
import type { Scripted } from "../support/fake-fetch.js";
import { UI_MESSAGES } from "../support/ui-messages.js";
import type { ChatMessage } from "../support/ui-messages.js";

/** A deep copy through JSON, as messages travel. */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** What the API answers for an appended message: its content is its text parts joined. */
function stored(body: MessageInput): StoredMessage {
  const { content: _, ...rest } = wire(body);
  return { ...rest, content: messageText(body) } as StoredMessage;
}

const AT = "2025-03-01T09:00:00.000Z";

/** A message of the model before parts. */
function legacy(fields: Partial<StoredMessage> & Pick<StoredMessage, "type">): StoredMessage {
  return { id: "m1", content: "Hello", timestamp: AT, ...fields };
}

describe("toUIMessage", () => {
  it("reads a message with parts as the UIMessage it was written as, every part kind and metadata", async () => {
    // As JSON: what was sent is what JSON holds (an `input: undefined` is no key at all).
    const read = UI_MESSAGES.map((message) => toUIMessage(stored(fromUIMessage(message))));
    assert.deepEqual(read, wire(UI_MESSAGES));
    assert.deepEqual(await validateUIMessages({ messages: wire(read) }), wire(UI_MESSAGES));
  });

  it("takes the client's message (a Date timestamp) and the JSON alike", () => {
    const json = stored(fromUIMessage(UI_MESSAGES[1]!));
    const dated = { ...json, timestamp: new Date(json.timestamp) } satisfies StoreChatMessage;
    assert.deepEqual(toUIMessage(dated), toUIMessage(json));
    assert.deepEqual(toUIMessage(legacy({ type: "user", timestamp: new Date(AT) })).metadata, { createdAt: AT });
  });

  it("gives the role of the message's type", () => {
    for (const type of ["system", "user", "assistant"] as const) {
      assert.equal(toUIMessage(legacy({ type })).role, type);
    }
  });

  it("reads a user's or system's message without parts as one text part, its timestamp as metadata", () => {
    for (const type of ["user", "system"] as const) {
      assert.deepEqual(toUIMessage(legacy({ type })), {
        id: "m1",
        role: type,
        metadata: { createdAt: AT },
        parts: [{ type: "text", text: "Hello" }],
      });
    }
    // The SDK wants at least one part in a user's message, so an empty one keeps its text part.
    assert.deepEqual(toUIMessage(legacy({ type: "user", content: "" })).parts, [{ type: "text", text: "" }]);
  });

  it("reads an assistant's reply without parts with its text's state and its tokens as usage", () => {
    const tokens = { input: 12, output: 30, total: 42 };
    assert.deepEqual(toUIMessage(legacy({ type: "assistant", tokens, streaming: false })), {
      id: "m1",
      role: "assistant",
      metadata: { createdAt: AT, usage: { inputTokens: 12, outputTokens: 30, totalTokens: 42 } },
      parts: [{ type: "text", text: "Hello", state: "done" }],
    });
    assert.deepEqual(toUIMessage(legacy({ type: "assistant", streaming: true })).parts, [
      { type: "text", text: "Hello", state: "streaming" },
    ]);
    // Stale: the API reads it as no longer streaming, interrupted.
    assert.deepEqual(toUIMessage(legacy({ type: "assistant", streaming: false, interrupted: true })).parts, [
      { type: "text", text: "Hello", state: "done" },
    ]);
    // An empty reply (its first delta not there yet) has no parts, as the SDK's has none.
    assert.deepEqual(toUIMessage(legacy({ type: "assistant", content: "", streaming: true })).parts, []);
  });

  it("reads tool executions as dynamic-tool parts before the text, each in a state the SDK takes", () => {
    const toolExecutions: NonNullable<StoredMessage["toolExecutions"]> = [
      { id: "t1", name: "search", status: "completed", input: { q: "x" }, output: { hits: 2 } },
      { id: "t2", name: "fetch", status: "failed", input: { url: "u" }, error: "timeout" },
      { id: "t3", name: "fetch", status: "failed" },
      { id: "t4", name: "think", status: "running", input: { n: 1 } },
      { id: "t5", name: "noop", status: "completed" },
    ];
    const call = (toolCallId: string, toolName: string) => ({ type: "dynamic-tool", toolCallId, toolName }) as const;
    assert.deepEqual(toUIMessage(legacy({ type: "assistant", content: "Done", toolExecutions, streaming: true })).parts, [
      { ...call("t1", "search"), state: "output-available", input: { q: "x" }, output: { hits: 2 } },
      { ...call("t2", "fetch"), state: "output-error", input: { url: "u" }, errorText: "timeout" },
      { ...call("t3", "fetch"), state: "output-error", input: null, errorText: TOOL_FAILED_ERROR },
      { ...call("t4", "think"), state: "input-available", input: { n: 1 } },
      { ...call("t5", "noop"), state: "output-available", input: null, output: null },
      { type: "text", text: "Done", state: "streaming" },
    ]);
    // A reply that stopped: the call still running never finishes, and fails as the server
    // settles a part in that state (shared/ui_parts.py mark_interrupted).
    const [stopped] = toUIMessage(legacy({ type: "assistant", content: "", toolExecutions: [toolExecutions[3]!], interrupted: true })).parts;
    assert.deepEqual(stopped, { ...call("t4", "think"), state: "output-error", input: { n: 1 }, errorText: INTERRUPTED_TOOL_ERROR });
  });

  it("keeps the metadata a message without parts was written with", () => {
    const metadata = { createdAt: "2024-01-01T00:00:00Z", pinned: true };
    assert.deepEqual(toUIMessage(legacy({ type: "user", metadata, tokens: { input: 1, output: 1, total: 2 } })).metadata, metadata);
  });

  it("gives messages without parts that pass validateUIMessages", async () => {
    const messages = [
      legacy({ id: "s", type: "system" }),
      legacy({ id: "u", type: "user", content: "" }),
      legacy({
        id: "a",
        type: "assistant",
        content: "",
        interrupted: true,
        toolExecutions: [
          { id: "t1", name: "a", status: "running" },
          { id: "t2", name: "b", status: "completed" },
          { id: "t3", name: "c", status: "failed" },
        ],
      }),
      legacy({ id: "a2", type: "assistant", content: "", streaming: true }),
      legacy({ id: "a3", type: "assistant", tokens: { input: 1, output: 2, total: 3 } }),
    ].map((message) => toUIMessage(message));
    assert.deepEqual(await validateUIMessages({ messages: wire(messages) }), wire(messages));
  });

  it("settles a running call with the words the server settles a part with", () => {
    const python = readFileSync(new URL("../../../../../shared/ui_parts.py", import.meta.url), "utf8");
    const declared = /^INTERRUPTED_TOOL_ERROR = "(.*)"$/m.exec(python);
    assert.equal(declared?.[1], INTERRUPTED_TOOL_ERROR);
  });
});

describe("fromUIMessage", () => {
  it("sends id, type from the role, parts and metadata as they are, and no content", () => {
    for (const message of UI_MESSAGES) {
      const body = fromUIMessage(message);
      assert.equal(body.id, message.id);
      assert.equal(body.type, message.role);
      assert.equal(body.parts, message.parts);
      assert.equal(body.metadata, message.metadata);
      assert.equal("content" in body, false);
    }
  });

  it("dates the message by its metadata.createdAt, else by the option, else now", () => {
    const [, user] = UI_MESSAGES;
    assert.deepEqual(fromUIMessage(user!).timestamp, new Date("2026-03-01T09:00:00.000Z"));
    assert.equal(fromUIMessage(user!, { timestamp: AT }).timestamp, AT);
    const ms = Date.parse(AT);
    const bare: UIMessage = { id: "x", role: "user", parts: [{ type: "text", text: "hi" }] };
    assert.deepEqual(fromUIMessage({ ...bare, metadata: { createdAt: ms } }).timestamp, new Date(ms));
    assert.deepEqual(fromUIMessage({ ...bare, metadata: { createdAt: new Date(ms) } }).timestamp, new Date(ms));
    for (const metadata of [undefined, { createdAt: "yesterday" }, { createdAt: null }, "not an object"]) {
      const before = Date.now();
      const timestamp = fromUIMessage({ ...bare, metadata }).timestamp;
      assert.ok(timestamp instanceof Date && timestamp.getTime() >= before, String(metadata));
    }
  });

  it("counts tokens from metadata.usage, as the SDK's LanguageModelUsage names them", () => {
    const withUsage = (usage: unknown): UIMessage => ({ id: "a", role: "assistant", metadata: { usage }, parts: [] });
    assert.deepEqual(fromUIMessage(UI_MESSAGES[2]!).tokens, { input: 1834, output: 402, total: 2236 });
    assert.deepEqual(fromUIMessage(withUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 5 })).tokens, {
      input: 1,
      output: 2,
      total: 5,
    });
    for (const usage of [undefined, { inputTokens: 1 }, { inputTokens: 1.5, outputTokens: 2 }, { inputTokens: -1, outputTokens: 2 }]) {
      assert.equal("tokens" in fromUIMessage(withUsage(usage)), false, JSON.stringify(usage));
    }
    const tokens = { input: 7, output: 8, total: 15 };
    assert.deepEqual(fromUIMessage(withUsage({ inputTokens: 1, outputTokens: 2 }), { tokens }).tokens, tokens);
  });

  it("marks the message streaming while a text part streams, and only then", () => {
    const streaming = UI_MESSAGES.filter((message) => fromUIMessage(message).streaming === true).map((m) => m.id);
    assert.deepEqual(streaming, ["msg-a4"]);
  });

  it("writes back what toUIMessage read from a message without parts: its timestamp and tokens", () => {
    const tokens = { input: 12, output: 30, total: 42 };
    const old = legacy({ type: "assistant", tokens });
    const body = fromUIMessage(toUIMessage(old));
    assert.deepEqual(body.timestamp, new Date(AT));
    assert.deepEqual(body.tokens, tokens);
    assert.deepEqual(body.parts, [{ type: "text", text: "Hello", state: "done" }]);
    assert.equal(messageText(body), old.content);
  });
});

const BASE = "https://api.test";

function clientWith(...script: Scripted[]) {
  const fake = fakeFetch(...script);
  const client = new ChatStoreClient({ baseUrl: BASE, fetch: fake.fetch, getToken: () => "tok" });
  return { client, requests: fake.requests };
}

function page(ids: string[], nextCursor: string | null): Scripted {
  const messages = ids.map((id) => ({ id, type: "user", content: id, timestamp: AT }));
  return {
    status: 200,
    body: { id: "c1", title: "t", createdAt: AT, updatedAt: AT, totalTokens: 0, messageCount: 5, nextCursor, messages },
  };
}

describe("loadChat", () => {
  it("reads every page, newest first by the cursor, and gives the messages oldest first", async () => {
    const { client, requests } = clientWith(page(["m4", "m5"], "cur-2"), page(["m2", "m3"], "cur-1"), page(["m1"], null));
    const messages = await loadChat(client, "c1", { pageSize: 2 });
    assert.deepEqual(
      messages.map((message) => message.id),
      ["m1", "m2", "m3", "m4", "m5"],
    );
    assert.deepEqual(
      requests.map((request) => request.url),
      [
        `${BASE}/api/conversations/c1?limit=2`,
        `${BASE}/api/conversations/c1?limit=2&before=cur-2`,
        `${BASE}/api/conversations/c1?limit=2&before=cur-1`,
      ],
    );
    assert.deepEqual(messages[0], { id: "m1", role: "user", metadata: { createdAt: AT }, parts: [{ type: "text", text: "m1" }] });
  });

  it("asks with the API's page size when given none", async () => {
    const { client, requests } = clientWith(page(["m1"], null));
    await loadChat(client, "c 1");
    assert.equal(requests[0]?.url, `${BASE}/api/conversations/c%201`);
  });

  it("gives a conversation that is not there as a new chat: no messages", async () => {
    const { client } = clientWith({ status: 404, body: problem(404, "not_found") });
    assert.deepEqual(await loadChat(client, "missing"), []);
    // Gone between two pages: gone.
    const between = clientWith(page(["m2"], "cur-1"), { status: 404, body: problem(404, "not_found") });
    assert.deepEqual(await loadChat(between.client, "c1"), []);
  });

  it("fails with the client's typed error otherwise", async () => {
    const { client } = clientWith({ status: 401, body: problem(401, "unauthorized") });
    await assert.rejects(loadChat(client, "c1"), (error) => error instanceof ChatStoreError && error.code === "unauthorized");
  });
});

describe("the adapter's types", () => {
  it("accept and give the SDK's UIMessage, the app's own included, under strict", async () => {
    const { client } = clientWith(page(["m1"], null), page(["m1"], null));
    const message: StoredMessage = legacy({ type: "user" });
    const plain: UIMessage = toUIMessage(message);
    const typed: ChatMessage = toUIMessage<ChatMessage>(message);
    const chat: UIMessage[] = await loadChat(client, "c1");
    const typedChat: ChatMessage[] = await loadChat<ChatMessage>(client, "c1");
    const body: MessageInput = fromUIMessage(UI_MESSAGES[2]!);
    const again: MessageInput = fromUIMessage(typed);
    // Checked by tsc, never run.
    const refused = (): void => {
      // @ts-expect-error the type parameter is a UIMessage
      toUIMessage<{ id: string }>(message);
      // @ts-expect-error the API's message is not a UIMessage: read it with toUIMessage
      fromUIMessage(message);
      // @ts-expect-error a UIMessage's role is one of three
      fromUIMessage({ id: "x", role: "tool", parts: [] });
    };
    assert.equal(typeof refused, "function");
    assert.equal([plain, typed, ...chat, ...typedChat, body, again].length, 6);
  });
});

describe("the package", () => {
  /** Every module `entry` imports, transitively: relative ones by path, the others by name. */
  function importsOf(entry: URL, seen = new Set<string>()): Set<string> {
    if (seen.has(entry.href)) return seen;
    seen.add(entry.href);
    const source = readFileSync(entry, "utf8");
    for (const [, specifier] of source.matchAll(/(?:^|\s)(?:import|export)\s[^;]*?from\s*"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g)) {
      if (specifier === undefined) continue;
      if (specifier.startsWith(".")) importsOf(new URL(specifier, entry), seen);
      else seen.add(specifier);
    }
    return seen;
  }

  it("main entry does not import ai, nor this adapter; the adapter imports ai alone, the message mapping not even that", () => {
    const main = importsOf(new URL("../../src/index.js", import.meta.url));
    assert.ok(main.size > 5, "the walk found the entry's modules");
    assert.deepEqual([...main].filter((module) => !module.startsWith("file:")), []);
    assert.ok(![...main].some((module) => module.includes("/ai-sdk")));
    // Streaming and resuming run the SDK's own code (readUIMessageStream, DefaultChatTransport).
    const adapter = importsOf(new URL("../../src/ai-sdk.js", import.meta.url));
    assert.deepEqual([...adapter].filter((module) => !module.startsWith("file:")), ["ai"]);
    const mapping = importsOf(new URL("../../src/ai-sdk/messages.js", import.meta.url));
    assert.deepEqual([...mapping].filter((module) => !module.startsWith("file:")), []);
  });

  const dist = new URL("../../../dist/ai-sdk.js", import.meta.url);
  it("exports the adapter as @chat-store/client/ai-sdk, built with its types", { skip: !existsSync(dist) && "dist/ is not built" }, () => {
    // Resolved, not imported: coverage fails on dist's source maps (nodejs/node#54240).
    assert.equal(import.meta.resolve("@chat-store/client/ai-sdk"), dist.href);
    assert.ok(existsSync(new URL("ai-sdk.d.ts", dist)));
    assert.match(readFileSync(dist, "utf8"), /export \{[^}]*\bloadChat\b/);
  });
});
