import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatStoreClient, ChatStoreError } from "../../src/index.js";
import type { ChatStoreClientOptions } from "../../src/index.js";
import { fakeFetch, fakeSleep, problem } from "../support/fake-fetch.js";
import type { Scripted } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const MESSAGE = {
  id: "m1",
  type: "user",
  content: "Hello",
  timestamp: "2025-03-01T09:00:00.000Z",
} as const;

function setup(script: Scripted[], options: Partial<ChatStoreClientOptions> = {}) {
  const fake = fakeFetch(...script);
  const clock = fakeSleep();
  let n = 0;
  const client = new ChatStoreClient({
    baseUrl: `${BASE}/`,
    fetch: fake.fetch,
    sleep: clock.sleep,
    random: () => 0,
    generateId: () => `id-${++n}`,
    getToken: () => "tok",
    ...options,
  });
  return { client, requests: fake.requests, waits: clock.waits };
}

async function rejection(promise: Promise<unknown>): Promise<ChatStoreError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ChatStoreError, `not a ChatStoreError: ${String(error)}`);
    return error;
  }
  assert.fail("the call did not fail");
}

describe("headers", () => {
  it("sends the bearer token, a request id and an idempotency key on a write", async () => {
    const { client, requests } = setup([{ status: 201, body: MESSAGE, headers: { ETag: '"1"' } }]);
    const result = await client.appendMessage("c 1", { ...MESSAGE, timestamp: new Date(MESSAGE.timestamp) });
    const seen = requests[0]!;
    assert.equal(seen.url, `${BASE}/api/conversations/c%201/messages`);
    assert.equal(seen.method, "POST");
    assert.equal(seen.headers.get("Authorization"), "Bearer tok");
    assert.equal(seen.headers.get("X-Request-Id"), "id-1");
    assert.equal(seen.headers.get("Idempotency-Key"), "id-2");
    assert.equal(seen.headers.get("Content-Type"), "application/json");
    assert.deepEqual(seen.body, MESSAGE, "a Date goes on the wire as its ISO string");
    assert.equal(result.etag, '"1"');
    assert.equal(result.status, 201);
  });

  it("sends no idempotency key on a read, and none when turned off", async () => {
    const { client, requests } = setup([
      { status: 200, body: { conversations: [], nextCursor: null, changesCursor: "c0" } },
      { status: 204 },
    ]);
    await client.listConversations({ limit: 5 });
    await client.deleteConversation("c1", { idempotencyKey: false });
    assert.equal(requests[0]!.url, `${BASE}/api/conversations?limit=5`);
    assert.equal(requests[0]!.headers.has("Idempotency-Key"), false);
    assert.equal(requests[1]!.headers.has("Idempotency-Key"), false);
  });

  it("awaits an async token provider and sends no token to the public calls", async () => {
    let asked = 0;
    const { client, requests } = setup(
      [
        { status: 201, body: { token: "t", userId: "anon_1", expiresAt: "2025-04-01T00:00:00Z" } },
        { status: 200, body: { userId: "u" } },
      ],
      {
        getToken: async () => {
          asked++;
          return "async-tok";
        },
      },
    );
    const issued = await client.issueAnonymousToken();
    assert.ok(issued.data.expiresAt instanceof Date);
    await client.getMe();
    assert.equal(requests[0]!.headers.has("Authorization"), false);
    assert.equal(requests[1]!.headers.get("Authorization"), "Bearer async-tok");
    assert.equal(asked, 1);
  });

  it("sends If-Match and If-None-Match on writes, Prefer on a minimal message update", async () => {
    const { client, requests } = setup([{ status: 204 }, { status: 201, body: {} }]);
    const minimal = await client.updateMessage(
      "c1",
      "m1",
      { appendContent: "hi", sequence: 1 },
      { ifMatch: '"3"', returnMinimal: true },
    );
    assert.equal(minimal.data, undefined);
    await client.putConversation(
      "c1",
      { id: "c1", title: "t", messages: [], createdAt: new Date(0), updatedAt: new Date(0), totalTokens: 0 },
      { ifNoneMatch: "*" },
    );
    assert.equal(requests[0]!.headers.get("If-Match"), '"3"');
    assert.equal(requests[0]!.headers.get("Prefer"), "return=minimal");
    assert.equal(requests[1]!.headers.get("If-None-Match"), "*");
    assert.equal(requests[1]!.headers.has("If-Match"), false);
    assert.deepEqual(requests[1]!.body, {
      id: "c1",
      title: "t",
      messages: [],
      createdAt: "1970-01-01T00:00:00.000Z",
      updatedAt: "1970-01-01T00:00:00.000Z",
      totalTokens: 0,
    });
  });

  it("keeps the sync token of an answer and sends it with the next request", async () => {
    const kept: string[] = [];
    const { client, requests } = setup(
      [
        { status: 201, body: MESSAGE, headers: { "Upstash-Sync-Token": "s1" } },
        { status: 404, body: problem(404, "not_found"), headers: { "Upstash-Sync-Token": "s2" } },
        { status: 200, body: { userId: "u" } },
      ],
      { syncToken: "s0", onSyncToken: (token) => kept.push(token) },
    );
    await client.appendMessage("c1", MESSAGE);
    await rejection(client.getConversation("gone"));
    await client.getMe();
    assert.deepEqual(
      requests.map((r) => r.headers.get("Upstash-Sync-Token")),
      ["s0", "s1", "s2"],
    );
    assert.deepEqual(kept, ["s1", "s2"]);
    assert.equal(client.syncToken, "s2");
  });
});

