"use client";
/**
 * The open conversation, in a pane that scrolls by itself (the sidebar and the composer stay in
 * view). It opens at the newest message and keeps to the bottom while a reply grows, unless
 * the user has scrolled up to read; scrolled near the top, it loads the older messages, page by
 * page, to the first one, keeping what the user was reading in place.
 */
import type { UIMessage } from "ai";
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import type { FormEvent, KeyboardEvent } from "react";

/** What the thread shows of a message beyond its parts. */
export interface MessageInfo {
  timestamp?: Date | undefined;
  streaming: boolean;
  interrupted: boolean;
}

export interface ThreadProps {
  chatId: string;
  /** Null for a new chat. */
  title: string | null;
  messages: UIMessage[];
  info: Map<string, MessageInfo>;
  /** useChat's status: `submitted` while the reply has not started. */
  status: "submitted" | "streaming" | "ready" | "error";
  /** Messages older than the first shown exist. */
  hasOlder: boolean;
  onLoadOlder: () => Promise<void>;
  /** Asks for the last reply again (useChat's `regenerate`); the new one replaces it, here and in the store. */
  onRegenerate: () => void;
  /** Sends the last user message again, edited (useChat's `sendMessage` with its id); its reply is replaced. */
  onEdit: (messageId: string, text: string) => void;
}

/** How close to an edge (px) counts as being there. */
const EDGE = 120;

