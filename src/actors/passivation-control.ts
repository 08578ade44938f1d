/**
 * `claw.ctl.passivate`: operators (and the sessions bench) free memory now.
 * Every node passivates the sessions idle for `olderThanMs` (their state is
 * already in KV) and answers `{node, passivated, active}`.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { PASSIVATE_SUBJECT } from "../bus/index.js";
import type { SessionHost } from "./session-host.js";

/** Answers passivation requests for `host` until the subscription is unsubscribed. */
export function servePassivation(nc: NatsConnection, host: SessionHost, nodeId: string): Subscription {
  return nc.subscribe(PASSIVATE_SUBJECT, {
    callback: (_err, m) => {
      let olderThanMs = 0;
      try {
        olderThanMs = Number((m.data.length ? m.json<{ olderThanMs?: number }>() : {}).olderThanMs ?? 0) || 0;
      } catch {
        /* passivate every idle session */
      }
      const passivated = host.passivateIdle(olderThanMs);
      // with --expose-gc, give the memory back at once (for measurements)
      (globalThis as { gc?: () => void }).gc?.();
      if (m.reply) m.respond(JSON.stringify({ node: nodeId, passivated, active: host.active }));
    },
  });
}
