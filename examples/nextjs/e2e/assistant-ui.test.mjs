// @ts-check
/**
 * `/assistant-ui`: assistant-ui's runtime over `@chat-store/client/assistant-ui`. A message sent
 * from the page's composer is stored by the history adapter (a new conversation, with the
 * local echo's reply); then a second device of the same user (the API, called with the page's
 * token) creates a conversation, and the page's thread list shows it without a reload: the
 * sync engine's change feed told the adapter, and the adapter the runtime's list.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Screenshots, appToken, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const SYNC_MS = 300;

const started = useStack();

/**
 * The titles of the page's thread list (not archived), top to bottom.
 * @param {import("playwright-core").Page} page
 */
function threadTitles(page) {
  return page.$$eval('[data-testid="aui-thread"] .title', (items) => items.map((item) => item.textContent ?? ""));
}

test("an assistant-ui thread list shows a conversation created on another device, without a reload", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("assistant-ui");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "assistant-ui");
  await page.goto(`${stack.app.origin}/assistant-ui?syncMs=${SYNC_MS}`);
  await page.getByRole("button", { name: "Send" }).waitFor({ timeout: 20_000 });
  const token = await appToken(page);

  // This device: a message from the composer becomes a conversation, the echo's reply with it.
  await page.getByLabel("Message").fill("Packing list for Lisbon");
  await page.getByRole("button", { name: "Send" }).click();
  await waitFor(
    async () => {
      const [conversation] = await stack.api.conversations(token);
      if (conversation === undefined) return undefined;
      const stored = await stack.api.conversation(conversation.id, token);
      return stored?.messages.length === 2 ? stored : undefined;
    },
    { message: "the page's thread stored with its reply" },
  ).then((stored) => {
    assert.equal(stored.title, "Packing list for Lisbon");
    assert.deepEqual(
      stored.messages.map((/** @type {any} */ m) => [m.type, m.content]),
      [
        ["user", "Packing list for Lisbon"],
        ["assistant", "You said: Packing list for Lisbon"],
      ],
    );
  });
  await waitFor(async () => (await threadTitles(page)).includes("Packing list for Lisbon") || undefined, {
    message: "the page's own thread in its list",
  });
  await shots.take(page, "own-thread");

  // A mark on this document: it is gone if the page reloads.
  await page.evaluate(() => Object.assign(window, { notReloaded: true }));

  // The other device: the same user, straight to the API.
  const response = await fetch(`${stack.api.baseUrl}/api/conversations/from-phone/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "p1", type: "user", content: "Hello from the phone", timestamp: new Date().toISOString() }),
  });
  assert.equal(response.status, 201, await response.text());

  const titles = await waitFor(
    async () => {
      const shown = await threadTitles(page);
      return shown.includes("Hello from the phone") ? shown : undefined;
    },
    { timeoutMs: SYNC_MS * 30, message: "the other device's conversation in the thread list" },
  );
  assert.deepEqual([...titles].sort(), ["Hello from the phone", "Packing list for Lisbon"]);
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).notReloaded), true, "shown without a reload");
  await shots.take(page, "other-device-thread");

  // Opening it loads its messages through the history adapter.
  await page.locator('[data-testid="aui-thread"]', { hasText: "Hello from the phone" }).locator(".title").click();
  await waitFor(
    async () => {
      const messages = await page.$$eval('[data-testid="aui-message"]', (nodes) => nodes.map((node) => node.textContent ?? ""));
      return messages.length === 1 && messages[0] === "Hello from the phone";
    },
    { message: "the other device's message in the thread" },
  );
  await shots.take(page, "other-device-thread-open");
  await context.close();
});
