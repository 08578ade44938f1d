/**
 * Whose a session is, decided in one place for every way in over HTTP:
 * `POST /v1/agents/{id}/invoke` (`session`), `POST /v1/chat/completions`
 * (`user`, `X-Claw-Session`), the WebSocket `/v1/ws` (`session`, `token`),
 * `POST /v1/messages` (which chats it may write into), the live view (whose
 * history it may show) — and the OpenClaw importer, which must file a user's
 * history where that user will look for it.
 *
 * A session id a caller names lives in the caller's own namespace: for a
 * credential, the chat is `~<owner>~<name>` (owner `key:<id>` — a rotated
 * key keeps its predecessor's — or `jwt:<sub>`), so two keys that say
 * `session: "s1"` have two sessions. The anonymous caller of an open
 * (loopback) gateway keeps the ids as given, as before; a chat that starts
 * with `~` is someone's own and the anonymous caller cannot name it. A
 * credential with {@link CROSS_SESSION_SCOPE} takes ids as given: it reaches
 * the shared ones, and anyone's by their full `~<owner>~<name>` chat.
 *
 * A web chat's session belongs to the browser that made it: its chat is
 * `~tok:<hash of a secret>~`, and only the holder of the secret (kept by the
 * browser) reaches it — knowing the chat, as the live view shows it, is not
 * enough to take its socket over or read its replies.
 */
import { createHash } from "node:crypto";
import type { ChatAddress } from "../bus/index.js";
import { HTTP_CHANNEL, parseSessionId } from "../actors/index.js";
import { covers, type Principal } from "../auth/index.js";
import { HttpError } from "./errors.js";

export { HTTP_CHANNEL };

/** The scope that reaches every caller's sessions (and lets the live view show any session's history). */
export const CROSS_SESSION_SCOPE = "sessions:any";

const MARK = "~";
const ANONYMOUS = "anonymous";
const escape = (s: string) => s.replace(/[%~]/g, (c) => (c === "%" ? "%25" : "%7E"));
const unescape = (s: string) => s.replace(/%(25|7E)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** The chat of `name` owned by `owner`. */
export function ownedChat(owner: string, name: string): string {
  return `${MARK}${escape(owner)}${MARK}${name}`;
}

/** Whose a chat (or a sender id) is: its owner, or undefined for a shared one. */
export function chatOwner(chat: string): string | undefined {
  if (!chat.startsWith(MARK)) return undefined;
  const end = chat.indexOf(MARK, 1);
  return end < 0 ? undefined : unescape(chat.slice(1, end));
}

/** The namespace of a caller: undefined for the anonymous caller of an open gateway. */
export function ownerOf(p: Principal | undefined): string | undefined {
  if (!p || p.id === ANONYMOUS) return undefined;
  return p.owner ?? p.id;
}

/** True when a credential reaches every caller's sessions. */
export function crossSession(p: Principal | undefined): boolean {
  return ownerOf(p) !== undefined && covers(p!.scopes, CROSS_SESSION_SCOPE);
}

/**
 * An id a caller names — a session, a sender — placed in its own namespace.
 * Throws a 400 when the anonymous caller names one that is someone's own.
 */
export function callerId(id: string, p: Principal | undefined, field = "session"): string {
  const owner = ownerOf(p);
  if (owner === undefined) {
    if (id.startsWith(MARK))
      throw new HttpError(400, "reserved_session", `${field}: ids starting with ${MARK} are another caller's own: name yours without it`, field);
    return id;
  }
  return crossSession(p) ? id : ownedChat(owner, id);
}

/** The chat address of `session` with `agent`, as `principal` reaches it. */
export function httpChatAddress(agent: string, session: string, principal?: Principal): ChatAddress {
  return { channel: HTTP_CHANNEL, account: agent, chat: callerId(session, principal) };
}

/** The chat of a browser's web chat session: reached only with the secret `token`. */
export function tokenChat(token: string): string {
  return ownedChat(`tok:${createHash("sha256").update(token).digest("hex").slice(0, 32)}`, "");
}

/** True when `p` may write into `chat` (`POST /v1/messages`): a shared chat, its own, or any with the cross-session scope. */
export function mayAddressChat(chat: string, p: Principal | undefined): boolean {
  if (!chat.startsWith(MARK) || crossSession(p)) return true;
  const owner = chatOwner(chat);
  return owner !== undefined && owner === ownerOf(p);
}

/**
 * True when `p` may read a session's history (the live view): its owner, a
 * credential with the cross-session scope, or the open gateway's anonymous
 * caller (who may do everything). Shared sessions (a Telegram chat, an
 * anonymous web session) need the cross-session scope.
 */
export function maySeeSession(sessionId: string, p: Principal): boolean {
  if (covers(p.scopes, CROSS_SESSION_SCOPE)) return true;
  const parsed = parseSessionId(sessionId);
  const owner = parsed ? chatOwner(parsed.chat ?? parsed.sender) : undefined;
  return owner !== undefined && owner === ownerOf(p);
}
