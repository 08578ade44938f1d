/**
 * Every channel type, by name: the one place a new adapter is added. The
 * options of each configured account (`CLAW_CONFIG` `channels[]`) are
 * checked here, with secrets read from the environment variables their
 * `…Env` keys name (never from the file, never logged). An account with a
 * `tenant` is that tenant's: it is named `<tenant>/<account>` from here on
 * (on its subjects too, `claw.in.<type>.<tenant>=2F<account>.<chat>`), so its
 * messages are the tenant's wherever they are read (src/actors/agent-tenant.ts)
 * and two tenants may each have an account of the same name.
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
import { TENANT_ID } from "../tenants/index.js";

/** Channel types by name. */
export const CHANNEL_ADAPTERS: ReadonlyMap<string, ChannelAdapter> = new Map(
  [amqpAdapter, mqttAdapter, kafkaAdapter, telegramAdapter, slackAdapter, whatsappAdapter, emailAdapter, discordAdapter].map((a) => [a.type, a]),
);

/** One configured account: its type and its options as the adapter's schema parsed them. */
export interface ChannelConfig {
  type: string;
  /** the account as the cluster names it: `<tenant>/<name>` for a tenant's */
  account: string;
  /** the tenant the account belongs to (`channels[].tenant`); undefined: the operator's */
  tenant?: string;
  /** the adapter's options, `account` as above */
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
    const { tenant, ...rest } = entry;
    if (tenant !== undefined && (typeof tenant !== "string" || !TENANT_ID.test(tenant)))
      throw new ChannelConfigError(`${where}.tenant: ${JSON.stringify(tenant)} is not a tenant id (lowercase letters, digits, _ and -)`);
    const r = adapter.options.safeParse(resolveSecrets(rest, env, where));
    if (!r.success) {
      const d = describeError(r.error, adapter.options);
      throw new ChannelConfigError(`${where} (${type}): ${d.field ?? "options"}: ${d.message}`);
    }
    // `/` separates a tenant from its account's name: an account's own name has none
    if (r.data.account.includes("/"))
      throw new ChannelConfigError(`${where} (${type}): account: no "/" in an account's name (a tenant's account is given with "tenant")`);
    const account = tenant === undefined ? r.data.account : `${tenant}/${r.data.account}`;
    const options = { ...r.data, account };
    const key = `${adapter.type}/${account}`;
    if (seen.has(key)) throw new ChannelConfigError(`${where}: the ${adapter.type} account ${account} is configured twice`);
    seen.add(key);
    return { type: adapter.type, account, ...(tenant === undefined ? {} : { tenant }), options };
  });
}
