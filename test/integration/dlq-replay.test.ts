/**
 * Where a dead letter may be replayed (F4): the red team planted the bytes of
 * an operator key's record in `CLAW_DLQ` and replayed them to
 * `$KV.claw_auth.key.<id>`, which made a working `*` key. Over HTTP and with
 * `claw dlq replay`, a replay goes only to inbound, a session's mailbox or the
 * letter's own kind — whether the target is `to` or the letter's (plantable)
 * original-subject header.
 */
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeyStore } from "../../src/auth/index.js";
import { BUCKETS, H, toHeaders } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";

describe("replaying dead letters", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let c: TestClient;
  let admin: string;
  beforeAll(async () => {
    nats = await natsServer();
    // credentials checked on loopback too: a forged key would be let in, a purged one not
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_AUTH: "required" } });
    c = await client(nats.url);
    admin = (await apiKeyStore(await new Kvm(c.js).open(BUCKETS.auth)).create({ scopes: ["dlq:admin"], name: "dlq operator" })).key;
    await new Promise((r) => setTimeout(r, 500)); // in the node's watch of the keys
  }, 60_000);
  afterAll(async () => {
    await c?.[Symbol.asyncDispose]();
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
  };

  /** An operator key's record, its key purged again (the key does not work). */
  async function forgedRecord(): Promise<{ id: string; forged: string; record: Uint8Array }> {
    const kv = await new Kvm(c.js).open(BUCKETS.auth);
    const made = await apiKeyStore(kv).create({ scopes: ["*"], name: "to be forged" });
    const record = (await kv.get(`key.${made.id}`))!.value;
    await kv.purge(`key.${made.id}`);
    return { id: made.id, forged: made.key, record };
  }

  /** A dead letter of those bytes, as someone who may publish to claw.dlq.> plants it, naming its "original subject". */
  async function plant(record: Uint8Array, originalSubject: string): Promise<number> {
    const ack = await c.js.publish("claw.dlq.ingress", record, {
      headers: toHeaders({ [H.dlq.stage]: "ingress", [H.dlq.code]: "invalid_envelope", [H.dlq.subject]: originalSubject }),
    });
    return ack.seq;
  }

  const keyExists = async (id: string) => {
    const e = await (await new Kvm(c.js).open(BUCKETS.auth)).get(`key.${id}`);
    return e !== null && e.operation === "PUT";
  };

  it("refuses a replay into JetStream's KV over HTTP, by `to` or by a planted original subject, and the forged key never works", async () => {
    const a = await forgedRecord();
    expect((await call("GET", "/v1/agents", a.forged)).status, "the purged key does not work").toBe(401);
    const seq = await plant(a.record, "claw.in.t.a.x");
    const byTo = await call("POST", `/v1/dlq/${seq}/replay`, admin, { to: `$KV.${BUCKETS.auth}.key.${a.id}` });
    expect(byTo.status).toBe(400);
    expect(byTo.json.error).toMatchObject({ code: "replay_target_refused", field: "to" });
    expect(await keyExists(a.id)).toBe(false);

    // the header names the target; the replay takes it when there is no `to`
    const b = await forgedRecord();
    const planted = await plant(b.record, `$KV.${BUCKETS.auth}.key.${b.id}`);
    const byHeader = await call("POST", `/v1/dlq/${planted}/replay`, admin, {});
    expect(byHeader.status).toBe(400);
    expect(byHeader.json.error.code).toBe("replay_target_refused");
    expect(await keyExists(b.id)).toBe(false);
    await new Promise((r) => setTimeout(r, 500)); // a key written would be in the node's watch by now
    expect((await call("GET", "/v1/agents", a.forged)).status).toBe(401);
    expect((await call("GET", "/v1/agents", b.forged)).status).toBe(401);

    // nothing outside inbound, the sessions' mailboxes and the letter's own kind
    for (const to of [
      "$JS.API.STREAM.DELETE.CLAW_IN",
      "$SYS.REQ.SERVER.PING",
      "claw.ctl.skill-cancel",
      "claw.out.t.a.c",
      "claw.audit.http",
      "claw.skill.bash.invoke",
      "claw.in.shop.a.b.c",
      "claw.in.*.a.b",
      "_INBOX.x",
    ]) {
      const r = await call("POST", `/v1/dlq/${seq}/replay`, admin, { to, keep: true });
      expect(r.status, to).toBe(400);
      expect(r.json.error.code, to).toBe("replay_target_refused");
    }
    // and a letter still goes where a node reads it: inbound
    const ok = await call("POST", `/v1/dlq/${seq}/replay`, admin, { to: "claw.in.t.a.replayed" });
    expect(ok).toMatchObject({ status: 200, json: { subject: "claw.in.t.a.replayed" } });
  }, 60_000);

  it("refuses the same with `claw dlq replay`", async () => {
    const a = await forgedRecord();
    const seq = await plant(a.record, "claw.in.t.a.y");
    const byTo = await runCli(["dlq", "replay", String(seq), "--to", `$KV.${BUCKETS.auth}.key.${a.id}`], { NATS_URL: nats.url });
    expect(byTo.code).toBe(1);
    expect(byTo.stderr).toContain(`cannot replay to "$KV.${BUCKETS.auth}.key.${a.id}"`);
    expect(await keyExists(a.id)).toBe(false);

    const planted = await plant(a.record, `$KV.${BUCKETS.auth}.key.${a.id}`);
    const all = await runCli(["dlq", "replay", "--all", "--stage", "ingress"], { NATS_URL: nats.url });
    expect(all.code).toBe(1);
    expect(all.stderr).toContain(`not replayed ${planted}: cannot replay to "$KV.${BUCKETS.auth}.key.${a.id}"`);
    expect(await keyExists(a.id)).toBe(false);
    expect((await call("GET", "/v1/agents", a.forged)).status).toBe(401);
  }, 60_000);
});
