/**
 * The push channel (docs/sync.md, "Pushes"): one WebSocket to the API's `/ws` over which the
 * server tells this device of the user's writes on other devices as they commit, so the sync
 * engine and a followed reply need no polling while it is open.
 *
 * The channel only carries the news: a push names what changed and its version, and the change
 * feed (`GET /api/changes`) stays the source of truth. A device that misses pushes (the socket
 * was down, or a version jumps past the one it holds) catches up through the feed, so a change
 * is neither lost nor applied twice.
 */
import type { ChatStoreClient } from "./client.js";
import { Emitter } from "./events.js";
import { abortableSleep } from "./transport.js";
import type { Sleep, TokenProvider } from "./transport.js";

/** How often an open channel pings: under API Gateway's 10-minute idle limit, with room to spare. */
export const DEFAULT_PING_INTERVAL_MS = 5 * 60_000;
/** How long a ping waits for any frame back before the socket is taken for dead. */
export const DEFAULT_PONG_TIMEOUT_MS = 30_000;
/** The first wait before reconnecting, in ms (jittered down to half of it). */
export const DEFAULT_RECONNECT_BASE_MS = 1_000;
/** The longest wait between two attempts to reconnect, in ms. */
export const DEFAULT_RECONNECT_MAX_MS = 30_000;
/** The most conversations one connection may watch (the server's limit). */
export const MAX_WATCHED = 10;

/** The subprotocol the server accepts a connection with. */
const SUBPROTOCOL = "chat-store";
/** Close code for a socket this client gave up on (no answer to a ping). */
const CLOSE_NO_PONG = 4000;
/** A token that can travel as a subprotocol: RFC 7230 `token` characters only (a JWT's are). */
const SUBPROTOCOL_SAFE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A conversation was created, changed, deleted, archived or unarchived on another device. */
export interface ConversationPush {
  type: "conversation";
  conversationId: string;
  /** The conversation's version after the write. */
  version: number;
  change: "created" | "changed" | "deleted" | "archived" | "unarchived";
}

/** A message was appended, changed or deleted on another device. */
export interface MessagePush {
  type: "message";
  conversationId: string;
  messageId: string;
  /** The conversation's version after the write. */
  version: number;
  change: "appended" | "changed" | "deleted";
}

/**
 * A reply streamed on another device grew: sent only to connections watching its conversation,
 * at most one per conversation per 250 ms (a skipped delta's text rides on the next one).
 */
export interface DeltaPush {
  type: "delta";
  conversationId: string;
  messageId: string;
  /** The conversation's version after the write. */
  version: number;
  /** The UTF-16 offset `text` starts at: where the previous push for this reply ended. */
  offset: number;
  /** The reply's content from `offset` to its end, as of this push. */
  text: string;
  /** False on the push that ends the reply (always sent). */
  streaming: boolean;
  /** The reply has UIMessage parts: `text` is not all of it; read the message for them. */
  parts?: true;
}

/** One push: a JSON text frame the server sends after a committed write. */
export type PushEvent = ConversationPush | MessagePush | DeltaPush;

/** Where a channel stands: a socket opening, open, or down (waiting to reconnect, or stopped). */
export type PushState = "connecting" | "open" | "closed";

/** The events of {@link PushChannel} and their payloads. */
export interface PushChannelEvents {
  /**
   * The socket is open and its watch set sent. `reconnected`: an earlier socket of this
   * channel was open before, so pushes may have been missed in between: catch up on the feed.
   */
  open: { reconnected: boolean };
  /**
   * The socket closed, or an attempt to open one failed. `retryInMs`: when the next attempt
   * goes; undefined once stopped.
   */
  closed: { code: number; reason: string; retryInMs: number | undefined };
  /** A push from the server. */
  push: PushEvent;
  /** The server confirmed the conversations this connection watches. */
  watching: { conversationIds: string[] };
  /** A frame the client could not read, an `error` frame, or a token provider that threw. */
  error: { error: unknown };
}

