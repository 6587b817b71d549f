// @ts-check
/**
 * One page load, one visitor, one sync engine, no preflight: under `next start` and under
 * `next dev`, whose React strict mode mounts the page, unmounts it while it is still loading
 * and mounts it again. A first visit issues exactly one anonymous token; the change feed is
 * polled once per interval, not twice; the page calls the API on its own origin, so not one
 * request (conditional polls included) pays a CORS preflight.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { finishedReply, openApp, send } from "./support/app.mjs";
import { NetworkMeter, NextApp, Screenshots, appUrl, freePort, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const SYNC_MS = 500;
const WINDOW_MS = 4_000;
const started = useStack();
/** @type {NextApp | undefined} */
let dev;
after(async () => {
  await dev?.stop();
});

/**
 * A first visit to `origin`: the token requests it made and the feed polls in a window of
 * WINDOW_MS once loaded.
 * @param {import("playwright-core").Browser} browser
 * @param {string} origin
 * @param {Screenshots} shots
 */
async function firstVisit(browser, origin, shots) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, origin);
  const meter = await NetworkMeter.attach(page, `${origin}/store`);
  await openApp(page, appUrl(origin, { syncMs: SYNC_MS, tokenMs: 15 }));
  // The engine runs once the first list is in; the window starts at its first poll.
  const first = await waitFor(
    async () => {
      await meter.settle();
      return meter.requests.find((r) => r.path.startsWith("/api/changes"))?.at;
    },
    { message: "the first change-feed poll" },
  );
  await waitFor(async () => Date.now() - first >= WINDOW_MS, { intervalMs: 100, message: "the polling window" });
  await meter.settle();
  const polls = meter.between(first, first + WINDOW_MS).filter((r) => r.path.startsWith("/api/changes"));
  const tokens = meter.requests.filter((r) => r.method === "POST" && r.path === "/api/auth/anonymous");
  await shots.take(page, "loaded");
  return { context, page, meter, polls: polls.length, tokens: tokens.length };
}

test("next start: one token, one engine, and no preflight through a reply and a reload", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("lifecycle-production");
  const { context, page, meter, polls, tokens } = await firstVisit(browser, stack.app.origin, shots);
  assert.equal(tokens, 1, "one anonymous token for a first visit");
  // One engine polls every SYNC_MS: at most WINDOW_MS / SYNC_MS + 1 in the window; two would
  // make about twice that.
  assert.ok(polls >= WINDOW_MS / SYNC_MS - 2 && polls <= WINDOW_MS / SYNC_MS + 1, `${polls} feed polls in ${WINDOW_MS} ms`);

  // A reply, then a reload with the conversation open: conditional reads (If-None-Match), the
  // requests a cross-origin page pays a preflight for.
  await send(page, "Name three birds that winter in Portugal");
  await finishedReply(page, 2);
  await page.reload();
  await page.locator('.app[data-ready="true"]').waitFor();
  await finishedReply(page, 2);
  await meter.settle();
  const conditional = meter.requests.filter((r) => r.method === "GET" && r.status === 304);
  console.log(`next start: ${meter.requests.length} API requests, ${conditional.length} answered 304, ${meter.preflights} preflight(s)`);
  assert.equal(meter.preflights, 0, "no CORS preflight: the API is on the page's origin");
  assert.ok(meter.requests.every((r) => r.path.startsWith("/api/")), "every API request went through /store");
  await shots.take(page, "after-reload");
  await context.close();
});

test("next dev (React strict mode): one token and one engine per page load", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("lifecycle-strict-mode");
  dev = new NextApp(await freePort());
  await dev.startDev(stack.api.baseUrl);
  const { context, polls, tokens, meter } = await firstVisit(browser, dev.origin, shots);
  console.log(`next dev: ${tokens} token request(s), ${polls} feed polls in ${WINDOW_MS} ms`);
  assert.equal(tokens, 1, "one anonymous token though the page mounted twice");
  assert.ok(polls >= WINDOW_MS / SYNC_MS - 2 && polls <= WINDOW_MS / SYNC_MS + 1, `${polls} feed polls in ${WINDOW_MS} ms`);
  assert.equal(
    meter.requests.filter((r) => r.path.startsWith("/api/conversations?")).length,
    1,
    "the list read once though the page mounted twice",
  );
  assert.equal(meter.preflights, 0);
  await context.close();
});
