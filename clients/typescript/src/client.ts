/**
 * `ChatStoreClient`: one method per operation of the API's OpenAPI document, each a thin call
 * of the typed fetch ({@link ApiFetch}, keyed by path and method from the generated `paths`)
 * with the options spelled as an app author thinks of them (`ifMatch`, `returnMinimal`).
 * {@link Transport} does the sending (token, idempotency key, request id, timeout, retries,
 * sync token, reachability, problem+json errors).
 */
import { ApiFetch } from "./api.js";
import { Transport } from "./transport.js";
import type { CallOptions, TransportOptions, WriteOptions } from "./transport.js";
import type {
  AnonymousToken,
  ApiResponse,
  ChangesPage,
  ClaimRequest,
  ClaimResult,
  ConditionalResponse,
  ConversationInput,
  ConversationListPage,
  ConversationPatch,
  ConversationSummary,
  ConversationView,
  ExportPage,
  Healthy,
  ImportRequest,
  ImportResult,
  Limits,
  Me,
  Message,
  MessageInput,
  MessagePatch,
  MessageTail,
  PutResult,
  QueryOf,
  Unhealthy,
} from "./types.js";

/** Options of {@link ChatStoreClient}. */
export type ChatStoreClientOptions = TransportOptions;

/** A read that honours `If-None-Match`: 304 comes back as {@link NotModified}. */
export interface ReadOptions extends CallOptions {
  /** The `ETag` of the copy you hold. */
  ifNoneMatch?: string;
}

/** A write to a conversation: `If-Match` / `If-None-Match` make it conditional. */
export interface ConditionalWriteOptions extends WriteOptions {
  /** Write only over this version (an `ETag` you read); `*`: only if it exists. 412 otherwise. */
  ifMatch?: string;
  /** `*`: only if the conversation does not exist (and bring back one the user deleted). */
  ifNoneMatch?: string;
}

/** Options of {@link ChatStoreClient.updateMessage}. */
export interface UpdateMessageOptions extends ConditionalWriteOptions {
  /**
   * Send `Prefer: return=minimal`: a 204 with no body instead of the whole message on every
   * streamed delta. `data` is then `undefined`.
   */
  returnMinimal?: boolean;
}

/**
 * The chat-store API's client. One per app (or per signed-in user): it keeps the
 * `Upstash-Sync-Token` of the last answer and sends it with the next request, so a read sees
 * this device's writes whichever replica serves it.
 *
 * @example
 * ```ts
 * const client = new ChatStoreClient({
 *   baseUrl: process.env.NEXT_PUBLIC_CHAT_STORE_URL!,
 *   getToken: () => session?.accessToken,
 * });
 * const { data: page } = await client.listConversations({ limit: 20 });
 * ```
 */
export class ChatStoreClient {
  /** The transport every call goes through; layers built on the client may share it. */
  readonly transport: Transport;
  /** Typed calls by path and method over {@link transport}: what every method here uses. */
  readonly api: ApiFetch;
  #limits: Limits | undefined;

  constructor(options: ChatStoreClientOptions) {
    this.transport = new Transport(options);
    this.api = new ApiFetch(this.transport);
  }

  /** The `Upstash-Sync-Token` the next request sends (the last one an answer carried). */
  get syncToken(): string | undefined {
    return this.transport.syncToken;
  }

  set syncToken(token: string | undefined) {
    this.transport.syncToken = token;
  }

  // --- No token needed ----------------------------------------------------------------------

  /** `GET /api/health`. A 503 is returned (with `Unhealthy`), not thrown, and not retried. */
  health(options?: CallOptions): Promise<ApiResponse<Healthy | Unhealthy>> {
    return this.api.GET("/api/health", { retry: false, ...options, auth: false, accept: [503] });
  }

  /** `GET /api/limits`: the sizes to batch imports and messages by. Kept as {@link knownLimits}. */
  async getLimits(options?: CallOptions): Promise<ApiResponse<Limits>> {
    const answer = await this.api.GET("/api/limits", { ...options, auth: false });
    this.#limits = answer.data;
    return answer;
  }

