/**
 * The shared UIMessage cases, typed against the `ai` package this client names.
 *
 * tests/fixtures/ui_messages.json and ui_messages_invalid.json are written from this module
 * (`UPDATE_FIXTURES=1 npm test`; test/unit/ui-messages.test.ts fails while they differ), so the
 * conversation below type-checks as `UIMessage[]` under strict before it is ever JSON, and the
 * server's models (shared/ui_parts.py, tests/shared/test_ui_parts.py) read the same bytes.
 *
 * The conversation uses every part kind ai 7 defines and every tool state, static (`tool-<name>`)
 * and dynamic. Its last assistant message is one a closed tab left mid-stream: that is the only
 * place streaming text, a tool input still streaming or a preliminary tool output occur.
 */
import { tool } from "ai";
import type { InferUITools, UIMessage } from "ai";
import { z } from "zod";

/** What the app keeps in `message.metadata`; optional, as the SDK checks every message's. */
export const metadataSchema = z
  .object({
    createdAt: z.string(),
    model: z.string().optional(),
    finishReason: z.enum(["stop", "tool-calls", "length", "aborted"]).optional(),
    usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int() }).optional(),
    tags: z.array(z.string()).optional(),
  })
  .optional();

/** The app's two `data-*` parts: a weather card and a multi-step plan, both nested JSON. */
export const dataSchemas = {
  weather: z.object({
    city: z.string(),
    forecast: z.array(z.object({ day: z.string(), high: z.number(), low: z.number(), conditions: z.string() })),
    source: z.object({ name: z.string(), fetchedAt: z.string() }),
  }),
  plan: z.object({
    title: z.string(),
    steps: z.array(
      z.object({
        id: z.string(),
        label: z.string(),
        status: z.enum(["pending", "running", "done"]),
        children: z.array(z.object({ id: z.string(), label: z.string() })),
      }),
    ),
    progress: z.object({ done: z.number().int(), total: z.number().int() }),
  }),
};

/** The app's static tools; the SDK checks each static tool part's input and output against them. */
export const tools = {
  getWeather: tool({
    inputSchema: z.object({ city: z.string(), unit: z.enum(["celsius", "fahrenheit"]) }),
    outputSchema: z.object({ temperature: z.number(), conditions: z.string() }),
  }),
  searchDocs: tool({
    inputSchema: z.object({ query: z.string(), limit: z.number().int() }),
    outputSchema: z.object({ hits: z.array(z.object({ title: z.string(), url: z.string() })) }),
  }),
  runSql: tool({
    inputSchema: z.object({ sql: z.string() }),
    outputSchema: z.object({ rows: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.null()]))) }),
  }),
  deleteFile: tool({
    inputSchema: z.object({ path: z.string() }),
    outputSchema: z.object({ deleted: z.boolean() }),
  }),
};

export type ChatMetadata = z.infer<typeof metadataSchema>;
export type ChatDataParts = { [K in keyof typeof dataSchemas]: z.infer<(typeof dataSchemas)[K]> };
export type ChatMessage = UIMessage<ChatMetadata, ChatDataParts, InferUITools<typeof tools>>;

/** A 1x1 PNG: a `file` part's `data:` URL well under the server's cap. */
const DOT_PNG =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/**
 * The last assistant message, as a closed tab left it: text and reasoning still streaming, tool
 * calls waiting for their input or output, a preliminary output, approvals answered.
 */
