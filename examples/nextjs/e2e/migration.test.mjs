// @ts-check
/**
 * Scenario (a): a user of the old localStorage-only app opens the new one. Their history
 * (`conversations`, `currentConversationId`) is in localStorage before the first load; after
 * it, the sidebar lists every conversation, the one they had open is open, and the server
 * holds all of them with every message (read over HTTP with the app's own token). A reload
 * does not import again. A history with entries that are no conversation (the `null` that
 * `delete arr[i]` leaves, an entry without an id) moves everything else, and the page names
 * what it could not move, by title or position, until the user dismisses it, never after.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { developerCodesShown, openApp, sidebar, thread } from "./support/app.mjs";
import { Screenshots, appToken, appUrl, useStack, waitFor } from "./support/harness.mjs";

/** @param {number} minutesAgo */
const at = (minutesAgo) => new Date(Date.UTC(2025, 5, 2, 12, 0) - minutesAgo * 60_000).toISOString();

/** What the old app kept under `conversations`: JSON of Conversation[], dates as strings. */
const legacy = [
  {
    id: "conv-trip-lisbon",
    title: "Weekend in Lisbon",
    createdAt: at(3000),
    updatedAt: at(2900),
    totalTokens: 412,
    messages: [
      { id: "m-lisbon-1", type: "user", content: "Plan a weekend in Lisbon for two, we like food and walking.", timestamp: at(3000) },
      {
        id: "m-lisbon-2",
        type: "assistant",
        content: "Day 1: Alfama in the morning, lunch at a tasca, sunset at Miradouro da Senhora do Monte.\nDay 2: Belém, pastéis, then LX Factory. 🚋",
        timestamp: at(2999),
        tokens: { input: 24, output: 388, total: 412 },
        toolExecutions: [
          { id: "tool-weather-1", name: "get_weather", status: "completed", input: { city: "Lisbon" }, output: { forecast: "sunny", high: 27 } },
        ],
      },
    ],
  },
  {
    id: "conv-sql-window",
    title: "SQL window functions",
    createdAt: at(600),
    updatedAt: at(540),
    totalTokens: 230,
    mcpServers: { postgres: { url: "http://localhost:5433/mcp" } },
    messages: [
      { id: "m-sql-1", type: "system", content: "You are a careful SQL tutor.", timestamp: at(600) },
      { id: "m-sql-2", type: "user", content: "How do I get a running total per customer?", timestamp: at(599) },
      {
        id: "m-sql-3",
        type: "assistant",
        content: "Use SUM(amount) OVER (PARTITION BY customer_id ORDER BY created_at).",
        timestamp: at(598),
        tokens: { input: 40, output: 190, total: 230 },
      },
      { id: "m-sql-4", type: "user", content: "And the previous row's value?", timestamp: at(541) },
      { id: "m-sql-5", type: "assistant", content: "LAG(amount) OVER (PARTITION BY customer_id ORDER BY created_at).", timestamp: at(540) },
    ],
  },
  {
    id: "conv-haiku",
    title: "A haiku about autumn",
    createdAt: at(90),
    updatedAt: at(88),
    totalTokens: 35,
    messages: [
      { id: "m-haiku-1", type: "user", content: "Write a haiku about autumn.", timestamp: at(90) },
      { id: "m-haiku-2", type: "assistant", content: "Red leaves on the step,\nthe kettle hums to itself,\ndusk comes in early.", timestamp: at(88) },
    ],
  },
];
const legacyCurrent = "conv-sql-window";

const started = useStack();

