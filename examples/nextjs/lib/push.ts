/**
 * The push channel (docs/sync.md, "Live pushes"): one WebSocket per page over which the API
 * tells this device of the user's writes on other devices as they commit. The page's store
 * syncs by it and `ChatStoreTransport` follows a reply by it, so neither polls while it is
 * open; while it is down both poll as without it, and the change feed keeps every change once.
 */
import { PushChannel, pushUrl } from "@chat-store/client";
import type { ChatStoreClient } from "@chat-store/client";

/** The value of `CHAT_STORE_PUSH_URL` (or `?push=`) that turns push off. */
export const PUSH_OFF = "off";

/**
 * The WebSocket URL this page pushes through, or null for none, decided per request on the
 * server: `?push=off` turns it off for one page (to watch the app poll); else
 * `CHAT_STORE_PUSH_URL` in the environment of `next start`, `off` for none; unset, the `/ws`
 * of the API's own origin, which is `make dev`'s (deployed, API Gateway's WebSocket API has a
 * host of its own: give its `wss://` URL).
 */
export function pushUrlFor(apiUrl: string, param: string | string[] | undefined): string | null {
  if ((Array.isArray(param) ? param[0] : param) === PUSH_OFF) return null;
  const configured = process.env.CHAT_STORE_PUSH_URL?.trim();
  if (configured === PUSH_OFF) return null;
  return configured ? configured : pushUrl(apiUrl);
}

/**
 * The page's channel to `url` (none without one), authenticated with `client`'s token, which
 * it asks again at every reconnect; the client sends the connection's id with its writes, so
 * they are pushed to the user's other devices only. Started and stopped by its owner.
 */
export function pushChannel(url: string | null | undefined, client: ChatStoreClient): PushChannel | undefined {
  return url ? new PushChannel({ url, client }) : undefined;
}