const IN_FLIGHT: ChatMessage = {
  id: "msg-a4",
  role: "assistant",
  metadata: { createdAt: "2026-03-01T09:07:02.500Z", model: "openai/gpt-5" },
  parts: [
    { type: "step-start" },
    {
      type: "custom",
      kind: "openai.compaction",
      providerMetadata: { openai: { itemId: "cmp_1", encryptedContent: "gAAAAB..." } },
    },
    {
      type: "reasoning-file",
      mediaType: "image/png",
      url: "https://files.example.com/r/sketch-1.png",
      providerMetadata: { google: { thoughtSignature: "c2lnbmF0dXJl" } },
    },
    {
      type: "tool-runSql",
      toolCallId: "call_sql_2",
      state: "approval-responded",
      input: { sql: "select sum(total) from bookings" },
      approval: { id: "appr_6", approved: true, reason: "Fine, read-only." },
    },
    {
      type: "dynamic-tool",
      toolName: "crm.export",
      toolCallId: "call_mcp_5",
      state: "approval-responded",
      input: { format: "csv" },
      approval: { id: "appr_7", approved: false },
    },
    {
      type: "tool-getWeather",
      toolCallId: "call_weather_2",
      state: "input-available",
      input: { city: "Sintra", unit: "celsius" },
      callProviderMetadata: { openai: { itemId: "fc_80" } },
    },
    {
      type: "dynamic-tool",
      toolName: "calendar.find_slot",
      toolCallId: "call_mcp_6",
      state: "input-available",
      input: { day: "2026-03-02" },
    },
    {
      type: "tool-searchDocs",
      toolCallId: "call_search_2",
      state: "output-available",
      input: { query: "tram 28 timetable", limit: 3 },
      output: { hits: [{ title: "Tram 28", url: "https://carris.pt/28" }] },
      preliminary: true,
    },
    {
      type: "steering-message",
      id: "steer-1",
      parts: [
        { type: "text", text: "Also check trams." },
        { type: "file", mediaType: "image/png", filename: "tram.png", url: DOT_PNG },
      ],
    },
    {
      type: "data-plan",
      id: "plan-1",
      data: {
        title: "Two days in Lisbon",
        steps: [
          { id: "s1", label: "Check weather", status: "done", children: [] },
          {
            id: "s2",
            label: "Book tickets",
            status: "running",
            children: [
              { id: "s2a", label: "Belém Tower" },
              { id: "s2b", label: "Tram 28" },
            ],
          },
        ],
        progress: { done: 1, total: 2 },
      },
    },
    { type: "reasoning", text: "Sintra is usually cooler, so", state: "streaming" },
    {
      type: "tool-getWeather",
      toolCallId: "call_weather_3",
      state: "input-streaming",
      input: { city: "Cas" },
      rawInput: '{"city":"Cas',
      inputEncoding: "json",
    },
    {
      type: "dynamic-tool",
      toolName: "maps.route",
      toolCallId: "call_mcp_7",
      state: "input-streaming",
      title: "Route",
      rawInput: "from Rossio to",
      inputEncoding: "text",
    },
    { type: "text", text: "Here is the updated plan: on day 2 take", state: "streaming" },
  ],
};

