/**
 * Discord through discord.js: the Gateway (a WebSocket) for messages, REST
 * for replies — one Gateway connection per bot in the cluster (the
 * account's lease), moved to another node when its node dies.
 *
 * - Which messages are taken, and their chat (the channel or thread id):
 *   inbound.ts. A message's id is its snowflake, so a dispatch seen twice
 *   (replayed after a resume) is absorbed.
 * - A connection lost for a while is resumed by discord.js (`RESUME` with
 *   the session id and the last sequence): Discord replays what was
 *   dispatched meanwhile. Only a close Discord says cannot be recovered
 *   (a bad token, intents not allowed) loses the connection; the runner
 *   then connects anew with its backoff.
 * - The session outlives its node: its id, resume URL and the sequence up
 *   to which every message is on `claw.in` are kept in the account's state
 *   (KV, once a second), and the next node to run the account resumes that
 *   session instead of identifying anew — Discord replays what was written
 *   while no node held the connection (after a SIGKILL, or a handover on
 *   shutdown, which closes with a resumable code). The replay of messages
 *   taken already is absorbed by their ids. A session Discord no longer
 *   knows (op 9) is identified anew, as before.
 * - "Typing…" shows while the agent thinks (`POST /channels/{id}/typing`,
 *   best effort). Replies answer the message they reply to
 *   (`message_reference`), split at Discord's 2,000 characters, and never
 *   ping `@everyone` or a role (`allowed_mentions`); images go as embeds,
 *   other media as links in the text.
 * - Rate limits are discord.js's to honour (`X-RateLimit-*` ahead of a
 *   request, a 429's `retry_after` after one); a wait longer than a few
 *   seconds is handed to the runner instead, which sends the reply again
 *   then. A 400, 403 or 404 (no permission, an unknown channel) is refused
 *   → dead letter with Discord's words.
 * - `apiRoot` points the REST client elsewhere (discord.js's `rest.api`,
 *   e.g. `http://127.0.0.1:8080/api`); `gatewayUrl` overrides the Gateway
 *   URL that `GET /gateway/bot` answers. Both for a proxy, or a test's fake.
 *
 * @see https://discord.com/developers/docs/events/gateway
 */
import type { Client } from "discord.js";
import { z } from "zod";
import { defineAdapter } from "../define-adapter.js";
import { splitText } from "../split-text.js";
import { RefusedSendError, RetryLaterError, type AdapterHost, type ChannelConnection } from "../types.js";
import type { Envelope } from "../../bus/index.js";
import { nativeOf, type GatewayMessage } from "./inbound.js";

