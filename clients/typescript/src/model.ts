/**
 * The frontend's model, as the conversation stores take and give it: the shapes of the
 * frontend's old localStorage store (`Conversation`, `ChatMessage`, `updateMessage`'s updates)
 * derived from the generated OpenAPI types, so the stores and the API cannot drift apart.
 * Dates come out as `Date`s ({@link Dated}) and go in as `Date | string` ({@link DatedInput}):
 * what the old store kept in localStorage can be passed as it is.
 */
import type { Dated } from "./dates.js";
import type { components } from "./generated/api.js";
import type { ConversationInput, ConversationSummary, MessageInput, MessagePatch } from "./types.js";

type Schemas = components["schemas"];

/** A message as the stores hand it out (the frontend's `ConversationMessage`). */
export type ChatMessage = Dated<Schemas["ConversationMessage-Output"]>;

/**
 * A conversation as the stores hand it out: a read from the server holds its newest page of
 * messages, with `messageCount` (all of them) and `nextCursor` (where the older ones start;
 * null when there are none).
 */
export type Conversation = Dated<Omit<Schemas["ConversationView"], "messages" | "messageCount" | "nextCursor">> & {
  messages: ChatMessage[];
  messageCount?: number;
  nextCursor?: string | null;
};

/**
 * What `updateMessage` may change: the whole-value fields of a message patch. Streamed deltas
 * (`appendContent`, `sequence`) are left to the reply streamer: a store's writes must be
 * safe to queue, replay and revert, and a delta is none of these on its own.
 */
export type MessageUpdate = Omit<MessagePatch, "appendContent" | "sequence">;

/**
 * The six methods of the frontend's localStorage store, kept by the stores that replace it.
 * Inputs take `Date | string` dates, so a conversation read from the old store saves as is.
 */
export interface ConversationStore {
  /** Every conversation's summary, most recently updated first, without messages. */
  getAllConversations(): Promise<ConversationSummary[]>;
  /** The conversation with its newest page of messages, or null when there is none. */
  getConversation(id: string): Promise<Conversation | null>;
  /** Stores the conversation as given (create, rename, new and changed messages). */
  saveConversation(conversation: ConversationInput): Promise<void>;
  /** Removes the conversation; removing one that is not there is not an error. */
  deleteConversation(id: string): Promise<void>;
  /** Appends one message, creating the conversation when there is none. */
  addMessage(conversationId: string, message: MessageInput): Promise<void>;
  /** Changes one message's content, flags, tokens or tool executions. */
  updateMessage(conversationId: string, messageId: string, updates: MessageUpdate): Promise<void>;
}
