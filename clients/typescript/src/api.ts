/**
 * A typed `fetch` for the API, keyed by path and method, in the shape of openapi-fetch:
 * `api.GET("/api/conversations/{id}", { params: { path: { id }, query: { limit: 20 } } })`.
 * Every type comes from the generated `paths` (src/generated/api.ts, from openapi.json): which
 * paths take which method, their path and query parameters, the headers they declare, the
 * body they take and the bodies they answer, so nothing is written by hand to drift. A path
 * that declares a 304 answers a {@link ConditionalResponse}; the others an {@link ApiResponse}.
 *
 * It holds no policy of its own: {@link Transport} sends each call (token, idempotency key,
 * request id, timeout, retries, sync token, reachability, problem+json errors). This builds the
 * request from the typed parameters and types the answer, dates revived.
 */
import { reviveDates } from "./dates.js";
import type { Dated, DatedInput } from "./dates.js";
import type { paths } from "./generated/api.js";
import { HEADERS } from "./transport.js";
import type { RawResponse, RequestSpec, Transport, WriteOptions } from "./transport.js";
import type { ApiResponse, ConditionalResponse } from "./types.js";

/** The methods the API's paths use, as `paths` spells them. */
export type HttpMethod = "get" | "put" | "post" | "patch" | "delete";

/** The paths that have an operation for `M`. */
export type PathsWithMethod<M extends HttpMethod> = {
  [P in keyof paths]: paths[P] extends Record<M, object> ? P : never;
}[keyof paths];

/** The operation at `P` for `M`. */
export type OperationAt<P extends keyof paths, M extends HttpMethod> = paths[P] extends Record<M, infer O> ? O : never;

/** The statuses an answer is a success with. */
type SuccessStatus = 200 | 201 | 202 | 203 | 204 | 206;

/** Headers the transport sets itself on every request: not the caller's to give. */
type TransportHeader = "Idempotency-Key" | "Upstash-Sync-Token" | "X-Request-Id" | "Authorization";

type Parameters<O> = O extends { parameters: infer Q } ? Q : never;

/** `path` is required where the path has parameters; `query` where one of its fields is. */
type ParamsOf<O> = (Parameters<O> extends { path: infer P } ? { path: P } : { path?: never }) &
  (Parameters<O> extends { query: infer Q }
    ? { query: Q }
    : { query?: Exclude<Parameters<O> extends { query?: infer Q } ? Q : never, undefined> });

/** The JSON body operation `O` takes, dates as `Date | string`; never when it takes none. */
export type BodyOf<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? DatedInput<B>
  : O extends { requestBody?: { content: { "application/json": infer B } } }
    ? DatedInput<B> | undefined
    : never;

/** The headers operation `O` declares, but those the transport sets. */
export type HeadersOf<O> = Parameters<O> extends { header?: infer H }
  ? { [K in Exclude<keyof NonNullable<H>, TransportHeader>]?: NonNullable<H>[K] | undefined }
  : never;

/** The body of operation `O`'s answer with status `S`; undefined for an answer with none. */
type AnswerAt<O, S> = O extends { responses: infer R }
  ? S extends keyof R
    ? R[S] extends { content: { "application/json": infer B } }
      ? B
      : undefined
    : never
  : never;

/** The statuses operation `O` declares. */
type StatusesOf<O> = O extends { responses: infer R } ? keyof R : never;

/** What `O` answers with a success status, or with one of `A` (handed back, not thrown). */
export type DataOf<O, A extends number = never> = {
  [S in StatusesOf<O>]: S extends SuccessStatus | A ? AnswerAt<O, S> : never;
}[StatusesOf<O>];

/** An answer of `O`: conditional (a 304 is {@link NotModified}) where `O` declares a 304. */
export type FetchResult<O, A extends number = never> = 304 extends StatusesOf<O>
  ? ConditionalResponse<Dated<DataOf<O, A>>>
  : ApiResponse<Dated<DataOf<O, A>>>;

/** Everything one call takes: its parameters, headers and body, and the transport's options. */
export type FetchInit<O, A extends number = never> = WriteOptions & {
  /** `path` and `query` parameters, typed by the operation. */
  params?: ParamsOf<O>;
  /** The operation's own headers (conditional requests, `Prefer`). */
  headers?: HeadersOf<O>;
  /** The JSON body. */
  body?: BodyOf<O>;
  /** False for the calls that need no token, so a token provider may itself call them. */
  auth?: boolean;
  /** Error statuses to hand back as answers rather than throw (health's 503). */
  accept?: readonly A[];
} & (Parameters<O> extends { path: object } | { query: object } ? { params: ParamsOf<O> } : unknown) &
  (O extends { requestBody: object } ? { body: BodyOf<O> } : unknown);

