/**
 * The node's channels: every account in `CLAW_CONFIG` `channels[]` has a
 * lease in `claw_lease` (`channel.<type>.<account>`) that every node tries
 * to hold; the holder runs the account (its connection, the way in and the
 * way out), and loses it — stopping the account — when it cannot renew.
 * A dead holder's lease is taken over at once (its presence is gone), so an
 * account moves to another node within a lease interval of its node dying.
 */
import type { KV } from "@nats-io/kv";
import {
  createAccountInbound,
  createChannelRunner,
  CHANNEL_ADAPTERS,
  type AdapterHost,
  type ChannelCapabilities,
  type ChannelConfig,
  type ChannelRunner,
  type ChannelRunnerEvent,
  type ChannelStatus,
  type WebhookAnswer,
  type WebhookRequest,
} from "../adapters/index.js";
import { encodeToken, type BackoffPolicy, type Bus, type ConsumerOptions } from "../bus/index.js";
import type { Logger } from "../log.js";
import type { ActorEvents } from "../observability/index.js";
import { leaseChild } from "./leader-lease.js";
import type { ChildSpec } from "./supervisor.js";

/** Options of {@link nodeChannels}. */
export interface NodeChannelsOptions {
  bus: Bus;
  channels: ChannelConfig[];
  nodeId: string;
  log: Logger;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  maxPayload: number;
  leases: KV;
  /** KV `claw_channels` */
  state: KV;
  leaseTtlMs: number;
  isAlive: (node: string) => Promise<boolean>;
  inspection?: ActorEvents;
  onEvent?: (e: ChannelRunnerEvent) => void;
}

/** One configured account as this node sees it. */
export interface ChannelView {
  type: string;
  account: string;
  /** this node runs it now */
  running: boolean;
  status?: ChannelStatus;
  /** what its channel type can do */
  capabilities: ChannelCapabilities;
}

/** The lease key of a channel account. */
export function channelLeaseKey(type: string, account: string): string {
  return `channel.${encodeToken(type)}.${encodeToken(account)}`;
}

/** How long a webhook's messages may wait for NATS before the platform is answered 503 (and sends them again). */
const WEBHOOK_GIVE_UP_MS = 5_000;

/** Lease loops for every configured account (children for the node's supervisor), and their webhooks. */
export function nodeChannels(o: NodeChannelsOptions): {
  children: ChildSpec[];
  list(): ChannelView[];
  /** a platform's request for an account: undefined when no such account takes webhooks */
  webhook(type: string, account: string, req: WebhookRequest): Promise<WebhookAnswer | undefined>;
  resign(): Promise<void>;
} {
  const stopping = new AbortController();
  const webhookHosts = new Map<string, AdapterHost>();
  const accounts = o.channels.map((c) => {
    const adapter = CHANNEL_ADAPTERS.get(c.type)!;
    let runner: ChannelRunner | undefined;
    const lease = leaseChild(
      o.leases,
      o.nodeId,
      o.leaseTtlMs,
      {
        elected: () => {
          o.log.info({ channel: c.type, account: c.account }, "running channel account");
          runner = createChannelRunner({
            bus: o.bus,
            adapter,
            options: c.options,
            nodeId: o.nodeId,
            log: o.log,
            backoff: o.backoff,
            consumer: o.consumer,
            maxPayload: o.maxPayload,
            state: o.state,
            inspection: o.inspection,
            onEvent: o.onEvent,
          });
          runner.start();
        },
        deposed: async () => {
          const r = runner;
          runner = undefined;
          if (!r) return;
          o.log.info({ channel: c.type, account: c.account }, "channel account given up");
          await r.stop();
        },
        tick: async () => {},
      },
      o.isAlive,
      channelLeaseKey(c.type, c.account),
    );
    return { c, adapter, lease, runner: () => runner };
  });
  return {
    children: accounts.map((a) => a.lease.child),
    list: () =>
      accounts.map((a) => ({
        type: a.c.type,
        account: a.c.account,
        running: a.runner() !== undefined,
        status: a.runner()?.status(),
        capabilities: a.adapter.capabilities,
      })),
    async webhook(type, account, req) {
      const a = accounts.find((x) => x.c.type === type && x.c.account === account);
      const adapter = CHANNEL_ADAPTERS.get(type);
      if (!a || !adapter?.webhook) return undefined;
      const key = `${type}/${account}`;
      let host = webhookHosts.get(key);
      if (!host) {
        host = createAccountInbound({
          bus: o.bus,
          type,
          account,
          nodeId: o.nodeId,
          backoff: o.backoff,
          maxPayload: o.maxPayload,
          state: o.state,
          log: o.log.child({ channel: type, account }),
          signal: stopping.signal,
          giveUpAfterMs: WEBHOOK_GIVE_UP_MS,
          onEvent: o.onEvent,
        }).host;
        webhookHosts.set(key, host);
      }
      return adapter.webhook(a.c.options, req, host);
    },
    async resign() {
      stopping.abort();
      await Promise.all(accounts.map((a) => a.lease.resign()));
    },
  };
}
