import pino from "pino";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  CHANNEL_ADAPTERS,
  defineAdapter,
  EVERY_MEDIUM,
  fitReply,
  parseChannels,
  type AdapterHost,
  type ChannelConnection,
  type ChatReplyPiece,
  type OutboundReply,
} from "../../src/adapters/index.js";
import { ENVELOPE_VERSION, type Envelope } from "../../src/bus/index.js";

const reply = (text: string | undefined, media: Envelope["media"]): Envelope => ({
  v: ENVELOPE_VERSION,
  id: "m1:reply:0",
  ts: 1,
  channel: "test",
  account: "a",
  chat: "c",
  sender: { id: "helper" },
  kind: "reply",
  text,
  media,
  replyTo: "m1",
  metadata: {},
  trace: {},
});

const host: AdapterHost = {
  account: "a",
  log: pino({ level: "silent" }),
  receive: async () => {},
  state: { get: async () => undefined, put: async () => {} },
  announce: () => {},
};

/** A channel type of the test's own: what its connection was given, and the options it connected with. */
function recordingAdapter(capabilities: { edits: boolean; media: Envelope["media"][number]["type"][] }) {
  const sent: OutboundReply[] = [];
  const pieces: ChatReplyPiece[] = [];
  const connectedWith: Array<{ account: string; retries: number }> = [];
  const adapter = defineAdapter({
    type: "test",
    options: z.object({ type: z.literal("test"), account: z.string(), retries: z.number().default(3) }).strict(),
    capabilities: { threads: false, ...capabilities },
    connect: async (o): Promise<ChannelConnection> => {
      // inferred from the schema: the default is there, typed
      connectedWith.push({ account: o.account, retries: o.retries });
      return { lost: new Promise(() => {}), send: async (r) => void sent.push(r), delta: (p) => void pieces.push(p), close: async () => {} };
    },
  });
  /** connects an account of it */
  const connect = () => adapter.connect(adapter.options.parse({ type: "test", account: "a" }), host, new AbortController().signal);
  return { adapter, connect, sent, pieces, connectedWith };
}

describe("a reply fitted to its channel", () => {
  const telegram = CHANNEL_ADAPTERS.get("telegram")!.capabilities;

  it("sends a medium the channel cannot show as a link in the text, and keeps the ones it can", () => {
    const fitted = fitReply(
      reply("meet here", [
        { type: "image", url: "https://example.com/map.png" },
        { type: "location", url: "https://maps.example/?q=52.5,13.4", name: "the café" },
      ]),
      telegram,
    );
    expect(fitted.text).toBe("meet here\nthe café: https://maps.example/?q=52.5,13.4");
    expect(fitted.media).toEqual([{ type: "image", url: "https://example.com/map.png" }]);
  });

  it("names a link by its type when it has no name, leaves out what has no URL, and gives a text-less reply the links alone", () => {
    const fitted = fitReply(
      reply(undefined, [
        { type: "location", url: "https://maps.example/1" },
        { type: "location", name: "nowhere" },
      ]),
      telegram,
    );
    expect(fitted).toMatchObject({ text: "location: https://maps.example/1", media: [] });
  });

  it("leaves a reply whose media the channel takes as it is", () => {
    const r = reply("files", [{ type: "file", url: "https://example.com/r.pdf" }]);
    expect(fitReply(r, telegram)).toBe(r);
    // JSON channels carry every medium as a reference
    const located = reply("here", [{ type: "location", url: "https://maps.example/1" }]);
    expect(fitReply(located, CHANNEL_ADAPTERS.get("mqtt")!.capabilities)).toBe(located);
  });
});

describe("defineAdapter", () => {
  it("fits what the connection sends to the channel's media", async () => {
    const { connect, sent } = recordingAdapter({ edits: false, media: ["image"] });
    const c = await connect();
    await c.send({ envelope: reply("the report", [{ type: "file", url: "https://example.com/r.pdf", name: "r.pdf" }]), routing: { to: "x" } });
    expect(sent).toEqual([{ envelope: expect.objectContaining({ text: "the report\nr.pdf: https://example.com/r.pdf", media: [] }), routing: { to: "x" } }]);
  });

  it("passes pieces of a reply being written only to a channel that edits", async () => {
    const still = recordingAdapter({ edits: false, media: [...EVERY_MEDIUM] });
    expect((await still.connect()).delta).toBeUndefined();
    const growing = recordingAdapter({ edits: true, media: [...EVERY_MEDIUM] });
    const c = await growing.connect();
    c.delta!({ chat: "c", replyTo: "m1", seq: 0, text: "hel" });
    expect(growing.pieces).toEqual([{ chat: "c", replyTo: "m1", seq: 0, text: "hel" }]);
  });

  it("connects with the options its own schema parsed, and refuses another type's", async () => {
    const { adapter, connectedWith } = recordingAdapter({ edits: false, media: [] });
    const [config] = parseChannels([{ type: "test", account: "a" }], {}, new Map([["test", adapter]]));
    await adapter.connect(config!.options, host, new AbortController().signal);
    expect(connectedWith).toEqual([{ account: "a", retries: 3 }]);
    const mqtt = parseChannels([{ type: "mqtt", account: "iot", url: "mqtt://h", subscribe: ["t/#"] }], {})[0]!;
    await expect(adapter.connect(mqtt.options, host, new AbortController().signal)).rejects.toThrow(/test/);
  });
});

/**
 * Channel types whose replies carry no media, each medium going as a link in the text: email, where attaching one
 * would have the node fetch a URL an agent was given (and mail what it found to whoever wrote in).
 */
const LINKS_ONLY = new Set(["email"]);

describe("the channel types' capabilities", () => {
  it("name only media an envelope can carry", () => {
    for (const a of CHANNEL_ADAPTERS.values()) {
      if (!LINKS_ONLY.has(a.type)) expect(a.capabilities.media.length, a.type).toBeGreaterThan(0);
      for (const m of a.capabilities.media) expect(EVERY_MEDIUM, a.type).toContain(m);
    }
  });
});
