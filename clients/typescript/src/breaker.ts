/**
 * A client-side circuit breaker: after a few calls in a row found the API unreachable, further
 * calls fail at once for a cooldown instead of each waiting out its timeout and retries. The
 * UI then switches to its local copy in milliseconds, and a phone that lost its network does
 * not keep a radio busy. After the cooldown one call goes through as a probe; if the API
 * answers, the breaker closes, else the cooldown doubles (up to a ceiling).
 *
 * Only *unreachable* failures count (no answer, timeout, 502/503/504): a 4xx is the API answering,
 * which proves it reachable and closes the breaker like a success does. A 429 is the API
 * answering too, so it does not count either.
 */
import { ChatStoreError } from "./errors.js";

/** `closed`: calls go through. `open`: calls fail fast. `half-open`: one probe may go. */
export type BreakerState = "closed" | "open" | "half-open";

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Unreachable failures in a row that open the breaker. Default 3. */
  failureThreshold?: number;
  /** The first cooldown, in milliseconds. Default 5,000. */
  cooldownMs?: number;
  /** The longest cooldown, reached by doubling after each failed probe. Default 60,000. */
  maxCooldownMs?: number;
  /** Injectable clock (milliseconds). Default `Date.now`. */
  now?: () => number;
}

/** True for the failures that say the API could not be reached (not that it refused). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof ChatStoreError && error.retryable && error.status !== 429;
}

/** See the module's comment. */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #baseCooldownMs: number;
  readonly #maxCooldownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #cooldownMs: number;
  /** When the open breaker lets a probe through; undefined while closed. */
  #openUntil: number | undefined;
  #probing = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? 3;
    this.#baseCooldownMs = options.cooldownMs ?? 5_000;
    this.#maxCooldownMs = options.maxCooldownMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#cooldownMs = this.#baseCooldownMs;
  }

  /** The state now (an open breaker whose cooldown ran out reads `half-open`). */
  get state(): BreakerState {
    if (this.#openUntil === undefined) return "closed";
    return this.#now() >= this.#openUntil && !this.#probing ? "half-open" : "open";
  }

  /** Milliseconds until the next probe may go: 0 when a call would be let through now. */
  get retryInMs(): number {
    if (this.#openUntil === undefined) return 0;
    return Math.max(0, this.#openUntil - this.#now());
  }

  /**
   * Runs `call` unless the breaker is open; rejects with `circuit_open` (status 0, retryable)
   * without running it while open, or while another call is the probe.
   */
  async call<T>(call: () => Promise<T>): Promise<T> {
    const state = this.state;
    if (state === "open") {
      throw new ChatStoreError({
        status: 0,
        code: "circuit_open",
        detail: `the API was unreachable; the next try is in ${this.retryInMs} ms`,
      });
    }
    const probe = state === "half-open";
    if (probe) this.#probing = true;
    try {
      const result = await call();
      this.#close();
      return result;
    } catch (error) {
      if (isUnreachable(error)) this.#fail(probe);
      else this.#close();
      throw error;
    } finally {
      if (probe) this.#probing = false;
    }
  }

  /**
   * Closes the breaker now, as a call's answer would: for an answer seen outside
   * {@link call} (another layer's request on the same client), which proves the API reachable
   * just as well. The next call goes through at once, and the cooldown starts over.
   */
  close(): void {
    this.#close();
  }

  #close(): void {
    this.#failures = 0;
    this.#cooldownMs = this.#baseCooldownMs;
    this.#openUntil = undefined;
  }

  #fail(probe: boolean): void {
    // A probe that fails after something else closed the breaker is an ordinary failure.
    if (probe && this.#openUntil !== undefined) {
      this.#cooldownMs = Math.min(this.#cooldownMs * 2, this.#maxCooldownMs);
      this.#openUntil = this.#now() + this.#cooldownMs;
      return;
    }
    this.#failures++;
    if (this.#openUntil === undefined && this.#failures >= this.#threshold) {
      this.#openUntil = this.#now() + this.#cooldownMs;
    }
  }
}