test("the old localStorage history moves to the server on first load, once", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("migration");
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  await context.addInitScript(
    ({ conversations, current }) => {
      // The old app's data, present before the new app's first load (and not re-seeded after).
      if (localStorage.getItem("conversations") === null) {
        localStorage.setItem("conversations", conversations);
        localStorage.setItem("currentConversationId", JSON.stringify(current));
      }
    },
    { conversations: JSON.stringify(legacy), current: legacyCurrent },
  );
  const page = await context.newPage();
  /** @type {string[]} */
  const imports = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname.endsWith("/api/import")) imports.push(request.url());
  });

  await openApp(page, appUrl(stack.app.origin));
  const expectedSidebar = [...legacy]
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
    .map(({ id, title }) => ({ id, title }));
  await waitFor(async () => JSON.stringify(await sidebar(page)) === JSON.stringify(expectedSidebar), {
    message: "the sidebar to list the three old conversations, newest first",
  });
  assert.deepEqual(await sidebar(page), expectedSidebar);

  // The conversation that was open in the old app is open, with its messages.
  const sql = legacy[1];
  assert.ok(sql);
  await waitFor(async () => (await thread(page)).length === sql.messages.length, {
    message: "the old current conversation's messages in the thread",
  });
  assert.deepEqual(
    (await thread(page)).map(({ id, type, content }) => ({ id, type, content })),
    sql.messages.map(({ id, type, content }) => ({ id, type, content })),
  );
  await shots.take(page, "migrated-history");

  // The server holds every conversation and message, read with the app's token from Node.
  const token = await appToken(page);
  const onServer = await stack.api.conversations(token);
  assert.deepEqual(onServer.map((c) => c.id).sort(), legacy.map((c) => c.id).sort());
  for (const conversation of legacy) {
    const stored = await stack.api.conversation(conversation.id, token);
    assert.ok(stored, `${conversation.id} on the server`);
    assert.equal(stored.title, conversation.title);
    assert.deepEqual(
      stored.messages.map((/** @type {any} */ m) => ({ id: m.id, type: m.type, content: m.content })),
      conversation.messages.map(({ id, type, content }) => ({ id, type, content })),
    );
  }
  const lisbon = await stack.api.conversation("conv-trip-lisbon", token);
  assert.deepEqual(lisbon.messages[1].toolExecutions[0].output, { forecast: "sunny", high: 27 });
  assert.equal(imports.length, 1, "one import request for a small history");

  // A reload imports nothing again and shows the same list.
  await page.reload();
  await page.locator('.app[data-ready="true"]').waitFor();
  await waitFor(async () => JSON.stringify(await sidebar(page)) === JSON.stringify(expectedSidebar), {
    message: "the same sidebar after a reload",
  });
  assert.equal(imports.length, 1, "no second import after a reload");
  assert.equal((await stack.api.conversations(token)).length, legacy.length);
  await shots.take(page, "after-reload");
  await context.close();
});

test("a history with a null entry moves everything else and says once what it could not move", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("migration-null-entry");
  const [lisbon, , haiku] = legacy;
  assert.ok(lisbon && haiku);
  // What `delete conversations[1]` then `JSON.stringify` leaves, and an entry that lost its id.
  const damaged = [lisbon, null, { title: "Recipe ideas", messages: [] }, haiku];
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  await context.addInitScript((conversations) => {
    if (localStorage.getItem("conversations") === null) localStorage.setItem("conversations", conversations);
  }, JSON.stringify(damaged));
  const page = await context.newPage();
  /** @type {string[]} */
  const imports = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname.endsWith("/api/import")) imports.push(request.url());
  });

  await openApp(page, appUrl(stack.app.origin));
  const moved = [haiku, lisbon].map(({ id, title }) => ({ id, title }));
  await waitFor(async () => JSON.stringify(await sidebar(page)) === JSON.stringify(moved), {
    message: "the sidebar to list the two good conversations",
  });
  const notice = page.getByTestId("migration-notice");
  await notice.waitFor();
  const items = await notice.locator("li").allInnerTexts();
  assert.deepEqual(items, [
    "Conversation #2: empty or damaged, nothing to move",
    "“Recipe ideas” (#3): it has no identifier",
  ]);
  assert.deepEqual(await developerCodesShown(page), []);
  const token = await appToken(page);
  assert.deepEqual((await stack.api.conversations(token)).map((c) => c.id).sort(), [haiku.id, lisbon.id].sort());
  await shots.take(page, "not-moved-notice");

  // Dismissed, it never shows again; nothing is imported again.
  await notice.getByRole("button", { name: "Dismiss" }).click();
  await notice.waitFor({ state: "detached" });
  await page.reload();
  await page.locator('.app[data-ready="true"]').waitFor();
  await waitFor(async () => JSON.stringify(await sidebar(page)) === JSON.stringify(moved), {
    message: "the same sidebar after a reload",
  });
  assert.equal(await page.getByTestId("migration-notice").count(), 0, "dismissed for good");
  assert.equal(imports.length, 1, "one import, not one per load");
  await shots.take(page, "after-dismiss-reload");
  await context.close();
});
