"use client";
/**
 * assistant-ui's runtime over the API: `useRemoteThreadListRuntime` with
 * `ChatStoreThreadListAdapter` (the user's conversations as threads, each thread's messages
 * through its history adapter), a `SyncEngine` whose change feed reloads the thread list when
 * another device changes it, and a local echo for replies (this page shows storage, not a model).
 *
 * The user is the main page's: the same anonymous token in localStorage (`TOKEN_KEY`).
 */
import {
  AssistantRuntimeProvider,
  ComposerPrimitive,
  MessagePrimitive,
  ThreadListItemPrimitive,
  ThreadListPrimitive,
  ThreadPrimitive,
  useAui,
  useLocalRuntime,
  useRemoteThreadListRuntime,
} from "@assistant-ui/react";
import type { ChatModelAdapter } from "@assistant-ui/react";
import { ChatStoreClient, MemoryStorage, SyncEngine, anonymousToken } from "@chat-store/client";
import { ChatStoreThreadListAdapter } from "@chat-store/client/assistant-ui";
import { useEffect, useState } from "react";
import { TOKEN_KEY } from "@/lib/chat";

/** Replies with the user's words: enough to see a thread kept, with no model behind it. */
const echo: ChatModelAdapter = {
  async run({ messages }) {
    const last = messages.at(-1);
    const text = last?.content.map((part) => (part.type === "text" ? part.text : "")).join("") ?? "";
    return { content: [{ type: "text", text: `You said: ${text}` }] };
  },
};

/** The client, its sync engine and the adapter: made once, in the browser. */
function connect(apiUrl: string, syncIntervalMs: number) {
  // The main page's visitor: its token, kept under its key, issued once however many ask.
  const token = anonymousToken({ storage: localStorage, key: TOKEN_KEY, issue: () => client.issueAnonymousToken() });
  const client: ChatStoreClient = new ChatStoreClient({ baseUrl: apiUrl, getToken: token });
  // The engine's cursor in memory: this page lists at load, so it starts from a fresh list.
  const sync = new SyncEngine({ client, intervalMs: syncIntervalMs, storage: new MemoryStorage() });
  const adapter = new ChatStoreThreadListAdapter(client, { sync, useAui });
  return { sync, adapter };
}

export function AssistantUiChat({ apiUrl, syncIntervalMs }: { apiUrl: string; syncIntervalMs: number }) {
  // Nothing is rendered on the server: the adapters read localStorage and the network.
  const [connection, setConnection] = useState<ReturnType<typeof connect> | null>(null);
  useEffect(() => setConnection(connect(apiUrl, syncIntervalMs)), [apiUrl, syncIntervalMs]);
  return connection === null ? null : <Chat {...connection} />;
}

function Chat({ sync, adapter }: ReturnType<typeof connect>) {
  const runtime = useRemoteThreadListRuntime({ runtimeHook: () => useLocalRuntime(echo), adapter });
  useEffect(() => {
    sync.start();
    // assistant-ui's adapter has no subscription: the list reloads when the feed says so.
    const unsubscribe = adapter.subscribe(() => void runtime.threads.reload());
    return () => {
      unsubscribe();
      sync.stop();
    };
  }, [sync, adapter, runtime]);
  return (
    <AssistantRuntimeProvider runtime={runtime}>
      <div className="app aui-app" data-ready="true">
        <ThreadListPrimitive.Root className="sidebar" aria-label="Threads" data-testid="aui-thread-list">
          <ThreadListPrimitive.New className="new">New thread</ThreadListPrimitive.New>
          <ThreadListPrimitive.Items components={{ ThreadListItem }} />
          <h2>Archived</h2>
          <ThreadListPrimitive.Items archived components={{ ThreadListItem: ArchivedThreadListItem }} />
        </ThreadListPrimitive.Root>
        <ThreadPrimitive.Root className="thread">
          <ThreadPrimitive.Viewport className="messages">
            <ThreadPrimitive.Messages components={{ UserMessage: Message, AssistantMessage: Message }} />
          </ThreadPrimitive.Viewport>
          <ComposerPrimitive.Root className="composer">
            <ComposerPrimitive.Input aria-label="Message" placeholder="Write a message" />
            <ComposerPrimitive.Send>Send</ComposerPrimitive.Send>
          </ComposerPrimitive.Root>
        </ThreadPrimitive.Root>
      </div>
    </AssistantRuntimeProvider>
  );
}

function ThreadListItem() {
  return (
    <ThreadListItemPrimitive.Root className="conversation" data-testid="aui-thread">
      <ThreadListItemPrimitive.Trigger className="title">
        <ThreadListItemPrimitive.Title fallback="New thread" />
      </ThreadListItemPrimitive.Trigger>
      <ThreadListItemPrimitive.Archive>Archive</ThreadListItemPrimitive.Archive>
    </ThreadListItemPrimitive.Root>
  );
}

function ArchivedThreadListItem() {
  return (
    <ThreadListItemPrimitive.Root className="conversation archived" data-testid="aui-archived-thread">
      <ThreadListItemPrimitive.Trigger className="title">
        <ThreadListItemPrimitive.Title fallback="New thread" />
      </ThreadListItemPrimitive.Trigger>
      <ThreadListItemPrimitive.Unarchive>Unarchive</ThreadListItemPrimitive.Unarchive>
    </ThreadListItemPrimitive.Root>
  );
}

function Message() {
  return (
    <MessagePrimitive.Root className="message" data-testid="aui-message">
      <MessagePrimitive.Parts />
    </MessagePrimitive.Root>
  );
}
