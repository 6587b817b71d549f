"use client";
/**
 * One conversation: `useChat` over the route (app/api/chat/route.ts), the thread and the
 * composer. Keyed by the conversation's id, so each conversation has its own `Chat`.
 *
 * The store (lib/chat.ts) owns what is stored; `useChat` owns a reply while it streams: one this
 * page asked for, or one the store shows still streaming (after a reload, or asked for on
 * another device), which `ChatStoreTransport` resumes from the store. Otherwise the thread shows
 * the store's copy, which brings other devices' messages.
 */
import { useChat } from "@ai-sdk/react";
import { ChatStoreTransport, stopReply, toUIMessage } from "@chat-store/client/ai-sdk";
import type { UIMessage } from "ai";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { ChatMessage, ChatSession, Conversation } from "@/lib/chat";
import { Composer } from "./Composer";
import { Thread } from "./Thread";
import type { MessageInfo } from "./Thread";

export interface ChatPaneProps {
  session: ChatSession;
  /** The conversation's id; for a new chat, the id it will have. */
  chatId: string;
  /** The store's copy of it; null for a new chat (or one not read yet). */
  conversation: Conversation | null;
  /** The mock model's pace (ms per chunk), passed to the route. */
  tokenDelayMs: number;
  /** How often to poll a reply resumed from the store (ms). */
  followIntervalMs: number;
  /** Browser tests only: passed to the route (see app/api/chat/route.ts). */
  vanishAfterRequests?: number | undefined;
}

