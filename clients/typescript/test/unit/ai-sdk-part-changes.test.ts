/**
 * diffParts: the `partChanges` that take what the store holds to the parts the SDK built.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { MAX_PART_CHANGES, diffParts } from "../../src/ai-sdk/part-changes.js";
import type { HeldPart, UIPart } from "../../src/ai-sdk/part-changes.js";

/** Applies successive copies of the parts, as the writer does once each PATCH is answered. */
function changesOver(copies: UIPart[][]): unknown[][] {
  let held: HeldPart[] = [];
  return copies.map((parts) => {
    const diff = diffParts(held, parts);
    held = diff.held;
    return diff.changes;
  });
}

describe("diffParts", () => {
  it("sends growing text as appends and leaves the state's turn to done to the finish", () => {
    const text = (value: string, state: "streaming" | "done"): UIPart => ({ type: "text", text: value, state });
    assert.deepEqual(changesOver([[text("Hel", "streaming")], [text("Hello", "streaming")], [text("Hello", "done")]]), [
      [{ append: "Hel", type: "text", index: 0 }],
      [{ append: "lo", type: "text", index: 0 }],
      [],
    ]);
  });

  it("puts a part whole once it differs from what appends stored (a reasoning id, provider metadata)", () => {
    const reasoning = (text: string, state: "streaming" | "done"): UIPart => ({ type: "reasoning", id: "r1", text, state });
    const done = { type: "text", text: "Hi", state: "done", providerMetadata: { p: { x: 1 } } } as UIPart;
    assert.deepEqual(changesOver([[reasoning("Why", "streaming")], [reasoning("Why not", "done"), done]]), [
      [{ append: "Why", type: "reasoning", index: 0 }],
      [
        { part: reasoning("Why not", "done"), index: 0 },
        { part: done, index: 1 },
      ],
    ]);
  });

  it("puts a tool call whole at each state, and waits on an empty text part with the parts after it", () => {
    const call = (state: string, extra: object = {}): UIPart =>
      ({ type: "tool-getWeather", toolCallId: "c1", state, input: { city: "Lisbon" }, ...extra }) as UIPart;
    const empty: UIPart = { type: "text", text: "", state: "streaming" };
    assert.deepEqual(
      changesOver([
        [call("input-available")],
        [call("input-available")],
        [call("output-available", { output: 19 }), empty, { type: "step-start" }],
      ]),
      [[{ part: call("input-available"), index: 0 }], [], [{ part: call("output-available", { output: 19 }), index: 0 }]],
    );
  });

  it("sends at most 64 changes, and holds only what they store", () => {
    const parts: UIPart[] = Array.from({ length: 70 }, (_, i) => ({ type: "data-row", id: `d${i}`, data: i }) as UIPart);
    const first = diffParts([], parts);
    assert.equal(first.changes.length, MAX_PART_CHANGES);
    assert.equal(first.held.length, MAX_PART_CHANGES);
    const second = diffParts(first.held, parts);
    assert.deepEqual(second.changes.map((change) => change.index), [64, 65, 66, 67, 68, 69]);
  });
});
