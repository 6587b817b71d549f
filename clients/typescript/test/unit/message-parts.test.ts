import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { UIMessage } from "ai";

import { reviveDates } from "../../src/index.js";
import type { Message, MessageInput, MessagePatch, components } from "../../src/index.js";
import { applyWrite } from "../../src/local.js";
import { UI_MESSAGES } from "../support/ui-messages.js";

/**
 * The generated message types take a UIMessage's parts as the SDK holds them: mostly a check of
 * the types (this file does not compile while one of ai 7's part types is not assignable to the
 * generated ones), run on the conversation every part kind and tool state is in.
 */

type Parts = NonNullable<MessageInput["parts"]>;

/** A UIMessage as a message to append: its parts as they are, its text left to the server. */
function toMessage(message: UIMessage): MessageInput {
  return { id: message.id, type: message.role, timestamp: "2026-03-01T09:00:00.000Z", parts: message.parts };
}

/** A UIMessage's parts, whatever its metadata, data parts and tools, as a patch's parts. */
function toPatch<M, D extends Record<string, unknown>>(message: UIMessage<M, D>): MessagePatch {
  const parts: UIMessage<M, D>["parts"] = message.parts;
  return { parts };
}

describe("a UIMessage's parts", () => {
  it("are what a message to append and a patch hold", () => {
    for (const message of UI_MESSAGES) {
      assert.equal(toMessage(message).parts, message.parts);
      assert.equal(toPatch(message).parts, message.parts);
    }
  });

  it("are checked by kind, not taken as anything", () => {
    // @ts-expect-error a text part without its text is no part
    const textless: Parts = [{ type: "text" }];
    // @ts-expect-error a file part holds a URL
    const urlless: Parts = [{ type: "file", mediaType: "image/png" }];
    // @ts-expect-error a tool call in output-available has its output
    const outputless: Parts = [{ type: "tool-x", toolCallId: "c", state: "output-available", input: {} }];
    assert.equal(textless.length + urlless.length + outputless.length, 3);
  });
});

describe("a message's parts and metadata as the client reads them", () => {
  it("keep their date-like strings as strings: they are the app's JSON, read back as written", () => {
    const at = "2026-03-01T09:00:00.000Z";
    const body: components["schemas"]["ConversationMessage-Output"] = {
      id: "m1",
      type: "assistant",
      content: "",
      timestamp: at,
      metadata: { createdAt: at, nested: { updatedAt: at } },
      parts: [{ type: "data-event", data: { at, timestamp: at } }],
    };
    const read: Message = reviveDates(structuredClone(body));
    assert.ok(read.timestamp instanceof Date);
    assert.deepEqual(read.metadata, body.metadata);
    assert.deepEqual(read.parts, body.parts);
  });
});

describe("the local copy of a message with parts", () => {
  const at = new Date("2026-03-01T09:00:05.000Z");
  const parts: Parts = [{ type: "text", text: "Plan two days " }, { type: "step-start" }, { type: "text", text: "in Lisbon." }];

  it("has their text as its content, and titles the conversation by it, as the server will", () => {
    const message: MessageInput = { id: "m1", type: "user", timestamp: at, parts };
    const copy = applyWrite(undefined, { op: "append", conversationId: "c1", message }, at);
    assert.equal(copy?.messages[0]?.content, "Plan two days in Lisbon.");
    assert.equal(copy?.title, "Plan two days in Lisbon.");
    assert.deepEqual(copy?.messages[0]?.parts, parts);
  });

  it("takes new parts' text as its content", () => {
    const message: MessageInput = { id: "m1", type: "assistant", timestamp: at, content: "Draft" };
    const copy = applyWrite(undefined, { op: "append", conversationId: "c1", message }, at);
    const updated = applyWrite(copy, { op: "updateMessage", conversationId: "c1", messageId: "m1", updates: { parts } }, at);
    assert.equal(updated?.messages[0]?.content, "Plan two days in Lisbon.");
    assert.deepEqual(updated?.messages[0]?.parts, parts);
  });
});
