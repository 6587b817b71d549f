"use client";
/** The message box: Enter sends, Shift+Enter starts a new line. */
import { useState } from "react";
import type { FormEvent, KeyboardEvent } from "react";

export function Composer({ disabled, onSend }: { disabled: boolean; onSend: (text: string) => void }) {
  const [text, setText] = useState("");

  function submit(event?: FormEvent): void {
    event?.preventDefault();
    if (disabled || text.trim() === "") return;
    onSend(text);
    setText("");
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>): void {
    if (event.key === "Enter" && !event.shiftKey) submit(event);
  }

  return (
    <form className="composer" onSubmit={submit}>
      <textarea
        aria-label="Message"
        placeholder="Write a message…"
        rows={2}
        value={text}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={onKeyDown}
      />
      <button type="submit" disabled={disabled || text.trim() === ""}>
        Send
      </button>
    </form>
  );
}
