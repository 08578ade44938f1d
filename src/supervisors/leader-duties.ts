/**
 * What the leader does while it holds the lease: keep the partition
 * assignment in step with the live members and, on a server without Claw's
 * partition mapping, run the fallback router.
 */
import type { KV } from "@nats-io/kv";
import { startRouter, type Router } from "../actors/index.js";
import { STREAMS, type BackoffPolicy, type Bus, type ConsumerOptions } from "../bus/index.js";
import type { Logger } from "../log.js";
import { reconcileAssignment } from "./cluster-leader.js";
import type { LeaseHooks } from "./leader-lease.js";
import type { Liveness } from "./membership.js";
import { streamIdPrefix, type Partitioning } from "./node-provision.js";

/** Options of {@link leaderDuties}. */
export interface LeaderDutiesOptions {
  bus: Bus;
  nodeId: string;
  partitions: number;
  partitioning: Partitioning;
  cluster: KV;
  liveness: Liveness;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  log: Logger;
  /** told when the lease is taken and lost (the node actor) */
  onLeadership(leading: boolean): void;
}

/** The lease hooks of a node, and the router they run. */
export interface LeaderDuties extends LeaseHooks {
  /** the router takes its consumer over again (after a lost connection) */
  resync(): void;
  stop(): Promise<void>;
}

/** Creates the leader's duties, to hand to the lease loop. */
export function leaderDuties(o: LeaderDutiesOptions): LeaderDuties {
  let router: Router | undefined;
  return {
    async elected() {
      o.onLeadership(true);
      o.log.info("leader lease taken: this node is the leader");
      if (o.partitioning === "router") {
        router = await startRouter({
          bus: o.bus,
          partitions: o.partitions,
          nodeId: o.nodeId,
          backoff: o.backoff,
          consumer: o.consumer,
          idPrefix: `r${await streamIdPrefix(o.bus, STREAMS.inRaw)}`,
        });
      }
    },
    async deposed() {
      o.onLeadership(false);
      o.log.info("leader lease lost");
      await router?.stop();
      router = undefined;
    },
    async tick() {
      const a = await reconcileAssignment(o.cluster, o.liveness, o.partitions, o.nodeId);
      if (a) o.log.info({ epoch: a.epoch, members: a.members }, "assignment written");
    },
    resync: () => router?.resync(),
    async stop() {
      await router?.stop();
      router = undefined;
    },
  };
}
