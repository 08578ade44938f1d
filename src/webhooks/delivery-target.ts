/**
 * Where a webhook may be delivered: like `http.fetch`, a subscription's host
 * must be on the public internet — checked when the subscription is made
 * (a clear 400) and again at every delivery, since what a name resolves to
 * changes — unless the node's operator delivers to internal receivers
 * (`CLAW_WEBHOOK_ALLOW_PRIVATE=1`). A delivery resolves the host once and
 * connects only to the addresses it checked (src/net), and never reads more
 * of a receiver's answer than its status.
 */
import { loadUndici, pinnedAgent, pinTarget, PrivateAddressError, UnresolvableHostError, type HostResolver } from "../net/index.js";

/** How a node reaches webhook receivers. */
export interface WebhookEgress {
  resolver: HostResolver;
  /** `CLAW_WEBHOOK_ALLOW_PRIVATE=1`: loopback, private and other non-public addresses are allowed */
  allowPrivate: boolean;
}

/** A subscription's URL that this node would not deliver to. */
export class WebhookUrlError extends Error {
  readonly field = "url";
  constructor(
    readonly code: "private_address",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "WebhookUrlError";
  }
}

const OPT_IN = "the node delivers to such addresses only with CLAW_WEBHOOK_ALLOW_PRIVATE=1";

/**
 * Checks a new subscription's URL: its host must not be, or resolve to, an
 * address off the public internet (unless allowed). A name that does not
 * resolve yet is accepted: each delivery resolves it again, and one that
 * never does ends in the dead letters. Throws {@link WebhookUrlError}.
 */
export async function checkWebhookUrl(url: string, egress: WebhookEgress): Promise<void> {
  if (egress.allowPrivate) return;
  try {
    await pinTarget(new URL(url), { resolver: egress.resolver, allowPrivate: false, signal: AbortSignal.timeout(5_000) });
  } catch (e) {
    if (e instanceof PrivateAddressError) throw new WebhookUrlError("private_address", `url: ${e.message}; ${OPT_IN}`, { cause: e });
    if (e instanceof UnresolvableHostError || (e as Error).name === "TimeoutError") return;
    throw e;
  }
}

/**
 * POSTs one delivery and answers the receiver's status. Throws
 * {@link PrivateAddressError} when the host now resolves off the public
 * internet (not allowed), and the network's errors when it cannot be reached.
 */
export async function postDelivery(
  url: string,
  o: { headers: Record<string, string>; body: string; timeoutMs: number; egress: WebhookEgress },
): Promise<number> {
  const signal = AbortSignal.timeout(o.timeoutMs);
  const target = await pinTarget(new URL(url), { resolver: o.egress.resolver, allowPrivate: o.egress.allowPrivate, signal });
  const agent = await pinnedAgent(target);
  try {
    const { request } = await loadUndici();
    const res = await request(url, { method: "POST", headers: o.headers, body: o.body, dispatcher: agent, signal });
    // the status is the answer; what a receiver says after it is not read (it could be endless)
    res.body.on("error", () => undefined);
    res.body.destroy();
    return res.statusCode;
  } finally {
    void agent.destroy().catch(() => undefined);
  }
}
