/**
 * `@chat-store/client/ai-sdk`: the chat-store for apps on the Vercel AI SDK (`ai` 7, a peer
 * dependency this entry imports; the package's main entry does not import it).
 *
 * - Messages: the API's messages as `UIMessage`s and back ({@link toUIMessage},
 *   {@link fromUIMessage}, {@link loadChat}).
 * - A route handler's reply stored while it streams ({@link persistReply}).
 * - `useChat`'s transport, which resumes a reply still streaming from the store
 *   ({@link ChatStoreTransport}), and a stop for every device ({@link stopReply}).
 */
export { INTERRUPTED_TOOL_ERROR, TOOL_FAILED_ERROR, fromUIMessage, loadChat, toUIMessage } from "./ai-sdk/messages.js";
export type {
  FromUIMessageOptions,
  LoadChatOptions,
  StoredMessage,
  StoredMessageMetadata,
  UsageMetadata,
} from "./ai-sdk/messages.js";
export { DEFAULT_THROTTLE_MS, persistReply } from "./ai-sdk/persist-reply.js";
export type { PersistReplyOptions } from "./ai-sdk/persist-reply.js";
export type { PartChange } from "./ai-sdk/part-changes.js";
export {
  ChatStoreTransport,
  DEFAULT_MAX_POLL_INTERVAL_MS,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_SAFETY_POLL_INTERVAL_MS,
  bearerTokenOf,
  stopReply,
} from "./ai-sdk/transport.js";
export type { ChatStoreTransportOptions } from "./ai-sdk/transport.js";
