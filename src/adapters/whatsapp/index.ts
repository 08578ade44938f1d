/**
 * WhatsApp through baileys (a linked device of a WhatsApp account, over
 * WhatsApp Web's protocol). Its auth state — the credentials and the Signal
 * keys — is kept in KV (`claw_channels`), not in files, so whichever node
 * runs the account (its lease) continues the same linked device.
 *
 * - Pairing: a QR code to scan (WhatsApp → Linked devices), or with `phone`
 *   a pairing code to type there; both are announced on
 *   `claw.events.channel.whatsapp.<account>.qr` / `.pairing-code`, which
 *   `claw channels pair whatsapp <account>` prints. A device that WhatsApp
 *   logged out has its credentials cleared: the next connection pairs again.
 * - In: direct chats (and groups with `groups: true`); the chat is the JID;
 *   text, captions, and media as references. WhatsApp does not deliver a
 *   message twice: one that arrives while NATS is away is held in this node
 *   (retried) and lost only if the node dies before NATS is back.
 * - Out: `sendMessage` text, and a reply's media by URL (one medium takes
 *   the text as its caption); a 4xx from WhatsApp is refused → dead letter,
 *   a 429 is sent again later.
 */
import type { Envelope } from "../../bus/index.js";
import type { AnyMessageContent, AuthenticationState, SignalDataTypeMap, UserFacingSocketConfig, WAMessage, WASocket } from "baileys";
import { z } from "zod";
import { defineAdapter } from "../define-adapter.js";
import { EVERY_MEDIUM } from "../fit-reply.js";
import { RefusedSendError, RetryLaterError, type AccountState, type AdapterHost, type ChannelAdapter, type ChannelConnection } from "../types.js";

export const WhatsAppOptionsSchema = z
  .object({
    type: z.literal("whatsapp"),
    account: z.string().min(1).max(128),
    /** pair by a code typed on the phone (its number: country code and number, digits only) instead of a QR code */
    phone: z
      .string()
      .regex(/^\d{6,15}$/, "the phone number in international format, digits only (e.g. 4915112345678)")
      .optional(),
    /** take group messages too (default: direct chats only) */
    groups: z.boolean().default(false),
  })
  .strict();

export type WhatsAppOptions = z.infer<typeof WhatsAppOptionsSchema>;

/** The part of a baileys socket the adapter uses (what a test's fake implements). */
export type WhatsAppSocket = Pick<WASocket, "ev" | "sendMessage" | "end" | "requestPairingCode">;

/** Makes a socket (baileys' `makeWASocket`, or a test's fake). */
export type MakeWhatsAppSocket = (config: UserFacingSocketConfig) => WhatsAppSocket;

type Baileys = typeof import("baileys");

/** A reply's medium as baileys' message content (by URL: baileys downloads and uploads it). */
function mediaContent(m: Envelope["media"][number], caption: string | undefined): AnyMessageContent {
  const url = { url: m.url! };
  const mimetype = m.mime;
  switch (m.type) {
    case "image":
      return { image: url, ...(caption ? { caption } : {}) };
    case "video":
      return { video: url, ...(caption ? { caption } : {}) };
    case "audio":
      return { audio: url, mimetype: mimetype ?? "audio/mpeg" };
    case "sticker":
      return { sticker: url };
    default:
      return { document: url, mimetype: mimetype ?? "application/octet-stream", fileName: m.name ?? "file", ...(caption ? { caption } : {}) };
  }
}

/** The auth state of a linked device, in the account's KV state (BufferJSON, as baileys' own file store writes it). */
async function kvAuthState(state: AccountState, b: Baileys): Promise<{ auth: AuthenticationState; save(): Promise<void>; clear(): Promise<void> }> {
  const read = async (name: string): Promise<any> => {
    const v = await state.get(name);
    return v ? JSON.parse(v, b.BufferJSON.reviver) : undefined;
  };
  const write = (name: string, v: unknown) => state.put(name, v === undefined || v === null ? "" : JSON.stringify(v, b.BufferJSON.replacer));
  const creds = (await read("creds")) ?? b.initAuthCreds();
  return {
    auth: {
      creds,
      keys: {
        get: async <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
          const out: { [id: string]: SignalDataTypeMap[T] } = {};
          await Promise.all(
            ids.map(async (id) => {
              let v = await read(`key-${type}-${id}`);
              if (v !== undefined && type === "app-state-sync-key") v = b.proto.Message.AppStateSyncKeyData.fromObject(v);
              if (v !== undefined) out[id] = v;
            }),
          );
          return out;
        },
        set: async (data) => {
          const writes: Array<Promise<void>> = [];
          for (const [type, byId] of Object.entries(data)) for (const [id, v] of Object.entries(byId ?? {})) writes.push(write(`key-${type}-${id}`, v));
          await Promise.all(writes);
        },
      },
    },
    save: () => write("creds", creds),
    clear: () => write("creds", null),
  };
}

const MEDIA: Array<[keyof NonNullable<WAMessage["message"]>, string]> = [
  ["imageMessage", "image"],
  ["videoMessage", "video"],
  ["audioMessage", "audio"],
  ["documentMessage", "file"],
  ["stickerMessage", "sticker"],
];

