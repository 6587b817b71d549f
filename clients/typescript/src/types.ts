/**
 * The client's public model types, all derived from the generated OpenAPI types: date fields
 * become `Date` on the way out ({@link Dated}) and accept `Date | string` on the way in
 * ({@link DatedInput}). Nothing here is written by hand, so nothing can drift from the API.
 */
import type { Dated, DatedInput } from "./dates.js";
import type { components, operations } from "./generated/api.js";

type Schemas = components["schemas"];

/** The JSON body of operation `O`'s answer with status `S`. */
export type ResponseBody<O extends keyof operations, S extends number> =
  operations[O]["responses"] extends Record<S, { content: { "application/json": infer B } }>
    ? B
    : never;

/** The JSON body operation `O` takes. */
export type RequestBody<O extends keyof operations> = operations[O] extends {
  requestBody: { content: { "application/json": infer B } };
}
  ? B
  : never;

/** The query parameters of operation `O`. */
export type QueryOf<O extends keyof operations> = NonNullable<operations[O]["parameters"]["query"]>;

/** A conversation with its newest page of messages (`GET /api/conversations/{id}`). */
export type ConversationView = Dated<ResponseBody<"get_conversation", 200>>;
/** A conversation without messages, as listed and in the change feed. */
export type ConversationSummary = Dated<Schemas["ConversationSummary"]>;
/** A whole conversation as `PUT` and import take it: the frontend's `Conversation`. */
export type ConversationInput = DatedInput<Schemas["Conversation"]>;
/** A message as the API answers it. */
export type Message = Dated<ResponseBody<"append_message", 201>>;
/** A message as appended: the frontend's `ConversationMessage`. */
export type MessageInput = DatedInput<RequestBody<"append_message">>;
/** A change to a message: a streamed delta (`appendContent`, `sequence`), a finish, tools. */
export type MessagePatch = RequestBody<"update_message">;
/** A change to a conversation's title, MCP servers or archived flag. */
export type ConversationPatch = RequestBody<"update_conversation">;
/** A message from a UTF-16 offset on (following a reply another device streams). */
export type MessageTail = Dated<ResponseBody<"get_message", 200>>;
/** One page of conversation summaries, and where the change feed starts. */
export type ConversationListPage = Dated<ResponseBody<"list_conversations", 200>>;
/** One page of the change feed. */
export type ChangesPage = Dated<ResponseBody<"list_changes", 200>>;
/** One change of the feed: an upsert or a tombstone. */
export type Change = ChangesPage["changes"][number];
/** `PUT /api/conversations/{id}`: the summary, and what the cap evicted. */
export type PutResult = Dated<ResponseBody<"put_conversation", 200>>;
/** `GET /api/me`. */
export type Me = ResponseBody<"get_me", 200>;
/** `GET /api/limits`: what a client sizes its requests by. */
export type Limits = ResponseBody<"get_limits", 200>;
/** `POST /api/auth/anonymous`: a visitor's bearer token. */
export type AnonymousToken = Dated<ResponseBody<"issue_anonymous_token", 201>>;
/** What an import or a claim stored, and what it rejected. */
export type ImportResult = ResponseBody<"import_conversations", 200>;
/** `POST /api/me/claim`'s answer. */
export type ClaimResult = ResponseBody<"claim_anonymous", 200>;
/** `POST /api/me/claim`'s body. */
export type ClaimRequest = RequestBody<"claim_anonymous">;
/** One page of whole conversations (`GET /api/me/export`). */
export type ExportPage = Dated<ResponseBody<"export_conversations", 200>>;
/** `GET /api/health` 200. */
export type Healthy = Dated<ResponseBody<"health", 200>>;
/** `GET /api/health` 503 (not thrown: it is the answer a monitor wants). */
export type Unhealthy = Dated<ResponseBody<"health", 503>>;

/**
 * A conversation in a `POST /api/import` batch: the localStorage shape, with read-only fields
 * of a `GET` allowed back, and `ifMatch` (the version it was read at) to write it only while
 * it is still at that version.
 */
export type ImportConversation = ConversationInput & {
  ifMatch?: number | string;
  [field: string]: unknown;
};

/** `POST /api/import`'s body: what the frontend kept in localStorage. */
export interface ImportRequest {
  conversations: ImportConversation[];
  currentConversationId?: string | null;
}

/** A successful answer. */
export interface ApiResponse<T> {
  notModified: false;
  status: number;
  data: T;
  /** The answer's `ETag`: send it back as `If-Match` (writes) or `If-None-Match` (reads). */
  etag: string | undefined;
  /** The answer's `X-Request-Id`. */
  requestId: string;
  headers: Headers;
}

/** A conditional read's 304: the copy whose `ETag` was sent is current. */
export interface NotModified {
  notModified: true;
  status: 304;
  etag: string | undefined;
  requestId: string;
  headers: Headers;
}

/** The answer of a read that honours `If-None-Match`. */
export type ConditionalResponse<T> = ApiResponse<T> | NotModified;
