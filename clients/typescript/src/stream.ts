/**
 * Streaming an assistant's reply into a conversation while it is generated (docs/api.md, "Calling it
 * from the frontend", "Streaming a reply"): append the message with `streaming: true`, send the
 * text in numbered deltas batched by time, finish it with `{streaming: false, tokens}`.
 *
 * The generator (an LLM SDK's stream) and the network run at their own pace: text is read from
 * the source as fast as it comes (so the UI never waits on the API) and piles up until the next
 * delta may go. At most one request is in flight, so deltas arrive in order and a slow or
 * rate-limited API only makes the deltas bigger, never more numerous.
 */
import type { ChatStoreClient } from "./client.js";
import { ChatStoreError } from "./errors.js";
import { randomId } from "./ids.js";
import { DEFAULT_RETRY, backoffMs } from "./retry.js";
import { abortableSleep } from "./transport.js";
import type { Sleep } from "./transport.js";
import type { MessageInput, MessagePatch } from "./types.js";

type ToolExecution = NonNullable<MessagePatch["toolExecutions"]>[number];
type TokenUsage = NonNullable<MessagePatch["tokens"]>;

/**
 * The default time between two deltas of one reply, in milliseconds.
 *
 * Each delta is one HTTP request, and 5 billed Upstash commands (`make bench`, BENCHMARKS.md).
 * The stream budget (`rateLimits.streamedUpdates` in `GET /api/limits`) is 1,500 deltas a minute
 * per user, 25 a second. At 250 ms a reply sends at most 4 deltas a second: 20 commands a second,
 * 1,200 a minute per streaming reply, and six replies streaming at once still fit the budget. A
 * reply of 10 s is then about 40 deltas (200 commands) instead of one request per token, and
 * another device polling once a second still sees it grow four steps at a time.
 */
export const DEFAULT_FLUSH_INTERVAL_MS = 250;

/**
 * The default longest delta, in UTF-16 code units. Text that piled up during a long 429 goes
 * in one delta up to this size; a JSON-escaped code unit is at most 6 bytes, so a delta stays
 * under 200 kB, far below the API's 4 MiB `maxBodyBytes`.
 */
export const DEFAULT_MAX_DELTA_CHARS = 32_768;

/**
 * The API's default `streamingStaleSeconds`: a reply still marked streaming this long after its
 * last update reads as interrupted. Used until the client holds the server's own value
 * (`client.knownLimits`, from `GET /api/limits`).
 */
export const DEFAULT_STREAMING_STALE_SECONDS = 15;

/**
 * The longest a writer stays silent: after this long without a delta (a model thinking, a slow
 * tool), it sends an empty one (`{appendContent: ""}`: no text, no sequence, safe to resend)
 * so the reply does not read as stale. At most a third of the stale limit, so two lost beats in
 * a row still do not make a live reply look dead. One such beat is one request and 5 commands,
 * only while the model is silent: at 5 s, 12 a minute.
 */
export const DEFAULT_HEARTBEAT_MS = 5_000;

/** The stale limit the client knows, in milliseconds: the server's, else the default. */
export function streamingStaleMs(client: Pick<ChatStoreClient, "knownLimits">): number {
  return (client.knownLimits?.streamingStaleSeconds ?? DEFAULT_STREAMING_STALE_SECONDS) * 1_000;
}

/** A tool call shown under the reply; each event replaces the one with the same `id`. */
export type ReplyToolEvent = { type: "tool" } & ToolExecution;

/**
 * What a reply's source yields besides plain strings (a string is `{type: "text"}`): text, a
 * tool call's state, or the token usage (the last one is sent with the finish).
 */
export type ReplyEvent =
  | { type: "text"; text: string }
  | ReplyToolEvent
  | { type: "usage"; tokens: TokenUsage };

