import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreError, CircuitBreaker } from "../../src/index.js";

const unreachable = (): ChatStoreError => new ChatStoreError({ status: 0, code: "network_error", detail: "down" });
const unavailable = (): ChatStoreError => new ChatStoreError({ status: 503, code: "store_unavailable", detail: "down" });
const refused = (): ChatStoreError => new ChatStoreError({ status: 404, code: "not_found", detail: "no" });

function setup(options: { failureThreshold?: number; cooldownMs?: number; maxCooldownMs?: number } = {}) {
  let now = 1_000;
  let calls = 0;
  const breaker = new CircuitBreaker({ ...options, now: () => now });
  const run = (outcome: () => unknown) =>
    breaker.call(async () => {
      calls++;
      const value = outcome();
      if (value instanceof Error) throw value;
      return value;
    });
  return {
    breaker,
    run,
    calls: () => calls,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function fails(promise: Promise<unknown>): Promise<ChatStoreError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ChatStoreError);
    return error;
  }
  assert.fail("did not fail");
}

describe("CircuitBreaker", () => {
  it("opens after three unreachable failures in a row and then fails fast without calling", async () => {
    const t = setup();
    await fails(t.run(unreachable));
    await fails(t.run(unavailable));
    assert.equal(t.breaker.state, "closed");
    await fails(t.run(unreachable));
    assert.equal(t.breaker.state, "open");
    assert.equal(t.breaker.retryInMs, 5_000);

    const error = await fails(t.run(() => "never"));
    assert.equal(error.code, "circuit_open");
    assert.equal(error.status, 0);
    assert.equal(error.retryable, true);
    assert.equal(t.calls(), 3, "no call while open");
  });

  it("does not count refusals: a 4xx or a 429 proves the API reachable", async () => {
    const t = setup({ failureThreshold: 2 });
    await fails(t.run(unreachable));
    await fails(t.run(refused));
    await fails(t.run(unreachable));
    await fails(t.run(() => new ChatStoreError({ status: 429, code: "rate_limited", detail: "slow" })));
    await fails(t.run(unreachable));
    assert.equal(t.breaker.state, "closed");
    await fails(t.run(unreachable));
    assert.equal(t.breaker.state, "open");
  });

  it("lets one probe through after the cooldown; its success closes the breaker", async () => {
    const t = setup({ failureThreshold: 1 });
    await fails(t.run(unreachable));
    t.advance(4_999);
    assert.equal(t.breaker.state, "open");
    t.advance(1);
    assert.equal(t.breaker.state, "half-open");

    let release!: (value: string) => void;
    const probe = t.breaker.call(() => new Promise<string>((resolve) => (release = resolve)));
    assert.equal(t.breaker.state, "open", "one probe at a time");
    assert.equal((await fails(t.run(() => "second"))).code, "circuit_open");
    release("ok");
    assert.equal(await probe, "ok");
    assert.equal(t.breaker.state, "closed");
    assert.equal(await t.run(() => "after"), "after");
  });

  it("doubles the cooldown after each failed probe, up to the ceiling, and resets on success", async () => {
    const t = setup({ failureThreshold: 1, cooldownMs: 1_000, maxCooldownMs: 3_000 });
    await fails(t.run(unreachable));
    const cooldowns: number[] = [t.breaker.retryInMs];
    for (let i = 0; i < 3; i++) {
      t.advance(t.breaker.retryInMs);
      await fails(t.run(unreachable));
      cooldowns.push(t.breaker.retryInMs);
    }
    assert.deepEqual(cooldowns, [1_000, 2_000, 3_000, 3_000]);
    t.advance(3_000);
    await t.run(() => "up");
    await fails(t.run(unreachable));
    assert.equal(t.breaker.retryInMs, 1_000);
  });

  it("closes when the probe is answered with a refusal", async () => {
    const t = setup({ failureThreshold: 1 });
    await fails(t.run(unreachable));
    t.advance(5_000);
    await fails(t.run(refused));
    assert.equal(t.breaker.state, "closed");
  });

  it("close(): an answer seen elsewhere closes it at once and starts the cooldown over", async () => {
    const t = setup({ failureThreshold: 1, cooldownMs: 1_000 });
    await fails(t.run(unreachable));
    t.advance(1_000);
    await fails(t.run(unreachable)); // a failed probe: the cooldown is now 2,000
    assert.equal(t.breaker.state, "open");
    t.breaker.close();
    assert.equal(t.breaker.state, "closed");
    assert.equal(await t.run(() => "through"), "through");
    await fails(t.run(unreachable));
    assert.equal(t.breaker.retryInMs, 1_000, "the first cooldown again");
  });

  it("a probe that fails after close() counts as an ordinary failure", async () => {
    const t = setup({ failureThreshold: 2, cooldownMs: 1_000 });
    await fails(t.run(unreachable));
    await fails(t.run(unreachable));
    t.advance(1_000);
    let fail!: () => void;
    const probe = t.breaker.call(() => new Promise<never>((_, reject) => (fail = () => reject(unreachable()))));
    t.breaker.close();
    fail();
    await fails(probe);
    assert.equal(t.breaker.state, "closed", "one failure of two");
  });
});