/** The part of a WebSocket the channel uses: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or one injected (tests, Node 20). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of {@link PushChannel}. */
export interface PushChannelOptions {
  /**
   * The WebSocket API's URL: `wss://<id>.execute-api.<region>.amazonaws.com/<stage>` deployed,
   * `ws://127.0.0.1:8000/ws` with `make dev` ({@link pushUrl} derives the local one).
   */
  url: string;
  /**
   * The client whose token provider authenticates the socket (asked at every connect, so a
   * refreshed token is taken on reconnect). Give it or `getToken`.
   */
  client?: ChatStoreClient;
  /** The token provider, when there is no client to take it from. */
  getToken?: TokenProvider;
  /**
   * The WebSocket constructor; default `globalThis.WebSocket` (browsers, Node 22; Node 20 only
   * with `--experimental-websocket`, else pass the `ws` package's).
   */
  WebSocket?: WebSocketConstructor;
  /** Time between two pings of an open socket. Default 5 minutes. */
  pingIntervalMs?: number;
  /** How long a ping waits for any frame before the socket is dropped. Default 30 s. */
  pongTimeoutMs?: number;
  /** First wait before reconnecting; each failed attempt doubles it. Default 1,000 ms. */
  reconnectBaseMs?: number;
  /** The cap on that wait. Default 30,000 ms. */
  reconnectMaxMs?: number;
  /** Injectable for tests: the waits (pings, reconnects). */
  sleep?: Sleep;
  /** Injectable for tests: jitter in [0, 1). */
  random?: () => number;
}

/**
 * The WebSocket URL of the local dev server serving the API at `baseUrl`:
 * `http://127.0.0.1:8000` → `ws://127.0.0.1:8000/ws`. Deployed, the WebSocket API has its own
 * host (API Gateway's); give that URL as it is.
 */
