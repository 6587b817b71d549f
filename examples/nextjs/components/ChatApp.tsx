"use client";
/**
 * The chat: a sidebar of conversations, the open thread and the composer, over one
 * {@link ChatSession} (lib/chat.ts) created when the page mounts in the browser. The page
 * itself never scrolls: the sidebar and the thread each scroll in their own pane.
 */
import { useEffect, useState } from "react";
import { ChatSession, newId } from "@/lib/chat";
import type { ChatState } from "@/lib/chat";
import { ChatPane } from "./ChatPane";
import { OfflineBanner } from "./OfflineBanner";
import { Sidebar } from "./Sidebar";

/** What the server page decides per request. */
export interface ChatAppProps {
  apiUrl: string;
  syncIntervalMs: number;
  followIntervalMs: number;
  /** The push channel's WebSocket URL; null: polling alone (lib/push.ts). */
  pushUrl: string | null;
  tokenDelayMs: number;
}

export function ChatApp({ apiUrl, syncIntervalMs, followIntervalMs, pushUrl, tokenDelayMs }: ChatAppProps) {
  const [session, setSession] = useState<ChatSession | null>(null);
  const [state, setState] = useState<ChatState | null>(null);
  // The id a new chat gets when its first message is sent.
  const [draftId, setDraftId] = useState(() => newId("conv"));

  useEffect(() => {
    const created = new ChatSession({ apiUrl, syncIntervalMs, followIntervalMs, pushUrl });
    const off = created.onState(setState);
    setSession(created);
    setState(created.state);
    void created.start();
    return () => {
      off();
      created.stop();
    };
  }, [apiUrl, syncIntervalMs, followIntervalMs, pushUrl]);

  if (session === null || state === null || !state.ready) {
    return <main className="loading" aria-busy="true">Loading your conversations…</main>;
  }
  const chatId = state.current?.id ?? draftId;
  return (
    <div className="app" data-ready="true" data-online={state.online} data-queued={state.queued}>
      <Sidebar
        conversations={state.conversations}
        currentId={state.current?.id ?? null}
        onOpen={(id) => void session.open(id)}
        onNew={() => {
          setDraftId(newId("conv"));
          void session.open(null);
        }}
        onRename={(id, title) => void session.rename(id, title)}
        onDelete={(id) => void session.remove(id)}
      />
      <main className="main">
        {state.online ? null : <OfflineBanner queued={state.queued} />}
        {state.error === null ? null : (
          <p className="notice" role="status">
            {state.error}
          </p>
        )}
        <ChatPane
          key={chatId}
          session={session}
          chatId={chatId}
          conversation={state.current}
          tokenDelayMs={tokenDelayMs}
          followIntervalMs={followIntervalMs}
        />
      </main>
    </div>
  );
}
