/**
 * deploy/compose.yaml and nats/compose.conf: three NATS servers in one
 * JetStream cluster (each configuration checked by nats-server itself),
 * three Claw nodes that know all three and replicate R3, read-only with a
 * tmpfs /tmp, started once the servers are healthy; `docker compose config`
 * checks the file too (CI installs docker-compose; elsewhere that check is
 * skipped with a warning when it is absent, and under CI its absence fails).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { findNatsServerBinary } from "../../src/bus/index.js";
import { skipWithout } from "../support/ci.js";

const FILE = fileURLToPath(new URL("../../deploy/compose.yaml", import.meta.url));
const compose = parse(readFileSync(FILE, "utf8"), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      build?: { context: string; dockerfile: string };
      command?: string[];
      environment?: Record<string, string>;
      volumes?: string[];
      healthcheck?: unknown;
      depends_on?: Record<string, { condition: string }>;
      read_only?: boolean;
      tmpfs?: string[];
      ports?: string[];
    }
  >;
};
const services = Object.entries(compose.services);
const nats = services.filter(([name]) => name.startsWith("nats-"));
const claw = services.filter(([name]) => name.startsWith("claw-"));

describe("the compose file", () => {
  it("runs a 3-server NATS cluster made of the file's servers", () => {
    expect(nats.map(([n]) => n)).toEqual(["nats-1", "nats-2", "nats-3"]);
    for (const [name, s] of nats) {
      expect(s.environment?.NATS_SERVER_NAME).toBe(name);
      expect(s.healthcheck).toBeDefined();
      const mount = s.volumes!.find((v) => v.endsWith(":/etc/nats/compose.conf:ro"))!;
      const conf = resolve(dirname(FILE), mount.split(":")[0]!);
      expect(existsSync(conf), conf).toBe(true);
      const text = readFileSync(conf, "utf8");
      // routes to every server of the file, and Claw's partition mapping
      for (const [other] of nats) expect(text).toContain(`nats-route://${other}:6222`);
      expect(text).toContain('"claw.in.*.*.*": "claw.in.{{partition(64,1,2,3)}}');
    }
  });

  const bin = findNatsServerBinary();
  it.skipIf(skipWithout("deploy-compose: nats-server -t", bin ? undefined : "nats-server is not installed (apt-get install nats-server)"))(
    "gives each server a configuration nats-server accepts",
    () => {
      for (const [name, s] of nats) {
        const conf = resolve(dirname(FILE), s.volumes!.find((v) => v.endsWith(":/etc/nats/compose.conf:ro"))!.split(":")[0]!);
        const r = spawnSync(bin!, ["-c", conf, "-t"], { encoding: "utf8", env: { ...process.env, NATS_SERVER_NAME: name } });
        expect(`${r.stdout}${r.stderr}`).toContain("is valid");
      }
    },
  );

  it("runs three identical Claw nodes on all three servers, R3, read-only", () => {
    expect(claw.map(([n]) => n)).toEqual(["claw-1", "claw-2", "claw-3"]);
    const ports = new Set<string>();
    for (const [name, s] of claw) {
      expect(s.environment?.NATS_URL?.split(",").sort()).toEqual(nats.map(([n]) => `nats://${n}:4222`));
      expect(s.environment?.CLAW_REPLICAS).toBe("3");
      expect(s.environment?.CLAW_NODE_ID).toBe(name);
      expect(s.read_only).toBe(true);
      expect(s.tmpfs).toContain("/tmp");
      expect(
        Object.entries(s.depends_on ?? {})
          .map(([k, v]) => `${k}:${v.condition}`)
          .sort(),
      ).toEqual(nats.map(([n]) => `${n}:service_healthy`));
      expect(existsSync(resolve(dirname(FILE), s.build!.context, s.build!.dockerfile))).toBe(true);
      for (const p of s.ports ?? []) ports.add(p.split(":")[0]!);
      // HTTP and gRPC, each on a host port of its own
      expect((s.ports ?? []).map((p) => p.split(":")[1]).sort()).toEqual(["50051", "8080"]);
    }
    expect(ports.size).toBe(6);
  });

  const noCompose = spawnSync("docker-compose", ["version"], { encoding: "utf8" }).error
    ? "docker-compose is not installed (apt-get install --no-install-recommends docker-compose)"
    : undefined;
  it.skipIf(skipWithout("deploy-compose: docker-compose config", noCompose))("passes docker compose config", () => {
    const r = spawnSync("docker-compose", ["-f", FILE, "config", "-q"], { encoding: "utf8" });
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
  });
});
