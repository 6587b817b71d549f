// @ts-check
/**
 * Scenario (d): a chat a person keeps using. A 150-message conversation (more than one page of
 * the API) opens at its newest message in a pane that scrolls by itself: the page does not
 * scroll, the sidebar and the composer stay in view. Scrolling up loads the older messages, page
 * by page, to the first one, each shown once, in order, with its time. While a reply streams the
 * user can write the next message (Send waits, Stop shows). Delete asks first, and Keep keeps.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { finishedReply, openApp, openConversation, sidebar, thread } from "./support/app.mjs";
import { Screenshots, appToken, appUrl, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const started = useStack();
const COUNT = 150;

test("a long conversation opens at its newest message and scrolls up to its first, the composer in view", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("long-thread");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  const url = appUrl(stack.app.origin, { syncMs: 500, followMs: 300, tokenMs: 60 });
  await openApp(page, url);
  const token = await appToken(page);

  const start = Date.UTC(2026, 0, 5, 9, 0);
  const messages = Array.from({ length: COUNT }, (_, index) => ({
    id: `m-long-${String(index + 1).padStart(3, "0")}`,
    type: index % 2 === 0 ? "user" : "assistant",
    content: `Message ${index + 1} of the long conversation.${index % 7 === 0 ? "\nWith a second line." : ""}`,
    timestamp: new Date(start + index * 60_000).toISOString(),
  }));
  const id = "conv-long-thread";
  await stack.api.put(
    `/api/conversations/${id}`,
    {
      id,
      title: "A long conversation",
      messages,
      createdAt: messages[0]?.timestamp,
      updatedAt: messages.at(-1)?.timestamp,
      totalTokens: 0,
    },
    token,
  );
  await waitFor(async () => (await sidebar(page)).some((c) => c.id === id), { message: "the sidebar to list it" });
  await openConversation(page, id);

  // Opens at the newest message, inside the thread's pane; the page itself does not scroll.
  const last = messages.at(-1);
  assert.ok(last);
  await waitFor(async () => (await thread(page)).at(-1)?.id === last.id, { message: "the newest message shown" });
  await waitFor(() => page.locator(`[data-testid="message"][data-id="${last.id}"]`).isVisible(), {
    message: "the newest message in view",
  });
  const layout = await page.evaluate(() => {
    const pane = /** @type {HTMLElement} */ (document.querySelector(".thread"));
    const box = (/** @type {string} */ selector) => document.querySelector(selector)?.getBoundingClientRect().toJSON();
    return {
      pageScrolls: document.scrollingElement ? document.scrollingElement.scrollHeight > window.innerHeight : false,
      paneScrolls: pane.scrollHeight > pane.clientHeight,
      atBottom: pane.scrollHeight - pane.scrollTop - pane.clientHeight < 4,
      composer: box(".composer"),
      sidebar: box(".sidebar"),
      viewport: { width: window.innerWidth, height: window.innerHeight },
    };
  });
  assert.equal(layout.pageScrolls, false, "the page does not scroll");
  assert.ok(layout.paneScrolls, "the thread scrolls in its pane");
  assert.ok(layout.atBottom, "the thread opens at its bottom");
  assert.ok(layout.composer.bottom <= layout.viewport.height && layout.composer.top >= 0, "the composer is in view");
  assert.ok(layout.sidebar.top >= 0 && layout.sidebar.bottom <= layout.viewport.height, "the sidebar is in view");
  const firstShown = await thread(page);
  assert.ok(firstShown.length < COUNT, `a first page, not all ${COUNT} (${firstShown.length})`);
  await shots.take(page, "opens-at-newest");

  // Scrolling up loads the older messages, to the first one.
  await waitFor(
    async () => {
      await page.locator(".thread").evaluate((pane) => pane.scrollTo({ top: 0 }));
      return page.locator('[data-testid="start"]').isVisible();
    },
    { timeoutMs: 20_000, message: "the start of the conversation after scrolling up" },
  );
  const all = await thread(page);
  assert.deepEqual(
    all.map(({ id, type, content }) => ({ id, type, content })),
    messages.map(({ id, type, content }) => ({ id, type, content })),
    "every message once, in order",
  );
  const stamps = await page.$$eval('[data-testid="timestamp"]', (times) => times.map((t) => t.getAttribute("datetime")));
  assert.deepEqual(stamps.slice(0, COUNT), messages.map((m) => m.timestamp), "each message with its time");
  assert.ok(await page.locator(".composer").isVisible(), "the composer still in view");
  await shots.take(page, "scrolled-to-first");

  // A reply streams; the next message can be written meanwhile, and sent once it ends.
  await page.getByLabel("Message").fill("Sum up the long conversation");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByRole("button", { name: "Stop" }).waitFor();
  await waitFor(async () => (await thread(page)).at(-1)?.id === messages.at(-1)?.id ? false : true, {
    message: "the user's message in the thread",
  });
  await page.getByLabel("Message").fill("And list the open questions");
  assert.equal(await page.getByLabel("Message").inputValue(), "And list the open questions");
  // The thread followed the new messages down to the bottom.
  await waitFor(
    () => page.locator(".thread").evaluate((pane) => pane.scrollHeight - pane.scrollTop - pane.clientHeight < 4),
    { message: "the thread to follow the reply at its bottom" },
  );
  await shots.take(page, "typing-while-replying");
  const reply = await finishedReply(page, COUNT + 2);
  assert.ok(reply.content.startsWith("I found three notes."));
  assert.equal(await page.getByLabel("Message").inputValue(), "And list the open questions", "the draft is kept");
  await page.getByRole("button", { name: "Send" }).click();
  await finishedReply(page, COUNT + 4);

  // Delete asks first; Keep keeps it.
  const item = page.locator(`[data-testid="conversation-item"][data-id="${id}"]`);
  await item.getByRole("button", { name: "Delete" }).click();
  await item.getByRole("alertdialog").waitFor();
  await shots.take(page, "delete-asks");
  await item.getByRole("button", { name: "Keep" }).click();
  assert.equal(await item.getByRole("alertdialog").count(), 0);
  assert.ok((await sidebar(page)).some((c) => c.id === id), "kept");
  assert.ok(await stack.api.conversation(id, token), "still on the server");
  await context.close();
});
