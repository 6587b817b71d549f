"use client";
/**
 * The chat: a sidebar of conversations, the open thread and the composer, over one
 * {@link ChatSession} (lib/chat.ts) created when the page mounts in the browser. The page
 * itself never scrolls: the sidebar and the thread each scroll in their own pane.
 */
import { useEffect, useState } from "react";
import { newId, sessionFor } from "@/lib/chat";
import type { ChatSession, ChatState } from "@/lib/chat";
import { ChatPane } from "./ChatPane";
import { ConnectionBanner } from "./ConnectionBanner";
import { MigrationNotice } from "./MigrationNotice";
import { Notices } from "./Notices";
import { Sidebar } from "./Sidebar";

/** What the server page decides per request. */
export interface ChatAppProps {
  /** Where the browser reaches the API: `/store` (this app's own origin) or another origin. */
  apiUrl: string;
  syncIntervalMs: number;
  followIntervalMs: number;
  /** The push channel's WebSocket URL; null: polling alone (lib/push.ts). */
  pushUrl: string | null;
  tokenDelayMs: number;
  /** Browser tests only: the route's writer goes away after this many requests (see the route). */
  vanishAfterRequests?: number;
}

export function ChatApp({ apiUrl, syncIntervalMs, followIntervalMs, pushUrl, tokenDelayMs, vanishAfterRequests }: ChatAppProps) {
  const [session, setSession] = useState<ChatSession | null>(null);
  const [state, setState] = useState<ChatState | null>(null);
  // The id a new chat gets when its first message is sent.
  const [draftId, setDraftId] = useState(() => newId("conv"));

  // One session per page load, however often React mounts this (strict mode: twice): start and
  // stop only start and stop its sync engine; it loads once and issues one token.
  useEffect(() => {
    const created = sessionFor({ apiUrl, syncIntervalMs, followIntervalMs, pushUrl });
    const off = created.onState(setState);
    setSession(created);
    setState(created.state);
    created.start();
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
    <div className="app" data-ready="true" data-online={state.online} data-connection={state.connection.state} data-queued={state.queued}>
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
        <ConnectionBanner connection={state.connection} queued={state.queued} />
        <Notices notices={state.notices} onAnswer={(notice, choice) => void session.answer(notice, choice)} />
        {state.migration === null ? null : (
          <MigrationNotice notice={state.migration} onDismiss={() => session.dismissMigration()} />
        )}
        {state.problem === null ? null : (
          <p className="notice" role="alert" data-testid="problem">
            {state.problem}{" "}
            <button type="button" onClick={() => session.dismissProblem()}>
              Dismiss
            </button>
          </p>
        )}
        <ChatPane
          key={chatId}
          session={session}
          chatId={chatId}
          conversation={state.current}
          tokenDelayMs={tokenDelayMs}
          vanishAfterRequests={vanishAfterRequests}
          followIntervalMs={followIntervalMs}
        />
      </main>
    </div>
  );
}
