/**
 * `claw import openclaw <dir>` with state directories shaped as OpenClaw
 * writes them (test/support/openclaw-state.ts): 2026.9.x's SQLite database
 * and 2026.4.x's JSONL transcripts with `sessions.json`. Each user's
 * conversation continues in the Claw session that user reaches — `user: "x"`
 * on chat completions and responses, through the stock `openai` client —
 * with what was shown to them and nothing else; deleted sessions stay
 * deleted, trajectories and cron sessions are left out, an agent Claw does
 * not have is refused, and a run that finds nothing exits 1.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exchangesOf, parseJsonl } from "../../src/cli/openclaw-transcript.js";
import { parseOpenClawSession } from "../../src/cli/import.command.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { transcriptEvents, writeJsonlState, writeSqliteState, type OpenClawSessionSpec } from "../support/openclaw-state.js";

const LONG = `Here is the whole plan, step by step.${" Every step matters and is written out in full.".repeat(40)}`;

/** rc-alice's conversation with OpenClaw's /v1/chat/completions: a tool call with commentary on the way, and a long answer. */
const alice = (id: string): OpenClawSessionSpec => ({
  key: "agent:main:openai-user:rc-alice",
  id,
  bootstrap: true,
  turns: [
    { user: "my name is Alice and I fly gliders", answer: "Nice to meet you, Alice." },
    { user: "what is in my notes?", tool: "read", commentary: "Let me look at your notes first.", answer: "Your notes say: buy a variometer." },
    { user: "write me a plan", answer: LONG },
  ],
});
const bob = (id: string): OpenClawSessionSpec => ({
  key: "agent:main:openresponses-user:bob",
  id,
  turns: [{ user: "remember the number 42", answer: "Noted: 42." }],
});
const peer = (id: string): OpenClawSessionSpec => ({
  key: "agent:main:telegram:direct:4711",
  id,
  turns: [{ user: "hi from telegram", answer: "hello on telegram" }],
});
const cron = (id: string): OpenClawSessionSpec => ({ key: "agent:main:cron:nightly-digest", id, turns: [{ user: "run the digest", answer: "digest sent" }] });
const carol = (id: string): OpenClawSessionSpec => ({
  key: "agent:main:openai-user:carol",
  id,
  turns: [{ user: "a secret carol deleted", answer: "forgotten" }],
});

describe("reading an OpenClaw transcript", () => {
  it("keeps what was said and shown: no thinking, tool chatter, commentary or injected preamble", () => {
    const events = transcriptEvents(alice("s-1"), { version: 3, start: Date.UTC(2026, 3, 20) });
    const p = parseOpenClawSession(events.map((e) => JSON.stringify(e)).join("\n") + "\n{ not json\n", "file-name");
    expect(p.id).toBe("s-1");
    expect(p.skipped).toBe(1);
    expect(p.exchanges.map((x) => [x.user.text, x.assistant.text])).toEqual([
      ["my name is Alice and I fly gliders", "Nice to meet you, Alice."],
      ["what is in my notes?", "Your notes say: buy a variometer."],
      ["write me a plan", LONG],
    ]);
    expect(p.exchanges[0]!.user.ts).toBe(Date.UTC(2026, 3, 20) + 2000);
  });

  it("follows the active branch, after the latest reset, and drops silent answers", () => {
    const events = transcriptEvents(
      {
        key: "k",
        id: "s-2",
        turns: [
          { user: "before the reset", answer: "old" },
          { user: "abandoned question", answer: "abandoned answer" },
        ],
      },
      { version: 4, start: 0 },
    );
    // the user rewound the second question and asked another one from the first answer; then /new, a silent turn, a real one
    const firstAnswer = events[4]!.id as string;
    const more = [
      { type: "message", id: "b1", parentId: firstAnswer, message: { role: "user", content: "the question asked instead", timestamp: 10 } },
      { type: "message", id: "b2", parentId: "b1", message: { role: "assistant", content: [{ type: "text", text: "the answer kept" }], timestamp: 11 } },
      { type: "reset", id: "r1", parentId: "b2", reason: "new" },
      { type: "message", id: "b3", parentId: "r1", message: { role: "user", content: "heartbeat check", timestamp: 12 } },
      { type: "message", id: "b4", parentId: "b3", message: { role: "assistant", content: [{ type: "text", text: "NO_REPLY" }], timestamp: 13 } },
      { type: "message", id: "b5", parentId: "b4", message: { role: "user", content: [{ type: "text", text: "after the reset" }], timestamp: 14 } },
      { type: "message", id: "b6", parentId: "b5", message: { role: "assistant", content: [{ type: "text", text: "new start" }], timestamp: 15 } },
    ];
    expect(exchangesOf([...events, ...more.slice(0, 2)]).map((x) => x.user.text)).toEqual(["before the reset", "the question asked instead"]);
    expect(exchangesOf([...events, ...more]).map((x) => [x.user.text, x.assistant.text])).toEqual([["after the reset", "new start"]]);
    expect(parseJsonl('{"a":1}\n\nnope\n').skipped).toBe(1);
  });
});

