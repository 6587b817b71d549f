// @ts-check
/**
 * The store down: the API runs, its Upstash (the stand-in, a process of its own here) stops,
 * and the API answers 503. The page says the service is having trouble and that changes are
 * kept, distinct from offline, with no code; when the store is back, so is the page.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectionBanner, developerCodesShown, openApp } from "./support/app.mjs";
import { Screenshots, UpstashStandIn, appUrl, launchBrowser, reportErrors, startStack, waitFor } from "./support/harness.mjs";

/** @type {UpstashStandIn} */
let standIn;
/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
/** @type {import("playwright-core").Browser} */
let browser;

before(async () => {
  standIn = await UpstashStandIn.create();
  stack = await startStack({ apiEnv: standIn.env });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  await standIn?.stop();
});

test("store down: said as such, not offline, and gone once the store is back", async () => {
  const shots = new Screenshots("store-down");
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  await openApp(page, appUrl(stack.app.origin, { syncMs: 500 }));
  assert.equal(await connectionBanner(page), null);

  await standIn.stop();
  const banner = await waitFor(
    async () => {
      const shown = await connectionBanner(page);
      return shown?.state === "store_down" ? shown : undefined;
    },
    { timeoutMs: 20_000, message: "the store-down banner" },
  );
  assert.match(banner.text, /The chat service is having trouble/);
  assert.match(banner.text, /kept on this device/);
  assert.doesNotMatch(banner.text, /offline/i);
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "store-down");

  await standIn.start();
  await waitFor(async () => (await connectionBanner(page)) === null, {
    timeoutMs: 30_000,
    message: "the banner gone once the store answers",
  });
  assert.deepEqual(await developerCodesShown(page), []);
  await shots.take(page, "back");
  await context.close();
});
