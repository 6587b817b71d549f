// @ts-check
/**
 * Scenario (e): replies as useChat makes them, stored by the route while they stream
 * (persistReply) and resumed from the store (ChatStoreTransport). The mock model's reply is
 * reasoning, a search_notes call, then text.
 *
 * - A reload mid-reply resumes it: the page shows it still growing, then ends with exactly one
 *   copy of it, whole, as the server holds it.
 * - A second device follows the same reply live: its reasoning, its tool call, its text growing.
 * - Stop keeps the partial reply, marked, on both devices and on the server; the next turn works.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { finishedReply, openApp, openConversation, openConversationId, send, thread } from "./support/app.mjs";
import { Screenshots, TOKEN_KEY, appToken, appUrl, reportErrors, useStack, waitFor } from "./support/harness.mjs";

const started = useStack();

/** The mock model's answer to `prompt` (lib/mock-model.ts). */
function answer(/** @type {string} */ prompt) {
  return (
    `I found three notes. Here is the short version: "${prompt}" is worth a closer look, ` +
    "the notes agree on the main points, and nothing in them contradicts what you wrote. " +
    "Ask me again if you want the details of any one of them."
  );
}

/**
 * The last message once it is an assistant reply streaming with some text.
 * @param {import("playwright-core").Page} page
 */
function growingReply(page) {
  return waitFor(
    async () => {
      const last = (await thread(page)).at(-1);
      return last?.type === "assistant" && last.streaming && last.content !== "" ? last : undefined;
    },
    { timeoutMs: 20_000, message: "a reply streaming with some text" },
  );
}

/**
 * A page of a new device of `token`'s user (its token in localStorage before the first load).
 * @param {import("playwright-core").Browser} browser
 * @param {string | null} stored the token's localStorage value; null: a new user
 * @param {string} name
 */
async function device(browser, stored, name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 750 } });
  if (stored !== null) {
    await context.addInitScript(({ key, value }) => localStorage.setItem(key, value), { key: TOKEN_KEY, value: stored });
  }
  const page = await context.newPage();
  reportErrors(page, name);
  return { context, page };
}

/**
 * A first exchange on device 1 (a new user), then device 2 of the same user with it open.
 * @param {import("playwright-core").Browser} browser
 * @param {string} url
 * @param {string} prompt
 */
async function exchangeOnTwoDevices(browser, url, prompt) {
  const one = await device(browser, null, "device 1");
  await openApp(one.page, url);
  const token = await appToken(one.page);
  const stored = /** @type {string} */ (await one.page.evaluate((key) => localStorage.getItem(key), TOKEN_KEY));
  await send(one.page, prompt);
  const reply = await finishedReply(one.page, 2);
  const id = await openConversationId(one.page);
  assert.ok(id);
  const two = await device(browser, stored, "device 2");
  await openApp(two.page, url);
  await waitFor(async () => (await two.page.$$('[data-testid="conversation-item"]')).length > 0, { message: "device 2's list" });
  await openConversation(two.page, id);
  await waitFor(async () => (await thread(two.page)).at(-1)?.id === reply.id, { message: "device 2 shows the first exchange" });
  return { one, two, token, id, reply };
}

/** The reply's parts on the server. */
function kinds(/** @type {any} */ message) {
  return message.parts.map((/** @type {any} */ part) => (part.type === "text" || part.type === "reasoning" ? `${part.type}:${part.state}` : part.type.startsWith("tool-") ? `${part.type}:${part.state}` : part.type));
}

