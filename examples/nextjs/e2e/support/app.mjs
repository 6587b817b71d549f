// @ts-check
/**
 * Reading and driving the example app's page: the sidebar, the thread, the composer, the
 * offline banner. Selectors are the app's `data-testid`s and ARIA labels.
 */
import { waitFor } from "./harness.mjs";

/** @typedef {import("playwright-core").Page} Page */

/**
 * The page once the app has shown its list (from the server or the local copy).
 * @param {Page} page
 * @param {string} url
 */
export async function openApp(page, url) {
  await page.goto(url);
  await page.locator('.app[data-ready="true"]').waitFor({ timeout: 20_000 });
}

/**
 * The sidebar's conversations, top to bottom.
 * @param {Page} page
 * @returns {Promise<{ id: string, title: string }[]>}
 */
export function sidebar(page) {
  return page.$$eval('[data-testid="conversation-item"]', (items) =>
    items.map((item) => ({
      id: item.getAttribute("data-id") ?? "",
      title: item.querySelector(".title, input")?.textContent ?? "",
    })),
  );
}

/**
 * The open thread's messages.
 * @param {Page} page
 * @returns {Promise<{ id: string, type: string, content: string, streaming: boolean, tools: string[] }[]>}
 */
export function thread(page) {
  return page.$$eval('[data-testid="message"]', (messages) =>
    messages.map((message) => ({
      id: message.getAttribute("data-id") ?? "",
      type: message.getAttribute("data-type") ?? "",
      content: message.querySelector('[data-testid="message-content"]')?.textContent ?? "",
      streaming: message.getAttribute("data-streaming") === "true",
      tools: [...message.querySelectorAll('[data-testid="tool"]')].map((tool) => tool.textContent ?? ""),
    })),
  );
}

/**
 * The open conversation's id, or null.
 * @param {Page} page
 */
export function openConversationId(page) {
  return page.evaluate(() => document.querySelector(".thread")?.getAttribute("data-conversation-id") ?? null);
}

/**
 * Types `text` and sends it.
 * @param {Page} page
 * @param {string} text
 */
export async function send(page, text) {
  await page.getByLabel("Message").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

/**
 * Waits for the last message of the thread to be a finished assistant reply and returns it.
 * @param {Page} page
 * @param {number} count how many messages the thread then has
 */
export async function finishedReply(page, count) {
  return waitFor(
    async () => {
      const messages = await thread(page);
      const last = messages.at(-1);
      return messages.length === count && last?.type === "assistant" && !last.streaming && last.content !== ""
        ? last
        : undefined;
    },
    { timeoutMs: 30_000, message: `a finished reply as message ${count}` },
  );
}

/**
 * Renames conversation `id` from the sidebar.
 * @param {Page} page
 * @param {string} id
 * @param {string} title
 */
export async function rename(page, id, title) {
  const item = page.locator(`[data-testid="conversation-item"][data-id="${id}"]`);
  await item.getByRole("button", { name: "Rename" }).click();
  await item.getByLabel("New title").fill(title);
  await item.getByLabel("New title").press("Enter");
}

/**
 * Deletes conversation `id` from the sidebar: Delete, then the confirmation's Delete.
 * @param {Page} page
 * @param {string} id
 */
export async function remove(page, id) {
  const item = page.locator(`[data-testid="conversation-item"][data-id="${id}"]`);
  await item.getByRole("button", { name: "Delete" }).click();
  await item.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
}

/**
 * Opens conversation `id` from the sidebar.
 * @param {Page} page
 * @param {string} id
 */
export async function openConversation(page, id) {
  await page.locator(`[data-testid="conversation-item"][data-id="${id}"] .title`).click();
  await waitFor(async () => (await openConversationId(page)) === id, { message: `conversation ${id} open` });
}

/**
 * Whether the offline banner shows.
 * @param {Page} page
 */
export function offlineBannerVisible(page) {
  return page.locator('[data-testid="connection-banner"][data-state="offline"]').isVisible();
}

/**
 * The API's and the client's error codes, and the protocol's words: developer text that must
 * never reach the page, whatever happens.
 */
export const DEVELOPER_CODES = [
  "precondition_failed",
  "conversation_deleted",
  "rate_limited",
  "validation_failed",
  "store_unavailable",
  "not_found",
  "network_error",
  "bad_gateway",
  "gateway_timeout",
  "circuit_open",
  "not_a_conversation",
  "payload_too_large",
  "sequence_gap",
  "message_finished",
  "If-Match",
  "If-None-Match",
  "ETag",
];

/**
 * The developer codes the page shows (its text and its controls' labels): none, ever.
 * @param {Page} page
 * @returns {Promise<string[]>}
 */
export async function developerCodesShown(page) {
  const text = await page.evaluate(() => document.body.innerText);
  return DEVELOPER_CODES.filter((code) => text.includes(code));
}

/**
 * The connection banner's state (`offline`, `rate_limited`, `store_down`) and words, or null
 * when it does not show.
 * @param {Page} page
 * @returns {Promise<{ state: string, text: string } | null>}
 */
export async function connectionBanner(page) {
  // Read in one step in the page: a locator would wait (30 s) for a banner that went away
  // between counting it and reading it, which is what a banner does when the page recovers.
  return page.evaluate(() => {
    const banner = document.querySelector('[data-testid="connection-banner"]');
    if (!(banner instanceof HTMLElement)) return null;
    return { state: banner.getAttribute("data-state") ?? "", text: banner.innerText };
  });
}

/**
 * The notice of `kind` (`conflict`, `deleted_elsewhere`, `refused`) the page shows, as a locator.
 * @param {Page} page
 * @param {string} kind
 */
export function notice(page, kind) {
  return page.locator(`[data-testid="notice"][data-kind="${kind}"]`);
}
