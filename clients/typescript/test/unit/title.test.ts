import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { DEFAULT_TITLE, defaultTitle, messageText } from "../../src/index.js";

/**
 * The cases the server's rule (shared/models.py `title_from`) is tested on too
 * (tests/shared/test_default_titles.py): a change to either rule fails one side.
 */
const FIXTURE = new URL("../../../../../tests/fixtures/default_titles.json", import.meta.url);
const { cases } = JSON.parse(readFileSync(FIXTURE, "utf8")) as { cases: { input: string; title: string }[] };

describe("defaultTitle", () => {
  it("reads the shared cases", () => {
    assert.ok(cases.length >= 20);
  });

  for (const { input, title } of cases) {
    it(`gives the server's title for ${JSON.stringify(input.slice(0, 24))}`, () => {
      assert.equal(defaultTitle(input), title);
    });
  }

  it("is the default title for a message of only whitespace", () => {
    assert.equal(defaultTitle(" \n\t "), DEFAULT_TITLE);
    assert.equal(DEFAULT_TITLE, "New conversation");
  });
});

describe("messageText", () => {
  it("is the content when there is one, else the text parts joined, as the server takes it", () => {
    const parts = [
      { type: "text", text: "Hello " },
      { type: "reasoning", text: "not the message's words" },
      { type: "step-start" },
      { type: "text", text: "world" },
    ];
    assert.equal(messageText({ parts }), "Hello world");
    assert.equal(messageText({ content: "Hello world", parts }), "Hello world");
    assert.equal(messageText({ content: "" }), "");
    assert.equal(messageText({ parts: null }), "");
  });
});
