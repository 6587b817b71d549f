/**
 * When to send a call again, and after how long. Pure functions: the transport does the
 * waiting, tests check the numbers.
 */

/** How the client retries 429, 502-504 and calls that got no answer. */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 turns retrying off. Default 3. */
  retries: number;
  /** First backoff, doubled on every retry. Default 250 ms. */
  baseDelayMs: number;
  /** Longest backoff between two attempts. Default 8,000 ms. */
  maxDelayMs: number;
  /**
   * A `Retry-After` longer than this is not waited for: the call fails at once with the
   * error (its `retryAfter` says how long), so a UI is never frozen for a minute-long breaker.
   * Default 30,000 ms.
   */
  maxRetryAfterMs: number;
  /** Retry a call that got no answer (timeout, network error). Default true. */
  retryOnNoAnswer: boolean;
}

/** The default {@link RetryPolicy}. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  retries: 3,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 30_000,
  retryOnNoAnswer: true,
});

/**
 * Statuses that say the API could not serve the request now: 503 is its own (its store or
 * identity provider is down); 502 and 504 are the gateway's in front of it (the function
 * failed or took too long). A write may or may not have happened behind any of them, and its
 * `Idempotency-Key` makes sending it again safe.
 */
export function isUnavailableStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** Statuses worth the same request again: over the rate limit, or the API unavailable. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || isUnavailableStatus(status);
}

/**
 * `Retry-After` in seconds: delay-seconds or an HTTP-date (RFC 9110); undefined when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/**
 * The wait before retry number `retry` (0 for the first retry): exponential backoff with
 * jitter, never shorter than what the server asked for. Jitter spreads the retries of many
 * tabs that failed together, so they do not all hit a recovering store at the same instant.
 *
 * @param random a number in [0, 1), injectable for tests
 */
export function backoffMs(
  policy: RetryPolicy,
  retry: number,
  retryAfterSeconds: number | undefined,
  random: number,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  // "Equal jitter": at least half the backoff, so the delays still grow.
  const jittered = exponential / 2 + (exponential / 2) * random;
  const asked = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000;
  return Math.round(Math.max(jittered, asked));
}