export const UI_MESSAGES: ChatMessage[] = [
  {
    id: "msg-system",
    role: "system",
    parts: [{ type: "text", text: "You are a travel and data assistant. Ask before deleting anything." }],
  },
  {
    id: "msg-u1",
    role: "user",
    metadata: { createdAt: "2026-03-01T09:00:00.000Z", tags: ["trip", "lisbon"] },
    parts: [
      { type: "text", text: "Plan two days in Lisbon. Here is my route and a sketch of the hotel." },
      {
        type: "file",
        mediaType: "application/pdf",
        filename: "route.pdf",
        url: "https://files.example.com/u/42/route.pdf",
      },
      { type: "file", mediaType: "image/png", filename: "hotel.png", url: DOT_PNG },
      {
        type: "file",
        mediaType: "image",
        url: "https://files.example.com/u/42/map.webp",
        providerReference: { openai: "file-abc123", anthropic: "file_01XYZ" },
        providerMetadata: { openai: { detail: "low" } },
      },
    ],
  },
  {
    id: "msg-a1",
    role: "assistant",
    metadata: {
      createdAt: "2026-03-01T09:00:04.120Z",
      model: "anthropic/claude-sonnet-4.5",
      finishReason: "stop",
      usage: { inputTokens: 1834, outputTokens: 402 },
    },
    parts: [
      { type: "step-start" },
      {
        type: "reasoning",
        id: "rs_1",
        text: "The user wants a two-day plan; I should check the weather first.",
        state: "done",
        providerMetadata: { anthropic: { signature: "EqQBCkYIBxgCKkD" } },
      },
      {
        type: "tool-getWeather",
        toolCallId: "call_weather_1",
        state: "output-available",
        title: "Weather in Lisbon",
        toolMetadata: { cacheHit: false, latencyMs: 212 },
        input: { city: "Lisbon", unit: "celsius" },
        output: { temperature: 19.5, conditions: "sunny" },
        callProviderMetadata: { anthropic: { cacheControl: { type: "ephemeral" } } },
        resultProviderMetadata: { gateway: { routing: { provider: "anthropic", attempts: 1 } } },
      },
      {
        type: "data-weather",
        id: "weather-lisbon",
        data: {
          city: "Lisbon",
          forecast: [
            { day: "2026-03-02", high: 20, low: 12.5, conditions: "sunny" },
            { day: "2026-03-03", high: 17, low: 11, conditions: "showers" },
          ],
          source: { name: "open-meteo", fetchedAt: "2026-03-01T09:00:02.000Z" },
        },
      },
      { type: "step-start" },
      {
        type: "source-url",
        sourceId: "src-1",
        url: "https://www.visitlisboa.com/en/places/belem-tower",
        title: "Belém Tower",
        providerMetadata: { perplexity: { rank: 1 } },
      },
      { type: "source-url", sourceId: "src-2", url: "https://en.wikipedia.org/wiki/Alfama" },
      {
        type: "source-document",
        sourceId: "src-3",
        mediaType: "application/pdf",
        title: "Your route",
        filename: "route.pdf",
        providerMetadata: { anthropic: { citationIndex: 0 } },
      },
      { type: "source-document", sourceId: "src-4", mediaType: "text/plain", title: "Opening hours" },
      {
        type: "text",
        text: "Day 1: Belém in the sunny morning, Alfama at dusk. Day 2 may bring showers: museums.",
        state: "done",
        citations: [
          {
            source: {
              type: "source",
              sourceType: "url",
              id: "src-1",
              url: "https://www.visitlisboa.com/en/places/belem-tower",
              title: "Belém Tower",
            },
            startIndex: 7,
            endIndex: 12,
            citedText: "Belém Tower opens at 10:00.",
          },
          {
            source: {
              type: "source",
              sourceType: "document",
              id: "src-3",
              mediaType: "application/pdf",
              title: "Your route",
              filename: "route.pdf",
              providerMetadata: { anthropic: { page: 2 } },
            },
          },
        ],
        providerMetadata: { anthropic: { stopSequence: null } },
      },
    ],
  },
  {
    id: "msg-u2",
    role: "user",
    metadata: { createdAt: "2026-03-01T09:05:00.000Z" },
    parts: [{ type: "text", text: "Delete the old export and count my bookings." }],
  },
  {
    id: "msg-a2",
    role: "assistant",
    metadata: { createdAt: "2026-03-01T09:05:03.000Z", model: "openai/gpt-5", finishReason: "tool-calls" },
    parts: [
      { type: "step-start" },
      {
        type: "tool-deleteFile",
        toolCallId: "call_delete_1",
        state: "output-denied",
        input: { path: "exports/2025.csv" },
        approval: {
          id: "appr_1",
          approved: false,
          requestReason: "Deleting files needs your approval.",
          reason: "Keep it for the audit.",
        },
      },
      {
        type: "tool-runSql",
        toolCallId: "call_sql_1",
        state: "output-available",
        providerExecuted: false,
        input: { sql: "select count(*) as n from bookings" },
        output: { rows: [{ n: 3 }] },
        preliminary: false,
        approval: {
          id: "appr_2",
          approved: true,
          isAutomatic: true,
          signature: "sig_9f2c",
          descriptor: { policy: "read-only-sql", scopes: ["bookings"] },
          inputSchemaInput: { sql: "select count(*) as n from bookings" },
        },
      },
      {
        type: "tool-searchDocs",
        toolCallId: "call_search_1",
        state: "output-error",
        input: { query: "cancellation policy", limit: 5 },
        errorText: "Search index unavailable (503).",
        resultProviderMetadata: { openai: { itemId: "fc_77" } },
      },
      {
        type: "dynamic-tool",
        toolName: "filesystem.read_file",
        toolCallId: "call_mcp_1",
        state: "output-available",
        title: "Read file",
        providerExecuted: true,
        input: { path: "/notes/lisbon.md" },
        output: { content: [{ type: "text", text: "# Lisbon\n- pastéis" }], isError: false },
      },
      {
        type: "dynamic-tool",
        toolName: "browser.open",
        toolCallId: "call_mcp_2",
        state: "output-error",
        // What a tool-input-error chunk leaves when the model's input did not parse: the key is
        // in the type, its value undefined, so JSON (and the fixture file) has no `input`.
        input: undefined,
        errorText: "Tool input was not valid JSON.",
      },
      {
        type: "dynamic-tool",
        toolName: "filesystem.write_file",
        toolCallId: "call_mcp_3",
        state: "output-denied",
        input: { path: "/notes/lisbon.md", content: "" },
        approval: { id: "appr_3", approved: false },
      },
      {
        type: "dynamic-tool",
        dynamic: false,
        toolName: "legacyLookup",
        toolCallId: "call_legacy_1",
        state: "output-available",
        input: {},
        output: null,
      },
      { type: "text", text: "I did not delete the export. You have 3 bookings.", state: "done" },
    ],
  },
  {
    id: "msg-a3",
    role: "assistant",
    metadata: { createdAt: "2026-03-01T09:06:00.000Z", finishReason: "tool-calls" },
    parts: [
      { type: "step-start" },
      { type: "text", text: "Shall I remove the temporary files?" },
      {
        type: "tool-deleteFile",
        toolCallId: "call_delete_2",
        state: "approval-requested",
        input: { path: "tmp/" },
        approval: { id: "appr_4", requestReason: "Deleting files needs your approval." },
      },
      {
        type: "dynamic-tool",
        toolName: "filesystem.move_file",
        toolCallId: "call_mcp_4",
        state: "approval-requested",
        input: { from: "/tmp/a", to: "/archive/a" },
        callProviderMetadata: { mcp: { server: "fs" } },
        approval: { id: "appr_5" },
      },
    ],
  },
  {
    id: "msg-u3",
    role: "user",
    metadata: { createdAt: "2026-03-01T09:07:00.000Z" },
    parts: [{ type: "text", text: "Never mind that. Run the revenue report and redo the plan." }],
  },
  IN_FLIGHT,
];

