/**
 * The API's origin, without `/api`: `CHAT_STORE_API_URL` in the environment of `next start` or
 * `next dev` (read per request, so one build runs against any API), else `make dev`'s.
 */
export function apiUrl(): string {
  return process.env.CHAT_STORE_API_URL ?? "http://127.0.0.1:8000";
}
