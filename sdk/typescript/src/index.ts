/**
 * `@claw/sdk`: Claw's HTTP API as a typed client. The bus side (publish to
 * `claw.in.>`, read replies from `CLAW_OUT` once each) is `@claw/sdk/bus`,
 * Node only; this entry runs wherever `fetch` and Web Crypto do.
 */
export { Claw } from "./client.js";
export { ClawError } from "./errors.js";
export type { ClawOptions } from "./http.js";
export { verifyWebhook, type VerifyWebhookOptions } from "./webhooks.js";
export type * from "./types.js";