type ChatPart = ChatMessage["parts"][number];

/** What the interrupted calls say (shared/ui_parts.py INTERRUPTED_TOOL_ERROR). */
const INTERRUPTED_TOOL_ERROR = "The response was interrupted before this tool call finished.";

/**
 * `IN_FLIGHT` once its stream is known to be over (shared/ui_parts.py `mark_interrupted`), the
 * parts that change written out by index: streaming text and reasoning are done, tool calls
 * waiting for input or output failed (a call whose input was still streaming without it); the
 * rest stays as it was. Keys keep their places, `errorText` comes last.
 */
const SETTLED: Record<number, ChatPart> = {
  5: {
    type: "tool-getWeather",
    toolCallId: "call_weather_2",
    state: "output-error",
    input: { city: "Sintra", unit: "celsius" },
    callProviderMetadata: { openai: { itemId: "fc_80" } },
    errorText: INTERRUPTED_TOOL_ERROR,
  },
  6: {
    type: "dynamic-tool",
    toolName: "calendar.find_slot",
    toolCallId: "call_mcp_6",
    state: "output-error",
    input: { day: "2026-03-02" },
    errorText: INTERRUPTED_TOOL_ERROR,
  },
  10: { type: "reasoning", text: "Sintra is usually cooler, so", state: "done" },
  11: {
    type: "tool-getWeather",
    toolCallId: "call_weather_3",
    state: "output-error",
    input: undefined,
    errorText: INTERRUPTED_TOOL_ERROR,
  },
  12: {
    type: "dynamic-tool",
    toolName: "maps.route",
    toolCallId: "call_mcp_7",
    state: "output-error",
    title: "Route",
    input: undefined,
    errorText: INTERRUPTED_TOOL_ERROR,
  },
  13: { type: "text", text: "Here is the updated plan: on day 2 take", state: "done" },
};

export const INTERRUPTED: ChatMessage = {
  ...IN_FLIGHT,
  parts: IN_FLIGHT.parts.map((part, index) => SETTLED[index] ?? part),
};

/**
 * Messages `validateUIMessages` refuses, each for one reason; `field` is the name its first
 * issue's path ends at (absent when the list itself is wrong), so a case refused for some other
 * reason fails the test.
 */
export type InvalidCase = { reason: string; field?: string; messages: unknown };

const assistant = (...parts: unknown[]) => [{ id: "m", role: "assistant", parts }];
const call = { toolCallId: "c1" };

