/**
 * NATS accounts for outside publishers (nats/claw-accounts.conf, included
 * here as the example ships it): a Claw node in account CLAW, a shop in its
 * own account. The shop's messages on claw.in.shop.> are stored (JetStream's
 * ack comes back) and answered on claw.out.shop.>; it cannot publish into
 * another channel, reach claw.ctl.>, read another channel's replies, or use
 * the JetStream API.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, type Envelope } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const ACCOUNTS = fileURLToPath(new URL("../../nats/claw-accounts.conf", import.meta.url));
const port = (url: string) => new URL(url).port;

describe("NATS accounts for outside publishers", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let claw: NatsConnection;
  let shop: NatsConnection;
  beforeAll(async () => {
    // the server resolves the passwords from its environment
    process.env.CLAW_NATS_PASSWORD = "claw-secret";
    process.env.SHOP_NATS_PASSWORD = "shop-secret";
    nats = await natsServer({ partitionMapping: false, extraConfig: await readFile(ACCOUNTS, "utf8") });
    const at = `127.0.0.1:${port(nats.url)}`;
    node = await startClaw({ env: { NATS_URL: `nats://claw:claw-secret@${at}` } });
    claw = await connect({ servers: at, user: "claw", pass: "claw-secret" });
    shop = await connect({ servers: at, user: "shop", pass: "shop-secret" });
  }, 60_000);
  afterAll(async () => {
    await shop?.close();
    await claw?.close();
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it("lets the shop publish into its channel (stored, acked) and read its replies", async () => {
    // partitioned by the mapping in the CLAW account
    expect(node.logs.find((l) => l.msg === "claw node started")?.partitioning).toBe("mapped");
    const replies = shop.subscribe("claw.out.shop.>");
    const got: string[] = [];
    void (async () => {
      for await (const m of replies) got.push(decode<Envelope>(m.data).text ?? "");
    })();
    await shop.flush();
    const ack = await jetstream(shop).publish("claw.in.shop.web.order-7", JSON.stringify({ text: "where is my parcel?", sender: { id: "customer" } }));
    expect(ack.stream).toBe("CLAW_IN");
    const deadline = Date.now() + 10_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(got, node.output().slice(-3000)).toEqual(["where is my parcel?"]);
    // the node logs where it connected, never with the password
    expect(node.output()).toContain("nats://***@127.0.0.1");
    expect(node.output()).not.toContain("claw-secret");
  }, 30_000);

  it("keeps the shop out of every other channel, claw.ctl.> and the JetStream API", async () => {
    const seen: string[] = [];
    const watch = claw.subscribe("claw.>", { callback: (_e, m) => seen.push(m.subject) });
    await claw.flush();
    // into another channel: nothing answers, nothing arrives in CLAW
    await expect(
      jetstream(shop).publish("claw.in.other.web.c1", JSON.stringify({ text: "sneaky", sender: { id: "x" } }), { timeout: 1_500 }),
    ).rejects.toThrow();
    shop.publish("claw.ctl.channels", "{}");
    shop.publish("claw.in.other.web.c2", "{}");
    await expect(shop.request("claw.ctl.cluster", "{}", { timeout: 1_000 })).rejects.toThrow();
    // the shop's account has no JetStream: the API answers so, and Claw's streams stay out of reach
    const names = await shop.request("$JS.API.STREAM.NAMES", "{}", { timeout: 1_000 }).then(
      (m) => m.string(),
      (e: Error) => e.message,
    );
    expect(names).not.toContain("CLAW_");
    expect(names).toMatch(/not enabled|no responders/i);
    // another channel's replies and Claw's control traffic do not reach the shop
    const leaked: string[] = [];
    const spy = shop.subscribe(">", { callback: (_e, m) => leaked.push(m.subject) });
    await shop.flush();
    claw.publish("claw.out.other.web.c1", JSON.stringify({ text: "not yours" }));
    claw.publish("claw.ctl.ping", "{}");
    await claw.flush();
    await new Promise((r) => setTimeout(r, 500));
    expect(leaked.filter((s) => !s.startsWith("_INBOX."))).toEqual([]);
    expect(seen.filter((s) => s.includes(".other.") && s.startsWith("claw.in"))).toEqual([]);
    expect(seen).not.toContain("claw.ctl.channels");
    spy.unsubscribe();
    watch.unsubscribe();
  }, 30_000);
});
