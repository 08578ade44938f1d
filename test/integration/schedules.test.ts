/**
 * Schedules with real nodes on a real nats-server: `every`, `cron` and `at`
 * schedules made over HTTP fire once per occurrence (each an inbound message
 * `<schedule id>:<occurrence>` from `schedule:<id>`, answered once by the
 * chat's agent); a DELETE stops one; the node firing is SIGKILLed mid-run
 * and the other fires on with no occurrence lost or doubled; a node killed
 * between a publish and its record has its occurrence published again by
 * the next leader and dropped by JetStream as a duplicate; after every node
 * was down, `missed: "once"` fires one catch-up and `"skip"` none; and an
 * agent on an OpenAI-compatible model schedules a reminder with its
 * `schedule.create` tool call and answers it when it comes.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { BUCKETS, decode, STREAMS, transcriptSubject } from "../../src/bus/index.js";
import { currentLeader } from "../../src/supervisors/leader-lease.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, type ReplyCollector } from "../support/replies.js";
import { until } from "../support/until.js";

const FAST = { CLAW_LEASE_TTL_MS: "1500", CLAW_MEMBER_TTL_MS: "1500" };

async function api(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function schedule(port: number, chat: string, when: Record<string, unknown>): Promise<{ id: string; next: string | null; created: string }> {
  const r = await api(port, "POST", "/v1/schedules", { address: { channel: "t", account: "a", chat }, text: `tick ${chat}`, ...when });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json;
}

/** The occurrences (ms) the replies of schedule `id` answer, in stream order. */
const occurrences = (out: ReplyCollector, id: string) =>
  out.replies.filter((r) => r.replyTo?.startsWith(`${id}:`)).map((r) => Date.parse(r.replyTo!.slice(id.length + 1)));

/** Every step between consecutive values is `step`: none lost, none doubled. */
function expectConsecutive(list: number[], step: number): void {
  expect(list.slice(1).map((t, i) => t - list[i]!)).toEqual(list.slice(1).map(() => step));
}

async function leaderOf(c: TestClient): Promise<string | undefined> {
  return currentLeader(await new Kvm(c.js).open(BUCKETS.lease));
}