describe("conditional reads", () => {
  it("returns a not-modified result on 304", async () => {
    const { client, requests } = setup([{ status: 304, headers: { ETag: '"7"' } }]);
    const result = await client.getConversation("c1", { limit: 10 }, { ifNoneMatch: '"7"' });
    assert.equal(requests[0]!.headers.get("If-None-Match"), '"7"');
    assert.equal(result.notModified, true);
    assert.equal(result.etag, '"7"');
  });

  it("turns date fields into Dates, leaving the user's JSON alone", async () => {
    const body = {
      id: "c1",
      title: "t",
      createdAt: "2025-03-01T09:00:00.000Z",
      updatedAt: "2025-03-02T09:00:00.000Z",
      totalTokens: 0,
      messageCount: 1,
      nextCursor: null,
      mcpServers: { s: { createdAt: "2025-01-01T00:00:00Z" } },
      messages: [
        {
          ...MESSAGE,
          toolExecutions: [{ id: "t1", name: "n", status: "completed", output: { timestamp: "2025-01-01" } }],
        },
      ],
    };
    const { client } = setup([{ status: 200, body, headers: { ETag: '"2"' } }]);
    const result = await client.getConversation("c1");
    assert.equal(result.notModified, false);
    if (result.notModified) return;
    const view = result.data;
    assert.ok(view.createdAt instanceof Date);
    assert.equal(view.updatedAt.toISOString(), "2025-03-02T09:00:00.000Z");
    assert.ok(view.messages[0]!.timestamp instanceof Date);
    assert.deepEqual(view.messages[0]!.toolExecutions![0]!.output, { timestamp: "2025-01-01" });
    assert.deepEqual(view.mcpServers, { s: { createdAt: "2025-01-01T00:00:00Z" } });
  });

  it("turns the change feed's dates into Dates", async () => {
    const { client } = setup([
      {
        status: 200,
        body: {
          changes: [
            { type: "tombstone", id: "c1", reason: "deleted", at: "2025-03-01T09:00:00Z" },
            {
              type: "upsert",
              id: "c2",
              version: 2,
              conversation: { id: "c2", title: "t", createdAt: "2025-03-01T09:00:00Z", updatedAt: "2025-03-01T09:00:00Z", totalTokens: 0, messageCount: 0 },
            },
          ],
          nextCursor: "n",
          hasMore: false,
        },
      },
    ]);
    const { data } = await client.listChanges({ since: "c0" });
    const [tombstone, upsert] = data.changes;
    assert.ok(tombstone?.type === "tombstone" && tombstone.at instanceof Date);
    assert.ok(upsert?.type === "upsert" && upsert.conversation.updatedAt instanceof Date);
  });
});

describe("errors", () => {
  it("maps a 412 to ChatStoreError with currentVersion and the current ETag", async () => {
    const { client } = setup([
      { status: 412, body: problem(412, "precondition_failed", { currentVersion: 4 }), headers: { ETag: '"4"', "X-Request-Id": "r-412" } },
    ]);
    const error = await rejection(client.updateConversation("c1", { title: "x" }, { ifMatch: '"3"' }));
    assert.equal(error.status, 412);
    assert.equal(error.code, "precondition_failed");
    assert.equal(error.detail, "precondition_failed detail");
    assert.equal(error.currentVersion, 4);
    assert.equal(error.etag, '"4"');
    assert.equal(error.requestId, "r-412");
    assert.equal(error.retryable, false);
  });

  it("carries lastSequence of a sequence gap and the field errors of a validation failure", async () => {
    const { client } = setup([
      { status: 409, body: problem(409, "sequence_gap", { lastSequence: 2 }) },
      { status: 422, body: problem(422, "validation_failed", { errors: [{ location: "title", type: "string", problem: "bad" }] }) },
    ]);
    const gap = await rejection(client.updateMessage("c1", "m1", { appendContent: "x", sequence: 4 }));
    assert.equal(gap.lastSequence, 2);
    const invalid = await rejection(client.updateConversation("c1", { title: "x" }));
    assert.deepEqual(invalid.errors, [{ location: "title", type: "string", problem: "bad" }]);
  });

  it("maps an answer that is not problem+json to invalid_response", async () => {
    const { client } = setup([{ status: 404, body: { message: "Not Found" } }]);
    const error = await rejection(client.getMe());
    assert.equal(error.code, "invalid_response");
    assert.equal(error.status, 404);
  });

  it("returns health's 503 instead of throwing", async () => {
    const { client, requests } = setup([
      { status: 503, body: { status: "unhealthy", error: "down", redis: { breaker: "open" }, timestamp: "2025-03-01T09:00:00Z" }, headers: { "Retry-After": "5" } },
    ]);
    const result = await client.health();
    assert.equal(result.status, 503);
    assert.equal(result.data.status, "unhealthy");
    assert.ok(result.data.timestamp instanceof Date);
    assert.equal(requests.length, 1);
  });
});