/** Options of {@link streamReply}. */
export interface StreamReplyOptions {
  /** The client to send with. */
  client: ChatStoreClient;
  /** The conversation the reply belongs to (created by the append when absent). */
  conversationId: string;
  /** The reply: its id (chosen by the app), time (default now) and type (default `assistant`). */
  message: { id: string; timestamp?: Date | string; type?: MessageInput["type"] };
  /** The generator's output: strings or {@link ReplyEvent}s. */
  source: AsyncIterable<string | ReplyEvent>;
  /** Least time between two deltas; see {@link DEFAULT_FLUSH_INTERVAL_MS}. */
  flushIntervalMs?: number;
  /** Longest delta; see {@link DEFAULT_MAX_DELTA_CHARS}. */
  maxDeltaChars?: number;
  /**
   * Longest silence before an empty delta keeps the reply alive; see
   * {@link DEFAULT_HEARTBEAT_MS}. Default: that, or a third of the server's stale limit when
   * the client knows a shorter one.
   */
  heartbeatMs?: number;
  /** Stops reading the source; the reply is finished with what was received. */
  signal?: AbortSignal;
  /** Told each chunk as it is read, with the whole text so far: what the UI shows. */
  onText?: (content: string, chunk: string) => void;
  /**
   * Told the whole reply so far (text, each tool call's last state, tokens) after each item
   * of the source that changed it: what a UI that also shows tool steps renders.
   */
  onUpdate?: (reply: ReadReply) => void;
  /** Injectable for tests: the clock the interval and `Retry-After` are measured on. */
  now?: () => number;
  /** Injectable for tests: the wait before the next delta. */
  sleep?: Sleep;
  /** Injectable for tests: jitter of the backoff after an unanswered delta, in [0, 1). */
  random?: () => number;
}

/** The reply is stored and finished. */
export interface DeliveredReply {
  delivered: true;
  /** The whole text. */
  content: string;
  /** How many numbered deltas carried it (the last `sequence`). */
  deltas: number;
  /** Every tool call, in the order first seen, each as last reported. */
  toolExecutions: ToolExecution[];
  /** The last `usage` event's counts, sent with the finish. */
  tokens?: TokenUsage;
  /** The conversation's `ETag` after the finish: the `If-Match` of the next guarded write. */
  etag?: string;
}

/**
 * The API stopped answering (no answer, timeout or 502-504, after retries): the stored reply may be
 * short of text or still marked streaming (the API shows it `interrupted` after
 * `streamingStaleSeconds`). Everything the source produced is here, so the caller can queue the
 * final message (e.g. `updateMessage(id, mid, {content, streaming: false, ...})` later).
 */
export interface UndeliveredReply {
  delivered: false;
  content: string;
  toolExecutions: ToolExecution[];
  tokens?: TokenUsage;
  /** The last failure. */
  error: ChatStoreError;
}

/** What {@link streamReply} resolves with. */
export type StreamReplyResult = DeliveredReply | UndeliveredReply;

/**
 * Streams a reply from `source` into the conversation and finishes it.
 *
 * Requests: one `POST .../messages` (the reply, `streaming: true`, empty content), then
 * `PATCH .../messages/{id}` deltas `{appendContent, sequence}` (1, 2, 3, ...) with
 * `Prefer: return=minimal`, at most one in flight and one per `flushIntervalMs`, tool events
 * folded into the next delta's `toolExecutions`; the last one also carries
 * `{streaming: false, tokens}`, so finishing costs no request of its own.
 *
 * - 429: no wait inside the request; the text piles up until `Retry-After` has passed and then
 *   goes in one delta.
 * - No answer, timeout or 502-504: the delta may have been applied, so the same delta (same
 *   `sequence`, same text) is sent again after a backoff; newer text waits for the next one.
 *   After {@link DEFAULT_RETRY}`.retries` such retries the API counts as unreachable: the source
 *   is still read to its end and the promise resolves with {@link UndeliveredReply}.
 * - 409 `sequence_gap`: sends again from `lastSequence + 1`, all of that text in one delta.
 * - Another refusal (4xx: the conversation was deleted, the message finished elsewhere):
 *   stops reading the source and rejects with the {@link ChatStoreError}.
 * - An abort (`signal`) or a source that throws: the reply is finished with what was read, so
 *   it never spins forever on other devices, and the promise rejects with that error.
 * - A source silent for `heartbeatMs` (5 s): an empty delta `{appendContent: ""}` tells the API
 *   the writer is still there, so other devices do not see the reply go stale.
 *
 * @example
 * ```ts
 * const result = await streamReply({
 *   client, conversationId, message: { id: replyId },
 *   source: llmTextStream, onText: (text) => setReply(text),
 * });
 * if (!result.delivered) queueFinalMessage(result);
 * ```
 */
