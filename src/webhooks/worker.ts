/**
 * Webhooks out, on every node:
 *
 * - **Fan-out**: while any subscription exists, the nodes share durable
 *   consumers on the streams events come from — `CLAW_TRANSCRIPTS` (each
 *   answered turn: a `reply` event) and `CLAW_DLQ` (a `dead_letter` event) —
 *   and turn each event into one delivery per subscription that wants it, on
 *   `CLAW_WEBHOOKS` (`claw.webhook.<subscription>`, its id
 *   `<subscription>:<source>:<seq>` so a fan-out done twice is one
 *   delivery). The event is acked once its deliveries are stored.
 * - **Delivery**: the nodes share the deliveries' consumer; each is POSTed
 *   as JSON, signed (signing.ts), to the addresses its host resolves to
 *   right then, checked (delivery-target.ts), and acked on a 2xx. Otherwise
 *   it is tried again after the backoff, and after `maxAttempts` it goes to
 *   `CLAW_DLQ` (stage `webhook`, the last status or error as the reason); a
 *   host that now resolves off the public internet goes there at once
 *   (`private_address`). A delivery whose subscription was removed is
 *   dropped.
 *
 * A tool call waiting for approval is read from the stream under KV
 * `claw_approvals` (an `approval.requested` event: its first, pending entry).
 *
 * Replies come from transcripts: with `CLAW_TRANSCRIPTS=off` there are no
 * `reply` events.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { approvalView, decodeApproval } from "../approvals/index.js";
import {
  APPROVALS_SOURCE,
  backoffDelay,
  decode,
  deadLetterOf,
  defaultLanePolicy,
  H,
  publishDeadLetter,
  startConsumerLane,
  STREAMS,
  webhookDeliveryConsumerSpec,
  webhookDeliverySubject,
  webhookSourceConsumerSpec,
  type BackoffPolicy,
  type Bus,
  type ConsumerLane,
  type ConsumerOptions,
  type Envelope,
  type LaneConsumerSpec,
  type LanePolicy,
} from "../bus/index.js";
import type { Logger } from "../log.js";
import { agentIdTenant, tenantOfSubject } from "../actors/index.js";
import { PrivateAddressError } from "../net/index.js";
import { postDelivery, type WebhookEgress } from "./delivery-target.js";
import { signWebhook, WEBHOOK_HEADERS } from "./signing.js";
import type { WebhookEvent, WebhookSubscription, WebhookSubscriptions } from "./subscriptions.js";

/** A transcript entry, as the session writes it. */
interface Turn {
  agent: string;
  session: string;
  user: Envelope;
  assistant: Envelope;
}

/** A delivery waiting on `CLAW_WEBHOOKS`. */
interface Delivery {
  subscription: string;
  id: string;
  event: WebhookEvent;
  body: Record<string, unknown>;
}

/** Options of {@link startWebhooks}. */
export interface WebhookWorkerOptions {
  bus: Bus;
  subscriptions: WebhookSubscriptions;
  nodeId: string;
  log: Logger;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  /** attempts before a delivery is dead-lettered (default 8) */
  maxAttempts: number;
  /** one POST's time limit (default 10 s) */
  timeoutMs?: number;
  /** how receivers are reached: the resolver, and whether private addresses may be */
  egress: WebhookEgress;
  onDelivered?: (outcome: "ok" | "retry" | "dead") => void;
}

const SOURCES: ReadonlyArray<{ stream: string; consumer: string; event: WebhookEvent; filter?: string }> = [
  { stream: STREAMS.transcripts, consumer: "webhooks-replies", event: "reply" },
  { stream: STREAMS.dlq, consumer: "webhooks-dead-letters", event: "dead_letter" },
  // each approval is written pending once (then decided): its first entry is its request
  { stream: APPROVALS_SOURCE.stream, consumer: "webhooks-approvals", event: "approval.requested", filter: APPROVALS_SOURCE.filter },
];

