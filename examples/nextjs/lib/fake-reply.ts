/**
 * A stand-in for the model: an assistant reply produced token by token, with one tool step in
 * the middle, in the shape `streamReply` consumes (`string` chunks are text; `tool` and
 * `usage` events describe the rest). Replace `fakeReply` with your model's stream; nothing
 * else in the app changes.
 *
 * The reply is deterministic (it depends only on the prompt), so two devices, the server and
 * the tests can all agree on its final text.
 */
import type { ReplyEvent } from "./chat";

/** Options of {@link fakeReply}. */
export interface FakeReplyOptions {
  /** Pause before each token, as a model's pace (ms). */
  tokenDelayMs: number;
  /** Stops the reply early, as the Stop button of a real chat would. */
  signal?: AbortSignal;
}

const toolName = "search_notes";

/** The words of the reply to `prompt`, before and after the tool step. */
export function fakeReplyWords(prompt: string): { before: string[]; after: string[] } {
  const topic = prompt.trim().replace(/\s+/g, " ").slice(0, 80) || "that";
  const before = `Let me check my notes about "${topic}" first.`.split(" ");
  const after = (
    `I found three notes. Here is the short version: "${topic}" is worth a closer look, ` +
    "the notes agree on the main points, and nothing in them contradicts what you wrote. " +
    "Ask me again if you want the details of any one of them."
  ).split(" ");
  return { before, after };
}

/** The whole text {@link fakeReply} produces for `prompt`. */
export function fakeReplyText(prompt: string): string {
  const { before, after } = fakeReplyWords(prompt);
  return `${before.join(" ")}\n\n${after.join(" ")}`;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The reply to `prompt`: a sentence, a `search_notes` tool call (running, then completed with
 * its output), the answer word by word, then the token usage.
 */
export async function* fakeReply(prompt: string, options: FakeReplyOptions): AsyncGenerator<string | ReplyEvent> {
  const { tokenDelayMs, signal } = options;
  const { before, after } = fakeReplyWords(prompt);
  const toolId = `tool-${Date.now().toString(36)}`;
  for (const [index, word] of before.entries()) {
    await pause(tokenDelayMs, signal);
    yield index === 0 ? word : ` ${word}`;
  }
  yield { type: "tool", id: toolId, name: toolName, status: "running", input: { query: prompt.slice(0, 80) } };
  await pause(tokenDelayMs * 4, signal);
  yield {
    type: "tool",
    id: toolId,
    name: toolName,
    status: "completed",
    input: { query: prompt.slice(0, 80) },
    output: { matches: 3 },
  };
  for (const [index, word] of after.entries()) {
    await pause(tokenDelayMs, signal);
    yield index === 0 ? `\n\n${word}` : ` ${word}`;
  }
  const output = before.length + after.length;
  const input = prompt.split(/\s+/).filter(Boolean).length;
  yield { type: "usage", tokens: { input, output, total: input + output } };
}
