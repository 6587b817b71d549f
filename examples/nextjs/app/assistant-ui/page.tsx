/**
 * `/assistant-ui`: the same user's conversations in assistant-ui's thread list and thread,
 * kept by `@chat-store/client/assistant-ui`'s adapters. Rendered at request time, as the main
 * page is, so the API's address and the sync interval come from `next start`'s environment
 * (`CHAT_STORE_API_URL`, `CHAT_STORE_SYNC_INTERVAL_MS`) and the query string (`?syncMs=`).
 */
import { connection } from "next/server";
import { browserApiUrl } from "@/lib/api-url";
import { AssistantUiChat } from "./AssistantUiChat";

type SearchParams = Record<string, string | string[] | undefined>;

/** `value` as a whole number of ms within [min, max], else `fallback`. */
function milliseconds(value: string | string[] | undefined, fallback: number, min: number, max: number): number {
  const number = Number(Array.isArray(value) ? value[0] : value);
  return Number.isInteger(number) && number >= min && number <= max ? number : fallback;
}

export default async function Page({ searchParams }: { searchParams: Promise<SearchParams> }) {
  await connection(); // read the environment per request, never at build time
  const params = await searchParams;
  const apiUrl = browserApiUrl();
  const defaultSync = milliseconds(process.env.CHAT_STORE_SYNC_INTERVAL_MS, 30_000, 100, 3_600_000);
  return <AssistantUiChat apiUrl={apiUrl} syncIntervalMs={milliseconds(params.syncMs, defaultSync, 100, 3_600_000)} />;
}
