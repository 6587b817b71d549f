// @ts-check
/**
 * Rate limited: with a small per-user limit (40 requests in 20 s), the same user's requests
 * from elsewhere use it up; the page says so in words, with the seconds left counting down
 * (never "offline", never the API's code), and carries on by itself once the window has passed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connectionBanner, developerCodesShown, openApp } from "./support/app.mjs";
import { Screenshots, appToken, appUrl, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const WINDOW_MS = 20_000;

const started = useStack({
  // A window long enough that the page meets the limit with seconds to count down, however
  // late in the window a loaded machine gets the page there.
  apiEnv: { RATE_LIMIT_USER_REQUESTS: "40", RATE_LIMIT_USER_WINDOW_SECONDS: String(WINDOW_MS / 1000) },
});

test("rate limited: the time left, counting down, then back by itself", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("rate-limit");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  await openApp(page, appUrl(stack.app.origin, { syncMs: 1000 }));
  const token = await appToken(page);

  // Windows are aligned to the clock (as upstash-ratelimit's are) and the page counts down to the
  // end of the current one, so use the limit up early in a window: late in one, the page would
  // meet it with a second left and nothing to count.
  const leftInWindow = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (leftInWindow < WINDOW_MS / 2) await sleep(leftInWindow + 100);

  // The same user elsewhere (a script, another tab) uses up the limit.
  await waitFor(
    async () => {
      const response = await fetch(`${stack.api.baseUrl}/api/conversations?limit=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await response.arrayBuffer();
      return response.status === 429;
    },
    { intervalMs: 0, message: "the user's limit used up" },
  );

  const first = await waitFor(
    async () => {
      const banner = await connectionBanner(page);
      const seconds = banner?.state === "rate_limited" ? /continue in (\d+) s/.exec(banner.text)?.[1] : undefined;
      return seconds === undefined ? undefined : { seconds: Number(seconds), text: banner?.text ?? "" };
    },
    { message: "the rate-limit banner with the seconds left" },
  );
  assert.match(first.text, /Too many requests for now/);
  assert.ok(first.seconds >= 2, `met with ${first.seconds} s left: too late in the window to see it count`);
  assert.doesNotMatch(first.text, /offline/i);
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "rate-limited");

  // The count goes down, once a second.
  await waitFor(
    async () => {
      const banner = await connectionBanner(page);
      const seconds = /continue in (\d+) s/.exec(banner?.text ?? "")?.[1];
      return seconds !== undefined && Number(seconds) < first.seconds;
    },
    { timeoutMs: 5_000, message: `fewer than ${first.seconds} s left` },
  );
  await shots.take(page, "counting-down");

  // Once the window has passed, the next poll gets an answer and the banner goes.
  // (The count reaching 0 hides the banner a moment before the poll that proves it over.)
  await waitFor(
    async () =>
      (await connectionBanner(page)) === null && (await page.locator(".app").getAttribute("data-connection")) === "online",
    { timeoutMs: 40_000, message: "the banner gone and the page online once the limit allows again" },
  );
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "back");
  await context.close();
});