/** The body of an event, from its source message; undefined when it is not one (a webhook's own dead letter is not sent on). */
function eventBody(event: WebhookEvent, m: JsMsg): { body: Record<string, unknown>; agent?: string; tenant?: string } | undefined {
  if (event === "reply") {
    const t = decode<Turn>(m.data);
    const slim = (e: Envelope) => ({
      id: e.id,
      ts: e.ts,
      channel: e.channel,
      account: e.account,
      chat: e.chat,
      sender: e.sender,
      kind: e.kind,
      text: e.text,
      media: e.media,
    });
    return {
      agent: t.agent,
      tenant: agentIdTenant(t.agent),
      body: { agent: t.agent, session: t.session, message: slim(t.user), reply: slim(t.assistant) },
    };
  }
  if (event === "approval.requested") {
    const a = m.data.length > 0 ? decodeApproval(m.data) : undefined;
    if (!a || a.status !== "pending") return undefined;
    return { agent: a.agent, body: { agent: a.agent, session: a.session, approval: approvalView(a) } };
  }
  const h = (k: string) => m.headers?.get(k) || undefined;
  const stage = h(H.dlq.stage) ?? "";
  if (stage === "webhook") return undefined;
  return {
    tenant: tenantOfSubject(h(H.dlq.subject) ?? ""),
    body: { stage, code: h(H.dlq.code), reason: h(H.dlq.reason), subject: h(H.dlq.subject), seq: m.seq, node: h(H.dlq.node), time: h(H.dlq.time) },
  };
}

/** A subscription gets the events it asked for, of its agents (a tenant's: of its tenant), that happened since it was made. */
const wants = (s: WebhookSubscription, event: WebhookEvent, e: { agent?: string; tenant?: string }, atMs: number) =>
  s.events.includes(event) &&
  (s.tenant === undefined || s.tenant === e.tenant) &&
  (!s.agents || e.agent === undefined || s.agents.includes(e.agent)) &&
  atMs >= s.created;

/** What the fan-out and the deliveries need. */
interface Worker {
  o: WebhookWorkerOptions;
  log: Logger;
}

/** Turns a source message into one delivery per subscription that wants it; acked once they are stored. */
async function fanOut(w: Worker, source: (typeof SOURCES)[number], m: JsMsg): Promise<void> {
  const e = eventBody(source.event, m);
  const atMs = m.info.timestampNanos / 1e6;
  const subs = e ? w.o.subscriptions.live.values().filter((s) => wants(s, source.event, e, atMs)) : [];
  await Promise.all(
    subs.map((s) => {
      const id = `${s.id}:${source.event}:${m.seq}`;
      const d: Delivery = { subscription: s.id, id, event: source.event, body: { type: source.event, id, ts: Date.now(), ...e!.body } };
      return w.o.bus.publisher.publish(webhookDeliverySubject(s.id), JSON.stringify(d), { msgID: id });
    }),
  );
  m.ack();
}

/** POSTs one delivery: acked on a 2xx, given back with backoff otherwise, dead-lettered after the last attempt. */
async function deliver(w: Worker, m: JsMsg): Promise<void> {
  const { o, log } = w;
  const d = m.json<Delivery>();
  const sub = o.subscriptions.live.get(d.subscription);
  if (!sub) return m.ack();
  const body = JSON.stringify(d.body);
  const ts = Math.floor(Date.now() / 1000);
  let problem: string;
  try {
    const status = await postDelivery(sub.url, {
      headers: {
        "content-type": "application/json",
        "user-agent": "claw-webhooks",
        [WEBHOOK_HEADERS.id]: d.id,
        [WEBHOOK_HEADERS.timestamp]: String(ts),
        [WEBHOOK_HEADERS.signature]: signWebhook(sub.secret, ts, body),
        [WEBHOOK_HEADERS.event]: d.event,
      },
      body,
      timeoutMs: o.timeoutMs ?? 10_000,
      egress: o.egress,
    });
    if (status >= 200 && status < 300) {
      o.onDelivered?.("ok");
      return m.ack();
    }
    problem = `http_${status}`;
  } catch (e) {
    // refused, not failed: its host now resolves off the public internet — no attempt is sent, none is retried
    if (e instanceof PrivateAddressError)
      return deadLetter(w, m, sub, d, {
        code: e.code,
        reason: `${sub.url}: ${e.message}; the node delivers to such addresses only with CLAW_WEBHOOK_ALLOW_PRIVATE=1`,
        attempts: m.info.deliveryCount,
      });
    problem = `unreachable: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`;
  }
  const attempt = m.info.deliveryCount;
  if (attempt < o.maxAttempts) {
    const retryInMs = backoffDelay(o.backoff, attempt);
    log.debug({ subscription: sub.id, delivery: d.id, attempt, problem, retryInMs }, "webhook delivery failed; trying again");
    o.onDelivered?.("retry");
    return m.nak(retryInMs);
  }
  await deadLetter(w, m, sub, d, {
    code: problem.startsWith("http_") ? problem : "unreachable",
    reason: `${sub.url} after ${attempt} attempts: ${problem}`,
    attempts: attempt,
  });
}

