/**
 * The chat an HTTP caller's session lives in: one place decides which
 * conversation `POST /v1/agents/{id}/invoke` (`session`) and
 * `POST /v1/chat/completions` (`user`, `X-Claw-Session`) reach, so that every
 * endpoint — and the OpenClaw importer, which must file a user's history
 * where that user will look for it — computes it the same way.
 */
import type { ChatAddress } from "../bus/index.js";
import type { Principal } from "../auth/index.js";

/** The channel of conversations held over HTTP. */
export const HTTP_CHANNEL = "http";

/** The chat address of `session` with `agent`, as `principal` reaches it. */
export function httpChatAddress(agent: string, session: string, _principal?: Principal): ChatAddress {
  return { channel: HTTP_CHANNEL, account: agent, chat: session };
}
