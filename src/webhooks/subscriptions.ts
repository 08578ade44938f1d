/**
 * Webhook subscriptions, kept in KV `claw_webhooks` (`sub.<id>`): where to
 * send which events, and the secret each delivery is signed with. Every node
 * mirrors them (a subscription made anywhere applies everywhere at once).
 */
import { randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { z } from "zod";
import { mirrorBucket, type KvMirror } from "../bus/index.js";
import { checkWebhookUrl, type WebhookEgress } from "./delivery-target.js";
import { qualifiedAgentId } from "../actors/index.js";

/** What a subscription can be sent. */
export const WEBHOOK_EVENTS = ["reply", "dead_letter", "approval.requested"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** `POST /v1/webhooks`. */
export const CreateWebhookSchema = z
  .object({
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), "an http or https URL"),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1),
    /** signs every delivery (HMAC-SHA256); one is made when absent, and shown once */
    secret: z.string().min(16, "at least 16 characters").max(256).optional(),
    /** only replies of these agents (all when absent) */
    agents: z.array(z.string().min(1).max(64)).optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

/** A stored subscription. */
export interface WebhookSubscription {
  id: string;
  url: string;
  events: WebhookEvent[];
  secret: string;
  agents?: string[];
  description?: string;
  created: number;
  /** the tenant that made it: it gets only that tenant's events (absent: the operator's, which gets every event) */
  tenant?: string;
}

/** What lists show (never the secret). */
export function publicView(s: WebhookSubscription): Omit<WebhookSubscription, "secret"> {
  const { secret: _s, ...rest } = s;
  return rest;
}

function decode(value: Uint8Array): WebhookSubscription | undefined {
  try {
    const s = JSON.parse(new TextDecoder().decode(value)) as WebhookSubscription;
    return typeof s.id === "string" && typeof s.url === "string" && Array.isArray(s.events) && typeof s.secret === "string" ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The subscriptions: changed through KV, read from the node's mirror. */
export interface WebhookSubscriptions {
  /** stores a new subscription; throws `WebhookUrlError` (delivery-target.ts) for a URL this node would not deliver to */
  create(input: z.infer<typeof CreateWebhookSchema>, tenant?: string): Promise<WebhookSubscription>;
  remove(id: string): Promise<boolean>;
  readonly live: KvMirror<WebhookSubscription>;
  stop(): void;
}

/** The subscriptions in `kv`; `egress` decides which URLs a new one may have. */
export function webhookSubscriptions(kv: KV, o: { egress: WebhookEgress; onChange?: () => void; onError?: (e: unknown) => void }): WebhookSubscriptions {
  const live = mirrorBucket(kv, { prefix: "sub", decode, onChange: () => o.onChange?.(), onError: o.onError });
  return {
    live,
    async create(input, tenant) {
      await checkWebhookUrl(input.url, o.egress);
      const id = `wh${Array.from(randomBytes(12), (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("")}`;
      const sub: WebhookSubscription = {
        id,
        url: input.url,
        events: [...new Set(input.events)],
        secret: input.secret ?? randomBytes(24).toString("base64url"),
        created: Date.now(),
        // a tenant names its agents as it named them: stored as the cluster knows them (`<tenant>/<agent>`)
        ...(input.agents ? { agents: input.agents.map((a) => qualifiedAgentId(tenant, a)) } : {}),
        ...(input.description ? { description: input.description } : {}),
        ...(tenant ? { tenant } : {}),
      };
      // the node lists from its copy: the answer waits until the copy has it (a list right after shows it)
      await live.caughtUp(await kv.create(`sub.${id}`, JSON.stringify(sub)));
      return sub;
    },
    async remove(id) {
      if (!/^wh[a-z0-9]{12}$/.test(id)) return false;
      const e = await kv.get(`sub.${id}`);
      if (!e || e.operation !== "PUT") return false;
      await kv.delete(`sub.${id}`);
      // a delete's revision is not returned: the next one in the bucket is at most the current last sequence
      await live.caughtUp((await kv.status()).streamInfo.state.last_seq);
      return true;
    },
    stop: () => live.stop(),
  };
}
