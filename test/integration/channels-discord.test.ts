/**
 * The Discord channel through discord.js against a local fake of the Gateway
 * and the REST API (test/support/fake-discord.ts): a mention in a guild
 * channel answered as a reply to it and a message that does not mention the
 * bot ignored, a DM answered, a reply's images embedded, a refusal
 * dead-lettered and a wrong token said so, a long reply split under 2,000 characters
 * within the rate-limit headers, a 429 honoured, a dropped Gateway
 * connection resumed with what was missed replayed and answered once, and
 * the connection moved to another node when its node is SIGKILLed, nothing
 * answered twice.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { channelConfig, publishReply, untilRepliesAcked } from "../support/channels.js";
import { runCli } from "../support/claw-cli.js";
import { metric } from "../support/metrics.js";
import { FAKE_BOT_ID, startFakeDiscord, type FakeDiscord } from "../support/fake-discord.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const account = (fake: FakeDiscord, name: string) => ({
  type: "discord",
  account: name,
  tokenEnv: "DISCORD_BOT_TOKEN",
  apiRoot: fake.apiRoot,
  gatewayUrl: fake.gatewayUrl,
});

const GUILD = "3300000000000000003";

describe("the Discord channel", () => {
  let nats: NatsServerProcess;
  beforeAll(async () => {
    nats = await natsServer();
  }, 30_000);
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  const start = async (fake: FakeDiscord, name: string, nodeId: string, env: Record<string, string> = {}) => {
    const config = await channelConfig([account(fake, name)]);
    const node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, DISCORD_BOT_TOKEN: fake.token, CLAW_NODE_ID: nodeId, ...env } });
    await node.waitForLogs((l) => l.msg === "channel.connected" && l.account === name);
    return node;
  };

  it("answers a guild message that mentions the bot or replies to it, as a reply to it, ignores one that does not, and answers a DM", async () => {
    await using fake = await startFakeDiscord();
    await using node = await start(fake, "main", "d");
    const channel = "4400000000000000001";
    fake.message({ channelId: channel, guildId: GUILD, content: "people talking" });
    const mention = fake.message({ channelId: channel, guildId: GUILD, content: "are you there?", mentionBot: true });
    fake.message({ channelId: channel, guildId: GUILD, content: "and this", replyToBot: true });
    await until(() => fake.posted(channel).length === 2, "two guild replies");
    // the bot's mention is taken out of the text; the unmentioned message never reached the agent
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.posted(channel)).toEqual(["are you there?", "and this"]);
    const reply = fake.calls.find((c) => c.path === `/channels/${channel}/messages`)!;
    expect(reply.body).toMatchObject({
      content: "are you there?",
      message_reference: { message_id: mention, fail_if_not_exists: false },
      allowed_mentions: { parse: ["users"], replied_user: true },
    });
    expect(fake.calls.some((c) => c.method === "POST" && c.path === `/channels/${channel}/typing`)).toBe(true);

    // a direct message: always answered
    const dm = "4400000000000000002";
    fake.message({ channelId: dm, content: "hello bot" });
    await until(() => fake.posted(dm).length === 1, "the DM's reply");
    expect(fake.posted(dm)).toEqual(["hello bot"]);
    // a bot's message (another bot, or this one's own) is never answered
    fake.message({ channelId: dm, content: "beep", author: { id: FAKE_BOT_ID, username: "claw", bot: true } });
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.posted(dm)).toEqual(["hello bot"]);
    // one Gateway connection, heartbeating; the token is never logged
    expect(fake.gateway.mostOpenSince(0), "Gateway connections open at once").toBe(1);
    expect(fake.gateway.heartbeats).toBeGreaterThan(0);
    expect(node.output()).not.toContain(fake.token.split(".")[2]);
    expect(fake.unexpected429s, "requests over a bucket whose headers said to wait").toBe(0);
    // counted like every channel's messages
    expect(await metric(node.httpPort, 'claw_channel_messages_total{channel="discord",direction="in"}')).toBe(3);
    expect(await metric(node.httpPort, 'claw_channel_messages_total{channel="discord",direction="out"}')).toBe(3);
  }, 60_000);

  it("splits a long reply under 2,000 characters, keeping to the bucket's rate-limit headers", async () => {
    // two messages a second per channel: the third piece must wait for the bucket's reset
    await using fake = await startFakeDiscord({ bucket: { limit: 2, windowMs: 1_000 } });
    await using node = await start(fake, "long", "dl");
    void node;
    const dm = "4400000000000000003";
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
    const text = lines.join("\n"); // about 4,900 characters
    const id = fake.message({ channelId: dm, content: text });
    await until(() => fake.posted(dm).length === 3, "the reply in three pieces");
    const pieces = fake.posted(dm);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(2_000);
    // cut at line breaks: nothing lost, nothing cut inside a line
    expect(pieces.join("\n")).toBe(text);
    const posts = fake.calls.filter((c) => c.path === `/channels/${dm}/messages`);
    expect(posts.map((c) => c.status)).toEqual([200, 200, 200]);
    expect(posts[0]!.body.message_reference).toEqual({ message_id: id, fail_if_not_exists: false });
    expect(posts[1]!.body.message_reference).toBeUndefined();
    // X-RateLimit-Remaining: 0 after the second: discord.js waited for the reset instead of getting a 429
    expect(fake.unexpected429s).toBe(0);
    expect(posts[2]!.at - posts[0]!.at).toBeGreaterThanOrEqual(900);
  }, 60_000);

  it("honours a 429: the reply is sent again after retry_after, once — by discord.js, or by the runner for a long wait", async () => {
    await using fake = await startFakeDiscord();
    await using node = await start(fake, "limited", "dr");
    const dm = "4400000000000000004";
    fake.failNext(`POST /channels/${dm}/messages`, 1, { status: 429, retryAfter: 1 });
    const asked = Date.now();
    fake.message({ channelId: dm, content: "slow down" });
    await until(() => fake.posted(dm).length === 1, "the reply after the 429");
    const attempts = fake.calls.filter((c) => c.path === `/channels/${dm}/messages`);
    expect(attempts.map((c) => c.status)).toEqual([429, 200]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - asked).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.posted(dm)).toEqual(["slow down"]);

    // a longer wait than discord.js should hold a send for: the runner sends the reply again after it
    const other = "4400000000000000014";
    fake.failNext(`POST /channels/${other}/messages`, 1, { status: 429, retryAfter: 6 });
    fake.message({ channelId: other, content: "much slower" });
    await until(() => fake.posted(other).length === 1, "the reply after the long 429", 30_000);
    const again = fake.calls.filter((c) => c.path === `/channels/${other}/messages`);
    expect(again.map((c) => c.status)).toEqual([429, 200]);
    expect(again[1]!.at - again[0]!.at).toBeGreaterThanOrEqual(5_900);
    const [failed] = await node.waitForLogs((l) => l.msg === "channel.send.failed" && l.account === "limited");
    expect(failed!.retryInMs).toBeGreaterThanOrEqual(6_000);
    expect(fake.unexpected429s).toBe(0);
  }, 60_000);

  it("sends a reply's images as embeds and other media as links, refuses a reply Discord rejects (403), and says a token is wrong", async () => {
    await using fake = await startFakeDiscord();
    // a second account whose token Discord does not know: it fails to connect, and says why, and the node runs on
    const config = await channelConfig([account(fake, "refused"), { ...account(fake, "wrong"), tokenEnv: "DISCORD_WRONG_TOKEN" }]);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, DISCORD_BOT_TOKEN: fake.token, DISCORD_WRONG_TOKEN: "MTE.wrong.token", CLAW_NODE_ID: "df" },
    });
    await node.waitForLogs((l) => l.msg === "channel.connected" && l.account === "refused");
    const [failed] = await node.waitForLogs((l) => l.msg === "channel.connect.failed" && l.account === "wrong");
    expect(String(failed!.error)).toMatch(/token/i);
    expect(node.output()).not.toContain("MTE.wrong.token");
    // a reply published by an outside system with media: the images embedded, the file a line of the text
    await publishReply(nats.url, "discord", "refused", "4400000000000000015", {
      text: "your files",
      media: [
        { type: "image", url: "https://example.com/a.png", name: "a chart" },
        { type: "file", url: "https://example.com/b.pdf", name: "b.pdf" },
      ],
    });
    await until(() => fake.posted("4400000000000000015").length === 1, "the reply with media");
    expect(fake.calls.find((c) => c.path === "/channels/4400000000000000015/messages")!.body).toMatchObject({
      content: "your files\nb.pdf: https://example.com/b.pdf",
      embeds: [{ image: { url: "https://example.com/a.png" }, title: "a chart" }],
    });

    // 403 (no permission in the channel): dead-lettered with Discord's words, not sent again
    const dm = "4400000000000000005";
    fake.failNext(`POST /channels/${dm}/messages`, 1, { status: 403, code: 50013, message: "Missing Permissions" });
    fake.message({ channelId: dm, content: "no rights" });
    const [dead] = await node.waitForLogs((l) => l.msg === "channel.dead" && l.code === "forbidden", 1, 15_000);
    expect(String(dead!.reason)).toContain("Missing Permissions");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.calls.filter((c) => c.path === `/channels/${dm}/messages`)).toHaveLength(1);
  }, 60_000);

  it("resumes the Gateway session after the connection drops: what was dispatched meanwhile is replayed and answered once", async () => {
    await using fake = await startFakeDiscord();
    await using node = await start(fake, "resuming", "dz");
    const dm = "4400000000000000006";
    fake.message({ channelId: dm, content: "m0" });
    await until(() => fake.posted(dm).length === 1, "the first reply");
    // the connection drops (4000: unknown error, resumable); three messages come while it is down
    fake.dropConnections(4000);
    for (let i = 1; i <= 3; i++) fake.message({ channelId: dm, content: `m${i}` });
    await until(() => fake.posted(dm).length === 4, "the replies to the replayed messages");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.posted(dm)).toEqual(["m0", "m1", "m2", "m3"]);
    // resumed (RESUME with the session and its last sequence), not identified anew
    expect(fake.gateway.identifies).toBe(1);
    expect(fake.gateway.resumes).toHaveLength(1);
    expect(fake.gateway.resumes[0]).toMatchObject({ known: true, seq: expect.any(Number) });
    expect(fake.gateway.replayed).toBe(3);
    // the runner never saw the connection lost: discord.js resumed it within the connection
    expect(node.logs.filter((l) => l.msg === "channel.lost" && l.account === "resuming")).toEqual([]);
  }, 60_000);

  it("moves the Gateway connection to another node when its node is SIGKILLed or stops, resuming its session: nothing lost, nothing answered twice", async () => {
    await using fake = await startFakeDiscord();
    const config = await channelConfig([account(fake, "moving")]);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: config, DISCORD_BOT_TOKEN: fake.token };
    const since = Date.now();
    await using a = await startClaw({ env: { ...env, CLAW_NODE_ID: "da" } });
    await using b = await startClaw({ env: { ...env, CLAW_NODE_ID: "db" } });
    const runs = (n: ClawProcess) => n.logs.some((l) => l.msg === "channel.connected" && l.account === "moving");
    await until(() => runs(a) || runs(b), "the account connected");
    const [firstId, otherId] = runs(a) ? ["da", "db"] : ["db", "da"];
    // any node tells who runs the account, and what its channel type can do
    const listed = (await (await fetch(`http://127.0.0.1:${b.httpPort}/v1/channels`)).json()) as { channels: unknown[] };
    expect(listed.channels).toEqual([
      expect.objectContaining({
        type: "discord",
        account: "moving",
        owner: firstId,
        state: "connected",
        capabilities: { threads: true, edits: false, media: ["image"], maxTextLength: 2_000 },
      }),
    ]);
    const dm = "4400000000000000007";
    for (let i = 0; i < 10; i++) fake.message({ channelId: dm, content: `m${i}` });
    await until(() => fake.posted(dm).length === 10, "ten replies");
    // one connection: one node connected the account
    expect([a, b].filter(runs), "nodes running the account").toHaveLength(1);
    const first = runs(a) ? a : b;
    const other = first === a ? b : a;
    // a reply sent and not yet acked when its node dies is sent again by the next: wait for the acks first
    await untilRepliesAcked(nats.url, "discord", "moving");
    await first.kill("SIGKILL");
    // written while no node holds the connection: Discord keeps them for the session, which the next node resumes
    for (let i = 10; i < 20; i++) fake.message({ channelId: dm, content: `m${i}` });
    expect(fake.gateway.open(), "no connection while the messages were written").toBe(0);
    await until(() => fake.posted(dm).length >= 20, "twenty replies", 40_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.posted(dm)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(runs(other)).toBe(true);
    // resumed, not identified anew: one IDENTIFY in all, the other node's RESUME of the session it was handed
    expect(fake.gateway.identifies).toBe(1);
    expect(fake.gateway.resumes).toEqual([expect.objectContaining({ known: true })]);
    expect(fake.gateway.replayed).toBeGreaterThanOrEqual(10);
    expect(fake.gateway.mostOpenSince(since), "Gateway connections open at once").toBe(1);
    const cli = await runCli(["channels"], { NATS_URL: nats.url });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`discord\\s+moving\\s+connected\\s+${otherId}\\b`));

    // a node that stops hands the session over too (closed with a resumable code): a third node resumes it
    await using c = await startClaw({ env: { ...env, CLAW_NODE_ID: "dc" } });
    await untilRepliesAcked(nats.url, "discord", "moving");
    const stopped = other.kill("SIGTERM");
    for (let i = 20; i < 25; i++) fake.message({ channelId: dm, content: `m${i}` });
    await stopped;
    await until(() => fake.posted(dm).length >= 25, "twenty-five replies", 40_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.posted(dm)).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
    expect(runs(c)).toBe(true);
    expect(fake.gateway.identifies).toBe(1);
    expect(fake.gateway.resumes).toEqual([expect.objectContaining({ known: true }), expect.objectContaining({ known: true })]);
  }, 120_000);
});