  /**
   * The limits the last {@link getLimits} answered, undefined before one did. The layers built
   * on the client take the server's values from here (a reply's stale limit: how often a writer
   * beats and a follower polls), never sending a request of their own for them: an app that
   * wants them used calls `getLimits()` once at start (the migration does).
   */
  get knownLimits(): Limits | undefined {
    return this.#limits;
  }

  /** `GET /api/openapi.json`: the API's OpenAPI 3.1 document. */
  getOpenApiDocument(options?: CallOptions): Promise<ApiResponse<Record<string, unknown>>> {
    return this.api.GET("/api/openapi.json", { ...options, auth: false });
  }

  /**
   * `POST /api/auth/anonymous`: a token for a visitor who has not signed in. Sends no
   * `Authorization`, so a `getToken` provider may call it to get its first token.
   */
  issueAnonymousToken(options?: WriteOptions): Promise<ApiResponse<AnonymousToken>> {
    return this.api.POST("/api/auth/anonymous", { ...options, auth: false });
  }

  // --- Conversations ------------------------------------------------------------------------

  /**
   * `GET /api/conversations`: a page of summaries, most recently updated first. Keep the first
   * page's `changesCursor` to follow {@link listChanges} from there.
   */
  listConversations(
    query: QueryOf<"list_conversations"> = {},
    options?: ReadOptions,
  ): Promise<ConditionalResponse<ConversationListPage>> {
    return this.api.GET("/api/conversations", { ...read(options), params: { query } });
  }

  /**
   * `GET /api/changes`: what changed since `since`, oldest first. While `hasMore`, ask again
   * at once with `nextCursor`. A 410 `changes_reset` means: list again.
   */
  listChanges(query: QueryOf<"list_changes">, options?: CallOptions): Promise<ApiResponse<ChangesPage>> {
    return this.api.GET("/api/changes", { ...options, params: { query } });
  }

  /** `GET /api/conversations/{id}`: the conversation with its newest `limit` messages. */
  getConversation(
    id: string,
    query: QueryOf<"get_conversation"> = {},
    options?: ReadOptions,
  ): Promise<ConditionalResponse<ConversationView>> {
    return this.api.GET("/api/conversations/{id}", { ...read(options), params: { path: { id }, query } });
  }

  /** `PUT /api/conversations/{id}`: create (201) or replace (200) a whole conversation. */
  putConversation(
    id: string,
    conversation: ConversationInput,
    options?: ConditionalWriteOptions,
  ): Promise<ApiResponse<PutResult>> {
    return this.api.PUT("/api/conversations/{id}", { ...write(options), params: { path: { id } }, body: conversation });
  }

  /** `PATCH /api/conversations/{id}`: rename, archive or unarchive, or set (`null`: remove) its MCP servers. */
  updateConversation(
    id: string,
    patch: ConversationPatch,
    options?: ConditionalWriteOptions,
  ): Promise<ApiResponse<ConversationSummary>> {
    return this.api.PATCH("/api/conversations/{id}", { ...write(options), params: { path: { id } }, body: patch });
  }

  /** `DELETE /api/conversations/{id}` (204; 404 when absent). */
  deleteConversation(id: string, options?: ConditionalWriteOptions): Promise<ApiResponse<undefined>> {
    return this.api.DELETE("/api/conversations/{id}", { ...write(options), params: { path: { id } } });
  }

  // --- Messages -----------------------------------------------------------------------------

  /**
   * `POST /api/conversations/{id}/messages`: append one message (201), creating the
   * conversation when absent. The same id and content again answers 200 and stores nothing.
   */
  appendMessage(id: string, message: MessageInput, options?: ConditionalWriteOptions): Promise<ApiResponse<Message>> {
    return this.api.POST("/api/conversations/{id}/messages", { ...write(options), params: { path: { id } }, body: message });
  }

  /**
   * `GET /api/conversations/{id}/messages/{messageId}?after=`: the message's content from
   * UTF-16 offset `after` on; poll with its `ETag` as `ifNoneMatch` to follow a streamed reply.
   */
  getMessage(
    id: string,
    messageId: string,
    query: QueryOf<"get_message"> = {},
    options?: ReadOptions,
  ): Promise<ConditionalResponse<MessageTail>> {
    return this.api.GET("/api/conversations/{id}/messages/{messageId}", {
      ...read(options),
      params: { path: { id, messageId }, query },
    });
  }

