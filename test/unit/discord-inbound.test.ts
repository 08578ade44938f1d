/**
 * Discord without a connection: which Gateway messages the bot takes and as
 * what (src/adapters/discord/inbound.ts), its options, and replies split at
 * 2,000 characters with their images embedded.
 */
import { describe, expect, it } from "vitest";
import { nativeOf, type GatewayMessage } from "../../src/adapters/discord/inbound.js";
import { splitText } from "../../src/adapters/split-text.js";
import { parseChannels } from "../../src/adapters/index.js";
import { messagesOf } from "../../src/adapters/discord/index.js";
import type { Envelope } from "../../src/bus/index.js";

const BOT = "1100000000000000001";
const message = (m: Partial<GatewayMessage> = {}): GatewayMessage => ({
  id: "5500000000000000001",
  channel_id: "4400000000000000001",
  type: 0,
  content: "hello",
  author: { id: "2200000000000000002", username: "ann", global_name: "Ann" },
  mentions: [],
  attachments: [],
  ...m,
});
const payload = (m: GatewayMessage) => JSON.parse(new TextDecoder().decode(nativeOf(m, BOT)!.data));

describe("Discord messages taken", () => {
  it("takes every direct message, its channel as the chat and its snowflake as the id", () => {
    const n = nativeOf(message(), BOT)!;
    expect(n).toMatchObject({ chat: "4400000000000000001", id: "5500000000000000001", routing: { messageId: "5500000000000000001" } });
    expect(n.metadata).toEqual({ messageId: "5500000000000000001", channelId: "4400000000000000001", direct: true });
    expect(payload(message())).toEqual({ text: "hello", sender: { id: "2200000000000000002", name: "Ann" } });
  });

  it("takes a guild message only when it mentions the bot or replies to it, the mention taken out of the text", () => {
    const guild = { guild_id: "3300000000000000003" };
    expect(nativeOf(message(guild), BOT)).toBeUndefined();
    // someone else mentioned: still not for the bot
    expect(nativeOf(message({ ...guild, mentions: [{ id: "9" }], content: "<@9> hi" }), BOT)).toBeUndefined();
    const mentioned = message({ ...guild, mentions: [{ id: BOT }], content: `<@${BOT}> are you there? <@!${BOT}>` });
    expect(payload(mentioned).text).toBe("are you there?");
    expect(nativeOf(mentioned, BOT)!.metadata).toMatchObject({ guildId: "3300000000000000003", direct: false });
    const reply = message({ ...guild, type: 19, content: "and this", referenced_message: { author: { id: BOT } } });
    expect(payload(reply).text).toBe("and this");
    // a reply to someone else's message
    expect(nativeOf(message({ ...guild, type: 19, referenced_message: { author: { id: "9" } } }), BOT)).toBeUndefined();
  });

  it("never takes a bot's message, a system message, or a mention with nothing else", () => {
    expect(nativeOf(message({ author: { id: BOT, bot: true } }), BOT)).toBeUndefined();
    expect(nativeOf(message({ author: { id: "7", bot: true } }), BOT)).toBeUndefined();
    expect(nativeOf(message({ type: 7 }), BOT)).toBeUndefined(); // a member joined
    expect(nativeOf(message({ content: `<@${BOT}>`, mentions: [{ id: BOT }] }), BOT)).toBeUndefined();
  });

  it("takes attachments as media references", () => {
    const m = message({
      content: "",
      attachments: [
        { id: "1", filename: "cat.png", content_type: "image/png", size: 1234, url: "https://cdn.discordapp.com/attachments/1/2/cat.png" },
        { id: "2", filename: "notes.txt", url: "https://cdn.discordapp.com/attachments/1/3/notes.txt" },
        { id: "3", filename: "no url" },
      ],
    });
    expect(payload(m).media).toEqual([
      { type: "image", url: "https://cdn.discordapp.com/attachments/1/2/cat.png", mime: "image/png", name: "cat.png", size: 1234 },
      { type: "file", url: "https://cdn.discordapp.com/attachments/1/3/notes.txt", name: "notes.txt" },
    ]);
  });

  it("ignores what is malformed instead of throwing", () => {
    const hostile: GatewayMessage[] = [
      {},
      message({ id: "../x" }),
      message({ channel_id: 42 }),
      message({ author: undefined }),
      message({ author: { id: { toString: () => "1" } } }),
      message({ content: 7, attachments: "nope", mentions: "nope" }),
      message({ guild_id: "3", mentions: [null, 5] as unknown[] }),
      message({ attachments: [null, 1, "x", { url: 5 }] }),
    ];
    for (const m of hostile) expect(() => nativeOf(m, BOT)).not.toThrow();
    expect(nativeOf(message({ content: 7 }), BOT)).toBeUndefined();
  });
});

describe("Discord replies and options", () => {
  it("splits a reply at 2,000 characters, at a line break where there is one, never inside an emoji", () => {
    expect(splitText("x".repeat(4500), 2_000).map((p) => p.length)).toEqual([2000, 2000, 500]);
    expect(splitText(`${"a".repeat(1500)}\n${"b".repeat(1500)}`, 2_000)).toEqual(["a".repeat(1500), "b".repeat(1500)]);
    const emoji = `${"x".repeat(1999)}😀tail`;
    const [first, second] = splitText(emoji, 2_000);
    expect(first).toBe("x".repeat(1999));
    expect(second).toBe("😀tail");
  });

  it("embeds a reply's images under its last piece of text, ten to a message", () => {
    const reply = (text: string | undefined, images: number): Envelope => ({
      id: "r",
      ts: 0,
      channel: "discord",
      account: "bot",
      chat: "1",
      sender: { id: "agent" },
      kind: "reply",
      text,
      media: Array.from({ length: images }, (_, i) => ({ type: "image" as const, url: `https://example.com/${i}.png` })),
      metadata: {},
      trace: {},
    });
    const long = messagesOf(reply("y".repeat(2500), 12));
    expect(long.map((m) => [m.content?.length, m.embeds?.length])).toEqual([
      [2000, undefined],
      [500, 10],
      [undefined, 2],
    ]);
    expect(messagesOf(reply(undefined, 1))).toEqual([{ embeds: [{ image: { url: "https://example.com/0.png" } }] }]);
    expect(messagesOf(reply("", 0))).toEqual([]);
  });

  it("takes a token from tokenEnv, and optional apiRoot and gatewayUrl", () => {
    const token = "MTEw.Gabc.def-ghi_jkl";
    const [c] = parseChannels([{ type: "discord", account: "bot", tokenEnv: "DISCORD_BOT_TOKEN" }], { DISCORD_BOT_TOKEN: token });
    expect(c!.options).toEqual({ type: "discord", account: "bot", token });
    const more = { type: "discord", account: "bot", token, apiRoot: "http://127.0.0.1:9/api", gatewayUrl: "ws://127.0.0.1:9/gateway" };
    expect(parseChannels([more], {})[0]!.options).toMatchObject({ gatewayUrl: "ws://127.0.0.1:9/gateway" });
    expect(() => parseChannels([{ type: "discord", account: "bot", token: "nope" }], {})).toThrow(/token: a bot token from the Developer Portal/);
    expect(() => parseChannels([{ ...more, gatewayUrl: "http://x/gateway" }], {})).toThrow(/gatewayUrl: a Gateway URL starts with ws/);
    expect(() => parseChannels([{ ...more, guilds: "all" }], {})).toThrow(/discord/);
  });
});
