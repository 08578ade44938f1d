/**
 * `POST /v1/chat/completions` with the real `openai` package as the client:
 * any OpenAI client pointed at Claw works unchanged, streamed or not, and
 * gets errors in OpenAI's shape.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

let nats: NatsServerProcess;
let fake: FakeOpenAI;
let claw: ClawProcess;
let openai: OpenAI;

beforeAll(async () => {
  nats = await natsServer();
  fake = await startFakeOpenAI();
  fake.answer = (req) => ({ text: `The answer to "${lastUser(req)}" is a sentence long enough to come in several pieces.`, usage: { prompt: 21, completion: 13 } });
  const path = join(tmpdir(), `claw-chat-${process.pid}.json`);
  await writeFile(
    path,
    JSON.stringify({
      providers: { up: { baseURL: fake.baseURL, model: "m-up" } },
      agents: [{ id: "echo" }, { id: "assistant", model: "up", system: "be brief" }],
    }),
  );
  claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path } });
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
    await expect(openai.chat.completions.create({ model: "echo", messages: [{ role: "system", content: "only this" }] })).rejects.toMatchObject({ status: 400, param: "messages" });
    await expect(openai.chat.completions.create({ model: "echo", messages: [{ role: "user", content: "/fail on purpose" }] })).rejects.toMatchObject({
      status: 500,
      type: "server_error",
      code: "scripted_fail",
    });
  });
});
