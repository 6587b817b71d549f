import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ApiFetch, ChatStoreClient, Transport } from "../../src/index.js";
import type { ConversationListPage, ConversationView, Healthy, Unhealthy } from "../../src/index.js";
import { fakeFetch } from "../support/fake-fetch.js";
import type { Scripted } from "../support/fake-fetch.js";

const BASE = "https://api.test";
const T0 = "2025-03-01T09:00:00.000Z";

function setup(...script: Scripted[]) {
  const fake = fakeFetch(...script);
  let n = 0;
  const client = new ChatStoreClient({
    baseUrl: BASE,
    fetch: fake.fetch,
    retry: { retries: 0 },
    generateId: () => `id-${++n}`,
    getToken: () => "tok",
  });
  return { api: client.api, requests: fake.requests };
}

/** Compiles only when `A` and `B` are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function same<A, B>(_proof: Same<A, B>): void {}

describe("ApiFetch: typed calls by path and method", () => {
  it("fills and encodes path parameters, sends the query, revives dates", async () => {
    const { api, requests } = setup({
      status: 200,
      body: { id: "c/1", title: "t", createdAt: T0, updatedAt: T0, totalTokens: 0, messageCount: 0, nextCursor: null, messages: [] },
      headers: { ETag: '"3"' },
    });
    const answer = await api.GET("/api/conversations/{id}", { params: { path: { id: "c/1" }, query: { limit: 5 } } });
    assert.equal(requests[0]?.url, `${BASE}/api/conversations/c%2F1?limit=5`);
    assert.equal(requests[0]?.headers.get("Authorization"), "Bearer tok");
    assert.equal(answer.notModified, false);
    if (answer.notModified) return;
    same<typeof answer.data, ConversationView>(true);
    assert.ok(answer.data.createdAt instanceof Date);
    assert.equal(answer.etag, '"3"');
  });

  it("answers a 304 as notModified, with the tag sent when the answer has none", async () => {
    const { api, requests } = setup({ status: 304 });
    const answer = await api.GET("/api/conversations", { headers: { "If-None-Match": '"L"' } });
    same<Exclude<typeof answer, { notModified: true }>["data"], ConversationListPage>(true);
    assert.equal(requests[0]?.headers.get("If-None-Match"), '"L"');
    assert.deepEqual([answer.notModified, answer.etag], [true, '"L"']);
  });

  it("takes the operation's body and headers; a write gets an idempotency key", async () => {
    const { api, requests } = setup({ status: 204 });
    const answer = await api.PATCH("/api/conversations/{id}/messages/{messageId}", {
      params: { path: { id: "c1", messageId: "m1" } },
      headers: { Prefer: "return=minimal", "If-Match": undefined },
      body: { appendContent: "x", sequence: 1 },
      idempotencyKey: "k1",
    });
    assert.equal(answer.data, undefined);
    assert.equal(requests[0]?.method, "PATCH");
    assert.equal(requests[0]?.headers.get("Prefer"), "return=minimal");
    assert.equal(requests[0]?.headers.has("If-Match"), false);
    assert.equal(requests[0]?.headers.get("Idempotency-Key"), "k1");
    assert.deepEqual(requests[0]?.body, { appendContent: "x", sequence: 1 });
  });

  it("hands back the statuses in `accept`, typed with their bodies", async () => {
    const { api, requests } = setup({ status: 503, body: { status: "unavailable", checks: {} } });
    const answer = await api.GET("/api/health", { auth: false, accept: [503], retry: false });
    same<typeof answer.data, Healthy | Unhealthy>(true);
    assert.equal(answer.status, 503);
    assert.equal(requests[0]?.headers.has("Authorization"), false);
  });

  it("refuses a path parameter left out at run time too", async () => {
    const api = new ApiFetch(new Transport({ baseUrl: BASE, fetch: fakeFetch().fetch }));
    const init = { params: { path: {} } } as unknown as { params: { path: { id: string } } };
    await assert.rejects(api.DELETE("/api/conversations/{id}", init), /no value for the path parameter id/);
  });

  it("types what the document declares, and nothing else", () => {
    const { api } = setup();
    const never = (): void => {
      // @ts-expect-error the path has no POST
      void api.POST("/api/conversations/{id}", { params: { path: { id: "c1" } } });
      // @ts-expect-error a path parameter is required
      void api.GET("/api/conversations/{id}");
      // @ts-expect-error `since` is required
      void api.GET("/api/changes", { params: { query: {} } });
      // @ts-expect-error no such query parameter
      void api.GET("/api/conversations", { params: { query: { page: 2 } } });
      // @ts-expect-error the transport sends the sync token itself
      void api.GET("/api/me", { headers: { "Upstash-Sync-Token": "t" } });
      // @ts-expect-error a PUT of a conversation takes one
      void api.PUT("/api/conversations/{id}", { params: { path: { id: "c1" } } });
    };
    assert.equal(typeof never, "function");
  });
});
