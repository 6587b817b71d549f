/**
 * `ChatStoreTransport`: `useChat`'s transport when the chat-store holds the chat. Sending goes to
 * the app's route (which stores the reply with `persistReply` as it streams); resuming reads the
 * reply from the store and follows it by polling, so a reload or another device picks up a reply
 * still being written, without pub/sub or a resumable-stream server. Given the page's push
 * channel, it reads the reply when a push says it grew rather than polling it.
 */
import { DefaultChatTransport } from "ai";
import type { ChatRequestOptions, ChatTransport, HttpChatTransportInitOptions, UIMessage, UIMessageChunk } from "ai";

import type { ChatStoreClient } from "../client.js";
import { ChatStoreError } from "../errors.js";
import { PushInbox } from "../push.js";
import type { PushChannel } from "../push.js";
import { DEFAULT_RETRY, backoffMs } from "../retry.js";
import { abortableSleep } from "../transport.js";
import type { Sleep, TokenProvider } from "../transport.js";
import type { MessageTail } from "../types.js";
import type { StoredMessage } from "./messages.js";
import type { UIPart } from "./part-changes.js";
import { PartsReplay } from "./replay.js";

/** The first wait between two polls of a reply, in ms. */
export const DEFAULT_POLL_INTERVAL_MS = 300;
/** The longest wait between two polls while the reply does not change, in ms. */
export const DEFAULT_MAX_POLL_INTERVAL_MS = 2_000;
/**
 * With the push channel open, the longest wait without a push before the reply is read anyway,
 * in ms: how a reply whose writer went away (pushed by nobody) is still seen to end.
 */
export const DEFAULT_SAFETY_POLL_INTERVAL_MS = 5_000;

/** Options of {@link ChatStoreTransport}: `DefaultChatTransport`'s, and the store's. */
export interface ChatStoreTransportOptions<UI_MESSAGE extends UIMessage>
  extends Omit<HttpChatTransportInitOptions<UI_MESSAGE>, "prepareReconnectToStreamRequest"> {
  /** The app's client of the chat-store: replies are resumed from it. */
  client: ChatStoreClient;
  /**
   * The provider the client was built with (`ChatStoreClientOptions.getToken`): its token is
   * sent to the route as `Authorization: Bearer`, so the route acts for the same user
   * ({@link bearerTokenOf}). Leave it out when the route finds the user another way.
   */
  getToken?: TokenProvider;
  /** The first wait between two polls of a streaming reply, in ms. Default 300. */
  pollIntervalMs?: number;
  /** The longest wait, reached by backing off while the reply does not change. Default 2,000. */
  maxPollIntervalMs?: number;
  /**
   * The page's push channel (`PushChannel`, started by the app, shared with its sync engine).
   * While it is open, a resumed reply is read (with `If-None-Match`) when a push says it grew,
   * and otherwise only every `safetyPollIntervalMs`; while it is closed, it is polled as without
   * one, and read once more when the channel opens again.
   */
  push?: PushChannel;
  /** With `push` open, the longest wait without a push before the reply is read. Default 5,000. */
  safetyPollIntervalMs?: number;
  /** Injectable for tests: the wait between polls. */
  sleep?: Sleep;
}

/**
 * A `ChatTransport` over the chat-store.
 *
 * - `sendMessages`: `DefaultChatTransport`'s POST to the app's route (`api`, default
 *   `/api/chat`), with the store's bearer token.
 * - `reconnectToStream({chatId})`: when the conversation's last message is an assistant reply
 *   still streaming, a stream that replays it from its `start` (its id and metadata) and then
 *   follows it by polling the message (`If-None-Match`, every `pollIntervalMs`, backing off to
 *   `maxPollIntervalMs` while it does not change), until it ends: a `finish` with its final
 *   metadata. A reply stopped or interrupted ends the same way, its partial parts shown as stored.
 *   Otherwise `null`. With `push` open, the message is read on each of its pushes instead (and
 *   every `safetyPollIntervalMs` without one), not every `pollIntervalMs`.
 *
 * The replay is whole ({@link resumeStreamIsReplay} is `true`): `useChat` starts the reply
 * afresh at its `start` chunk and, its id being the stored reply's, puts it in place of the copy
 * `loadChat` gave (`messages`). So loading the chat with the streaming reply and resuming shows
 * one reply, never two, and a chat loaded without it (or before it began) gets it appended.
 *
 * @example
 * ```ts
 * const transport = useMemo(() => new ChatStoreTransport({ client, getToken }), [client]);
 * const chat = useChat({ id: chatId, messages: await loadChat(client, chatId), transport, resume: true });
 * ```
 */
