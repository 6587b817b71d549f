/**
 * The anonymous visitor's token, issued once per browser and kept in storage.
 *
 * Every part of an app that asks for a token before the first one is kept (two effects of a
 * React strict-mode double mount, two stores, the sync engine and a read racing at first load)
 * must end up with the same one: a second token is a second user, whose conversations the
 * first never sees. So one issue is in flight at a time per storage and key, shared by every
 * provider made over them, and a kept token is used until shortly before it expires.
 */
import type { StorageLike } from "./storage.js";
import { readJson, writeJson } from "./storage.js";

/** What `POST /api/auth/anonymous` answers, as kept: the token and when it expires. */
export interface KeptToken {
  token: string;
  expiresAt: string;
}

/** Options of {@link anonymousToken}. */
export interface AnonymousTokenOptions {
  /** Where the token is kept (`localStorage`); shared by every tab of the origin. */
  storage: StorageLike;
  /** Its key. Default `chat-store:anonymous-token`. */
  key?: string;
  /**
   * Issues a new token: `() => client.issueAnonymousToken()` (which sends no token itself, so
   * the client whose `getToken` this provider is may issue it).
   */
  issue: () => Promise<{ data: { token: string; expiresAt: Date | string } }>;
  /** A kept token this close to expiring is replaced. Default 60,000 ms. */
  marginMs?: number;
  /** Injectable for tests. */
  now?: () => number;
}

/** The default key of the kept token. */
export const ANONYMOUS_TOKEN_KEY = "chat-store:anonymous-token";

/** Issues in flight, per storage and key: shared by every provider over the same ones. */
const issuing = new WeakMap<StorageLike, Map<string, Promise<string>>>();
/** Tokens a full storage refused, per storage and key: kept for the page's life instead. */
const unkept = new WeakMap<StorageLike, Map<string, KeptToken>>();

function perStorage<T>(map: WeakMap<StorageLike, Map<string, T>>, storage: StorageLike): Map<string, T> {
  let inner = map.get(storage);
  if (inner === undefined) {
    inner = new Map();
    map.set(storage, inner);
  }
  return inner;
}

/**
 * A `getToken` for a visitor who has not signed in: the kept token while it is valid, else one
 * issued now and kept. Concurrent calls, from this provider or another over the same storage
 * and key, share one issue.
 *
 * @example
 * ```ts
 * const client: ChatStoreClient = new ChatStoreClient({
 *   baseUrl,
 *   getToken: anonymousToken({ storage: localStorage, issue: () => client.issueAnonymousToken() }),
 * });
 * ```
 */
export function anonymousToken(options: AnonymousTokenOptions): () => Promise<string> {
  const { storage, issue } = options;
  const key = options.key ?? ANONYMOUS_TOKEN_KEY;
  const margin = options.marginMs ?? 60_000;
  const now = options.now ?? Date.now;
  return async () => {
    const kept = (readJson(storage, key) ?? unkept.get(storage)?.get(key)) as Partial<KeptToken> | undefined;
    if (typeof kept?.token === "string" && Date.parse(kept.expiresAt ?? "") > now() + margin) return kept.token;
    const pending = perStorage(issuing, storage);
    const inFlight = pending.get(key);
    if (inFlight !== undefined) return inFlight;
    const issued = (async () => {
      try {
        const { data } = await issue();
        const expiresAt = data.expiresAt instanceof Date ? data.expiresAt.toISOString() : data.expiresAt;
        const token: KeptToken = { token: data.token, expiresAt };
        // A full storage must not make every request issue another token (another user).
        if (writeJson(storage, key, token)) unkept.get(storage)?.delete(key);
        else perStorage(unkept, storage).set(key, token);
        return data.token;
      } finally {
        pending.delete(key);
      }
    })();
    pending.set(key, issued);
    return issued;
  };
}
