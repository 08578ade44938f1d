/**
 * Adapts a JetStream message to the plain {@link InboundMessage} ingress decides on.
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import type { JsMsg } from "@nats-io/jetstream";
import type { InboundMessage } from "./ingress.js";

/** Case-insensitive header lookup (outside publishers spell `content-type` as they like). */
export function headerGetter(h: MsgHdrs | undefined): (name: string) => string | undefined {
  return (name) => {
    if (!h) return undefined;
    const lower = name.toLowerCase();
    const k = h.keys().find((x) => x.toLowerCase() === lower);
    return k === undefined ? undefined : h.get(k);
  };
}

/** The ingress view of a JetStream message. */
export function toInboundMessage(m: JsMsg, idPrefix: string): InboundMessage {
  return {
    subject: m.subject,
    data: m.data,
    header: headerGetter(m.headers),
    seq: m.seq,
    idPrefix,
    storedAt: Math.floor(m.info.timestampNanos / 1_000_000),
  };
}
