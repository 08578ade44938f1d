/**
 * Presence: whether a node's process and its NATS connection are still there,
 * asked of NATS itself. Every node answers on `claw.ctl.node.<id>.ping`; when
 * its process dies, the server drops its subscription the moment the TCP
 * connection closes, and a request gets "no responders" at once — seconds
 * before its heartbeat could expire from `claw_members`. The leader and the
 * partition manager use it to move a dead node's partitions without waiting
 * out the heartbeat TTL. A slow answer (a busy node) proves nothing and
 * counts as present; only "no responders", seen twice, counts as gone.
 */
import { errors, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { nodePingSubject } from "../bus/index.js";

/** What a presence probe found. */
export type Presence = "present" | "gone" | "unknown";

/** Answers presence pings for `node` until unsubscribed. */
export function servePresence(nc: NatsConnection, node: string): Subscription {
  return nc.subscribe(nodePingSubject(node), { callback: (_e, m) => void m.respond() });
}

const isNoResponders = (e: unknown) => (e instanceof errors.RequestError && e.isNoResponders()) || e instanceof errors.NoRespondersError;

/** Options of {@link probePresence}. */
export interface PresenceProbeOptions {
  timeoutMs?: number;
  /** ms before the second probe that confirms "gone" (a node between two servers of a cluster resubscribes within it) */
  confirmAfterMs?: number;
}

/** Asks whether `node` is there: "gone" only when nobody answers its ping, twice. */
export async function probePresence(nc: NatsConnection, node: string, o: PresenceProbeOptions = {}): Promise<Presence> {
  const once = async (): Promise<Presence> => {
    try {
      await nc.request(nodePingSubject(node), undefined, { timeout: o.timeoutMs ?? 500 });
      return "present";
    } catch (e) {
      return isNoResponders(e) ? "gone" : "unknown";
    }
  };
  const first = await once();
  if (first !== "gone") return first;
  await new Promise((r) => setTimeout(r, o.confirmAfterMs ?? 250));
  return once();
}
