/**
 * A small typed event emitter for the stores and the sync engine: `on` returns the function
 * that unsubscribes, which is what a React `useEffect` cleanup wants. No dependency, and no
 * `EventTarget` (whose `CustomEvent` Node 20 has but older test runners do not type).
 */

/** Listeners of one emitter, keyed by event name; `Events` maps each name to its payload. */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Calls `listener` with each `event`'s payload until the returned function is called. */
  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const stored = listener as (payload: never) => void;
    set.add(stored);
    return () => {
      set.delete(stored);
    };
  }

  /**
   * Tells every listener of `event`. A listener that throws does not stop the others, nor the
   * store that emitted: the error is reported asynchronously, as a browser reports an
   * event handler's error.
   */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** How many listeners `event` has (for tests and for pausing work nobody listens to). */
  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}