describe("retries", () => {
  it("waits Retry-After on 429 and 503 and reuses the idempotency key and request id", async () => {
    const { client, requests, waits } = setup([
      { status: 503, body: problem(503, "store_unavailable"), headers: { "Retry-After": "1" } },
      { status: 429, body: problem(429, "rate_limited"), headers: { "Retry-After": "2" } },
      { status: 201, body: MESSAGE },
    ]);
    const result = await client.appendMessage("c1", MESSAGE);
    assert.equal(result.status, 201);
    assert.deepEqual(waits, [1000, 2000]);
    const keys = new Set(requests.map((r) => r.headers.get("Idempotency-Key")));
    const ids = new Set(requests.map((r) => r.headers.get("X-Request-Id")));
    assert.equal(requests.length, 3);
    assert.equal(keys.size, 1);
    assert.equal(ids.size, 1);
  });

  it("retries the gateway's 502 and 504 as it does 503: the write behind them may not have happened", async () => {
    const { client, requests, waits } = setup([
      { status: 502, body: { message: "Internal Server Error" } },
      { status: 504, body: { message: "Service Unavailable" } },
      { status: 201, body: MESSAGE },
    ]);
    const result = await client.appendMessage("c1", MESSAGE);
    assert.equal(result.status, 201);
    assert.equal(waits.length, 2);
    assert.equal(new Set(requests.map((r) => r.headers.get("Idempotency-Key"))).size, 1);
  });

  it("backs off exponentially when Retry-After is absent, then gives up with the last error", async () => {
    const { client, requests, waits } = setup(
      [
        { status: 503, body: problem(503, "store_unavailable") },
        { status: 503, body: problem(503, "store_unavailable") },
        { status: 503, body: problem(503, "store_unavailable") },
      ],
      { retry: { retries: 2, baseDelayMs: 100 }, random: () => 1 },
    );
    const error = await rejection(client.getMe());
    assert.equal(error.code, "store_unavailable");
    assert.equal(requests.length, 3);
    assert.deepEqual(waits, [100, 200]);
  });

  it("does not wait for a Retry-After beyond maxRetryAfterMs", async () => {
    const { client, requests, waits } = setup(
      [{ status: 503, body: problem(503, "store_unavailable"), headers: { "Retry-After": "60" } }],
      { retry: { maxRetryAfterMs: 10_000 } },
    );
    const error = await rejection(client.getMe());
    assert.equal(error.retryAfter, 60);
    assert.equal(requests.length, 1);
    assert.deepEqual(waits, []);
  });

  it("reads an HTTP-date Retry-After against the clock", async () => {
    const now = Date.parse("2025-03-01T09:00:00Z");
    const { client, waits } = setup(
      [
        { status: 429, body: problem(429, "rate_limited"), headers: { "Retry-After": "Sat, 01 Mar 2025 09:00:03 GMT" } },
        { status: 200, body: { userId: "u" } },
      ],
      { now: () => now },
    );
    await client.getMe();
    assert.deepEqual(waits, [3000]);
  });

  it("does not retry other errors, nor a call with retry: false", async () => {
    const { client, requests } = setup([
      { status: 409, body: problem(409, "conflict") },
      { status: 503, body: problem(503, "store_unavailable"), headers: { "Retry-After": "1" } },
    ]);
    await rejection(client.appendMessage("c1", MESSAGE));
    const error = await rejection(client.getMe({ retry: false }));
    assert.equal(error.code, "store_unavailable");
    assert.equal(requests.length, 2);
  });

  it("retries a network error with the same key, and asks the token provider again", async () => {
    const tokens = ["t1", "t2"];
    const { client, requests } = setup(
      [{ throws: new TypeError("fetch failed") }, { status: 200, body: {} }],
      { getToken: () => tokens.shift() },
    );
    await client.updateConversation("c1", { title: "x" });
    assert.equal(requests[0]!.headers.get("Idempotency-Key"), requests[1]!.headers.get("Idempotency-Key"));
    assert.deepEqual(
      requests.map((r) => r.headers.get("Authorization")),
      ["Bearer t1", "Bearer t2"],
    );
  });

  it("uses the caller's idempotency key", async () => {
    const { client, requests } = setup([{ status: 200, body: {} }]);
    await client.importConversations({ conversations: [] }, { idempotencyKey: "batch-1" });
    assert.equal(requests[0]!.headers.get("Idempotency-Key"), "batch-1");
  });
});

