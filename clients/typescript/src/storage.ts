/**
 * Where the offline copy, the write queue and the sync cursor live: anything with
 * `localStorage`'s three methods. Browsers pass `window.localStorage`; Node and tests pass
 * {@link MemoryStorage}. Values are JSON, read back with {@link readJson}, which treats a
 * value it cannot parse as absent rather than failing the app that wrote it badly.
 */

/** The part of the Web Storage API the client uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A {@link StorageLike} in memory: for Node, for tests, and where `localStorage` is missing. */
export class MemoryStorage implements StorageLike {
  readonly #items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.#items.set(key, String(value));
  }

  removeItem(key: string): void {
    this.#items.delete(key);
  }

  /** The keys held, for tests. */
  keys(): string[] {
    return [...this.#items.keys()];
  }
}

/** The value at `key` parsed as JSON, or `undefined` when absent or not JSON. */
export function readJson(storage: StorageLike, key: string): unknown {
  const text = storage.getItem(key);
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Writes `value` as JSON at `key`; false when the storage refused it (a full quota, Safari's
 * private mode), so the caller can say so instead of losing the write silently.
 */
export function writeJson(storage: StorageLike, key: string, value: unknown): boolean {
  try {
    storage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

/** `globalThis.localStorage` when there is one that works, else `undefined` (SSR, Node). */
export function browserStorage(): StorageLike | undefined {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    return storage ?? undefined;
  } catch {
    // A sandboxed iframe or disabled cookies make the getter itself throw.
    return undefined;
  }
}
