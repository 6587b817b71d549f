/**
 * An in-memory stand-in for the API's message routes with parts streaming (the agreed contract:
 * `partChanges`, `sequence`, `interrupted`), as a `fetch`: what `persistReply` writes and what
 * `ChatStoreTransport` reads, in unit tests that need the store's answers to follow its writes.
 * It records every request, and lets a test hold an answer back or lose one after the write.
 */
import type { FetchLike } from "../../src/transport.js";

/** A request as the stand-in saw it. */
export interface PartsApiRequest {
  method: string;
  path: string;
  headers: Headers;
  /** The body's text, exactly as sent. */
  text: string | undefined;
  body: Record<string, unknown> | undefined;
}

/** A message as the stand-in stores it. */
export interface HeldMessage {
  id: string;
  type: string;
  timestamp: string;
  parts: Record<string, unknown>[];
  /** Per part: started by an append and still streaming. */
  appended: boolean[];
  metadata?: Record<string, unknown>;
  tokens?: unknown;
  streaming: boolean;
  interrupted: boolean;
  sequence: number;
  version: number;
}

/** What a test may do to one request: answer it itself, hold it, or lose its answer after the write. */
export type Fault = { respond: Response } | { lose: true } | { hold: Promise<void> };

const INTERRUPTED = "The response was interrupted before this tool call finished.";

export class FakePartsApi {
  readonly requests: PartsApiRequest[] = [];
  readonly conversations = new Map<string, HeldMessage[]>();
  /** Asked before each request is handled; a fault it returns applies to that request. */
  fault: ((request: PartsApiRequest) => Fault | undefined) | undefined;

  /** The PATCHes seen, in order. */
  get patches(): PartsApiRequest[] {
    return this.requests.filter((request) => request.method === "PATCH");
  }

  message(chatId: string, id: string): HeldMessage | undefined {
    return this.conversations.get(chatId)?.find((message) => message.id === id);
  }

