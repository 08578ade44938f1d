/**
 * A minimal reproduction, for an upstream report to nats.js: every
 * *successful* request (and so every JetStream publish) ends by building an
 * Error with a stack trace that nobody sees.
 *
 * In @nats-io/nats-core 3.4 `RequestOne.resolver()` resolves the request's
 * deferred and then calls `this.cancel()`, which rejects the (already
 * settled) deferred with `new RequestError("cancelled")`. The rejection is a
 * no-op; the stack capture is not. That is one Error per request even with
 * `noAsyncTraces: true` (which removes the other two: the request's context
 * and its timer's TimeoutError).
 *
 * The script counts the RequestErrors built during N successful requests,
 * and prints CPU µs per request: nc.request as it is, nc.request with stack
 * capture off (`Error.stackTraceLimit = 0`), and requests on one shared
 * reply subscription (what Claw does for its JetStream publishes, see
 * src/bus/js-publisher.ts).
 *   npx tsx bench/nats-request-error.ts [requests]
 */
import { createRequire } from "node:module";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer } from "../src/bus/index.js";

const N = Number(process.argv[2] ?? 20_000);

// the module `RequestOne.cancel()` takes RequestError from (a file path passes the package's exports map;
// the same file, so the same module instance the client uses)
const require = createRequire(import.meta.url);
const coreLib = require.resolve("@nats-io/nats-core").replace(/mod\.js$/, "");
const errorsModule = require(`${coreLib}errors.js`) as { RequestError: new (m?: string, o?: ErrorOptions) => Error };
let built = 0;
const Original = errorsModule.RequestError;
errorsModule.RequestError = class CountedRequestError extends Original {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    built++;
  }
} as typeof Original;

async function cpuPerRequest(label: string, run: () => Promise<void>): Promise<{ label: string; cpuMicros: number; errorsPerRequest: number }> {
  for (let i = 0; i < 2_000; i++) await run(); // warm-up
  built = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: 100 }, run));
  const c = process.cpuUsage(c0);
  return { label, cpuMicros: Math.round(((c.user + c.system) / N) * 10) / 10, errorsPerRequest: Math.round((built / N) * 100) / 100 };
}

function sharedInbox(nc: NatsConnection): (subject: string) => Promise<void> {
  const prefix = `${createInbox()}.`;
  const waiters = new Map<string, () => void>();
  let next = 0;
  nc.subscribe(`${prefix}*`, {
    callback: (_e, m) => {
      const token = m.subject.slice(prefix.length);
      waiters.get(token)?.();
      waiters.delete(token);
    },
  });
  return (subject) =>
    new Promise<void>((resolve) => {
      const token = (next++).toString(36);
      waiters.set(token, resolve);
      nc.publish(subject, "x", { reply: prefix + token });
    });
}

await using server = await startNatsServer({ partitionMapping: false });
const responder = await connect({ servers: server.url });
responder.subscribe("echo", { callback: (_e, m) => void m.respond(m.data) });
await responder.flush();
const nc = await connect({ servers: server.url, noAsyncTraces: true });
const results = [];
results.push(await cpuPerRequest("nc.request (noAsyncTraces)", async () => void (await nc.request("echo", "x", { timeout: 5_000 }))));
const limit = Error.stackTraceLimit;
Error.stackTraceLimit = 0;
results.push(await cpuPerRequest("nc.request, Error.stackTraceLimit = 0", async () => void (await nc.request("echo", "x", { timeout: 5_000 }))));
Error.stackTraceLimit = limit;
const shared = sharedInbox(nc);
results.push(await cpuPerRequest("shared reply subscription", () => shared("echo")));
await nc.close();
await responder.close();
process.stdout.write(
  JSON.stringify({ requests: N, client: "@nats-io/nats-core " + (require(`${coreLib}../package.json`) as { version: string }).version, results }, null, 1) +
    "\n",
);
