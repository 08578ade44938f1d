/**
 * One channel account's connection while its runner holds the account:
 * connected within a time bound, the way out (channel-outbound.ts) started
 * with it, the pieces of replies being written shown where the channel can,
 * and — once lost or stopped — closed, the next connect waiting for that.
 */
import type { Subscription } from "@nats-io/transport-node";
import { decodeReplyPiece, parseDeltaSubject, wildcards, within, type BackoffPolicy, type Bus, type ConsumerOptions } from "../bus/index.js";
import type { Logger } from "../log.js";
import { startChannelOutbound, type ChannelOutbound } from "./channel-outbound.js";
import type { AdapterHost, ChannelAdapter, ChannelConnection, ChannelRunnerEvent } from "./types.js";

/** How long one connect may take before it counts as failed (and is tried again after the backoff). */
const CONNECT_TIMEOUT_MS = 30_000;

/** Resolves with the connection, or rejects after `ms`; a connection that arrives late is closed. */
async function connectWithin(p: Promise<ChannelConnection>, ms: number): Promise<ChannelConnection> {
  try {
    return await within(p, ms, () => new Error(`no connection within ${ms} ms`));
  } catch (e) {
    void p.then((late) => late.close()).catch(() => undefined);
    throw e;
  }
}

/** A live connection of the account, its way out, and (for a channel that shows replies growing) the pieces of replies being written. */
interface Live {
  connection: ChannelConnection;
  outbound: ChannelOutbound;
  pieces?: Subscription;
}

/** Options of {@link createAccountConnection}. */
export interface AccountConnectionOptions {
  bus: Bus;
  adapter: ChannelAdapter;
  /** the account's options, as the adapter's schema parsed them */
  options: { account: string };
  type: string;
  account: string;
  nodeId: string;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  /** the account's way in: the host the adapter hands messages to, and its retrying publish */
  inbound: { host: AdapterHost; retrying<T>(what: string, f: () => Promise<T>): Promise<T> };
  log: Logger;
  emit: (e: ChannelRunnerEvent) => void;
}

/** The effects of an account's lifecycle (channel.machine.ts): connect, watch, close. */
export interface AccountConnection {
  /** connects and starts the way out; rejects when either fails (the lifecycle backs off and tries again) */
  connect(signal: AbortSignal): Promise<void>;
  /** shows the pieces of replies being written until the connection or its way out is lost; resolves with why, once closed */
  watch(): Promise<Error>;
  /** stops delivering replies and closes the connection, if there is one */
  close(): Promise<void>;
}

/** Creates the holder of an account's connection (nothing connects until {@link AccountConnection.connect}). */
export function createAccountConnection(o: AccountConnectionOptions): AccountConnection {
  const { type, account, emit, log } = o;
  let live: Live | undefined;
  let teardown: Promise<void> | undefined;

  /** Stops delivering replies and closes the connection (once per connection). */
  function closeConnection(): Promise<void> {
    const l = live;
    live = undefined;
    if (!l) return teardown ?? Promise.resolve();
    l.pieces?.unsubscribe();
    teardown = (async () => {
      // the connection first: a send in flight fails (its reply is delivered again), so the way out can end
      await l.connection.close().catch((e: unknown) => log.debug({ err: e }, "closing the channel connection failed"));
      await l.outbound.stop();
    })();
    return teardown;
  }

  /** Connects (within its time limit) and starts the way out; a connection whose way out cannot start is closed. */
  async function connect(signal: AbortSignal): Promise<void> {
    await teardown;
    let c: ChannelConnection;
    try {
      c = await connectWithin(o.adapter.connect(o.options, o.inbound.host, signal), CONNECT_TIMEOUT_MS);
    } catch (e) {
      emit({ type: "channel.connect.failed", channel: type, account, error: (e as Error).message });
      throw e;
    }
    try {
      const outbound = await startChannelOutbound({
        bus: o.bus,
        type,
        account,
        nodeId: o.nodeId,
        backoff: o.backoff,
        consumer: o.consumer,
        connection: c,
        retrying: o.inbound.retrying,
        emit,
      });
      live = { connection: c, outbound };
    } catch (e) {
      await c.close().catch(() => undefined);
      throw e;
    }
    if (signal.aborted) {
      await closeConnection();
      throw new Error("stopped while connecting");
    }
    emit({ type: "channel.connected", channel: type, account });
  }

  /** Shows the pieces of replies being written (where the channel can), until the connection or its way out is lost. */
  async function watch(): Promise<Error> {
    const l = live!;
    const c = l.connection;
    l.pieces = c.delta
      ? o.bus.nc.subscribe(wildcards.deltasOfAccount(type, account), {
          callback: (_e, m) => {
            const piece = decodeReplyPiece(m.data);
            const to = parseDeltaSubject(m.subject);
            if (piece && to) c.delta!({ ...piece, chat: to.chat });
          },
        })
      : undefined;
    const why = await Promise.race([c.lost, l.outbound.failed]);
    emit({ type: "channel.lost", channel: type, account, error: why.message });
    await closeConnection();
    return why;
  }

  return { connect, watch, close: closeConnection };
}
