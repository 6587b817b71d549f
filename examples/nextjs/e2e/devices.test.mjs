// @ts-check
/**
 * Scenario (b): one user on two devices (two browser contexts with the same token). Device 2
 * sees device 1's new conversation, then device 1's next reply growing while it streams (at
 * least one partial state, then the exact final text, tool step included), then its deletion.
 *
 * Device 2's requests to the API are metered: one idle sync cycle (from one change-feed poll
 * to the next) and following the streamed reply (from device 1's send until device 2 shows the
 * final text). They are printed and written to test-results/sync-metrics.json.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { finishedReply, openApp, openConversation, remove, send, sidebar, thread } from "./support/app.mjs";
import {
  NetworkMeter,
  Screenshots,
  TOKEN_KEY,
  appToken,
  appUrl,
  reportErrors,
  summarize,
  useStack,
  waitFor,
  writeResult,
} from "./support/harness.mjs";

const SYNC_MS = 500;
const FOLLOW_MS = 300;

const started = useStack();

test("a second device follows the first: new conversation, streamed reply, deletion", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("two-devices");
  // Device 1's replies take a few seconds, so device 2 can be seen following one.
  const url = appUrl(stack.app.origin, { syncMs: SYNC_MS, followMs: FOLLOW_MS, tokenMs: 100 });

  const device1 = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page1 = await device1.newPage();
  reportErrors(page1, "device 1");
  await openApp(page1, url);
  const token = await appToken(page1);
  const stored = await page1.evaluate((key) => localStorage.getItem(key), TOKEN_KEY);

  // Device 2 is the same user: the app's token copied into its localStorage before it loads.
  const device2 = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await device2.addInitScript(({ key, value }) => localStorage.setItem(key, value ?? ""), {
    key: TOKEN_KEY,
    value: stored,
  });
  const page2 = await device2.newPage();
  reportErrors(page2, "device 2");
  const meter = await NetworkMeter.attach(page2, stack.api.baseUrl);
  await openApp(page2, url);

  // Device 1 starts a conversation; device 2 lists it at its next sync.
  await send(page1, "Compare two hiking routes near Zermatt");
  const firstReply = await finishedReply(page1, 2);
  const conversationId = await waitFor(() => page1.locator(".thread").getAttribute("data-conversation-id"), {
    message: "device 1's conversation id",
  });
  assert.ok(conversationId);
  await waitFor(async () => (await sidebar(page2)).some((c) => c.id === conversationId), {
    message: "device 2 to list device 1's new conversation",
  });
  await shots.take(page1, "device1-new-conversation");
  await shots.take(page2, "device2-sees-it");
  await openConversation(page2, conversationId);
  await waitFor(async () => (await thread(page2)).at(-1)?.content === firstReply.content, {
    message: "device 2 to show the first reply",
  });

  // One idle sync cycle on device 2: from one change-feed poll to the next.
  const idleFrom = Date.now();
  const polls = await waitFor(
    () => {
      const feed = meter.between(idleFrom).filter((r) => r.path.startsWith("/api/changes") && !r.preflight);
      return feed.length >= 3 ? feed : undefined;
    },
    { timeoutMs: SYNC_MS * 10, message: "three change-feed polls on device 2" },
  );
  await meter.settle();
  const [, cycleStart, cycleEnd] = polls;
  assert.ok(cycleStart && cycleEnd);
  const idle = meter.between(cycleStart.at, cycleEnd.at);

  // Device 1 asks again; device 2 follows the reply as it streams.
  const followFrom = Date.now();
  await send(page1, "Which one is better in October?");
  /** @type {string[]} */
  const seen = [];
  let partialShot = false;
  /** @type {{ content: string } | undefined} */
  let finishedOn1;
  const finalOnDevice1 = finishedReply(page1, 4).then((reply) => (finishedOn1 = reply));
  finalOnDevice1.catch(() => undefined); // awaited below; a failure is reported there
  await waitFor(
    async () => {
      const last = (await thread(page2)).at(-1);
      const isNewReply = last?.type === "assistant" && last.id !== firstReply.id;
      if (last && isNewReply && (seen.at(-1) !== last.content || !last.streaming)) {
        seen.push(last.content);
        if (last.streaming && last.content !== "" && !partialShot) {
          partialShot = true;
          await shots.take(page2, "device2-reply-growing");
        }
      }
      return (
        finishedOn1 !== undefined &&
        last !== undefined &&
        isNewReply &&
        !last.streaming &&
        last.content === finishedOn1.content
      );
    },
    { timeoutMs: 40_000, message: "device 2 to show device 1's finished reply" },
  );
  const followTo = Date.now();
  const final = (await finalOnDevice1).content;
  await meter.settle();
  const follow = meter.between(followFrom, followTo);

  const partials = seen.filter((text) => text !== "" && text !== final && final.startsWith(text));
  // Growing, as the follow polls show it: every FOLLOW_MS over a reply of about 6 s, so many
  // partial texts. Refetching the conversation on the feed's upserts alone (no following)
  // lands mid-reply only two or three times; at least five tells the two apart.
  assert.ok(
    new Set(partials).size >= 5,
    `device 2 showed the reply growing while it streamed; states seen: ${JSON.stringify(seen)}`,
  );
  assert.ok(
    seen.every((text) => final.startsWith(text)),
    "every state device 2 showed is a prefix of the final text",
  );
  const lastOn2 = (await thread(page2)).at(-1);
  assert.equal(lastOn2?.content, final);
  assert.deepEqual(lastOn2?.tools, ["Tool search_notes: completed"]);
  await shots.take(page1, "device1-reply-done");
  await shots.take(page2, "device2-reply-done");

  // The server holds both turns exactly once.
  const onServer = await stack.api.conversation(conversationId, token);
  assert.deepEqual(
    onServer.messages.map((/** @type {any} */ m) => m.type),
    ["user", "assistant", "user", "assistant"],
  );
  assert.equal(onServer.messages[3].content, final);
  assert.equal(onServer.messages[3].streaming, false);

  // Device 1 deletes it; device 2 drops it from its list and closes it.
  await remove(page1, conversationId);
  await waitFor(async () => !(await sidebar(page2)).some((c) => c.id === conversationId), {
    message: "device 2 to drop the deleted conversation",
  });
  await waitFor(async () => (await page2.locator(".thread").getAttribute("data-conversation-id")) === null, {
    message: "device 2 to close the deleted conversation",
  });
  assert.equal(await stack.api.conversation(conversationId, token), null);
  await shots.take(page2, "device2-after-delete");

  const metrics = {
    syncIntervalMs: SYNC_MS,
    followIntervalMs: FOLLOW_MS,
    idleSyncCycle: { ...summarize(idle), detail: idle },
    followStreamedReply: {
      ...summarize(follow),
      durationMs: followTo - followFrom,
      replyChars: final.length,
      statesSeen: seen.length,
      detail: follow,
    },
  };
  const path = writeResult("sync-metrics.json", metrics);
  console.log(
    `device 2, one idle sync cycle: ${metrics.idleSyncCycle.requests} request(s), ` +
      `${metrics.idleSyncCycle.bytesSent} B sent, ${metrics.idleSyncCycle.bytesReceived} B received`,
  );
  console.log(
    `device 2, following a ${final.length}-char reply for ${metrics.followStreamedReply.durationMs} ms: ` +
      `${metrics.followStreamedReply.requests} request(s), ${metrics.followStreamedReply.bytesSent} B sent, ` +
      `${metrics.followStreamedReply.bytesReceived} B received; by kind: ` +
      JSON.stringify(Object.fromEntries(Object.entries(metrics.followStreamedReply.byKind).map(([k, v]) => [k, v.requests]))),
  );
  console.log(`metrics: ${path}`);
  await device1.close();
  await device2.close();
});
