/**
 * The cluster's agents as the gateway serves them: `/v1/agents`, `/v1/models`, and what a tenant sees of them
 * (tenant-scope.ts).
 */
/** The agents as the gateway sees them (the node's registry). */
export interface AgentDirectory {
  /** every agent, in the order they answer (JSON) */
  list(): unknown[];
  /** every binding in the order it is tried (JSON) */
  routes(): unknown[];
  /** one agent (JSON), or undefined */
  get(id: string): unknown;
  /**
   * registers or updates an agent; rejects with an error whose `code` is
   * `invalid_agent` (and `field` names what is wrong) when it is invalid
   */
  put(input: unknown): Promise<{ agent: unknown; created: boolean }>;
}
