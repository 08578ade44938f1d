/**
 * The HTTP gateway: REST data plane and health endpoints.
 */
export { startGateway, type Gateway, type GatewayOptions } from "./http-server.js";
export { createInbound, type Inbound } from "./inbound.js";
export type { AgentDirectory } from "./agents-routes.js";
export type { SkillDirectory, SkillInvokeOutcome } from "./skills-routes.js";
export { HttpError } from "./errors.js";
export { callerId, chatOwner, CROSS_SESSION_SCOPE, HTTP_CHANNEL, httpChatAddress, maySeeSession, ownedChat, ownerOf } from "./http-session.js";
export { principalOf } from "./principal.js";
export { serveWhileStarting, type StartupServer, type StartupServerOptions } from "./startup-server.js";
export { OPEN as ANONYMOUS } from "./principal.js";
