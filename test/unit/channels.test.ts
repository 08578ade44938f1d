import { describe, expect, it } from "vitest";
import { nativeMessageId, NativePayloadError, parseChannels, parseNativePayload, replyPayload } from "../../src/adapters/index.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("native payloads", () => {
  it("takes JSON with text as such, and any other UTF-8 as the text", () => {
    expect(parseNativePayload(bytes('{"text":"hi","sender":{"id":"u1","name":"Ann"},"metadata":{"k":1}}'))).toEqual({
      text: "hi",
      sender: { id: "u1", name: "Ann" },
      metadata: { k: 1 },
    });
    expect(parseNativePayload(bytes('{"text":"hi","sender":"u2"}'))).toEqual({ text: "hi", sender: { id: "u2" } });
    expect(parseNativePayload(bytes("plain words"))).toEqual({ text: "plain words" });
    // JSON without text, and text that only looks like JSON, are text
    expect(parseNativePayload(bytes('{"temperature":21}'))).toEqual({ text: '{"temperature":21}' });
    expect(parseNativePayload(bytes("{not json"))).toEqual({ text: "{not json" });
    expect(parseNativePayload(bytes("[1,2]"))).toEqual({ text: "[1,2]" });
  });

  it("refuses what is not a message, saying why", () => {
    const reason = (b: Uint8Array) => {
      try {
        parseNativePayload(b);
      } catch (e) {
        expect(e).toBeInstanceOf(NativePayloadError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(reason(new Uint8Array())).toMatch(/empty/);
    expect(reason(new Uint8Array([0xff, 0xfe]))).toMatch(/UTF-8/);
    expect(reason(bytes('{"text":5}'))).toBe("text: must be a string");
    expect(reason(bytes('{"text":"x","sender":7}'))).toMatch(/^sender:/);
    expect(reason(bytes('{"text":"x","metadata":[]}'))).toMatch(/^metadata:/);
  });

  it("sends a reply as JSON without the adapter's routing", () => {
    const json = JSON.parse(
      replyPayload({ text: "ok", kind: "reply", replyTo: "m1", chat: "c", media: [], metadata: { agent: "echo", native: { replyTo: "q" } } }),
    );
    expect(json).toEqual({ text: "ok", kind: "reply", replyTo: "m1", chat: "c", media: [], metadata: { agent: "echo" } });
  });

  it("keeps envelope ids of native ids within 200 characters, the same for the same id", () => {
    expect(nativeMessageId("amqp", "shop", "m-1")).toBe("amqp:shop:m-1");
    const long = nativeMessageId("amqp", "shop", "x".repeat(300));
    expect(long.length).toBeLessThanOrEqual(200);
    expect(long).toBe(nativeMessageId("amqp", "shop", "x".repeat(300)));
  });
});

describe("channels in CLAW_CONFIG", () => {
  const amqp = { type: "amqp", account: "shop", url: "amqp://guest:guest@127.0.0.1:5672", queue: "in" };
  it("checks each entry with its adapter's schema and reads secrets from the environment", () => {
    const [c] = parseChannels([{ ...amqp, url: undefined, urlEnv: "SHOP_URL" }], { SHOP_URL: "amqp://u:secret@h:5672" });
    expect(c).toMatchObject({ type: "amqp", account: "shop", options: { url: "amqp://u:secret@h:5672", prefetch: 32 } });
  });

  it("names the entry and the field of what is wrong", () => {
    expect(() => parseChannels([{ type: "fax", account: "a" }], {})).toThrow(/channels\[0\]\.type: "fax" is not a channel type \(known: amqp, mqtt/);
    expect(() => parseChannels([{ ...amqp, url: "http://x" }], {})).toThrow("channels[0] (amqp): url: must be an amqp:// or amqps:// URL");
    expect(() => parseChannels([{ type: "mqtt", account: "iot", url: "mqtt://h", subscribe: [] }], {})).toThrow(
      /subscribe: subscribe to at least one topic filter/,
    );
    expect(() => parseChannels([{ ...amqp, urlEnv: "UNSET" }], {})).toThrow("channels[0].urlEnv: the environment variable UNSET is not set");
    expect(() => parseChannels([amqp, amqp], {})).toThrow("channels[1]: the amqp account shop is configured twice");
    expect(() => parseChannels([{ ...amqp, queu: "typo" }], {})).toThrow(/channels\[0\] \(amqp\)/);
  });
});

describe("Telegram texts", () => {
  it("splits a reply at 4,096 characters, at a line break where there is one", async () => {
    const { splitText } = await import("../../src/adapters/telegram/index.js");
    expect(splitText("short")).toEqual(["short"]);
    const lines = splitText(`${"a".repeat(3000)}\n${"b".repeat(3000)}`);
    expect(lines).toEqual(["a".repeat(3000), "b".repeat(3000)]);
    const hard = splitText("x".repeat(9000));
    expect(hard.map((p) => p.length)).toEqual([4096, 4096, 808]);
    expect(() => parseChannels([{ type: "telegram", account: "b", token: "not-a-token" }], {})).toThrow(/token: a bot token from @BotFather/);
  });
});

describe("Slack options", () => {
  it("takes the HTTP Events API with a signing secret and Socket Mode with an app-level token", () => {
    const base = { type: "slack", account: "w", botToken: "xoxb-1", signingSecret: "s" };
    expect(parseChannels([base], {})[0]!.options).toMatchObject({ mode: "http", threads: true });
    expect(() => parseChannels([{ ...base, mode: "socket" }], {})).toThrow(/appTokenEnv: Socket Mode \("mode": "socket"\) needs an app-level token/);
    expect(() => parseChannels([{ ...base, mode: "socket", appToken: "xoxb-2" }], {})).toThrow(/appToken: an app-level token starts with xapp-/);
    expect(parseChannels([{ type: "slack", account: "w", botToken: "xoxb-1", mode: "socket", appToken: "xapp-1" }], {})[0]!.options).toMatchObject({
      mode: "socket",
      appToken: "xapp-1",
    });
    expect(() => parseChannels([{ type: "slack", account: "w", botToken: "xoxb-1" }], {})).toThrow(/signingSecretEnv: the HTTP Events API/);
    expect(() => parseChannels([{ ...base, mode: "rtm" }], {})).toThrow(/mode/);
    expect(() => parseChannels([{ ...base, botToken: "xoxp-user" }], {})).toThrow(/botToken: a bot token starts with xoxb-/);
  });
});
