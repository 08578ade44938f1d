/**
 * A node's part in webhooks out: it mirrors the subscriptions, serves them
 * to the gateway, and shares the fan-out and the deliveries with the others.
 */
import { BUCKETS, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { WebhookDirectory } from "../gateway/webhooks-routes.js";
import type { Logger } from "../log.js";
import { createHostResolver } from "../net/index.js";
import { startWebhooks, webhookSubscriptions, type WebhookEgress } from "../webhooks/index.js";
import { consumerOptions, retryBackoff } from "./node-provision.js";

/** A node's webhooks out: the subscriptions for the gateway, and the workers to stop with the node. */
export interface NodeWebhooks {
  directory: WebhookDirectory;
  stop(): Promise<void>;
}

/**
 * Mirrors the subscriptions and starts this node's share of the fan-out and
 * the deliveries (`CLAW_WEBHOOK_MAX_ATTEMPTS`, `CLAW_WEBHOOK_TIMEOUT_MS`;
 * hosts resolved with `CLAW_DNS_SERVERS`, private addresses refused unless
 * `CLAW_WEBHOOK_ALLOW_PRIVATE`).
 */
export async function nodeWebhooks(bus: Bus, config: ClawConfig, log: Logger): Promise<NodeWebhooks> {
  let refresh = () => {};
  const egress: WebhookEgress = { resolver: createHostResolver({ servers: config.dnsServers }), allowPrivate: config.webhookAllowPrivate };
  const subscriptions = webhookSubscriptions(await bus.kvm.open(BUCKETS.webhooks), {
    egress,
    onChange: () => refresh(),
    onError: (e) => log.warn({ err: e }, "webhooks: watching the subscriptions failed; watching again"),
  });
  const worker = startWebhooks({
    bus,
    nodeId: config.nodeId,
    log,
    backoff: retryBackoff(config),
    consumer: consumerOptions(config),
    maxAttempts: config.webhookMaxAttempts,
    timeoutMs: config.webhookTimeoutMs,
    subscriptions,
    egress,
  });
  refresh = worker.refresh;
  return {
    directory: {
      create: (input, tenant) => subscriptions.create(input, tenant),
      list: () => subscriptions.live.values(),
      remove: (id) => subscriptions.remove(id),
    },
    async stop() {
      await worker.stop();
      subscriptions.stop();
    },
  };
}
