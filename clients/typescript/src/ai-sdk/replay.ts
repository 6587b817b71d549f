/**
 * A stored reply as the SDK's chunks: what `reconnectToStream` sends so that `useChat` (or
 * `readUIMessageStream`) builds exactly the stored parts, first from nothing and then, as the
 * store's copy grows, by the chunks that turn the parts already sent into the new ones.
 */
import type { UIMessageChunk } from "ai";

import type { UIPart } from "./part-changes.js";

/** A tool part of either kind, loosely: the keys the SDK's tool parts may have. */
interface ToolPart {
  type: string;
  toolCallId: string;
  toolName?: string;
  state: string;
  input?: unknown;
  rawInput?: unknown;
  output?: unknown;
  errorText?: string;
  preliminary?: boolean;
  providerExecuted?: boolean;
  title?: string;
  toolMetadata?: Record<string, unknown>;
  callProviderMetadata?: Record<string, never>;
  resultProviderMetadata?: Record<string, never>;
  approval?: {
    id: string;
    approved?: boolean;
    reason?: string;
    descriptor?: unknown;
    inputSchemaInput?: unknown;
    requestReason?: string;
    isAutomatic?: boolean;
    signature?: string;
  };
}

/** How far along a tool call is, by state: chunks take a part from one stage to a later one. */
const STAGE: Record<string, number> = {
  "input-streaming": 0,
  "input-available": 1,
  "approval-requested": 2,
  "approval-responded": 3,
  "output-available": 4,
  "output-error": 4,
  "output-denied": 4,
};

/**
 * Turns successive copies of a reply's parts into chunks. Keeps what it sent, so each copy
 * costs only the chunks of what changed.
 */
export class PartsReplay {
  /** The parts as the chunks sent so far built them (JSON copies). */
  #sent: UIPart[] = [];

  /** The chunks that take the parts sent so far to `parts`. */
  chunks(parts: readonly UIPart[]): UIMessageChunk[] {
    const chunks: UIMessageChunk[] = [];
    parts.forEach((part, index) => {
      const before = this.#sent[index];
      if (before !== undefined && JSON.stringify(before) === JSON.stringify(part)) return;
      chunks.push(...(before === undefined ? partChunks(part, index) : changeChunks(before, part, index)));
      this.#sent[index] = JSON.parse(JSON.stringify(part)) as UIPart;
    });
    return chunks;
  }
}

/** The chunks that make `part` from nothing. */
function partChunks(part: UIPart, index: number): UIMessageChunk[] {
  const any = part as UIPart & Record<string, unknown>;
  switch (part.type) {
    case "text":
    case "reasoning":
      return textChunks(part, index);
    case "step-start":
      return [{ type: "start-step" }];
    case "source-url":
      return [{ type: "source-url", sourceId: part.sourceId, url: part.url, title: part.title, providerMetadata: part.providerMetadata }];
    case "source-document":
      return [
        {
          type: "source-document",
          sourceId: part.sourceId,
          mediaType: part.mediaType,
          title: part.title,
          filename: part.filename,
          providerMetadata: part.providerMetadata,
        },
      ];
    case "file":
    case "reasoning-file":
      return [{ type: part.type, url: part.url, mediaType: part.mediaType, providerMetadata: part.providerMetadata }];
  }
  if (isTool(part)) return toolChunks(undefined, part);
  if (part.type === "custom" || part.type === "steering-message" || part.type.startsWith("data-")) {
    // These chunks carry the part as it is: the SDK pushes them (a data chunk, a custom part's
    // kind and metadata, a steering message's parts) into the message unchanged.
    return [any as unknown as UIMessageChunk];
  }
  return [];
}

/** The chunks that take `before` to `part`, the same part further along. */
function changeChunks(before: UIPart, part: UIPart, index: number): UIMessageChunk[] {
  if ((part.type === "text" || part.type === "reasoning") && before.type === part.type) {
    const id = textId(part, index);
    const chunks: UIMessageChunk[] = [];
    const added = part.text.startsWith(before.text) ? part.text.slice(before.text.length) : "";
    if (added !== "") chunks.push({ type: `${part.type}-delta`, id, delta: added, providerMetadata: part.providerMetadata });
    if (part.state === "done" && before.state !== "done") chunks.push(textEnd(part, id));
    return chunks;
  }
  if (isTool(part) && isTool(before) && before.toolCallId === part.toolCallId) return toolChunks(before, part);
  if (part.type.startsWith("data-")) return [part as unknown as UIMessageChunk];
  // A part replaced by one of another kind has no chunk: the SDK only ever adds parts.
  return [];
}

function textId(part: UIPart & { type: "text" | "reasoning" }, index: number): string {
  // The SDK keeps a reasoning part's chunk id as the part's `id`.
  return part.type === "reasoning" && part.id !== undefined ? part.id : `${part.type}-${index}`;
}

