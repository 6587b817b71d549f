/**
 * `persistReply`: the route handler's side of a reply. The user's message is stored first, then
 * the reply is stored as it streams, as the parts the SDK builds from the model's chunks, so any
 * device (or a reload) can follow it from the store while it is still being written.
 */
import { readUIMessageStream } from "ai";
import type { InferUIMessageChunk, UIMessage, UIMessageChunk } from "ai";

import type { ChatStoreClient } from "../client.js";
import { ChatStoreError } from "../errors.js";
import { DEFAULT_RETRY, backoffMs } from "../retry.js";
import { DEFAULT_HEARTBEAT_MS, streamingStaleMs } from "../stream.js";
import { abortableSleep } from "../transport.js";
import type { Sleep } from "../transport.js";
import type { MessagePatch } from "../types.js";
import { fromUIMessage, tokensOf } from "./messages.js";
import { MAX_PART_CHANGES, diffParts } from "./part-changes.js";
import type { HeldPart, PartChange } from "./part-changes.js";

/** How often a reply's changes are sent while it streams, by default: ms between PATCHes. */
export const DEFAULT_THROTTLE_MS = 250;

/** Messages read to find the replies a regenerate replaces: the newest page, which holds them. */
const REPLACED_PAGE = 20;

/** Options of {@link persistReply}. */
export interface PersistReplyOptions<UI_MESSAGE extends UIMessage = UIMessage> {
  /** A client acting for the user whose chat it is (e.g. built with the request's token). */
  client: ChatStoreClient;
  /** The conversation: `useChat`'s `id`, as the request's body carries it. */
  chatId: string;
  /**
   * The messages the request carried. Its last user message is stored first; the conversation
   * is created when it does not exist yet. When the request ends with a user message already
   * stored (a regenerate, an edit of it, the request sent again), the stored one takes its
   * parts and metadata as sent and the replies stored right after it are deleted, as the
   * browser dropped them.
   */
  messages: readonly UI_MESSAGE[];
  /** The reply: `streamText(...).toUIMessageStream(...)` (or `createUIMessageStream`'s). */
  stream: ReadableStream<InferUIMessageChunk<UI_MESSAGE>>;
  /**
   * The reply's id when the stream's `start` chunk names none (pass `originalMessages` and
   * `generateMessageId` to `toUIMessageStream` to have it named there). Default: a new UUID. A
   * `start` chunk without a `messageId` is sent on with this one, so the browser's copy of the
   * reply has the id the store has.
   */
  messageId?: string;
  /** At least this many ms between two PATCHes while the reply streams. Default 250. */
  throttleMs?: number;
  /**
   * After this many ms with nothing to store (a tool running, a model thinking before its first
   * word), an empty delta (`{appendContent: ""}`) tells followers the reply is still being
   * written, so it does not read as interrupted. Default: 5,000, or a third of the server's
   * stale limit when the client knows a shorter one (`client.getLimits()`).
   */
  heartbeatMs?: number;
  /**
   * The controller whose signal the route passed to `streamText` as `abortSignal`: aborted when
   * the reply was stopped from another device (or with {@link stopReply}), so the model stops
   * generating what nobody will read.
   */
  abortController?: AbortController;
  /** Told when the reply was stopped elsewhere (the store answered 409 `message_finished`). */
  onStopped?: () => void;
  /**
   * Told what was not stored: a refusal (the conversation was deleted, a limit passed), or the
   * API unreachable after retries. The reply streams to the browser all the same.
   */
  onError?: (error: unknown) => void;
  /**
   * Given the promise of the storing, which settles once the reply is stored (never rejects):
   * Next.js's `after` or Vercel's `waitUntil`, so the function lives on until then even if the
   * browser goes away.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Injectable for tests: the clock the throttle reads. */
  now?: () => number;
  /** Injectable for tests: the wait between PATCHes and before retries. */
  sleep?: Sleep;
}

/** A PATCH's body. */
type PartsPatch = MessagePatch;