export function Thread({ chatId, title, messages, info, status, hasOlder, onLoadOlder, onRegenerate, onEdit }: ThreadProps) {
  const waiting = status === "submitted";
  const pane = useRef<HTMLElement>(null);
  const atBottom = useRef(true);
  const loading = useRef(false);
  // The height before older messages were put on top, to keep the reader's place.
  const heightBeforeOlder = useRef<number | null>(null);
  const firstId = messages[0]?.id;
  const last = messages.at(-1);
  const lastUserId = useRef<string | undefined>(undefined);
  // Only a finished last reply can be asked for again: one still streaming (here or on another
  // device) is not done yet.
  const regenerable = status === "ready" && last?.role === "assistant" && !(info.get(last.id)?.streaming ?? false);
  // Likewise the last question, once its answer is done (or there is none).
  const lastQuestion = [...messages].reverse().find((message) => message.role === "user");
  const editable = status === "ready" && !messages.some((message) => info.get(message.id)?.streaming ?? false);

  useLayoutEffect(() => {
    const element = pane.current;
    if (element === null) return;
    // The user just sent a message: wherever they were reading, they now want the reply.
    if (last?.role === "user" && last.id !== lastUserId.current) {
      lastUserId.current = last.id;
      atBottom.current = true;
    }
    if (heightBeforeOlder.current !== null) {
      element.scrollTop += element.scrollHeight - heightBeforeOlder.current;
      heightBeforeOlder.current = null;
    } else if (atBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [messages, info, waiting, firstId]);

  // Another conversation: start at its newest message.
  useLayoutEffect(() => {
    atBottom.current = true;
    if (pane.current !== null) pane.current.scrollTop = pane.current.scrollHeight;
  }, [chatId]);

  async function onScroll(): Promise<void> {
    const element = pane.current;
    if (element === null) return;
    atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < EDGE;
    if (element.scrollTop < EDGE && hasOlder && !loading.current) {
      loading.current = true;
      heightBeforeOlder.current = element.scrollHeight;
      try {
        await onLoadOlder();
      } catch {
        heightBeforeOlder.current = null; // offline: the next scroll tries again
      } finally {
        loading.current = false;
      }
    }
  }

  // Opened scrolled to the top already (a short first page): no scroll event will come.
  useEffect(() => {
    const element = pane.current;
    if (element !== null && hasOlder && element.scrollHeight <= element.clientHeight) void onScroll();
  });

  return (
    <section
      className={`thread${messages.length === 0 ? " empty" : ""}`}
      aria-label="Thread"
      data-conversation-id={title === null && messages.length === 0 ? undefined : chatId}
      data-status={status}
      ref={pane}
      onScroll={() => void onScroll()}
    >
      {title === null ? null : <h1>{title}</h1>}
      {hasOlder ? (
        <p className="older" data-testid="older">
          Loading earlier messages…
        </p>
      ) : messages.length > 0 ? (
        <p className="older" data-testid="start">
          The conversation starts here.
        </p>
      ) : null}
      {messages.length === 0 ? <p className="hint">Start a new conversation below.</p> : null}
      {messages.map((message) => (
        <Message
          key={message.id}
          message={message}
          info={info.get(message.id)}
          onRegenerate={regenerable && message === last ? onRegenerate : undefined}
          onEdit={editable && message === lastQuestion ? (text) => onEdit(message.id, text) : undefined}
        />
      ))}
      {waiting ? (
        <p className="waiting" aria-live="polite">
          Thinking…
        </p>
      ) : null}
    </section>
  );
}

interface MessageProps {
  message: UIMessage;
  info: MessageInfo | undefined;
  /** Given to the last reply once it is finished. */
  onRegenerate: (() => void) | undefined;
  /** Given to the last user message while nothing streams. */
  onEdit: ((text: string) => void) | undefined;
}

function Message({ message, info, onRegenerate, onEdit }: MessageProps) {
  const streaming = info?.streaming ?? false;
  const text = message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");
  const [draft, setDraft] = useState<string | null>(null);
  if (draft !== null && onEdit !== undefined) {
    return (
      <article className={`message ${message.role} editing`} data-testid="message-editor" data-id={message.id}>
        <EditForm
          text={draft}
          onChange={setDraft}
          onSave={(edited) => {
            setDraft(null);
            if (edited !== text) onEdit(edited);
          }}
          onCancel={() => setDraft(null)}
        />
      </article>
    );
  }
  const timestamp = info?.timestamp ?? createdAt(message);
  return (
    <article
      className={`message ${message.role}`}
      data-testid="message"
      data-id={message.id}
      data-type={message.role}
      data-streaming={streaming}
      data-interrupted={info?.interrupted ?? false}
    >
      {timestamp === undefined ? null : (
        <time className="timestamp" data-testid="timestamp" dateTime={timestamp.toISOString()} title={timestamp.toLocaleString()}>
          {formatTime(timestamp)}
        </time>
      )}
      {message.parts.map((part, index) => {
        if (part.type === "reasoning") {
          return (
            <details key={index} className="reasoning" data-testid="reasoning" open={part.state === "streaming"}>
              <summary>Reasoning</summary>
              <p>{part.text}</p>
            </details>
          );
        }
        if (part.type === "dynamic-tool" || part.type.startsWith("tool-")) {
          const tool = part as { type: string; toolName?: string; state: string; toolCallId: string };
          const name = tool.toolName ?? tool.type.slice("tool-".length);
          const status = toolStatus(tool.state);
          return (
            <p key={tool.toolCallId} className={`tool ${status}`} data-testid="tool">
              Tool {name}: {status}
            </p>
          );
        }
        return null;
      })}
      <div className="content">
        <span data-testid="message-content">{text}</span>
        {streaming ? <span className="caret" aria-label="Writing…" /> : null}
      </div>
      {info?.interrupted ? (
        <p className="interrupted" data-testid="interrupted">
          Stopped: this reply was cut short.
        </p>
      ) : null}
      {onRegenerate === undefined ? null : (
        <button type="button" className="action" onClick={onRegenerate}>
          Regenerate
        </button>
      )}
      {onEdit === undefined ? null : (
        <button type="button" className="action" onClick={() => setDraft(text)}>
          Edit
        </button>
      )}
    </article>
  );
}

interface EditFormProps {
  text: string;
  onChange: (text: string) => void;
  onSave: (text: string) => void;
  onCancel: () => void;
}

/** The last question, open for editing: Enter (or Save) sends it again, Escape puts it back. */
function EditForm({ text, onChange, onSave, onCancel }: EditFormProps) {
  const trimmed = text.trim();
  function save(event?: FormEvent): void {
    event?.preventDefault();
    if (trimmed !== "") onSave(trimmed);
  }
  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>): void {
    if (event.key === "Enter" && !event.shiftKey) save(event);
    if (event.key === "Escape") onCancel();
  }
  return (
    <form className="edit" onSubmit={save}>
      <textarea aria-label="Edit message" rows={2} value={text} autoFocus onChange={(event) => onChange(event.target.value)} onKeyDown={onKeyDown} />
      <div className="actions">
        <button type="submit" disabled={trimmed === ""}>
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A tool part's state in the words the thread uses. */
function toolStatus(state: string): "running" | "completed" | "failed" {
  if (state === "output-available") return "completed";
  if (state === "output-error" || state === "output-denied") return "failed";
  return "running";
}

function createdAt(message: UIMessage): Date | undefined {
  const value = (message.metadata as { createdAt?: unknown } | undefined)?.createdAt;
  if (typeof value !== "string") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Today: the time; earlier: the date and time. */
function formatTime(date: Date): string {
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
