/**
 * `@chat-store/client/ai-sdk`: the API's messages as the Vercel AI SDK's `UIMessage`s (`ai` 7),
 * and back, so `useChat` loads and saves its own type.
 *
 * A message with `parts` is the UIMessage it was written as: the API keeps parts and metadata
 * as sent (docs/api.md, "Messages with parts"). A message written before parts (`content`,
 * `toolExecutions`, `streaming`, `tokens`, `timestamp`) reads as the UIMessage the mapping table
 * there gives it. Only types come from `ai`: this module runs without it, and the package's
 * main entry does not import this module.
 */
import type { DynamicToolUIPart, TextUIPart, UIMessage } from "ai";

import type { ChatStoreClient } from "../client.js";
import type { DatedInput } from "../dates.js";
import { ChatStoreError } from "../errors.js";
import type { components } from "../generated/api.js";
import type { CallOptions } from "../transport.js";
import type { MessageInput } from "../types.js";

type Schemas = components["schemas"];

/**
 * A message as the API answers it: what `ChatStoreClient` hands out (its `timestamp` a `Date`)
 * or the JSON itself (an ISO string).
 */
export type StoredMessage = DatedInput<Schemas["ConversationMessage-Output"]>;

/** One of a message's tool executions, as the API answers it. */
type ToolExecution = Schemas["ToolExecution-Output"];

/** A message's metadata as the API stores it: a JSON object. */
type StoredMetadata = NonNullable<MessageInput["metadata"]>;

