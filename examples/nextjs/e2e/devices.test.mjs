// @ts-check
/**
 * Scenario (b): one user on two devices (two browser contexts with the same token). Device 2
 * sees device 1's new conversation, then device 1's next reply growing while it streams (at
 * least one partial state, then the exact final text, tool step included), then its deletion.
 *
 * Device 2's requests to the API are metered. Its first load, opening a conversation and a
 * reload with it open must each read the list and the conversation at most once (checked
 * request by request); one idle sync cycle (from one change-feed poll to the next) and
 * following the streamed reply (from device 1's send until device 2 shows the final text) are
 * printed and written to test-results/sync-metrics.json.
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

/**
 * `METHOD path` of the requests other than the change feed's polls (`preflight` marks a CORS
 * preflight), in the order they were sent.
 * @param {import("./support/harness.mjs").MeteredRequest[]} requests
 */
function besidesFeed(requests) {
  return requests
    .filter((r) => !r.path.startsWith("/api/changes"))
    .map((r) => `${r.preflight ? "preflight " : ""}${r.method} ${r.path}`);
}

/**
 * Waits until device 2 has polled the change feed `count` times since `from`, so whatever the
 * app or its sync engine sends around an action has been sent, and returns when the last began.
 * @param {NetworkMeter} meter
 * @param {number} from
 * @param {number} count
 */
async function feedPolls(meter, from, count) {
  const polls = await waitFor(
    () => {
      const feed = meter.between(from).filter((r) => r.path.startsWith("/api/changes") && !r.preflight);
      return feed.length >= count ? feed : undefined;
    },
    { timeoutMs: SYNC_MS * 20, message: `${count} change-feed polls on device 2` },
  );
  await meter.settle();
  return /** @type {NonNullable<(typeof polls)[number]>} */ (polls[count - 1]).at;
}

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
  const meter = await NetworkMeter.attach(page2, stack.app.storeUrl);
  const loadFrom = Date.now();
  await openApp(page2, url);
  // A first load lists once: the sync engine follows the feed from the list's changesCursor.
  const loadTo = await feedPolls(meter, loadFrom, 2);
  const firstLoad = meter.between(loadFrom, loadTo);
  const listing = ["GET /api/conversations?limit=100"];
  assert.deepEqual(
    besidesFeed(firstLoad).filter((line) => !line.startsWith("preflight")),
    listing,
    `device 2's first load: ${JSON.stringify(firstLoad)}`,
  );
  assert.ok(besidesFeed(firstLoad).every((line) => line === `preflight OPTIONS ${listing[0]?.slice(4)}` || !line.startsWith("preflight")));

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
  // Opening it is one read: the sync engine takes the store's read (its ETag) as its own.
  const openFrom = Date.now();
  await openConversation(page2, conversationId);
  await waitFor(async () => (await thread(page2)).at(-1)?.content === firstReply.content, {
    message: "device 2 to show the first reply",
  });
  const openTo = await feedPolls(meter, Date.now(), 2);
  const opening = meter.between(openFrom, openTo);
  const readIt = `GET /api/conversations/${conversationId}?limit=100`;
  assert.deepEqual(
    besidesFeed(opening).filter((line) => line !== `preflight OPTIONS ${readIt.slice(4)}`),
    [readIt],
    `device 2 opening the conversation: ${JSON.stringify(opening)}`,
  );
  assert.ok(besidesFeed(opening).length <= 2, "at most one preflight, for that read");

  // A reload with it open: the list and the conversation once each (both conditional).
  const reloadFrom = Date.now();
  await page2.reload();
  await page2.locator('.app[data-ready="true"]').waitFor({ timeout: 20_000 });
  await waitFor(async () => (await thread(page2)).at(-1)?.content === firstReply.content, {
    message: "device 2 to show the first reply after a reload",
  });
  const reloadTo = await feedPolls(meter, Date.now(), 2);
  const reloading = meter.between(reloadFrom, reloadTo);
  assert.deepEqual(
    besidesFeed(reloading).filter((line) => !line.startsWith("preflight")),
    [...listing, readIt],
    `device 2 reloading with the conversation open: ${JSON.stringify(reloading)}`,
  );

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

  // Followed once: by the transport that shows it (the store's engine leaves it to it), so no
  // more than one poll of the reply per FOLLOW_MS (two followers made about twice that), and on
  // the page's own origin, no preflight.
  const replyPolls = follow.filter((r) => r.method === "GET" && /\/messages\/[^/]+$/.test(r.path.split("?")[0] ?? ""));
  assert.ok(
    replyPolls.length <= Math.ceil((followTo - followFrom) / FOLLOW_MS) + 2,
    `${replyPolls.length} polls of the reply in ${followTo - followFrom} ms`,
  );
  assert.equal(follow.filter((r) => r.preflight).length, 0, "no preflight");
  assert.equal(meter.preflights, 0, "no preflight at all");

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
    firstLoad: { ...summarize(firstLoad), detail: firstLoad },
    openConversation: { ...summarize(opening), detail: opening },
    reloadWithConversationOpen: { ...summarize(reloading), detail: reloading },
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
  for (const [label, requests] of /** @type {const} */ ([
    ["first load", firstLoad],
    ["opening a conversation", opening],
    ["reload with it open", reloading],
  ])) {
    console.log(`device 2, ${label} (to its 2nd change-feed poll): ${JSON.stringify(requests.map((r) => `${r.preflight ? "preflight " : ""}${r.method} ${r.path} ${r.status}`))}`);
  }
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
