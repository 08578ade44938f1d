/**
 * The HTTP gateway: REST data plane and health endpoints.
 */
export { startGateway, type Gateway, type GatewayOptions } from "./http-server.js";
export type { AgentDirectory } from "./agents-routes.js";
export type { SkillDirectory, SkillInvokeOutcome } from "./skills-routes.js";
export { HttpError } from "./errors.js";
export { createMetrics, type ClawMetrics, type ConsumerBacklog, type MetricsSources } from "./metrics.js";
export { httpChatAddress, HTTP_CHANNEL } from "./http-session.js";
export { OPEN as ANONYMOUS } from "./principal.js";
