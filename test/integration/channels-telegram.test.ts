/**
 * The Telegram channel through grammY against a local fake of the Bot API
 * (test/support/fake-telegram.ts): a round trip, group gating, a 429
 * honoured, the API down and back with nothing lost, an update Telegram
 * sends again processed once, and the poller moved to another node when its
 * node is SIGKILLed without reprocessing updates; media a skill returned sent
 * by URL with the reply as its caption, and one Telegram cannot send by URL
 * (a location) as a link in the text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { channelConfig, publishReply, untilRepliesAcked } from "../support/channels.js";
import { startFakeTelegram, type FakeTelegram } from "../support/fake-telegram.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const account = (fake: FakeTelegram, name: string) => ({
  type: "telegram",
  account: name,
  tokenEnv: "BOT_TOKEN",
  apiRoot: fake.apiRoot,
  pollTimeoutSeconds: 1,
});

describe("the Telegram channel", () => {
  let nats: NatsServerProcess;
  beforeAll(async () => {
    nats = await natsServer();
  }, 30_000);
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it("answers a private message as a reply to it, shows typing, takes a group message only when it mentions the bot, and honours a 429", async () => {
    await using fake = await startFakeTelegram();
    const config = await channelConfig([account(fake, "main")]);
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token, CLAW_NODE_ID: "t" } });
    fake.push({ chatId: 42, text: "hello bot" });
    await until(() => fake.sentTo(42).length === 1, "the reply");
    const reply = fake.calls.find((c) => c.method === "sendMessage")!;
    expect(reply.payload).toMatchObject({ chat_id: "42", text: "hello bot", reply_parameters: { message_id: 1001 } });
    expect(fake.calls.some((c) => c.method === "sendChatAction" && c.payload.action === "typing")).toBe(true);
    // the token is never logged
    expect(node.output()).not.toContain(fake.token.split(":")[1]);

    // groups: only what mentions the bot, or answers it
    fake.push({ chatId: -100, chatType: "supergroup", text: "people talking" });
    fake.push({ chatId: -100, chatType: "supergroup", text: "@claw_test_bot are you there?" });
    fake.push({ chatId: -100, chatType: "supergroup", text: "and this", replyToBot: true });
    await until(() => fake.sentTo(-100).length === 2, "two group replies");
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.sentTo(-100)).toEqual(["@claw_test_bot are you there?", "and this"]);

    // 429: sent again after retry_after, once
    fake.failNext("sendMessage", 1, { error_code: 429, description: "Too Many Requests: retry after 1", parameters: { retry_after: 1 } });
    const asked = Date.now();
    fake.push({ chatId: 43, text: "slow down" });
    await until(() => fake.sentTo(43).length === 1, "the reply after the 429");
    const attempts = fake.calls.filter((c) => c.method === "sendMessage" && Number(c.payload.chat_id) === 43);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - asked).toBeLessThan(10_000);
  }, 60_000);

  it("loses nothing while the API is down, processes an update sent again once, and refuses a reply Telegram rejects", async () => {
    await using fake = await startFakeTelegram();
    const config = await channelConfig([account(fake, "outage")]);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token, CLAW_NODE_ID: "o", CLAW_RETRY_BASE_MS: "100", CLAW_RETRY_MAX_MS: "500" },
    });
    fake.push({ chatId: 1, text: "before" });
    await until(() => fake.sentTo(1).length === 1, "the first reply");
    fake.down = true;
    fake.push({ chatId: 1, text: "during" });
    await new Promise((r) => setTimeout(r, 1_500));
    fake.down = false;
    fake.push({ chatId: 1, text: "after" });
    await until(() => fake.sentTo(1).length === 3, "the replies after the outage");
    expect(fake.sentTo(1)).toEqual(["before", "during", "after"]);
    await node.waitForLogs((l) => l.msg === "channel.lost" && l.account === "outage");

    // Telegram sends an update again (its confirmation got lost): one reply
    const again = {
      update_id: 7_000,
      message: { message_id: 7_000, date: 0, chat: { id: 2, type: "private" }, from: { id: 2, is_bot: false, first_name: "Bo" }, text: "once" },
    };
    fake.pushRaw(again);
    await until(() => fake.sentTo(2).length === 1, "the reply to the repeated update");
    fake.pushRaw({ ...again }, true);
    await until(() => fake.delivered.filter((id) => id === 7_000).length === 2, "the repeat fetched");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.sentTo(2)).toEqual(["once"]);

    // 403 (the user blocked the bot): refused, dead-lettered, not retried
    fake.failNext("sendMessage", 1, { error_code: 403, description: "Forbidden: bot was blocked by the user" });
    fake.push({ chatId: 3, text: "blocked" });
    await node.waitForLogs((l) => l.msg === "channel.dead" && l.code === "forbidden", 1, 10_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.calls.filter((c) => c.method === "sendMessage" && Number(c.payload.chat_id) === 3)).toHaveLength(1);
  }, 60_000);

  it("takes webhook updates on any node, refuses a wrong secret, and answers a repeated update once", async () => {
    await using fake = await startFakeTelegram();
    const hook = {
      ...account(fake, "hooked"),
      mode: "webhook",
      webhookSecretEnv: "HOOK_SECRET",
      webhookUrl: "https://claw.example.org/v1/webhooks/telegram/hooked",
    };
    const config = await channelConfig([hook]);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token, HOOK_SECRET: "s3cret-hook", CLAW_NODE_ID: "w" },
    });
    await until(() => fake.calls.some((c) => c.method === "setWebhook" && c.ok), "setWebhook");
    expect(fake.calls.find((c) => c.method === "setWebhook")!.payload).toMatchObject({ url: hook.webhookUrl, secret_token: "s3cret-hook" });
    expect(fake.calls.some((c) => c.method === "getUpdates")).toBe(false);
    const post = (update: unknown, secret = "s3cret-hook") =>
      fetch(`http://127.0.0.1:${node.httpPort}/v1/webhooks/telegram/hooked`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
        body: JSON.stringify(update),
      });
    const update = {
      update_id: 500,
      message: { message_id: 77, date: 0, chat: { id: 9, type: "private" }, from: { id: 9, is_bot: false, first_name: "Cy" }, text: "via webhook" },
    };
    expect((await post(update, "wrong")).status).toBe(401);
    expect((await post(update)).status).toBe(200);
    expect((await post(update)).status).toBe(200); // Telegram sending it again
    await until(() => fake.sentTo(9).length === 1, "the reply");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.sentTo(9)).toEqual(["via webhook"]);
    expect(fake.calls.find((c) => c.method === "sendMessage" && Number(c.payload.chat_id) === 9)!.payload).toMatchObject({
      reply_parameters: { message_id: 77 },
    });
    // a button press is answered in the webhook's response (the Bot API's reply to a webhook), not by a call
    const press = await post({
      update_id: 501,
      callback_query: { id: "cq-hook", from: { id: 9, is_bot: false, first_name: "Cy" }, chat_instance: "ci", data: "/approve ap000000000000000000000000" },
    });
    expect(press.status).toBe(200);
    expect(await press.json()).toEqual({ method: "answerCallbackQuery", callback_query_id: "cq-hook" });
    expect(fake.calls.filter((c) => c.method === "answerCallbackQuery")).toEqual([]);
  }, 60_000);

  it("shows a streamed reply growing in one message, edited at most once a second, and ends it with the whole reply", async () => {
    await using fake = await startFakeTelegram();
    await using model = await startFakeOpenAI();
    const answer = "The quick brown fox jumps over the lazy dog, and then it does it again, slower.";
    // written slowly: ten pieces of 8 characters, 250 ms apart (about 2.5 s)
    model.answer = () => ({ text: answer, usage: { prompt: 5, completion: 20 }, pieceDelayMs: 250 });
    const config = await channelConfig([account(fake, "streaming")], {
      providers: { fake: { baseURL: model.baseURL, model: "fake-instant" } },
      agents: [{ id: "assistant", model: "fake", system: "You answer." }],
      defaultAgent: "assistant",
    });
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token, CLAW_NODE_ID: "st" } });
    void node;
    fake.push({ chatId: 77, text: "tell me about the fox" });
    const edits = () => fake.calls.filter((c) => c.ok && c.method === "editMessageText" && Number(c.payload.chat_id) === 77);
    await until(() => edits().some((c) => c.payload.text === answer), "the streamed message finished");
    // one message, begun with the first piece and edited into the whole reply
    const sent = fake.sentTo(77);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/ …$/);
    expect(answer.startsWith(sent[0]!.replace(/ …$/, ""))).toBe(true);
    expect(edits().at(-1)!.payload).toMatchObject({ message_id: expect.anything(), text: answer });
    // it grew while the pieces came, each change at least a second after the one before (as the fake Bot API
    // received them; 150 ms allowed for one request taking longer to arrive than the next). The last edit,
    // the whole reply, goes out as soon as the reply is complete.
    const begun = fake.calls.find((c) => c.ok && c.method === "sendMessage" && Number(c.payload.chat_id) === 77)!.at;
    const growing = edits()
      .filter((c) => String(c.payload.text).endsWith(" …"))
      .map((c) => c.at);
    expect(growing.length, "edits while the reply was written").toBeGreaterThanOrEqual(1);
    const changes = [begun, ...growing];
    const gaps = changes.slice(1).map((t, i) => t - changes[i]!);
    expect(Math.min(...gaps), `ms between changes: ${gaps.join(", ")}`).toBeGreaterThanOrEqual(850);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.sentTo(77)).toHaveLength(1);
  }, 60_000);

  it("moves the poller to another node when its node is SIGKILLed, without reprocessing updates", async () => {
    await using fake = await startFakeTelegram();
    const config = await channelConfig([account(fake, "moving")]);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token };
    await using a = await startClaw({ env: { ...env, CLAW_NODE_ID: "ta" } });
    await using b = await startClaw({ env: { ...env, CLAW_NODE_ID: "tb" } });
    for (let i = 0; i < 10; i++) fake.push({ chatId: 5, text: `m${i}` });
    await until(() => fake.sentTo(5).length === 10, "ten replies");
    const runs = (n: ClawProcess) => n.logs.some((l) => l.msg === "channel.connected" && l.account === "moving");
    // one poller: one node connected the account, and the Bot API never saw two getUpdates at once
    expect([a, b].filter(runs), "nodes running the account").toHaveLength(1);
    const first = runs(a) ? a : b;
    const other = first === a ? b : a;
    // the tenth reply reached the fake; its node acks it a moment later (a reply sent and not yet acked when its node
    // dies is sent again by the next): what this test holds is that no *update* is processed twice
    await untilRepliesAcked(nats.url, "telegram", "moving");
    await first.kill("SIGKILL");
    for (let i = 10; i < 20; i++) fake.push({ chatId: 5, text: `m${i}` });
    await until(() => fake.sentTo(5).length >= 20, "twenty replies", 30_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.sentTo(5)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(runs(other)).toBe(true);
    expect(fake.conflicts, "getUpdates while another was open (409 Conflict): two pollers at once").toEqual([]);
  }, 60_000);

  it("sends media by URL: a skill's image with the reply as its caption, several media after the text", async () => {
    await using fake = await startFakeTelegram();
    const config = await channelConfig([account(fake, "media")], { agents: [{ id: "helper", skills: ["echo@^1"] }], defaultAgent: "helper" });
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, BOT_TOKEN: fake.token, CLAW_NODE_ID: "tm" } });
    await until(() => node.logs.some((l) => l.msg === "channel.connected" && l.account === "media"), "the account running");
    // the scripted model calls the echo skill, whose output holds media: the reply carries it
    fake.push({
      chatId: 88,
      text: '/tool echo {"text":"a chart","media":[{"type":"image","url":"https://example.com/chart.png"},{"type":"image","name":"no url"}]}',
    });
    const sent = (method: string, chat: number) => fake.calls.filter((c) => c.ok && c.method === method && Number(c.payload.chat_id) === chat);
    await until(() => sent("sendPhoto", 88).length === 1, "the photo");
    expect(sent("sendPhoto", 88)[0]!.payload).toMatchObject({
      photo: "https://example.com/chart.png",
      caption: expect.stringMatching(/^echo: /),
      reply_parameters: { message_id: expect.anything() },
    });
    // the caption was the text: no message of its own
    expect(fake.sentTo(88)).toEqual([]);

    // a reply published by an outside system with two media: the text, then each
    await publishReply(nats.url, "telegram", "media", "89", {
      text: "your files",
      media: [
        { type: "image", url: "https://example.com/a.png" },
        { type: "file", url: "https://example.com/b.pdf", name: "b.pdf" },
      ],
    });
    await until(() => sent("sendDocument", 89).length === 1, "the document");
    expect(fake.sentTo(89)).toEqual(["your files"]);
    expect(sent("sendPhoto", 89).map((c) => c.payload.photo)).toEqual(["https://example.com/a.png"]);
    expect(sent("sendDocument", 89)[0]!.payload).toMatchObject({ document: "https://example.com/b.pdf" });
    const order = fake.calls.filter((c) => c.ok && Number(c.payload.chat_id) === 89).map((c) => c.method);
    expect(order).toEqual(["sendMessage", "sendPhoto", "sendDocument"]);

    // a medium the channel does not take (Telegram has no location by URL): a link in the text, not dropped
    await publishReply(nats.url, "telegram", "media", "90", {
      text: "meet here",
      media: [{ type: "location", url: "https://maps.example/?q=52.5,13.4", name: "the café" }],
    });
    await until(() => fake.sentTo(90).length === 1, "the text");
    expect(fake.sentTo(90)).toEqual(["meet here\nthe café: https://maps.example/?q=52.5,13.4"]);
  }, 60_000);
});