test("a reload mid-reply resumes it and ends with exactly one copy", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("reload-mid-reply");
  const context = await browser.newContext({ viewport: { width: 1100, height: 750 } });
  const page = await context.newPage();
  reportErrors(page, "app");
  const url = appUrl(stack.app.origin, { tokenMs: 80 });
  await openApp(page, url);
  const token = await appToken(page);

  const prompt = "Plan a rainy Sunday in Bergen";
  await send(page, prompt);
  const partial = await growingReply(page);
  const id = await openConversationId(page);
  assert.ok(id);
  await shots.take(page, "before-reload");

  await page.reload();
  await page.locator('.app[data-ready="true"]').waitFor({ timeout: 20_000 });
  // Resumed: still growing after the reload, under the same id.
  const resumed = await waitFor(
    async () => {
      const last = (await thread(page)).at(-1);
      return last?.id === partial.id && last.streaming && last.content !== answer(prompt) ? last : undefined;
    },
    { timeoutMs: 20_000, message: "the reply resumed, still streaming, after the reload" },
  );
  assert.ok(answer(prompt).startsWith(resumed.content), "what shows is a prefix of the reply");
  await shots.take(page, "resumed");

  // Every state until the end: growing, and ended only whole (never a shorter copy shown as done).
  /** @type {{ streaming: boolean, content: string }[]} */
  const states = [];
  await waitFor(
    async () => {
      const last = (await thread(page)).at(-1);
      if (last?.id !== partial.id) return false;
      states.push({ streaming: last.streaming, content: last.content });
      return !last.streaming && last.content === answer(prompt);
    },
    { timeoutMs: 30_000, intervalMs: 20, message: "the resumed reply to end whole" },
  );
  assert.deepEqual(
    states.filter((state) => !state.streaming).map((state) => state.content.length),
    [answer(prompt).length],
    "shown as ended only once whole",
  );
  assert.ok(states.every((state) => answer(prompt).startsWith(state.content)), "every state a prefix of the reply");
  const done = await finishedReply(page, 2);
  const shown = await thread(page);
  assert.deepEqual(
    shown.map(({ type }) => type),
    ["user", "assistant"],
    "one user message and one reply: no copy of either",
  );
  assert.equal(done.id, partial.id);
  assert.equal(done.content, answer(prompt));
  assert.deepEqual(done.tools, ["Tool search_notes: completed"]);
  assert.equal(await page.locator('[data-testid="reasoning"]').count(), 1);
  await shots.take(page, "resumed-to-the-end");

  const stored = await waitFor(
    async () => {
      const conversation = await stack.api.conversation(id, token);
      return conversation?.messages.at(-1)?.streaming === false ? conversation : undefined;
    },
    { message: "the reply finished on the server" },
  );
  assert.deepEqual(
    stored.messages.map((/** @type {any} */ m) => ({ id: m.id, type: m.type })),
    shown.map(({ id, type }) => ({ id, type })),
  );
  const reply = stored.messages[1];
  assert.equal(reply.content, answer(prompt));
  assert.equal(reply.interrupted ?? false, false);
  assert.deepEqual(kinds(reply).filter((/** @type {string} */ k) => k !== "step-start"), [
    "reasoning:done",
    "tool-search_notes:output-available",
    "text:done",
  ]);
  await context.close();
});

test("a second device follows the same reply live, reasoning and tool call included", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("follow-reply");
  const url = appUrl(stack.app.origin, { tokenMs: 80 });
  const { one, two, id } = await exchangeOnTwoDevices(browser, url, "Name three lakes near Annecy");

  const prompt = "Which one is warmest in June?";
  await send(one.page, prompt);
  // Device 2: the reasoning, then the tool call, then the text growing, while it streams.
  await waitFor(
    async () => {
      const last = (await thread(two.page)).at(-1);
      return last?.type === "assistant" && last.streaming && (await two.page.locator('[data-testid="reasoning"]').count()) === 2;
    },
    { timeoutMs: 20_000, message: "device 2 shows the new reply's reasoning while it streams" },
  );
  const growing = await growingReply(two.page);
  assert.ok(answer(prompt).startsWith(growing.content) && growing.content !== answer(prompt));
  assert.deepEqual(growing.tools, ["Tool search_notes: completed"]);
  assert.ok(await two.page.getByRole("button", { name: "Stop" }).isVisible(), "device 2 can stop it too");
  await shots.take(two.page, "device2-following");

  const onOne = await finishedReply(one.page, 4);
  const onTwo = await finishedReply(two.page, 4);
  assert.equal(onTwo.id, onOne.id);
  assert.equal(onTwo.content, answer(prompt));
  assert.deepEqual(
    (await thread(two.page)).map(({ id, type }) => ({ id, type })),
    (await thread(one.page)).map(({ id, type }) => ({ id, type })),
    "both devices show the same four messages, once each",
  );
  await shots.take(two.page, "device2-done");
  await one.context.close();
  await two.context.close();
});

