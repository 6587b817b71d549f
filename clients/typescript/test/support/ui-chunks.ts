/**
 * A reply of every part kind as the SDK's chunks, cut in two where tests resume it, and the
 * UIMessage the SDK builds from them: what persistReply stores and ChatStoreTransport replays.
 */
import { readUIMessageStream } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";

/** A reply with every kind of part, cut where the test resumes it. */
export const BEFORE_RESUME: UIMessageChunk[] = [
  { type: "start", messageId: "a1", messageMetadata: { createdAt: "2026-03-01T09:00:00.000Z", model: "mock" } },
  { type: "start-step" },
  { type: "reasoning-start", id: "r1" },
  { type: "reasoning-delta", id: "r1", delta: "The user wants" },
  { type: "reasoning-delta", id: "r1", delta: " the weather." },
  { type: "reasoning-end", id: "r1" },
  { type: "text-start", id: "t1" },
  { type: "text-delta", id: "t1", delta: "Looking it " },
  { type: "tool-input-start", toolCallId: "c1", toolName: "weather" },
  { type: "tool-input-delta", toolCallId: "c1", inputTextDelta: '{"city":' },
];
export const AFTER_RESUME: UIMessageChunk[] = [
  { type: "text-delta", id: "t1", delta: "up." },
  { type: "text-end", id: "t1" },
  { type: "tool-input-delta", toolCallId: "c1", inputTextDelta: '"Lisbon"}' },
  { type: "tool-input-available", toolCallId: "c1", toolName: "weather", input: { city: "Lisbon" } },
  { type: "tool-output-available", toolCallId: "c1", output: { temperature: 19 } },
  { type: "tool-input-available", toolCallId: "c2", toolName: "search", input: { q: "rain" }, dynamic: true },
  { type: "tool-output-error", toolCallId: "c2", errorText: "timeout", dynamic: true },
  { type: "tool-input-available", toolCallId: "c3", toolName: "deleteFile", input: { path: "/tmp/a" } },
  { type: "tool-approval-request", approvalId: "ap1", toolCallId: "c3" },
  { type: "source-url", sourceId: "s1", url: "https://example.com", title: "Example" },
  { type: "source-document", sourceId: "s2", mediaType: "application/pdf", title: "Doc", filename: "doc.pdf" },
  { type: "file", url: "https://example.com/a.png", mediaType: "image/png" },
  { type: "data-weather", id: "d1", data: { city: "Lisbon" } },
  { type: "data-weather", id: "d1", data: { city: "Lisbon", temperature: 19 } },
  { type: "finish-step" },
  { type: "start-step" },
  { type: "text-start", id: "t2" },
  { type: "text-delta", id: "t2", delta: "Sunny, 19 degrees." },
  { type: "text-end", id: "t2" },
  { type: "finish", finishReason: "stop", messageMetadata: { usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } } },
];

/** The reply as the SDK builds it from the chunks: what the browser that asked for it shows. */
export async function builtFrom(chunks: UIMessageChunk[]): Promise<UIMessage | undefined> {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream: streamOf(chunks) })) last = message;
  return last;
}

export function streamOf(chunks: UIMessageChunk[]): ReadableStream<UIMessageChunk> {
  return new ReadableStream({
    start(controller) {
      chunks.forEach((chunk) => controller.enqueue(chunk));
      controller.close();
    },
  });
}

