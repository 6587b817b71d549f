"use client";
/**
 * One conversation: `useChat` over the route (app/api/chat/route.ts), the thread and the
 * composer. Keyed by the conversation's id, so each conversation has its own `Chat`.
 *
 * The store (lib/chat.ts) owns what is stored; `useChat` owns the reply this page is making.
 * While no reply of this page streams, the thread shows the store's copy (other devices'
 * messages and the replies they stream come in through it); while one does, `useChat`'s.
 */
import { useChat } from "@ai-sdk/react";
import { toUIMessage } from "@chat-store/client/ai-sdk";
import { DefaultChatTransport } from "ai";
import type { UIMessage } from "ai";
import { useCallback, useEffect, useMemo, useState } from "react";
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
}

export function ChatPane({ session, chatId, conversation, tokenDelayMs }: ChatPaneProps) {
  const stored = conversation?.messages;
  const transport = useMemo(
    () =>
      new DefaultChatTransport<UIMessage>({
        api: "/api/chat",
        // The route acts as this user: the page's own token, fresh for every request.
        headers: async () => ({ Authorization: `Bearer ${await session.token()}` }),
        body: { tokenDelayMs },
      }),
    [session, tokenDelayMs],
  );
  // The store's messages when the conversation opens; later ones come in by the effect below.
  const [initial] = useState(() => (stored ?? []).map((message) => toUIMessage(message)));
  const { messages, setMessages, sendMessage, stop, status } = useChat({
    id: chatId,
    messages: initial,
    transport,
    onFinish: ({ message, messages: all, isAbort, isDisconnect, isError }) => {
      const interrupted = isAbort || isDisconnect || isError;
      if (isStored(message)) {
        void session.refresh(chatId);
        return;
      }
      // The route could not store this turn (the API away): this device keeps it and sends it
      // when the API is back.
      const index = all.findIndex((m) => m.id === message.id);
      const turn = all.slice(0, index + 1).filter((m) => !(stored ?? []).some((s) => s.id === m.id));
      void session.keep(chatId, turn, { interrupted });
    },
  });
  const replying = status === "submitted" || status === "streaming";

  // Not replying here: show what the store holds once it holds everything shown (a reply just
  // made here is in useChat until the store has read it back).
  useEffect(() => {
    if (stored === undefined || replying) return;
    const ids = new Set(stored.map((message) => message.id));
    if (!messages.every((message) => ids.has(message.id))) return;
    setMessages(stored.map((message) => toUIMessage(message)));
    // Only a new copy from the store (or the reply ending) calls for this.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stored, replying]);

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
        interrupted: message.interrupted === true,
      });
    }
    const last = messages.at(-1);
    if (replying && last?.role === "assistant") {
      byId.set(last.id, { ...byId.get(last.id), timestamp: createdAt(last), streaming: true, interrupted: false });
    }
    return byId;
  }, [older, stored, messages, replying]);

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
        waiting={status === "submitted"}
        hasOlder={typeof cursor === "string"}
        onLoadOlder={loadOlder}
      />
      <Composer replying={replying} onSend={(text) => void send(text)} onStop={() => void stop()} />
    </>
  );
}

/** Whether the route stored `message` as it streamed (its metadata says so). */
function isStored(message: UIMessage): boolean {
  const metadata = message.metadata as { stored?: unknown } | undefined;
  return metadata?.stored === true;
}

function createdAt(message: UIMessage): Date | undefined {
  const value = (message.metadata as { createdAt?: unknown } | undefined)?.createdAt;
  return typeof value === "string" ? new Date(value) : undefined;
}
