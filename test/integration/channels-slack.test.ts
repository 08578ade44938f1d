/**
 * The Slack channel (HTTP Events API on the gateway) with a sender of signed
 * events and a local fake of the Web API (test/support/fake-slack.ts): a
 * round trip into a thread, forged requests refused (bad signature, stale
 * timestamp), a retried event and the app_mention twin of a message
 * processed once, a 429 honoured, the Web API down and back, a refusal
 * dead-lettered, and an event reaching a node that does not run the account.
 * Socket Mode against the fake's WebSocket: envelopes acknowledged once on
 * claw.in, nothing lost across a cut socket and Slack's reconnect request,
 * a resent envelope taken once, media as blocks, and the account's socket
 * moved to another node when its node is SIGKILLed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { runClawExpectingFailure, startClaw, type ClawProcess } from "../support/claw-node.js";
import { channelConfig, publishReply, untilRepliesAcked } from "../support/channels.js";
import { messageEvent, sendSlackEvent, startFakeSlack, type FakeSlack } from "../support/fake-slack.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { STREAMS } from "../../src/bus/index.js";
import { startFakeOpenAI } from "../support/fake-openai.js";

const BOT_TOKEN = "xoxb-1-test-token";
const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const APP_TOKEN = "xapp-1-A1-test";

describe("the Slack channel", () => {
  let nats: NatsServerProcess;
  let slack: FakeSlack;
  beforeAll(async () => {
    [nats, slack] = await Promise.all([natsServer(), startFakeSlack(BOT_TOKEN, { appToken: APP_TOKEN })]);
  }, 30_000);
  afterAll(async () => {
    await slack?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  it("answers in the message's thread, refuses forged requests, and takes a retried event and its app_mention twin once", async () => {
    const config = await channelConfig([
      { type: "slack", account: "work", botTokenEnv: "SLACK_BOT_TOKEN", signingSecretEnv: "SLACK_SIGNING_SECRET", apiUrl: slack.apiUrl },
    ]);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SECRET, CLAW_NODE_ID: "s" },
    });
    const url = `http://127.0.0.1:${node.httpPort}/v1/webhooks/slack/work`;

    // Slack checks the endpoint first
    expect(await sendSlackEvent(url, SECRET, { type: "url_verification", challenge: "c-123", token: "x" })).toEqual({
      status: 200,
      body: { challenge: "c-123" },
    });

    expect((await sendSlackEvent(url, SECRET, messageEvent({ channel: "C1", text: "deploy status?", ts: "1700000001.000100" }))).status).toBe(200);
    await until(() => slack.posted("C1").length === 1, "the reply");
    // a channel message starts a thread: the reply goes into it
    expect(slack.posted("C1")).toEqual([{ text: "deploy status?", thread_ts: "1700000001.000100" }]);
    // and the thread's next message is the same session, answered in the thread
    await sendSlackEvent(url, SECRET, messageEvent({ channel: "C1", text: "/history", ts: "1700000002.000100", thread_ts: "1700000001.000100" }));
    await until(() => slack.posted("C1").length === 2, "the second reply");
    expect(slack.posted("C1")[1]).toMatchObject({ thread_ts: "1700000001.000100", text: expect.stringContaining("deploy status?") });

    // forged: a bad signature, a stale timestamp (6 minutes old), none at all
    expect((await sendSlackEvent(url, SECRET, messageEvent({ channel: "C9", text: "forged", ts: "1700000003.000100" }), { signature: "v0=00ff" })).status).toBe(
      401,
    );
    const stale = await sendSlackEvent(url, SECRET, messageEvent({ channel: "C9", text: "stale", ts: "1700000004.000100" }), {
      timestamp: Math.floor(Date.now() / 1000) - 360,
    });
    expect(stale.status).toBe(401);
    expect(stale.body.error.message).toMatch(/stale/);
    expect((await sendSlackEvent(url, "another secret", messageEvent({ channel: "C9", text: "wrong key", ts: "1700000005.000100" }))).status).toBe(401);

    // Slack sends an event again, and a mention arrives as `message` and `app_mention`: one reply
    const event = messageEvent({ channel: "C2", text: "<@UBOT> once please", ts: "1700000006.000100" });
    await sendSlackEvent(url, SECRET, event);
    await sendSlackEvent(url, SECRET, event, { retryNum: 1 });
    await sendSlackEvent(url, SECRET, messageEvent({ channel: "C2", text: "<@UBOT> once please", ts: "1700000006.000100", type: "app_mention" }, "EvOther"));
    await until(() => slack.posted("C2").length === 1, "the reply to the mention");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(slack.posted("C2")).toHaveLength(1);
    expect(slack.posted("C9")).toEqual([]);
    // the bot's own messages are not taken
    await sendSlackEvent(url, SECRET, {
      ...messageEvent({ channel: "C3", text: "from a bot", ts: "1700000007.000100" }),
      event: { type: "message", channel: "C3", text: "x", ts: "1700000007.000100", bot_id: "BBOT" },
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.posted("C3")).toEqual([]);
  }, 60_000);

  it("honours a 429's Retry-After, waits out the Web API being down, and dead-letters a reply Slack refuses", async () => {
    const config = await channelConfig([
      { type: "slack", account: "ops", botTokenEnv: "SLACK_BOT_TOKEN", signingSecretEnv: "SLACK_SIGNING_SECRET", apiUrl: slack.apiUrl },
    ]);
    await using node = await startClaw({
      env: {
        NATS_URL: nats.url,
        CLAW_CONFIG: config,
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SECRET,
        CLAW_NODE_ID: "s2",
        CLAW_RETRY_BASE_MS: "100",
        CLAW_RETRY_MAX_MS: "500",
      },
    });
    const url = `http://127.0.0.1:${node.httpPort}/v1/webhooks/slack/ops`;
    slack.failNext("chat.postMessage", 1, { status: 429, retryAfter: 1 });
    await sendSlackEvent(url, SECRET, messageEvent({ channel: "D1", text: "hi", ts: "1700000101.000100", channel_type: "im" }));
    await until(() => slack.posted("D1").length === 1, "the reply after the 429");
    const tries = slack.calls.filter((c) => c.method === "chat.postMessage" && c.payload.channel === "D1");
    expect(tries).toHaveLength(2);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(950);
    // a direct message is answered in place, not in a thread
    expect(slack.posted("D1")).toEqual([{ text: "hi" }]);

    slack.failNext("chat.postMessage", 3, { status: 503 });
    await sendSlackEvent(url, SECRET, messageEvent({ channel: "D1", text: "during", ts: "1700000102.000100", channel_type: "im" }));
    await until(() => slack.posted("D1").length === 2, "the reply after the outage");
    expect(slack.posted("D1")[1]).toEqual({ text: "during" });

    slack.failNext("chat.postMessage", 1, { status: 200, error: "channel_not_found" });
    await sendSlackEvent(url, SECRET, messageEvent({ channel: "C404", text: "gone", ts: "1700000103.000100" }));
    await node.waitForLogs((l) => l.msg === "channel.dead" && l.code === "channel_not_found", 1, 10_000);
    await new Promise((r) => setTimeout(r, 700));
    expect(slack.calls.filter((c) => c.method === "chat.postMessage" && c.payload.channel === "C404")).toHaveLength(1);
  }, 60_000);

  it("shows a streamed reply growing in its thread (chat.update), updated at most once a second, and ends it with the whole reply", async () => {
    await using model = await startFakeOpenAI();
    const answer = "Deploys are green; the last one went out at noon and the next is queued for three.";
    // written slowly: eleven pieces of 8 characters, 250 ms apart (about 2.75 s)
    model.answer = () => ({ text: answer, usage: { prompt: 5, completion: 20 }, pieceDelayMs: 250 });
    const config = await channelConfig(
      [{ type: "slack", account: "stream", botTokenEnv: "SLACK_BOT_TOKEN", signingSecretEnv: "SLACK_SIGNING_SECRET", apiUrl: slack.apiUrl }],
      {
        providers: { fake: { baseURL: model.baseURL, model: "fake-instant" } },
        agents: [{ id: "assistant", model: "fake", system: "You answer." }],
        defaultAgent: "assistant",
      },
    );
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SECRET, CLAW_NODE_ID: "st" },
    });
    await until(() => node.logs.some((l) => l.msg === "channel.connected" && l.account === "stream"), "the account running");
    await sendSlackEvent(
      `http://127.0.0.1:${node.httpPort}/v1/webhooks/slack/stream`,
      SECRET,
      messageEvent({ channel: "C50", text: "how are deploys?", ts: "1700000301.000100" }),
    );
    const updates = () => slack.calls.filter((c) => c.ok && c.method === "chat.update" && c.payload.channel === "C50");
    await until(() => updates().some((c) => c.payload.text === answer), "the streamed message finished");
    const posted = slack.posted("C50");
    expect(posted).toHaveLength(1);
    expect(posted[0]).toMatchObject({ thread_ts: "1700000301.000100", text: expect.stringMatching(/ …$/) });
    // it grew while the pieces came, each change at least a second after the one before (as the fake Web API
    // received them; 150 ms allowed for one request taking longer to arrive than the next). The last update,
    // the whole reply, goes out as soon as the reply is complete.
    const begun = slack.calls.find((c) => c.ok && c.method === "chat.postMessage" && c.payload.channel === "C50")!.at;
    const growing = updates()
      .filter((c) => String(c.payload.text).endsWith(" …"))
      .map((c) => c.at);
    expect(growing.length, "updates while the reply was written").toBeGreaterThanOrEqual(1);
    const changes = [begun, ...growing];
    const gaps = changes.slice(1).map((t, i) => t - changes[i]!);
    expect(Math.min(...gaps), `ms between changes: ${gaps.join(", ")}`).toBeGreaterThanOrEqual(850);
  }, 60_000);

  it("takes an event on a node that does not run the account; the reply comes from the one that does", async () => {
    const config = await channelConfig([
      { type: "slack", account: "pair", botTokenEnv: "SLACK_BOT_TOKEN", signingSecretEnv: "SLACK_SIGNING_SECRET", apiUrl: slack.apiUrl },
    ]);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: config, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SECRET };
    await using a = await startClaw({ env: { ...env, CLAW_NODE_ID: "pa" } });
    await using b = await startClaw({ env: { ...env, CLAW_NODE_ID: "pb" } });
    await until(() => [a, b].some((n) => n.logs.some((l) => l.msg === "channel.connected" && l.account === "pair")), "the account running");
    const runner = a.logs.some((l) => l.msg === "channel.connected" && l.account === "pair") ? a : b;
    const other = runner === a ? b : a;
    expect(
      (
        await sendSlackEvent(
          `http://127.0.0.1:${other.httpPort}/v1/webhooks/slack/pair`,
          SECRET,
          messageEvent({ channel: "C7", text: "via the other node", ts: "1700000201.000100" }),
        )
      ).status,
    ).toBe(200);
    await until(() => slack.posted("C7").length === 1, "the reply");
    // no such account: 404
    expect(
      (await sendSlackEvent(`http://127.0.0.1:${other.httpPort}/v1/webhooks/slack/nope`, SECRET, messageEvent({ channel: "C7", text: "x", ts: "1" }))).status,
    ).toBe(404);
  }, 60_000);

  describe("in Socket Mode", () => {
    const socketAccount = (account: string) => ({
      type: "slack",
      account,
      mode: "socket",
      botTokenEnv: "SLACK_BOT_TOKEN",
      appTokenEnv: "SLACK_APP_TOKEN",
      apiUrl: slack.apiUrl,
    });
    const env = (config: string) => ({
      NATS_URL: nats.url,
      CLAW_CONFIG: config,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_APP_TOKEN: APP_TOKEN,
      CLAW_RETRY_BASE_MS: "100",
      CLAW_RETRY_MAX_MS: "500",
    });
    const dm = (channel: string, text: string, ts: string) => messageEvent({ channel, text, ts, channel_type: "im" });
    const texts = (channel: string) => slack.posted(channel).map((p) => p.text);

    it("refuses a socket account without an app-level token, naming the variable", async () => {
      const config = await channelConfig([{ type: "slack", account: "x", mode: "socket", botTokenEnv: "SLACK_BOT_TOKEN" }]);
      const r = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_CONFIG: config, SLACK_BOT_TOKEN: BOT_TOKEN });
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("appTokenEnv");
    }, 30_000);

    it("answers over the socket, acknowledges once on claw.in, and loses nothing across a cut socket and a reconnect request", async () => {
      const config = await channelConfig([socketAccount("sock")]);
      await using node = await startClaw({ env: { ...env(config), CLAW_NODE_ID: "so" } });
      await until(() => node.logs.some((l) => l.msg === "channel.connected" && l.account === "sock"), "the socket open");
      const connects = slack.socket.connects;

      const first = slack.sendSocketEvent(dm("D10", "over the socket", "1700000401.000100"));
      await until(() => texts("D10").length === 1, "the reply");
      expect(texts("D10")).toEqual(["over the socket"]);
      await until(() => slack.socket.acked.includes(first), "the envelope acknowledged");
      // events are not taken over HTTP for a socket account
      expect((await sendSlackEvent(`http://127.0.0.1:${node.httpPort}/v1/webhooks/slack/sock`, SECRET, dm("D10", "x", "1"))).status).toBe(404);

      // the socket is cut; what Slack holds meanwhile comes on the next one
      slack.dropSockets();
      const during = ["a", "b", "c"].map((t, i) => slack.sendSocketEvent(dm("D10", t, `1700000402.00010${i}`)));
      await until(() => texts("D10").length === 4, "the replies after the reconnect");
      expect(texts("D10")).toEqual(["over the socket", "a", "b", "c"]);
      expect(slack.socket.connects).toBeGreaterThan(connects);
      await until(() => during.every((id) => slack.socket.acked.includes(id)), "the envelopes acknowledged");

      // Slack asks for a new connection: the runner opens one
      const before = slack.socket.connects;
      slack.askToReconnect();
      await until(() => slack.socket.connects > before && slack.socket.open() === 1, "a new socket");
      slack.sendSocketEvent(dm("D10", "d", "1700000403.000100"));
      await until(() => texts("D10").length === 5, "the reply on the new socket");

      // the same message twice (Slack's retry as a new envelope): one reply
      slack.sendSocketEvent(dm("D11", "once", "1700000404.000100"));
      slack.sendSocketEvent(dm("D11", "once", "1700000404.000100"));
      await until(() => texts("D11").length === 1, "the reply");
      await new Promise((r) => setTimeout(r, 1_000));
      expect(texts("D11")).toEqual(["once"]);
      const channels = (await (await fetch(`http://127.0.0.1:${node.httpPort}/v1/channels`)).json()) as {
        channels: Array<{ type: string; account: string; state: string }>;
      };
      // with what the channel type can do, as its adapter declares it
      expect(channels.channels.find((c) => c.account === "sock")).toMatchObject({
        type: "slack",
        state: "connected",
        capabilities: { threads: true, edits: true, media: ["image", "audio", "video", "file", "sticker", "location"], maxTextLength: 40_000 },
      });
    }, 60_000);

    it("moves the socket to another node when its node is SIGKILLed; what was not acknowledged is sent again and taken once", async () => {
      const config = await channelConfig([socketAccount("moving")]);
      // the earlier tests' nodes are gone: every socket from here on is this account's
      await until(() => slack.socket.open() === 0, "the earlier sockets closed");
      const since = Date.now();
      await using a = await startClaw({ env: { ...env(config), CLAW_NODE_ID: "sma" } });
      await using b = await startClaw({ env: { ...env(config), CLAW_NODE_ID: "smb" } });
      const runs = (n: ClawProcess) => n.logs.some((l) => l.msg === "channel.connected" && l.account === "moving");
      await until(() => runs(a) || runs(b), "the socket open");
      for (let i = 0; i < 10; i++) slack.sendSocketEvent(dm("D20", `m${i}`, `1700000500.0001${String(i).padStart(2, "0")}`));
      await until(() => texts("D20").length === 10, "ten replies");
      // one owner: one node connected the account
      expect([a, b].filter(runs), "nodes running the account").toHaveLength(1);
      const first = runs(a) ? a : b;
      const other = first === a ? b : a;
      // the tenth reply reached the fake; its node acks it a moment later (a reply sent and not yet acked when its
      // node dies is sent again by the next, at least once to the platform): what this test holds is that no *event*
      // is taken twice
      await untilRepliesAcked(nats.url, "slack", "moving");
      // events arrive while the node dies: some may be on claw.in and never acknowledged
      const sending = (async () => {
        for (let i = 10; i < 20; i++) {
          slack.sendSocketEvent(dm("D20", `m${i}`, `1700000500.0001${i}`));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await first.kill("SIGKILL");
      await sending;
      await until(() => texts("D20").length >= 20, "twenty replies", 30_000);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(texts("D20")).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(runs(other)).toBe(true);
      // and one socket at every moment: the new owner opened its socket once the old one's was gone
      expect(slack.socket.mostOpenSince(since), "sockets open at once").toBe(1);
    }, 60_000);

    it("sends the replies a SIGKILLed node took and never sent from the next node at once, in order", async () => {
      const config = await channelConfig([socketAccount("held")]);
      await until(() => slack.socket.open() === 0, "the earlier sockets closed");
      await using c = await client(nats.url);
      await using a = await startClaw({ env: { ...env(config), CLAW_NODE_ID: "sha" } });
      await using b = await startClaw({ env: { ...env(config), CLAW_NODE_ID: "shb" } });
      const runs = (n: ClawProcess) => n.logs.some((l) => l.msg === "channel.connected" && l.account === "held");
      await until(() => runs(a) || runs(b), "the socket open");
      const first = runs(a) ? a : b;
      // the first reply's post is taken and never answered: its node holds it, unsent and unacked, and the next behind it
      slack.holdNext("chat.postMessage", 1);
      slack.sendSocketEvent(dm("D40", "r0", "1700000600.000100"));
      await until(() => slack.calls.some((x) => x.method === "chat.postMessage" && x.payload.channel === "D40"), "the held post");
      slack.sendSocketEvent(dm("D40", "r1", "1700000600.000200"));
      const out = "claw.out.slack.held.D40";
      const waiting = async () => (await c.jsm.streams.info(STREAMS.out, { subjects_filter: out })).state.subjects?.[out] ?? 0;
      for (let i = 0; i < 100 && (await waiting()) < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await waiting()).toBe(2);
      await first.kill("SIGKILL");
      // the next node takes the replies' consumer over: both come at once, not r0 after its 30 s ack wait behind r1
      await until(() => texts("D40").length >= 2, "both replies from the next node", 20_000);
      await new Promise((r) => setTimeout(r, 500));
      expect(texts("D40")).toEqual(["r0", "r1"]);
    }, 60_000);

    it("sends a reply's media as blocks: images shown, files linked", async () => {
      const config = await channelConfig([socketAccount("media")]);
      await using node = await startClaw({ env: { ...env(config), CLAW_NODE_ID: "sme" } });
      await until(() => node.logs.some((l) => l.msg === "channel.connected" && l.account === "media"), "the socket open");
      await publishReply(nats.url, "slack", "media", "D30", {
        text: "here you go",
        media: [
          { type: "image", url: "https://example.com/chart.png", name: "chart" },
          { type: "file", url: "https://example.com/report.pdf", name: "report.pdf" },
        ],
      });
      await until(() => slack.posted("D30").length === 1, "the reply with media");
      expect(slack.posted("D30")[0]!.blocks).toEqual([
        { type: "section", text: { type: "mrkdwn", text: "here you go" } },
        { type: "image", image_url: "https://example.com/chart.png", alt_text: "chart" },
        { type: "section", text: { type: "mrkdwn", text: "<https://example.com/report.pdf|report.pdf>" } },
      ]);
    }, 60_000);
  });
});