export class ChatStoreTransport<UI_MESSAGE extends UIMessage = UIMessage> implements ChatTransport<UI_MESSAGE> {
  /** Resumed replies start from their beginning: the SDK resets the reply at their `start`. */
  readonly resumeStreamIsReplay = true;
  readonly #client: ChatStoreClient;
  readonly #getToken: TokenProvider | undefined;
  readonly #http: DefaultChatTransport<UI_MESSAGE>;
  readonly #pollInterval: number;
  readonly #maxPollInterval: number;
  readonly #push: PushChannel | undefined;
  readonly #safetyPollInterval: number;
  readonly #sleep: Sleep;

  constructor(options: ChatStoreTransportOptions<UI_MESSAGE>) {
    const { client, getToken, pollIntervalMs, maxPollIntervalMs, push, safetyPollIntervalMs, sleep, ...http } = options;
    this.#client = client;
    this.#getToken = getToken;
    this.#http = new DefaultChatTransport<UI_MESSAGE>(http);
    this.#pollInterval = pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#maxPollInterval = maxPollIntervalMs ?? DEFAULT_MAX_POLL_INTERVAL_MS;
    this.#push = push;
    this.#safetyPollInterval = safetyPollIntervalMs ?? DEFAULT_SAFETY_POLL_INTERVAL_MS;
    this.#sleep = sleep ?? abortableSleep;
  }

  /** Posts the messages to the app's route, as `DefaultChatTransport` does, with the store's token. */
  async sendMessages(
    options: Parameters<ChatTransport<UI_MESSAGE>["sendMessages"]>[0],
  ): Promise<ReadableStream<UIMessageChunk>> {
    const token = await this.#getToken?.();
    if (!token) return this.#http.sendMessages(options);
    const headers = new Headers(options.headers);
    headers.set("Authorization", `Bearer ${token}`);
    return this.#http.sendMessages({ ...options, headers: Object.fromEntries(headers) });
  }

