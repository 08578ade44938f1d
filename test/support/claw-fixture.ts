/**
 * The common setup of a test file: its own nats-server, one Claw node on it,
 * a stock client and a collector of replies — started before the file's
 * tests and stopped after them.
 */
import { afterAll, beforeAll } from "vitest";
import { startClaw, type ClawProcess } from "./claw-node.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "./nats-server.js";
import { collectReplies, type ReplyCollector } from "./replies.js";

/** What {@link useClawNode} provides once `beforeAll` has run. */
export interface ClawFixture {
  nats: NatsServerProcess;
  claw: ClawProcess;
  c: TestClient;
  out: ReplyCollector;
}

/** Registers the hooks; `env` (or a function giving it, read in `beforeAll`) is passed to the node. */
export function useClawNode(env: Record<string, string> | (() => Record<string, string>) = {}): ClawFixture {
  const f = {} as ClawFixture;
  beforeAll(async () => {
    f.nats = await natsServer();
    f.claw = await startClaw({ env: { NATS_URL: f.nats.url, ...(typeof env === "function" ? env() : env) } });
    f.c = await client(f.nats.url);
    f.out = await collectReplies(f.c.nc);
  });
  afterAll(async () => {
    f.out?.stop();
    await f.c?.[Symbol.asyncDispose]();
    await f.claw?.[Symbol.asyncDispose]();
    await f.nats?.stop();
  });
  return f;
}
