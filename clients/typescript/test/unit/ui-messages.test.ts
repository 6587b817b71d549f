import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";

import { TypeValidationError, safeValidateUIMessages, validateUIMessages } from "ai";

import { INTERRUPTED, INVALID_UI_MESSAGES, UI_MESSAGES, dataSchemas, metadataSchema, tools } from "../support/ui-messages.js";
import type { ChatMessage } from "../support/ui-messages.js";

/**
 * The UIMessage fixtures the server's part models are tested on (tests/shared/test_ui_parts.py),
 * checked here by the SDK itself: the conversation passes `validateUIMessages` unchanged, each
 * invalid case is refused. The JSON files are written from test/support/ui-messages.ts, where
 * the conversation type-checks as `UIMessage[]`; `UPDATE_FIXTURES=1 npm test` rewrites them.
 */
const FIXTURES = new URL("../../../../../tests/fixtures/", import.meta.url);
const VALID = new URL("ui_messages.json", FIXTURES);
const INVALID = new URL("ui_messages_invalid.json", FIXTURES);

const VALID_FILE = {
  description:
    "A conversation as the Vercel AI SDK (ai 7.0.185) keeps it: UIMessage[] with every part kind and every tool state, static and dynamic, and message metadata. Written from clients/typescript/test/support/ui-messages.ts, where it type-checks as UIMessage[]; test/unit/ui-messages.test.ts checks it with the SDK's validateUIMessages, tests/shared/test_ui_parts.py with shared/ui_parts.py. `interrupted` is the last message as shared/ui_parts.py mark_interrupted settles it once its stream is known to be over.",
  messages: UI_MESSAGES,
  interrupted: INTERRUPTED,
};
const INVALID_FILE = {
  description:
    "Messages the Vercel AI SDK's validateUIMessages (ai 7.0.185) refuses, each with its reason. Written from clients/typescript/test/support/ui-messages.ts; test/unit/ui-messages.test.ts checks the SDK refuses each, tests/shared/test_ui_parts.py that shared/ui_parts.py does.",
  cases: INVALID_UI_MESSAGES,
};

const asJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

if (process.env.UPDATE_FIXTURES === "1") {
  writeFileSync(VALID, asJson(VALID_FILE));
  writeFileSync(INVALID, asJson(INVALID_FILE));
}

/** The path of the first issue of the SDK's type validation error, which carries zod's issues as JSON. */
function issuePath(error: unknown): (string | number)[] {
  assert.ok(TypeValidationError.isInstance(error), String(error));
  assert.ok(error.cause instanceof Error);
  const issues = JSON.parse(error.cause.message) as { path: (string | number)[] }[];
  return issues[0]?.path ?? [];
}

/** A deep copy through JSON, as the messages travel: what the SDK validates is what a server sent. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe("UIMessage fixtures", () => {
  it("are the files written from the typed conversation, byte for byte", () => {
    assert.equal(readFileSync(VALID, "utf8"), asJson(VALID_FILE), "run UPDATE_FIXTURES=1 npm test");
    assert.equal(readFileSync(INVALID, "utf8"), asJson(INVALID_FILE), "run UPDATE_FIXTURES=1 npm test");
  });

  it("use every part kind and every tool state, static and dynamic", () => {
    const parts = UI_MESSAGES.flatMap((message) => message.parts);
    const kinds = new Set(parts.map((part) => (part.type.startsWith("tool-") ? "tool-*" : part.type)));
    assert.deepEqual(
      [...kinds].sort(),
      [
        "custom",
        "data-plan",
        "data-weather",
        "dynamic-tool",
        "file",
        "reasoning",
        "reasoning-file",
        "source-document",
        "source-url",
        "steering-message",
        "step-start",
        "text",
        "tool-*",
      ],
    );
    const states = (dynamic: boolean) =>
      new Set(
        parts.flatMap((part) =>
          (part.type === "dynamic-tool") === dynamic && "state" in part && "toolCallId" in part ? [part.state] : [],
        ),
      );
    const all = ["approval-requested", "approval-responded", "input-available", "input-streaming", "output-available", "output-denied", "output-error"];
    assert.deepEqual([...states(false)].sort(), all);
    assert.deepEqual([...states(true)].sort(), all);
    const textStates = new Set(parts.flatMap((part) => (part.type === "text" || part.type === "reasoning" ? [part.state] : [])));
    assert.deepEqual(textStates, new Set(["streaming", "done", undefined]));
    assert.deepEqual(new Set(UI_MESSAGES.map((message) => message.role)), new Set(["system", "user", "assistant"]));
  });

  it("pass validateUIMessages unchanged, structure alone and with the app's schemas and tools", async () => {
    // Unchanged: the SDK drops keys it does not know and turns a static tool part it cannot
    // check into a dynamic one, so equality shows every key here is one ai 7 defines.
    const sent = wire(UI_MESSAGES);
    assert.deepEqual(await validateUIMessages({ messages: wire(UI_MESSAGES) }), sent);
    const typed: ChatMessage[] = await validateUIMessages<ChatMessage>({
      messages: wire(UI_MESSAGES),
      metadataSchema,
      dataSchemas,
      tools,
    });
    // (Through JSON: checking metadata gives a message without it `metadata: undefined`.)
    assert.deepEqual(wire(typed), sent);
  });

  it("settle the interrupted message into one the SDK takes, nothing left streaming or waiting", async () => {
    const [settled] = await validateUIMessages<ChatMessage>({ messages: wire([INTERRUPTED]), metadataSchema, dataSchemas, tools });
    assert.deepEqual(wire(settled), wire(INTERRUPTED));
    const waiting = INTERRUPTED.parts.filter(
      (part) => ("state" in part && (part.state === "streaming" || part.state === "input-streaming" || part.state === "input-available")),
    );
    assert.deepEqual(waiting, []);
    assert.equal(INTERRUPTED.parts.length, UI_MESSAGES.at(-1)?.parts.length);
  });

  it("hold a data: URL and an https URL in file parts", () => {
    const urls = UI_MESSAGES.flatMap((message) => message.parts.flatMap((part) => (part.type === "file" ? [part.url] : [])));
    assert.ok(urls.some((url) => url.startsWith("data:image/png;base64,")));
    assert.ok(urls.some((url) => url.startsWith("https://")));
  });

  for (const { reason, field, messages } of INVALID_UI_MESSAGES) {
    it(`refuse ${reason}`, async () => {
      const result = await safeValidateUIMessages({ messages: wire(messages) });
      assert.equal(result.success, false, `validateUIMessages took: ${JSON.stringify(messages)}`);
      assert.equal([...issuePath(result.error)].reverse().find((key) => typeof key === "string"), field);
    });
  }
});