  /**
   * `PATCH /api/conversations/{id}/messages/{messageId}`: a streamed delta
   * (`{appendContent, sequence}`), the finish (`{streaming: false, tokens}`), an edit or tool
   * executions. 409 `sequence_gap` carries `lastSequence`; resend from the one after it.
   */
  updateMessage(
    id: string,
    messageId: string,
    patch: MessagePatch,
    options: UpdateMessageOptions & { returnMinimal: true },
  ): Promise<ApiResponse<undefined>>;
  updateMessage(
    id: string,
    messageId: string,
    patch: MessagePatch,
    options?: UpdateMessageOptions,
  ): Promise<ApiResponse<Message>>;
  updateMessage(
    id: string,
    messageId: string,
    patch: MessagePatch,
    options?: UpdateMessageOptions,
  ): Promise<ApiResponse<Message | undefined>> {
    const { returnMinimal, ...rest } = options ?? {};
    const init = write(rest);
    return this.api.PATCH("/api/conversations/{id}/messages/{messageId}", {
      ...init,
      headers: { ...init.headers, Prefer: returnMinimal ? "return=minimal" : undefined },
      params: { path: { id, messageId } },
      body: patch,
    });
  }

  /** `DELETE /api/conversations/{id}/messages/{messageId}` (204; 404 when absent). */
  deleteMessage(id: string, messageId: string, options?: ConditionalWriteOptions): Promise<ApiResponse<undefined>> {
    return this.api.DELETE("/api/conversations/{id}/messages/{messageId}", {
      ...write(options),
      params: { path: { id, messageId } },
    });
  }

  // --- The user -----------------------------------------------------------------------------

  /** `GET /api/me`: the caller, running totals, the current conversation. */
  getMe(options?: ReadOptions): Promise<ConditionalResponse<Me>> {
    return this.api.GET("/api/me", read(options));
  }

  /** `PUT /api/me/current-conversation` (204); `null` clears it. */
  setCurrentConversation(conversationId: string | null, options?: WriteOptions): Promise<ApiResponse<undefined>> {
    return this.api.PUT("/api/me/current-conversation", { ...options, body: { conversationId } });
  }

  /** `DELETE /api/me` (204): every key of the user erased. */
  eraseUser(options?: WriteOptions): Promise<ApiResponse<undefined>> {
    return this.api.DELETE("/api/me", options);
  }

  /**
   * `POST /api/me/claim`: the signed-in user takes over an anonymous visitor's conversations.
   * While the answer has a `cursor`, claim again with it.
   */
  claimAnonymous(body: ClaimRequest, options?: WriteOptions): Promise<ApiResponse<ClaimResult>> {
    return this.api.POST("/api/me/claim", { ...options, body });
  }

  /**
   * `POST /api/import`: a batch of the localStorage history. Each conversation is judged on its
   * own; those not stored are listed in `rejected` (the call itself succeeds).
   */
  importConversations(body: ImportRequest, options?: WriteOptions): Promise<ApiResponse<ImportResult>> {
    return this.api.POST("/api/import", { ...options, body });
  }

  /** `GET /api/me/export`: a page of whole conversations; follow `nextCursor` as `cursor`. */
  exportConversations(
    query: QueryOf<"export_conversations"> = {},
    options?: CallOptions,
  ): Promise<ApiResponse<ExportPage>> {
    return this.api.GET("/api/me/export", { ...options, params: { query } });
  }
}

/** A conditional read's options as the typed fetch takes them: `ifNoneMatch` as its header. */
function read({ ifNoneMatch, ...options }: ReadOptions = {}) {
  return { ...options, headers: { "If-None-Match": ifNoneMatch } };
}

/** A conditional write's options as the typed fetch takes them: `If-Match` / `If-None-Match`. */
function write({ ifMatch, ifNoneMatch, ...options }: ConditionalWriteOptions = {}) {
  return { ...options, headers: { "If-Match": ifMatch, "If-None-Match": ifNoneMatch } };
}
