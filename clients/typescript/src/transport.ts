/**
 * The one place that talks HTTP: headers, timeouts, retries, the sync token, problem+json.
 * {@link ChatStoreClient} decides *what* to send; this sends it. Higher layers (a remote
 * conversation store, a sync engine, a reply streamer) share one transport through the client,
 * so they share its sync token and its retry policy.
 */
import { ChatStoreError, isProblem } from "./errors.js";
import { Emitter } from "./events.js";
import { randomId } from "./ids.js";
import { DEFAULT_RETRY, backoffMs, isRetryableStatus, isUnavailableStatus, parseRetryAfter } from "./retry.js";
import type { RetryPolicy } from "./retry.js";

/** Header names the API reads or writes, spelled once. */
export const HEADERS = {
  authorization: "Authorization",
  idempotencyKey: "Idempotency-Key",
  requestId: "X-Request-Id",
  syncToken: "Upstash-Sync-Token",
  connectionId: "X-Connection-Id",
  ifMatch: "If-Match",
  ifNoneMatch: "If-None-Match",
  prefer: "Prefer",
  etag: "ETag",
  retryAfter: "Retry-After",
} as const;

/**
 * Returns the bearer token for the next request, or nothing to send none. Called before every
 * attempt, so a provider that refreshes an expiring token is asked again on a retry.
 */
export type TokenProvider = () =>
  | string
  | null
  | undefined
  | Promise<string | null | undefined>;

/** A `fetch` the client can call: the platform's, or a test's fake. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Waits `ms`, or rejects when `signal` aborts first. Injectable so tests need no real time. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Options of the client's transport, shared by every call. */
export interface TransportOptions {
  /** The API's origin (and any prefix before `/api`), e.g. `https://chat-api.example.com`. */
  baseUrl: string;
  /** The bearer token's source; see {@link TokenProvider}. */
  getToken?: TokenProvider;
  /** `fetch` to use; default `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Milliseconds one attempt may take, answer body included. Default 15,000. */
  timeoutMs?: number;
  /** Overrides of {@link DEFAULT_RETRY}. */
  retry?: Partial<RetryPolicy>;
  /** A sync token to start from (one kept from a previous page load). */
  syncToken?: string;
  /** Told every new `Upstash-Sync-Token`, e.g. to keep it in sessionStorage. */
  onSyncToken?: (token: string) => void;
  /** Headers sent with every request (they never override the client's own). */
  headers?: Record<string, string>;
  /** Injectable for tests: the wait between retries. */
  sleep?: Sleep;
  /** Injectable for tests: jitter in [0, 1). */
  random?: () => number;
  /** Injectable for tests: the clock an HTTP-date `Retry-After` is read against. */
  now?: () => number;
  /** Injectable for tests: idempotency keys and request ids. */
  generateId?: () => string;
}

/** Per-call options every method takes. */
export interface CallOptions {
  /** Cancels the call (and any wait between its retries). */
  signal?: AbortSignal;
  /** This call's timeout per attempt, in milliseconds. */
  timeoutMs?: number;
  /** This call's retry policy, or `false` for one attempt only. */
  retry?: Partial<RetryPolicy> | false;
  /** The call's `X-Request-Id` (default: a new UUID, the same for every retry of the call). */
  requestId?: string;
}

/** Per-call options of writes (`POST`, `PUT`, `PATCH`, `DELETE`). */
export interface WriteOptions extends CallOptions {
  /**
   * The `Idempotency-Key`. Default: a new UUID per call, reused by each retry of it, so a
   * retried write is applied once. Pass your own to retry across page loads; `false` sends
   * none.
   */
  idempotencyKey?: string | false;
}

/** A request as the client describes it. */
export interface RequestSpec {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path from the base URL, ids already encoded. */
  path: string;
  query?: Record<string, string | number | boolean | null | undefined> | undefined;
  body?: unknown;
  /** False for the calls that need no token, so a token provider may itself call them. */
  auth: boolean;
  headers?: Record<string, string | undefined>;
  /** Statuses to hand back as answers rather than throw (health's 503). */
  accept?: readonly number[];
  options?: WriteOptions | undefined;
}

