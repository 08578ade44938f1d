/**
 * Every channel type, by name: the one place a new adapter is added. The
 * options of each configured account (`CLAW_CONFIG` `channels[]`) are
 * checked here, with secrets read from the environment variables their
 * `…Env` keys name (never from the file, never logged).
 */
import { amqpAdapter } from "./amqp/index.js";
import { kafkaAdapter } from "./kafka/index.js";
import { mqttAdapter } from "./mqtt/index.js";
import { telegramAdapter } from "./telegram/index.js";
import { slackAdapter } from "./slack/index.js";
import { whatsappAdapter } from "./whatsapp/index.js";
import { emailAdapter } from "./email/index.js";
import { discordAdapter } from "./discord/index.js";
import type { ChannelAdapter, ChannelOptions } from "./types.js";
import { describeError } from "../schema-issues.js";

/** Channel types by name. */
export const CHANNEL_ADAPTERS: ReadonlyMap<string, ChannelAdapter> = new Map(
  [amqpAdapter, mqttAdapter, kafkaAdapter, telegramAdapter, slackAdapter, whatsappAdapter, emailAdapter, discordAdapter].map((a) => [a.type, a]),
);

/** One configured account: its type and its options as the adapter's schema parsed them. */
export interface ChannelConfig {
  type: string;
  account: string;
  options: ChannelOptions;
}

/** A channel entry that cannot be used, and where. */
export class ChannelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChannelConfigError";
  }
}

/**
 * `{ "passwordEnv": "AMQP_PASSWORD" }` → `{ "password": <its value> }`, in nested objects too (an email account's
 * `imap.passwordEnv`); an unset variable is an error.
 */
function resolveSecrets(entry: Record<string, unknown>, env: NodeJS.ProcessEnv, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (k.endsWith("Env") && k.length > 3 && typeof v === "string") {
      const value = env[v];
      if (value === undefined || value === "") throw new ChannelConfigError(`${where}.${k}: the environment variable ${v} is not set`);
      out[k.slice(0, -3)] = value;
    } else if (typeof v === "object" && v !== null && !Array.isArray(v)) out[k] = resolveSecrets(v as Record<string, unknown>, env, `${where}.${k}`);
    else out[k] = v;
  }
  return out;
}

/** Checks `channels[]` of `CLAW_CONFIG`; throws {@link ChannelConfigError} naming the entry and the field. */
export function parseChannels(
  entries: ReadonlyArray<Record<string, unknown>>,
  env: NodeJS.ProcessEnv,
  adapters: ReadonlyMap<string, ChannelAdapter> = CHANNEL_ADAPTERS,
): ChannelConfig[] {
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    const where = `channels[${i}]`;
    const type = entry.type;
    const adapter = typeof type === "string" ? adapters.get(type) : undefined;
    if (!adapter) throw new ChannelConfigError(`${where}.type: ${JSON.stringify(type)} is not a channel type (known: ${[...adapters.keys()].join(", ")})`);
    const r = adapter.options.safeParse(resolveSecrets(entry, env, where));
    if (!r.success) {
      const d = describeError(r.error, adapter.options);
      throw new ChannelConfigError(`${where} (${type}): ${d.field ?? "options"}: ${d.message}`);
    }
    const options = r.data;
    const key = `${adapter.type}/${options.account}`;
    if (seen.has(key)) throw new ChannelConfigError(`${where}: the ${adapter.type} account ${options.account} is configured twice`);
    seen.add(key);
    return { type: adapter.type, account: options.account, options };
  });
}
