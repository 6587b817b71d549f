// @ts-check
/**
 * What became of a write, in words, with the user's choice: a rename made offline that another
 * device's later rename beat (a conflict: keep my version, or discard it), and messages written
 * offline to a conversation another device deleted meanwhile (restore it with them, or let it
 * go). The page names neither the API's codes nor the protocol's headers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  developerCodesShown,
  finishedReply,
  notice,
  offlineBannerVisible,
  openApp,
  openConversation,
  rename,
  send,
  sidebar,
  thread,
} from "./support/app.mjs";
import { Screenshots, appToken, appUrl, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const started = useStack();
const T = "2026-01-05T10:00:00.000Z";

/**
 * A conversation written from outside the browser (another device), with one message.
 * @param {import("./support/harness.mjs").Api} api
 * @param {string} token
 * @param {string} id
 * @param {string} title
 */
async function seed(api, token, id, title) {
  await api.put(
    `/api/conversations/${id}`,
    {
      id,
      title,
      createdAt: T,
      updatedAt: T,
      totalTokens: 0,
      messages: [{ id: `${id}-m1`, type: "user", content: `About ${title}`, timestamp: T }],
    },
    token,
  );
}

/** @param {import("playwright-core").Page} page */
async function queued(page) {
  return Number(await page.locator(".app").getAttribute("data-queued"));
}

test("a conflict: another device's later rename wins, and Keep my version puts mine back", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("conflict");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  await openApp(page, appUrl(stack.app.origin, { syncMs: 500 }));
  const token = await appToken(page);
  await seed(stack.api, token, "conv-trip", "Trip plans");
  await waitFor(async () => (await sidebar(page)).some((c) => c.id === "conv-trip"), { message: "the conversation listed" });
  await openConversation(page, "conv-trip");

  // Offline, this device renames it; the rename waits in the queue.
  await context.setOffline(true);
  await waitFor(() => offlineBannerVisible(page), { message: "the offline banner" });
  await rename(page, "conv-trip", "Trip plans (mine)");
  await waitFor(async () => (await queued(page)) === 1, { message: "the rename queued" });
  // Then another device renames it: a later edit, so it wins.
  await stack.api.rename("conv-trip", "Trip plans (theirs)", token);

  await context.setOffline(false);
  const conflict = notice(page, "conflict");
  await conflict.waitFor({ timeout: 15_000 });
  const words = await conflict.innerText();
  assert.match(words, /changed on another device/);
  assert.match(words, /your rename was not applied/);
  await waitFor(async () => (await sidebar(page)).find((c) => c.id === "conv-trip")?.title === "Trip plans (theirs)", {
    message: "the other device's title shown",
  });
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "conflict-notice");

  await conflict.getByRole("button", { name: "Keep my version" }).click();
  await waitFor(async () => (await stack.api.conversation("conv-trip", token))?.title === "Trip plans (mine)", {
    message: "my title on the server",
  });
  await waitFor(async () => (await sidebar(page)).find((c) => c.id === "conv-trip")?.title === "Trip plans (mine)", {
    message: "my title shown",
  });
  assert.equal(await notice(page, "conflict").count(), 0, "the notice is answered");
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "kept-mine");
  await context.close();
});

test("deleted elsewhere: messages written offline restore the conversation with them", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("deleted-elsewhere");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  await openApp(page, appUrl(stack.app.origin, { syncMs: 500, tokenMs: 15 }));
  const token = await appToken(page);
  await seed(stack.api, token, "conv-pack", "Packing list");
  await waitFor(async () => (await sidebar(page)).some((c) => c.id === "conv-pack"), { message: "the conversation listed" });
  await openConversation(page, "conv-pack");

  // The API goes away; a message and its reply are kept on this device, queued.
  await stack.api.stop();
  await waitFor(() => offlineBannerVisible(page), { message: "the offline banner" });
  await send(page, "Add the tent and two sleeping bags");
  const reply = await finishedReply(page, 3);
  await waitFor(async () => (await queued(page)) === 2, { message: "the turn queued" });
  // The device stays offline while the API returns and another device deletes the conversation.
  await context.setOffline(true);
  await stack.api.start();
  await stack.api.delete("conv-pack", token);

  await context.setOffline(false);
  const deleted = notice(page, "deleted_elsewhere");
  await deleted.waitFor({ timeout: 15_000 });
  const words = await deleted.innerText();
  assert.match(words, /“Packing list” was deleted on another device/);
  assert.match(words, /2 messages you wrote here were not saved/);
  assert.equal(await stack.api.conversation("conv-pack", token), null, "nothing brought back unasked");
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "deleted-elsewhere-notice");

  await deleted.getByRole("button", { name: "Restore it with my messages" }).click();
  const restored = await waitFor(async () => (await stack.api.conversation("conv-pack", token)) ?? undefined, {
    message: "the conversation restored on the server",
  });
  assert.equal(restored.title, "Packing list");
  assert.deepEqual(
    restored.messages.map((/** @type {any} */ m) => [m.type, m.content]),
    [
      ["user", "About Packing list"],
      ["user", "Add the tent and two sleeping bags"],
      ["assistant", reply.content],
    ],
    "what this device held of it, then the messages written offline, once each",
  );
  await waitFor(async () => (await thread(page)).length === 3, { message: "the restored conversation open" });
  assert.equal(await notice(page, "deleted_elsewhere").count(), 0);
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "restored");
  await context.close();
});

test("a reply that cannot start (this device offline) says so, and Try again gets it once back", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("reply-failed");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  await openApp(page, appUrl(stack.app.origin, { syncMs: 500, tokenMs: 15 }));
  const token = await appToken(page);

  await context.setOffline(true);
  await send(page, "Suggest a name for a grey cat");
  const failed = page.getByTestId("reply-failed");
  await failed.waitFor({ timeout: 15_000 });
  assert.match(await failed.innerText(), /The reply did not come through/);
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "reply-failed");

  await context.setOffline(false);
  await waitFor(async () => !(await offlineBannerVisible(page)), { message: "back online" });
  await failed.getByRole("button", { name: "Try again" }).click();
  const reply = await finishedReply(page, 2);
  assert.equal(await page.getByTestId("reply-failed").count(), 0);
  const id = /** @type {string} */ (await page.evaluate(() => document.querySelector(".thread")?.getAttribute("data-conversation-id")));
  const onServer = await waitFor(
    async () => {
      const conversation = await stack.api.conversation(id, token);
      return conversation?.messages.length === 2 ? conversation : undefined;
    },
    { message: "the turn on the server" },
  );
  assert.deepEqual(
    onServer.messages.map((/** @type {any} */ m) => [m.type, m.content]),
    [
      ["user", "Suggest a name for a grey cat"],
      ["assistant", reply.content],
    ],
  );
  await shots.take(page, "tried-again");
  await context.close();
});