export async function streamReply(options: StreamReplyOptions): Promise<StreamReplyResult> {
  return new ReplyStream(options).run();
}

/** One PATCH, kept whole so that an unanswered one is sent again byte for byte. */
interface Delta {
  patch: MessagePatch;
  /** Where its text starts in the content, and its sequence (when it carries text). */
  from: number;
  text: string;
  sequence: number;
  /** The tool states it carries, to know which are still unsent after it. */
  tools: ReadonlyMap<string, ToolExecution>;
  closing: boolean;
  idempotencyKey: string | false;
}

const STOPPED = Symbol("stopped");

/** Gives up after this many 409 `sequence_gap` in a row: the API and the client disagree. */
const MAX_GAPS = 3;

class ReplyStream {
  readonly #options: StreamReplyOptions;
  readonly #interval: number;
  readonly #maxDeltaChars: number;
  readonly #heartbeat: number;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  /** Aborted by the caller's signal or by a refusal: stops reading the source. */
  readonly #stop = new AbortController();

  readonly #reply: ReplyParts = { content: "", tools: new Map() };
  /** How much of the content the API has (as far as answers said). */
  #sent = 0;
  /** The last delta applied, and where each applied delta started (for `sequence_gap`). */
  #sequence = 0;
  readonly #starts: number[] = [];
  readonly #unsentTools = new Map<string, ToolExecution>();

  #sourceDone = false;
  #finished = false;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #notBefore = Number.NEGATIVE_INFINITY;
  /** A delta sent without an answer: sent again as it is. */
  #resend: Delta | undefined;
  #failures = 0;
  #gaps = 0;
  #unreachable: ChatStoreError | undefined;
  #etag: string | undefined;
  #refusal: { error: unknown } | undefined;
  #wake: (() => void) | undefined;

  constructor(options: StreamReplyOptions) {
    this.#options = options;
    this.#interval = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#maxDeltaChars = options.maxDeltaChars ?? DEFAULT_MAX_DELTA_CHARS;
    this.#heartbeat = options.heartbeatMs ?? Math.min(DEFAULT_HEARTBEAT_MS, streamingStaleMs(options.client) / 3);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
  }

