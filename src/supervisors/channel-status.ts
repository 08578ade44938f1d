/**
 * The channel accounts of the cluster and their live state: every node
 * answers `claw.ctl.channels` with the accounts it is configured with and
 * the state of those it runs; the answers are merged into one line per
 * account (who runs it, connected or backing off and why). What
 * `GET /v1/channels` and `claw channels` show.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { askAll, CHANNELS_SUBJECT } from "../bus/index.js";
import type { ChannelCapabilities } from "../adapters/index.js";
import type { ChannelView } from "./node-channels.js";

/** One node's answer. */
export interface ChannelListing {
  node: string;
  channels: ChannelView[];
}

/** One account across the cluster. */
export interface ChannelSummary {
  type: string;
  account: string;
  /** the node running it now; absent while none does */
  owner?: string;
  /** `connected`, `connecting`, `backoff`, … or `unowned` */
  state: string;
  lastError?: string;
  /** failed connects since the last good one */
  attempt?: number;
  connectedAt?: number;
  /** the nodes configured with it */
  nodes: string[];
  /** what its channel type can do (absent from nodes older than this field) */
  capabilities?: ChannelCapabilities;
}

/** Answers `claw.ctl.channels` with this node's accounts. */
export function serveChannelListing(nc: NatsConnection, node: string, list: () => ChannelView[]): Subscription {
  return nc.subscribe(CHANNELS_SUBJECT, { callback: (_e, m) => void m.respond(JSON.stringify({ node, channels: list() } satisfies ChannelListing)) });
}

/** Merges nodes' listings into one summary per account, sorted by type and account. */
export function summarizeChannels(listings: readonly ChannelListing[]): ChannelSummary[] {
  const byKey = new Map<string, ChannelSummary>();
  for (const l of listings) {
    for (const c of l.channels) {
      const key = `${c.type}/${c.account}`;
      const s = byKey.get(key) ?? {
        type: c.type,
        account: c.account,
        state: "unowned",
        nodes: [],
        ...(c.capabilities ? { capabilities: c.capabilities } : {}),
      };
      s.nodes.push(l.node);
      if (c.running && c.status)
        Object.assign(s, { owner: l.node, state: c.status.state, lastError: c.status.lastError, attempt: c.status.attempt, connectedAt: c.status.connectedAt });
      byKey.set(key, s);
    }
  }
  for (const s of byKey.values()) s.nodes.sort();
  return [...byKey.values()].sort((a, b) => a.type.localeCompare(b.type) || a.account.localeCompare(b.account));
}

/** Asks every node (until they go quiet) and merges the answers. */
export async function channelStatus(nc: NatsConnection, maxWaitMs = 600): Promise<ChannelSummary[]> {
  const isListing = (v: unknown): v is ChannelListing => typeof (v as ChannelListing)?.node === "string" && Array.isArray((v as ChannelListing).channels);
  return summarizeChannels(await askAll(nc, CHANNELS_SUBJECT, "", isListing, maxWaitMs));
}
