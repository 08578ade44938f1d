/**
 * `Replies`: a backend follows a channel's conversations without HTTP — the
 * replies on `claw.out.<channel>.<account>.<chat>` (one chat, or every chat
 * of the account), read from `CLAW_OUT` through a durable consumer named by
 * the caller. A reply is acked once it was written to the stream; one the
 * stream could not take comes again (to this stream or the next one with the
 * same name), and one acked never does: each reply once per consumer name.
 *
 * The consumer's JetStream name is the caller's, its name and what it reads
 * (hashed): two callers' names never meet, and a caller reads only chats it
 * may write into — its own (`~<owner>~…`) and shared ones; a whole account
 * needs `sessions:any` (or the open gateway). `CLAW_OUT` is a work queue:
 * one reader per chat — a second consumer over the same replies (another
 * name, or a channel adapter's) is refused with FAILED_PRECONDITION.
 */
import { createHash } from "node:crypto";
import { status, type ServerWritableStream } from "@grpc/grpc-js";
import type { JsMsg } from "@nats-io/jetstream";
import { z } from "zod";
import type { Principal } from "../auth/index.js";
import {
  decode,
  defaultBackoff,
  defaultLanePolicy,
  grpcRepliesConsumerSpec,
  parseOutboundSubject,
  startConsumerLane,
  STREAMS,
  type Bus,
  type ConsumerLane,
  type Envelope,
  type LanePolicy,
} from "../bus/index.js";
import { HttpError } from "../gateway/errors.js";
import { CROSS_SESSION_SCOPE, crossSession, mayAddressChat, ownerOf } from "../gateway/http-session.js";
import { AddressTokenSchema, parseBody } from "../gateway/schemas.js";
import { agentIdFor } from "../gateway/tenant-scope.js";
import { serviceError } from "./status.js";

/** `RepliesRequest`, as proto-loader reads it. */
export interface RepliesRequest {
  channel: string;
  account: string;
  chat: string;
  consumer: string;
}

const RepliesSchema = z.object({
  channel: AddressTokenSchema,
  account: AddressTokenSchema,
  chat: AddressTokenSchema.optional(),
  consumer: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1 to 64 of A-Z a-z 0-9 _ -"),
});

/**
 * One at a time, in the stream's order. Few buffered ahead and short pulls: what a stream that ends holds
 * (pulled, not yet written) is redelivered only after the ack wait, and a pull it left on the server lasts
 * until it expires — a backend that comes back at once should find neither (streams are few: backends, not browsers).
 */
const REPLIES_POLICY: LanePolicy = {
  ...defaultLanePolicy(),
  pullBatch: 4,
  pullExpiresMs: 5_000,
  pullHeartbeatMs: 2_000,
  ordering: { kind: "serial" },
  whenPullFails: "end",
};

/** Serves one `Replies` stream until the client cancels it, the server stops, or the replies cannot be read. */
export async function serveReplies(
  o: { bus: Bus; repliesIdleMs?: number; inbound: { checkAvailable(): void }; streams: Set<() => void> },
  call: ServerWritableStream<RepliesRequest, unknown>,
  who: Principal,
): Promise<void> {
  const r = call.request;
  const b = parseBody(RepliesSchema, {
    channel: r.channel || "grpc",
    account: r.account || "default",
    ...(r.chat ? { chat: r.chat } : {}),
    consumer: r.consumer,
  });
  // a tenant reads only its own accounts' replies (`<tenant>/<account>`: its agents' HTTP accounts, its web chats, its channel accounts)
  if (who.tenant !== undefined) {
    if (b.account.includes("/")) throw new HttpError(400, "invalid_body", "account: a tenant's accounts are named within it (no /)", "account");
    b.account = agentIdFor(who, b.account);
  }
  if (b.chat !== undefined && !mayAddressChat(b.chat, who))
    throw new HttpError(403, "forbidden", `chat: another caller's own (reading it needs the scope ${CROSS_SESSION_SCOPE})`, "chat");
  if (b.chat === undefined && ownerOf(who) !== undefined && !crossSession(who))
    throw new HttpError(403, "forbidden", `chat: every chat of an account is every caller's: name one, or hold the scope ${CROSS_SESSION_SCOPE}`, "chat");
  o.inbound.checkAvailable();
  const durable = `grpc-${b.consumer}-${createHash("sha256")
    .update([who.owner ?? who.id, b.channel, b.account, b.chat ?? "", b.consumer].join("\u0000"))
    .digest("hex")
    .slice(0, 16)}`;
  let cancelled = false;
  let lane: ConsumerLane | undefined;
  let finish!: (how: "cancelled" | "stopping") => void;
  const finished = new Promise<"cancelled" | "stopping">((res) => (finish = res));
  // writes not yet confirmed: a stream that ends may never confirm them, so they are settled (nak) when it does
  const unconfirmed = new Set<() => void>();
  const end = (how: "cancelled" | "stopping") => {
    cancelled = true;
    void lane?.stopPulling();
    for (const settle of [...unconfirmed]) settle();
    finish(how);
  };
  const onCancelled = () => end("cancelled");
  const onStopping = () => end("stopping");
  call.once("cancelled", onCancelled);
  o.streams.add(onStopping);
  try {
    const push = (m: JsMsg) =>
      new Promise<void>((resolve) => {
        let reply: Envelope;
        try {
          reply = decode<Envelope>(m.data);
        } catch {
          m.term(); // not an envelope: nothing a client could read
          return resolve();
        }
        const addr = parseOutboundSubject(m.subject);
        if (cancelled) {
          m.nak();
          return resolve();
        }
        const out = {
          id: reply.id,
          reply_to: reply.replyTo ?? "",
          channel: addr?.channel ?? reply.channel,
          account: addr?.account ?? reply.account,
          chat: addr?.chat ?? reply.chat,
          kind: reply.kind,
          text: reply.text ?? "",
          ts: reply.ts,
        };
        let settled = false;
        const settle = (ok: boolean) => {
          if (settled) return;
          settled = true;
          unconfirmed.delete(nakIt);
          if (ok) m.ack();
          else m.nak();
          resolve();
        };
        const nakIt = () => settle(false);
        unconfirmed.add(nakIt);
        call.write(out, (err?: Error | null) => settle(!err && !cancelled));
      });
    try {
      lane = await startConsumerLane({
        bus: o.bus,
        stream: STREAMS.out,
        consumer: grpcRepliesConsumerSpec(durable, b, o.repliesIdleMs),
        policy: REPLIES_POLICY,
        backoff: defaultBackoff(),
        handle: push,
      });
    } catch (e) {
      if (/not unique|overlap/i.test(String((e as Error).message)))
        throw new HttpError(409, "replies_taken", "another consumer reads these replies (CLAW_OUT is a work queue: one reader per chat)", "consumer", {
          cause: e,
        });
      throw e;
    }
    if (cancelled) await lane.stopPulling();
    const how = await Promise.race([lane.ended.then(() => "ended" as const), finished]);
    // a stream the client did not end is ended with a status it may retry on: another node (or this one, back) serves it
    if (how === "ended") call.emit("error", serviceError(status.UNAVAILABLE, "the replies could not be read; call again", { retryAfterS: 2 }));
    if (how === "stopping") call.emit("error", serviceError(status.UNAVAILABLE, "the node is stopping; call again", { retryAfterS: 1 }));
  } finally {
    o.streams.delete(onStopping);
    call.off("cancelled", onCancelled);
  }
}