function textChunks(part: UIPart & { type: "text" | "reasoning" }, index: number): UIMessageChunk[] {
  const id = textId(part, index);
  const chunks: UIMessageChunk[] = [{ type: `${part.type}-start`, id, providerMetadata: part.providerMetadata }];
  if (part.text !== "") chunks.push({ type: `${part.type}-delta`, id, delta: part.text });
  if (part.state === "done") chunks.push(textEnd(part, id));
  return chunks;
}

function textEnd(part: UIPart & { type: "text" | "reasoning" }, id: string): UIMessageChunk {
  if (part.type === "reasoning") return { type: "reasoning-end", id, providerMetadata: part.providerMetadata };
  return { type: "text-end", id, providerMetadata: part.providerMetadata, ...(part.citations && { citations: part.citations }) };
}

function isTool(part: UIPart): part is UIPart & ToolPart {
  return part.type === "dynamic-tool" || part.type.startsWith("tool-");
}

/**
 * The chunks that take a tool call from `before` (or nothing) to `part`.
 *
 * A call already past its input is made without `tool-input-available`: that chunk runs
 * `useChat`'s `onToolCall`, which must not run a client-side tool again whose output is
 * stored. `tool-input-start` then `tool-input-error` set its input (and its call's provider
 * metadata) without it; the chunk of its final state then replaces the error.
 */
function toolChunks(before: ToolPart | undefined, part: ToolPart): UIMessageChunk[] {
  const call = {
    toolCallId: part.toolCallId,
    toolName: part.type === "dynamic-tool" ? (part.toolName ?? "") : part.type.slice("tool-".length),
    ...(part.type === "dynamic-tool" && { dynamic: true }),
  };
  const from = before === undefined ? -1 : (STAGE[before.state] ?? 0);
  const to = STAGE[part.state] ?? 0;
  const chunks: UIMessageChunk[] = [];
  if (from < 0) {
    chunks.push({
      type: "tool-input-start",
      ...call,
      providerExecuted: part.providerExecuted,
      providerMetadata: part.callProviderMetadata,
      title: part.title,
      toolMetadata: part.toolMetadata as never,
    });
  }
  if (to === 0) {
    const raw = typeof part.rawInput === "string" ? part.rawInput : "";
    const had = typeof before?.rawInput === "string" && raw.startsWith(before.rawInput) ? before.rawInput : "";
    if (raw.length > had.length) chunks.push({ type: "tool-input-delta", toolCallId: part.toolCallId, inputTextDelta: raw.slice(had.length) });
    return chunks;
  }
  if (from < 1) {
    if (to === 1 || to === 2) {
      chunks.push({
        type: "tool-input-available",
        ...call,
        input: part.input,
        providerExecuted: part.providerExecuted,
        providerMetadata: part.callProviderMetadata,
        title: part.title,
        toolMetadata: part.toolMetadata as never,
      });
    } else {
      // errorText is replaced by the final state's chunk (undefined: JSON leaves it out).
      chunks.push({ type: "tool-input-error", ...call, input: part.input, errorText: undefined as unknown as string });
    }
  }
  const approval = part.approval;
  if (approval !== undefined && from < 2 && to >= 2) {
    chunks.push({
      type: "tool-approval-request",
      approvalId: approval.id,
      toolCallId: part.toolCallId,
      ...(approval.descriptor !== undefined && { approvalDescriptor: approval.descriptor }),
      ...(Object.prototype.hasOwnProperty.call(approval, "inputSchemaInput") && { inputSchemaInput: approval.inputSchemaInput }),
      ...(approval.requestReason !== undefined && { reason: approval.requestReason }),
      ...(approval.isAutomatic === true && { isAutomatic: true }),
      ...(approval.signature !== undefined && { signature: approval.signature }),
    });
  }
  if (approval?.approved !== undefined && from < 3 && to >= 3) {
    chunks.push({
      type: "tool-approval-response",
      approvalId: approval.id,
      approved: approval.approved,
      ...(approval.reason !== undefined && { reason: approval.reason }),
    });
  }
  if (to < 4) return chunks;
  const { toolName: _name, ...result } = { ...call, providerExecuted: part.providerExecuted };
  if (part.state === "output-available") {
    chunks.push({
      type: "tool-output-available",
      ...result,
      output: part.output,
      preliminary: part.preliminary,
      providerMetadata: part.resultProviderMetadata,
      toolMetadata: part.toolMetadata as never,
    });
  } else if (part.state === "output-error") {
    chunks.push({
      type: "tool-output-error",
      ...result,
      errorText: part.errorText ?? "",
      providerMetadata: part.resultProviderMetadata,
      toolMetadata: part.toolMetadata as never,
    });
  } else {
    chunks.push({ type: "tool-output-denied", toolCallId: part.toolCallId });
  }
  return chunks;
}
