/**
 * The NATS connection of short-lived CLI commands, with an error that says
 * what to do when nothing answers.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectBus, natsCredentials, parseServers, redactServers, type Bus } from "../bus/index.js";

/** The servers CLI commands talk to: `NATS_URL`, else the embedded default's port. */
export function cliServers(env: NodeJS.ProcessEnv = process.env): string[] {
  return parseServers(env.NATS_URL ?? `nats://127.0.0.1:${env.CLAW_EMBEDDED_NATS_PORT ?? 4222}`);
}

/** The error of a CLI command that reached no NATS server: what to do about it. */
export function unreachableError(servers: string[], e: unknown): Error {
  return new Error(
    `cannot reach NATS at ${redactServers(servers).join(",")} (${(e as Error).message}). Is a Claw node running (claw start)? Set NATS_URL otherwise.`,
    { cause: e },
  );
}

/** Connects, or throws an error a user can act on. */
export async function cliConnect(): Promise<NatsConnection> {
  const servers = cliServers();
  try {
    const { servers: bare, auth } = natsCredentials(servers);
    return await connect({ ...auth, servers: bare, timeout: 2_000, name: "claw-cli" });
  } catch (e) {
    throw unreachableError(servers, e);
  }
}

/** The bus (JetStream, KV) of a CLI command, or an error a user can act on. */
export async function cliBus(): Promise<Bus> {
  const servers = cliServers();
  try {
    return await connectBus({ servers, name: "claw-cli", timeoutMs: 2_000, attempts: 1 });
  } catch (e) {
    throw unreachableError(servers, e);
  }
}
