/**
 * The API's origin, without `/api`: `CHAT_STORE_API_URL` in the environment of `next start` or
 * `next dev` (read per request, so one build runs against any API), else `make dev`'s. The
 * route and the same-origin pass-through (`/store/api/...`) call it from the server.
 */
export function apiUrl(): string {
  return process.env.CHAT_STORE_API_URL ?? "http://127.0.0.1:8000";
}

/**
 * Where the browser calls the API, without `/api`: by default this app's own origin under
 * `/store`, so no request is cross-origin and none pays a CORS preflight.
 * `CHAT_STORE_BROWSER_URL` (the API's origin) calls it cross-origin instead: the API must then
 * allow this app's origin (`CORS_ALLOW_ORIGINS`), and each poll of a new URL pays a preflight.
 */
export function browserApiUrl(): string {
  return process.env.CHAT_STORE_BROWSER_URL || "/store";
}
