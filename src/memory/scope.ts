/**
 * Whose a memory is. An agent keeps what it is told apart by `memory.scope`:
 * per sender (default: what one user said is found in that user's other
 * conversations with the agent, never in another user's), per chat, or one
 * memory for the whole agent. A sender is known by channel and id — the same
 * id on two channels is two people. The scope is hashed into the KV key, so no
 * sender id has to fit a key's alphabet.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** An agent's `memory` settings. */
export const MemorySettingsSchema = z
  .object({
    /** whose memories a turn reads and writes: the sender's (default), the chat's, or the agent's own */
    scope: z.enum(["sender", "chat", "agent"]).default("sender"),
    /** the best matches for the user's message added to the model's context each turn (0: none) */
    recall: z.number().int().min(0).max(20).default(0),
    /** a provider (`providers.<name>`) whose `/v1/embeddings` ranks memories by meaning beside their words */
    embeddings: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "a provider name")
      .optional(),
    /** the embeddings model that provider serves */
    embeddingsModel: z.string().min(1).max(200).default("text-embedding-3-small"),
  })
  .strict();
export type MemorySettings = z.infer<typeof MemorySettingsSchema>;

/** Where a turn happens, as far as memory cares. */
export interface MemoryAddress {
  channel: string;
  account: string;
  chat: string;
  sender?: string;
}

/** One scope: its kind and who it belongs to (kept with its memories, for the operator's listing). */
export const MemoryScopeSchema = z.object({
  kind: z.enum(["sender", "chat", "agent"]),
  channel: z.string().optional(),
  account: z.string().optional(),
  chat: z.string().optional(),
  sender: z.string().optional(),
});
export type MemoryScope = z.infer<typeof MemoryScopeSchema>;

/** The scope of a turn at `at`, by the agent's setting. A sender scope without a sender falls back to the chat. */
export function scopeOf(kind: MemorySettings["scope"], at: MemoryAddress): MemoryScope {
  if (kind === "agent") return { kind };
  if (kind === "sender" && at.sender) return { kind, channel: at.channel, sender: at.sender };
  return { kind: "chat", channel: at.channel, account: at.account, chat: at.chat };
}

/** The scope's 24-hex-digit hash: part of every memory id and KV key in it. */
export function scopeHash(s: MemoryScope): string {
  const parts = s.kind === "agent" ? ["agent"] : s.kind === "sender" ? ["sender", s.channel, s.sender] : ["chat", s.channel, s.account, s.chat];
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 24);
}
