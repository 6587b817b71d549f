/**
 * The chat page. A server component, rendered at request time, so the API's address and the
 * sync intervals come from the environment of `next start` (and the query string), not from
 * the build: one build runs against any API.
 *
 * - `CHAT_STORE_API_URL`: the API's origin (default `http://127.0.0.1:8000`, `make dev`), which
 *   this app serves under its own origin at `/store/api/...` (app/store/api/[...path]/route.ts).
 * - `CHAT_STORE_BROWSER_URL`: where the browser calls the API; default `/store`, this app's own
 *   origin (no CORS preflight). Set it to the API's origin to call it cross-origin instead.
 * - `CHAT_STORE_SYNC_INTERVAL_MS` or `?syncMs=`: how often to ask for other devices' changes
 *   (default 30 s, docs/sync.md's advice; tests use less).
 * - `?followMs=`: how often to poll a reply another device is streaming (default 1 s).
 * - `CHAT_STORE_PUSH_URL` or `?push=off`: the push channel (lib/push.ts; default the API's `/ws`).
 * - `?tokenMs=`: the mock model's pace (default 60 ms a chunk), passed to the route with each message.
 * - `?vanishAfter=`: browser tests only; the route honours it with `CHAT_EXAMPLE_FAULTS=1` (a
 *   writer that goes away after that many requests to the API).
 */
import { connection } from "next/server";
import { ChatApp } from "@/components/ChatApp";
import { apiUrl, browserApiUrl } from "@/lib/api-url";
import { pushUrlFor } from "@/lib/push";

type SearchParams = Record<string, string | string[] | undefined>;

/** `value` as a whole number of ms within [min, max], else `fallback`. */
function milliseconds(value: string | string[] | undefined, fallback: number, min: number, max: number): number {
  const number = Number(Array.isArray(value) ? value[0] : value);
  return Number.isInteger(number) && number >= min && number <= max ? number : fallback;
}

/** `value` as a whole number, else undefined. */
function whole(value: string | string[] | undefined): number | undefined {
  const number = Number(Array.isArray(value) ? value[0] : value);
  return value !== undefined && Number.isInteger(number) && number >= 0 ? number : undefined;
}

export default async function Page({ searchParams }: { searchParams: Promise<SearchParams> }) {
  await connection(); // read the environment per request, never at build time
  const params = await searchParams;
  const api = browserApiUrl();
  const defaultSync = milliseconds(process.env.CHAT_STORE_SYNC_INTERVAL_MS, 30_000, 100, 3_600_000);
  return (
    <ChatApp
      apiUrl={api}
      syncIntervalMs={milliseconds(params.syncMs, defaultSync, 100, 3_600_000)}
      followIntervalMs={milliseconds(params.followMs, 1_000, 100, 60_000)}
      // The socket goes to the API itself: the same-origin pass-through serves HTTP only.
      pushUrl={pushUrlFor(apiUrl(), params.push)}
      tokenDelayMs={milliseconds(params.tokenMs, 60, 0, 5_000)}
      vanishAfterRequests={process.env.CHAT_EXAMPLE_FAULTS === "1" ? whole(params.vanishAfter) : undefined}
    />
  );
}
