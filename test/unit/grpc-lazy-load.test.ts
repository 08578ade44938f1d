/**
 * The gRPC server's port at start and its libraries on the first connection
 * (src/grpc/server.ts), without a node: a load that fails closes the waiting
 * connections, says so through onError, and the next connection loads again;
 * close and kill free the port whether gRPC was ever loaded or not. The one
 * stand-in is the first load's failure: core.ts's createGrpcCore throws once
 * (as it would for a .proto it cannot read), and is the real one after.
 */
import { connect, createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startGrpcServer, type GrpcServer, type GrpcServerOptions } from "../../src/grpc/server.js";
import { healthClient } from "../support/grpc-client.js";

const loads = vi.hoisted(() => ({ failNext: false, count: 0 }));
vi.mock("../../src/grpc/core.js", async (importActual) => {
  const actual = await importActual<typeof import("../../src/grpc/core.js")>();
  return {
    ...actual,
    createGrpcCore: (o: Parameters<typeof actual.createGrpcCore>[0]) => {
      loads.count++;
      if (loads.failNext) {
        loads.failNext = false;
        throw new Error("claw.proto: no such file (the test's failure)");
      }
      return actual.createGrpcCore(o);
    },
  };
});

/** Whether `port` can be listened on (a connection to see whether it is taken would make the server load). */
function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

describe("the gRPC server's lazy load", () => {
  const errors: unknown[] = [];
  const loaded: number[] = [];
  let server: GrpcServer | undefined;
  // the service's own parts are not reached by these calls (health only)
  const options = (): GrpcServerOptions =>
    ({
      host: "127.0.0.1",
      port: 0,
      maxPayload: 1024 * 1024,
      ready: () => true,
      onError: (e: unknown) => errors.push(e),
      onLoaded: (ms: number) => loaded.push(ms),
    }) as unknown as GrpcServerOptions;
  afterEach(() => {
    server?.kill();
    server = undefined;
    errors.length = 0;
    loaded.length = 0;
    loads.count = 0;
  });

  it("binds at start and loads nothing; close frees the port of a server never loaded", async () => {
    server = await startGrpcServer(options());
    expect(await free(server.port), "bound").toBe(false);
    expect(loads.count, "nothing loaded without a connection").toBe(0);
    await server.close(Date.now() + 1_000);
    expect(await free(server.port)).toBe(true);
    expect(loads.count).toBe(0);
  });

  it("closes the waiting connections when the load fails, says why, and loads on the next connection", async () => {
    server = await startGrpcServer(options());
    loads.failNext = true;
    const socket: Socket = connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    socket.resume(); // reading, it sees the server close it
    await new Promise((r) => socket.once("close", r));
    expect(String(errors[0])).toMatch(/gRPC could not load, 1 connection\(s\) closed: claw\.proto: no such file/);
    expect(loaded).toEqual([]);

    const h = healthClient(`127.0.0.1:${server.port}`);
    try {
      expect(await h.unary("Check", { service: "" }, { deadlineMs: 10_000 })).toMatchObject({ ok: true, value: { status: "SERVING" } });
    } finally {
      h.close();
    }
    expect(loads.count, "loaded again for the next connection").toBe(2);
    expect(loaded).toHaveLength(1);
    expect(errors).toHaveLength(1);
    const port = server.port;
    await server.close(Date.now() + 1_000);
    expect(await free(port), "close frees the port of a loaded server").toBe(true);
  });

  it("kill frees the port whether loaded or not", async () => {
    server = await startGrpcServer(options());
    server.kill();
    expect(await free(server.port)).toBe(true);
    server = await startGrpcServer(options());
    const h = healthClient(`127.0.0.1:${server.port}`);
    expect(await h.unary("Check", { service: "" }, { deadlineMs: 10_000 })).toMatchObject({ ok: true });
    server.kill();
    h.close();
    expect(await free(server.port)).toBe(true);
  });
});
