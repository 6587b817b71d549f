/**
 * PartsReplay: stored parts as the SDK's chunks. Whatever chunks built a reply, the chunks made
 * from its parts (whole, or copy after copy as it grew) make the same parts again, in every
 * tool state, and never run `onToolCall` for a call already past its input.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readUIMessageStream } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";

import { PartsReplay } from "../../src/ai-sdk/replay.js";
import type { UIPart } from "../../src/ai-sdk/part-changes.js";
import { streamOf } from "../support/ui-chunks.js";

/** A deep copy through JSON, as parts are stored. */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Every copy of the reply the SDK builds from `chunks`. */
async function copies(chunks: UIMessageChunk[]): Promise<UIMessage[]> {
  const all: UIMessage[] = [];
  for await (const message of readUIMessageStream({ stream: streamOf(chunks) })) all.push(wire(message));
  return all;
}

const PROVIDER = { openai: { itemId: "it_1" } };

/** Tool calls in every state they end in, with provider metadata and an approval or two. */
const CHUNKS: UIMessageChunk[] = [
  { type: "start", messageId: "a1" },
  { type: "start-step" },
  { type: "reasoning-start", id: "r1", providerMetadata: PROVIDER },
  { type: "reasoning-delta", id: "r1", delta: "Hmm." },
  { type: "reasoning-end", id: "r1" },
  { type: "text-start", id: "t1", providerMetadata: PROVIDER },
  { type: "text-delta", id: "t1", delta: "Sure." },
  { type: "text-end", id: "t1", providerMetadata: PROVIDER },
  // Approved, then run: approval-responded, then output-available.
  { type: "tool-input-available", toolCallId: "c1", toolName: "deleteFile", input: { path: "/a" }, title: "Delete" },
  { type: "tool-approval-request", approvalId: "ap1", toolCallId: "c1" },
  { type: "tool-approval-response", approvalId: "ap1", approved: true, reason: "fine" },
  { type: "tool-output-available", toolCallId: "c1", output: { ok: true } },
  // Denied.
  { type: "tool-input-available", toolCallId: "c2", toolName: "deleteFile", input: { path: "/b" } },
  { type: "tool-approval-request", approvalId: "ap2", toolCallId: "c2" },
  { type: "tool-approval-response", approvalId: "ap2", approved: false },
  { type: "tool-output-denied", toolCallId: "c2" },
  // Run by the provider, with call and result metadata, a preliminary output first.
  {
    type: "tool-input-start",
    toolCallId: "c3",
    toolName: "web_search",
    providerExecuted: true,
    providerMetadata: PROVIDER,
  },
  { type: "tool-input-delta", toolCallId: "c3", inputTextDelta: '{"q":"lisbon"}' },
  { type: "tool-input-available", toolCallId: "c3", toolName: "web_search", input: { q: "lisbon" }, providerExecuted: true, providerMetadata: PROVIDER },
  { type: "tool-output-available", toolCallId: "c3", output: { hits: 1 }, preliminary: true, providerExecuted: true },
  { type: "tool-output-available", toolCallId: "c3", output: { hits: 2 }, providerExecuted: true, providerMetadata: PROVIDER },
  // Input the model got wrong.
  { type: "tool-input-error", toolCallId: "c4", toolName: "getWeather", input: "{city", errorText: "Invalid input" },
  // A dynamic tool still waiting for its output.
  { type: "tool-input-available", toolCallId: "c5", toolName: "mcp_lookup", input: { id: 7 }, dynamic: true },
  { type: "reasoning-file", url: "https://example.com/r.png", mediaType: "image/png" },
  { type: "custom", kind: "openai.compaction", providerMetadata: PROVIDER },
  { type: "data-status", data: { step: 2 } },
  { type: "finish-step" },
];

/** Replays `parts` (each copy in turn) into a new reply; returns it and the tool calls it ran. */
async function replayed(stored: UIPart[][]): Promise<{ message: UIMessage | undefined; toolCalls: string[] }> {
  const replay = new PartsReplay();
  const chunks: UIMessageChunk[] = [{ type: "start", messageId: "a1" }];
  for (const parts of stored) chunks.push(...replay.chunks(parts));
  const toolCalls = chunks.filter((c) => c.type === "tool-input-available").map((c) => (c as { toolCallId: string }).toolCallId);
  const all = await copies(chunks);
  return { message: all.at(-1), toolCalls };
}

describe("PartsReplay", () => {
  it("makes a whole reply's parts again, every tool state and provider metadata included", async () => {
    const original = (await copies(CHUNKS)).at(-1);
    assert.ok(original);
    const { message, toolCalls } = await replayed([original.parts]);
    assert.deepEqual(message, original);
    assert.deepEqual(toolCalls, ["c5"], "only the call still waiting for its output reaches onToolCall");
  });

  it("follows a reply copy after copy as it grows, to the same parts", async () => {
    const all = await copies(CHUNKS);
    const { message } = await replayed(all.map((copy) => copy.parts));
    assert.deepEqual(message, all.at(-1));
  });
});
