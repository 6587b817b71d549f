/**
 * The chat's route handler: `useChat` posts the conversation here (through the store's
 * transport, which adds the user's bearer token); the reply streams back as UIMessage chunks.
 *
 * The model is the AI SDK's mock (lib/mock-model.ts): reasoning, a `search_notes` call this
 * route runs, then the answer.
 */
import { convertToModelMessages, stepCountIs, streamText } from "ai";
import type { UIMessage } from "ai";
import { TOOL_NAME, mockModel } from "@/lib/mock-model";
import { searchNotes } from "@/lib/notes-tool";

/** What the client posts: useChat's request body plus the pace the page was opened with. */
interface ChatRequest {
  id: string;
  messages: UIMessage[];
  tokenDelayMs?: unknown;
}

export async function POST(request: Request): Promise<Response> {
  const body = (await request.json()) as ChatRequest;
  const tokenDelayMs = pace(body.tokenDelayMs);
  const tools = { [TOOL_NAME]: searchNotes };
  const result = streamText({
    model: mockModel({ tokenDelayMs }),
    messages: await convertToModelMessages(body.messages, { tools, ignoreIncompleteToolCalls: true }),
    tools,
    // Search, then answer: the second step sees the tool's result.
    stopWhen: stepCountIs(2),
    // The user pressed Stop or left: the model stops too.
    abortSignal: request.signal,
  });
  return result.toUIMessageStreamResponse({
    originalMessages: body.messages,
    generateMessageId: () => `msg-${crypto.randomUUID()}`,
    sendReasoning: true,
    messageMetadata: ({ part }) => (part.type === "start" ? { createdAt: new Date().toISOString() } : undefined),
  });
}

/** The model's pace per chunk: the page's `?tokenMs=`, within bounds, else 60 ms. */
function pace(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 5_000 ? value : 60;
}
