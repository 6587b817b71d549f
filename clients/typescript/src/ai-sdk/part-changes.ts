/**
 * The `partChanges` of a PATCH (docs/api.md, "Streaming into parts"): what turns the parts the
 * store holds of a reply into the parts the SDK has built so far. Text and reasoning that grow
 * go as `append` (only the new words travel); every other change puts the whole part.
 */
import type { UIMessage } from "ai";

/** One of a message's parts, as the SDK types it. */
export type UIPart = UIMessage["parts"][number];

/** One change of a PATCH's `partChanges`, as the API takes it. */
export type PartChange =
  | { part: UIPart; index?: number }
  | { append: string; type: "text" | "reasoning"; index?: number };

/** The most changes one PATCH may carry. */
export const MAX_PART_CHANGES = 64;

/**
 * A part as the store holds it, as far as this writer's answered patches say: its JSON text,
 * and for a part an `append` started, its text (such a part is stored as
 * `{type, text, state: "streaming"}` and only grows by appends).
 */
export interface HeldPart {
  json: string;
  appended?: { type: "text" | "reasoning"; text: string };
}

/** What {@link diffParts} gives: the changes to send, and what the store holds once they apply. */
export interface PartsDiff {
  changes: PartChange[];
  held: HeldPart[];
}

/**
 * The changes (at most `max`) that turn `held` into `parts`, in order, each with its `index`
 * so the API never has to guess which part is meant.
 *
 * A text or reasoning part still streaming is sent as appends. Once it is done with the same
 * text and no other keys, nothing is sent: the finishing PATCH (or an interrupted reply's
 * settling) marks it done. Anything else that differs from what is held is put whole. Parts the
 * SDK removed (a `reset-step`) cannot be expressed as changes and stay stored.
 */
export function diffParts(held: readonly HeldPart[], parts: readonly UIPart[], max = MAX_PART_CHANGES): PartsDiff {
  const next = [...held];
  const changes: PartChange[] = [];
  for (let index = 0; index < parts.length && changes.length < max; index++) {
    const part = parts[index] as UIPart;
    const json = JSON.stringify(part);
    const have = next[index];
    if (have?.json === json) continue;
    const streamed = streamedText(part);
    if (streamed !== undefined && streamed.state === "streaming") {
      if (have === undefined) {
        // An empty part has nothing to store yet, and the parts after it need its index.
        if (streamed.text === "") break;
        changes.push({ append: streamed.text, type: streamed.type, index });
        next[index] = appendedPart(streamed.type, streamed.text);
        continue;
      }
      const before = have.appended;
      if (before?.type === streamed.type && streamed.text.startsWith(before.text)) {
        const added = streamed.text.slice(before.text.length);
        if (added !== "") {
          changes.push({ append: added, type: streamed.type, index });
          next[index] = appendedPart(streamed.type, streamed.text);
        }
        continue;
      }
    }
    if (streamed !== undefined && streamed.state === "done" && have?.appended?.text === streamed.text) {
      // Only the state differs: the finish turns every appended part to done.
      if (json === JSON.stringify({ type: streamed.type, text: streamed.text, state: "done" })) continue;
    }
    changes.push({ part, index });
    next[index] = { json };
  }
  return { changes, held: next };
}

/** A text or reasoning part's type, text and state; undefined for any other part. */
function streamedText(part: UIPart): { type: "text" | "reasoning"; text: string; state: string | undefined } | undefined {
  if (part.type !== "text" && part.type !== "reasoning") return undefined;
  return { type: part.type, text: part.text, state: part.state };
}

/** A part as an `append` stores it: exactly these keys, in this order. */
function appendedPart(type: "text" | "reasoning", text: string): HeldPart {
  return { json: JSON.stringify({ type, text, state: "streaming" }), appended: { type, text } };
}
