/**
 * Runs one channel account on this node: its lifecycle actor (connect, back
 * off, connect again), the way in (account-inbound.ts: a native message →
 * `claw.in`, acked natively only once durable; malformed → `CLAW_DLQ` stage
 * `adapter`) and, while connected, the way out (channel-outbound.ts:
 * `claw.out.<channel>.<account>.>` consumed durably, acked once sent
 * natively; refused → `CLAW_DLQ` stage `out`; unreachable → retried with
 * backoff).
 *
 * Order: inbound messages of one chat are published one after the other in
 * the order the adapter hands them over; one chat's replies are sent one at
 * a time in the order of the reply stream (several chats' side by side).
 */
import type { KV } from "@nats-io/kv";
import { createActor, fromPromise, type Actor } from "xstate";
import { backoffDelay, channelActorId, type BackoffPolicy, type Bus, type ConsumerOptions } from "../bus/index.js";
import type { Logger } from "../log.js";
import { createAccountConnection } from "./account-connection.js";
import { createAccountInbound } from "./account-inbound.js";
import { channelMachine, type ChannelContext } from "./channel.machine.js";
import type { ChannelAdapter, ChannelRunnerEvent } from "./types.js";

export type { ChannelRunnerEvent } from "./types.js";

/** Options of {@link createChannelRunner}. */
export interface ChannelRunnerOptions {
  bus: Bus;
  adapter: ChannelAdapter;
  /** the account's options, as the adapter's schema parsed them */
  options: { account: string };
  nodeId: string;
  log: Logger;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  maxPayload: number;
  /** KV `claw_channels`: the accounts' own state */
  state: KV;
  inspection?: { register(kind: "channel", id: string, actor: Actor<typeof channelMachine>): void; forget(kind: "channel", id: string): void };
  onEvent?: (e: ChannelRunnerEvent) => void;
}

/** What `GET /v1/channels` shows of a running account. */
export interface ChannelStatus extends ChannelContext {
  state: string;
}

/** One account's runner. */
export interface ChannelRunner {
  readonly id: string;
  start(): void;
  status(): ChannelStatus;
  /** stops taking and sending, closes the connection; what was not acked natively is delivered again */
  stop(): Promise<void>;
}

/** Creates the runner of one account (not started: {@link ChannelRunner.start}). */
export function createChannelRunner(o: ChannelRunnerOptions): ChannelRunner {
  const type = o.adapter.type;
  const account = o.options.account;
  // the live view's id: one subject token
  const actorId = channelActorId(type, account);
  const emit = o.onEvent ?? (() => {});
  const stopping = new AbortController();
  const log = o.log.child({ channel: type, account });
  const inbound = createAccountInbound({
    bus: o.bus,
    type,
    account,
    nodeId: o.nodeId,
    backoff: o.backoff,
    maxPayload: o.maxPayload,
    state: o.state,
    log,
    signal: stopping.signal,
    onEvent: emit,
  });
  const connection = createAccountConnection({ ...o, type, account, inbound, log, emit });

  const machine = channelMachine.provide({
    actors: { connect: fromPromise<void>(({ signal }) => connection.connect(signal)), watch: fromPromise<Error>(() => connection.watch()) },
    delays: { backoff: ({ context }) => backoffDelay(o.backoff, context.attempt) },
  });
  const actor = createActor(machine, { input: { type, account } });

  return {
    id: `${type}/${account}`,
    start() {
      o.inspection?.register("channel", actorId, actor);
      actor.start();
      actor.send({ type: "start" });
    },
    status() {
      const s = actor.getSnapshot();
      return { ...s.context, state: String(s.value) };
    },
    async stop() {
      stopping.abort();
      actor.stop();
      o.inspection?.forget("channel", actorId);
      await connection.close();
      await inbound.drain();
    },
  };
}