describe("claw import openclaw", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let openai: OpenAI;
  const env = () => ({ NATS_URL: nats.url });

  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({ env: { NATS_URL: nats.url } });
    openai = new OpenAI({ baseURL: `http://127.0.0.1:${node.httpPort}/v1`, apiKey: "unused" });
  }, 60_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const historyOf = async (user: string) =>
    (await openai.chat.completions.create({ model: "echo", user, messages: [{ role: "user", content: "/history" }] })).choices[0]!.message.content ?? "";
  const sessionOf = (stderr: string, key: string) => new RegExp(`\\(${key}\\) → echo (\\S+):`).exec(stderr)?.[1];

  it("2026.9.x (SQLite): refuses an agent Claw lacks, then each user continues under the same user; deleted and cron sessions stay out", async () => {
    const state = await mkdtemp(join(tmpdir(), "openclaw-9-"));
    await writeSqliteState(
      state,
      "main",
      [
        alice("9a1ce5b0-0000-4000-8000-000000000001"),
        bob("9a1ce5b0-0000-4000-8000-000000000002"),
        peer("9a1ce5b0-0000-4000-8000-000000000003"),
        cron("9a1ce5b0-0000-4000-8000-000000000004"),
      ],
      {
        deleted: [carol("9a1ce5b0-0000-4000-8000-000000000005")],
      },
    );

    // OpenClaw's agent is "main"; Claw has none of that name
    const refused = await runCli(["import", "openclaw", state], env(), 60_000);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("no Claw agent main (OpenClaw's agent id): pass --agent <id>");
    expect(refused.stderr).toContain("nothing imported");

    const imported = await runCli(["import", "openclaw", state, "--agent", "echo"], env(), 60_000);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain("imported 3 sessions (5 turns); 0 already there");
    expect(imported.stderr).toMatch(/left out .*9a1ce5b0-0000-4000-8000-000000000005\.jsonl\.deleted\..*\.zst: deleted in OpenClaw/);
    expect(imported.stderr).toMatch(/left out .*\(agent:main:cron:nightly-digest\): a cron session/);
    expect(imported.stderr).toMatch(/\(agent:main:openai-user:rc-alice\) → echo \S+: 3 turns; continue as user "rc-alice"/);
    expect(imported.stderr).toMatch(
      /\(agent:main:telegram:direct:4711\) → echo telegram:default:4711: 1 turns; continue as telegram account default, chat 4711/,
    );

    // rc-alice talks to Claw as she talked to OpenClaw: the stock client, the same user
    const history = await historyOf("rc-alice");
    expect(history).toBe("3 earlier turns\n1. my name is Alice and I fly gliders\n2. what is in my notes?\n3. write me a plan");
    // what she was shown is what the agent remembers: the final answers (the long one stored compressed), not the commentary
    const inspected = await runCli(["inspect", "echo", sessionOf(imported.stderr, "agent:main:openai-user:rc-alice")!, "--json"], env());
    expect(inspected.stdout).toContain("Your notes say: buy a variometer.");
    expect(inspected.stdout).toContain("Every step matters and is written out in full.");
    expect(inspected.stdout).not.toContain("Let me look at your notes first.");
    expect(inspected.stdout).not.toContain("Bootstrap pending");
    expect(inspected.stdout).not.toContain("tool output");
    // bob used OpenClaw's /v1/responses: he continues on Claw's, by user
    const bobs = await openai.responses.create({ model: "echo", user: "bob", input: "/history" });
    expect(bobs.output_text).toBe("1 earlier turns\n1. remember the number 42");
    // carol deleted her session in OpenClaw: Claw knows nothing of it
    expect(await historyOf("carol")).toBe("0 earlier turns");

    const again = await runCli(["import", "openclaw", state, "--agent", "echo"], env(), 60_000);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("imported 0 sessions (0 turns); 3 already there");
  }, 120_000);

  it("refuses an agent whose kind keeps no conversation to continue, writing nothing", async () => {
    const registered = await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "desk", kind: "relay", options: { to: "echo" }, bindings: [{ channel: "desk" }] }),
    });
    expect(registered.status).toBe(201);
    const state = await mkdtemp(join(tmpdir(), "openclaw-relay-"));
    await writeSqliteState(state, "main", [bob("9a1ce5b0-0000-4000-8000-0000000000d1")]);
    const refused = await runCli(["import", "openclaw", state, "--agent", "desk"], env(), 60_000);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("agent desk (kind relay) keeps no conversation to import into");
    expect(refused.stderr).toContain("nothing imported");
    expect(refused.stdout).toBe("");
  }, 60_000);

  it("2026.9.x: a session still in the write-ahead log of a running OpenClaw comes over too", async () => {
    const state = await mkdtemp(join(tmpdir(), "openclaw-9wal-"));
    const db = await writeSqliteState(state, "main", [{ ...bob("0b0b0000-0000-4000-8000-000000000001"), key: "agent:main:openai-user:bob-wal" }]);
    // OpenClaw holds the database open in WAL mode: its latest session is only in <db>-wal (python's SQLite writes it;
    // its SQLite predates octet_length, so the CHECKs are not evaluated for this one row, which satisfies them anyway)
    const copy = join(await mkdtemp(join(tmpdir(), "openclaw-9wal-copy-")), "agents", "main", "agent");
    await mkdir(copy, { recursive: true });
    const event = (seq: number, e: unknown) =>
      `insert into transcript_events(session_id, seq, event_json, created_at) values ('wal-s', ${seq}, '${JSON.stringify(e).replace(/'/g, "''")}', 1)`;
    const events = transcriptEvents(
      { key: "agent:main:openai-user:dave", id: "wal-s", turns: [{ user: "written a moment ago", answer: "still in the log" }] },
      { version: 4, start: 0 },
    );
    const script = [
      "import sqlite3, shutil, sys",
      `c = sqlite3.connect(${JSON.stringify(db)}, isolation_level=None)`,
      "c.execute('pragma journal_mode=wal'); c.execute('pragma wal_autocheckpoint=0'); c.execute('pragma ignore_check_constraints=on')",
      "c.execute(\"insert into session_nodes(session_key, current_session_id, entry_json, updated_at) values ('agent:main:openai-user:dave', 'wal-s', " +
        "'{}', 1)\")",
      "c.execute(\"insert into session_windows(session_id, session_key, created_at, updated_at) values ('wal-s', 'agent:main:openai-user:dave', 1, 1)\")",
      ...events.map((e, i) => `c.execute(${JSON.stringify(event(i + 1, e))})`),
      // copied while the connection is open: the pages are in the log, not yet in the database file
      `shutil.copy(${JSON.stringify(db)}, ${JSON.stringify(join(copy, "openclaw-agent.sqlite"))})`,
      `shutil.copy(${JSON.stringify(`${db}-wal`)}, ${JSON.stringify(join(copy, "openclaw-agent.sqlite-wal"))})`,
    ].join("\n");
    execFileSync("python3", ["-c", script]);
    const imported = await runCli(["import", "openclaw", join(copy, "..", "..", ".."), "--agent", "echo"], env(), 60_000);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain("imported 2 sessions (2 turns)");
    expect(await historyOf("dave")).toBe("1 earlier turns\n1. written a moment ago");
  }, 120_000);

  it("2026.4.x (JSONL with sessions.json): the same users continue; trajectories and deleted archives stay out, and alone import nothing", async () => {
    const state = await mkdtemp(join(tmpdir(), "openclaw-4-"));
    const dir = await writeJsonlState(
      state,
      "main",
      [
        { ...alice("4a1ce5b0-0000-4000-8000-000000000001"), key: "agent:main:openai-user:rc-alice4" },
        { ...bob("4a1ce5b0-0000-4000-8000-000000000002"), key: "agent:main:openai-user:bob4" },
      ],
      [{ ...carol("4a1ce5b0-0000-4000-8000-000000000003"), key: "agent:main:openai-user:carol4" }],
    );

    const imported = await runCli(["import", "openclaw", state, "--agent", "echo"], env(), 60_000);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain("imported 2 sessions (4 turns); 0 already there");
    expect(imported.stderr).toMatch(/left out .*4a1ce5b0-0000-4000-8000-000000000001\.trajectory\.jsonl: a trajectory/);
    expect(imported.stderr).toMatch(/left out .*4a1ce5b0-0000-4000-8000-000000000003\.jsonl\.deleted\.[^:]*: deleted in OpenClaw/);
    // the "[Bootstrap pending]" preamble OpenClaw put before her first message is not something she said
    expect(await historyOf("rc-alice4")).toBe("3 earlier turns\n1. my name is Alice and I fly gliders\n2. what is in my notes?\n3. write me a plan");
    expect((await openai.responses.create({ model: "echo", user: "bob4", input: [{ role: "user", content: "/history" }] })).output_text).toBe(
      "1 earlier turns\n1. remember the number 42",
    );
    expect(await historyOf("carol4")).toBe("0 earlier turns");

    for (const file of [
      "4a1ce5b0-0000-4000-8000-000000000003.jsonl.deleted.2026-04-21T08-00-00.000Z.3f9a2c.zst",
      "4a1ce5b0-0000-4000-8000-000000000002.trajectory.jsonl",
    ]) {
      const alone = await runCli(["import", "openclaw", join(dir, file), "--agent", "echo"], env(), 60_000);
      expect(alone.code, file).toBe(1);
      expect(alone.stderr).toContain("nothing imported");
    }
    const empty = await mkdtemp(join(tmpdir(), "openclaw-empty-"));
    expect((await runCli(["import", "openclaw", empty, "--agent", "echo"], env())).code).toBe(1);
    expect((await runCli(["import", "openclaw", join(state, "nowhere")], env())).stderr).toContain("no such file or folder");
  }, 120_000);
});