/** Token counts under the names of the SDK's `LanguageModelUsage`. */
export interface UsageMetadata {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/**
 * The metadata of a message written without parts and metadata: its `timestamp` and its
 * `tokens`, under the names `fromUIMessage` reads them from.
 */
export interface StoredMessageMetadata {
  /** The message's `timestamp`, as an ISO string. */
  createdAt: string;
  /** The message's `tokens`, when it has them. */
  usage?: UsageMetadata;
}

/**
 * What a tool call of a message without parts says when its reply stopped before the call
 * finished: `INTERRUPTED_TOOL_ERROR` in shared/ui_parts.py, the text the server settles such a
 * part with (a unit test holds the two to the same words).
 */
export const INTERRUPTED_TOOL_ERROR = "The response was interrupted before this tool call finished.";

/** What a failed tool execution that gave no `error` says. */
export const TOOL_FAILED_ERROR = "The tool call failed.";

/**
 * The message as a `UIMessage`.
 *
 * With parts: its parts and metadata as stored. Without (a message of the model before parts),
 * per the mapping table: each tool execution a `dynamic-tool` part (`running` as
 * `input-available`, or `output-error` once the reply was interrupted; `completed` as
 * `output-available`; `failed` as `output-error`), then `content` as one text part (none for
 * an assistant's empty content; an assistant's has `state` `streaming` while it streams, else
 * `done`), and metadata `{createdAt: timestamp, usage: tokens}` unless it has metadata of its own.
 *
 * `UI_MESSAGE` is the app's message type, as `useChat<UI_MESSAGE>` takes it. The API checked each
 * part by its kind as `validateUIMessages` does, not against the app's own schemas: pass the
 * messages through `validateUIMessages` with `metadataSchema`, `dataSchemas` and `tools` for that.
 */
export function toUIMessage<UI_MESSAGE extends UIMessage = UIMessage>(message: StoredMessage): UI_MESSAGE {
  const metadata = message.metadata ?? (message.parts ? undefined : storedMessageMetadata(message));
  // The one place stored JSON takes the SDK's part types: the API holds each part to them
  // (shared/ui_parts.py), keeping keys a newer `ai` may define.
  const parts = (message.parts ?? partsOf(message)) as UIMessage["parts"];
  const ui: UIMessage = { id: message.id, role: message.type, ...(metadata !== undefined && { metadata }), parts };
  return ui as UI_MESSAGE;
}

/** Options of {@link fromUIMessage}. */
export interface FromUIMessageOptions {
  /**
   * When the message was written. Default: its `metadata.createdAt` (an ISO string, a `Date`
   * or milliseconds since the epoch), else now.
   */
  timestamp?: Date | string;
  /**
   * Its token counts, which the conversation's and the user's `totalTokens` add up. Default:
   * its `metadata.usage` (`inputTokens`, `outputTokens`, `totalTokens` as the SDK's
   * `LanguageModelUsage` names them), when it has the first two as whole numbers.
   */
  tokens?: Schemas["TokenUsage"];
}

/**
 * The message to append (`client.appendMessage(chatId, fromUIMessage(message))`) or to `PUT`
 * in a conversation: its id, `type` from its role, its parts and metadata as they are, and
 * `streaming: true` while a text part streams (so the API marks it interrupted should its writer
 * go away). `content` is left out: the API sets it to the text parts joined. The API takes
 * metadata that is a JSON object, and answers 422 `validation_failed` to any other.
 */
export function fromUIMessage(message: UIMessage, options: FromUIMessageOptions = {}): MessageInput {
  const timestamp = options.timestamp ?? createdAtOf(message.metadata) ?? new Date();
  const tokens = options.tokens ?? tokensOf(message.metadata);
  const streaming = message.parts.some((part) => part.type === "text" && part.state === "streaming");
  return {
    id: message.id,
    type: message.role,
    timestamp,
    ...(streaming && { streaming }),
    ...(tokens !== undefined && { tokens }),
    // The API judges the value (a JSON object, or 422); the type says what it takes.
    ...(message.metadata !== undefined && { metadata: message.metadata as StoredMetadata }),
    parts: message.parts,
  };
}

/** Options of {@link loadChat}. */
export interface LoadChatOptions extends CallOptions {
  /** Messages per request (1-500). Default: the API's (50). */
  pageSize?: number;
}

/**
 * Every message of the conversation, oldest first, as `UIMessage`s: `useChat`'s `messages`.
 * Reads the newest page, then the older ones by the API's cursor until there are none. A
 * conversation that is not there (never written, deleted, expired, another user's) is `[]`, a
 * new chat; any other failure is the client's {@link ChatStoreError}.
 */
export async function loadChat<UI_MESSAGE extends UIMessage = UIMessage>(
  client: ChatStoreClient,
  chatId: string,
  options: LoadChatOptions = {},
): Promise<UI_MESSAGE[]> {
  const { pageSize, ...call } = options;
  const pages: StoredMessage[][] = [];
  let before: string | undefined;
  do {
    const page = await readPage(client, chatId, { limit: pageSize, before }, call);
    if (page === undefined) return [];
    pages.push(page.messages);
    before = page.nextCursor ?? undefined;
  } while (before !== undefined);
  return pages.reverse().flat().map((message) => toUIMessage<UI_MESSAGE>(message));
}

/** A page of the conversation's messages, newest first by page; undefined when it is not there. */
async function readPage(
  client: ChatStoreClient,
  chatId: string,
  query: { limit: number | undefined; before: string | undefined },
  options: CallOptions,
): Promise<{ messages: StoredMessage[]; nextCursor: string | null } | undefined> {
  try {
    const answer = await client.getConversation(chatId, query, options);
    // No If-None-Match was sent, so the answer is never a 304.
    return answer.notModified ? undefined : answer.data;
  } catch (error) {
    if (error instanceof ChatStoreError && error.code === "not_found") return undefined;
    throw error;
  }
}

function partsOf(message: StoredMessage): UIMessage["parts"] {
  const parts: UIMessage["parts"] = (message.toolExecutions ?? []).map((execution) =>
    toolPart(execution, message.interrupted === true),
  );
  if (message.content !== "" || message.type !== "assistant") parts.push(textPart(message));
  return parts;
}

function textPart(message: StoredMessage): TextUIPart {
  if (message.type !== "assistant") return { type: "text", text: message.content };
  return { type: "text", text: message.content, state: message.streaming === true ? "streaming" : "done" };
}

/** A tool execution as the part of a tool the app did not declare: its name is all that is known. */
function toolPart(execution: ToolExecution, interrupted: boolean): DynamicToolUIPart {
  const call = { type: "dynamic-tool", toolName: execution.name, toolCallId: execution.id } as const;
  // A part in these states has an input; an execution may have none (null, as the API's default).
  const input = execution.input ?? null;
  switch (execution.status) {
    case "completed":
      return { ...call, state: "output-available", input, output: execution.output ?? null };
    case "failed":
      return { ...call, state: "output-error", input, errorText: execution.error ?? TOOL_FAILED_ERROR };
    case "running":
      return interrupted
        ? { ...call, state: "output-error", input, errorText: INTERRUPTED_TOOL_ERROR }
        : { ...call, state: "input-available", input };
  }
}

function storedMessageMetadata(message: StoredMessage): StoredMessageMetadata {
  const { timestamp, tokens } = message;
  const createdAt = typeof timestamp === "string" ? timestamp : timestamp.toISOString();
  if (tokens === undefined) return { createdAt };
  return { createdAt, usage: { inputTokens: tokens.input, outputTokens: tokens.output, totalTokens: tokens.total } };
}

/** A key of metadata that is a JSON object, else undefined. */
function field(metadata: unknown, key: string): unknown {
  return typeof metadata === "object" && metadata !== null ? (metadata as Record<string, unknown>)[key] : undefined;
}

function createdAtOf(metadata: unknown): Date | undefined {
  const value = field(metadata, "createdAt");
  if (!(typeof value === "string" || typeof value === "number" || value instanceof Date)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function tokensOf(metadata: unknown): Schemas["TokenUsage"] | undefined {
  const usage = field(metadata, "usage");
  const [input, output, total] = ["inputTokens", "outputTokens", "totalTokens"].map((key) => field(usage, key));
  if (!isCount(input) || !isCount(output)) return undefined;
  return { input, output, total: isCount(total) ? total : input + output };
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