/** Hands a received message to Claw (not our own, not status updates, groups only when asked). */
function take(m: WAMessage, o: WhatsAppOptions, host: AdapterHost): void {
  const jid = m.key.remoteJid;
  if (!jid || m.key.fromMe || jid === "status@broadcast") return;
  const group = jid.endsWith("@g.us");
  if (group && !o.groups) return;
  const msg = m.message ?? {};
  const text =
    msg.conversation ?? msg.extendedTextMessage?.text ?? msg.imageMessage?.caption ?? msg.videoMessage?.caption ?? msg.documentMessage?.caption ?? "";
  const media = MEDIA.flatMap(([key, type]) => {
    const part = msg[key] as { mimetype?: string | null; fileName?: string | null } | null | undefined;
    return part ? [{ type, ...(part.mimetype ? { mime: part.mimetype } : {}), ...(part.fileName ? { name: part.fileName } : {}) }] : [];
  });
  if (text === "" && media.length === 0) return;
  const sender = m.key.participant ?? jid;
  host
    .receive({
      chat: jid,
      data: new TextEncoder().encode(
        JSON.stringify({ text, sender: { id: sender, ...(m.pushName ? { name: m.pushName } : {}) }, ...(media.length ? { media } : {}) }),
      ),
      id: m.key.id ?? undefined,
      metadata: { messageId: m.key.id, ...(group ? { participant: sender } : {}) },
    })
    .catch((e: unknown) => host.log.warn({ err: (e as Error).message }, "a WhatsApp message was not taken (WhatsApp will not send it again)"));
}

async function connect(o: WhatsAppOptions, host: AdapterHost, make?: MakeWhatsAppSocket): Promise<ChannelConnection> {
  const b = await import("baileys");
  const store = await kvAuthState(host.state, b);
  const sock = (make ?? b.makeWASocket)({
    auth: store.auth,
    logger: host.log.child({ lib: "baileys" }, { level: "warn" }),
    browser: b.Browsers.ubuntu("Claw"),
    markOnlineOnConnect: false,
    syncFullHistory: false,
  });
  let closing = false;
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  let askedCode = false;
  const ready = new Promise<void>((resolve, reject) => {
    sock.ev.on("connection.update", (u) => {
      if (u.qr) {
        if (o.phone && !askedCode && !store.auth.creds.registered) {
          askedCode = true;
          sock.requestPairingCode(o.phone).then(
            (code) => host.announce("pairing-code", { code }),
            (e: unknown) => host.log.warn({ err: (e as Error).message }, "WhatsApp gave no pairing code"),
          );
        } else if (!o.phone) host.announce("qr", { qr: u.qr });
        // waiting to be paired counts as up: the account's state says connected, the CLI shows how to pair
        resolve();
      }
      if (u.connection === "open") {
        host.announce("open", { paired: true });
        resolve();
      }
      if (u.connection === "close") {
        const error = u.lastDisconnect?.error as (Error & { output?: { statusCode?: number } }) | undefined;
        const code = error?.output?.statusCode;
        const why = new Error(`WhatsApp closed the connection (${code ?? "no status"}: ${error?.message ?? "no reason"})`);
        if (code === b.DisconnectReason.loggedOut) {
          host.log.warn("WhatsApp logged this device out: its credentials are cleared; pair again (claw channels pair whatsapp …)");
          void store.clear();
        }
        reject(why);
        if (!closing) lose(why);
      }
    });
  });
  sock.ev.on("creds.update", () => void store.save().catch((e: unknown) => host.log.warn({ err: (e as Error).message }, "WhatsApp credentials not saved")));
  sock.ev.on("messages.upsert", ({ messages, type }) => {
    if (type !== "notify") return; // history and our own echoes
    for (const m of messages) take(m, o, host);
  });
  try {
    await ready;
  } catch (e) {
    closing = true;
    sock.end(undefined);
    throw e;
  }
  return {
    lost,
    async send({ envelope }) {
      const text = envelope.text ?? "";
      const media = envelope.media.filter((m) => m.url);
      if (text === "" && media.length === 0) throw new RefusedSendError("the reply has no text and no media", "empty");
      try {
        // one medium: the text is its caption; more: the text first, then each by its URL (baileys fetches it)
        const captioned = media.length === 1 && text !== "" && media[0]!.type !== "sticker" && media[0]!.type !== "audio";
        if (text !== "" && !captioned) await sock.sendMessage(envelope.chat, { text });
        for (const m of media) await sock.sendMessage(envelope.chat, mediaContent(m, captioned ? text : undefined));
      } catch (e) {
        const status = (e as { output?: { statusCode?: number } }).output?.statusCode;
        if (status === 429) throw new RetryLaterError("WhatsApp: rate limited", 5_000);
        if (status !== undefined && status >= 400 && status < 500 && status !== 408)
          throw new RefusedSendError(`WhatsApp refused the reply: ${(e as Error).message}`, `whatsapp_${status}`);
        throw e;
      }
    },
    async close() {
      closing = true;
      sock.end(undefined);
    },
  };
}

/** The WhatsApp channel type; `makeSocket` replaces baileys' socket (tests). */
export function createWhatsAppAdapter(makeSocket?: MakeWhatsAppSocket): ChannelAdapter {
  return defineAdapter({
    type: "whatsapp",
    options: WhatsAppOptionsSchema,
    // a location (no coordinates, only a URL) goes as a link
    capabilities: { threads: false, edits: false, media: EVERY_MEDIUM.filter((m) => m !== "location"), maxTextLength: 65_536 },
    connect: (o, host) => connect(o, host, makeSocket),
  });
}

/** The WhatsApp channel type. */
export const whatsappAdapter = createWhatsAppAdapter();
