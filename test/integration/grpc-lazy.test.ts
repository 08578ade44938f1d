/**
 * gRPC's libraries load on a node's first gRPC connection, not at start
 * (issue 34: a node no gRPC client calls does not pay their modules and
 * heap). What the node loads is read from Node's own module loader: the node
 * runs with `NODE_DEBUG=module`, under which Node's CommonJS loader writes
 * every file it loads to stderr — and grpc-js, proto-loader, protobufjs,
 * reflection and the health service are all CommonJS, whether the node
 * imports them statically or on demand. Then the first calls, several at
 * once (connections that arrive while gRPC loads wait for it), are served,
 * and the health service says SERVING.
 */
import { describe, expect, it } from "vitest";
import type { ClawProcess } from "../support/claw-node.js";
import { useClawNode } from "../support/claw-fixture.js";
import { clawClient, healthClient, reflect } from "../support/grpc-client.js";

/** The files of gRPC's libraries in Node's module trace (their paths under node_modules). */
const GRPC_FILES = /^MODULE \d+: load "[^"]*\/node_modules\/(@grpc\/grpc-js|@grpc\/proto-loader|@grpc\/reflection|grpc-health-check|protobufjs)\/[^"]*"/gm;
/** Any file in the trace: the trace is on, so an absence of gRPC's files in it means something. */
const ANY_FILE = /^MODULE \d+: load "[^"]*\/node_modules\/[^"]*"/m;

const grpcFiles = (claw: ClawProcess) => [...claw.output().matchAll(GRPC_FILES)].map((m) => m[1]!);

describe("gRPC's libraries, loaded on the first connection", () => {
  const f = useClawNode({ NODE_DEBUG: "module" });

  it("are not loaded by a started node no gRPC client called; its first calls load them, and are served", async () => {
    const { claw } = f;
    expect(claw.grpcPort, "the port is bound at start").toBeGreaterThan(0);
    expect(claw.output(), "Node's module trace is on").toMatch(ANY_FILE);
    // the readiness checks settle after the start line: gRPC must not load with them either
    await new Promise((r) => setTimeout(r, 1_000));
    expect(grpcFiles(claw), "gRPC's files loaded before any connection").toEqual([]);
    expect(claw.logs.filter((l) => l.msg === "gRPC loaded on its first connection")).toEqual([]);

    const address = `127.0.0.1:${claw.grpcPort}`;
    const clients = [healthClient(address), clawClient(address), clawClient(address)];
    try {
      // three connections at once: the first starts the load, the others wait for it
      const [health, one, two] = await Promise.all([
        clients[0]!.unary<{ status: string }>("Check", { service: "" }, { deadlineMs: 20_000 }),
        clients[1]!.unary("Invoke", { agent: "echo", text: "first" }, { deadlineMs: 20_000 }),
        clients[2]!.unary("Invoke", { agent: "echo", text: "second" }, { deadlineMs: 20_000 }),
      ]);
      expect(health).toMatchObject({ ok: true, value: { status: "SERVING" } });
      expect(one).toMatchObject({ ok: true, value: { text: "first" } });
      expect(two).toMatchObject({ ok: true, value: { text: "second" } });
      expect((await reflect(address, "claw.v1.Claw")).services).toContain("claw.v1.Claw");
    } finally {
      for (const c of clients) c.close();
    }
    expect(new Set(grpcFiles(claw)), "the node loaded gRPC's libraries for the calls").toEqual(
      new Set(["@grpc/grpc-js", "@grpc/proto-loader", "@grpc/reflection", "grpc-health-check", "protobufjs"]),
    );
    const [loaded] = await claw.waitForLogs((l) => l.msg === "gRPC loaded on its first connection");
    expect(loaded!.ms).toBeGreaterThan(0);
    expect(
      claw.logs.filter((l) => l.msg === "gRPC loaded on its first connection"),
      "loaded once",
    ).toHaveLength(1);
    expect(await claw.kill("SIGTERM"), "stops cleanly").toBe(0);
  }, 60_000);
});
