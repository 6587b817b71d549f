/**
 * A manual clock for unit tests of code that waits: `sleep` only returns when the test moves
 * time past it with `advance`, so "a delta every 250 ms" is checked without real time passing.
 */

interface Timer {
  due: number;
  resolve: () => void;
}

/** A clock whose time moves only with {@link FakeClock.advance}. */
export class FakeClock {
  #now = 0;
  #timers: Timer[] = [];

  /** The current time, in ms. */
  readonly now = (): number => this.#now;

  /** Waits until time has been advanced by `ms`; an abort rejects it with the signal's reason. */
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const timer: Timer = {
        due: this.#now + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
    });

  /** Waits pending: how many sleeps have not returned yet. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time on by `ms`, waking each sleep that falls due in order, and lets work settle. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      const next = this.#timers.filter((t) => t.due <= target).sort((a, b) => a.due - b.due)[0];
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.due);
      next.resolve();
    }
    this.#now = target;
    await settle();
  }

  /** Advances `stepMs` at a time until `promise` settles (at most `limitMs` of fake time). */
  async run<T>(promise: Promise<T>, stepMs = 50, limitMs = 600_000): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    watched.catch(() => undefined);
    for (let spent = 0; !settled && spent < limitMs; spent += stepMs) await this.advance(stepMs);
    return watched;
  }
}

/** Lets promises, fetch answers and their bodies run: a few turns of the event loop. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 8; i++) await new Promise((resolve) => setImmediate(resolve));
}
