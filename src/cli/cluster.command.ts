/**
 * `claw cluster`: members, leader, assignment and per-partition backlog.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { clusterStatus } from "../supervisors/index.js";
import { cliConnect } from "./cli-connection.js";

/** Prints the cluster's status. Returns the exit code. */
export async function clusterCommand(o: { json: boolean }): Promise<number> {
  const nc = await cliConnect();
  try {
    const s = await clusterStatus(await jetstreamManager(nc), new Kvm(jetstream(nc)));
    if (o.json) {
      process.stdout.write(JSON.stringify(s) + "\n");
      return 0;
    }
    const out: string[] = [];
    out.push(`leader: ${s.leader ?? "(none)"}   assignment epoch: ${s.epoch}   members: ${s.members.length}`);
    out.push("");
    out.push(`${"NODE".padEnd(28)} ${"PARTITIONS".padStart(10)} ${"SESSIONS".padStart(9)} ${"PENDING".padStart(8)} ${"IN-FLIGHT".padStart(9)}  UP`);
    for (const m of s.members) {
      const mine = s.partitions.filter((p) => p.owner === m.node);
      const pending = mine.reduce((n, p) => n + p.pending, 0);
      const inFlight = mine.reduce((n, p) => n + p.inFlight, 0);
      const up = Math.round((Date.now() - m.startedAt) / 1000);
      out.push(`${(m.node + (m.node === s.leader ? " *" : "")).padEnd(28)} ${String(m.partitions).padStart(10)} ${String(m.sessions).padStart(9)} ${String(pending).padStart(8)} ${String(inFlight).padStart(9)}  ${up}s`);
    }
    const lagging = s.partitions.filter((p) => p.pending + p.inFlight > 0);
    out.push("");
    out.push(lagging.length === 0 ? "no backlog in any partition" : `partitions with backlog: ${lagging.map((p) => `${p.partition}(${p.owner}: ${p.pending}+${p.inFlight})`).join(" ")}`);
    process.stdout.write(out.join("\n") + "\n");
    return 0;
  } finally {
    await nc.close();
  }
}