/**
 * Stores the reply of a Next.js route handler while it streams, and hands back the stream to
 * answer with (`createUIMessageStreamResponse({ stream })`).
 *
 * Requests, in order: the request's last user message (`POST .../messages`, which creates the
 * conversation; on an edit, a `PATCH` of it; on a regenerate or an edit, a `GET` of the newest
 * page and a `DELETE` of each reply it replaces), the reply (`POST`, empty, `streaming: true`),
 * then PATCHes of `partChanges` numbered by `sequence` 1, 2, 3... with `Prefer: return=minimal`,
 * at most one in flight and one per `throttleMs`; an unanswered one (no answer, timeout, 429,
 * 502-504) is sent again byte for byte. The last PATCH finishes it: `{streaming: false,
 * metadata, tokens}` (the metadata the stream gave the message, `tokens` from its `usage`), or,
 * when the stream was aborted or failed, `{streaming: false, interrupted: true}`, keeping the
 * partial reply. Nothing waits for `onFinish`.
 *
 * The stream handed back closes once the reply is stored. When the browser goes away the reply
 * is still read and stored to its end (pass {@link PersistReplyOptions.waitUntil}); pass the
 * request's signal to `streamText` to stop the model instead (the reply is then stored
 * interrupted). A 409 `message_finished` means another device stopped the reply: the
 * `abortController` is aborted, `onStopped` told, and nothing more is stored.
 *
 * @example
 * ```ts
 * export async function POST(req: Request) {
 *   const { id, messages } = await req.json();
 *   const client = new ChatStoreClient({ baseUrl, getToken: () => bearerTokenOf(req) });
 *   const abortController = new AbortController();
 *   const result = streamText({ model, messages: await convertToModelMessages(messages),
 *     abortSignal: abortController.signal });
 *   const stream = persistReply({ client, chatId: id, messages, abortController, waitUntil: after,
 *     stream: result.toUIMessageStream({ originalMessages: messages }) });
 *   return createUIMessageStreamResponse({ stream });
 * }
 * ```
 */
export function persistReply<UI_MESSAGE extends UIMessage = UIMessage>(
  options: PersistReplyOptions<UI_MESSAGE>,
): ReadableStream<InferUIMessageChunk<UI_MESSAGE>> {
  const messageId = options.messageId ?? crypto.randomUUID();
  const named = options.stream.pipeThrough(
    new TransformStream<InferUIMessageChunk<UI_MESSAGE>, InferUIMessageChunk<UI_MESSAGE>>({
      transform(chunk, controller) {
        const start = chunk as UIMessageChunk;
        const named = start.type === "start" && start.messageId === undefined ? { ...start, messageId } : start;
        controller.enqueue(named as InferUIMessageChunk<UI_MESSAGE>);
      },
    }),
  );
  // Two readers: the browser's may go away, and the store's reads on to the end.
  const [forBrowser, forStore] = named.tee();
  const stored = new ReplyWriter(options, messageId).run(forStore as ReadableStream<UIMessageChunk>);
  options.waitUntil?.(stored);
  return forBrowser.pipeThrough(
    new TransformStream({
      // The response ends once the reply is stored, so a serverless function lives until then.
      flush: () => stored,
    }),
  );
}

/** A PATCH kept whole, so that an unanswered one is sent again byte for byte. */
interface Pending {
  patch: PartsPatch;
  held: HeldPart[];
  sequence: number;
  idempotencyKey: string | false;
  closing: boolean;
}

/** How a reply's stream ended. */
type Ending = { interrupted: false; metadata: unknown } | { interrupted: true };

/** The store's refusals that end the storing. */
class Stopped extends Error {}

class ReplyWriter<UI_MESSAGE extends UIMessage> {
  readonly #options: PersistReplyOptions<UI_MESSAGE>;
  /** The reply's id: the `start` chunk's, else the one given (or made). */
  #messageId: string;
  readonly #throttle: number;
  readonly #heartbeat: number;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  /** Ends the waits and the reading once the storing stops early. */
  readonly #halt = new AbortController();

  #latest: UIMessage | undefined;
  #ending: Ending | undefined;
  #held: HeldPart[] = [];
  /** The last `sequence` the store applied (a reply reopened starts again from 0). */
  #sequence = 0;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #wake: (() => void) | undefined;

