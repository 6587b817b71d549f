// @ts-check
/**
 * Scenario (c): the API goes away. The app says so (the offline banner) and keeps working
 * from localStorage: a message sent (with its reply) and a rename show at once and survive a
 * reload. When the API is back (the same server, restarted on the same port with its data),
 * the app catches up on its own: the server then holds every message exactly once and the new
 * title, and the banner is gone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  connectionBanner,
  developerCodesShown,
  finishedReply,
  offlineBannerVisible,
  openApp,
  openConversationId,
  rename,
  send,
  sidebar,
  thread,
} from "./support/app.mjs";
import { Screenshots, appToken, appUrl, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const started = useStack();

test("offline: the app works from localStorage, then the server catches up with nothing lost or doubled", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("offline");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  const url = appUrl(stack.app.origin, { syncMs: 500, followMs: 300, tokenMs: 15 });
  await openApp(page, url);

  // Online: a first exchange, stored on the server.
  await send(page, "Draft a packing list for a rainy weekend");
  await finishedReply(page, 2);
  const token = await appToken(page);
  const id = await openConversationId(page);
  assert.ok(id);
  await waitFor(async () => (await stack.api.conversation(id, token))?.messages.length === 2, {
    message: "the first exchange on the server",
  });
  await shots.take(page, "online");

  // The API goes away: the next sync notices, the banner shows.
  await stack.api.stop();
  await waitFor(() => offlineBannerVisible(page), { message: "the offline banner" });
  assert.match((await connectionBanner(page))?.text ?? "", /You're offline/);
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "offline-banner");

  // Offline, a message (and its reply) and a rename still work.
  await send(page, "Add an umbrella and spare socks");
  await finishedReply(page, 4);
  const title = "Rainy weekend (renamed offline)";
  await rename(page, id, title);
  await waitFor(async () => (await sidebar(page)).find((c) => c.id === id)?.title === title, {
    message: "the new title in the sidebar",
  });
  await waitFor(async () => Number(await page.locator(".app").getAttribute("data-queued")) > 0, {
    message: "writes waiting in the queue",
  });
  const offlineThread = (await thread(page)).map(({ id, type, content }) => ({ id, type, content }));
  assert.deepEqual(
    offlineThread.map((m) => m.type),
    ["user", "assistant", "user", "assistant"],
  );
  assert.equal(offlineThread[2]?.content, "Add an umbrella and spare socks");
  assert.ok(await offlineBannerVisible(page));
  await shots.take(page, "offline-edits");

  // A reload while offline shows the same thing, from the local copy.
  await page.reload();
  await page.locator('.app[data-ready="true"]').waitFor({ timeout: 20_000 });
  await waitFor(async () => (await openConversationId(page)) === id, { message: "the conversation reopened" });
  assert.deepEqual(
    (await thread(page)).map(({ id, type, content }) => ({ id, type, content })),
    offlineThread,
  );
  assert.equal((await sidebar(page)).find((c) => c.id === id)?.title, title);
  await waitFor(() => offlineBannerVisible(page), { message: "the offline banner after the reload" });
  await shots.take(page, "offline-after-reload");

  // The API is back: the app notices at its next sync and sends what waited, once.
  await stack.api.start();
  await waitFor(async () => !(await offlineBannerVisible(page)), {
    timeoutMs: 30_000,
    message: "the banner to go once the API is back",
  });
  await waitFor(async () => (await page.locator(".app").getAttribute("data-queued")) === "0", {
    timeoutMs: 30_000,
    message: "the queue to drain",
  });
  const stored = await waitFor(
    async () => {
      const conversation = await stack.api.conversation(id, token);
      return conversation?.messages.length === 4 && conversation.title === title ? conversation : undefined;
    },
    { timeoutMs: 30_000, message: "the server to hold the offline message, reply and title" },
  );
  const onServer = stored.messages.map((/** @type {any} */ m) => ({ id: m.id, type: m.type, content: m.content }));
  assert.deepEqual(onServer, offlineThread, "every message exactly once, in order, as shown offline");
  assert.equal(new Set(onServer.map((m) => m.id)).size, onServer.length, "no message stored twice");
  assert.equal(stored.messages[3].streaming ?? false, false);
  assert.deepEqual(
    (await stack.api.conversations(token)).map((c) => c.id),
    [id],
    "one conversation, not a copy of it",
  );
  await shots.take(page, "caught-up");
  await context.close();
});
