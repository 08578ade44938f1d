/**
 * Whose a session is, with a real node and keys made with `claw keys` (F7,
 * F22 of the red team's findings): two keys that name the same session —
 * `user` of chat completions, `session` of invoke — have two conversations;
 * a rotated key keeps its predecessor's; a credential with `sessions:any`
 * reaches anyone's by its full id. The live view shows `ui:read` the state
 * machines, counts and the viewer's own sessions, and another caller's
 * history only with `sessions:any`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionKey } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { runCli } from "../support/claw-cli.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

type Key = { id: string; key: string };

async function createKey(natsUrl: string, scopes: string): Promise<Key> {
  const r = await runCli(["keys", "create", "--scopes", scopes, "--json"], { NATS_URL: natsUrl });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Key;
}

describe("sessions belong to their caller", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let alice: Key;
  let mallory: Key;
  let ops: Key;
  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_AUTH: "required" } });
    [alice, mallory, ops] = await Promise.all([
      createKey(nats.url, "agents:invoke:echo,ui:read"),
      createKey(nats.url, "agents:invoke:echo,ui:read"),
      createKey(nats.url, "sessions:any,agents:invoke,ui:read"),
    ]);
  }, 60_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  async function call(key: Key, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${key.key}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }
  const complete = async (key: Key, user: string, content: string) => {
    const r = await call(key, "POST", "/v1/chat/completions", { model: "echo", user, messages: [{ role: "user", content }] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return r.json.choices[0].message.content as string;
  };
  const invoke = async (key: Key, session: string, text: string) => {
    const r = await call(key, "POST", "/v1/agents/echo/invoke", { session, text });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return r.json.reply.text as string;
  };

  it("gives two keys that name the same user or session two conversations", async () => {
    await complete(alice, "alice", "my card PIN is 4242");
    // the same `user` with another key: another conversation, which knows nothing of it
    expect(await complete(mallory, "alice", "/history")).not.toContain("4242");
    expect(await complete(alice, "alice", "/history")).toContain("4242");
    // the X-Claw-Session header names the session the same way
    const byHeader = await call(
      mallory,
      "POST",
      "/v1/chat/completions",
      { model: "echo", messages: [{ role: "user", content: "/history" }] },
      { "x-claw-session": "alice" },
    );
    expect(byHeader.json.choices[0].message.content).not.toContain("4242");

    await invoke(alice, "s1", "the vault code is 7781");
    expect(await invoke(mallory, "s1", "/history")).not.toContain("7781");
    expect(await invoke(alice, "s1", "/history")).toContain("7781");
  }, 60_000);

  it("keeps one caller's idempotency key from absorbing another caller's message", async () => {
    const writer = await createKey(nats.url, "messages:write");
    const other = await createKey(nats.url, "messages:write");
    const post = (key: Key, text: string) => call(key, "POST", "/v1/messages", { chat: "shared-desk", text, idempotency_key: "order-1" });
    const first = await post(writer, "from the writer");
    expect(first.status).toBe(202);
    expect(first.json.duplicate).toBe(false);
    // the same key from another credential is another message: accepted, not reported as a duplicate
    const second = await post(other, "from the other");
    expect(second.status).toBe(202);
    expect(second.json.duplicate).toBe(false);
    expect(second.json.message_id).not.toBe(first.json.message_id);
    // and the writer's own retry is still absorbed
    const retry = await post(writer, "from the writer");
    expect(retry.json).toEqual({ message_id: first.json.message_id, duplicate: true });
  }, 60_000);

  it("lets a rotated key go on with its predecessor's sessions", async () => {
    await complete(alice, "rotating", "remember the word walnut");
    const r = await runCli(["keys", "rotate", alice.id, "--grace", "1h", "--json"], { NATS_URL: nats.url });
    expect(r.code, r.stderr).toBe(0);
    const next = JSON.parse(r.stdout) as Key;
    expect(await complete(next, "rotating", "/history")).toContain("walnut");
  }, 60_000);

  it("reaches anyone's session only with sessions:any, by its full id", async () => {
    await invoke(alice, "s2", "the boat is called Marlin");
    // as given, the session is the shared one of that name, not alice's
    expect(await invoke(ops, "s2", "/history")).not.toContain("Marlin");
    expect(await invoke(ops, `~key:${alice.id}~s2`, "/history")).toContain("Marlin");
    // without the scope, the same full id stays within mallory's own namespace
    expect(await invoke(mallory, `~key:${alice.id}~s2`, "/history")).not.toContain("Marlin");
    // and POST /v1/messages cannot write into it
    const writer = await createKey(nats.url, "messages:write");
    const into = await call(writer, "POST", "/v1/messages", { channel: "http", account: "echo", chat: `~key:${alice.id}~s2`, text: "/history" });
    expect(into).toMatchObject({ status: 403, json: { error: { code: "forbidden", field: "chat" } } });
    const as = await call(writer, "POST", "/v1/messages", {
      channel: "http",
      account: "echo",
      chat: "c",
      sender: { id: `~key:${alice.id}~http` },
      text: "/history",
    });
    expect(as).toMatchObject({ status: 403, json: { error: { code: "forbidden", field: "sender.id" } } });
  }, 60_000);

  it("shows ui:read the machines, the counts and its own sessions; another's history needs sessions:any", async () => {
    await invoke(alice, "s3", "my address is 1 Elm Street");
    await invoke(mallory, "s3", "hello");
    const aliceSession = sessionKey("echo", `http:echo:~key%3A${alice.id}~s3`);
    const mallorySession = sessionKey("echo", `http:echo:~key%3A${mallory.id}~s3`);
    expect((await call(mallory, "GET", "/ui/api/machines")).status).toBe(200);
    expect((await call(mallory, "GET", "/ui/api/cluster")).status).toBe(200);
    // another's history: refused; one's own: shown
    const theirs = await call(mallory, "GET", `/ui/api/actors/session/${encodeURIComponent(aliceSession)}`);
    expect(theirs.status).toBe(403);
    expect(JSON.stringify(theirs.json)).not.toContain("Elm Street");
    expect((await call(mallory, "GET", `/ui/api/actors/session/${encodeURIComponent(mallorySession)}`)).status).toBe(200);
    const mine = await call(alice, "GET", `/ui/api/actors/session/${encodeURIComponent(aliceSession)}`);
    expect(mine.status).toBe(200);
    expect(JSON.stringify(mine.json.context)).toContain("Elm Street");
    expect((await call(ops, "GET", `/ui/api/actors/session/${encodeURIComponent(aliceSession)}`)).status).toBe(200);
    // the list names only the viewer's own sessions, and counts the others
    const listed = await call(mallory, "GET", "/ui/api/actors?kind=session");
    expect(listed.status).toBe(200);
    const ids = (listed.json.actors as Array<{ id: string }>).map((a) => a.id);
    expect(ids).toContain(mallorySession);
    expect(ids).not.toContain(aliceSession);
    expect(listed.json.hiddenSessions).toBeGreaterThan(0);
    expect((await call(ops, "GET", "/ui/api/actors?kind=session")).json.actors.map((a: { id: string }) => a.id)).toContain(aliceSession);
    // following another's session live: refused; following all sessions carries none of another's events
    expect((await call(mallory, "GET", `/ui/events?kind=session&id=${encodeURIComponent(aliceSession)}`)).status).toBe(403);
    const events = await liveEvents(mallory, "/ui/events?kind=session&id=*", async () => {
      await invoke(alice, "s3", "/slow 300 again");
      await invoke(mallory, "s3", "/slow 300 again");
    });
    const moved = events.filter((e) => e.event === "actor").map((e) => (e.data as { id: string }).id);
    expect(moved).toContain(mallorySession);
    expect(moved).not.toContain(aliceSession);
  }, 60_000);

  /** The events of a live-view stream while `during` runs. */
  async function liveEvents(key: Key, path: string, during: () => Promise<void>): Promise<Array<{ event: string; data: unknown }>> {
    const ctl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, { headers: { authorization: `Bearer ${key.key}` }, signal: ctl.signal });
    expect(res.status).toBe(200);
    const out: Array<{ event: string; data: unknown }> = [];
    let text = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf("\n\n")) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) out.push({ event, data: JSON.parse(data) });
        }
      }
    })().catch(() => undefined);
    const deadline = Date.now() + 5_000;
    while (!out.some((e) => e.event === "hello") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await during();
    await new Promise((r) => setTimeout(r, 500));
    ctl.abort();
    await reading;
    return out;
  }
});