async function deadLetter(w: Worker, m: JsMsg, sub: WebhookSubscription, d: Delivery, why: { code: string; reason: string; attempts: number }): Promise<void> {
  w.log.warn(
    { subscription: sub.id, url: sub.url, delivery: d.id, attempts: why.attempts, code: why.code, reason: why.reason },
    "webhook delivery dead-lettered",
  );
  await publishDeadLetter(w.o.bus.publisher, deadLetterOf(m, { stage: "webhook", code: why.code, reason: why.reason, node: w.o.nodeId }));
  w.o.onDelivered?.("dead");
  m.ack();
}

/**
 * The webhook lanes: consumers shared by every node, handlers side by side
 * up to what JetStream lets be unacked; a message that could not be handled
 * (its deliveries not stored) comes again after the backoff.
 */
function webhookPolicy(o: WebhookWorkerOptions): LanePolicy {
  return { ...defaultLanePolicy(), pullBatch: 64, ordering: { kind: "parallel", maxInFlight: o.consumer.maxAckPending } };
}

/** Starts the lanes: the deliveries first, then a fan-out per source stream. */
async function startLanes(w: Worker): Promise<ConsumerLane[]> {
  const { o, log } = w;
  const lane = (stream: string, consumer: LaneConsumerSpec, handle: (m: JsMsg) => Promise<void>) =>
    startConsumerLane({
      bus: o.bus,
      stream,
      consumer,
      policy: webhookPolicy(o),
      backoff: o.backoff,
      handle,
      onEvent: (e) => {
        if (e.type === "message.failed") log.warn({ err: e.error, stream, retryInMs: e.retryInMs }, "webhooks: a message could not be handled; it comes again");
        else if (e.type === "lane.failed") log.warn({ err: e.error, stream, retryInMs: e.retryInMs }, "webhooks: reading failed; reading again");
      },
    });
  const started: ConsumerLane[] = [];
  try {
    started.push(await lane(STREAMS.webhooks, webhookDeliveryConsumerSpec(o.consumer), (m) => deliver(w, m)));
    // from the earliest subscription's making, not from now: a reply that came before this node read the
    // subscription back is still its (an existing consumer goes on from where it stopped, which is earlier)
    const since = Math.min(Date.now(), ...o.subscriptions.live.values().map((s) => s.created));
    for (const s of SOURCES) started.push(await lane(s.stream, webhookSourceConsumerSpec(s.consumer, o.consumer, since, s.filter), (m) => fanOut(w, s, m)));
    return started;
  } catch (e) {
    await Promise.all(started.map((l) => l.stopPulling()));
    throw e;
  }
}

/** Runs the fan-out (while subscriptions exist) and the deliveries; `stop` ends both. */
export function startWebhooks(o: WebhookWorkerOptions): { stop(): Promise<void>; refresh(): void } {
  const w: Worker = { o, log: o.log.child({ part: "webhooks" }) };
  let running: ConsumerLane[] = [];
  /** every lane started and not yet drained (a stopped one may still be finishing) */
  const lanes = new Set<ConsumerLane>();
  let starting: Promise<void> | undefined;
  let stopped = false;

  const retire = (ls: ConsumerLane[]) =>
    Promise.all(
      ls.map(async (l) => {
        await l.stopPulling();
        await l.drained();
        lanes.delete(l);
      }),
    );

  /** Starts or stops the fan-out as subscriptions come and go. */
  function refresh(): void {
    if (stopped) return;
    const want = o.subscriptions.live.size > 0;
    if (want && running.length === 0 && !starting) {
      starting = (async () => {
        try {
          running = await startLanes(w);
          for (const l of running) lanes.add(l);
          w.log.info({ subscriptions: o.subscriptions.live.size }, "webhooks: delivering");
        } catch (e) {
          w.log.warn({ err: (e as Error).message }, "webhooks: could not start; trying again");
          setTimeout(refresh, 2_000).unref();
        } finally {
          starting = undefined;
          if (o.subscriptions.live.size === 0) refresh();
        }
      })();
    } else if (!want && running.length > 0) {
      // no one to send to: stop reading (deliveries of removed subscriptions are dropped when reading resumes,
      // and events from meanwhile go to no subscription made after them)
      void retire(running);
      running = [];
    }
  }

  void o.subscriptions.live.ready.then(refresh);
  return {
    refresh,
    async stop() {
      stopped = true;
      await starting;
      running = [];
      await retire([...lanes]);
    },
  };
}
