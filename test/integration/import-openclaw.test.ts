/**
 * `claw import openclaw <dir>` with transcripts written here in OpenClaw's
 * format (agents/<agent>/sessions/<id>.jsonl): each session becomes a Claw
 * session whose history the agent sees on the next message, thinking and
 * tool chatter left out; importing again leaves them alone.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseOpenClawSession } from "../../src/cli/import.command.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";

const at = (s: number) => new Date(Date.UTC(2026, 3, 8, 1, 0, s)).toISOString();
const line = (o: unknown) => JSON.stringify(o);

/** A session as OpenClaw writes it. */
function openClawSession(id: string, turns: Array<[string, string]>): string {
  const lines = [
    line({ type: "session", version: 3, id, timestamp: at(0), cwd: "/home/u/.openclaw/workspace" }),
    line({ type: "model_change", id: "m1", parentId: null, timestamp: at(0), provider: "openai", modelId: "gpt-5" }),
    line({ type: "thinking_level_change", id: "t1", parentId: "m1", timestamp: at(0), thinkingLevel: "off" }),
  ];
  turns.forEach(([q, a], i) => {
    lines.push(line({ type: "message", id: `u${i}`, parentId: null, timestamp: at(2 * i + 1), message: { role: "user", content: [{ type: "text", text: q }], timestamp: Date.parse(at(2 * i + 1)) } }));
    lines.push(line({ type: "message", id: `a${i}`, parentId: `u${i}`, timestamp: at(2 * i + 2), message: { role: "assistant", content: [{ type: "thinking", thinking: "hmm, secret reasoning" }, { type: "toolCall", id: "c1", name: "read", arguments: {} }], api: "openai-completions" } }));
    lines.push(line({ type: "message", id: `r${i}`, parentId: `a${i}`, timestamp: at(2 * i + 2), message: { role: "toolResult", toolCallId: "c1", content: [{ type: "text", text: "tool output that is not conversation" }] } }));
    lines.push(line({ type: "message", id: `b${i}`, parentId: `r${i}`, timestamp: at(2 * i + 2), message: { role: "assistant", content: [{ type: "text", text: a }], usage: { input: 10, output: 5 } } }));
  });
  lines.push("{ not json");
  return lines.join("\n") + "\n";
}

describe("claw import openclaw", () => {
  it("reads OpenClaw's session lines: what was said, without thinking and tool chatter", () => {
    const p = parseOpenClawSession(openClawSession("s-1", [["hello", "hi there"], ["how are you?", "fine"]]), "file-name");
    expect(p.id).toBe("s-1");
    expect(p.skipped).toBe(1);
    expect(p.exchanges.map((x) => [x.user.text, x.assistant.text])).toEqual([
      ["hello", "hi there"],
      ["how are you?", "fine"],
    ]);
    expect(p.exchanges[0]!.user.ts).toBe(Date.parse(at(1)));
  });

  it("brings each session over, continued by the agent with its history, and leaves them alone when imported again", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-state-"));
    const sessions = join(dir, "agents", "main", "sessions");
    await mkdir(sessions, { recursive: true });
    await writeFile(join(sessions, "b7300bff-a214-4c11-97ae-eab26883c67a.jsonl"), openClawSession("b7300bff-a214-4c11-97ae-eab26883c67a", [["my name is Dana", "nice to meet you, Dana"], ["I like sailing", "sailing is lovely"]]));
    await writeFile(join(sessions, "0c1d.jsonl"), openClawSession("0c1d", [["remember the number 42", "noted: 42"]]));
    await writeFile(join(sessions, "empty.jsonl"), line({ type: "session", version: 3, id: "empty", timestamp: at(0) }) + "\n");

    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const imported = await runCli(["import", "openclaw", dir, "--agent", "echo"], { NATS_URL: nats.url }, 60_000);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain("imported 2 sessions (3 turns); 0 already there, 1 without exchanges");
    expect(imported.stderr).toMatch(/\[\d\/3\] .*b7300bff.*\.jsonl → echo http:echo:b7300bff-a214-4c11-97ae-eab26883c67a: 2 turns \(1 unreadable lines skipped\)/);

    const ask = async (session: string, text: string) => {
      const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents/echo/invoke`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ session, text }) });
      expect(res.status).toBe(200);
      return ((await res.json()) as { reply: { text: string } }).reply.text;
    };
    const history = await ask("b7300bff-a214-4c11-97ae-eab26883c67a", "/history");
    expect(history).toContain("my name is Dana");
    expect(history).toContain("I like sailing");
    expect(history).not.toContain("secret reasoning");
    expect(await ask("0c1d", "/history")).toContain("remember the number 42");
    // claw inspect shows it too
    const inspected = await runCli(["inspect", "echo", "http:echo:0c1d", "--json"], { NATS_URL: nats.url });
    expect(inspected.stdout).toContain("noted: 42");

    const again = await runCli(["import", "openclaw", join(dir, "agents", "main"), "--agent", "echo"], { NATS_URL: nats.url }, 60_000);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("imported 0 sessions (0 turns); 2 already there");
    expect(await ask("0c1d", "/history")).toContain("remember the number 42");
    expect((await runCli(["import", "openclaw", join(dir, "nowhere")], { NATS_URL: nats.url })).stderr).toContain("no such file or folder");
  }, 90_000);
});
