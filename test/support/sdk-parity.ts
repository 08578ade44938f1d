/**
 * The contract both SDKs are held to (issue: SDKs): every operation of `/openapi.json` has a method in
 * `@claw/sdk` (sdk/typescript) and in `claw_sdk` (sdk/python), under the same name in both — Python's in
 * snake_case, which for these names is the same. The parity tests walk a real node's `/openapi.json`:
 * an operation that is neither exempt nor named here fails them, so a new route cannot ship without a
 * method in both clients.
 */

/**
 * Operations a client of the API does not call: a platform's own webhooks, the web chat's socket and page, the live view, health,
 * and a medium's link (a reply carries it whole: fetched as it is)
 */
export const SDK_EXEMPT: ReadonlySet<string> = new Set([
  "getV1MediaById",
  "postV1WebhooksByTypeByAccount",
  "getV1Ws",
  "getChat",
  "getUi",
  "getUiByRest",
  "getHealthz",
  "getReadyz",
]);

/** operationId → the method's path on a client (`new Claw(...)` in TypeScript, `Claw(...)` in Python). */
export const SDK_METHODS: Readonly<Record<string, string>> = {
  getOpenapiJson: "openapi",
  getMetrics: "metrics",
  postV1Messages: "messages.publish",
  postV1ChatCompletions: "chat.completions.create",
  postV1Responses: "responses.create",
  getV1Models: "models.list",
  getV1ModelsById: "models.get",
  postV1AgentsByIdInvoke: "agents.invoke",
  getV1Agents: "agents.list",
  postV1Agents: "agents.register",
  getV1AgentsById: "agents.get",
  getV1Skills: "skills.list",
  postV1Skills: "skills.register",
  getV1SkillsById: "skills.get",
  postV1SkillsByIdInvoke: "skills.invoke",
  getV1Channels: "channels.list",
  getV1Dlq: "dlq.list",
  getV1DlqBySeq: "dlq.get",
  postV1DlqBySeqReplay: "dlq.replay",
  postV1Webhooks: "webhooks.create",
  getV1Webhooks: "webhooks.list",
  deleteV1WebhooksById: "webhooks.delete",
  postV1Schedules: "schedules.create",
  getV1Schedules: "schedules.list",
  getV1SchedulesById: "schedules.get",
  deleteV1SchedulesById: "schedules.delete",
  getV1AgentsByIdMemory: "memory.list",
  deleteV1AgentsByIdMemoryByMid: "memory.forget",
  getV1Usage: "usage.get",
  getV1Approvals: "approvals.list",
  postV1ApprovalsById: "approvals.decide",
};

/** The operations of an OpenAPI document an SDK must cover, and those of them no method is named for. */
export function sdkOperations(doc: { paths: Record<string, Record<string, { operationId?: string }>> }): { required: string[]; unnamed: string[] } {
  const required = Object.values(doc.paths)
    .flatMap((ops) => Object.values(ops).map((o) => o.operationId))
    .filter((id): id is string => typeof id === "string" && !SDK_EXEMPT.has(id));
  return { required, unnamed: required.filter((id) => !(id in SDK_METHODS)) };
}

/** operationId → `METHOD /path` as the document writes it: what each SDK README's table must say beside the method. */
export function sdkRoutes(doc: { paths: Record<string, Record<string, { operationId?: string }>> }): Map<string, string> {
  const routes = new Map<string, string>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) if (op.operationId) routes.set(op.operationId, `${method.toUpperCase()} ${path}`);
  }
  return routes;
}
