import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { DEFAULT_RETRY, backoffMs, parseRetryAfter } from "../../src/retry.js";
import { abortableSleep } from "../../src/transport.js";

describe("parseRetryAfter", () => {
  it("reads delay-seconds and HTTP-dates, and ignores the unreadable", () => {
    const now = Date.parse("2025-03-01T09:00:00Z");
    assert.equal(parseRetryAfter("5", now), 5);
    assert.equal(parseRetryAfter(" 0 ", now), 0);
    assert.equal(parseRetryAfter("Sat, 01 Mar 2025 09:00:10 GMT", now), 10);
    assert.equal(parseRetryAfter("Sat, 01 Mar 2025 08:00:00 GMT", now), 0);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

describe("backoffMs", () => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };

  it("doubles, with jitter between half and the whole step, up to the cap", () => {
    assert.equal(backoffMs(policy, 0, undefined, 0), 50);
    assert.equal(backoffMs(policy, 0, undefined, 1), 100);
    assert.equal(backoffMs(policy, 3, undefined, 1), 800);
    assert.equal(backoffMs(policy, 10, undefined, 1), 1000);
  });

  it("never waits less than Retry-After", () => {
    assert.equal(backoffMs(policy, 0, 2, 0), 2000);
  });
});

describe("abortableSleep", () => {
  it("rejects when aborted", async () => {
    const controller = new AbortController();
    const sleeping = abortableSleep(60_000, controller.signal);
    controller.abort(new Error("stop"));
    await assert.rejects(sleeping, /stop/);
  });

  it("resolves after the wait", async () => {
    await abortableSleep(1);
  });
});