/** A Discord account in `CLAW_CONFIG` `channels[]`. */
export const DiscordOptionsSchema = z
  .object({
    type: z.literal("discord"),
    account: z.string().min(1).max(128),
    /** the bot's token from the Developer Portal (`tokenEnv`: the variable that holds it) */
    token: z.string().regex(/^[\w-]+\.[\w-]+\.[\w-]+$/, "a bot token from the Developer Portal has three parts separated by dots"),
    /** the REST API's root, without the version (default `https://discord.com/api`) */
    apiRoot: z.string().url().optional(),
    /** the Gateway's URL, instead of the one `GET /gateway/bot` answers */
    gatewayUrl: z
      .string()
      .url()
      .regex(/^wss?:\/\//, "a Gateway URL starts with ws:// or wss://")
      .optional(),
  })
  .strict();

/** A Discord account's options, as parsed. */
export type DiscordOptions = z.infer<typeof DiscordOptionsSchema>;

/** Discord's longest message content. */
const MAX_TEXT = 2_000;
/** A rate limit that would hold a send longer than this is the runner's to wait out (the reply is sent again then). */
const LONGEST_WAIT_MS = 5_000;

/** discord.js's REST failures, told apart by class (its errors' `name` carries the route). */
type RestErrors = Pick<typeof import("discord.js"), "RateLimitError" | "DiscordAPIError">;

/** A REST failure as the runner understands it: later, refused, or (thrown as is) transient. */
function sendError(e: unknown, { RateLimitError, DiscordAPIError }: RestErrors): Error {
  if (e instanceof RateLimitError) return new RetryLaterError(`Discord: rate limited on ${e.route}`, Math.max(1_000, e.retryAfter, e.timeToReset));
  if (e instanceof DiscordAPIError && (e.status === 400 || e.status === 403 || e.status === 404)) {
    const code = e.status === 403 ? "forbidden" : e.status === 404 ? "not_found" : "refused";
    return new RefusedSendError(`Discord refused the reply: ${e.message} (${e.code})`, code);
  }
  return e as Error;
}

/** The most embeds one Discord message carries. */
const MAX_EMBEDS = 10;

/** What one message of a reply carries (the body of `POST /channels/{id}/messages`, less its reference). */
interface MessageBody {
  content?: string;
  embeds?: Array<{ image: { url: string }; title?: string }>;
}

/**
 * The messages a reply takes: its text in pieces of at most 2,000
 * characters, its images as embeds (Discord fetches each URL) under the
 * last piece, ten to a message. Other media reach here as links in the
 * text (the capabilities name only images).
 */
export function messagesOf(envelope: Envelope): MessageBody[] {
  const text = envelope.text ?? "";
  const messages: MessageBody[] = text === "" ? [] : splitText(text, MAX_TEXT).map((content) => ({ content }));
  const embeds = envelope.media
    .filter((m) => m.type === "image" && m.url)
    .map((m) => ({ image: { url: m.url! }, ...(m.name ? { title: m.name.slice(0, 256) } : {}) }));
  for (let i = 0; i < embeds.length; i += MAX_EMBEDS) {
    const some = embeds.slice(i, i + MAX_EMBEDS);
    const last = messages.at(-1);
    if (i === 0 && last) last.embeds = some;
    else messages.push({ embeds: some });
  }
  return messages;
}

/** The Gateway session as discord.js resumes it (`@discordjs/ws`'s SessionInfo). */
const SessionSchema = z.object({
  sessionId: z.string().min(1).max(200),
  resumeURL: z.string().regex(/^wss?:\/\//),
  sequence: z.number().int().nonnegative(),
  shardId: z.number().int().nonnegative(),
  shardCount: z.number().int().positive(),
});
type GatewaySession = z.infer<typeof SessionSchema>;
/** What a node leaves for the next: the session, and the bot's id (READY said it; a resume does not). */
const HandedSchema = SessionSchema.extend({ botId: z.string().regex(/^\d{1,20}$/) });
/** The account state's name for the session handed to the next node. */
const SESSION_STATE = "gateway-session";
/** How often the handed session's sequence is brought up to date. */
const KEEP_SESSION_MS = 1_000;
/** Discord's close codes that keep the session resumable are any but 1000 and 1001: this is discord.js's own for a resume. */
const RESUMABLE_CLOSE = 4_200;

/** The session a node left in the account's state, if it reads as one. */
function handedSession(text: string | undefined): z.infer<typeof HandedSchema> | undefined {
  if (!text) return undefined;
  try {
    const r = HandedSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The sequence up to which every dispatch of the session is taken: the
 * highest seen, or just below the oldest message not yet on `claw.in`.
 */
interface SessionProgress {
  sessionId: string;
  seen: number;
  inflight: Set<number>;
}
const takenThrough = (p: SessionProgress): number => (p.inflight.size > 0 ? Math.min(...p.inflight) - 1 : p.seen);

/** Logs the bot in (the Gateway's READY, or RESUMED for a session handed over), taking its messages from then on; rejects on a bad token. */
async function connect(o: DiscordOptions, host: AdapterHost): Promise<ChannelConnection> {
  const discord = await import("discord.js");
  const { Client: DiscordClient, Events, GatewayDispatchEvents, GatewayIntentBits, Options, Routes, SimpleShardingStrategy } = discord;
  // the session the account's last node left: resumed, so what was written since is replayed
  const left = handedSession(await host.state.get(SESSION_STATE).catch(() => undefined));
  let handed: GatewaySession | undefined = left && SessionSchema.parse(left);
  let live: GatewaySession | undefined;
  let progress: SessionProgress | undefined = handed && { sessionId: handed.sessionId, seen: handed.sequence, inflight: new Set() };
  let wsManager: { destroy(o: { code: number; reason: string }): unknown } | undefined;
  const client: Client = new DiscordClient({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent],
    // messages are read from the dispatches themselves: nothing to keep
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 0 }),
    rest: {
      ...(o.apiRoot ? { api: o.apiRoot } : {}),
      rejectOnRateLimit: (r) => Math.max(r.retryAfter, r.timeToReset) > LONGEST_WAIT_MS,
    },
    ws: {
      buildStrategy: (manager) => {
        wsManager = manager;
        // discord.js keeps the session in memory; a session handed over by another node is offered while it has none
        const options = manager.options as { -readonly [K in keyof typeof manager.options]: (typeof manager.options)[K] };
        const retrieve = options.retrieveSessionInfo;
        const update = options.updateSessionInfo;
        options.retrieveSessionInfo = async (shardId) => (await retrieve(shardId)) ?? (handed?.shardId === shardId ? handed : null);
        options.updateSessionInfo = async (shardId, info) => {
          if (!info) handed = undefined;
          live = info ?? undefined;
          await update(shardId, info);
        };
        if (o.gatewayUrl) {
          // the Gateway's address comes from GET /gateway/bot; a configured one replaces it (its limits are kept)
          const fetchInfo = manager.fetchGatewayInformation.bind(manager);
          manager.fetchGatewayInformation = async (force) => ({ ...(await fetchInfo(force)), url: o.gatewayUrl! });
        }
        return new SimpleShardingStrategy(manager);
      },
    },
  });
  let closing = false;
  let botId: string | undefined = left?.botId;
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = (e) => !closing && r(e)));

  // raw dispatches, not discord.js's cached structures: a DM or a channel never seen before is read alike; with their
  // sequence, which tells how far the session's messages are taken
  client.on(Events.Raw, (packet: { t?: string; s?: number | null; d?: unknown }) => {
    const s = typeof packet.s === "number" ? packet.s : undefined;
    if (packet.t === GatewayDispatchEvents.Ready) {
      const d = packet.d as { user?: { id?: string }; session_id?: string };
      botId = d.user?.id;
      progress = { sessionId: String(d.session_id), seen: s ?? 0, inflight: new Set() };
      return;
    }
    const p = progress;
    if (p && s !== undefined) p.seen = Math.max(p.seen, s);
    if (packet.t !== GatewayDispatchEvents.MessageCreate) return;
    const native = botId && !closing ? nativeOf(packet.d as GatewayMessage, botId) : undefined;
    if (!native) return;
    if (p && s !== undefined) p.inflight.add(s);
    host
      .receive(native)
      .then(
        () => undefined,
        // the Gateway has no acknowledgement to withhold: a message Claw cannot take is lost, and said so
        (e: Error) => host.log.warn({ err: e.message, messageId: native.id }, "discord: a message could not be taken"),
      )
      .finally(() => s !== undefined && p?.inflight.delete(s));
    void client.rest.post(Routes.channelTyping(native.chat)).catch(() => undefined);
  });
  // the session for the next node: its id and resume URL, and the sequence up to which its messages are taken
  let kept = "";
  const keepSession = async () => {
    const l = live;
    const p = progress;
    if (!l || !p || !botId || p.sessionId !== l.sessionId) return;
    const { sessionId, resumeURL, shardId, shardCount } = l;
    const text = JSON.stringify({ sessionId, resumeURL, shardId, shardCount, sequence: takenThrough(p), botId } satisfies z.infer<typeof HandedSchema>);
    if (text === kept) return;
    await host.state.put(SESSION_STATE, text);
    kept = text;
  };
  const keeping = setInterval(
    () => void keepSession().catch((e: Error) => host.log.warn({ err: e.message }, "discord: keeping the session failed")),
    KEEP_SESSION_MS,
  );
  keeping.unref();
  client.on("shardDisconnect", (event) => lose(new Error(`the Gateway closed the connection for good (${event.code})`)));
  client.on("invalidated", () => lose(new Error("the Gateway session was invalidated")));
  client.on("error", (e) => host.log.warn({ err: e.message }, "discord: client error"));

  try {
    await client.login(o.token);
  } catch (e) {
    closing = true;
    clearInterval(keeping);
    await client.destroy().catch(() => undefined);
    throw e;
  }
  return {
    lost,
    async send({ envelope, routing }) {
      const messages = messagesOf(envelope);
      if (messages.length === 0) throw new RefusedSendError("the reply has no text and no image", "empty");
      const replyTo = typeof routing?.messageId === "string" ? routing.messageId : undefined;
      try {
        for (const [i, message] of messages.entries()) {
          await client.rest.post(Routes.channelMessages(envelope.chat), {
            body: {
              ...message,
              allowed_mentions: { parse: ["users"], replied_user: true },
              // the first message answers the one replied to; a deleted one is no reason to refuse the reply
              ...(i === 0 && replyTo ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } } : {}),
            },
          });
        }
      } catch (e) {
        throw sendError(e, discord);
      }
    },
    async close() {
      closing = true;
      clearInterval(keeping);
      // handed to the next node: the session kept as far as it is taken, and closed with a code that leaves it resumable
      const handover = await keepSession().then(
        () => true,
        () => false,
      );
      if (handover) await Promise.resolve(wsManager?.destroy({ code: RESUMABLE_CLOSE, reason: "the account moves to another node" })).catch(() => undefined);
      await client.destroy();
    },
  };
}

/** The Discord channel type. */
export const discordAdapter = defineAdapter({
  type: "discord",
  options: DiscordOptionsSchema,
  // images as embeds; any other medium a link in the text (Discord shows a preview of each)
  capabilities: { threads: true, edits: false, media: ["image"], maxTextLength: MAX_TEXT },
  connect: (o, host) => connect(o, host),
});
