/**
 * Random ids for `Idempotency-Key` and `X-Request-Id`.
 *
 * `crypto.randomUUID` exists in Node 20+ and in browsers, but browsers only expose it in a
 * secure context: a Next.js dev server opened at `http://192.168.x.y:3000` from a phone has
 * `crypto.getRandomValues` and no `randomUUID`. The fallback builds the same RFC 9562 v4 UUID.
 */
export function randomId(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const bytes = c.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