  readonly fetch: FetchLike = async (url, init) => {
    const path = new URL(url).pathname + new URL(url).search;
    const text = typeof init.body === "string" ? init.body : undefined;
    const request: PartsApiRequest = {
      method: init.method ?? "GET",
      path,
      headers: new Headers(init.headers),
      text,
      body: text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>),
    };
    this.requests.push(request);
    const fault = this.fault?.(request);
    if (fault !== undefined && "respond" in fault) return fault.respond;
    if (fault !== undefined && "hold" in fault) await fault.hold;
    const response = this.#handle(request);
    if (fault !== undefined && "lose" in fault) throw new TypeError("fetch failed");
    return response;
  };

  #handle(request: PartsApiRequest): Response {
    const url = new URL(`http://x${request.path}`);
    const [, , , chatId, , messageId] = url.pathname.split("/");
    if (chatId === undefined) return problem(404, "not_found");
    const messages = this.conversations.get(chatId);
    if (request.method === "GET" && messageId === undefined) {
      if (messages === undefined) return problem(404, "not_found");
      const limit = Number(url.searchParams.get("limit") ?? 50);
      return json(200, { id: chatId, title: "", messages: messages.slice(-limit).map((m) => read(m, 0)), nextCursor: null });
    }
    if (request.method === "POST") {
      const body = request.body as Record<string, unknown>;
      const list = messages ?? [];
      this.conversations.set(chatId, list);
      const existing = list.find((message) => message.id === body["id"]);
      if (existing) return json(200, read(existing, 0));
      const parts = (body["parts"] as Record<string, unknown>[] | undefined) ?? [];
      const held: HeldMessage = {
        id: body["id"] as string,
        type: body["type"] as string,
        timestamp: body["timestamp"] as string,
        parts: parts.map((part) => structuredClone(part)),
        appended: parts.map(() => false),
        ...(body["metadata"] !== undefined && { metadata: body["metadata"] as Record<string, unknown> }),
        streaming: body["streaming"] === true,
        interrupted: false,
        sequence: 0,
        version: 1,
      };
      list.push(held);
      return json(201, read(held, 0));
    }
    const message = messages?.find((m) => m.id === messageId);
    if (message === undefined) return problem(404, "not_found");
    if (request.method === "GET") {
      if (request.headers.get("If-None-Match") === `"${message.version}"`) {
        return new Response(null, { status: 304, headers: { ETag: `"${message.version}"` } });
      }
      return json(200, read(message, Number(url.searchParams.get("after") ?? 0)), `"${message.version}"`);
    }
    return this.#patch(message, request.body as Record<string, unknown>);
  }

  #patch(message: HeldMessage, body: Record<string, unknown>): Response {
    const changes = body["partChanges"] as Record<string, unknown>[] | undefined;
    const sequence = body["sequence"] as number | undefined;
    if (sequence !== undefined && sequence <= message.sequence) return new Response(null, { status: 204 });
    if (sequence !== undefined && sequence > message.sequence + 1) {
      return problem(409, "sequence_gap", { lastSequence: message.sequence });
    }
    if (body["interrupted"] === true && body["streaming"] === true) return problem(422, "validation_failed");
    const streaming = typeof body["streaming"] === "boolean" ? (body["streaming"] as boolean) : message.streaming;
    const parts = message.parts.map((part) => structuredClone(part));
    const appended = [...message.appended];
    for (const change of changes ?? []) {
      const index = (change["index"] as number | undefined) ?? parts.length;
      if (index > parts.length) return problem(409, "part_conflict");
      if ("append" in change) {
        if (!message.streaming && body["streaming"] !== true) return problem(409, "message_finished");
        if (index === parts.length) {
          parts.push({ type: change["type"], text: change["append"], state: "streaming" });
          appended.push(true);
        } else {
          const part = parts[index] as Record<string, unknown>;
          if (!appended[index] || part["type"] !== change["type"]) return problem(409, "part_conflict");
          part["text"] = `${part["text"] as string}${change["append"] as string}`;
        }
        continue;
      }
      const part = change["part"] as Record<string, unknown>;
      const callId = part["toolCallId"];
      const at = callId === undefined ? -1 : parts.findIndex((p) => p["toolCallId"] === callId);
      const target = at >= 0 ? at : index;
      if (at >= 0 && change["index"] !== undefined && at !== change["index"]) return problem(409, "part_conflict");
      parts[target] = part;
      appended[target] = false;
    }
    message.parts = parts;
    message.appended = appended;
    if (sequence !== undefined) message.sequence = sequence;
    if (body["metadata"] !== undefined) message.metadata = body["metadata"] as Record<string, unknown>;
    if (body["tokens"] !== undefined) message.tokens = body["tokens"];
    if (!streaming && message.streaming) {
      // Finishing turns every part an append started to done, only its state changing.
      message.parts.forEach((part, index) => {
        if (message.appended[index] && part["state"] === "streaming") part["state"] = "done";
      });
      message.appended = message.appended.map(() => false);
    }
    message.streaming = streaming;
    if (body["interrupted"] === true) message.interrupted = true;
    message.version++;
    return new Response(null, { status: 204 });
  }
}

/** The message as a read answers it: an interrupted reply's parts settled. */
function read(message: HeldMessage, after: number): Record<string, unknown> {
  const parts = message.interrupted ? message.parts.map(settled) : message.parts;
  const content = parts
    .filter((part) => part["type"] === "text")
    .map((part) => part["text"] as string)
    .join("");
  return {
    id: message.id,
    type: message.type,
    content: content.slice(after),
    offset: after,
    length: content.length,
    timestamp: message.timestamp,
    parts,
    ...(message.metadata !== undefined && { metadata: message.metadata }),
    ...(message.tokens !== undefined && { tokens: message.tokens }),
    streaming: message.streaming,
    ...(message.interrupted && { interrupted: true }),
  };
}

function settled(part: Record<string, unknown>): Record<string, unknown> {
  if ((part["type"] === "text" || part["type"] === "reasoning") && part["state"] === "streaming") {
    return { ...part, state: "done" };
  }
  const tool = typeof part["type"] === "string" && (part["type"] === "dynamic-tool" || part["type"].startsWith("tool-"));
  if (tool && (part["state"] === "input-streaming" || part["state"] === "input-available")) {
    const { input, rawInput: _raw, ...rest } = part;
    return { ...rest, state: "output-error", input: part["state"] === "input-streaming" ? undefined : input, errorText: INTERRUPTED };
  }
  return part;
}

function json(status: number, body: unknown, etag = '"1"'): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ETag: etag } });
}

function problem(status: number, code: string, extra: Record<string, unknown> = {}): Response {
  return new Response(JSON.stringify({ type: `/problems/${code}`, title: code, status, detail: code, code, ...extra }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}
