/**
 * The chat's route handler: `useChat` posts the conversation here through `ChatStoreTransport`,
 * which adds the page's bearer token; this route acts as that same user against the API.
 *
 * The model is the AI SDK's mock (lib/mock-model.ts): reasoning, a `search_notes` call this
 * route runs, then the answer. `persistReply` stores the user's message, then the reply as it
 * streams, so a reload or another device can follow it from the store; it goes on storing (and
 * the model on writing) when the browser goes away, and stops the model when the reply is
 * stopped from any device (`stopReply`).
 */
import { ChatStoreClient } from "@chat-store/client";
import { bearerTokenOf, persistReply } from "@chat-store/client/ai-sdk";
import { convertToModelMessages, createUIMessageStreamResponse, stepCountIs, streamText } from "ai";
import type { UIMessage, UIMessageChunk } from "ai";
import { after } from "next/server";
import { apiUrl } from "@/lib/api-url";
import { TOOL_NAME, mockModel } from "@/lib/mock-model";
import { searchNotes } from "@/lib/notes-tool";

/** What the client posts: useChat's request body plus the pace the page was opened with. */
interface ChatRequest {
  id: string;
  messages: UIMessage[];
  tokenDelayMs?: unknown;
  /** Browser tests only (`CHAT_EXAMPLE_FAULTS=1`): see {@link vanishingFetch}. */
  vanishAfterRequests?: unknown;
}

export async function POST(request: Request): Promise<Response> {
  const token = bearerTokenOf(request);
  if (token === undefined) return Response.json({ error: "a bearer token is needed" }, { status: 401 });
  const body = (await request.json()) as ChatRequest;
  const vanishAfter = faultsAllowed() ? count(body.vanishAfterRequests) : undefined;
  const client = new ChatStoreClient({
    baseUrl: apiUrl(),
    getToken: () => token,
    ...(vanishAfter === undefined ? {} : { fetch: vanishingFetch(vanishAfter) }),
  });
  const tools = { [TOOL_NAME]: searchNotes };
  // Not the request's signal: a reload mid-reply must not end it (the reloaded page resumes it
  // from the store). This one is aborted when the reply is stopped, from whichever device.
  const abortController = new AbortController();
  const result = streamText({
    model: mockModel({ tokenDelayMs: pace(body.tokenDelayMs) }),
    messages: await convertToModelMessages(body.messages, { tools, ignoreIncompleteToolCalls: true }),
    tools,
    // Search, then answer: the second step sees the tool's result.
    stopWhen: stepCountIs(2),
    abortSignal: abortController.signal,
  });
  // One id for the reply, in the browser and in the store.
  const messageId = `msg-${crypto.randomUUID()}`;
  let stored = true;
  const stream = persistReply({
    client,
    chatId: body.id,
    messages: body.messages,
    messageId,
    abortController,
    waitUntil: after,
    onError: (error) => {
      // The API away (or refusing): the reply still reaches the browser, which keeps it.
      stored = false;
      console.warn(`chat ${body.id}: the reply was not stored`, error);
    },
    stream: result.toUIMessageStream({
      originalMessages: body.messages,
      generateMessageId: () => messageId,
      sendReasoning: true,
      messageMetadata: ({ part }) => (part.type === "start" ? { createdAt: new Date().toISOString() } : undefined),
    }),
  });
  return createUIMessageStreamResponse({ stream: stream.pipeThrough(tellStored(() => stored)) });
}

/**
 * Tells the browser, before the reply's `finish`, whether the store holds it (`metadata.stored`):
 * the stream ends only once storing ended, so the answer is known by then.
 */
function tellStored(stored: () => boolean): TransformStream<UIMessageChunk, UIMessageChunk> {
  let finish: UIMessageChunk | undefined;
  return new TransformStream({
    transform(chunk, controller) {
      if (chunk.type === "finish") finish = chunk;
      else controller.enqueue(chunk);
    },
    flush(controller) {
      controller.enqueue({ type: "message-metadata", messageMetadata: { stored: stored() } });
      if (finish !== undefined) controller.enqueue(finish);
    },
  });
}

/** Whether the browser tests may inject faults: only with `CHAT_EXAMPLE_FAULTS=1` in the server's environment. */
function faultsAllowed(): boolean {
  return process.env.CHAT_EXAMPLE_FAULTS === "1";
}

/**
 * A writer that goes away mid-reply, as a crashed server would: the first `allowed` requests to
 * the API go, every later one is never sent and never answered (until its caller gives up).
 * The reply stays `streaming` in the store with no more deltas nor keep-alives, which is what
 * followers must read as interrupted within the API's stale limit.
 */
function vanishingFetch(allowed: number): typeof fetch {
  let sent = 0;
  return (input, init) => {
    if (sent++ < allowed) return fetch(input, init);
    return new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
    });
  };
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** The model's pace per chunk: the page's `?tokenMs=`, within bounds, else 60 ms. */
function pace(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 5_000 ? value : 60;
}