  constructor(options: PersistReplyOptions<UI_MESSAGE>, messageId: string) {
    this.#options = options;
    this.#messageId = messageId;
    this.#throttle = options.throttleMs ?? DEFAULT_THROTTLE_MS;
    this.#heartbeat = options.heartbeatMs ?? Math.min(DEFAULT_HEARTBEAT_MS, streamingStaleMs(options.client) / 3);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** Reads the reply to its end while storing it; never rejects (failures go to `onError`). */
  async run(stream: ReadableStream<UIMessageChunk>): Promise<void> {
    const storing = this.#store().catch((error: unknown) => {
      this.#halt.abort();
      if (error instanceof Stopped) return;
      this.#options.onError?.(error);
    });
    await this.#read(stream);
    this.#poke();
    await storing;
  }

  /** Follows the reply as the SDK builds it, and notes how its stream ended. */
  async #read(stream: ReadableStream<UIMessageChunk>): Promise<void> {
    let interrupted = false;
    const halt = this.#halt.signal;
    const watched = stream.pipeThrough(
      new TransformStream<UIMessageChunk, UIMessageChunk>({
        start(controller) {
          // Once storing stopped, this side of the tee is let go: the browser's reads on alone.
          halt.addEventListener("abort", () => closeQuietly(controller), { once: true });
        },
        transform(chunk, controller) {
          if (chunk.type === "abort" || chunk.type === "error") interrupted = true;
          controller.enqueue(chunk);
        },
      }),
    );
    try {
      const continued = this.#continued();
      const reading = readUIMessageStream<UIMessage>({
        ...(continued && { message: structuredClone(continued) }),
        stream: watched,
        onError: () => (interrupted = true),
      });
      for await (const message of reading) {
        this.#latest = message;
        this.#poke();
      }
    } catch {
      interrupted = true;
    }
    this.#ending = interrupted ? { interrupted: true } : { interrupted: false, metadata: this.#latest?.metadata };
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #store(): Promise<void> {
    await this.#appendUserMessage();
    // The reply's id and first metadata come with its first chunk.
    while (this.#latest === undefined && this.#ending === undefined) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#latest?.id) this.#messageId = this.#latest.id;
    await this.#appendReply();
    for (;;) {
      const ending = this.#ending;
      const { changes, held } = diffParts(this.#held, this.#latest?.parts ?? []);
      const closing = ending !== undefined && changes.length < MAX_PART_CHANGES;
      if (!closing && changes.length === 0) {
        const silent = this.#lastSentAt + this.#heartbeat - this.#now();
        if (silent > 0) {
          await this.#idle(silent);
          continue;
        }
        // Unnumbered: it appends nothing, so sending it again is harmless, and the sequence
        // stays the parts' own.
        const heartbeat: Pending = {
          patch: { appendContent: "" },
          held: this.#held,
          sequence: this.#sequence,
          idempotencyKey: false,
          closing: false,
        };
        await this.#deliver(heartbeat);
        continue;
      }
      if (!closing) {
        // The closing PATCH does not wait out the throttle: the reply is done.
        const wait = this.#lastSentAt + this.#throttle - this.#now();
        if (wait > 0) {
          await this.#sleep(wait, this.#halt.signal);
          continue;
        }
      }
      const last = this.#sequence;
      const sequence = changes.length === 0 ? last : last + 1;
      const patch: PartsPatch = changes.length > 0 ? { partChanges: wirePartChanges(changes), sequence } : {};
      if (closing) Object.assign(patch, closingFields(ending));
      // A numbered delta is made safe to resend by its sequence; anything else needs a key.
      const idempotencyKey = closing ? crypto.randomUUID() : false;
      await this.#deliver({ patch, held, sequence, idempotencyKey, closing });
      if (closing) return;
    }
  }

  /**
   * Stores the request's last user message. A request that ends with a user message the store
   * already holds is a regenerate, an edit of that message, or the same request sent again: the
   * browser dropped whatever followed it. Then the stored message takes the parts (and the
   * metadata) as sent, and the replies stored right after it are deleted, so a reload shows the
   * chat as the browser holds it.
   */
  async #appendUserMessage(): Promise<void> {
    const { client, chatId, messages } = this.#options;
    const user = [...messages].reverse().find((message) => message.role === "user");
    if (user === undefined) return;
    let edited = false;
    try {
      const { status } = await client.appendMessage(chatId, fromUIMessage(user));
      if (status === 201) return;
    } catch (error) {
      // The id is taken by a message of other content: the user edited it.
      if (!(error instanceof ChatStoreError && error.code === "conflict")) throw error;
      edited = true;
    }
    if (messages.at(-1) !== user) return;
    if (edited) {
      // Its metadata as sent too (a PATCH replaces it whole), so a reload reads what the browser holds.
      const { metadata } = user;
      const patch: PartsPatch = { parts: wireParts(user.parts), ...(isObject(metadata) && { metadata }) };
      await client.updateMessage(chatId, user.id, patch, { returnMinimal: true });
    }
    await this.#deleteRepliesAfter(user.id);
  }

  /**
   * Deletes the replies stored right after the message `id`, up to the next user message: a
   * turn another device added meanwhile is kept. Only the newest page is read (a regenerate
   * replaces the last turn); a message not on it has nothing after it to delete.
   */
  async #deleteRepliesAfter(id: string): Promise<void> {
    const { client, chatId } = this.#options;
    const view = await client.getConversation(chatId, { limit: REPLACED_PAGE });
    if (view.notModified) return;
    const stored = view.data.messages;
    const at = stored.findIndex((message) => message.id === id);
    if (at === -1) return;
    for (const message of stored.slice(at + 1)) {
      if (message.type === "user") return;
      try {
        await client.deleteMessage(chatId, message.id);
      } catch (error) {
        // Deleted meanwhile (another request replaced it too): what was wanted.
        if (!(error instanceof ChatStoreError && error.code === "not_found")) throw error;
      }
    }
  }

  /**
   * The assistant message the request ends with, when the reply continues it (after a tool
   * approval or a client-side tool's output, the SDK streams on into the same message).
   */
  #continued(): UIMessage | undefined {
    const last = this.#options.messages.at(-1);
    return last?.role === "assistant" ? last : undefined;
  }

  async #appendReply(): Promise<void> {
    const metadata = this.#latest?.metadata;
    this.#lastSentAt = this.#now();
    const continued = this.#continued();
    if (continued !== undefined && continued.id === this.#messageId) {
      await this.#reopen(continued);
      return;
    }
    await this.#options.client.appendMessage(this.#options.chatId, {
      id: this.#messageId,
      type: "assistant",
      content: "",
      parts: [],
      streaming: true,
      timestamp: new Date(this.#now()),
      ...(isObject(metadata) && { metadata }),
    });
  }

  /**
   * Streams on into a stored reply: its parts as the browser sent them (an approval answered,
   * a tool's output added) and `streaming: true`, so appends are taken again. A reply the store
   * does not have is appended whole.
   */
  async #reopen(message: UIMessage): Promise<void> {
    const { client, chatId } = this.#options;
    const patch: PartsPatch = { parts: wireParts(message.parts), streaming: true };
    try {
      await client.updateMessage(chatId, message.id, patch, { returnMinimal: true });
    } catch (error) {
      if (!(error instanceof ChatStoreError && error.code === "not_found")) throw error;
      await client.appendMessage(chatId, { ...fromUIMessage(message), streaming: true });
    }
    this.#held = message.parts.map((part) => ({ json: JSON.stringify(part) }));
    // Reopened with its parts whole, the reply is a new stream to the store: numbered from 1.
    this.#sequence = 0;
  }

  /** Waits for the reply to change, or `ms`, whichever comes first. */
  async #idle(ms: number): Promise<void> {
    const timer = new AbortController();
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    await Promise.race([woken, this.#sleep(ms, timer.signal).catch(() => undefined)]);
    timer.abort();
    this.#wake = undefined;
  }

  /** Sends one PATCH until it is answered; the same bytes each time. */
  async #deliver(pending: Pending): Promise<void> {
    const { client, chatId } = this.#options;
    for (let failures = 0; ; ) {
      this.#lastSentAt = this.#now();
      try {
        await client.updateMessage(chatId, this.#messageId, pending.patch, {
          returnMinimal: true,
          // Retries are decided here, so that a 429 or a lost answer resends this very PATCH.
          retry: false,
          idempotencyKey: pending.idempotencyKey,
        });
        this.#held = pending.held;
        this.#sequence = pending.sequence;
        return;
      } catch (error) {
        if (!(error instanceof ChatStoreError)) throw error;
                if (error.code === "message_finished") {
          this.#stoppedElsewhere();
          throw new Stopped();
        }
        if (!error.retryable || failures >= DEFAULT_RETRY.retries) {
          if (!pending.closing) await this.#interrupt();
          throw error;
        }
        failures++;
        await this.#sleep(backoffMs(DEFAULT_RETRY, failures - 1, error.retryAfter, Math.random()));
      }
    }
  }

  #stoppedElsewhere(): void {
    this.#options.abortController?.abort(new Error("The reply was stopped from another device."));
    this.#options.onStopped?.();
  }

  /** After a refusal: the reply is marked interrupted, so no device waits on it. */
  async #interrupt(): Promise<void> {
    const patch: PartsPatch = { streaming: false, interrupted: true };
    await this.#options.client.updateMessage(this.#options.chatId, this.#messageId, patch, { returnMinimal: true }).catch(
      () => undefined,
    );
  }
}

/**
 * The changes as the API's types spell them: the one place the SDK's parts take the API's
 * part types, which hold each part to its kind as the SDK does (shared/ui_parts.py).
 */
function wirePartChanges(changes: PartChange[]): NonNullable<MessagePatch["partChanges"]> {
  return changes as NonNullable<MessagePatch["partChanges"]>;
}

function wireParts(parts: UIMessage["parts"]): NonNullable<MessagePatch["parts"]> {
  return parts as NonNullable<MessagePatch["parts"]>;
}

/** The fields of the PATCH that ends a reply. */
function closingFields(ending: Ending): PartsPatch {
  if (ending.interrupted) return { streaming: false, interrupted: true };
  const metadata = ending.metadata;
  if (!isObject(metadata)) return { streaming: false };
  const tokens = tokensOf(metadata);
  return { streaming: false, metadata, ...(tokens !== undefined && { tokens }) };
}

function isObject(value: unknown): value is NonNullable<MessagePatch["metadata"]> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Ends a transform's output, which may have ended already. */
function closeQuietly(controller: TransformStreamDefaultController<UIMessageChunk>): void {
  try {
    controller.terminate();
  } catch {
    // Already closed: nothing more to let go.
  }
}
