/**
 * gRPC over TLS, and mutual TLS: with `CLAW_GRPC_TLS_CERT`/`_KEY` a client
 * that trusts the CA gets in and a plaintext one does not; with
 * `CLAW_GRPC_TLS_CA` only a client presenting a certificate that CA signed
 * does. Certificates are made for the test with openssl; settings that
 * cannot work stop the start naming the variable (checked at start, though
 * gRPC's libraries load only on the first connection).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipWithout } from "../support/ci.js";
import { runClawExpectingFailure, startClaw, type ClawProcess } from "../support/claw-node.js";
import { clawClient, status } from "../support/grpc-client.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const noOpenssl = spawnSync("openssl", ["version"]).error ? "openssl is not installed (apt-get install openssl)" : undefined;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by the CA, as PEM files in `dir`. */
async function makeCertificates(dir: string): Promise<Record<"ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey", string>> {
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=claw test CA");
  await writeFile(f("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const who of ["server", "client"]) {
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f(`${who}.key`), "-out", f(`${who}.csr`), "-subj", `/CN=claw test ${who}`);
    const ext = who === "server" ? ["-extfile", f("server.ext")] : [];
    ssl("x509", "-req", "-in", f(`${who}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f(`${who}.pem`), "-days", "2", ...ext);
  }
  return { ca: f("ca.pem"), serverCert: f("server.pem"), serverKey: f("server.key"), clientCert: f("client.pem"), clientKey: f("client.key") };
}

describe.skipIf(skipWithout("gRPC over TLS", noOpenssl))("gRPC over TLS", () => {
  let dir: string;
  let nats: NatsServerProcess;
  let pems: Awaited<ReturnType<typeof makeCertificates>>;
  let tls: ClawProcess;
  let mtls: ClawProcess;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "claw-grpc-tls-"));
    pems = await makeCertificates(dir);
    nats = await natsServer();
    const env = { NATS_URL: nats.url, CLAW_GRPC_TLS_CERT: pems.serverCert, CLAW_GRPC_TLS_KEY: pems.serverKey };
    tls = await startClaw({ env });
    mtls = await startClaw({ env: { ...env, CLAW_GRPC_TLS_CA: pems.ca } });
  }, 60_000);
  afterAll(async () => {
    await tls?.[Symbol.asyncDispose]();
    await mtls?.[Symbol.asyncDispose]();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves a client that trusts its CA, not a plaintext one", async () => {
    const ca = await readFile(pems.ca);
    const secure = clawClient(`127.0.0.1:${tls.grpcPort}`, credentials.createSsl(ca));
    const plain = clawClient(`127.0.0.1:${tls.grpcPort}`);
    try {
      expect(await secure.unary("Invoke", { agent: "echo", text: "over tls" }, { deadlineMs: 20_000 })).toMatchObject({
        ok: true,
        value: { text: "over tls" },
      });
      const r = await plain.unary("Invoke", { agent: "echo", text: "x" }, { deadlineMs: 5_000 });
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error.code).toBe(status.UNAVAILABLE);
    } finally {
      secure.close();
      plain.close();
    }
  }, 60_000);

  it("with CLAW_GRPC_TLS_CA, serves only a client presenting a certificate the CA signed", async () => {
    const ca = await readFile(pems.ca);
    const withCert = clawClient(`127.0.0.1:${mtls.grpcPort}`, credentials.createSsl(ca, await readFile(pems.clientKey), await readFile(pems.clientCert)));
    const without = clawClient(`127.0.0.1:${mtls.grpcPort}`, credentials.createSsl(ca));
    try {
      expect(await withCert.unary("Invoke", { agent: "echo", text: "mutual" }, { deadlineMs: 20_000 })).toMatchObject({ ok: true, value: { text: "mutual" } });
      const r = await without.unary("Invoke", { agent: "echo", text: "x" }, { deadlineMs: 5_000 });
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error.code).toBe(status.UNAVAILABLE);
    } finally {
      withCert.close();
      without.close();
    }
  }, 60_000);

  it("stops the start naming the setting for a certificate without its key, or one it cannot read", async () => {
    const alone = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_GRPC_TLS_CERT: pems.serverCert });
    expect(alone.code, "a configuration error").toBe(2);
    expect(alone.output).toContain("claw: CLAW_GRPC_TLS_CERT and CLAW_GRPC_TLS_KEY go together");
    const unreadable = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_GRPC_TLS_CERT: join(dir, "nothing.pem"), CLAW_GRPC_TLS_KEY: pems.serverKey });
    expect(unreadable.code).toBe(1);
    expect(unreadable.output).toContain(`claw: CLAW_GRPC_TLS_CERT: cannot read ${join(dir, "nothing.pem")}`);
  }, 60_000);

  // gRPC's libraries load on the first connection: the PEMs are checked at start all the same, and the message names the setting
  it("stops the start naming the setting for a key that is not the certificate's, or a CA that is not a certificate", async () => {
    const mismatch = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_GRPC_TLS_CERT: pems.serverCert, CLAW_GRPC_TLS_KEY: pems.clientKey });
    expect(mismatch.code).toBe(1);
    expect(mismatch.output).toMatch(/claw: CLAW_GRPC_TLS_CERT, CLAW_GRPC_TLS_KEY: not a PEM certificate and its key: .*key values mismatch/);
    const notCa = await runClawExpectingFailure({
      NATS_URL: nats.url,
      CLAW_GRPC_TLS_CERT: pems.serverCert,
      CLAW_GRPC_TLS_KEY: pems.serverKey,
      CLAW_GRPC_TLS_CA: pems.clientKey,
    });
    expect(notCa.code).toBe(1);
    expect(notCa.output).toContain(`claw: CLAW_GRPC_TLS_CA: ${pems.clientKey} is not a PEM certificate`);
  }, 60_000);
});
