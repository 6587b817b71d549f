/**
 * One error class for everything a call can fail with: the API's problem+json answers and the
 * client's own failures (timeout, network, abort), told apart by `code`.
 */
import type { components } from "./generated/api.js";
import { isRetryableStatus } from "./retry.js";

/** The API's RFC 9457 problem body. */
export type Problem = components["schemas"]["Problem"];

/** A field-level validation problem (`validation_failed`'s `errors`). */
export type FieldProblem = components["schemas"]["FieldProblem"];

/**
 * The API's stable error codes (docs/api.md, "Errors"), plus the client's own:
 * `timeout` (no answer within `timeoutMs`), `network_error` (fetch failed: offline, DNS,
 * CORS refused by the browser), `aborted` (the caller's `AbortSignal`), `invalid_response`
 * (an answer that is neither the documented body nor problem+json), `circuit_open` (a
 * `CircuitBreaker` (breaker.ts) failed the call fast, without a request, while the API is unreachable).
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_id"
  | "id_mismatch"
  | "unauthorized"
  | "cors_refused"
  | "proxy_refused"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "sequence_gap"
  | "message_finished"
  | "message_has_parts"
  | "part_conflict"
  | "conversation_deleted"
  | "changes_reset"
  | "precondition_failed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "validation_failed"
  | "idempotency_key_reused"
  | "rate_limited"
  | "internal_error"
  | "store_unavailable"
  | "identity_unavailable"
  | "timeout"
  | "network_error"
  | "aborted"
  | "invalid_response"
  | "circuit_open"
  // A code added to the API after this client was built still reaches the caller as is.
  | (string & {});

/** What a {@link ChatStoreError} is built from. */
export interface ChatStoreErrorInit {
  status: number;
  code: ErrorCode;
  detail: string;
  title?: string;
  type?: string;
  problem?: Problem;
  requestId?: string;
  retryAfter?: number;
  etag?: string;
  cause?: unknown;
}

/**
 * A failed call. `status` is the HTTP status, or 0 for a failure with no answer (`timeout`,
 * `network_error`, `aborted`).
 *
 * @example
 * ```ts
 * try {
 *   await client.updateConversation(id, { title }, { ifMatch: etag });
 * } catch (e) {
 *   if (e instanceof ChatStoreError && e.code === "precondition_failed") {
 *     // refetch (e.currentVersion is the stored version), reapply, send again
 *   }
 * }
 * ```
 */
export class ChatStoreError extends Error {
  override readonly name = "ChatStoreError";
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  /** The problem's stable `code`, or the client's own (see {@link ErrorCode}). */
  readonly code: ErrorCode;
  /** What went wrong and what to send instead. */
  readonly detail: string;
  /** The problem's `title`, when the API answered. */
  readonly title: string | undefined;
  /** The problem's `type` URI, when the API answered. */
  readonly type: string | undefined;
  /** The whole problem body, extension members included. */
  readonly problem: Problem | undefined;
  /** The answer's `X-Request-Id` (or the one sent), to find the call in the API's log. */
  readonly requestId: string | undefined;
  /** Seconds the API asked to wait (`Retry-After` on 429 and 503). */
  readonly retryAfter: number | undefined;
  /** `precondition_failed`: the current `ETag`, to refetch against. */
  readonly etag: string | undefined;
  /** `precondition_failed`: the stored version, when the conversation exists. */
  readonly currentVersion: number | undefined;
  /** `sequence_gap`: the last delta applied; resend from `lastSequence + 1`. */
  readonly lastSequence: number | undefined;
  /** `validation_failed`: each field's location and problem. */
  readonly errors: FieldProblem[] | undefined;

  constructor(init: ChatStoreErrorInit) {
    super(`${init.code}: ${init.detail}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.title = init.title;
    this.type = init.type;
    this.problem = init.problem;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
    this.etag = init.etag;
    this.currentVersion = numberOrUndefined(init.problem?.currentVersion);
    this.lastSequence = numberOrUndefined(init.problem?.lastSequence);
    this.errors = init.problem?.errors;
  }

  /**
   * True when sending the same request again later can succeed (429, 502-504, no answer, or a
   * breaker that held the call back).
   */
  get retryable(): boolean {
    return (
      isRetryableStatus(this.status) ||
      this.code === "timeout" ||
      this.code === "network_error" ||
      this.code === "circuit_open"
    );
  }
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

/** True when `body` looks like the API's problem+json. */
export function isProblem(body: unknown): body is Problem {
  if (body === null || typeof body !== "object") return false;
  const b = body as Record<string, unknown>;
  return typeof b["code"] === "string" && typeof b["status"] === "number";
}
