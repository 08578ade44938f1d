/**
 * Tool approvals with real nodes and a real nats-server, the scripted model
 * calling `echo` (which the agent's `approve` holds back): the turn waits in
 * `acting.approving` until a human decides — over HTTP or from the chat — and
 * then runs the tool (approved) or tells the model why not (denied, timed
 * out); each decision counts once; and the waiting turn survives the SIGKILL
 * of its node.
 */
import { createHmac } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { createSessionStore } from "../../src/actors/index.js";
import { BUCKETS, sessionKey } from "../../src/bus/index.js";
import { findLiveSession } from "../../src/cli/inspect.command.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI } from "../support/fake-openai.js";
import { channelConfig } from "../support/channels.js";
import { startFakeTelegram } from "../support/fake-telegram.js";
import { messageEvent, sendSlackEvent, startFakeSlack } from "../support/fake-slack.js";
import { until } from "../support/until.js";
import { client, natsServer, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody, type ReplyCollector } from "../support/replies.js";

interface ApprovalView {
  id: string;
  agent: string;
  session: string;
  skill: string;
  input: unknown;
  requestedAt: string;
  expiresAt: string;
  status: string;
}

async function configFile(agents: unknown[]): Promise<string> {
  const path = join(tmpdir(), `claw-approvals-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify({ agents }));
  return path;
}

/** `a` answers the `t` channel; its `echo` calls wait for a decision, which `boss` may give from the chat. */
const gated = (extra: Record<string, unknown> = {}) => ({
  id: "a",
  skills: ["echo"],
  approve: ["echo"],
  approvers: ["boss"],
  bindings: [{ channel: "t" }],
  ...extra,
});
const callEcho = (text: string) => `/tool echo ${JSON.stringify({ text })}`;

const api = (claw: ClawProcess) => ({
  list: async (query = "") => (await (await fetch(`http://127.0.0.1:${claw.httpPort}/v1/approvals${query}`)).json()) as { approvals: ApprovalView[] },
  decide: (id: string, body: unknown) =>
    fetch(`http://127.0.0.1:${claw.httpPort}/v1/approvals/${id}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
});

/** The state the session's snapshot is in, as a node would load it. */
async function storedState(c: TestClient, agent: string, session: string): Promise<string | undefined> {
  const store = createSessionStore(await new Kvm(c.js).open(BUCKETS.sessions), { jsm: c.jsm });
  const { snapshot } = await store.load(sessionKey(agent, session));
  return snapshot ? JSON.stringify((snapshot as { value?: unknown }).value) : undefined;
}

/** Waits until the session's turn waits for a decision (persisted), and returns its one pending approval. */
async function untilApproving(c: TestClient, claw: ClawProcess, session: string): Promise<ApprovalView> {
  for (let i = 0; ; i++) {
    const { approvals } = await api(claw).list(`?agent=a&session=${encodeURIComponent(session)}`);
    if (approvals.length === 1 && (await storedState(c, "a", session)) === '{"acting":"approving"}') return approvals[0]!;
    if (i > 400) throw new Error(`the turn never waited for approval (${approvals.length} pending)`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The chat's notices (Claw's own messages that answer nothing in particular, or a command). */
const notices = (out: ReplyCollector, chat: string) => out.replies.filter((r) => r.chat === chat && r.sender.id === "claw");

describe("tool approvals", () => {
  it("holds a gated call until it is approved over HTTP, then runs it and answers once; a second decision is a 409", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated()]) } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const events: unknown[] = [];
    const sub = c.nc.subscribe("claw.events.approval.a");
    void (async () => {
      for await (const m of sub) events.push(JSON.parse(new TextDecoder().decode(m.data)));
    })();
    await c.nc.flush();
    await c.js.publish("claw.in.t.a.c1", jsonBody({ id: "h-1", text: callEcho("rm -rf /tmp/x"), sender: { id: "u" } }));

    const pending = await untilApproving(c, claw, "t:a:c1");
    expect(pending).toMatchObject({ agent: "a", session: "t:a:c1", skill: "echo", input: { text: "rm -rf /tmp/x" }, status: "pending" });
    expect(pending.id).toMatch(/^ap[a-z0-9]{24}$/);
    expect(Date.parse(pending.expiresAt) - Date.parse(pending.requestedAt)).toBe(3_600_000);
    // announced: an event, and a notice in the chat naming the commands
    await expect.poll(() => events).toContainEqual({ type: "approval.requested", approval: pending });
    await expect.poll(() => notices(out, "c1").map((n) => n.text)).toEqual([expect.stringContaining(`/approve ${pending.id}`)]);
    expect(notices(out, "c1")[0]!.metadata).toMatchObject({ approval: { id: pending.id } });
    // the live view and claw inspect say what the session waits for
    const [live] = await findLiveSession(c.nc, sessionKey("a", "t:a:c1"), 2_000);
    expect(live?.state).toBe("acting.approving");
    const inspect = await runCli(["inspect", "a", "t:a:c1"], { NATS_URL: nats.url });
    expect(inspect.stdout).toMatch(new RegExp(`^waiting {3}approval ${pending.id}: echo .*\\(call h-1:tool:0:0\\)$`, "m"));
    // the tool did not run: no reply yet
    expect(out.replies.filter((r) => r.replyTo === "h-1")).toEqual([]);
    // other filters do not show it
    expect((await api(claw).list("?agent=b")).approvals).toEqual([]);
    expect((await api(claw).list("?session=t:a:other")).approvals).toEqual([]);

    // bad bodies and unknown ids
    expect((await api(claw).decide(pending.id, { decision: "maybe" })).status).toBe(422);
    expect((await api(claw).decide(pending.id, { decision: "approve", extra: 1 })).status).toBe(422);
    const unknown = await api(claw).decide("ap000000000000000000000000", { decision: "approve" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "no_approval" } });

    const ok = await api(claw).decide(pending.id, { decision: "approve", by: "alice" });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: pending.id, status: "approved", by: "alice" });
    const again = await api(claw).decide(pending.id, { decision: "deny", by: "mallory" });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: "approval_decided" } });

    expect((await out.waitFor("h-1", 20_000)).text).toBe(`echo: ${JSON.stringify({ text: "rm -rf /tmp/x" })}`);
    expect((await api(claw).list()).approvals).toEqual([]);
    await expect.poll(() => events).toContainEqual({ type: "approval.decided", approval: expect.objectContaining({ id: pending.id, status: "approved" }) });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(out.replies.filter((r) => r.replyTo === "h-1")).toHaveLength(1);
    sub.unsubscribe();
    out.stop();
  }, 90_000);

  it("tells the model who denied the call and why, and it answers; the request went out as an approval.requested webhook", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const hooks: Array<{ event: string | undefined; body: Record<string, unknown> }> = [];
    const receiver = createServer((req, res) => {
      let data = "";
      req.on("data", (d: Buffer) => (data += d.toString()));
      req.on("end", () => {
        hooks.push({ event: req.headers["claw-webhook-event"] as string | undefined, body: JSON.parse(data) as Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated()]), CLAW_WEBHOOK_ALLOW_PRIVATE: "1" } });
    const sub = await fetch(`http://127.0.0.1:${claw.httpPort}/v1/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: hookUrl, events: ["approval.requested"] }),
    });
    expect(sub.status).toBe(201);
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.c2", jsonBody({ id: "d-1", text: callEcho("deploy"), sender: { id: "u" } }));
    const pending = await untilApproving(c, claw, "t:a:c2");
    await expect.poll(() => hooks, { timeout: 20_000 }).toHaveLength(1);
    expect(hooks[0]!.event).toBe("approval.requested");
    expect(hooks[0]!.body).toMatchObject({ type: "approval.requested", agent: "a", session: "t:a:c2", approval: pending });
    const res = await api(claw).decide(pending.id, { decision: "deny", by: "alice", reason: "not on a Friday" });
    expect(res.status).toBe(200);
    expect((await out.waitFor("d-1", 20_000)).text).toBe("echo failed: denied by alice: not on a Friday");
    expect((await api(claw).decide(pending.id, { decision: "approve" })).status).toBe(409);
    // the decision is no second request
    await new Promise((r) => setTimeout(r, 1_000));
    expect(hooks).toHaveLength(1);
    receiver.close();
    out.stop();
  }, 90_000);

  it("is decided from the command line: claw approvals ls lists the call, deny tells the model, a second decision exits 1; both audited", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated()]) } });
    const env = { NATS_URL: nats.url };
    const out = await collectStreamReplies(c.js, c.jsm);
    expect((await runCli(["approvals", "ls"], env)).stdout).toMatch(/^no approvals waiting/);
    await c.js.publish("claw.in.t.a.c9", jsonBody({ id: "cli-1", text: callEcho("drop table"), sender: { id: "u" } }));
    const pending = await untilApproving(c, claw, "t:a:c9");
    const listed = await runCli(["approvals", "ls", "--agent", "a", "--json"], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { approvals: ApprovalView[] }).approvals).toEqual([pending]);
    const table = await runCli(["approvals", "ls"], env);
    expect(table.stdout).toMatch(new RegExp(`^${pending.id} +a +t:a:c9 +echo `, "m"));

    const denied = await runCli(["approvals", "deny", pending.id, "--reason", "not in prod"], env);
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toBe(`denied ${pending.id}: a does not run echo\n`);
    expect((await out.waitFor("cli-1", 20_000)).text).toMatch(/^echo failed: denied by cli:[^:]+: not in prod$/);
    const again = await runCli(["approvals", "approve", pending.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^claw: approval ap[a-z0-9]+ is denied already/);
    const unknown = await runCli(["approvals", "approve", "ap000000000000000000000000"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("claw: no approval ap000000000000000000000000 (claw approvals ls lists those waiting)\n");
    expect((await runCli(["approvals", "maybe"], env)).code).toBe(2);

    const audit = await runCli(["audit", "tail", "-n", "20", "--json"], env);
    const records = audit.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { what: string; outcome: string; detail?: string });
    expect(records.filter((r) => r.what.startsWith("approvals "))).toEqual([
      expect.objectContaining({ what: "approvals deny", outcome: "ok", detail: pending.id }),
      expect.objectContaining({ what: "approvals approve", outcome: "refused" }),
      expect.objectContaining({ what: "approvals approve", outcome: "refused", detail: expect.stringContaining("no approval") }),
    ]);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(out.replies.filter((r) => r.replyTo === "cli-1")).toHaveLength(1);
    out.stop();
  }, 90_000);

  it("works with a model on an OpenAI-compatible provider: its tool call waits, and a denial is the tool message it reads", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using fake = await startFakeOpenAI();
    // the model calls echo with what the user said, then answers with what the tool said
    fake.answer = (r) => {
      const tool = r.messages.find((m) => m.role === "tool");
      return tool ? { text: `the tool said: ${tool.content}` } : { toolCalls: [{ name: "echo", arguments: JSON.stringify({ text: lastUser(r) }) }] };
    };
    const path = join(tmpdir(), `claw-approvals-llm-${process.pid}.json`);
    const provider = { baseURL: fake.baseURL, model: "m", apiKeyEnv: "FAKE_KEY", maxRetries: 0 };
    await writeFile(path, JSON.stringify({ providers: { p: provider }, agents: [gated({ model: "p" })] }));
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path, FAKE_KEY: "sk-test" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.o1", jsonBody({ id: "o-1", text: "drop the table", sender: { id: "u" } }));
    const first = await untilApproving(c, claw, "t:a:o1");
    expect(first.input).toEqual({ text: "drop the table" });
    expect(fake.requests).toHaveLength(1);
    await api(claw).decide(first.id, { decision: "deny", by: "dba", reason: "no tables are dropped on Fridays" });
    expect((await out.waitFor("o-1", 20_000)).text).toBe("the tool said: denied by dba: no tables are dropped on Fridays");
    // the model was sent the denial as the call's tool message
    expect(fake.requests.at(-1)!.messages.find((m) => m.role === "tool")?.content).toBe("denied by dba: no tables are dropped on Fridays");
    // approved, the tool runs and the model reads its output
    await c.js.publish("claw.in.t.a.o1", jsonBody({ id: "o-2", text: "count the rows", sender: { id: "u" } }));
    const second = await untilApproving(c, claw, "t:a:o1");
    await api(claw).decide(second.id, { decision: "approve", by: "dba" });
    expect((await out.waitFor("o-2", 20_000)).text).toBe(`the tool said: ${JSON.stringify({ text: "count the rows" })}`);
    out.stop();
  }, 90_000);

  it("denies a call nobody decided on within approvalTimeoutMs as timed out, once", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated({ approvalTimeoutMs: 2_000 })]) } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.c3", jsonBody({ id: "t-1", text: callEcho("later"), sender: { id: "u" } }));
    const pending = await untilApproving(c, claw, "t:a:c3");
    expect((await out.waitFor("t-1", 20_000)).text).toBe("echo failed: denied by claw: timed out");
    const late = await api(claw).decide(pending.id, { decision: "approve" });
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ error: { code: "approval_decided", message: expect.stringContaining("denied") } });
    // the sweeper logs once its denial is written, which the turn may answer first (a CI run read the logs before the line):
    // waited for, then read again a while later — a second sweep's line would count
    await until(() => claw.logs.some((l) => l.msg === "approval.timed_out"), "the sweeper's approval.timed_out line", 10_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(claw.logs.filter((l) => l.msg === "approval.timed_out")).toHaveLength(1);
    out.stop();
  }, 90_000);

  it("takes /approve from an approver in the chat, and refuses a non-approver's /approve and /deny without deciding", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated()]) } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const say = (id: string, sender: string, text: string, chat = "c4") => c.js.publish(`claw.in.t.a.${chat}`, jsonBody({ id, text, sender: { id: sender } }));
    await say("m-1", "u", callEcho("ship it"));
    const pending = await untilApproving(c, claw, "t:a:c4");

    await say("m-2", "u", `/approve ${pending.id}`);
    expect((await out.waitFor("m-2", 20_000)).text).toBe(`Refused: u may not approve calls of agent a (not in its approvers).`);
    await say("m-3", "mallory", `/deny ${pending.id} because`);
    expect((await out.waitFor("m-3", 20_000)).text).toBe(`Refused: mallory may not deny calls of agent a (not in its approvers).`);
    // an approver in another chat cannot reach this chat's approval
    await say("m-4", "boss", `/approve ${pending.id}`, "elsewhere");
    expect((await out.waitFor("m-4", 20_000)).text).toBe(`No approval ${pending.id} waits in this chat.`);
    expect((await api(claw).list()).approvals.map((a) => a.id)).toEqual([pending.id]);
    expect(out.replies.filter((r) => r.replyTo === "m-1")).toEqual([]);

    await say("m-5", "boss", `/approve ${pending.id}`);
    expect((await out.waitFor("m-5", 20_000)).text).toBe(`Approved ${pending.id}: echo runs now.`);
    expect((await out.waitFor("m-1", 20_000)).text).toBe(`echo: ${JSON.stringify({ text: "ship it" })}`);
    await say("m-6", "boss", `/deny ${pending.id}`);
    expect((await out.waitFor("m-6", 20_000)).text).toBe(`Approval ${pending.id} was decided already (approved).`);
    // the commands never reached the model: the session's history holds the one turn
    await new Promise((r) => setTimeout(r, 500));
    expect(out.replies.filter((r) => r.replyTo === "m-1")).toHaveLength(1);
    expect(await storedState(c, "a", "t:a:c4")).toBe('"idle"');
    out.stop();
  }, 90_000);

  it("puts Approve and Deny buttons under the notice on Telegram: a press decides as its command would, from an approver only", async () => {
    await using nats = await natsServer();
    await using fake = await startFakeTelegram();
    const tg = { type: "telegram", account: "main", tokenEnv: "BOT_TOKEN", apiRoot: fake.apiRoot, pollTimeoutSeconds: 1 };
    const config = await channelConfig([tg], { agents: [gated({ approvers: ["77"], bindings: [{ channel: "telegram" }] })] });
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token } });

    fake.push({ chatId: 42, text: callEcho("from telegram") });
    await until(() => fake.calls.some((x) => x.method === "sendMessage" && x.payload.reply_markup !== undefined), "the notice with its buttons");
    const notice = fake.calls.find((x) => x.method === "sendMessage" && x.payload.reply_markup !== undefined)!;
    const markup = (typeof notice.payload.reply_markup === "string" ? JSON.parse(notice.payload.reply_markup) : notice.payload.reply_markup) as {
      inline_keyboard: Array<Array<{ text: string; callback_data: string }>>;
    };
    const [approve, deny] = markup.inline_keyboard[0]!;
    const { approvals } = await api(claw).list();
    expect(approve).toEqual({ text: "Approve", callback_data: `/approve ${approvals[0]!.id}` });
    expect(deny).toEqual({ text: "Deny", callback_data: `/deny ${approvals[0]!.id}` });
    const press = (update_id: number, from: number, data: string) =>
      fake.pushRaw({
        update_id,
        callback_query: {
          id: `cq${update_id}`,
          from: { id: from, is_bot: false, first_name: from === 77 ? "Boss" : "Ann" },
          chat_instance: "ci",
          message: { message_id: 5000, date: 0, chat: { id: 42, type: "private" }, text: "Approval needed" },
          data,
        },
      });
    // the user who asked is no approver: refused, nothing decided
    press(500, 42, approve!.callback_data);
    await until(() => fake.sentTo(42).some((t) => t.startsWith("Refused: 42 may not approve")), "the refusal");
    expect((await api(claw).list()).approvals).toHaveLength(1);
    press(501, 77, approve!.callback_data);
    await until(() => fake.sentTo(42).includes(`echo: ${JSON.stringify({ text: "from telegram" })}`), "the tool's answer");
    expect(fake.sentTo(42)).toContain(`Approved ${approvals[0]!.id}: echo runs now.`);
    expect(fake.calls.filter((x) => x.method === "answerCallbackQuery").map((x) => x.payload.callback_query_id)).toEqual(["cq500", "cq501"]);
  }, 90_000);

  it("puts Approve and Deny buttons under the notice on Slack: a press (block_actions) decides as its command would, from an approver only", async () => {
    await using nats = await natsServer();
    const botToken = "xoxb-approvals-test";
    const secret = "approvals-signing-secret";
    await using slack = await startFakeSlack(botToken);
    const account = { type: "slack", account: "work", botTokenEnv: "SLACK_BOT_TOKEN", signingSecretEnv: "SLACK_SIGNING_SECRET", apiUrl: slack.apiUrl };
    const config = await channelConfig([account], { agents: [gated({ approvers: ["U9"], bindings: [{ channel: "slack" }] })] });
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, SLACK_BOT_TOKEN: botToken, SLACK_SIGNING_SECRET: secret } });
    const url = `http://127.0.0.1:${claw.httpPort}/v1/webhooks/slack/work`;
    await sendSlackEvent(url, secret, messageEvent({ channel: "D1", text: callEcho("from slack"), ts: "1700000001.000100", channel_type: "im" }));
    await until(() => slack.posted("D1").some((p) => p.blocks !== undefined), "the notice with its buttons");
    const [id] = (await api(claw).list()).approvals.map((a) => a.id);
    const blocks = slack.posted("D1").find((p) => p.blocks !== undefined)!.blocks as Array<{ type: string; elements?: Array<{ value: string }> }>;
    expect(blocks.find((b) => b.type === "actions")!.elements!.map((e) => e.value)).toEqual([`/approve ${id}`, `/deny ${id}`]);
    // a press, as Slack posts it: form-encoded, its JSON in payload, signed
    const press = async (user: string, value: string, actionTs: string) => {
      const payload = {
        type: "block_actions",
        user: { id: user },
        channel: { id: "D1" },
        message: { ts: "1700000002.000100" },
        actions: [{ action_id: "approve", value, action_ts: actionTs }],
      };
      const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
      const ts = Math.floor(Date.now() / 1000);
      const signature = `v0=${createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex")}`;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(ts), "x-slack-signature": signature },
        body,
      });
      expect(res.status).toBe(200);
    };
    await press("U1", `/approve ${id}`, "1700000003.1");
    await until(() => slack.posted("D1").some((p) => p.text.startsWith("Refused: U1 may not approve")), "the refusal");
    expect((await api(claw).list()).approvals).toHaveLength(1);
    await press("U9", `/approve ${id}`, "1700000004.1");
    await until(() => slack.posted("D1").some((p) => p.text === `echo: ${JSON.stringify({ text: "from slack" })}`), "the tool's answer");
    expect(slack.posted("D1").map((p) => p.text)).toContain(`Approved ${id}: echo runs now.`);
  }, 90_000);

  it("takes a Slack press over Socket Mode too: the interactive envelope is acked and decides once, however often Slack sends it", async () => {
    await using nats = await natsServer();
    const botToken = "xoxb-approvals-socket";
    const appToken = "xapp-approvals-socket";
    await using slack = await startFakeSlack(botToken, { appToken });
    const account = { type: "slack", account: "sock", mode: "socket", botTokenEnv: "SLACK_BOT_TOKEN", appTokenEnv: "SLACK_APP_TOKEN", apiUrl: slack.apiUrl };
    const config = await channelConfig([account], { agents: [gated({ approvers: ["U9"], bindings: [{ channel: "slack" }] })] });
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, SLACK_BOT_TOKEN: botToken, SLACK_APP_TOKEN: appToken } });
    await until(() => slack.socket.open() === 1, "the Socket Mode connection");
    slack.sendSocketEvent(messageEvent({ channel: "D7", text: callEcho("over the socket"), ts: "1700000101.000100", channel_type: "im" }));
    await until(() => slack.posted("D7").some((p) => p.blocks !== undefined), "the notice with its buttons");
    const [id] = (await api(claw).list()).approvals.map((a) => a.id);
    const press = (user: string, value: string, actionTs: string) =>
      slack.sendSocketEvent(
        {
          type: "block_actions",
          user: { id: user },
          channel: { id: "D7" },
          message: { ts: "1700000102.000100" },
          actions: [{ action_id: value.split(" ")[0]!.slice(1), value, action_ts: actionTs }],
        },
        "interactive",
      );
    const refused = press("U1", `/deny ${id}`, "1700000103.1");
    await until(() => slack.posted("D7").some((p) => p.text.startsWith("Refused: U1 may not deny")), "the refusal");
    expect((await api(claw).list()).approvals).toHaveLength(1);
    const denied = press("U9", `/deny ${id}`, "1700000104.1");
    await until(() => slack.posted("D7").some((p) => p.text === "echo failed: denied by U9"), "the model's answer to the denial");
    await until(() => slack.socket.acked.includes(refused) && slack.socket.acked.includes(denied), "both presses acked");
    // the same press again, as Slack resends an envelope it thinks was lost: the same message id, decided once
    const resent = press("U9", `/deny ${id}`, "1700000104.1");
    await until(() => slack.socket.acked.includes(resent), "the resent press acked");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(slack.posted("D7").filter((p) => p.text === "echo failed: denied by U9")).toHaveLength(1);
    expect(slack.posted("D7").filter((p) => /already/.test(p.text))).toHaveLength(0);
  }, 90_000);

  it("resumes on the other node when the node holding the waiting turn is SIGKILLed, with one reply", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated()]), CLAW_ACK_WAIT_MS: "2000" };
    const nodes = new Map(await Promise.all(["n1", "n2"].map(async (id) => [id, await startClaw({ env: { ...env, CLAW_NODE_ID: id } })] as const)));
    await using _n1 = nodes.get("n1")!;
    await using _n2 = nodes.get("n2")!;
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.k", jsonBody({ id: "k-1", text: callEcho("after the crash"), sender: { id: "u" } }));
    // the precondition: the turn waits for the decision (listed, persisted in acting.approving, live on a node)
    const pending = await untilApproving(c, nodes.get("n1")!, "t:a:k");
    const [holder] = await findLiveSession(c.nc, sessionKey("a", "t:a:k"), 2_000);
    expect(holder?.state).toBe("acting.approving");
    const dead = holder!.node;
    const survivor = dead === "n1" ? "n2" : "n1";
    await nodes.get(dead)!.kill("SIGKILL");

    // decided through the survivor, while it may not even own the session's partition yet
    const res = await api(nodes.get(survivor)!).decide(pending.id, { decision: "approve", by: "alice" });
    expect(res.status).toBe(200);
    const reply = await out.waitFor("k-1", 60_000);
    expect(reply.text).toBe(`echo: ${JSON.stringify({ text: "after the crash" })}`);
    expect(out.replies.find((r) => r.replyTo === "k-1")?.node).toBe(survivor);
    // read to the end: no late duplicate
    await new Promise((r) => setTimeout(r, 3_000));
    expect(out.replies.filter((r) => r.replyTo === "k-1")).toHaveLength(1);
    expect(await storedState(c, "a", "t:a:k")).toBe('"idle"');
    out.stop();
  }, 120_000);

  it("tells the turn a decision whose node died between recording and telling it (the leader does), with one reply", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: await configFile([gated()]), CLAW_ACK_WAIT_MS: "2000" };
    await using doomed = await startClaw({ env: { ...env, CLAW_NODE_ID: "n1", CLAW_FAILPOINTS: "approval.after-decide" } });
    await using other = await startClaw({ env: { ...env, CLAW_NODE_ID: "n2" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.f", jsonBody({ id: "f-1", text: callEcho("told late"), sender: { id: "u" } }));
    const pending = await untilApproving(c, other, "t:a:f");
    // n1 records the decision and dies before it tells the turn: the request gets no answer
    await expect(api(doomed).decide(pending.id, { decision: "approve", by: "alice" })).rejects.toThrow();
    // the decision counts: recorded, not pending, and a second one is refused
    expect((await api(other).list()).approvals).toEqual([]);
    expect((await api(other).decide(pending.id, { decision: "deny" })).status).toBe(409);
    const reply = await out.waitFor("f-1", 60_000);
    expect(reply.text).toBe(`echo: ${JSON.stringify({ text: "told late" })}`);
    expect(other.logs.some((l) => l.msg === "approval.redelivered" && l.approval === pending.id)).toBe(true);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(out.replies.filter((r) => r.replyTo === "f-1")).toHaveLength(1);
    out.stop();
  }, 120_000);
});
