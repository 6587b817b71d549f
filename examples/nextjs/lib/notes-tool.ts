/**
 * The tool the mock model calls, run by the route on the server: a search of the user's notes
 * (three canned matches), so a reply holds a real tool call with its input and output.
 */
import { tool } from "ai";
import { z } from "zod";

export const searchNotes = tool({
  description: "Search the user's notes for a topic.",
  inputSchema: z.object({ query: z.string().describe("what to look for") }),
  execute: async ({ query }) => ({
    query,
    matches: 3,
    titles: [`${query}: overview`, `${query}: open questions`, `${query}: links`],
  }),
});
