/**
 * A node's part in webhooks out: it mirrors the subscriptions, serves them
 * to the gateway, and shares the fan-out and the deliveries with the others.
 */
import { BUCKETS, type BackoffPolicy, type Bus, type ConsumerOptions } from "../bus/index.js";
import type { WebhookDirectory } from "../gateway/webhooks-routes.js";
import type { Logger } from "../log.js";
import { createHostResolver } from "../net/index.js";
import { startWebhooks, webhookSubscriptions, type WebhookEgress } from "../webhooks/index.js";

export async function nodeWebhooks(o: {
  bus: Bus;
  nodeId: string;
  log: Logger;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  maxAttempts: number;
  timeoutMs: number;
  /** `CLAW_DNS_SERVERS` (empty: the system's resolver) */
  dnsServers: readonly string[];
  /** `CLAW_WEBHOOK_ALLOW_PRIVATE=1` */
  allowPrivate: boolean;
}): Promise<{ directory: WebhookDirectory; stop(): Promise<void> }> {
  let refresh = () => {};
  const egress: WebhookEgress = { resolver: createHostResolver({ servers: o.dnsServers }), allowPrivate: o.allowPrivate };
  const subscriptions = webhookSubscriptions(await o.bus.kvm.open(BUCKETS.webhooks), {
    egress,
    onChange: () => refresh(),
    onError: (e) => o.log.warn({ err: e }, "webhooks: watching the subscriptions failed; watching again"),
  });
  const worker = startWebhooks({ ...o, subscriptions, egress });
  refresh = worker.refresh;
  return {
    directory: {
      create: (input) => subscriptions.create(input),
      list: () => subscriptions.live.values(),
      remove: (id) => subscriptions.remove(id),
    },
    async stop() {
      await worker.stop();
      subscriptions.stop();
    },
  };
}
