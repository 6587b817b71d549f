/**
 * `useChat`'s chat without React: the SDK's own `AbstractChat` over a plain state, so tests
 * drive sends, regenerates and resumes exactly as the hook does.
 */
import { AbstractChat } from "ai";
import type { ChatInit, ChatState, ChatStatus, UIMessage } from "ai";

class TestState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  constructor(public messages: UIMessage[]) {}
  pushMessage = (message: UIMessage): void => void (this.messages = [...this.messages, message]);
  popMessage = (): void => void (this.messages = this.messages.slice(0, -1));
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

/** `useChat`'s chat, without React. */
export class TestChat extends AbstractChat<UIMessage> {
  constructor(init: ChatInit<UIMessage>) {
    super({ ...init, state: new TestState(init.messages ?? []) });
  }
  get all(): UIMessage[] {
    return this.messages;
  }
}
