/**
 * The title a conversation gets from its first user message: the API's rule
 * (`title_from` in shared/models.py), here so an app shows the title the server will store
 * before the server has answered. One rule, tested against the server's on the same inputs
 * (tests/fixtures/default_titles.json, read by a Python test and a TypeScript one).
 */

/** The title of a conversation with no user message yet. */
export const DEFAULT_TITLE = "New conversation";

/** The most characters (code points) a title made from a message has, `…` included. */
const TITLE_CHARS = 60;

/**
 * What Python's `str.split()` splits on (`str.isspace()`): JavaScript's `\s` leaves out
 * U+001C-U+001F and U+0085 and adds U+FEFF, so the class is spelled out.
 */
const WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

/** Characters dropped from the end of a cut title, before its `…`. */
const TRAILING = new Set([" ", ",", ".", ";", ":", "-"]);

/**
 * The title the API gives a conversation whose first user message is `firstUserMessage`:
 * whitespace runs become one space; up to 60 characters it is the text itself, beyond that it
 * is cut at a word (at most 59 characters, trailing `,.;:-` dropped) and ends with `…`. A
 * message of only whitespace gives {@link DEFAULT_TITLE}. Lengths count code points, as the
 * server does, so an emoji is one character.
 */
export function defaultTitle(firstUserMessage: string): string {
  const words = firstUserMessage.split(WHITESPACE).filter((word) => word !== "");
  const text = Array.from(words.join(" "));
  if (text.length <= TITLE_CHARS) return text.length === 0 ? DEFAULT_TITLE : text.join("");
  let cut = text.slice(0, TITLE_CHARS - 1);
  const space = cut.lastIndexOf(" ");
  if (space >= 0 && text[TITLE_CHARS - 1] !== " ") cut = cut.slice(0, space);
  while (cut.length > 0 && TRAILING.has(cut[cut.length - 1]!)) cut.pop();
  return `${cut.join("")}…`;
}

/**
 * A message's text as the API takes it (`content_text` in shared/ui_parts.py): its `content`,
 * or, when it was left out, its text parts joined. What titles a conversation.
 */
export function messageText(message: {
  content?: string | undefined;
  parts?: readonly { type: string; text?: unknown }[] | null | undefined;
}): string {
  if (message.content !== undefined) return message.content;
  return (message.parts ?? []).map((part) => (part.type === "text" && typeof part.text === "string" ? part.text : "")).join("");
}
