/**
 * The client against the real API: the Python functions on the embedded Upstash stand-in,
 * served by `devtools.dev_server` on a loopback port (see ../support/server.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { ChatStoreClient, ChatStoreError } from "../../src/index.js";
import type { FetchLike } from "../../src/index.js";
import { startApi } from "../support/server.js";
import type { ApiServer } from "../support/server.js";

let api: ApiServer;
let client: ChatStoreClient;
let token: string;

before(async () => {
  api = await startApi();
  const anonymous = new ChatStoreClient({ baseUrl: api.baseUrl });
  const issued = await anonymous.issueAnonymousToken();
  assert.equal(issued.status, 201);
  assert.ok(issued.data.expiresAt instanceof Date);
  token = issued.data.token;
  client = new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000 });
});

after(async () => {
  await api?.stop();
});

const at = (iso: string): Date => new Date(iso);

async function rejection(promise: Promise<unknown>): Promise<ChatStoreError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ChatStoreError, String(error));
    return error;
  }
  assert.fail("the call did not fail");
}

describe("against the local API", () => {
  it("answers health and limits without a token", async () => {
    const bare = new ChatStoreClient({ baseUrl: api.baseUrl });
    const health = await bare.health();
    assert.equal(health.data.status, "healthy");
    const limits = await bare.getLimits();
    assert.ok(limits.data.maxBodyBytes > 0);
  });

  it("creates a conversation, streams a reply in deltas and finishes it", async () => {
    const user = await client.appendMessage("chat-1", {
      id: "u1",
      type: "user",
      content: "Hello there",
      timestamp: at("2025-03-01T09:00:00.000Z"),
    });
    assert.equal(user.status, 201);
    assert.ok(user.data.timestamp instanceof Date);
    assert.ok(user.etag);
    await client.appendMessage("chat-1", {
      id: "a1",
      type: "assistant",
      content: "",
      streaming: true,
      timestamp: at("2025-03-01T09:00:01.000Z"),
    });
    for (const [sequence, text] of ["Hi", ", how", " are you?"].entries()) {
      const delta = await client.updateMessage(
        "chat-1",
        "a1",
        { appendContent: text, sequence: sequence + 1 },
        { returnMinimal: true },
      );
      assert.equal(delta.status, 204);
    }
    const finished = await client.updateMessage("chat-1", "a1", { streaming: false });
    assert.equal(finished.data.content, "Hi, how are you?");
    assert.equal(finished.data.streaming, false);

    const got = await client.getConversation("chat-1");
    assert.equal(got.notModified, false);
    if (got.notModified) return;
    assert.equal(got.data.title, "Hello there");
    assert.deepEqual(got.data.messages.map((m) => m.content), ["Hello there", "Hi, how are you?"]);
    assert.ok(got.data.createdAt instanceof Date);
    assert.ok(client.syncToken === undefined || typeof client.syncToken === "string");
  });

  it("maps a sequence gap to ChatStoreError with lastSequence", async () => {
    await client.appendMessage("chat-gap", {
      id: "a1",
      type: "assistant",
      content: "",
      streaming: true,
      timestamp: at("2025-03-01T09:00:00.000Z"),
    });
    await client.updateMessage("chat-gap", "a1", { appendContent: "x", sequence: 1 });
    const error = await rejection(client.updateMessage("chat-gap", "a1", { appendContent: "z", sequence: 3 }));
    assert.equal(error.status, 409);
    assert.equal(error.code, "sequence_gap");
    assert.equal(error.lastSequence, 1);
  });

  it("lists with a changesCursor, then follows the change feed", async () => {
    const first = await client.listConversations({ limit: 100 });
    assert.equal(first.notModified, false);
    if (first.notModified) return;
    const cursor = first.data.changesCursor;
    await client.updateConversation("chat-1", { title: "Renamed" });
    await client.deleteConversation("chat-gap");
    const changes = await client.listChanges({ since: cursor });
    const byId = new Map(data(changes).changes.map((c) => [c.id, c]));
    const renamed = byId.get("chat-1");
    assert.ok(renamed?.type === "upsert");
    assert.equal(renamed.conversation.title, "Renamed");
    assert.ok(renamed.conversation.updatedAt instanceof Date);
    const gone = byId.get("chat-gap");
    assert.ok(gone?.type === "tombstone" && gone.reason === "deleted" && gone.at instanceof Date);

    const idle = await client.listChanges({ since: changes.data.nextCursor });
    assert.deepEqual(idle.data.changes, []);
  });

  it("archives and unarchives a conversation: each list kind shows it, the feed reports it", async () => {
    await client.putConversation("chat-filed", {
      id: "chat-filed",
      title: "To file",
      messages: [{ id: "f1", type: "user", content: "File me", timestamp: at("2025-03-01T09:00:00Z") }],
      createdAt: at("2025-03-01T09:00:00Z"),
      updatedAt: at("2025-03-01T09:00:00Z"),
      totalTokens: 0,
    });
    const listed = async (archived: "true" | "false" | "any") => {
      const page = await client.listConversations({ limit: 100, archived });
      assert.ok(!page.notModified);
      return page.data;
    };
    const start = await listed("any");
    const ids = async (archived: "true" | "false") => (await listed(archived)).conversations.map((c) => c.id);

    const filed = await client.updateConversation("chat-filed", { archived: true });
    assert.equal(filed.data.archived, true);
    assert.deepEqual(filed.data.updatedAt, at("2025-03-01T09:00:00Z"), "filed away, not moved");
    assert.deepEqual(await ids("true"), ["chat-filed"]);
    assert.ok(!(await ids("false")).includes("chat-filed"));
    const changes = data(await client.listChanges({ since: start.changesCursor })).changes;
    const change = changes.find((c) => c.id === "chat-filed");
    assert.ok(change?.type === "upsert" && change.conversation.archived === true);

    const back = await client.updateConversation("chat-filed", { archived: false }, { ifMatch: filed.etag });
    assert.equal("archived" in back.data, false);
    assert.deepEqual(await ids("true"), []);
    const error = await rejection(client.listConversations({ archived: "yes" as "true" }));
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_request");
    await client.deleteConversation("chat-filed");
  });

  it("answers a conditional GET with not-modified, and 412 on a stale If-Match", async () => {
    const got = await client.getConversation("chat-1");
    assert.ok(!got.notModified && got.etag);
    const again = await client.getConversation("chat-1", {}, { ifNoneMatch: got.etag });
    assert.equal(again.notModified, true);

    const list = await client.listConversations();
    const listAgain = await client.listConversations({}, { ifNoneMatch: list.etag! });
    assert.equal(listAgain.notModified, true);

    const renamed = await client.updateConversation("chat-1", { title: "Mine" }, { ifMatch: got.etag });
    assert.notEqual(renamed.etag, got.etag);
    const error = await rejection(client.updateConversation("chat-1", { title: "Theirs" }, { ifMatch: got.etag }));
    assert.equal(error.status, 412);
    assert.equal(error.code, "precondition_failed");
    assert.equal(typeof error.currentVersion, "number");
    assert.equal(error.etag, renamed.etag);
  });

  it("imports a localStorage dump and lists what it rejected", async () => {
    const result = await client.importConversations({
      conversations: [
        {
          id: "imported-1",
          title: "From localStorage",
          createdAt: "2025-01-01T00:00:00.000Z",
          updatedAt: at("2025-01-02T00:00:00.000Z"),
          totalTokens: 0,
          messages: [{ id: "m1", type: "user", content: "old", timestamp: "2025-01-01T00:00:00.000Z" }],
        },
        { id: "bad id!", title: "x", createdAt: "2025-01-01T00:00:00Z", updatedAt: "2025-01-01T00:00:00Z", totalTokens: 0, messages: [] },
      ],
      currentConversationId: "imported-1",
    });
    assert.equal(result.data.imported, 1);
    assert.equal(result.data.rejected.length, 1);
    assert.equal(result.data.rejected[0]?.code, "invalid_id");
    const me = await client.getMe();
    assert.ok(!me.notModified);
    assert.equal(me.data.currentConversationId, "imported-1");
  });

  it("answers a retry with the same Idempotency-Key as the first time, writing once", async () => {
    await client.appendMessage("chat-idem", {
      id: "a1",
      type: "assistant",
      content: "",
      streaming: true,
      timestamp: at("2025-03-01T09:00:00.000Z"),
    });
    // No sequence: without the key, a retried delta would append twice.
    const key = "retry-key-1";
    const first = await client.updateMessage("chat-idem", "a1", { appendContent: "once" }, { idempotencyKey: key });
    const second = await client.updateMessage("chat-idem", "a1", { appendContent: "once" }, { idempotencyKey: key });
    assert.equal(second.data.content, first.data.content);
    assert.equal(second.etag, first.etag);
    const message = await client.getMessage("chat-idem", "a1");
    assert.ok(!message.notModified);
    assert.equal(message.data.content, "once");
  });

  it("retries an answer lost on the way back with the same key, applying the write once", async () => {
    let dropped = false;
    // The request reaches the API and is applied; its answer is lost, as when a connection drops.
    const lossy: FetchLike = async (url, init) => {
      const response = await fetch(url, init);
      if (!dropped && init.method === "PATCH") {
        dropped = true;
        await response.arrayBuffer();
        throw new TypeError("fetch failed: connection reset");
      }
      return response;
    };
    const flaky = new ChatStoreClient({
      baseUrl: api.baseUrl,
      getToken: () => token,
      fetch: lossy,
      retry: { baseDelayMs: 1 },
    });
    const result = await flaky.updateMessage("chat-idem", "a1", { appendContent: " more" });
    assert.ok(dropped);
    assert.equal(result.data.content, "once more");
  });
});

function data<T>(response: { data: T }): T {
  return response.data;
}