  async run(): Promise<StreamReplyResult> {
    const { signal } = this.#options;
    const onAbort = (): void => this.#stop.abort();
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const sending = this.#sendAll();
    let failure: { error: unknown } | undefined;
    try {
      await this.#read();
    } catch (error) {
      failure = { error };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    this.#sourceDone = true;
    this.#poke();
    await sending;
    if (failure) throw failure.error;
    if (this.#refusal) throw this.#refusal.error;
    const reply = finishedReply(this.#reply);
    if (this.#unreachable) return { delivered: false, ...reply, error: this.#unreachable };
    const etag = this.#etag === undefined ? {} : { etag: this.#etag };
    return { delivered: true, ...reply, deltas: this.#sequence, ...etag };
  }

  /** Reads the source to its end, or until stopped; a caller's abort rejects with its reason. */
  async #read(): Promise<void> {
    const iterator = this.#options.source[Symbol.asyncIterator]();
    for (;;) {
      const step = await unlessStopped(iterator.next(), this.#stop.signal);
      if (step === STOPPED) {
        // Not awaited: a generator suspended in its own await only returns once that settles.
        Promise.resolve(iterator.return?.()).catch(() => undefined);
        if (this.#options.signal?.aborted) throw this.#options.signal.reason;
        return;
      }
      if (step.done) return;
      this.#take(step.value);
    }
  }

  #take(item: string | ReplyEvent): void {
    const taken = takeItem(this.#reply, item, this.#options);
    if (typeof taken === "object") this.#unsentTools.set(taken.id, taken);
    this.#poke();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The sending side: the append, then one delta at a time until the closing one. */
  async #sendAll(): Promise<void> {
    try {
      if (!(await this.#append())) return;
      while (!this.#finished && this.#unreachable === undefined) {
        const final = this.#sourceDone;
        const news = this.#reply.content.length > this.#sent || this.#unsentTools.size > 0;
        if (!final && this.#resend === undefined && !news) {
          const silent = this.#lastSentAt + this.#heartbeat - this.#now();
          if (silent <= 0 && this.#notBefore <= this.#now()) await this.#deliver(heartbeat());
          else await this.#idle(Math.max(silent, this.#notBefore - this.#now()));
          continue;
        }
        // The closing delta does not wait out the interval (the reply is done; one request
        // early does not strain the budget), but does wait out a 429 or a backoff.
        const due = final ? this.#notBefore : Math.max(this.#lastSentAt + this.#interval, this.#notBefore);
        const wait = due - this.#now();
        if (wait > 0) {
          await this.#sleep(wait);
          continue;
        }
        await this.#deliver(this.#resend ?? this.#nextDelta(final));
      }
    } catch (error) {
      this.#refusal = { error };
      this.#stop.abort();
    }
  }

  /** Waits for the source to bring something, or `ms`, whichever comes first. */
  async #idle(ms: number): Promise<void> {
    const timer = new AbortController();
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    await Promise.race([woken, this.#sleep(ms, timer.signal).catch(() => undefined)]);
    timer.abort();
    this.#wake = undefined;
  }

  /** Appends the empty reply; false when the API is unreachable. */
  async #append(): Promise<boolean> {
    const { client, conversationId, message } = this.#options;
    this.#lastSentAt = this.#now();
    try {
      await client.appendMessage(conversationId, {
        id: message.id,
        type: message.type ?? "assistant",
        content: "",
        streaming: true,
        timestamp: message.timestamp ?? new Date(this.#now()),
      });
      return true;
    } catch (error) {
      // The transport already retried it; 429 after its retries is as good as unreachable.
      if (error instanceof ChatStoreError && error.retryable) {
        this.#unreachable = error;
        return false;
      }
      throw error;
    }
  }

  #nextDelta(final: boolean): Delta {
    const text = cutAt(this.#reply.content.slice(this.#sent), this.#maxDeltaChars);
    const closing = final && this.#sent + text.length === this.#reply.content.length;
    const patch: MessagePatch = {};
    const sequence = text ? this.#sequence + 1 : this.#sequence;
    if (text) {
      patch.appendContent = text;
      patch.sequence = sequence;
    }
    if (this.#unsentTools.size > 0) patch.toolExecutions = [...this.#unsentTools.values()];
    if (closing) {
      patch.streaming = false;
      if (this.#reply.tokens !== undefined) patch.tokens = this.#reply.tokens;
    }
    // A numbered delta alone is made safe to resend by its sequence, and the API keeps no
    // answer for it: an Idempotency-Key would only add bytes. Anything else needs one.
    const numberedOnly = text !== "" && patch.toolExecutions === undefined && !closing;
    return {
      patch,
      from: this.#sent,
      text,
      sequence,
      tools: new Map(this.#unsentTools),
      closing,
      idempotencyKey: numberedOnly ? false : randomId(),
    };
  }

  async #deliver(delta: Delta): Promise<void> {
    const { client, conversationId, message } = this.#options;
    this.#lastSentAt = this.#now();
    let answer: { etag: string | undefined };
    try {
      answer = await client.updateMessage(conversationId, message.id, delta.patch, {
        returnMinimal: true,
        // Retries are decided here: a 429 must not hold the next text back behind a wait, and
        // a resent delta must carry exactly the text of the first attempt.
        retry: false,
        idempotencyKey: delta.idempotencyKey,
      });
    } catch (error) {
      this.#failed(delta, error);
      return;
    }
    this.#resend = undefined;
    this.#failures = 0;
    this.#gaps = 0;
    if (delta.text) {
      this.#starts[delta.sequence] = delta.from;
      this.#sequence = delta.sequence;
      this.#sent = delta.from + delta.text.length;
    }
    for (const [id, tool] of delta.tools) {
      // Only if no newer state of the tool came while the delta was in flight.
      if (this.#unsentTools.get(id) === tool) this.#unsentTools.delete(id);
    }
    if (delta.closing) {
      this.#finished = true;
      this.#etag = answer.etag;
    }
  }

  #failed(delta: Delta, error: unknown): void {
    if (!(error instanceof ChatStoreError)) throw error;
    const now = this.#now();
    if (error.status === 429) {
      // Refused before anything was written: a fresh delta is rebuilt with the text that
      // piled up meanwhile; a resend stays as it was (its first attempt may have landed).
      this.#notBefore = now + (error.retryAfter ?? 1) * 1000;
      return;
    }
    if (error.code === "sequence_gap" && error.lastSequence !== undefined && ++this.#gaps <= MAX_GAPS) {
      const last = error.lastSequence;
      const from = last < this.#sequence ? this.#starts[last + 1] : last === this.#sequence ? this.#sent : undefined;
      if (from === undefined) throw error;
      this.#sequence = last;
      this.#sent = from;
      this.#resend = undefined;
      return;
    }
    if (error.retryable) {
      this.#resend = delta;
      this.#failures++;
      if (this.#failures > DEFAULT_RETRY.retries) {
        this.#unreachable = error;
        return;
      }
      this.#notBefore = now + backoffMs(DEFAULT_RETRY, this.#failures - 1, error.retryAfter, this.#random());
      return;
    }
    throw error;
  }
}

/** The empty delta a silent writer sends: it moves the message's update time, nothing else. */
function heartbeat(): Delta {
  return { patch: { appendContent: "" }, from: 0, text: "", sequence: 0, tools: new Map(), closing: false, idempotencyKey: false };
}

/** A reply as read from its source so far. */
interface ReplyParts {
  content: string;
  /** Each tool call's last state, in the order first seen. */
  tools: Map<string, ToolExecution>;
  tokens?: TokenUsage;
}

/**
 * Folds one item of a reply's source into `reply`; returns the tool state it carried (for the
 * streamer to send), or nothing.
 */
function takeItem(
  reply: ReplyParts,
  item: string | ReplyEvent,
  { onText, onUpdate }: Pick<StreamReplyOptions, "onText" | "onUpdate">,
): ToolExecution | undefined {
  const text = typeof item === "string" ? item : item.type === "text" ? item.text : undefined;
  let tool: ToolExecution | undefined;
  if (text !== undefined) {
    if (text === "") return undefined;
    reply.content += text;
    onText?.(reply.content, text);
  } else if (typeof item !== "string" && item.type === "usage") {
    reply.tokens = item.tokens;
  } else if (typeof item !== "string" && item.type === "tool") {
    const { type: _type, ...state } = item;
    tool = state;
    reply.tools.set(tool.id, tool);
  }
  onUpdate?.(finishedReply(reply));
  return tool;
}

function finishedReply(reply: ReplyParts): ReadReply {
  const toolExecutions = [...reply.tools.values()];
  return reply.tokens === undefined
    ? { content: reply.content, toolExecutions }
    : { content: reply.content, toolExecutions, tokens: reply.tokens };
}

/** What {@link readReply} gives back: the whole reply, as {@link streamReply} would have stored it. */
export type ReadReply = Omit<DeliveredReply, "delivered" | "deltas" | "etag">;

/**
 * Reads a reply's source to its end without sending anything: what an app does while the API
 * is unreachable, to show the reply (`onText`, `onUpdate`) and store it whole later. An abort (`signal`)
 * ends it early with what was read.
 */
export async function readReply(
  options: Pick<StreamReplyOptions, "source" | "signal" | "onText" | "onUpdate">,
): Promise<ReadReply> {
  const reply: ReplyParts = { content: "", tools: new Map() };
  for await (const item of options.source) {
    takeItem(reply, item, options);
    if (options.signal?.aborted) break;
  }
  return finishedReply(reply);
}

/** `text` cut to at most `max` code units, never between the halves of a surrogate pair. */
function cutAt(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** `promise`'s value, or {@link STOPPED} as soon as `signal` aborts. */
function unlessStopped<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof STOPPED> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.resolve(STOPPED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(STOPPED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