describe("timeouts and aborts", () => {
  it("aborts an attempt after timeoutMs and reports timeout", async () => {
    const { client, requests } = setup([{ hang: true }], { timeoutMs: 20, retry: { retries: 0 } });
    const error = await rejection(client.getMe());
    assert.equal(error.code, "timeout");
    assert.equal(error.status, 0);
    assert.equal(error.retryable, true);
    assert.equal(requests.length, 1);
  });

  it("retries a timed-out attempt with the same idempotency key", async () => {
    const { client, requests } = setup([{ hang: true }, { status: 204 }], { timeoutMs: 20 });
    await client.deleteConversation("c1");
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.headers.get("Idempotency-Key"), requests[1]!.headers.get("Idempotency-Key"));
  });

  it("stops at once, without retrying, when the caller aborts", async () => {
    const controller = new AbortController();
    const { client, requests } = setup([{ hang: true }, { status: 200, body: {} }]);
    const call = client.getMe({ signal: controller.signal });
    // Let the call reach fetch (the token provider is awaited first), then abort mid-request.
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    const error = await rejection(call);
    assert.equal(error.code, "aborted");
    assert.equal(requests.length, 1);
  });
});

describe("reachability", () => {
  /** A client over `script` whose `reachability` events are recorded as [reachable, status, code]. */
  function observed(script: Scripted[], options: Partial<ChatStoreClientOptions> = {}) {
    const s = setup(script, options);
    const seen: unknown[][] = [];
    const off = s.client.transport.on("reachability", (r) => seen.push([r.reachable, r.status, r.code]));
    return { ...s, seen, off };
  }

  it("tells an answer as reachable, and 502-504 or no answer as not", async () => {
    const { client, seen } = observed(
      [
        { status: 200, body: { userId: "u" } },
        { status: 404, body: problem(404, "not_found") },
        { status: 409, body: problem(409, "conflict") },
        { status: 429, body: problem(429, "rate_limited") },
        { status: 500, body: problem(500, "internal_error") },
        { status: 502, body: { message: "Internal Server Error" } },
        { status: 503, body: problem(503, "store_unavailable") },
        { status: 504, body: { message: "Service Unavailable" } },
        { throws: new TypeError("fetch failed") },
        { hang: true },
      ],
      { retry: { retries: 0 }, timeoutMs: 20 },
    );
    await client.getMe();
    for (let i = 0; i < 9; i++) await client.getMe().catch(() => undefined);
    assert.deepEqual(seen, [
      [true, 200, undefined],
      [true, 404, undefined],
      [true, 409, undefined],
      [true, 429, undefined],
      [true, 500, undefined],
      [false, 502, undefined],
      [false, 503, undefined],
      [false, 504, undefined],
      [false, 0, "network_error"],
      [false, 0, "timeout"],
    ]);
  });

  it("tells every attempt of a retried call, with the call's method, path and request id", async () => {
    const events: unknown[] = [];
    const { client } = setup([{ throws: new TypeError("fetch failed") }, { status: 304 }]);
    client.transport.on("reachability", (r) => events.push(r));
    await client.listChanges({ since: "c" });
    assert.deepEqual(events, [
      { reachable: false, status: 0, code: "network_error", method: "GET", path: "/api/changes", requestId: "id-1" },
      { reachable: true, status: 304, method: "GET", path: "/api/changes", requestId: "id-1" },
    ]);
  });

  it("tells health's accepted 503 as unreachable", async () => {
    const { client, seen } = observed([{ status: 503, body: { status: "unhealthy", timestamp: "2025-03-01T09:00:00Z" } }]);
    const answer = await client.health();
    assert.equal(answer.status, 503);
    assert.deepEqual(seen, [[false, 503, undefined]]);
  });

  it("tells nothing of an attempt the caller aborted, nor after the listener unsubscribed", async () => {
    const controller = new AbortController();
    const { client, seen, off } = observed([{ hang: true }, { status: 200, body: {} }]);
    const call = client.getMe({ signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await rejection(call);
    assert.deepEqual(seen, []);
    off();
    await client.getMe();
    assert.deepEqual(seen, []);
  });
});