export function ChatPane({ session, chatId, conversation, tokenDelayMs, followIntervalMs, vanishAfterRequests }: ChatPaneProps) {
  const stored = conversation?.messages;
  const transport = useMemo(
    () =>
      new ChatStoreTransport<UIMessage>({
        client: session.client,
        // The route acts as this user: the page's own token, fresh for every request.
        getToken: () => session.token(),
        api: "/api/chat",
        body: { tokenDelayMs, ...(vanishAfterRequests === undefined ? {} : { vanishAfterRequests }) },
        pollIntervalMs: followIntervalMs,
        // The session's channel: a resumed reply is read when a push says it grew.
        push: session.push,
      }),
    [session, tokenDelayMs, followIntervalMs, vanishAfterRequests],
  );
  // The store's messages when the conversation opens; later ones come in by the effect below.
  const [initial] = useState(() => (stored ?? []).map((message) => toUIMessage(message)));
  // Replies resumed (or made) here: each is resumed once.
  const resumed = useRef(new Set<string>());
  // Replies stopped here, marked at once (the store's copy says so once read back).
  const [stopped, setStopped] = useState<ReadonlySet<string>>(new Set());
  // From a reply's start here until the store has read it back (or kept it): the store's copy
  // meanwhile is older than what useChat shows, and must not replace it.
  const [settling, setSettling] = useState(false);
  const { messages, setMessages, sendMessage, resumeStream, stop, status, error, regenerate, clearError } = useChat({
    id: chatId,
    messages: initial,
    transport,
    onFinish: ({ message, messages: all, isAbort, isDisconnect, isError }) => {
      const settled = () => setSettling(false);
      const stored = storedByRoute(message);
      // Stopped before the route said: the route stores what it has, unless the API is away.
      if (stored === true || (stored === undefined && session.state.online)) {
        void session.refresh(chatId).finally(settled);
        return;
      }
      // The route could not store this turn (the API away): this device keeps it and sends it
      // when the API is back.
      const index = all.findIndex((m) => m.id === message.id);
      void session.keep(chatId, all.slice(0, index + 1), { interrupted: isAbort || isDisconnect || isError }).finally(settled);
    },
  });
  const replying = status === "submitted" || status === "streaming";
  // The route could not be reached (this device offline) or failed: the page says so in words,
  // with a way to try again; what went wrong is for the console.
  useEffect(() => {
    if (error !== undefined) console.error("chat route:", error);
  }, [error]);
  useEffect(() => {
    if (replying) setSettling(true);
  }, [replying]);
  const lastShown = messages.at(-1);
  // A reply this page is making is never resumed: the store may still show it streaming for a
  // moment after it ended here.
  if (replying && lastShown?.role === "assistant") resumed.current.add(lastShown.id);

  // A reply the store shows still streaming, made elsewhere (another device, or this page
  // before a reload): resumed from the store, once per reply.
  const lastStored = stored?.at(-1);
  const following = lastStored?.type === "assistant" && lastStored.streaming === true && lastStored.interrupted !== true;
  useEffect(() => {
    if (!following || stored === undefined || lastStored === undefined || replying) return;
    if (resumed.current.has(lastStored.id)) return;
    resumed.current.add(lastStored.id);
    // The store's messages first, the reply last: the replay takes the place of its copy there
    // (rather than of whatever useChat held last).
    setMessages(withStored(messages, stored));
    void resumeStream();
    // The store's copy decides; useChat's messages are read, not watched.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [following, stored, lastStored, replying, resumeStream, setMessages]);

  // Not replying here: show what the store holds once it holds everything shown (a reply just
  // made here is in useChat until the store has read it back), and not while the store's copy
  // of a reply still streams (useChat resumes that one itself).
  useEffect(() => {
    if (stored === undefined || replying || settling || following) return;
    const ids = new Set(stored.map((message) => message.id));
    const start = messages.findIndex((message) => ids.has(message.id));
    if (messages.slice(Math.max(start, 0)).some((message) => !ids.has(message.id))) return;
    setMessages(withStored(messages, stored));
    // Only a new copy from the store (or the reply settling) calls for this.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stored, replying, settling, following]);

  /** Ends the reply for every device, its partial parts kept, then stops reading it here. */
  async function stopReplying(): Promise<void> {
    const reply = messages.at(-1);
    if (reply?.role === "assistant") {
      setStopped((ids) => new Set(ids).add(reply.id));
      try {
        await stopReply(session.client, chatId, reply.id);
      } catch (error) {
        // Offline, or the reply had just ended: stopping here is all there is to do.
        console.warn("the reply could not be stopped in the store", error);
      }
    }
    await stop();
  }

  const [older, setOlder] = useState<ChatMessage[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  // Where the older messages start: the first read's `nextCursor` (null: it holds them all).
  useEffect(() => {
    if (cursor === undefined && conversation?.nextCursor !== undefined) setCursor(conversation.nextCursor);
  }, [conversation, cursor]);
  const loadOlder = useCallback(async () => {
    if (typeof cursor !== "string") return;
    const page = await session.older(chatId, cursor);
    setOlder((shown) => [...page.messages, ...shown]);
    setCursor(page.nextCursor);
  }, [chatId, cursor, session]);

  const shown = useMemo(() => {
    const ids = new Set(messages.map((message) => message.id));
    return [...older.filter((message) => !ids.has(message.id)).map((message) => toUIMessage(message)), ...messages];
  }, [older, messages]);
  const info = useMemo(() => {
    const byId = new Map<string, MessageInfo>();
    for (const message of [...older, ...(stored ?? [])]) {
      byId.set(message.id, {
        timestamp: message.timestamp,
        streaming: message.streaming === true,
        interrupted: message.interrupted === true || stopped.has(message.id),
      });
    }
    const last = messages.at(-1);
    if (last?.role === "assistant" && byId.get(last.id) === undefined) {
      byId.set(last.id, { timestamp: createdAt(last), streaming: false, interrupted: stopped.has(last.id) });
    }
    if (replying && last?.role === "assistant") {
      byId.set(last.id, { timestamp: createdAt(last), streaming: true, interrupted: false });
    }
    return byId;
  }, [older, stored, messages, replying, stopped]);

  async function send(text: string): Promise<void> {
    await session.begin(chatId, text);
    await sendMessage({ text, metadata: { createdAt: new Date().toISOString() } });
  }

  return (
    <>
      <Thread
        chatId={chatId}
        title={conversation?.title ?? null}
        messages={shown}
        info={info}
        status={status}
        hasOlder={typeof cursor === "string"}
        onLoadOlder={loadOlder}
        onRegenerate={() => void regenerate()}
        onEdit={(messageId, text) => void sendMessage({ text, messageId, metadata: { createdAt: new Date().toISOString() } })}
      />
      {error === undefined ? null : (
        <p className="notice" role="alert" data-testid="reply-failed">
          The reply did not come through{session.state.online ? "" : ": you're offline"}.{" "}
          <button
            type="button"
            onClick={() => {
              clearError();
              void regenerate();
            }}
          >
            Try again
          </button>
        </p>
      )}
      <Composer replying={replying} onSend={(text) => void send(text)} onStop={() => void stopReplying()} />
    </>
  );
}

/**
 * The store's messages as useChat holds them, after those useChat holds from before the store's
 * page (its first read was a page of the newest; a reply moves that page on).
 */
function withStored(current: UIMessage[], stored: ChatMessage[]): UIMessage[] {
  const ids = new Set(stored.map((message) => message.id));
  const start = current.findIndex((message) => ids.has(message.id));
  return [...(start > 0 ? current.slice(0, start) : []), ...stored.map((message) => toUIMessage(message))];
}

/**
 * Whether the route stored `message` as it streamed, as its last chunk said; undefined when the
 * stream ended before (stopped: the route goes on storing it).
 */
function storedByRoute(message: UIMessage): boolean | undefined {
  const stored = (message.metadata as { stored?: unknown } | undefined)?.stored;
  return typeof stored === "boolean" ? stored : undefined;
}

function createdAt(message: UIMessage): Date | undefined {
  const value = (message.metadata as { createdAt?: unknown } | undefined)?.createdAt;
  return typeof value === "string" ? new Date(value) : undefined;
}
