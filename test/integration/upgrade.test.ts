/**
 * A rolling upgrade: a node of the previous version (built here from git)
 * serves traffic; a node of this version starts beside it; the old one is
 * stopped (SIGTERM) and the new one serves on — while messages keep coming,
 * every one is answered exactly once and every session keeps its history.
 * The previous version is the commit PREVIOUS names (the last one of the
 * previous release; raise it with each release).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { BUCKETS, decode, encode, sessionKey, type Envelope } from "../../src/bus/index.js";
import { skipWithout } from "../support/ci.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { until } from "../support/until.js";

/** The version before this one. */
const PREVIOUS = "bc512e2e06821fa4003f6d412eb5ebc68ce12126";
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Why PREVIOUS cannot be built from this checkout, if it cannot. */
const previousMissing =
  spawnSync("git", ["-C", ROOT, "cat-file", "-e", `${PREVIOUS}^{commit}`]).status === 0
    ? undefined
    : `the previous version's commit ${PREVIOUS.slice(0, 7)} is not in this checkout (a shallow clone? \`git fetch --unshallow\`, as .ci/run does)`;

/** Builds PREVIOUS into a temp worktree. */
async function buildPrevious(): Promise<{ dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "claw-previous-"));
  const add = spawnSync("git", ["-C", ROOT, "worktree", "add", "--detach", "--force", dir, PREVIOUS], { encoding: "utf8" });
  if (add.status !== 0) throw new Error(`git worktree add: ${add.stderr}`);
  // its dependencies are a subset of this version's
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
  const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], { encoding: "utf8", cwd: dir });
  if (tsc.status !== 0) throw new Error(`building ${PREVIOUS.slice(0, 7)}: ${tsc.stdout}${tsc.stderr}`);
  const assets = spawnSync(process.execPath, ["scripts/copy-ui-assets.mjs"], { encoding: "utf8", cwd: dir });
  if (assets.status !== 0) throw new Error(`copying its assets: ${assets.stderr}`);
  return { dir };
}

describe("a rolling upgrade", () => {
  const noPrevious = skipWithout("upgrade: the rolling upgrade from the previous version", previousMissing);
  let previous: { dir: string } | undefined;
  let nats: NatsServerProcess;
  beforeAll(async () => {
    if (!noPrevious) previous = await buildPrevious();
    nats = await natsServer();
  }, 180_000);
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
    if (previous) {
      spawnSync("git", ["-C", ROOT, "worktree", "remove", "--force", previous.dir]);
      await rm(previous.dir, { recursive: true, force: true });
    }
  });

  it.skipIf(noPrevious)(
    "loses nothing and answers once while the old node hands over to the new one",
    async () => {
      const script = join(previous!.dir, "dist/node.js");
      expect(existsSync(script)).toBe(true);
      await using c = await client(nats.url);
      const replies: Envelope[] = [];
      const sub = c.nc.subscribe("claw.out.>", { callback: (_e, m) => replies.push(decode<Envelope>(m.data)) });
      await using old = await startClaw({ script, env: { NATS_URL: nats.url, CLAW_NODE_ID: "old" } });
      const CHATS = 20;
      let sent = 0;
      const send = async () => {
        const i = sent++;
        await c.js.publish(
          `claw.in.up.a.chat-${i % CHATS}`,
          new TextEncoder().encode(JSON.stringify({ id: `m-${i}`, text: `message ${i}`, sender: { id: "u" } })),
          { msgID: `m-${i}` },
        );
      };
      for (let i = 0; i < 40; i++) await send();
      // a conversation the old node had, to be continued by the new one
      for (const k of ["kept 1", "kept 2"])
        await c.js.publish("claw.in.up.a.kept", new TextEncoder().encode(JSON.stringify({ id: k, text: k, sender: { id: "u" } })), { msgID: k });
      await until(() => replies.length >= 42, "the old node's replies");
      // traffic goes on through the upgrade
      let sending = true;
      const load = (async () => {
        while (sending) {
          await send();
          await new Promise((r) => setTimeout(r, 15));
        }
      })();
      await using fresh = await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "new" } });
      await until(() => fresh.logs.some((l) => l.msg === "assignment.applied" && Number(l.owned) > 0), "the new node taking partitions", 20_000);
      expect(await old.kill("SIGTERM")).toBe(0);
      await new Promise((r) => setTimeout(r, 1_500));
      sending = false;
      await load;
      await until(() => new Set(replies.map((r) => r.replyTo)).size >= sent, `${sent} replies`, 30_000);
      await new Promise((r) => setTimeout(r, 1_000));
      const ids = replies.filter((r) => r.chat !== "kept").map((r) => r.replyTo!);
      expect(new Set(ids).size).toBe(sent);
      expect(ids.length, "no reply twice").toBe(sent);
      // each chat's replies in the order of its messages
      for (let chat = 0; chat < CHATS; chat++) {
        const order = replies.filter((r) => r.chat === `chat-${chat}`).map((r) => Number(r.replyTo!.slice(2)));
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
      // both versions answered, and the new one keeps the history the old one saved
      expect(replies.some((r) => r.v === undefined)).toBe(true);
      expect(replies.some((r) => r.v === 1)).toBe(true);
      await c.js.publish("claw.in.up.a.kept", new TextEncoder().encode(JSON.stringify({ id: "history", text: "/history", sender: { id: "u" } })), {
        msgID: "history",
      });
      await until(() => replies.some((r) => r.replyTo === "history"), "the history");
      const history = replies.find((r) => r.replyTo === "history")!;
      expect(history.v).toBe(1);
      expect(history.text).toContain("kept 1");
      expect(history.text).toContain("kept 2");
      sub.unsubscribe();
    },
    180_000,
  );

  it("leaves a session saved by a newer version alone instead of overwriting it", async () => {
    await using c = await client(nats.url);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_NODE_ID: "older", CLAW_MAX_DELIVER: "2", CLAW_RETRY_BASE_MS: "100", CLAW_RETRY_MAX_MS: "200" },
    });
    void node;
    const kv = await new Kvm(c.js).open(BUCKETS.sessions);
    const key = sessionKey("echo", "up:a:future");
    const future = encode({ v: 2, snapshot: { value: "idle", context: { shapeOfTheFuture: true } } });
    await kv.put(key, future);
    await c.js.publish("claw.in.up.a.future", new TextEncoder().encode(JSON.stringify({ id: "to-the-future", text: "hello", sender: { id: "u" } })), {
      msgID: "to-the-future",
    });
    const dead = await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.msgId === "to-the-future"), 20_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${node.output().slice(-3000)}`);
    });
    expect(dead.find((d) => d.msgId === "to-the-future")!.lastError ?? dead.find((d) => d.msgId === "to-the-future")!.reason).toMatch(
      /snapshot format 2 by a newer Claw/,
    );
    const after = await kv.get(key);
    expect(Buffer.from(after!.value).equals(Buffer.from(future))).toBe(true);
  }, 60_000);
});