test("Stop keeps the partial reply, marked on every device, and the next turn works", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("stop");
  const url = appUrl(stack.app.origin, { tokenMs: 100 });
  const { one, two, token, id } = await exchangeOnTwoDevices(browser, url, "Describe the coast of Brittany");

  const prompt = "And its best harbours?";
  await send(one.page, prompt);
  await growingReply(one.page);
  await growingReply(two.page);
  await one.page.getByRole("button", { name: "Stop" }).click();

  // Kept, marked, and no longer growing, on both devices; the server holds the same text.
  const final = await waitFor(
    async () => {
      const conversation = await stack.api.conversation(id, token);
      const reply = conversation?.messages[3];
      return reply?.streaming === false ? reply : undefined;
    },
    { message: "the reply ended on the server" },
  );
  assert.equal(final.interrupted, true);
  assert.ok(final.content !== "" && answer(prompt).startsWith(final.content) && final.content !== answer(prompt));
  assert.ok(kinds(final).every((/** @type {string} */ k) => !k.endsWith(":streaming")), "no part left streaming");
  for (const [name, page] of /** @type {const} */ ([["device 1", one.page], ["device 2", two.page]])) {
    await waitFor(
      async () => {
        const last = (await thread(page)).at(-1);
        const marked = await page.locator(`[data-testid="message"][data-id="${final.id}"] [data-testid="interrupted"]`).isVisible();
        return last !== undefined && last.id === final.id && !last.streaming && last.content === final.content && marked;
      },
      { timeoutMs: 15_000, message: `${name} to show the stopped reply, kept and marked` },
    );
    assert.equal(await page.getByRole("button", { name: "Stop" }).count(), 0, `${name}: nothing streams`);
  }
  await shots.take(one.page, "device1-stopped");
  await shots.take(two.page, "device2-stopped");

  // The next turn works: the model gets a valid history (no part left streaming).
  const next = "Then just the largest one";
  await send(one.page, next);
  const reply = await finishedReply(one.page, 6);
  assert.equal(reply.content, answer(next));
  const after = await waitFor(
    async () => {
      const conversation = await stack.api.conversation(id, token);
      return conversation?.messages.length === 6 && conversation.messages[5].streaming === false ? conversation : undefined;
    },
    { message: "the next turn on the server" },
  );
  assert.deepEqual(after.messages.map((/** @type {any} */ m) => m.interrupted ?? false), [false, false, false, true, false, false]);
  await finishedReply(two.page, 6);
  await shots.take(one.page, "next-turn");
  await one.context.close();
  await two.context.close();
});

test("Regenerate and Edit replace the last turn: on the server, after a reload and on another device", async () => {
  const { stack, browser } = started;
  const shots = new Screenshots("regenerate");
  const url = appUrl(stack.app.origin, { tokenMs: 10 });
  const prompt = "Name a river in Portugal";
  const { one, two, token, id, reply: first } = await exchangeOnTwoDevices(browser, url, prompt);
  await shots.take(one.page, "first-reply");

  /** A finished reply, the second message, other than `replaced`, on device 1. */
  const replyOtherThan = (/** @type {{ id: string }} */ replaced) =>
    waitFor(
      async () => {
        const messages = await thread(one.page);
        const last = messages.at(-1);
        return messages.length === 2 && last?.type === "assistant" && last.id !== replaced.id && !last.streaming && last.content !== ""
          ? last
          : undefined;
      },
      { timeoutMs: 30_000, message: `a new reply in place of ${replaced.id}` },
    );

  /**
   * The server holds `question` and `reply` alone, and so does every view of it: device 1
   * after a reload, and device 2, which had the turn before open.
   * @param {string} question
   * @param {{ id: string, content: string }} reply
   */
  const heldEverywhere = async (question, reply) => {
    const onServer = await waitFor(
      async () => {
        const conversation = await stack.api.conversation(id, token);
        return conversation?.messages.at(-1)?.id === reply.id && conversation.messages.at(-1).streaming === false
          ? conversation
          : undefined;
      },
      { message: "the new reply finished on the server" },
    );
    assert.deepEqual(
      onServer.messages.map((/** @type {any} */ m) => [m.type, m.content]),
      [
        ["user", question],
        ["assistant", reply.content],
      ],
    );
    await one.page.reload();
    for (const [name, page] of /** @type {const} */ ([["device 1, reloaded", one.page], ["device 2", two.page]])) {
      await waitFor(
        async () => {
          const messages = await thread(page);
          return messages.length === 2 && messages[0]?.content === question && messages[1]?.id === reply.id && !messages[1].streaming;
        },
        { timeoutMs: 20_000, message: `${name} to show the new turn alone` },
      );
    }
  };

  await one.page.getByRole("button", { name: "Regenerate" }).click();
  const second = await replyOtherThan(first);
  assert.equal(second.content, answer(prompt));
  await shots.take(one.page, "regenerated");
  await heldEverywhere(prompt, second);
  await shots.take(two.page, "device2-regenerated");

  // Edit: the question sent again under its id, its old reply replaced.
  const edited = "Name a river in Spain";
  await one.page.getByRole("button", { name: "Edit" }).click();
  await one.page.getByLabel("Edit message").fill(edited);
  await shots.take(one.page, "editing");
  await one.page.getByRole("button", { name: "Save" }).click();
  const third = await replyOtherThan(second);
  assert.equal(third.content, answer(edited));
  await shots.take(one.page, "edited");
  await heldEverywhere(edited, third);
  await shots.take(two.page, "device2-edited");
  await one.context.close();
  await two.context.close();
});
