/** The open conversation's messages; a streaming reply shows a caret and its tool steps. */
import type { ChatMessage, Conversation } from "@/lib/chat";

export function Thread({ conversation }: { conversation: Conversation | null }) {
  if (conversation === null) {
    return (
      <section className="thread empty" aria-label="Thread">
        <p>Start a new conversation below.</p>
      </section>
    );
  }
  return (
    <section className="thread" aria-label="Thread" data-conversation-id={conversation.id}>
      <h1>{conversation.title}</h1>
      {conversation.messages.map((message) => (
        <Message key={message.id} message={message} />
      ))}
    </section>
  );
}

function Message({ message }: { message: ChatMessage }) {
  const streaming = message.streaming === true;
  return (
    <article
      className={`message ${message.type}`}
      data-testid="message"
      data-id={message.id}
      data-type={message.type}
      data-streaming={streaming}
    >
      {(message.toolExecutions ?? []).map((tool) => (
        <p key={tool.id} className={`tool ${tool.status}`} data-testid="tool">
          Tool {tool.name}: {tool.status}
        </p>
      ))}
      <div className="content">
        <span data-testid="message-content">{message.content}</span>
        {streaming ? <span className="caret" aria-label="Writing…" /> : null}
      </div>
      {message.interrupted ? <p className="interrupted">This reply was interrupted.</p> : null}
    </article>
  );
}
