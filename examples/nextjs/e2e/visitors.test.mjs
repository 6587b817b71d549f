// @ts-check
/**
 * Visitors behind the app's pass-through: every browser reaches the API from the app's server,
 * which names each visitor to it (`CHAT_STORE_PROXY_SECRET`, the API's `TRUSTED_PROXY_SECRET`).
 * With a sign-up limit of one per address, two visitors from two addresses each get their
 * token, a second sign-up from the first address is refused, and an `X-Client-IP` a browser
 * sends itself never reaches the API.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openApp } from "./support/app.mjs";
import { appToken, appUrl, reportErrors, useStack } from "./support/harness.mjs";

const started = useStack({ apiEnv: { RATE_LIMIT_ANONYMOUS_REQUESTS: "1" } });

test("behind the pass-through, each visitor has a sign-up budget of their own", async () => {
  const { stack, browser } = started;
  // The address each visitor's host vouches for, as a platform sets it before the app.
  for (const address of ["203.0.113.1", "203.0.113.2"]) {
    const context = await browser.newContext({ extraHTTPHeaders: { "x-real-ip": address } });
    const page = await context.newPage();
    reportErrors(page, address);
    await openApp(page, appUrl(stack.app.origin));
    assert.ok(await appToken(page), `${address} signed up`);
    await context.close();
  }

  /** A sign-up through the pass-through, with `headers` as the visitor's request carried them. */
  const signUp = async (/** @type {Record<string, string>} */ headers) => {
    const response = await fetch(`${stack.app.origin}/store/api/auth/anonymous`, { method: "POST", headers });
    const body = /** @type {{ code?: string }} */ (await response.json());
    return { status: response.status, code: body.code };
  };
  assert.deepEqual(await signUp({ "x-real-ip": "203.0.113.1" }), { status: 429, code: "rate_limited" });
  assert.equal((await signUp({ "x-forwarded-for": "198.51.100.9, 203.0.113.3" })).status, 201);
  assert.deepEqual(await signUp({ "x-real-ip": "203.0.113.3" }), { status: 429, code: "rate_limited" });
  // A browser naming itself (or guessing the secret) is not heard: the pass-through names the
  // address the request came from (Next's x-forwarded-for, this test's loopback), whose budget
  // is unspent, then spent.
  assert.equal((await signUp({ "x-client-ip": "203.0.113.1", "x-proxy-secret": "guess" })).status, 201);
  assert.deepEqual(await signUp({ "x-client-ip": "203.0.113.77" }), { status: 429, code: "rate_limited" });
});
