// @ts-check
/**
 * A reply whose writer vanished: the route stops storing mid-reply as a crashed server would
 * (`?vanishAfter=`, honoured with `CHAT_EXAMPLE_FAULTS=1`: later requests to the API are never
 * sent, heartbeats included). The API's stale limit here is 4 s. A second device following the
 * reply shows it interrupted within seconds of the last thing stored, then stops polling it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { finishedReply, openApp, openConversation, send, sidebar, thread } from "./support/app.mjs";
import {
  NetworkMeter,
  Screenshots,
  TOKEN_KEY,
  appToken,
  appUrl,
  reportErrors,
  useStack,
  waitFor,
} from "./support/harness.mjs";

const STALE_SECONDS = 4;
const FOLLOW_MS = 300;
const started = useStack({
  apiEnv: { STREAMING_STALE_SECONDS: String(STALE_SECONDS) },
  appEnv: { CHAT_EXAMPLE_FAULTS: "1" },
});

test("a reply whose writer vanished reads interrupted within seconds, and its follower stops polling", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("stale-reply");
  const intervals = { syncMs: 500, followMs: FOLLOW_MS, tokenMs: 60 };

  // Device 1: a first turn as usual.
  const device1 = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page1 = await device1.newPage();
  reportErrors(page1, "writer");
  await openApp(page1, appUrl(stack.app.origin, intervals));
  await send(page1, "Plan a day hike with a lake");
  await finishedReply(page1, 2);
  const token = await appToken(page1);
  const id = /** @type {string} */ (await page1.evaluate(() => document.querySelector(".thread")?.getAttribute("data-conversation-id")));
  const stored = await page1.evaluate((key) => localStorage.getItem(key), TOKEN_KEY);

  // Device 2, the same user, has it open.
  const device2 = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await device2.addInitScript(({ key, value }) => localStorage.setItem(key, value ?? ""), { key: TOKEN_KEY, value: stored });
  const page2 = await device2.newPage();
  reportErrors(page2, "follower");
  const meter = await NetworkMeter.attach(page2, stack.app.storeUrl);
  await openApp(page2, appUrl(stack.app.origin, intervals));
  await waitFor(async () => (await sidebar(page2)).some((c) => c.id === id), { message: "the conversation on device 2" });
  await openConversation(page2, id);
  await waitFor(async () => (await thread(page2)).length === 2, { message: "the first turn on device 2" });

  // Device 1 asks again from a page whose route will vanish after 4 requests to the API (the
  // limits, the user's message, the reply's start, a first delta).
  await page1.goto(`${appUrl(stack.app.origin, intervals)}&vanishAfter=4`);
  await page1.locator('.app[data-ready="true"]').waitFor();
  await send(page1, "And what should I pack for it?");

  // Device 2 follows the reply, until nothing more comes.
  const reply = await waitFor(
    async () => {
      const last = (await thread(page2)).at(-1);
      return last?.type === "assistant" && (await thread(page2)).length === 4 ? last : undefined;
    },
    { timeoutMs: 20_000, message: "device 2 following the new reply" },
  );
  await shots.take(page2, "following");
  const lastWrite = await waitFor(
    async () => {
      const onServer = await stack.api.conversation(id, token);
      const message = onServer?.messages.at(-1);
      return message?.id === reply.id ? message : undefined;
    },
    { message: "the reply on the server" },
  );
  assert.ok(lastWrite.streaming === true || lastWrite.interrupted === true, "the writer never finished it");
  const vanishedBy = Date.now();

  const interrupted = page2.locator(`[data-testid="message"][data-id="${reply.id}"] [data-testid="interrupted"]`);
  await interrupted.waitFor({ timeout: (STALE_SECONDS + 10) * 1_000 });
  const shownAfterMs = Date.now() - vanishedBy;
  const onServer = await stack.api.conversation(id, token);
  assert.equal(onServer.messages.at(-1).interrupted, true, "the server reads it interrupted");
  assert.equal(onServer.messages.at(-1).streaming, false);
  // Within the stale limit plus the follower's longest wait between polls (2 s) and a margin.
  assert.ok(shownAfterMs < (STALE_SECONDS + 5) * 1_000, `interrupted shown ${shownAfterMs} ms after the writer vanished`);
  await shots.take(page2, "interrupted");

  // Then nobody polls it: over three follow intervals' worth of the longest wait, no request
  // for the reply (the change feed's polls go on).
  await meter.settle();
  const from = Date.now();
  const messagePath = `/api/conversations/${id}/messages/${reply.id}`;
  await waitFor(async () => Date.now() - from >= 6_000, { intervalMs: 250, message: "a 6 s window" });
  await meter.settle();
  const polls = meter.between(from).filter((r) => r.path.split("?")[0] === messagePath);
  assert.deepEqual(polls, [], "no poll of the interrupted reply");
  const all = meter.requests.filter((r) => r.path.split("?")[0] === messagePath);
  console.log(`device 2 polled the reply ${all.length} time(s) in all; interrupted shown ${shownAfterMs} ms after its writer vanished`);
  assert.equal(meter.preflights, 0, "same origin: no preflight");
  await device1.close();
  await device2.close();
});
