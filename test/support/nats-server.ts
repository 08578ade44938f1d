/**
 * Real nats-server processes for integration tests: a free loopback port, a
 * temp store, disposed with `await using`. Never the shared server on 4222.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { startNatsServer, type NatsServerOptions, type NatsServerProcess } from "../../src/bus/index.js";

export type { NatsServerProcess };

/** Starts one nats-server (with Claw's partition mapping unless told otherwise). */
export function natsServer(o: NatsServerOptions = {}): Promise<NatsServerProcess> {
  return startNatsServer(o);
}

/** A client connection to a test server, disposable. */
export interface TestClient extends AsyncDisposable {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** Connects a stock NATS client to `url`. */
export async function client(url: string): Promise<TestClient> {
  const nc = await connect({ servers: url });
  return {
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    [Symbol.asyncDispose]: async () => {
      if (!nc.isClosed()) await nc.close();
    },
  };
}
