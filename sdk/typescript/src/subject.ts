/**
 * Subject tokens as docs/wire-format.md defines them: `[A-Za-z0-9_-]` pass
 * unchanged, every other UTF-8 byte becomes `=HH` (upper-case hex), and the
 * empty string is `=`. The node builds its subjects with the same rule (a
 * unit test holds the two together), so a chat published here is answered on
 * the subject computed here.
 */

/** The longest encoded token the node accepts. */
export const MAX_TOKEN_LENGTH = 256;

const SAFE = /^[A-Za-z0-9_-]$/;
const utf8 = new TextEncoder();

/** `value` as one subject token; throws a RangeError past {@link MAX_TOKEN_LENGTH} encoded characters. */
export function subjectToken(value: string): string {
  if (value === "") return "=";
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of utf8.encode(ch)) out += `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (out.length > MAX_TOKEN_LENGTH)
    throw new RangeError(`subject token too long: ${out.length} > ${MAX_TOKEN_LENGTH} encoded characters (${value.slice(0, 40)}…)`);
  return out;
}

/** A chat's address: channel, account, chat. */
export interface ChatAddress {
  channel: string;
  account: string;
  chat: string;
}

const tokens = (a: ChatAddress) => `${subjectToken(a.channel)}.${subjectToken(a.account)}.${subjectToken(a.chat)}`;

/** `claw.in.<channel>.<account>.<chat>`: where an outside system publishes a message. */
export const inboundSubject = (a: ChatAddress): string => `claw.in.${tokens(a)}`;

/** `claw.out.<channel>.<account>.<chat>`: where the chat's replies are. */
export const outboundSubject = (a: ChatAddress): string => `claw.out.${tokens(a)}`;