/** The init is optional when nothing in it is required. */
type InitArgs<O, A extends number> = object extends FetchInit<O, A> ? [init?: FetchInit<O, A>] : [init: FetchInit<O, A>];

/**
 * The typed calls; see the module's comment. `ChatStoreClient.api` is one over the client's
 * transport, for an operation the client has no method for yet, or to send exactly what a
 * method would not.
 *
 * @example
 * ```ts
 * const answer = await client.api.GET("/api/conversations/{id}", {
 *   params: { path: { id }, query: { limit: 20 } },
 *   headers: { "If-None-Match": etag },
 * });
 * if (!answer.notModified) show(answer.data.messages);
 * ```
 */
export class ApiFetch {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  GET<P extends PathsWithMethod<"get">, A extends number = never>(
    path: P,
    ...init: InitArgs<OperationAt<P, "get">, A>
  ): Promise<FetchResult<OperationAt<P, "get">, A>> {
    return this.#call("GET", path, init[0]);
  }

  PUT<P extends PathsWithMethod<"put">, A extends number = never>(
    path: P,
    ...init: InitArgs<OperationAt<P, "put">, A>
  ): Promise<FetchResult<OperationAt<P, "put">, A>> {
    return this.#call("PUT", path, init[0]);
  }

  POST<P extends PathsWithMethod<"post">, A extends number = never>(
    path: P,
    ...init: InitArgs<OperationAt<P, "post">, A>
  ): Promise<FetchResult<OperationAt<P, "post">, A>> {
    return this.#call("POST", path, init[0]);
  }

  PATCH<P extends PathsWithMethod<"patch">, A extends number = never>(
    path: P,
    ...init: InitArgs<OperationAt<P, "patch">, A>
  ): Promise<FetchResult<OperationAt<P, "patch">, A>> {
    return this.#call("PATCH", path, init[0]);
  }

  DELETE<P extends PathsWithMethod<"delete">, A extends number = never>(
    path: P,
    ...init: InitArgs<OperationAt<P, "delete">, A>
  ): Promise<FetchResult<OperationAt<P, "delete">, A>> {
    return this.#call("DELETE", path, init[0]);
  }

  /** `init` is a {@link FetchInit} of the operation at `template`: the methods' types checked it. */
  async #call<R>(method: RequestSpec["method"], template: string, init: object | undefined): Promise<R> {
    const { params, headers, body, auth, accept, ...options }: LooseInit = init ?? {};
    const raw = await this.#transport.send({
      method,
      path: fillPath(template, params?.path),
      query: params?.query,
      body,
      auth: auth ?? true,
      headers,
      accept,
      options,
    });
    // The one place an answer's JSON takes its declared type: the API's document is the
    // contract, and the generated types are that document.
    return answer(raw, headers?.[HEADERS.ifNoneMatch]) as R;
  }
}

/** {@link FetchInit} as the implementation reads it, whatever the operation. */
interface LooseInit extends WriteOptions {
  params?: { path?: Record<string, string | number>; query?: RequestSpec["query"] };
  headers?: Record<string, string | undefined>;
  body?: unknown;
  auth?: boolean;
  accept?: readonly number[];
}

/** The answer as the client hands it out: a 304 as `NotModified`, else the body with `Date`s. */
function answer(raw: RawResponse, sentTag: string | undefined): ConditionalResponse<unknown> {
  const etag = raw.headers.get(HEADERS.etag) ?? undefined;
  if (raw.status === 304) {
    return { notModified: true, status: 304, etag: etag ?? sentTag, requestId: raw.requestId, headers: raw.headers };
  }
  const data = reviveDates(raw.body);
  return { notModified: false, status: raw.status, data, etag, requestId: raw.requestId, headers: raw.headers };
}

/** `/api/conversations/{id}` with `id` filled in, encoded. */
function fillPath(template: string, values: Record<string, string | number> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values?.[name];
    if (value === undefined) throw new TypeError(`${template}: no value for the path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
}