  /** The reply still streaming in the conversation, replayed and followed; `null` when there is none. */
  async reconnectToStream(
    options: { chatId: string; abortSignal?: AbortSignal } & ChatRequestOptions,
  ): Promise<ReadableStream<UIMessageChunk> | null> {
    const { chatId, abortSignal } = options;
    const reply = await streamingReply(this.#client, chatId, abortSignal);
    if (reply === undefined) return null;
    return this.#follow(chatId, reply, abortSignal);
  }

  #follow(chatId: string, reply: StoredMessage, abortSignal: AbortSignal | undefined): ReadableStream<UIMessageChunk> {
    const client = this.#client;
    const replay = new PartsReplay();
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    abortSignal?.addEventListener("abort", onAbort, { once: true });
    const pollInterval = this.#pollInterval;
    let interval = pollInterval;
    const maxInterval = this.#maxPollInterval;
    const sleep = this.#sleep;
    const safetyInterval = this.#safetyPollInterval;
    // Held from the start, so a push that comes while the stream waits for its reader is kept.
    const inbox = this.#push ? new PushInbox(this.#push, chatId, reply.id) : undefined;
    let etag: string | undefined;
    // Content is read from where the last answer ended: parts come whole anyway.
    let after = reply.content.length;
    let metadata = JSON.stringify(reply.metadata ?? null);
    let failures = 0;
    let first = true;
    return new ReadableStream<UIMessageChunk>({
      start(controller) {
        controller.enqueue({ type: "start", messageId: reply.id, ...(reply.metadata && { messageMetadata: reply.metadata }) });
        for (const chunk of replay.chunks(partsOf(reply))) controller.enqueue(chunk);
      },
      async pull(controller) {
        // One poll per pull: the stream asks again once its reader took what was sent.
        for (;;) {
          if (stop.signal.aborted) return close(controller);
          if (!first) {
            if (inbox) {
              // Open: a push (or the safety interval) says when to read; closed: the poll's
              // interval, cut short when the channel opens again (pushes were missed meanwhile).
              const going = await inbox.wait(inbox.open ? safetyInterval : interval, sleep, stop.signal);
              if (!going) return close(controller);
              inbox.take();
            } else {
              try {
                await sleep(interval, stop.signal);
              } catch {
                return close(controller);
              }
            }
          }
          first = false;
          let answer: Awaited<ReturnType<ChatStoreClient["getMessage"]>>;
          try {
            answer = await client.getMessage(chatId, reply.id, { after }, { ifNoneMatch: etag, signal: stop.signal });
          } catch (error) {
            if (stop.signal.aborted) return close(controller);
            // Deleted meanwhile: the reply ends as far as it came.
            if (error instanceof ChatStoreError && error.code === "not_found") return finish(controller, undefined);
            if (error instanceof ChatStoreError && error.retryable && failures < DEFAULT_RETRY.retries) {
              interval = Math.min(maxInterval, backoffMs(DEFAULT_RETRY, failures++, error.retryAfter, Math.random()));
              continue;
            }
            abortSignal?.removeEventListener("abort", onAbort);
            inbox?.close();
            throw error;
          }
          failures = 0;
          if (answer.notModified) {
            interval = Math.min(maxInterval, Math.round(interval * 1.5));
            continue;
          }
          etag = answer.etag;
          after = answer.data.length;
          interval = pollInterval;
          const tail: MessageTail = answer.data;
          const chunks = replay.chunks((tail.parts ?? []) as UIPart[]);
          const newMetadata = JSON.stringify(tail.metadata ?? null);
          for (const chunk of chunks) controller.enqueue(chunk);
          if (tail.streaming !== true || tail.interrupted === true) return finish(controller, tail.metadata);
          if (newMetadata !== metadata && tail.metadata !== undefined) {
            controller.enqueue({ type: "message-metadata", messageMetadata: tail.metadata });
          }
          metadata = newMetadata;
          if (chunks.length > 0) return;
        }
      },
      cancel() {
        stop.abort();
        abortSignal?.removeEventListener("abort", onAbort);
        inbox?.close();
      },
    });

    function finish(controller: ReadableStreamDefaultController<UIMessageChunk>, metadata: MessageTail["metadata"]): void {
      controller.enqueue({ type: "finish", ...(metadata !== undefined && { messageMetadata: metadata }) });
      close(controller);
    }

    function close(controller: ReadableStreamDefaultController<UIMessageChunk>): void {
      abortSignal?.removeEventListener("abort", onAbort);
      inbox?.close();
      controller.close();
    }
  }
}

/** The conversation's last message when it is an assistant reply still streaming. */
async function streamingReply(
  client: ChatStoreClient,
  chatId: string,
  signal: AbortSignal | undefined,
): Promise<StoredMessage | undefined> {
  try {
    const answer = await client.getConversation(chatId, { limit: 1 }, { signal });
    if (answer.notModified) return undefined;
    const last = answer.data.messages.at(-1);
    if (last?.type !== "assistant" || last.streaming !== true || last.interrupted === true) return undefined;
    return last;
  } catch (error) {
    if (error instanceof ChatStoreError && error.code === "not_found") return undefined;
    throw error;
  }
}

function partsOf(message: StoredMessage): UIPart[] {
  return (message.parts ?? []) as UIPart[];
}

/**
 * Ends the reply for every device: `{streaming: false, interrupted: true}`. The route storing it
 * learns it from its next PATCH (409 `message_finished`) and stops the model; devices following
 * it see it end, its partial parts kept.
 *
 * @example
 * ```ts
 * <button onClick={() => { chat.stop(); void stopReply(client, chatId, lastMessage.id); }}>Stop</button>
 * ```
 */
export async function stopReply(client: ChatStoreClient, chatId: string, messageId: string): Promise<void> {
  await client.updateMessage(chatId, messageId, { streaming: false, interrupted: true }, { returnMinimal: true });
}

/**
 * The bearer token of a request to the app's route (`Authorization: Bearer <token>`, as
 * {@link ChatStoreTransport} sends it), to build the route's client for the same user:
 * `new ChatStoreClient({ baseUrl, getToken: () => bearerTokenOf(req) })`.
 */
export function bearerTokenOf(request: Request): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.get("Authorization") ?? "");
  return match?.[1];
}
