/**
 * `POST /v1/chat/completions` with the real `openai` package as the client:
 * any OpenAI client pointed at Claw works unchanged, streamed or not, and
 * gets errors in OpenAI's shape — a failed turn with the status that makes
 * its own retries do the right thing, and a retry carrying an
 * `Idempotency-Key` absorbed into the first try's turn.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

let nats: NatsServerProcess;
let fake: FakeOpenAI;
let claw: ClawProcess;
let openai: OpenAI;

beforeAll(async () => {
  nats = await natsServer();
  fake = await startFakeOpenAI();
  fake.answer = (req) => ({
    text: `The answer to "${lastUser(req)}" is a sentence long enough to come in several pieces.`,
    usage: { prompt: 21, completion: 13 },
  });
  const path = join(tmpdir(), `claw-chat-${process.pid}.json`);
  await writeFile(
    path,
    JSON.stringify({
      providers: { up: { baseURL: fake.baseURL, model: "m-up" } },
      agents: [{ id: "echo" }, { id: "assistant", model: "up", system: "be brief" }],
    }),
  );
  // transient failures give up fast here: two tries, 50 ms apart
  claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path, CLAW_MAX_DELIVER: "2", CLAW_RETRY_BASE_MS: "50" } });
  openai = new OpenAI({ baseURL: `http://127.0.0.1:${claw.httpPort}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await claw?.[Symbol.asyncDispose]();
  await fake?.close();
  await nats?.stop();
});

describe("POST /v1/chat/completions", () => {
  it("answers in OpenAI's shape, and keeps the conversation of a user", async () => {
    const first = await openai.chat.completions.create({ model: "echo", user: "alice", messages: [{ role: "user", content: "hello" }] });
    expect(first.object).toBe("chat.completion");
    expect(first.model).toBe("echo");
    expect(first.choices[0]).toMatchObject({ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" });
    // the session is Claw's: only the last user message is the turn
    const second = await openai.chat.completions.create({
      model: "echo",
      user: "alice",
      messages: [
        { role: "system", content: "ignored: the agent has its own" },
        { role: "user", content: [{ type: "text", text: "/history" }] },
      ],
    });
    expect(second.choices[0]!.message.content).toBe("1 earlier turns\n1. hello");
  });

  it("carries the provider's usage", async () => {
    const r = await openai.chat.completions.create({ model: "assistant", messages: [{ role: "user", content: "why?" }] });
    expect(r.choices[0]!.message.content).toBe('The answer to "why?" is a sentence long enough to come in several pieces.');
    expect(r.usage).toEqual({ prompt_tokens: 21, completion_tokens: 13, total_tokens: 34 });
  });

  it("streams the reply in pieces as the model writes them, ending with [DONE]", async () => {
    const stream = await openai.chat.completions.create({
      model: "assistant",
      messages: [{ role: "user", content: "stream it" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const pieces: string[] = [];
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice?.delta.content) pieces.push(choice.delta.content);
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(pieces.join("")).toBe('The answer to "stream it" is a sentence long enough to come in several pieces.');
    expect(pieces.length, "more than one piece: streamed, not sent at the end").toBeGreaterThan(2);
    expect(finish).toBe("stop");
    expect(usage).toEqual({ prompt_tokens: 21, completion_tokens: 13, total_tokens: 34 });
  });

  it("says so in OpenAI's error shape: an unknown model, no user message, a failed agent", async () => {
    await expect(openai.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
      param: "model",
      type: "invalid_request_error",
    });
    await expect(openai.chat.completions.create({ model: "echo", messages: [{ role: "system", content: "only this" }] })).rejects.toMatchObject({
      status: 400,
      param: "messages",
    });
    // a user whose name does not fit a subject once encoded is the caller's to change: 400, not a 503 to retry
    await expect(openai.chat.completions.create({ model: "echo", user: "🦀".repeat(200), messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
      status: 400,
      param: "user",
    });
    await expect(openai.chat.completions.create({ model: "echo", messages: [{ role: "user", content: "/fail on purpose" }] })).rejects.toMatchObject({
      status: 400,
      type: "server_error",
      code: "scripted_fail",
    });
  });

  it("makes one turn of a permanent failure, whatever the stock client's default retries", async () => {
    let attempts = 0;
    const stock = new OpenAI({
      baseURL: `http://127.0.0.1:${claw.httpPort}/v1`,
      apiKey: "unused",
      // the client's own retries (2 by default) stay on: only the requests it makes are counted
      fetch: async (url, init) => {
        attempts++;
        return fetch(url, init);
      },
    });
    const reason = `for good ${Date.now()}`;
    const failed = await stock.chat.completions.create({ model: "echo", messages: [{ role: "user", content: `/fail ${reason}` }] }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.BadRequestError);
    expect(failed).toMatchObject({ status: 400, code: "scripted_fail", type: "server_error" });
    expect((failed as InstanceType<typeof OpenAI.APIError>).headers?.get("x-should-retry")).toBe("false");
    expect(attempts).toBe(1);
    // one turn on the node's side: one dead letter, and no second one coming
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const mine = (all: Awaited<ReturnType<typeof waitForDeadLetters>>) => all.filter((d) => d.reason.includes(reason));
      await waitForDeadLetters(jsm, (all) => mine(all).length >= 1);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(mine(await waitForDeadLetters(jsm, () => true))).toHaveLength(1);
    } finally {
      await nc.close();
    }
  });

  it("answers a transient failure 503 with Retry-After, and its retry with the same Idempotency-Key is the same turn", async () => {
    const ask = () =>
      fetch(`http://127.0.0.1:${claw.httpPort}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "flaky-1" },
        body: JSON.stringify({ model: "echo", user: "flaky-user", messages: [{ role: "user", content: "/flaky 99" }] }),
      });
    const first = await ask();
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBe("5");
    expect(await first.json()).toMatchObject({ error: { type: "server_error", code: "scripted_flaky" } });
    const again = await ask();
    expect(again.status).toBe(503);
    expect(await again.json()).toMatchObject({ error: { code: "scripted_flaky" } });
    // no turn was answered in that conversation: the retry did not run /flaky again
    const history = await openai.chat.completions.create({ model: "echo", user: "flaky-user", messages: [{ role: "user", content: "/history" }] });
    expect(history.choices[0]!.message.content).toBe("0 earlier turns");
  });

  it("absorbs a retry carrying the same Idempotency-Key into the first try's turn, running or done", async () => {
    const headers = { "Idempotency-Key": "idem-chat-1" };
    const ask = (text: string) =>
      openai.chat.completions.create({ model: "echo", user: "idem-user", messages: [{ role: "user", content: text }] }, { headers });
    // the retry comes while the first try's turn runs, then once more after it ended
    const [a, b] = await Promise.all([ask("/slow 400"), new Promise((r) => setTimeout(r, 100)).then(() => ask("/slow 400"))]);
    const c = await ask("/slow 400");
    expect(a.choices[0]!.message.content).toBe("slept 400 ms");
    expect([b.id, c.id]).toEqual([a.id, a.id]);
    expect([b.choices[0]!.message.content, c.choices[0]!.message.content]).toEqual(["slept 400 ms", "slept 400 ms"]);
    const history = await openai.chat.completions.create({ model: "echo", user: "idem-user", messages: [{ role: "user", content: "/history" }] });
    expect(history.choices[0]!.message.content).toBe("1 earlier turns\n1. /slow 400");
    // another key is another turn
    await openai.chat.completions.create(
      { model: "echo", user: "idem-user", messages: [{ role: "user", content: "again" }] },
      { headers: { "Idempotency-Key": "idem-chat-2" } },
    );
    const after = await openai.chat.completions.create({ model: "echo", user: "idem-user", messages: [{ role: "user", content: "/history" }] });
    expect(after.choices[0]!.message.content).toContain("3 earlier turns");
    // the conversation moved on (three turns since): a late retry still gets its own first reply, and no new turn
    const late = await ask("/slow 400");
    expect([late.id, late.choices[0]!.message.content]).toEqual([a.id, "slept 400 ms"]);
    const last = await openai.chat.completions.create({ model: "echo", user: "idem-user", messages: [{ role: "user", content: "/history" }] });
    expect(last.choices[0]!.message.content).toContain("4 earlier turns");
  });
});