describe("schedules", () => {
  it("fires every, cron and at schedules once per occurrence, as schedule:<id>, and stops one on DELETE", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using node = await startClaw({ env: { NATS_URL: nats.url, ...FAST } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const every = await schedule(node.httpPort, "e", { every: "1s" });
    const cron = await schedule(node.httpPort, "c", { cron: "*/2 * * * * *", tz: "Europe/Berlin" });
    const atTime = new Date(Date.now() + 1_500).toISOString();
    const at = await schedule(node.httpPort, "o", { at: atTime });
    expect(every.next).toBe(new Date(Date.parse(every.created) + 1_000).toISOString());
    expect(at.next).toBe(atTime);
    expect(Date.parse(cron.next!) % 2_000).toBe(0);

    await until(() => occurrences(out, every.id).length >= 5 && occurrences(out, cron.id).length >= 3, "five every and three cron occurrences", 20_000);
    expect(occurrences(out, at.id)).toEqual([Date.parse(atTime)]);
    // a one-time schedule is gone once it fired
    expect((await api(node.httpPort, "GET", `/v1/schedules/${at.id}`)).status).toBe(404);
    const e = occurrences(out, every.id);
    expect(e[0]).toBe(Date.parse(every.created) + 1_000);
    expectConsecutive(e, 1_000);
    const cr = occurrences(out, cron.id);
    expect(cr.every((t) => t % 2_000 === 0)).toBe(true);
    expectConsecutive(cr, 2_000);
    // the message the agent was given: from schedule:<id>, with metadata.schedule
    const entry = await c.jsm.streams.getMessage(STREAMS.transcripts, { last_by_subj: transcriptSubject("echo", "t:a:o") });
    const user = decode<{ user: { id: string; sender: { id: string }; text: string; metadata: Record<string, unknown> } }>(entry!.data).user;
    expect(user).toMatchObject({ id: `${at.id}:${atTime}`, sender: { id: `schedule:${at.id}` }, text: "tick o", metadata: { schedule: { id: at.id } } });

    // claw inspect says what the chat's session will be sent
    const inspected = await runCli(["inspect", "echo", "t:a:c"], { NATS_URL: nats.url });
    expect(inspected.stdout).toContain(`schedule  ${cron.id} cron */2 * * * * * Europe/Berlin, next `);
    const listed = await api(node.httpPort, "GET", "/v1/schedules");
    expect(listed.json.schedules.map((s: { id: string }) => s.id).sort()).toEqual([every.id, cron.id].sort());
    expect((await api(node.httpPort, "DELETE", `/v1/schedules/${every.id}`)).status).toBe(204);
    const deletedAt = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(occurrences(out, every.id).filter((t) => t > deletedAt)).toEqual([]);
    expect((await api(node.httpPort, "DELETE", `/v1/schedules/${every.id}`)).status).toBe(404);
    expect(occurrences(out, cron.id).length).toBeGreaterThan(cr.length);
    out.stop();
  }, 60_000);

  it("refuses what is not a schedule, naming the field", async () => {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const address = { channel: "t", account: "a", chat: "x" };
    const refused = async (body: Record<string, unknown>) => {
      const r = await api(node.httpPort, "POST", "/v1/schedules", { address, text: "hi", ...body });
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      return r.json.error as { field?: string; message: string };
    };
    expect((await refused({ cron: "61 * * * *" })).field).toBe("cron");
    expect((await refused({ cron: "0 9 * * *", tz: "Mars/Olympus" })).field).toBe("tz");
    expect((await refused({ at: "2001-01-01T00:00:00Z" })).message).toBe("at: is in the past");
    expect((await refused({ at: "tomorrow" })).field).toBe("at");
    expect((await refused({ every: "500ms" })).message).toBe("every: at least 1000 ms");
    expect((await refused({ every: "1s", cron: "* * * * *" })).field).toBe("cron");
    expect((await refused({})).field).toBe("at");
    expect((await refused({ every: "1s", evry: 1 })).message).toContain("did you mean every?");
    expect((await api(node.httpPort, "GET", "/v1/schedules/scnope")).status).toBe(404);

    // claw schedules ls | rm, on the same bucket
    const s = await schedule(node.httpPort, "x", { cron: "0 9 * * 1-5", tz: "Europe/Berlin" });
    const env = { NATS_URL: nats.url };
    const ls = await runCli(["schedules", "ls"], env);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`${s.id}\\s+t/a/x\\s+cron 0 9 \\* \\* 1-5 Europe/Berlin\\s+${s.next}\\s+tick x`));
    expect(JSON.parse((await runCli(["schedules", "ls", "--json"], env)).stdout).schedules[0]).toMatchObject({ id: s.id, tz: "Europe/Berlin" });
    expect(await runCli(["schedules", "rm", s.id], env)).toMatchObject({ code: 0 });
    expect((await api(node.httpPort, "GET", `/v1/schedules/${s.id}`)).status).toBe(404);
    const again = await runCli(["schedules", "rm", s.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no schedule ${s.id}`);
  }, 60_000);

  it("fires on when the node firing is SIGKILLed mid-run: no occurrence lost or doubled", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, ...FAST };
    const first = await startClaw({ env: { ...env, CLAW_NODE_ID: "first" } });
    for (let i = 0; i < 100 && (await leaderOf(c)) !== "first"; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await leaderOf(c)).toBe("first");
    await using second = await startClaw({ env: { ...env, CLAW_NODE_ID: "second" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const s = await schedule(second.httpPort, "k", { every: "1s" });
    await until(() => occurrences(out, s.id).length >= 3, "three occurrences", 15_000);
    await first.kill("SIGKILL");
    const killedAt = Date.now();
    // the second node takes the lease over and fires what came due meanwhile, then on
    await until(() => occurrences(out, s.id).some((t) => t > killedAt + 3_000), "occurrences after the kill", 20_000);
    expect((await api(second.httpPort, "DELETE", `/v1/schedules/${s.id}`)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 1_500));
    const all = occurrences(out, s.id);
    expect(all[0]).toBe(Date.parse(s.created) + 1_000);
    expectConsecutive(all, 1_000);
    // each node fired some of them: the first until it died, the second after
    const firedBy = (n: ClawProcess) => n.logs.filter((l) => l.msg === "schedule.fired" && l.schedule === s.id).map((l) => Date.parse(String(l.occurrence)));
    expect(firedBy(first).length).toBeGreaterThan(0);
    expect(Math.min(...firedBy(second))).toBeGreaterThan(Math.max(...firedBy(first)) - 1);
    out.stop();
  }, 60_000);

  it("drops the occurrence a dying node published and did not record: the next leader's publish is a duplicate", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, ...FAST };
    const first = await startClaw({ env: { ...env, CLAW_NODE_ID: "first", CLAW_FAILPOINTS: "schedule.after-publish" } });
    for (let i = 0; i < 100 && (await leaderOf(c)) !== "first"; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await leaderOf(c)).toBe("first");
    await using second = await startClaw({ env: { ...env, CLAW_NODE_ID: "second" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const atTime = new Date(Date.now() + 1_000).toISOString();
    const s = await schedule(second.httpPort, "d", { at: atTime });
    const signal = await new Promise((r) => first.child.once("exit", (_c, sig) => r(sig)));
    expect(signal).toBe("SIGKILL");
    expect(first.output()).toContain("failpoint schedule.after-publish reached");
    const [fired] = await second.waitForLogs((l) => l.msg === "schedule.fired" && l.schedule === s.id, 1, 20_000);
    expect(fired).toMatchObject({ occurrence: atTime, duplicate: true });
    await until(() => occurrences(out, s.id).length >= 1, "the occurrence's reply", 15_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(occurrences(out, s.id)).toEqual([Date.parse(atTime)]);
    expect((await api(second.httpPort, "GET", `/v1/schedules/${s.id}`)).status).toBe(404);
    out.stop();
  }, 60_000);

  it("after every node was down: missed once fires one catch-up, skip none", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, ...FAST, CLAW_SCHEDULE_GRACE_MS: "1000" };
    const first = await startClaw({ env });
    const atTime = new Date(Date.now() + 2_000).toISOString();
    const once = await schedule(first.httpPort, "m1", { at: atTime, missed: "once" });
    const skip = await schedule(first.httpPort, "m2", { at: atTime, missed: "skip" });
    const every = await schedule(first.httpPort, "m3", { every: "1s", missed: "skip" });
    await first.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, Date.parse(atTime) + 3_000 - Date.now()));
    const out = await collectStreamReplies(c.js, c.jsm);
    const restartedAt = Date.now();
    await using second = await startClaw({ env });
    await until(() => occurrences(out, once.id).length === 1, "the catch-up", 20_000);
    await until(() => occurrences(out, every.id).length >= 2, "the every schedule again", 20_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(occurrences(out, once.id)).toEqual([Date.parse(atTime)]);
    expect(occurrences(out, skip.id)).toEqual([]);
    // skip: what came due while no node ran (more than the grace ago) is not fired
    expect(occurrences(out, every.id).every((t) => t >= restartedAt - 1_000)).toBe(true);
    for (const id of [once.id, skip.id]) expect((await api(second.httpPort, "GET", `/v1/schedules/${id}`)).status).toBe(404);
    out.stop();
  }, 60_000);

  it("lets an agent schedule for itself with its schedule.create tool call", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using fake = await startFakeOpenAI();
    let at = "";
    fake.answer = (req) => {
      const user = lastUser(req);
      if (user === "stretch!") return { text: "time to stretch" };
      const tool = req.messages.find((m) => m.role === "tool");
      if (tool) return { text: `scheduled: ${tool.content}` };
      at = new Date(Date.now() + 1_500).toISOString();
      return { toolCalls: [{ name: "schedule__create", arguments: JSON.stringify({ text: "stretch!", at }) }] };
    };
    const path = join(tmpdir(), `claw-schedules-${process.pid}.json`);
    const agent = { id: "coach", model: "m", skills: ["schedule.create", "schedule.list", "schedule.cancel"], bindings: [{ channel: "t" }] };
    await writeFile(path, JSON.stringify({ providers: { m: { baseURL: fake.baseURL, model: "m", apiKeyEnv: "FAKE_KEY" } }, agents: [agent] }));
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path, FAKE_KEY: "sk-test" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish(
      "claw.in.t.a.me",
      new TextEncoder().encode(JSON.stringify({ id: "r-1", text: "remind me in a moment to stretch", sender: { id: "u" } })),
    );
    const first = await out.waitFor("r-1", 15_000);
    const made = JSON.parse(first.text!.replace(/^scheduled: /, "")) as { id: string; at: string };
    expect(made.at).toBe(at);
    // the tool offered the model its schedule skills under their OpenAI names
    expect(fake.requests[0]!.tools!.map((t) => t.function.name)).toEqual(["schedule__create", "schedule__list", "schedule__cancel"]);
    const reminder = await out.waitFor(`${made.id}:${at}`, 15_000);
    expect(reminder).toMatchObject({ chat: "me", text: "time to stretch" });
    expect((await api(node.httpPort, "GET", `/v1/schedules/${made.id}`)).status).toBe(404);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(out.replies.filter((r) => r.replyTo?.startsWith(made.id))).toHaveLength(1);
    out.stop();
  }, 60_000);
});
