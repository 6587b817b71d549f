/**
 * The model of the example: the AI SDK's own mock (`ai/test`), so the app runs with no API key
 * and no network, yet streams what a real model streams: reasoning, a tool call that the route
 * runs (`search_notes`), then the answer as text, step by step with a model's pace.
 *
 * The reply is deterministic (it depends only on the prompt), so two devices and the tests can
 * agree on its final text. Swap `mockModel()` for a provider's model in the route; nothing else
 * changes.
 */
import { simulateReadableStream } from "ai";
import { MockLanguageModelV3 } from "ai/test";

type StreamResult = Awaited<ReturnType<MockLanguageModelV3["doStream"]>>;
type StreamPart = StreamResult["stream"] extends ReadableStream<infer Part> ? Part : never;
type CallOptions = Parameters<MockLanguageModelV3["doStream"]>[0];

/** The tool the mock model calls, by the name the route declares it under. */
export const TOOL_NAME = "search_notes";

/** The reasoning, and the answer's words, for `prompt`. */
export function mockReplyWords(prompt: string): { reasoning: string[]; answer: string[] } {
  const topic = topicOf(prompt);
  const reasoning = `The user asks about "${topic}". My notes may cover it; I will search them first.`.split(" ");
  const answer = (
    `I found three notes. Here is the short version: "${topic}" is worth a closer look, ` +
    "the notes agree on the main points, and nothing in them contradicts what you wrote. " +
    "Ask me again if you want the details of any one of them."
  ).split(" ");
  return { reasoning, answer };
}

/** The answer's whole text for `prompt`, as the thread shows it once the reply ends. */
export function mockReplyText(prompt: string): string {
  return mockReplyWords(prompt).answer.join(" ");
}

/** What the search tool is asked for `prompt`. */
export function toolQuery(prompt: string): string {
  return topicOf(prompt);
}

/**
 * The mock model. Its first step reasons and calls {@link TOOL_NAME}; once the prompt holds the
 * tool's result, its second step answers. `tokenDelayMs` paces every chunk (a reply of about
 * 50 chunks: at 60 ms, 3 s to reload or stop in).
 */
export function mockModel({ tokenDelayMs }: { tokenDelayMs: number }): MockLanguageModelV3 {
  return new MockLanguageModelV3({
    provider: "chat-store-example",
    modelId: "mock-notes",
    doStream: async (options: CallOptions) => {
      const prompt = lastUserText(options);
      const answering = options.prompt.at(-1)?.role === "tool";
      const chunks = answering ? answerStep(prompt) : searchStep(prompt);
      return {
        stream: simulateReadableStream({ chunks, initialDelayInMs: tokenDelayMs, chunkDelayInMs: tokenDelayMs }),
      };
    },
  });
}

function searchStep(prompt: string): StreamPart[] {
  const { reasoning } = mockReplyWords(prompt);
  const words = reasoning.map((word, index) => (index === 0 ? word : ` ${word}`));
  return [
    { type: "stream-start", warnings: [] },
    { type: "reasoning-start", id: "reasoning-1" },
    ...words.map((delta): StreamPart => ({ type: "reasoning-delta", id: "reasoning-1", delta })),
    { type: "reasoning-end", id: "reasoning-1" },
    {
      type: "tool-call",
      toolCallId: `call-${crypto.randomUUID()}`,
      toolName: TOOL_NAME,
      input: JSON.stringify({ query: toolQuery(prompt) }),
    },
    finish("tool-calls", prompt, reasoning.length),
  ];
}

function answerStep(prompt: string): StreamPart[] {
  const { answer } = mockReplyWords(prompt);
  const words = answer.map((word, index) => (index === 0 ? word : ` ${word}`));
  return [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id: "text-1" },
    ...words.map((delta): StreamPart => ({ type: "text-delta", id: "text-1", delta })),
    { type: "text-end", id: "text-1" },
    finish("stop", prompt, answer.length),
  ];
}

function finish(reason: "stop" | "tool-calls", prompt: string, output: number): StreamPart {
  const input = prompt.split(/\s+/).filter(Boolean).length;
  return {
    type: "finish",
    finishReason: { unified: reason, raw: reason },
    usage: {
      inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: output, text: output, reasoning: 0 },
    },
  };
}

function lastUserText(options: CallOptions): string {
  const user = [...options.prompt].reverse().find((message) => message.role === "user");
  if (user === undefined || user.role !== "user") return "";
  return user.content.map((part) => (part.type === "text" ? part.text : "")).join(" ");
}

function topicOf(prompt: string): string {
  return prompt.trim().replace(/\s+/g, " ").slice(0, 80) || "that";
}
