"use client";
/**
 * The conversations, most recently updated first, each with when it last changed, rename and
 * delete. Delete asks first: it deletes the conversation on every device.
 */
import { useState } from "react";
import type { ConversationSummary } from "@/lib/chat";

export interface SidebarProps {
  conversations: ConversationSummary[];
  currentId: string | null;
  onOpen: (id: string) => void;
  onNew: () => void;
  onRename: (id: string, title: string) => void;
  onDelete: (id: string) => void;
}

export function Sidebar({ conversations, currentId, onOpen, onNew, onRename, onDelete }: SidebarProps) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);

  return (
    <nav className="sidebar" aria-label="Conversations">
      <button type="button" className="new-chat" onClick={onNew}>
        + New chat
      </button>
      <ul>
        {conversations.map((conversation) => (
          <li
            key={conversation.id}
            className={conversation.id === currentId ? "active" : undefined}
            data-testid="conversation-item"
            data-id={conversation.id}
          >
            <div className="row">
              {renaming === conversation.id ? (
                <input
                  aria-label="New title"
                  autoFocus
                  defaultValue={conversation.title}
                  onBlur={() => setRenaming(null)}
                  onKeyDown={(event) => {
                    if (event.key === "Escape") setRenaming(null);
                    if (event.key === "Enter") {
                      onRename(conversation.id, event.currentTarget.value);
                      setRenaming(null);
                    }
                  }}
                />
              ) : (
                <button type="button" className="title" onClick={() => onOpen(conversation.id)}>
                  {conversation.title}
                </button>
              )}
              <button type="button" className="icon" aria-label="Rename" title="Rename" onClick={() => setRenaming(conversation.id)}>
                ✎
              </button>
              <button type="button" className="icon" aria-label="Delete" title="Delete" onClick={() => setDeleting(conversation.id)}>
                ×
              </button>
            </div>
            <time className="updated" dateTime={conversation.updatedAt.toISOString()}>
              {conversation.updatedAt.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })}
            </time>
            {deleting === conversation.id ? (
              <div className="confirm" role="alertdialog" aria-label={`Delete “${conversation.title}”?`}>
                <span>Delete on every device?</span>
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    setDeleting(null);
                    onDelete(conversation.id);
                  }}
                >
                  Delete
                </button>
                <button type="button" onClick={() => setDeleting(null)}>
                  Keep
                </button>
              </div>
            ) : null}
          </li>
        ))}
      </ul>
      {conversations.length === 0 ? <p className="empty">No conversations yet.</p> : null}
    </nav>
  );
}
