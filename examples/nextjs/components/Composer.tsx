"use client";
/**
 * The message box: Enter sends, Shift+Enter starts a new line. It stays editable while a reply
 * streams (the next message can be written meanwhile); Stop then takes Send's place.
 */
import { useState } from "react";
import type { FormEvent, KeyboardEvent } from "react";

export interface ComposerProps {
  /** A reply is streaming: Stop shows, and Enter does not send yet. */
  replying: boolean;
  onSend: (text: string) => void;
  onStop: () => void;
}

export function Composer({ replying, onSend, onStop }: ComposerProps) {
  const [text, setText] = useState("");

  function submit(event?: FormEvent): void {
    event?.preventDefault();
    if (replying || text.trim() === "") return;
    onSend(text.trim());
    setText("");
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>): void {
    if (event.key === "Enter" && !event.shiftKey) submit(event);
  }

  return (
    <form className="composer" onSubmit={submit}>
      <textarea
        aria-label="Message"
        placeholder={replying ? "Write your next message…" : "Write a message…"}
        rows={2}
        value={text}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={onKeyDown}
      />
      {replying ? (
        <button type="button" className="stop" onClick={onStop}>
          Stop
        </button>
      ) : (
        <button type="submit" disabled={text.trim() === ""}>
          Send
        </button>
      )}
    </form>
  );
}
