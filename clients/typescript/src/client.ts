/**
 * `ChatStoreClient`: one method per operation of the API's OpenAPI document, typed from the
 * generated types. It builds each request (path, query, body, conditional headers) and turns
 * the answer into a typed result with `Date`s; {@link Transport} does the sending (token,
 * idempotency key, request id, timeout, retries, sync token, problem+json errors).
 */
import { reviveDates } from "./dates.js";
import { HEADERS, Transport } from "./transport.js";
import type { CallOptions, RawResponse, RequestSpec, TransportOptions, WriteOptions } from "./transport.js";
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

  constructor(options: ChatStoreClientOptions) {
    this.transport = new Transport(options);
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
  async health(options?: CallOptions): Promise<ApiResponse<Healthy | Unhealthy>> {
    const raw = await this.transport.send({
      method: "GET",
      path: "/api/health",
      auth: false,
      accept: [503],
      options: { retry: false, ...options },
    });
    return answer(raw, reviveDates(raw.body) as Healthy | Unhealthy);
  }

  /** `GET /api/limits`: the sizes to batch imports and messages by. */
  async getLimits(options?: CallOptions): Promise<ApiResponse<Limits>> {
    const raw = await this.transport.send({ method: "GET", path: "/api/limits", auth: false, options });
    return answer(raw, raw.body as Limits);
  }

  /** `GET /api/openapi.json`: the API's OpenAPI 3.1 document. */
  async getOpenApiDocument(options?: CallOptions): Promise<ApiResponse<Record<string, unknown>>> {
    const raw = await this.transport.send({ method: "GET", path: "/api/openapi.json", auth: false, options });
    return answer(raw, raw.body as Record<string, unknown>);
  }

  /**
   * `POST /api/auth/anonymous`: a token for a visitor who has not signed in. Sends no
   * `Authorization`, so a `getToken` provider may call it to get its first token.
   */
  async issueAnonymousToken(options?: WriteOptions): Promise<ApiResponse<AnonymousToken>> {
    const raw = await this.transport.send({ method: "POST", path: "/api/auth/anonymous", auth: false, options });
    return answer(raw, reviveDates(raw.body) as AnonymousToken);
  }

  // --- Conversations ------------------------------------------------------------------------

  /**
   * `GET /api/conversations`: a page of summaries, most recently updated first. Keep the first
   * page's `changesCursor` to follow {@link listChanges} from there.
   */
  async listConversations(
    query: QueryOf<"list_conversations"> = {},
    options?: ReadOptions,
  ): Promise<ConditionalResponse<ConversationListPage>> {
    return this.#read<ConversationListPage>({ method: "GET", path: "/api/conversations", query }, options);
  }

  /**
   * `GET /api/changes`: what changed since `since`, oldest first. While `hasMore`, ask again
   * at once with `nextCursor`. A 410 `changes_reset` means: list again.
   */
  async listChanges(query: QueryOf<"list_changes">, options?: CallOptions): Promise<ApiResponse<ChangesPage>> {
    const raw = await this.transport.send({ method: "GET", path: "/api/changes", query, auth: true, options });
    return answer(raw, reviveDates(raw.body) as ChangesPage);
  }

  /** `GET /api/conversations/{id}`: the conversation with its newest `limit` messages. */
  async getConversation(
    id: string,
    query: QueryOf<"get_conversation"> = {},
    options?: ReadOptions,
  ): Promise<ConditionalResponse<ConversationView>> {
    return this.#read<ConversationView>({ method: "GET", path: conversationPath(id), query }, options);
  }

  /** `PUT /api/conversations/{id}`: create (201) or replace (200) a whole conversation. */
  async putConversation(
    id: string,
    conversation: ConversationInput,
    options?: ConditionalWriteOptions,
  ): Promise<ApiResponse<PutResult>> {
    return this.#write<PutResult>({ method: "PUT", path: conversationPath(id), body: conversation }, options);
  }

  /** `PATCH /api/conversations/{id}`: rename, or set (`null`: remove) its MCP servers. */
  async updateConversation(
    id: string,
    patch: ConversationPatch,
    options?: ConditionalWriteOptions,
  ): Promise<ApiResponse<ConversationSummary>> {
    return this.#write<ConversationSummary>({ method: "PATCH", path: conversationPath(id), body: patch }, options);
  }

  /** `DELETE /api/conversations/{id}` (204; 404 when absent). */
  async deleteConversation(id: string, options?: ConditionalWriteOptions): Promise<ApiResponse<undefined>> {
    return this.#write<undefined>({ method: "DELETE", path: conversationPath(id) }, options);
  }

  // --- Messages -----------------------------------------------------------------------------

  /**
   * `POST /api/conversations/{id}/messages`: append one message (201), creating the
   * conversation when absent. The same id and content again answers 200 and stores nothing.
   */
  async appendMessage(
    id: string,
    message: MessageInput,
    options?: ConditionalWriteOptions,
  ): Promise<ApiResponse<Message>> {
    return this.#write<Message>({ method: "POST", path: `${conversationPath(id)}/messages`, body: message }, options);
  }

  /**
   * `GET /api/conversations/{id}/messages/{messageId}?after=`: the message's content from
   * UTF-16 offset `after` on; poll with its `ETag` as `ifNoneMatch` to follow a streamed reply.
   */
  async getMessage(
    id: string,
    messageId: string,
    query: QueryOf<"get_message"> = {},
    options?: ReadOptions,
  ): Promise<ConditionalResponse<MessageTail>> {
    return this.#read<MessageTail>({ method: "GET", path: messagePath(id, messageId), query }, options);
  }

  /**
   * `PATCH /api/conversations/{id}/messages/{messageId}`: a streamed delta
   * (`{appendContent, sequence}`), the finish (`{streaming: false, tokens}`), an edit or tool
   * executions. 409 `sequence_gap` carries `lastSequence`; resend from the one after it.
   */
  async updateMessage(
    id: string,
    messageId: string,
    patch: MessagePatch,
    options: UpdateMessageOptions & { returnMinimal: true },
  ): Promise<ApiResponse<undefined>>;
  async updateMessage(
    id: string,
    messageId: string,
    patch: MessagePatch,
    options?: UpdateMessageOptions,
  ): Promise<ApiResponse<Message>>;
  async updateMessage(
    id: string,
    messageId: string,
    patch: MessagePatch,
    options?: UpdateMessageOptions,
  ): Promise<ApiResponse<Message | undefined>> {
    const headers = options?.returnMinimal ? { [HEADERS.prefer]: "return=minimal" } : {};
    return this.#write<Message | undefined>(
      { method: "PATCH", path: messagePath(id, messageId), body: patch, headers },
      options,
    );
  }

  /** `DELETE /api/conversations/{id}/messages/{messageId}` (204; 404 when absent). */
  async deleteMessage(
    id: string,
    messageId: string,
    options?: ConditionalWriteOptions,
  ): Promise<ApiResponse<undefined>> {
    return this.#write<undefined>({ method: "DELETE", path: messagePath(id, messageId) }, options);
  }

  // --- The user -----------------------------------------------------------------------------

  /** `GET /api/me`: the caller, running totals, the current conversation. */
  async getMe(options?: ReadOptions): Promise<ConditionalResponse<Me>> {
    return this.#read<Me>({ method: "GET", path: "/api/me" }, options);
  }

  /** `PUT /api/me/current-conversation` (204); `null` clears it. */
  async setCurrentConversation(conversationId: string | null, options?: WriteOptions): Promise<ApiResponse<undefined>> {
    return this.#write<undefined>(
      { method: "PUT", path: "/api/me/current-conversation", body: { conversationId } },
      options,
    );
  }

  /** `DELETE /api/me` (204): every key of the user erased. */
  async eraseUser(options?: WriteOptions): Promise<ApiResponse<undefined>> {
    return this.#write<undefined>({ method: "DELETE", path: "/api/me" }, options);
  }

  /**
   * `POST /api/me/claim`: the signed-in user takes over an anonymous visitor's conversations.
   * While the answer has a `cursor`, claim again with it.
   */
  async claimAnonymous(body: ClaimRequest, options?: WriteOptions): Promise<ApiResponse<ClaimResult>> {
    return this.#write<ClaimResult>({ method: "POST", path: "/api/me/claim", body }, options);
  }

  /**
   * `POST /api/import`: a batch of the localStorage history. Each conversation is judged on its
   * own; those not stored are listed in `rejected` (the call itself succeeds).
   */
  async importConversations(body: ImportRequest, options?: WriteOptions): Promise<ApiResponse<ImportResult>> {
    return this.#write<ImportResult>({ method: "POST", path: "/api/import", body }, options);
  }

  /** `GET /api/me/export`: a page of whole conversations; follow `nextCursor` as `cursor`. */
  async exportConversations(
    query: QueryOf<"export_conversations"> = {},
    options?: CallOptions,
  ): Promise<ApiResponse<ExportPage>> {
    const raw = await this.transport.send({ method: "GET", path: "/api/me/export", query, auth: true, options });
    return answer(raw, reviveDates(raw.body) as ExportPage);
  }

  // --- Shared plumbing ----------------------------------------------------------------------

  async #read<T>(
    spec: Pick<RequestSpec, "method" | "path" | "query">,
    options: ReadOptions | undefined,
  ): Promise<ConditionalResponse<T>> {
    const raw = await this.transport.send({
      ...spec,
      auth: true,
      headers: { [HEADERS.ifNoneMatch]: options?.ifNoneMatch },
      options,
    });
    if (raw.status === 304) {
      return {
        notModified: true,
        status: 304,
        etag: raw.headers.get(HEADERS.etag) ?? options?.ifNoneMatch,
        requestId: raw.requestId,
        headers: raw.headers,
      };
    }
    return answer(raw, reviveDates(raw.body) as T);
  }

  async #write<T>(
    spec: Pick<RequestSpec, "method" | "path" | "body" | "headers">,
    options: ConditionalWriteOptions | undefined,
  ): Promise<ApiResponse<T>> {
    const raw = await this.transport.send({
      ...spec,
      auth: true,
      headers: {
        ...spec.headers,
        [HEADERS.ifMatch]: options?.ifMatch,
        [HEADERS.ifNoneMatch]: options?.ifNoneMatch,
      },
      options,
    });
    return answer(raw, reviveDates(raw.body) as T);
  }
}

function answer<T>(raw: RawResponse, data: T): ApiResponse<T> {
  return {
    notModified: false,
    status: raw.status,
    data,
    etag: raw.headers.get(HEADERS.etag) ?? undefined,
    requestId: raw.requestId,
    headers: raw.headers,
  };
}

function conversationPath(id: string): string {
  return `/api/conversations/${encodeURIComponent(id)}`;
}

function messagePath(id: string, messageId: string): string {
  return `${conversationPath(id)}/messages/${encodeURIComponent(messageId)}`;
}
