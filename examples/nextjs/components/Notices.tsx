"use client";
/**
 * What became of a write that did not go as made (the store's notices), each in words with
 * what the user can do: another device's change kept over this one's (keep mine, or discard),
 * a conversation deleted on another device while this one still had messages for it (restore
 * it with them, or let it go), or a change the service refused (dismiss).
 */
import type { StoreNotice } from "@/lib/chat";

export interface NoticesProps {
  notices: StoreNotice[];
  onAnswer: (notice: StoreNotice, choice: "keep" | "discard") => void;
}

export function Notices({ notices, onAnswer }: NoticesProps) {
  if (notices.length === 0) return null;
  return (
    <ul className="notices" aria-label="Notices">
      {notices.map((notice) => (
        <li key={notice.id} className="notice" role="alert" data-testid="notice" data-kind={notice.kind}>
          <p>{words(notice)}</p>
          <div className="actions">
            {notice.kind === "conflict" ? (
              <>
                <button type="button" onClick={() => onAnswer(notice, "keep")}>
                  Keep my version
                </button>
                <button type="button" onClick={() => onAnswer(notice, "discard")}>
                  Discard mine
                </button>
              </>
            ) : notice.kind === "deleted_elsewhere" ? (
              <>
                <button type="button" onClick={() => onAnswer(notice, "keep")}>
                  Restore it with my messages
                </button>
                <button type="button" onClick={() => onAnswer(notice, "discard")}>
                  Discard
                </button>
              </>
            ) : (
              <button type="button" onClick={() => onAnswer(notice, "discard")}>
                Dismiss
              </button>
            )}
          </div>
        </li>
      ))}
    </ul>
  );
}

function words(notice: StoreNotice): string {
  const name = notice.title === undefined ? "A conversation" : `“${notice.title}”`;
  switch (notice.kind) {
    case "conflict":
      return `${name} was changed on another device at the same time, and that version was kept: your ${change(notice.operation)} was not applied.`;
    case "deleted_elsewhere": {
      const count = notice.unsent.length;
      const unsent =
        count === 0
          ? ""
          : ` ${count} message${count === 1 ? "" : "s"} you wrote here ${count === 1 ? "was" : "were"} not saved.`;
      return `${name} was deleted on another device.${unsent}`;
    }
    case "refused":
      return `Your ${change(notice.operation)} in ${name === "A conversation" ? "a conversation" : name} could not be saved.`;
  }
}

/** A queued write's kind as the user knows it. */
function change(operation: Extract<StoreNotice, { operation: unknown }>["operation"]): string {
  switch (operation) {
    case "patch":
      return "rename";
    case "delete":
      return "deletion";
    case "append":
      return "message";
    case "updateMessage":
      return "edit of a message";
    case "put":
      return "change";
  }
}
