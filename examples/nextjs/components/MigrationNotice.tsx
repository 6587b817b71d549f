"use client";
/**
 * The old history's entries that could not be moved to the server, by title or position, once:
 * closing it dismisses it for good (the client keeps that with the migration's progress).
 */
import type { MigrationNotice as Notice } from "@/lib/chat";

export interface MigrationNoticeProps {
  notice: Notice;
  onDismiss: () => void;
}

export function MigrationNotice({ notice, onDismiss }: MigrationNoticeProps) {
  const count = notice.notMoved.length;
  return (
    <div className="notice migration-notice" role="status" data-testid="migration-notice">
      <p>
        Your conversations from the previous version of this app were moved, except {count}{" "}
        {count === 1 ? "entry" : "entries"} that could not be:
      </p>
      <ul>
        {notice.notMoved.map((entry) => (
          <li key={`${entry.position}-${entry.id ?? ""}`}>
            {entry.title === undefined ? `Conversation #${entry.position + 1}` : `“${entry.title}” (#${entry.position + 1})`}:{" "}
            {reason(entry.code)}
          </li>
        ))}
      </ul>
      <button type="button" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}

function reason(code: string): string {
  switch (code) {
    case "not_a_conversation":
      return "empty or damaged, nothing to move";
    case "no_id":
      return "it has no identifier";
    case "payload_too_large":
      return "too large to move";
    case "conversation_deleted":
      return "it was deleted on another device";
    default:
      return "the server did not accept it";
  }
}
