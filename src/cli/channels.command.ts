/**
 * `claw channels`: every configured channel account of the cluster, who runs
 * it and its state (connected, or backing off with the last error) — what
 * `GET /v1/channels` answers.
 */
import { channelStatus, type ChannelSummary } from "../supervisors/index.js";
import { cliConnect } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

const since = (ms: number | undefined) => (ms === undefined ? "" : `${Math.max(0, Math.round((Date.now() - ms) / 1000))} s`);

/** Prints the channel accounts. Returns the exit code. */
export async function channelsCommand(o: { json: boolean }): Promise<number> {
  const nc = await cliConnect();
  try {
    const all = await channelStatus(nc);
    if (o.json) {
      process.stdout.write(JSON.stringify({ channels: all }) + "\n");
      return 0;
    }
    if (all.length === 0) {
      process.stdout.write("no channel accounts: configure them in CLAW_CONFIG channels[] (see docs/channels/README.md)\n");
      return 0;
    }
    const lines = formatTable<ChannelSummary>(
      [
        { header: "type", cell: (c) => c.type },
        { header: "account", cell: (c) => c.account },
        { header: "state", cell: (c) => c.state },
        { header: "owner", cell: (c) => c.owner ?? "-" },
        { header: "connected for", align: "right", cell: (c) => (c.state === "connected" ? since(c.connectedAt) : "") },
        { header: "last error", cell: (c) => (c.state === "connected" ? "" : (c.lastError ?? "")) },
      ],
      all,
    );
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    await nc.close();
  }
}
