/**
 * A reply shown growing while the agent writes it, on a channel that can
 * edit what it sent: the first piece starts a message, later pieces edit it
 * at most every `everyMs`, and the finished reply is the message's last edit.
 */
import type { ChatReplyPiece } from "./types.js";

/** How a channel starts and edits a message (ids are its own). */
export interface MessageEditor<Id> {
  start(chat: string, text: string): Promise<Id>;
  edit(chat: string, id: Id, text: string): Promise<void>;
}

/** Shown after a reply that is still being written. */
const WRITING = " …";

/** Replies being written, by the id of the message they answer. */
export function growingReplies<Id>(
  editor: MessageEditor<Id>,
  o: { everyMs: number; maxText: number },
): {
  delta(piece: ChatReplyPiece): void;
  /** ends the reply to `replyTo` with `text` in its message; false when there is none (or it cannot hold the text): send it anew */
  finish(replyTo: string | undefined, chat: string, text: string): Promise<boolean>;
} {
  const streams = new Map<string, { text: string; message: Promise<Id | undefined>; timer?: NodeJS.Timeout; forget: NodeJS.Timeout }>();
  return {
    delta({ chat, replyTo, text }) {
      const s = streams.get(replyTo);
      if (!s) {
        const message = editor.start(chat, text + WRITING).then(
          (id) => id,
          () => undefined,
        );
        // a reply that never comes (its turn failed) leaves after a while
        const forget = setTimeout(() => streams.delete(replyTo), 10 * 60_000);
        forget.unref();
        streams.set(replyTo, { text, message, forget });
        return;
      }
      s.text += text;
      s.timer ??= setTimeout(() => {
        s.timer = undefined;
        void s.message
          .then((id) => (id !== undefined && s.text.length < o.maxText ? editor.edit(chat, id, s.text + WRITING) : undefined))
          .catch(() => undefined);
      }, o.everyMs);
    },
    async finish(replyTo, chat, text) {
      const s = replyTo ? streams.get(replyTo) : undefined;
      if (!s) return false;
      clearTimeout(s.timer);
      clearTimeout(s.forget);
      streams.delete(replyTo!);
      const id = await s.message;
      if (id === undefined || text.length > o.maxText) return false;
      await editor.edit(chat, id, text);
      return true;
    },
  };
}
