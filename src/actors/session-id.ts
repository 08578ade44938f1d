/**
 * Session ids: `<channel>:<account>:<chat>` for a chat's session, and
 * `<channel>:<account>:@<sender>` for a sender's session across the chats of
 * an account. One encoder escapes the parts so that an id names exactly one
 * session — `a:b` + `z` and `a` + `b:z` were the same id once, and landed in
 * different partitions: in each part `%` becomes `%25` and `:` becomes `%3A`,
 * and a chat that starts with `@` starts with `%40` (it would read as a
 * sender). Everything else passes as it is, so the ids of ordinary chats
 * (`12345`, `C04ABC`, `49151@s.whatsapp.net`, `web-…`) are what they always
 * were and their sessions survive an upgrade.
 */
import type { ChatAddress, Envelope } from "../bus/index.js";
import type { AgentSpec } from "./agents.js";

const escapePart = (s: string): string => s.replace(/[%:]/g, (c) => (c === "%" ? "%25" : "%3A"));
const unescapePart = (s: string): string => s.replace(/%(25|3A|40)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** The session id of a chat's session. */
export function chatSessionId(a: ChatAddress): string {
  const chat = escapePart(a.chat);
  return `${escapePart(a.channel)}:${escapePart(a.account)}:${chat.startsWith("@") ? `%40${chat.slice(1)}` : chat}`;
}

/** The session id of a sender's session across the chats of one account. */
export function senderSessionId(channel: string, account: string, sender: string): string {
  return `${escapePart(channel)}:${escapePart(account)}:@${escapePart(sender)}`;
}

/** The session id of a message for an agent: its chat's, or with `scope: "sender"` its sender's. */
export function sessionIdFor(agent: AgentSpec, e: Pick<Envelope, "channel" | "account" | "chat" | "sender">): string {
  return agent.scope === "sender" ? senderSessionId(e.channel, e.account, e.sender.id) : chatSessionId(e);
}

/** What a session id names: a chat, or a sender of an account. Undefined for what no encoder made. */
export type ParsedSessionId = { channel: string; account: string } & ({ chat: string; sender?: undefined } | { sender: string; chat?: undefined });

/** Splits a session id back into its parts (the live view asks whose a session is). */
export function parseSessionId(id: string): ParsedSessionId | undefined {
  const parts = id.split(":");
  if (parts.length !== 3) return undefined;
  const [channel, account, last] = parts as [string, string, string];
  const base = { channel: unescapePart(channel), account: unescapePart(account) };
  return last.startsWith("@") ? { ...base, sender: unescapePart(last.slice(1)) } : { ...base, chat: unescapePart(last) };
}
