/**
 * The bare-HTTP reference of the `invoke` scenario: a Node HTTP server that
 * answers `POST /v1/agents/<id>/invoke` the way Claw's gateway does — reads
 * and parses the JSON body, answers 200 with a reply of the same shape — and
 * does nothing else. Its own process, so its CPU is counted like a node's.
 * Prints "listening <url>" when ready.
 */
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { text: string; session?: string };
    const id = randomUUID();
    const reply = JSON.stringify({ message_id: id, session: body.session ?? id, reply: { id: randomUUID(), kind: "text", text: body.text, ts: Date.now() } });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(reply) });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const a = server.address() as { port: number };
  process.stdout.write(`listening http://127.0.0.1:${a.port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