export function pushUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/ws`;
  return url.toString();
}

/**
 * The wait before reconnect attempt `attempt` (0 first): `base * 2^attempt` capped at `max`,
 * then jittered into its upper half, so devices a server dropped at once do not all come back
 * in the same instant, and none waits less than half of it.
 */
export function reconnectDelayMs(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/**
 * A WebSocket to the API that stays open: it authenticates with the client's token, pings
 * every `pingIntervalMs`, reconnects with jittered, capped backoff when it closes, re-sends its
 * watch set on every new socket, and emits each push as a typed event.
 *
 * One channel serves a whole page: give it to the store's sync engine (`sync: {push}`) and to
 * `ChatStoreTransport` (`push`); each takes and releases its own watches ({@link watch}).
 *
 * @example
 * ```ts
 * const push = new PushChannel({ url: process.env.NEXT_PUBLIC_CHAT_STORE_WS!, client });
 * push.start();
 * const store = new HybridConversationStore(client, { storage: localStorage, sync: { push } });
 * ```
 */
export class PushChannel extends Emitter<PushChannelEvents> {
  readonly #url: string;
  readonly #getToken: () => Promise<string | null | undefined>;
  readonly #client: ChatStoreClient | undefined;
  #connectionId: string | undefined;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly #pingIntervalMs: number;
  readonly #pongTimeoutMs: number;
  readonly #reconnectBaseMs: number;
  readonly #reconnectMaxMs: number;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  #state: PushState = "closed";
  #running: AbortController | undefined;
  #socket: WebSocketLike | undefined;
  /** Ends the current socket's wait from outside (stop, a ping unanswered). */
  #drop: ((code: number, reason: string) => void) | undefined;
  /** Conversations watched, one entry per holder, oldest first. */
  readonly #holders: string[] = [];
  /** The watch set last sent on the current socket (a JSON array), to send only changes. */
  #sent: string | undefined;
  #sendQueued = false;
  /** Frames received on the current socket: a ping is answered when this moves. */
  #frames = 0;

  constructor(options: PushChannelOptions) {
    super();
    this.#url = options.url;
    const { client, getToken } = options;
    this.#client = client;
    this.#getToken = async () => (getToken ? await getToken() : await client?.transport.token());
    this.#WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.#pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.#pongTimeoutMs = options.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS;
    this.#reconnectBaseMs = options.reconnectBaseMs ?? DEFAULT_RECONNECT_BASE_MS;
    this.#reconnectMaxMs = options.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
  }

  /** Where the channel stands now. */
  get state(): PushState {
    return this.#state;
  }

  /** True while the socket is open: pushes arrive, and the sync engine does not poll. */
  get open(): boolean {
    return this.#state === "open";
  }

  /** Whether {@link start} was called and {@link stop} not since. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /**
   * The open socket's connection id, once the server named it (in its answer to a ping or a
   * watch). Built with `client`, the channel hands it to the client, which sends it with its
   * writes (`X-Connection-Id`): the server then pushes them to the user's other devices only.
   */
  get connectionId(): string | undefined {
    return this.#connectionId;
  }

  /** The conversations this channel asks to watch: the newest {@link MAX_WATCHED} taken. */
  get watching(): string[] {
    const ids: string[] = [];
    for (let i = this.#holders.length - 1; i >= 0 && ids.length < MAX_WATCHED; i--) {
      const id = this.#holders[i]!;
      if (!ids.includes(id)) ids.push(id);
    }
    return ids.reverse();
  }

  /**
   * Opens the socket, and keeps one open until {@link stop}: a socket that closes is replaced
   * after a wait that doubles with each failed attempt (jittered, up to `reconnectMaxMs`) and
   * starts over once one opens. Calling it while running does nothing.
   *
   * @throws TypeError when there is no WebSocket to open (Node 20 without
   * `--experimental-websocket` and no `WebSocket` option).
   */
  start(): void {
    if (this.#running) return;
    if (this.#WebSocket === undefined) {
      throw new TypeError("PushChannel: no WebSocket here; pass the `WebSocket` option (e.g. the `ws` package's)");
    }
    const running = new AbortController();
    this.#running = running;
    void this.#run(this.#WebSocket, running.signal);
  }

  /** Closes the socket and stops reconnecting. Watches are kept for the next start. */
  stop(): void {
    const running = this.#running;
    if (!running) return;
    this.#running = undefined;
    running.abort();
    this.#drop?.(1000, "stopped");
  }

  /**
   * Asks the server for the delta pushes of `conversationId` (a reply streaming in it) while
   * the returned function has not been called. Each holder takes its own watch, so the sync
   * engine and a transport following a reply can share one channel; the socket watches the
   * newest {@link MAX_WATCHED} conversations taken, and is told again on every reconnect.
   */
  watch(conversationId: string): () => void {
    this.#holders.push(conversationId);
    this.#queueWatch();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const at = this.#holders.lastIndexOf(conversationId);
      if (at >= 0) this.#holders.splice(at, 1);
      this.#queueWatch();
    };
  }

  async #run(WebSocket: WebSocketConstructor, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    let everOpen = false;
    while (!signal.aborted) {
      this.#setState("connecting");
      let ended: { code: number; reason: string; opened: boolean };
      try {
        const token = await this.#getToken();
        if (signal.aborted) break;
        ended = token
          ? await this.#connect(WebSocket, token, signal, everOpen)
          : { code: 4401, reason: "no token", opened: false };
      } catch (error) {
        this.emit("error", { error });
        ended = { code: 1006, reason: "could not connect", opened: false };
      }
      if (ended.opened) {
        everOpen = true;
        attempt = 0; // the server was there: the next drop (its 2-hour limit, a deploy) retries soon
      }
      this.#setState("closed");
      if (signal.aborted) {
        this.emit("closed", { code: ended.code, reason: ended.reason, retryInMs: undefined });
        return;
      }
      const delay = reconnectDelayMs(attempt++, this.#reconnectBaseMs, this.#reconnectMaxMs, this.#random());
      this.emit("closed", { code: ended.code, reason: ended.reason, retryInMs: delay });
      try {
        await this.#sleep(delay, signal);
      } catch {
        return; // stopped while waiting: `closed` was told already
      }
    }
    if (this.#state !== "closed") {
      this.#setState("closed");
      this.emit("closed", { code: 1000, reason: "stopped", retryInMs: undefined });
    }
  }

  /** One socket, from opening to closing: resolves when it is gone. */
  #connect(
    WebSocket: WebSocketConstructor,
    token: string,
    signal: AbortSignal,
    reconnected: boolean,
  ): Promise<{ code: number; reason: string; opened: boolean }> {
    return new Promise((resolve) => {
      // The token goes as a subprotocol where it can: it stays out of URLs, and so out of logs.
      const safe = SUBPROTOCOL_SAFE.test(token);
      const url = safe ? this.#url : withToken(this.#url, token);
      const socket = new WebSocket(url, safe ? [SUBPROTOCOL, `bearer.${token}`] : [SUBPROTOCOL]);
      const alive = new AbortController();
      let opened = false;
      const end = (code: number, reason: string, closeSocket: boolean): void => {
        if (alive.signal.aborted) return;
        alive.abort();
        socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
        if (closeSocket) {
          try {
            socket.close(code === CLOSE_NO_PONG ? CLOSE_NO_PONG : 1000, reason);
          } catch {
            // Already closing: nothing more to do.
          }
        }
        if (this.#socket === socket) {
          this.#socket = undefined;
          this.#drop = undefined;
          this.#setConnectionId(undefined);
        }
        resolve({ code, reason, opened });
      };
      this.#socket = socket;
      this.#drop = (code, reason) => end(code, reason, true);
      if (signal.aborted) return end(1000, "stopped", true);
      socket.onopen = () => {
        opened = true;
        this.#frames = 0;
        this.#sent = undefined;
        this.#setState("open");
        // The first frame asks the server to name the connection (it answers with its id).
        if (!this.#sendWatch()) socket.send(JSON.stringify({ type: "ping" }));
        void this.#ping(socket, alive.signal);
        this.emit("open", { reconnected });
      };
      socket.onmessage = (event) => {
        this.#frames++;
        this.#receive(event.data);
      };
      // A failed socket fires `error` then `close`: the close says when it is over.
      socket.onerror = () => undefined;
      socket.onclose = (event) => end(event.code, event.reason, false);
    });
  }

  /** Pings every `pingIntervalMs`; a ping nothing answers within `pongTimeoutMs` drops the socket. */
  async #ping(socket: WebSocketLike, alive: AbortSignal): Promise<void> {
    // The wait for the answer is part of the interval, so pings keep their cadence.
    const waited = Math.min(this.#pongTimeoutMs, this.#pingIntervalMs / 2);
    let first = true;
    for (;;) {
      try {
        await this.#sleep(first ? this.#pingIntervalMs : this.#pingIntervalMs - waited, alive);
        first = false;
        const before = this.#frames;
        socket.send(JSON.stringify({ type: "ping" }));
        await this.#sleep(waited, alive);
        // A half-open socket (a laptop that slept, a network that changed) says nothing; its
        // close handshake could hang as long, so the channel lets it go without waiting.
        if (this.#frames === before && this.#socket === socket) this.#drop?.(CLOSE_NO_PONG, "no pong");
      } catch {
        return; // the socket is gone
      }
    }
  }

  #receive(data: unknown): void {
    let frame: unknown;
    try {
      frame = JSON.parse(typeof data === "string" ? data : String(data));
    } catch (error) {
      this.emit("error", { error });
      return;
    }
    const push = readPush(frame);
    if (push !== undefined) {
      this.emit("push", push);
      return;
    }
    const type = (frame as { type?: unknown } | null)?.type;
    const connectionId = (frame as { connectionId?: unknown } | null)?.connectionId;
    if ((type === "pong" || type === "watching") && typeof connectionId === "string") this.#setConnectionId(connectionId);
    if (type === "pong") return;
    if (type === "watching") {
      const ids = (frame as { conversationIds?: unknown }).conversationIds;
      this.emit("watching", { conversationIds: Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [] });
      return;
    }
    // An `error` frame (the server could not read ours) or a frame this client does not know.
    this.emit("error", { error: new Error(`push channel: unexpected frame ${JSON.stringify(frame).slice(0, 200)}`) });
  }

  /** Sends the watch set once this task is done: a release and a take in one go send one frame. */
  #queueWatch(): void {
    if (this.#sendQueued) return;
    this.#sendQueued = true;
    queueMicrotask(() => {
      this.#sendQueued = false;
      this.#sendWatch();
    });
  }

  /** Sends the watch set when it changed on this socket; true when it did. */
  #sendWatch(): boolean {
    if (this.#state !== "open" || this.#socket === undefined) return false;
    const ids = this.watching;
    const frame = JSON.stringify([...ids].sort()); // a set: the same ids in another order are no change
    // A new socket watches nothing: an empty set need not be said.
    if (frame === (this.#sent ?? "[]")) return false;
    this.#sent = frame;
    this.#socket.send(JSON.stringify({ type: "watch", conversationIds: ids }));
    return true;
  }

  #setConnectionId(id: string | undefined): void {
    const previous = this.#connectionId;
    this.#connectionId = id;
    const transport = this.#client?.transport;
    // Cleared only when it is still this channel's: another channel of the client may own it now.
    if (transport && (id !== undefined || transport.connectionId === previous)) transport.connectionId = id;
  }

  #setState(state: PushState): void {
    this.#state = state;
  }
}

/** `url` with `?token=`: for a token whose characters a subprotocol cannot carry. */
function withToken(url: string, token: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("token", token);
  return parsed.toString();
}

/** The push a frame is, when it is one (with the fields its type needs); else undefined. */
function readPush(frame: unknown): PushEvent | undefined {
  if (typeof frame !== "object" || frame === null) return undefined;
  const f = frame as Record<string, unknown>;
  if (typeof f.conversationId !== "string" || typeof f.version !== "number") return undefined;
  switch (f.type) {
    case "conversation":
      return typeof f.change === "string" ? (f as unknown as ConversationPush) : undefined;
    case "message":
      return typeof f.messageId === "string" && typeof f.change === "string" ? (f as unknown as MessagePush) : undefined;
    case "delta":
      return typeof f.messageId === "string" &&
        typeof f.offset === "number" &&
        typeof f.text === "string" &&
        typeof f.streaming === "boolean"
        ? (f as unknown as DeltaPush)
        : undefined;
    default:
      return undefined;
  }
}

/**
 * The pushes one follower waits for, kept until taken, and a wait that ends early when one
 * arrives or the channel opens or closes: what the sync engine and the AI SDK transport follow
 * a reply with. It holds a watch on the conversation while open.
 */
export class PushInbox {
  readonly #channel: PushChannel;
  readonly #pushes: DeltaPush[] = [];
  #nudged = false;
  #wake: (() => void) | undefined;
  readonly #unsubscribe: (() => void)[];

  /** Collects the deltas and message pushes of `messageId` in `conversationId`. */
  constructor(channel: PushChannel, conversationId: string, messageId: string) {
    this.#channel = channel;
    const nudge = (): void => {
      this.#nudged = true;
      this.#wake?.();
    };
    this.#unsubscribe = [
      channel.watch(conversationId),
      channel.on("push", (push) => {
        if (push.conversationId !== conversationId || push.type === "conversation") return;
        if (push.messageId !== messageId) return;
        if (push.type === "delta") this.#pushes.push(push);
        nudge();
      }),
      channel.on("open", nudge),
      channel.on("closed", nudge),
    ];
  }

  /** Whether the channel is open now: pushes will tell of the reply. */
  get open(): boolean {
    return this.#channel.open;
  }

  /**
   * Waits `ms`, or less: until a push for the message arrives, or the channel opens or closes,
   * unless one already did since the last {@link take}. Resolves `false` when `signal` aborted.
   */
  async wait(ms: number, sleep: Sleep, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return false;
    if (this.#nudged) return true;
    const woken = new AbortController();
    const onAbort = (): void => woken.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#wake = () => woken.abort();
    try {
      await sleep(ms, woken.signal);
    } catch {
      // Woken early, or aborted: told apart below.
    } finally {
      this.#wake = undefined;
      signal?.removeEventListener("abort", onAbort);
    }
    return !signal?.aborted;
  }

  /** The deltas received since the last take, oldest first; a wait after it waits again. */
  take(): DeltaPush[] {
    this.#nudged = false;
    return this.#pushes.splice(0);
  }

  /** Stops collecting and releases the watch. */
  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#wake?.();
  }
}
