/**
 * `@chat-store/client`: the typed client of the chat-store API.
 * @packageDocumentation
 */
export { ChatStoreClient } from "./client.js";
export type {
  ChatStoreClientOptions,
  ConditionalWriteOptions,
  ReadOptions,
  UpdateMessageOptions,
} from "./client.js";
export { ApiFetch } from "./api.js";
export type { BodyOf, DataOf, FetchInit, FetchResult, HeadersOf, HttpMethod, OperationAt, PathsWithMethod } from "./api.js";
export { ChatStoreError, isProblem } from "./errors.js";
export type { ChatStoreErrorInit, ErrorCode, FieldProblem, Problem } from "./errors.js";
export { Transport, HEADERS, abortableSleep } from "./transport.js";
export type {
  CallOptions,
  FetchLike,
  RawResponse,
  Reachability,
  RequestSpec,
  Sleep,
  TokenProvider,
  TransportEvents,
  TransportOptions,
  WriteOptions,
} from "./transport.js";
export { DEFAULT_RETRY, backoffMs, parseRetryAfter } from "./retry.js";
export type { RetryPolicy } from "./retry.js";
export { DATE_FIELDS, reviveDates } from "./dates.js";
export type { Dated, DatedInput } from "./dates.js";
export type * from "./types.js";
export type { components, operations, paths } from "./generated/api.js";
export { Emitter } from "./events.js";
export { DEFAULT_TITLE, defaultTitle, messageText } from "./title.js";
export { MemoryStorage, browserStorage, readJson, writeJson } from "./storage.js";
export { ANONYMOUS_TOKEN_KEY, anonymousToken } from "./token.js";
export type { AnonymousTokenOptions, KeptToken } from "./token.js";
export type { StorageLike } from "./storage.js";
// Streaming a reply and keeping devices in sync.
export {
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_DELTA_CHARS,
  DEFAULT_STREAMING_STALE_SECONDS,
  readReply,
  streamReply,
  streamingStaleMs,
} from "./stream.js";
export type {
  DeliveredReply,
  ReadReply,
  ReplyEvent,
  ReplyToolEvent,
  StreamReplyOptions,
  StreamReplyResult,
  UndeliveredReply,
} from "./stream.js";
export { SYNC_STORAGE_KEY, SyncEngine } from "./sync.js";
export type {
  CursorPersister,
  FollowOptions,
  HeldConversation,
  MessageProgress,
  SyncEngineOptions,
  SyncEvents,
  SyncStartOptions,
  VisibilityDocument,
} from "./sync.js";
// The push channel: other devices' writes as they commit, so the engine need not poll.
export {
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PONG_TIMEOUT_MS,
  DEFAULT_RECONNECT_BASE_MS,
  DEFAULT_RECONNECT_MAX_MS,
  MAX_WATCHED,
  PushChannel,
  pushUrl,
  reconnectDelayMs,
} from "./push.js";
export type {
  ConversationPush,
  DeltaPush,
  MessagePush,
  PushChannelEvents,
  PushChannelOptions,
  PushEvent,
  PushState,
  WebSocketConstructor,
  WebSocketLike,
} from "./push.js";
// Offline-capable conversation stores, their circuit breaker, and the localStorage migration.
export type { ChatMessage, Conversation, ConversationStore, MessageUpdate } from "./model.js";
export { CircuitBreaker, isUnreachable } from "./breaker.js";
export type { BreakerState, CircuitBreakerOptions } from "./breaker.js";
export { LocalCopy, STORAGE_PREFIX } from "./local.js";
export type { CachedConversation, QueuedWrite, Write } from "./local.js";
export { HybridConversationStore, RemoteConversationStore, newerEditWins, planSave } from "./stores.js";
export type {
  Conflict,
  ConflictDecision,
  ConflictNotice,
  ConnectionState,
  DeletedElsewhereNotice,
  RefusedNotice,
  StoreNotice,
  HybridStoreEvents,
  HybridReplyOptions,
  HybridStoreOptions,
  HybridSyncOptions,
  MessagePage,
  RemoteStoreOptions,
  SendOptions,
  StoreSnapshot,
  WatchOptions,
  WriteOperation,
} from "./stores.js";
export { MIGRATION_KEY, dismissMigrationNotice, migrateFromLocalStorage, migrationNotice } from "./migrate.js";
export type {
  MigrationNotice,
  MigrationOptions,
  MigrationProgress,
  MigrationReport,
  NotMovedCode,
  NotMovedEntry,
  RejectedConversation,
} from "./migrate.js";