export const INVALID_UI_MESSAGES: InvalidCase[] = [
  { reason: "no messages at all", messages: [] },
  { reason: "messages is not an array", messages: { id: "m", role: "user", parts: [] } },
  { reason: "a message without an id", field: "id", messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }] },
  { reason: "role is not system, user or assistant", field: "role", messages: [{ id: "m", role: "tool", parts: [{ type: "text", text: "hi" }] }] },
  { reason: "a user message without parts", field: "parts", messages: [{ id: "m", role: "user", parts: [] }] },
  { reason: "parts is not an array", field: "parts", messages: [{ id: "m", role: "user", parts: { type: "text", text: "hi" } }] },
  { reason: "an unknown part type", field: "type", messages: assistant({ type: "image", url: "https://x.test/a.png" }) },
  { reason: "a part without a type", field: "type", messages: assistant({ text: "hi" }) },
  { reason: "a text part without text", field: "text", messages: assistant({ type: "text", state: "done" }) },
  { reason: "a text state other than streaming or done", field: "state", messages: assistant({ type: "text", text: "hi", state: "complete" }) },
  { reason: "text that is not a string", field: "text", messages: assistant({ type: "text", text: 42 }) },
  { reason: "null for an optional field", field: "title", messages: assistant({ type: "source-url", sourceId: "s", url: "https://x.test", title: null }) },
  { reason: "a reasoning part without text", field: "text", messages: assistant({ type: "reasoning", state: "done" }) },
  { reason: "a source-document without a title", field: "title", messages: assistant({ type: "source-document", sourceId: "s", mediaType: "text/plain" }) },
  { reason: "a source-url without a url", field: "url", messages: assistant({ type: "source-url", sourceId: "s" }) },
  { reason: "a file part without a mediaType", field: "mediaType", messages: assistant({ type: "file", url: "https://x.test/a.pdf" }) },
  { reason: "a file part without a url", field: "url", messages: assistant({ type: "file", mediaType: "application/pdf" }) },
  { reason: "a providerReference value that is not a string", field: "openai", messages: assistant({ type: "file", mediaType: "image/png", url: "https://x.test/a.png", providerReference: { openai: 7 } }) },
  { reason: "a reasoning-file without a mediaType", field: "mediaType", messages: assistant({ type: "reasoning-file", url: "https://x.test/a.png" }) },
  { reason: "a custom part without a kind", field: "kind", messages: assistant({ type: "custom" }) },
  { reason: "a steering message holding a reasoning part", field: "type", messages: assistant({ type: "steering-message", id: "s", parts: [{ type: "reasoning", text: "no" }] }) },
  { reason: "a steering message without an id", field: "id", messages: assistant({ type: "steering-message", parts: [{ type: "text", text: "hi" }] }) },
  { reason: "providerMetadata whose provider entry is not an object", field: "openai", messages: assistant({ type: "text", text: "hi", providerMetadata: { openai: 1 } }) },
  { reason: "providerMetadata that is not an object", field: "providerMetadata", messages: assistant({ type: "text", text: "hi", providerMetadata: ["openai"] }) },
  { reason: "a citation with a negative startIndex", field: "startIndex", messages: assistant({ type: "text", text: "hi", citations: [{ source: { type: "source", sourceType: "url", id: "s", url: "https://x.test" }, startIndex: -1 }] }) },
  { reason: "a citation with a fractional endIndex", field: "endIndex", messages: assistant({ type: "text", text: "hi", citations: [{ source: { type: "source", sourceType: "url", id: "s", url: "https://x.test" }, endIndex: 1.5 }] }) },
  { reason: "a citation source of an unknown sourceType", field: "sourceType", messages: assistant({ type: "text", text: "hi", citations: [{ source: { type: "source", sourceType: "video", id: "s", url: "https://x.test" } }] }) },
  { reason: "a data part without data", field: "data", messages: assistant({ type: "data-weather", id: "w" }) },
  { reason: "a data part id that is not a string", field: "id", messages: assistant({ type: "data-weather", id: 7, data: {} }) },
  { reason: "a tool part without a state", field: "state", messages: assistant({ type: "tool-getWeather", ...call, input: {} }) },
  { reason: "a tool part in an unknown state", field: "state", messages: assistant({ type: "tool-getWeather", ...call, state: "running", input: {} }) },
  { reason: "a tool part without a toolCallId", field: "toolCallId", messages: assistant({ type: "tool-getWeather", state: "input-available", input: {} }) },
  { reason: "input-available without input", field: "input", messages: assistant({ type: "tool-getWeather", ...call, state: "input-available" }) },
  { reason: "input-available with an output", field: "output", messages: assistant({ type: "tool-getWeather", ...call, state: "input-available", input: {}, output: 1 }) },
  { reason: "input-available with an approval", field: "approval", messages: assistant({ type: "tool-getWeather", ...call, state: "input-available", input: {}, approval: { id: "a" } }) },
  { reason: "input-streaming with an errorText", field: "errorText", messages: assistant({ type: "tool-getWeather", ...call, state: "input-streaming", errorText: "e" }) },
  { reason: "input-streaming with an inputEncoding other than json or text", field: "inputEncoding", messages: assistant({ type: "tool-getWeather", ...call, state: "input-streaming", inputEncoding: "xml" }) },
  { reason: "input-streaming with a rawInput that is not a string", field: "rawInput", messages: assistant({ type: "tool-getWeather", ...call, state: "input-streaming", rawInput: { city: "L" } }) },
  { reason: "approval-requested without an approval", field: "approval", messages: assistant({ type: "tool-deleteFile", ...call, state: "approval-requested", input: {} }) },
  { reason: "approval-requested whose approval is already answered", field: "approved", messages: assistant({ type: "tool-deleteFile", ...call, state: "approval-requested", input: {}, approval: { id: "a", approved: true } }) },
  { reason: "approval-requested whose approval has a reason", field: "reason", messages: assistant({ type: "tool-deleteFile", ...call, state: "approval-requested", input: {}, approval: { id: "a", reason: "why" } }) },
  { reason: "approval-responded without approved", field: "approved", messages: assistant({ type: "tool-deleteFile", ...call, state: "approval-responded", input: {}, approval: { id: "a" } }) },
  { reason: "an approval without an id", field: "id", messages: assistant({ type: "tool-deleteFile", ...call, state: "approval-responded", input: {}, approval: { approved: true } }) },
  { reason: "output-available without output", field: "output", messages: assistant({ type: "tool-getWeather", ...call, state: "output-available", input: {} }) },
  { reason: "output-available without input", field: "input", messages: assistant({ type: "tool-getWeather", ...call, state: "output-available", output: {} }) },
  { reason: "output-available with an errorText", field: "errorText", messages: assistant({ type: "tool-getWeather", ...call, state: "output-available", input: {}, output: {}, errorText: "e" }) },
  { reason: "output-available after a denied approval", field: "approved", messages: assistant({ type: "tool-getWeather", ...call, state: "output-available", input: {}, output: {}, approval: { id: "a", approved: false } }) },
  { reason: "output-available with a preliminary that is not a boolean", field: "preliminary", messages: assistant({ type: "tool-getWeather", ...call, state: "output-available", input: {}, output: {}, preliminary: "yes" }) },
  { reason: "output-error without errorText", field: "errorText", messages: assistant({ type: "tool-getWeather", ...call, state: "output-error", input: {} }) },
  { reason: "output-error with an output", field: "output", messages: assistant({ type: "tool-getWeather", ...call, state: "output-error", input: {}, output: {}, errorText: "e" }) },
  { reason: "output-denied without an approval", field: "approval", messages: assistant({ type: "tool-deleteFile", ...call, state: "output-denied", input: {} }) },
  { reason: "output-denied after a granted approval", field: "approved", messages: assistant({ type: "tool-deleteFile", ...call, state: "output-denied", input: {}, approval: { id: "a", approved: true } }) },
  { reason: "toolMetadata that is not an object", field: "toolMetadata", messages: assistant({ type: "tool-getWeather", ...call, state: "input-available", input: {}, toolMetadata: [1] }) },
  { reason: "providerExecuted that is not a boolean", field: "providerExecuted", messages: assistant({ type: "tool-getWeather", ...call, state: "input-available", input: {}, providerExecuted: "true" }) },
  { reason: "a dynamic tool without a toolName", field: "toolName", messages: assistant({ type: "dynamic-tool", ...call, state: "input-available", input: {} }) },
  { reason: "a dynamic tool marked dynamic: true", field: "dynamic", messages: assistant({ type: "dynamic-tool", dynamic: true, toolName: "t", ...call, state: "input-available", input: {} }) },
  { reason: "a dynamic tool in output-available without output", field: "output", messages: assistant({ type: "dynamic-tool", toolName: "t", ...call, state: "output-available", input: {} }) },
  { reason: "a dynamic tool in output-denied after a granted approval", field: "approved", messages: assistant({ type: "dynamic-tool", toolName: "t", ...call, state: "output-denied", input: {}, approval: { id: "a", approved: true } }) },
];
