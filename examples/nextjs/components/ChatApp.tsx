"use client";
/**
 * The chat: a sidebar of conversations, the open thread and the composer, over one
 * {@link ChatSession} (lib/chat.ts) created when the page mounts in the browser.
 */
import { useEffect, useState } from "react";
import { ChatSession } from "@/lib/chat";
import type { ChatState } from "@/lib/chat";
import { Composer } from "./Composer";
import { OfflineBanner } from "./OfflineBanner";
import { Sidebar } from "./Sidebar";
import { Thread } from "./Thread";

/** What the server page decides per request. */
export interface ChatAppProps {
  apiUrl: string;
  syncIntervalMs: number;
  followIntervalMs: number;
  tokenDelayMs: number;
}

export function ChatApp({ apiUrl, syncIntervalMs, followIntervalMs, tokenDelayMs }: ChatAppProps) {
  const [session, setSession] = useState<ChatSession | null>(null);
  const [state, setState] = useState<ChatState | null>(null);

  useEffect(() => {
    const created = new ChatSession({ apiUrl, syncIntervalMs, followIntervalMs, tokenDelayMs });
    const off = created.onState(setState);
    setSession(created);
    setState(created.state);
    void created.start();
    return () => {
      off();
      created.stop();
    };
  }, [apiUrl, syncIntervalMs, followIntervalMs, tokenDelayMs]);

  if (session === null || state === null || !state.ready) {
    return <main className="loading" aria-busy="true">Loading your conversations…</main>;
  }
  return (
    <div className="app" data-ready="true" data-online={state.online} data-queued={state.queued}>
      <Sidebar
        conversations={state.conversations}
        currentId={state.current?.id ?? null}
        onOpen={(id) => void session.open(id)}
        onNew={() => void session.open(null)}
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
        <Thread conversation={state.current} />
        <Composer disabled={state.replying} onSend={(text) => void session.send(text)} />
      </main>
    </div>
  );
}