/** An answer the client turns into a result. */
export interface RawResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for 204, 304 and empty bodies. */
  body: unknown;
  requestId: string;
}

/**
 * What one attempt of a request said about the API: whether it was reachable. Told to
 * {@link Transport}'s `reachability` listeners after every attempt (each retry is one), so
 * every layer built on one client (stores, sync engine, reply streamer, the app's own calls)
 * learns what any of them found.
 *
 * The rule is the circuit breaker's (`isUnreachable`), applied to one attempt:
 * - **Reachable** (`reachable: true`): an answer with any other status: a 2xx, a 304, a
 *   4xx (429 included: the API is there, only busy), a 500.
 * - **Unreachable** (`reachable: false`): no answer (`status` 0, `code` `network_error` or
 *   `timeout`, a body that stalled included), or 502, 503 or 504 (the API's store or
 *   identity provider is down, or the gateway in front of it got nothing from the function;
 *   see `isUnavailableStatus`).
 * - **Not told**: an attempt the caller aborted says nothing about the API.
 */
export interface Reachability {
  /** See the rule above. */
  reachable: boolean;
  /** The answer's HTTP status; 0 when no answer came. */
  status: number;
  /** Why no answer came; absent when one did. */
  code?: "network_error" | "timeout";
  method: RequestSpec["method"];
  /** The request's path from the base URL, without the query. */
  path: string;
  /** The call's `X-Request-Id` (the same for each of its retries). */
  requestId: string;
  /** The answer's `Retry-After`, in seconds, when it carried one (a 429, a 503). */
  retryAfter?: number;
}

/** Events of {@link Transport}. */
export interface TransportEvents {
  /** After every attempt that was not aborted; see {@link Reachability}. */
  reachability: Reachability;
}

const WRITES: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const DEFAULT_TIMEOUT_MS = 15_000;

/** Sends requests for {@link ChatStoreClient}; see the module's comment. */
export class Transport {
  readonly #baseUrl: string;
  readonly #getToken: TokenProvider | undefined;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #headers: Record<string, string>;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #generateId: () => string;
  readonly #onSyncToken: ((token: string) => void) | undefined;
  readonly #events = new Emitter<TransportEvents>();
  #syncToken: string | undefined;

  constructor(options: TransportOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#getToken = options.getToken;
    // Called through a closure: browsers throw "Illegal invocation" when `window.fetch` is
    // called detached from `window`.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#headers = { ...options.headers };
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#generateId = options.generateId ?? randomId;
    this.#onSyncToken = options.onSyncToken;
    this.#syncToken = options.syncToken;
  }

  /** The last `Upstash-Sync-Token` an answer carried; sent with the next request. */
  get syncToken(): string | undefined {
    return this.#syncToken;
  }

  set syncToken(token: string | undefined) {
    this.#syncToken = token;
  }

  /**
   * This device's push connection (a `PushChannel` built with this client sets it while its
   * socket is open): sent with every write as `X-Connection-Id`, so the server pushes the write
   * to the user's other connections and not back to the device that made it.
   */
  connectionId: string | undefined;

