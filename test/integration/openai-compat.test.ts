/**
 * What OpenAI clients nobody here wrote ask of Claw beyond chat completions,
 * on a gateway that requires keys: `GET /v1/models` (the agents a key may
 * invoke, narrowed grants too), `POST /v1/responses` plain and streamed
 * through the stock `openai` client, the Vercel AI SDK (whose default
 * `openai("model")` speaks the Responses API), and an `Idempotency-Key` that
 * is one caller's own: another key's request with the same key is another
 * turn.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, streamText } from "ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { writeJsonlState } from "../support/openclaw-state.js";
import { mkdtemp } from "node:fs/promises";

let nats: NatsServerProcess;
let fake: FakeOpenAI;
let claw: ClawProcess;
const keys: Record<"all" | "echoOnly" | "other", string> = { all: "", echoOnly: "", other: "" };
let otherId = "";
const base = () => `http://127.0.0.1:${claw.httpPort}/v1`;
const client = (key: string, o: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) => new OpenAI({ baseURL: base(), apiKey: key, ...o });

async function createKey(scopes: string): Promise<{ id: string; key: string }> {
  const r = await runCli(["keys", "create", "--scopes", scopes, "--json"], { NATS_URL: nats.url });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; key: string };
}

beforeAll(async () => {
  nats = await natsServer();
  fake = await startFakeOpenAI();
  fake.answer = (req) => ({
    text: `The answer to "${lastUser(req)}" is a sentence long enough to come in several pieces.`,
    usage: { prompt: 21, completion: 13 },
  });
  const path = join(tmpdir(), `claw-openai-compat-${process.pid}.json`);
  await writeFile(
    path,
    JSON.stringify({
      providers: { up: { baseURL: fake.baseURL, model: "m-up" } },
      agents: [{ id: "echo" }, { id: "assistant", model: "up", system: "be brief" }],
    }),
  );
  claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path, CLAW_AUTH: "required" } });
  keys.all = (await createKey("*")).key;
  keys.echoOnly = (await createKey("agents:invoke:echo")).key;
  const other = await createKey("agents:invoke");
  keys.other = other.key;
  otherId = other.id;
}, 60_000);

afterAll(async () => {
  await claw?.[Symbol.asyncDispose]();
  await fake?.close();
  await nats?.stop();
});

describe("GET /v1/models", () => {
  it("lists the agents a key may invoke, in OpenAI's shape, through the stock client", async () => {
    const all = [];
    for await (const m of client(keys.all).models.list()) all.push(m);
    expect(all.map((m) => m.id).sort()).toEqual(["assistant", "echo"]);
    expect(all[0]).toMatchObject({ object: "model", owned_by: "claw" });
    expect(all.every((m) => Number.isInteger(m.created) && m.created > 1_700_000_000)).toBe(true);
    // a key narrowed to one agent sees that one
    const narrowed = [];
    for await (const m of client(keys.echoOnly).models.list()) narrowed.push(m.id);
    expect(narrowed).toEqual(["echo"]);
    expect(await client(keys.echoOnly).models.retrieve("echo")).toMatchObject({ id: "echo", object: "model", owned_by: "claw" });
    await expect(client(keys.echoOnly).models.retrieve("assistant")).rejects.toMatchObject({ status: 403 });
    await expect(client(keys.all).models.retrieve("gpt-9")).rejects.toMatchObject({ status: 404, code: "model_not_found" });
    // and without a credential, nothing
    expect((await fetch(`${base()}/models`)).status).toBe(401);
  });
});

describe("POST /v1/responses", () => {
  it("answers a response, and continues its conversation by previous_response_id or by user", async () => {
    const openai = client(keys.all);
    const first = await openai.responses.create({ model: "assistant", input: "why?", instructions: "ignored: the agent has its own" });
    expect(first).toMatchObject({ object: "response", status: "completed", model: "assistant", instructions: null, error: null });
    expect(first.id).toMatch(/^resp_/);
    expect(first.output_text).toBe('The answer to "why?" is a sentence long enough to come in several pieces.');
    expect(first.output[0]).toMatchObject({ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", annotations: [] }] });
    expect(first.usage).toMatchObject({ input_tokens: 21, output_tokens: 13, total_tokens: 34 });

    const a = await openai.responses.create({ model: "echo", input: "first words" });
    const b = await openai.responses.create({
      model: "echo",
      input: [{ role: "user", content: [{ type: "input_text", text: "/history" }] }],
      previous_response_id: a.id,
    });
    expect(b.output_text).toBe("1 earlier turns\n1. first words");
    expect(b.previous_response_id).toBe(a.id);
    const byUser = await openai.responses.create({ model: "echo", user: "resp-user", input: "hello" });
    const again = await openai.responses.create({ model: "echo", previous_response_id: byUser.id, user: "resp-user", input: "/history" });
    expect(again.output_text).toBe("1 earlier turns\n1. hello");
    await expect(openai.responses.create({ model: "echo", previous_response_id: byUser.id, user: "someone-else", input: "x" })).rejects.toMatchObject({
      status: 400,
      param: "previous_response_id",
    });
    await expect(openai.responses.create({ model: "echo", previous_response_id: "resp_not-ours", input: "x" })).rejects.toMatchObject({
      status: 400,
      param: "previous_response_id",
    });
    await expect(openai.responses.create({ model: "echo", input: [{ role: "system", content: "only this" }] })).rejects.toMatchObject({
      status: 400,
      param: "input",
    });
  });

  it("streams OpenAI's events as the model writes: created, the text's deltas, completed", async () => {
    const stream = await client(keys.all).responses.create({ model: "assistant", input: "stream it", stream: true });
    const types: string[] = [];
    const deltas: string[] = [];
    let completed: OpenAI.Responses.Response | undefined;
    let done = "";
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === "response.output_text.delta") deltas.push(e.delta);
      if (e.type === "response.output_text.done") done = e.text;
      if (e.type === "response.completed") completed = e.response;
    }
    const expected = 'The answer to "stream it" is a sentence long enough to come in several pieces.';
    expect(deltas.join("")).toBe(expected);
    expect(deltas.length, "more than one piece: streamed, not sent at the end").toBeGreaterThan(2);
    expect(done).toBe(expected);
    const unique = types.filter((t, i) => t !== types[i - 1]);
    expect(unique).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(completed).toMatchObject({
      status: "completed",
      usage: { input_tokens: 21, output_tokens: 13 },
      output: [{ type: "message", content: [{ type: "output_text", text: expected }] }],
    });
  });

  it("answers a permanent failure once, with its code, and the stock client does not retry it", async () => {
    let attempts = 0;
    const openai = client(keys.all, { fetch: async (u, i) => (attempts++, fetch(u, i)) });
    await expect(openai.responses.create({ model: "echo", input: "/fail for good" })).rejects.toMatchObject({
      status: 400,
      code: "scripted_fail",
      type: "server_error",
    });
    await expect(openai.responses.create({ model: "echo", input: "/fail streamed", stream: true })).rejects.toMatchObject({
      status: 400,
      code: "scripted_fail",
    });
    expect(attempts).toBe(2);
  });
});

describe("the Vercel AI SDK", () => {
  it("talks to an agent with its default model (the Responses API) and with .chat, streamed or not", async () => {
    const provider = createOpenAI({ baseURL: base(), apiKey: keys.all });
    const plain = await generateText({ model: provider("echo"), prompt: "hello from the AI SDK" });
    expect(plain.text).toBe("hello from the AI SDK");
    const streamed = streamText({ model: provider("assistant"), prompt: "stream it" });
    const parts: string[] = [];
    for await (const t of streamed.textStream) parts.push(t);
    expect(parts.join("")).toBe('The answer to "stream it" is a sentence long enough to come in several pieces.');
    expect(parts.length).toBeGreaterThan(2);
    expect((await generateText({ model: provider.chat("echo"), prompt: "via chat completions" })).text).toBe("via chat completions");
  });

  it("does not retry a permanent failure (its default 2 retries stay unused)", async () => {
    let attempts = 0;
    const provider = createOpenAI({ baseURL: base(), apiKey: keys.all, fetch: async (u, i) => (attempts++, fetch(u, i)) });
    const failed = await generateText({ model: provider("echo"), prompt: "/fail in the AI SDK" }).catch((e: unknown) => e);
    expect(APICallError.isInstance(failed) && failed.statusCode).toBe(400);
    expect(attempts).toBe(1);
  });
});

describe("Idempotency-Key", () => {
  it("is the caller's own: another key's request with the same Idempotency-Key is its own turn", async () => {
    const headers = { "Idempotency-Key": "shared-key-1" };
    const mine = await client(keys.all).chat.completions.create(
      { model: "echo", user: "shared-user", messages: [{ role: "user", content: "from the first key" }] },
      { headers },
    );
    const theirs = await client(keys.other).chat.completions.create(
      { model: "echo", user: "shared-user", messages: [{ role: "user", content: "from the other key" }] },
      { headers },
    );
    expect(mine.choices[0]!.message.content).toBe("from the first key");
    expect(theirs.choices[0]!.message.content).toBe("from the other key");
    // and the first key's retry is still its own first turn
    const retry = await client(keys.all).chat.completions.create(
      { model: "echo", user: "shared-user", messages: [{ role: "user", content: "from the first key" }] },
      { headers },
    );
    expect(retry.id).toBe(mine.id);
    // on /v1/responses and invoke the same
    const r1 = await client(keys.all).responses.create({ model: "echo", input: "a response once" }, { headers: { "Idempotency-Key": "resp-key" } });
    const r2 = await client(keys.all).responses.create({ model: "echo", input: "a response once" }, { headers: { "Idempotency-Key": "resp-key" } });
    expect(r2.id).toBe(r1.id);
    const history = await client(keys.all).responses.create({ model: "echo", previous_response_id: r1.id, input: "/history" });
    expect(history.output_text).toBe("1 earlier turns\n1. a response once");
    const invoke = (key: string) =>
      fetch(`${base()}/agents/echo/invoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "idempotency-key": "invoke-key" },
        body: JSON.stringify({ text: "invoked once", session: "inv-idem" }),
      }).then((r) => r.json() as Promise<{ message_id: string; reply: { id: string } }>);
    const [i1, i2, i3] = [await invoke(keys.all), await invoke(keys.all), await invoke(keys.other)];
    expect(i2.reply.id).toBe(i1.reply.id);
    expect(i3.message_id).not.toBe(i1.message_id);
  });
});

describe("claw import openclaw --key", () => {
  it("files a user's OpenClaw conversation where that key's caller finds it under the same user", async () => {
    const state = await mkdtemp(join(tmpdir(), "openclaw-key-"));
    await writeJsonlState(state, "main", [
      { key: "agent:main:openai-user:keyed-user", id: "5e55a0b0-0000-4000-8000-000000000001", turns: [{ user: "imported for a key", answer: "ok" }] },
    ]);
    const unknown = await runCli(["import", "openclaw", state, "--agent", "echo", "--key", "nosuchkey"], { NATS_URL: nats.url }, 60_000);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no API key nosuchkey");
    const imported = await runCli(["import", "openclaw", state, "--agent", "echo", "--key", otherId], { NATS_URL: nats.url }, 60_000);
    expect(imported.code, imported.stderr).toBe(0);
    const history = await client(keys.other).responses.create({ model: "echo", user: "keyed-user", input: "/history" });
    expect(history.output_text).toBe("1 earlier turns\n1. imported for a key");
  });
});
