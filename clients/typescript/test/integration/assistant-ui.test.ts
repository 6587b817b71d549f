/**
 * The assistant-ui adapters against the real API (../support/server.ts): a thread written
 * through the history adapter is listed with the title the server gave it, renamed, archived,
 * unarchived, loaded back and deleted; a conversation another device creates reaches the
 * adapter's subscribers through the sync engine.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { fromThreadMessageLike } from "@assistant-ui/react";
import type { ThreadMessage } from "@assistant-ui/react";

import { ChatStoreHistoryAdapter, ChatStoreThreadListAdapter } from "../../src/assistant-ui.js";
import { ChatStoreClient, MemoryStorage, SyncEngine } from "../../src/index.js";
import { startApi } from "../support/server.js";
import type { ApiServer } from "../support/server.js";

let api: ApiServer;
let token: string;

before(async () => {
  api = await startApi();
  ({ data: { token } } = await new ChatStoreClient({ baseUrl: api.baseUrl }).issueAnonymousToken());
});

after(async () => {
  await api?.stop();
});

/** One device of the user: its own client. */
const device = () => new ChatStoreClient({ baseUrl: api.baseUrl, getToken: () => token, timeoutMs: 5_000 });

function message(like: Parameters<typeof fromThreadMessageLike>[0]): ThreadMessage {
  return fromThreadMessageLike(like, "fallback", { type: "complete", reason: "stop" });
}

describe("the assistant-ui adapters against the local API", () => {
  it("keeps a thread: created by its first message, titled, renamed, archived, loaded, deleted", async () => {
    const client = device();
    const threads = new ChatStoreThreadListAdapter(client);
    let remoteId: string | undefined;
    const thread = {
      getState: () => ({ remoteId }),
      initialize: async () => (remoteId ??= (await threads.initialize("thread-1")).remoteId, { remoteId }),
    };
    const history = new ChatStoreHistoryAdapter(client, () => thread);
    const user = message({ id: "u1", role: "user", content: "What should I pack for Lisbon in March?", createdAt: new Date("2026-03-01T09:00:00Z") });
    const reply = message({
      id: "a1",
      role: "assistant",
      createdAt: new Date("2026-03-01T09:00:05Z"),
      content: [
        { type: "tool-call", toolCallId: "t1", toolName: "weather", args: { city: "Lisbon" }, result: { high: 18 } },
        { type: "text", text: "A light jacket." },
      ],
    });
    await history.append({ parentId: null, message: user });
    await history.append({ parentId: "u1", message: reply });

    const title = await titleOf(await threads.generateTitle("thread-1", [user, reply]));
    const listed = await threads.list();
    assert.deepEqual(
      listed.threads.map(({ remoteId: id, status, title: t }) => ({ id, status, title: t })),
      [{ id: "thread-1", status: "regular", title }],
      "the title generateTitle gives is the one the server stored",
    );

    const loaded = await history.load();
    assert.equal(loaded.headId, "a1");
    assert.deepEqual(
      loaded.messages.map(({ message: m, parentId }) => [m.id, parentId, m.content.map((part) => part.type)]),
      [
        ["u1", null, ["text"]],
        ["a1", "u1", ["tool-call", "text"]],
      ],
    );
    const call = loaded.messages[1]?.message.content[0];
    assert.ok(call?.type === "tool-call");
    assert.deepEqual([call.toolName, call.args, call.result], ["weather", { city: "Lisbon" }, { high: 18 }]);

    await threads.rename("thread-1", "Packing");
    await threads.archive("thread-1");
    const archived = await threads.fetch("thread-1");
    assert.deepEqual([archived.remoteId, archived.status, archived.title], ["thread-1", "archived", "Packing"]);
    assert.deepEqual((await threads.list()).threads.map((t) => t.status), ["archived"]);
    await threads.unarchive("thread-1");
    assert.equal((await threads.fetch("thread-1")).status, "regular");

    await threads.delete("thread-1");
    await threads.delete("thread-1"); // a second delete is not an error
    assert.deepEqual((await threads.list()).threads, []);
    remoteId = undefined;
    assert.deepEqual((await history.load()).messages, []);
  });

  it("tells its subscribers when another device creates a conversation", async () => {
    const client = device();
    const sync = new SyncEngine({ client, storage: new MemoryStorage(), document: null });
    const threads = new ChatStoreThreadListAdapter(client, { sync });
    const before = await threads.list();
    const page = await client.listConversations();
    assert.ok(!page.notModified);
    sync.start({ cursor: page.data.changesCursor });
    try {
      let told = 0;
      threads.subscribe(() => (told += 1));
      await device().appendMessage("from-phone", { id: "p1", type: "user", content: "Hello from the phone", timestamp: new Date() });
      await sync.syncNow();
      await new Promise((resolve) => setTimeout(resolve, 0)); // the notice is sent after the page
      assert.equal(told, 1);
      const after = await threads.list();
      assert.deepEqual(
        after.threads.map((t) => t.remoteId).filter((id) => !before.threads.some((t) => t.remoteId === id)),
        ["from-phone"],
      );
    } finally {
      sync.stop();
      threads.dispose();
    }
  });
});

/** The title a generateTitle stream carries: its text deltas. */
async function titleOf(stream: ReadableStream<unknown>): Promise<string> {
  const reader = (stream as ReadableStream<{ type: string; textDelta?: string }>).getReader();
  let title = "";
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    if (read.value.type === "text-delta") title += read.value.textDelta ?? "";
  }
  return title;
}
