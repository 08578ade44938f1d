/**
 * `claw cluster` (members, leader, assignment and per-partition backlog) and
 * `claw status` (the same, plus versions, pids, HTTP addresses and dead letters).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { clusterStatus } from "../supervisors/index.js";
import { cliConnect } from "./cli-connection.js";
import { renderClusterStatus } from "./cluster-view.js";

/** Options of {@link clusterCommand}. */
export interface ClusterCommandOptions {
  json: boolean;
  /** `brief` for `claw cluster`, `full` for `claw status` */
  view: "brief" | "full";
}

/** Prints the cluster's status. Returns the exit code. */
export async function clusterCommand(o: ClusterCommandOptions): Promise<number> {
  const nc = await cliConnect();
  try {
    const s = await clusterStatus(await jetstreamManager(nc), new Kvm(jetstream(nc)));
    process.stdout.write(o.json ? JSON.stringify(s) + "\n" : renderClusterStatus(s, o.view));
    return 0;
  } finally {
    await nc.close();
  }
}