  /**
   * Calls `listener` after every attempt with what it said about the API's reachability (see
   * {@link Reachability} for the rule), until the returned function is called. Every layer
   * built on this transport's client sees every layer's requests. With no listener, nothing
   * is done per attempt.
   *
   * @example
   * ```ts
   * const off = client.transport.on("reachability", ({ reachable }) => setOnline(reachable));
   * ```
   */
  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Sends `spec`, retrying 429, 502-504 and unanswered attempts by the policy; resolves with a 2xx
   * or 304 answer (or one in `spec.accept`), rejects with {@link ChatStoreError}.
   */
  async send(spec: RequestSpec): Promise<RawResponse> {
    const options = spec.options ?? {};
    const policy: RetryPolicy =
      options.retry === false
        ? { ...this.#retry, retries: 0 }
        : { ...this.#retry, ...options.retry };
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    // One id and one key for the whole call: its retries are the same request, and the API
    // answers a retried key with the first answer instead of writing again.
    const requestId = options.requestId ?? this.#generateId();
    const idempotencyKey =
      WRITES.has(spec.method) && options.idempotencyKey !== false
        ? (options.idempotencyKey ?? this.#generateId())
        : undefined;
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const url = this.#url(spec.path, spec.query);

    for (let retry = 0; ; retry++) {
      // Rebuilt per attempt: the token may have been refreshed, the sync token moved on.
      const headers = await this.#requestHeaders(spec, requestId, idempotencyKey, body);
      const outcome = await this.#attempt(url, spec.method, headers, body, timeoutMs, options.signal, requestId);
      this.#tell(spec, requestId, outcome);
      let error: ChatStoreError;
      if (outcome instanceof ChatStoreError) {
        error = outcome;
        if (error.code === "aborted" || !policy.retryOnNoAnswer) throw error;
      } else {
        this.#keepSyncToken(outcome.headers);
        if (isSuccess(outcome.status) || spec.accept?.includes(outcome.status)) {
          return this.#parse(outcome, requestId);
        }
        error = this.#toError(outcome, requestId);
        if (!isRetryableStatus(outcome.status)) throw error;
      }
      if (retry >= policy.retries) throw error;
      if (error.retryAfter !== undefined && error.retryAfter * 1000 > policy.maxRetryAfterMs) {
        throw error;
      }
      try {
        await this.#sleep(backoffMs(policy, retry, error.retryAfter, this.#random()), options.signal);
      } catch (cause) {
        throw abortedError(requestId, cause);
      }
    }
  }

  #url(path: string, query: RequestSpec["query"]): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.#baseUrl}${path}${search ? `?${search}` : ""}`;
  }

  async #requestHeaders(
    spec: RequestSpec,
    requestId: string,
    idempotencyKey: string | undefined,
    body: string | undefined,
  ): Promise<Headers> {
    const headers = new Headers(this.#headers);
    headers.set("Accept", "application/json, application/problem+json");
    headers.set(HEADERS.requestId, requestId);
    if (body !== undefined) headers.set("Content-Type", "application/json");
    if (idempotencyKey !== undefined) headers.set(HEADERS.idempotencyKey, idempotencyKey);
    if (this.#syncToken !== undefined) headers.set(HEADERS.syncToken, this.#syncToken);
    // Writes only: a read has nothing to push, and its CORS preflight stays the one it was.
    if (this.connectionId !== undefined && WRITES.has(spec.method)) headers.set(HEADERS.connectionId, this.connectionId);
    for (const [name, value] of Object.entries(spec.headers ?? {})) {
      if (value !== undefined) headers.set(name, value);
    }
    if (spec.auth) {
      const token = await this.token();
      if (token) headers.set(HEADERS.authorization, `Bearer ${token}`);
    }
    return headers;
  }

  /**
   * The bearer token a request would send now, from the provider the client was built with
   * (asked afresh each call, so an expiring one is refreshed); undefined with none. The push
   * channel authenticates with it.
   */
  async token(): Promise<string | undefined> {
    return (await this.#getToken?.()) ?? undefined;
  }

  async #attempt(
    url: string,
    method: string,
    headers: Headers,
    body: string | undefined,
    timeoutMs: number,
    outer: AbortSignal | undefined,
    requestId: string,
  ): Promise<{ status: number; headers: Headers; text: string } | ChatStoreError> {
    if (outer?.aborted) return abortedError(requestId, outer.reason);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = (): void => controller.abort();
    outer?.addEventListener("abort", onAbort, { once: true });
    try {
      const init: RequestInit = { method, headers, signal: controller.signal };
      if (body !== undefined) init.body = body;
      const response = await this.#fetch(url, init);
      // Read inside the timeout: a body that stalls is as unanswered as a request that does.
      const text = await response.text();
      return { status: response.status, headers: response.headers, text };
    } catch (cause) {
      if (timedOut) {
        return new ChatStoreError({
          status: 0,
          code: "timeout",
          detail: `no answer within ${timeoutMs} ms`,
          requestId,
          cause,
        });
      }
      if (outer?.aborted) return abortedError(requestId, cause);
      return new ChatStoreError({
        status: 0,
        code: "network_error",
        detail: cause instanceof Error ? cause.message : String(cause),
        requestId,
        cause,
      });
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    }
  }

  /** Tells the `reachability` listeners what an attempt found (nothing for an abort). */
  #tell(spec: RequestSpec, requestId: string, outcome: { status: number; headers: Headers } | ChatStoreError): void {
    if (this.#events.listenerCount("reachability") === 0) return;
    let reachability: Reachability;
    if (outcome instanceof ChatStoreError) {
      const code = outcome.code === "timeout" ? "timeout" : outcome.code === "network_error" ? "network_error" : undefined;
      if (code === undefined) return; // aborted by the caller
      reachability = { reachable: false, status: 0, code, method: spec.method, path: spec.path, requestId };
    } else {
      reachability = { reachable: !isUnavailableStatus(outcome.status), status: outcome.status, method: spec.method, path: spec.path, requestId };
      const retryAfter = parseRetryAfter(outcome.headers.get(HEADERS.retryAfter), this.#now());
      if (retryAfter !== undefined) reachability.retryAfter = retryAfter;
    }
    this.#events.emit("reachability", reachability);
  }

  #keepSyncToken(headers: Headers): void {
    const token = headers.get(HEADERS.syncToken);
    if (token && token !== this.#syncToken) {
      this.#syncToken = token;
      this.#onSyncToken?.(token);
    }
  }

  #parse(outcome: { status: number; headers: Headers; text: string }, requestId: string): RawResponse {
    const answeredId = outcome.headers.get(HEADERS.requestId) ?? requestId;
    let body: unknown;
    if (outcome.text !== "") {
      try {
        body = JSON.parse(outcome.text);
      } catch (cause) {
        throw new ChatStoreError({
          status: outcome.status,
          code: "invalid_response",
          detail: `the answer (${outcome.status}) is not JSON`,
          requestId: answeredId,
          cause,
        });
      }
    }
    return { status: outcome.status, headers: outcome.headers, body, requestId: answeredId };
  }

  #toError(outcome: { status: number; headers: Headers; text: string }, requestId: string): ChatStoreError {
    const answeredId = outcome.headers.get(HEADERS.requestId) ?? requestId;
    const retryAfter = parseRetryAfter(outcome.headers.get(HEADERS.retryAfter), this.#now());
    const etag = outcome.headers.get(HEADERS.etag) ?? undefined;
    let body: unknown;
    try {
      body = JSON.parse(outcome.text);
    } catch {
      body = undefined;
    }
    if (isProblem(body)) {
      return new ChatStoreError({
        status: outcome.status,
        code: body.code,
        detail: body.detail,
        title: body.title,
        type: body.type,
        problem: body,
        requestId: answeredId,
        retryAfter,
        etag,
      });
    }
    // Not problem+json: a gateway or proxy in between answered (API Gateway's own 404 is
    // `{"message":"Not Found"}`).
    return new ChatStoreError({
      status: outcome.status,
      code: "invalid_response",
      detail: `HTTP ${outcome.status}: ${outcome.text.slice(0, 200)}`,
      requestId: answeredId,
      retryAfter,
      etag,
    });
  }
}

function isSuccess(status: number): boolean {
  return (status >= 200 && status < 300) || status === 304;
}

function abortedError(requestId: string, cause: unknown): ChatStoreError {
  return new ChatStoreError({ status: 0, code: "aborted", detail: "the call was aborted", requestId, cause });
}

/** The default {@link Sleep}: a timer that an abort cuts short. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
