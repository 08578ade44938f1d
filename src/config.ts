/**
 * Node configuration: environment variables (and an optional JSON file for
 * agents), defaulted and validated once, here.
 */
import { readFileSync } from "node:fs";
import { SHIPPED_SKILLS_DIR } from "./paths.js";
import { join } from "node:path";
import { hostname } from "node:os";
import { z } from "zod";
import { AgentSpecError, AgentSpecSchema, defaultAgents, qualifyAgent, validateAgent, type AgentSpec } from "./actors/index.js";
import { SCRIPTED } from "./llm/index.js";
import { PROVIDER_NAME, ProviderConfigSchema, type ProviderConfig } from "./llm/provider-config.js";
import { ChannelConfigError, parseChannels, type ChannelConfig } from "./adapters/index.js";
import { nuid } from "@nats-io/transport-node";
import { DEFAULT_MAX_PAYLOAD, DEFAULT_PARTITIONS, DEFAULT_WS_CONSUMER_IDLE_MS, defaultSpecOptions } from "./bus/index.js";
import { dockerEndpoint } from "./skills/sandbox/docker-endpoint.js";
import { SkillGrantsSchema, type SkillGrants } from "./skills/skill-grants.js";
import { RateLimitsSchema, type JwtOptions, type RateLimits } from "./auth/index.js";
import { parseDnsServer } from "./net/index.js";
import { FetchAllowEntryError, parseFetchAllowEntry } from "./skills/index.js";
import { describeError, issueText } from "./schema-issues.js";
import { TenantSchema, type Tenant } from "./tenants/index.js";

/** A configuration problem, reported to the user without a stack trace. */
export class ConfigError extends Error {
  readonly code = "CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The gRPC server's settings. */
export interface GrpcConfig {
  /** `CLAW_GRPC_PORT`: 0 picks a free port (logged at start) */
  port: number;
  /** `CLAW_GRPC_TLS_CERT`, `CLAW_GRPC_TLS_KEY` (PEM files); with `ca` (`CLAW_GRPC_TLS_CA`) clients must present a certificate it signed */
  tls?: { cert: string; key: string; ca?: string };
}

/** Everything a node is configured with. */
export interface ClawConfig {
  /** comma-separated NATS servers; undefined = the embedded default */
  natsUrl: string | undefined;
  nodeId: string;
  httpHost: string;
  /** 0 picks a free port (logged at start) */
  httpPort: number;
  /** the gRPC server (`CLAW_GRPC_*`, bound to `httpHost`): undefined when `CLAW_GRPC_PORT=off` */
  grpc: GrpcConfig | undefined;
  partitions: number;
  dataDir: string;
  /** where the embedded default looks for (and, if absent, starts) a nats-server */
  embeddedNatsPort: number;
  /** nats-server binary for the embedded default (default: found on PATH, /usr/sbin, /usr/local/bin) */
  natsServerBin: string | undefined;
  maxPayload: number;
  replicas: number;
  maxDeliver: number;
  idleMs: number;
  turnTimeoutMs: number;
  ackWaitMs: number;
  maxAckPending: number;
  duplicateWindowMs: number;
  /** how deep agents may ask agents (`agents.ask`): a turn at this depth is answered `depth_exceeded` */
  maxAgentDepth: number;
  /** an occurrence of a schedule at most this late is still published as due; older ones were missed (their `missed` decides) */
  scheduleGraceMs: number;
  /** first retry delay and cap of the exponential backoff (×2, jittered) */
  retryBaseMs: number;
  retryMaxMs: number;
  /** a member not heard from for this long is gone; its partitions move */
  memberTtlMs: number;
  /** the leader lease's lifetime without renewal */
  leaseTtlMs: number;
  /** append every turn to CLAW_TRANSCRIPTS */
  transcripts: boolean;
  /** how sandboxed skills (`node`, `process`) run: `bubblewrap` (default), or `process` — no isolation, only with `allowUnsandboxed` */
  sandbox: "bubblewrap" | "process";
  /** CLAW_ALLOW_UNSANDBOXED=1: the `process` sandbox may be chosen */
  allowUnsandboxed: boolean;
  /** hosts the built-in `http.fetch` may reach (`CLAW_HTTP_FETCH_ALLOW`, comma-separated; `*.example.com` for subdomains, `host:port` for one port) */
  httpFetchAllow: string[];
  /** hosts the built-in `browser.open` and the pages it opens may reach (`CLAW_BROWSER_ALLOW`, the syntax of `CLAW_HTTP_FETCH_ALLOW`) */
  browserAllow: string[];
  /** the Chromium `browser.open` runs (`CLAW_BROWSER_EXECUTABLE`) */
  browserExecutable: string;
  /**
   * where the world reaches this gateway (`CLAW_PUBLIC_URL`, e.g. `https://claw.example.org`): the links of media skills made
   * (`/v1/media/{id}`) start with it, so a platform can fetch them; its host is one the gateway answers for. Unset: the links are
   * the gateway's own address (`http://<CLAW_HTTP_HOST>:<port>`), which only its neighbours reach
   */
  publicUrl?: string;
  /** how long media skills made are kept (`CLAW_MEDIA_MAX_AGE_DAYS`) */
  mediaMaxAgeDays: number;
  /**
   * DNS servers (`ip` or `ip:port`) that resolve the hosts of `http.fetch` and webhook deliveries instead of the system's resolver (`CLAW_DNS_SERVERS`); empty:
   * the system's
   */
  dnsServers: string[];
  /** the folder of skills shipped with Claw (`skills/`), registered by every node; empty string: none */
  skillsDir: string;
  /**
   * where sandboxed runs find their files: the harness, the skills' files, the workspaces (default `<dataDir>/sandbox`; the node's user's, writable by no one
   * else, every ancestor letting uid 65534 through)
   */
  sandboxDir: string;
  /** bytes one skill workspace may hold (`CLAW_WORKSPACE_QUOTA_MB`) */
  workspaceQuotaBytes: number;
  /** how long a session's workspace is kept once the session is passivated (`CLAW_WORKSPACE_TTL`); 0: for good */
  workspaceTtlMs: number;
  /**
   * the Docker API engine of `container` skills (`CLAW_DOCKER_HOST`: `unix:///path.sock` or `tcp://host:port`; default `DOCKER_HOST`, else
   * `unix:///var/run/docker.sock`); one that does not answer only makes them unavailable
   */
  dockerHost: string;
  /** fault injection for crash tests (`session.after-reply`, `session.after-save`): the node SIGKILLs itself there */
  failpoints: string[];
  /** a message answered this long after its `ts` (or more) is logged as a `slow turn`, with where its time went; 0: never */
  slowTurnMs: number;
  logLevel: string;
  /** a request's headers must be in within this long, and the whole request within `httpRequestTimeoutMs` (slow clients are cut) */
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  /** a web chat session's reply consumer is removed this long after its last connection went away (its replies wait in the stream) */
  wsConsumerIdleMs: number;
  /** attempts of a webhook delivery before it is dead-lettered, and one attempt's time limit */
  webhookMaxAttempts: number;
  webhookTimeoutMs: number;
  /** CLAW_WEBHOOK_ALLOW_PRIVATE=1: webhooks may be delivered to loopback, private and other non-public addresses (internal receivers) */
  webhookAllowPrivate: boolean;
  /** credentials are required on every endpoint but health (and the webhooks the platforms sign): off loopback always, on loopback with `CLAW_AUTH=required` */
  authRequired: boolean;
  /**
   * `CLAW_HTTP_HOSTS` (comma-separated): names the gateway answers for beside loopback's (`name`, `name:port`, `*.name`); checked on an open gateway, or
   * wherever set
   */
  httpHosts: string[];
  /** `CLAW_HTTP_ORIGINS` (comma-separated): origins (`https://app.example.com`) whose web pages may call the gateway */
  httpOrigins: string[];
  /** `CLAW_HTTP_MAX_CONNECTIONS`: connections the gateway holds at once; undefined: half the open-file limit, at most 10,000 */
  httpMaxConnections: number | undefined;
  /** `/metrics` without a credential, for a Prometheus that has none (`CLAW_METRICS_PUBLIC=1`) */
  metricsPublic: boolean;
  /** bearer JWTs from an OIDC issuer (`CLAW_JWT_ISSUER` and `CLAW_JWT_AUDIENCE`, `CLAW_JWT_JWKS_URL`, `CLAW_JWT_SCOPES_CLAIM`, `CLAW_JWT_TENANT_CLAIM`,
   * `CLAW_JWT_CLOCK_SKEW_S`) */
  jwt: JwtOptions | undefined;
  /** how long audit records are kept (`CLAW_AUDIT_MAX_AGE_DAYS`) */
  auditMaxAgeDays: number;
  /**
   * The limits of Claw's streams: bytes at most in each (`CLAW_STREAM_MAX_BYTES`,
   * 0 = none; `maxBytesSet` when given, not the default), and how long messages
   * are kept: unread in a work queue (`CLAW_STREAM_MAX_AGE_DAYS`), dead letters
   * (`CLAW_DLQ_MAX_AGE_DAYS`), transcripts (`CLAW_TRANSCRIPTS_MAX_AGE_DAYS`)
   */
  streamLimits: { maxBytes: number; maxBytesSet: boolean; workQueueMaxAgeDays: number; dlqMaxAgeDays: number; transcriptsMaxAgeDays: number };
  /** how long a stop lets in-flight work finish before it cancels what still runs (`CLAW_DRAIN_MS`) */
  drainMs: number;
  /** `CLAW_CONFIG` `rateLimits`: none when absent */
  rateLimits: RateLimits | undefined;
  /** `CLAW_CONFIG` `skillGrants`: what of the node (env vars, secrets, read-only paths) each registered skill may be given; none when absent */
  skillGrants: SkillGrants;
  agents: AgentSpec[];
  /** `CLAW_CONFIG` `tenants[]`: seeded into KV `claw_registry` (src/tenants); none when absent */
  tenants: Tenant[];
  /** the agent for messages no binding matches */
  defaultAgent?: string;
  /**
   * `file`: the agents come from CLAW_CONFIG (it prunes agents an earlier file seeded); `default`: the built-in echo agent, seeded only into an empty registry
   */
  agentsFrom: "file" | "default";
  /** OpenAI-compatible providers by name, keys resolved from the environment */
  providers: Record<string, ProviderConfig>;
  /** channel accounts (`CLAW_CONFIG` `channels[]`), their options checked and their secrets read */
  channels: ChannelConfig[];
}

export { ProviderConfigSchema, type ProviderConfig } from "./llm/provider-config.js";

/** The file `CLAW_CONFIG` names. */
const ConfigFileSchema = z
  .object({
    providers: z.record(z.string().regex(PROVIDER_NAME, "provider names: letters, digits, _ and -"), ProviderConfigSchema).default({}),
    agents: z.array(AgentSpecSchema).min(1),
    defaultAgent: z.string().optional(),
    /** channel accounts: `{ "type", "account", …options }`, checked by their adapter (src/adapters) */
    channels: z.array(z.record(z.string(), z.unknown())).default([]),
    /** rate limits of the gateway, shared by every node (src/auth/rate-limits.ts) */
    rateLimits: RateLimitsSchema.optional(),
    /** what registered skills may be given of the node, by skill id (src/skills/skill-grants.ts) */
    skillGrants: SkillGrantsSchema.default({}),
    /** the tenants sharing the cluster and their quotas (src/tenants) */
    tenants: z.array(TenantSchema).default([]),
  })
  .strict();

/** `CLAW_STREAM_MAX_BYTES` when unset (the bus' default: 1 GiB). */
const DEFAULT_STREAM_MAX_BYTES = defaultSpecOptions().streamMaxBytes;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
/** The entries of a comma-separated setting, trimmed, empty ones dropped. */
const commaList = (v: string): string[] =>
  v
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1024 ** 4,
  TIB: 1024 ** 4,
};
/** A size in bytes: `1073741824`, `512MB`, `1GiB` (binary multiples, as nats-server counts). */
const byteSize = z
  .string()
  .regex(/^\s*\d+\s*([KMGT]i?B?|B)?\s*$/i, "a size in bytes: a number, optionally with KB, MB, GB or TB (e.g. 512MB)")
  .transform((v) => {
    const [, n, unit] = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(v)!;
    return Number(n) * BYTE_UNITS[unit!.toUpperCase()]!;
  });

/** A comma-separated host allowlist (`CLAW_HTTP_FETCH_ALLOW`, `CLAW_BROWSER_ALLOW`): a bad entry stops the start, named. */
const hostAllowlist = () =>
  z
    .string()
    .default("")
    .superRefine((v, c) => {
      for (const entry of commaList(v)) {
        try {
          parseFetchAllowEntry(entry);
        } catch (e) {
          if (!(e instanceof FetchAllowEntryError)) throw e;
          c.addIssue({ code: "custom", message: e.message });
        }
      }
    });

const EnvSchema = z.object({
  NATS_URL: z.string().min(1).optional(),
  CLAW_NODE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - only")
    .optional(),
  CLAW_HTTP_HOST: z.string().default("127.0.0.1"),
  CLAW_HTTP_PORT: int(0, 65535).default(8080),
  CLAW_GRPC_PORT: z.union([z.literal("off"), int(0, 65535)], { error: "a port (0-65535; 0: a free one) or off" }).default(50051),
  CLAW_GRPC_TLS_CERT: z.string().min(1).optional(),
  CLAW_GRPC_TLS_KEY: z.string().min(1).optional(),
  CLAW_GRPC_TLS_CA: z.string().min(1).optional(),
  CLAW_PARTITIONS: int(1, 1024).default(DEFAULT_PARTITIONS),
  CLAW_DATA_DIR: z.string().default("data"),
  CLAW_EMBEDDED_NATS_PORT: int(1, 65535).default(4222),
  CLAW_NATS_SERVER_BIN: z.string().min(1).optional(),
  CLAW_MAX_PAYLOAD: int(1024).default(DEFAULT_MAX_PAYLOAD),
  CLAW_REPLICAS: int(1, 5).default(1),
  CLAW_MAX_DELIVER: int(1, 100).default(5),
  CLAW_IDLE_MS: int(100).default(60_000),
  CLAW_TURN_TIMEOUT_MS: int(100).default(120_000),
  CLAW_ACK_WAIT_MS: int(1000).default(30_000),
  CLAW_MAX_ACK_PENDING: int(1).default(256),
  CLAW_DUPLICATE_WINDOW_MS: int(1000).default(120_000),
  CLAW_MAX_AGENT_DEPTH: int(0, 16).default(3),
  CLAW_SCHEDULE_GRACE_MS: int(1000).default(60_000),
  CLAW_RETRY_BASE_MS: int(1).default(1_000),
  CLAW_RETRY_MAX_MS: int(1).default(30_000),
  CLAW_MEMBER_TTL_MS: int(300).default(3_000),
  CLAW_LEASE_TTL_MS: int(300).default(3_000),
  CLAW_TRANSCRIPTS: z.enum(["on", "off"]).default("on"),
  CLAW_FAILPOINTS: z.string().default(""),
  CLAW_SLOW_TURN_MS: int(0).default(1_000),
  CLAW_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  CLAW_CONFIG: z.string().optional(),
  CLAW_SANDBOX: z.enum(["bubblewrap", "process"]).default("bubblewrap"),
  CLAW_ALLOW_UNSANDBOXED: z.enum(["0", "1"]).default("0"),
  CLAW_HTTP_FETCH_ALLOW: hostAllowlist(),
  CLAW_BROWSER_ALLOW: hostAllowlist(),
  CLAW_BROWSER_EXECUTABLE: z.string().min(1).default("/usr/bin/chromium"),
  CLAW_PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://claw.example.org" })
    .refine((u) => !/[?#]/.test(u), "must have no query or fragment")
    .transform((u) => u.replace(/\/+$/, ""))
    .optional(),
  CLAW_MEDIA_MAX_AGE_DAYS: int(1, 3650).default(7),
  CLAW_DNS_SERVERS: z
    .string()
    .default("")
    .superRefine((v, c) => {
      for (const s of commaList(v))
        if (!parseDnsServer(s)) c.addIssue({ code: "custom", message: `${JSON.stringify(s)} is not a DNS server address (ip, ip:port or [ipv6]:port)` });
    }),
  CLAW_SKILLS_DIR: z.string().optional(),
  CLAW_SANDBOX_DIR: z.string().optional(),
  CLAW_WORKSPACE_QUOTA_MB: int(1, 1_048_576).default(100),
  CLAW_WORKSPACE_TTL: z
    .string()
    .regex(/^\d+(ms|s|m|h|d)?$/, "a duration such as 7d, 12h, 30m, 90s or 500ms (0: kept for good)")
    .default("7d"),
  CLAW_HTTP_HEADERS_TIMEOUT_MS: int(100).default(10_000),
  CLAW_HTTP_REQUEST_TIMEOUT_MS: int(100).default(30_000),
  CLAW_HTTP_HOSTS: z.string().default(""),
  CLAW_HTTP_ORIGINS: z.string().default(""),
  CLAW_HTTP_MAX_CONNECTIONS: int(1, 1_000_000).optional(),
  CLAW_WS_CONSUMER_IDLE_MS: int(1_000, 86_400_000).default(DEFAULT_WS_CONSUMER_IDLE_MS),
  CLAW_WEBHOOK_MAX_ATTEMPTS: int(1, 100).default(8),
  CLAW_WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  CLAW_WEBHOOK_ALLOW_PRIVATE: z.enum(["0", "1"]).default("0"),
  CLAW_AUTH: z.enum(["auto", "required"]).default("auto"),
  CLAW_METRICS_PUBLIC: z.enum(["0", "1"]).default("0"),
  CLAW_JWT_ISSUER: z.string().url().optional(),
  CLAW_JWT_AUDIENCE: z.string().min(1).optional(),
  CLAW_JWT_JWKS_URL: z.string().url().optional(),
  CLAW_JWT_SCOPES_CLAIM: z.string().min(1).default("scope"),
  CLAW_JWT_TENANT_CLAIM: z.string().min(1).default("tenant"),
  CLAW_JWT_CLOCK_SKEW_S: int(0, 600).default(30),
  CLAW_AUDIT_MAX_AGE_DAYS: int(1, 3650).default(90),
  CLAW_STREAM_MAX_BYTES: byteSize.optional(),
  CLAW_STREAM_MAX_AGE_DAYS: int(1, 3650).default(7),
  CLAW_DLQ_MAX_AGE_DAYS: int(1, 3650).default(30),
  CLAW_TRANSCRIPTS_MAX_AGE_DAYS: int(1, 3650).default(30),
  CLAW_DRAIN_MS: int(0, 600_000).default(10_000),
  CLAW_DOCKER_HOST: z
    .string()
    .refine((h) => dockerEndpoint(h) !== undefined, "a Docker API endpoint: unix:///path.sock or tcp://host:port")
    .optional(),
});

/** The agents, default agent and providers of `CLAW_CONFIG` (or the built-in echo agent without it). */
function loadConfigFile(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
): Pick<ClawConfig, "agents" | "defaultAgent" | "providers" | "agentsFrom" | "channels" | "rateLimits" | "skillGrants" | "tenants"> {
  if (!path) return { agents: defaultAgents(), providers: {}, agentsFrom: "default", channels: [], rateLimits: undefined, skillGrants: {}, tenants: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`cannot read CLAW_CONFIG ${path}: ${(e as Error).message}`);
  }
  const r = ConfigFileSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`${path}: ${issueText(describeError(r.error, ConfigFileSchema))}`);
  const { defaultAgent } = r.data;
  // a tenant's agent is `<tenant>/<id>` from here on (two tenants may each have a `support`)
  const agents = r.data.agents.map((a, i) => {
    try {
      return qualifyAgent(a);
    } catch (e) {
      throw new ConfigError(`${path}: agents[${i}].${(e as Error).message}`);
    }
  });
  const providers: Record<string, ProviderConfig> = {};
  for (const [name, p] of Object.entries(r.data.providers)) {
    if (name === SCRIPTED) throw new ConfigError(`${path}: providers.${name}: "${SCRIPTED}" is the built-in model's name`);
    const apiKey = p.apiKeyEnv ? env[p.apiKeyEnv] : p.apiKey;
    if (p.apiKeyEnv && !apiKey) throw new ConfigError(`${path}: providers.${name}.apiKeyEnv: the environment variable ${p.apiKeyEnv} is not set`);
    providers[name] = { ...p, apiKey };
  }
  // a tenant that brings its own providers: its agents name those (keys from the environment, checked here as the cluster's are)
  const tenantProviders = new Map<string, string[]>();
  r.data.tenants.forEach((t, i) => {
    if (!t.providers || Object.keys(t.providers).length === 0) return;
    for (const [name, p] of Object.entries(t.providers)) {
      if (name === SCRIPTED) throw new ConfigError(`${path}: tenants.${i}.providers.${name}: "${SCRIPTED}" is the built-in model's name`);
      if (p.apiKeyEnv && !env[p.apiKeyEnv])
        throw new ConfigError(`${path}: tenants.${i}.providers.${name}.apiKeyEnv: the environment variable ${p.apiKeyEnv} is not set`);
    }
    tenantProviders.set(t.id, Object.keys(t.providers));
  });
  const ids = new Set<string>();
  for (const a of agents) {
    if (ids.has(a.id)) throw new ConfigError(`${path}: agent id ${a.id} is defined twice`);
    ids.add(a.id);
    try {
      const own = a.tenant === undefined ? undefined : tenantProviders.get(a.tenant);
      validateAgent(a, { models: () => [SCRIPTED, ...(own ?? Object.keys(providers))] });
    } catch (e) {
      if (e instanceof AgentSpecError) throw new ConfigError(`${path}: agent ${a.id}: ${e.message}`);
      throw e;
    }
  }
  if (defaultAgent !== undefined && !ids.has(defaultAgent)) throw new ConfigError(`${path}: defaultAgent: no agent named ${defaultAgent}`);
  let channels: ChannelConfig[];
  try {
    channels = parseChannels(r.data.channels, env);
  } catch (e) {
    if (e instanceof ChannelConfigError) throw new ConfigError(`${path}: ${e.message}`);
    throw e;
  }
  const tenants = r.data.tenants;
  const tenantIds = new Set<string>();
  for (const t of tenants) {
    if (tenantIds.has(t.id)) throw new ConfigError(`${path}: tenant id ${t.id} is defined twice`);
    tenantIds.add(t.id);
  }
  for (const a of agents)
    if (a.tenant !== undefined && !tenantIds.has(a.tenant)) throw new ConfigError(`${path}: agent ${a.id}: tenant: no tenant ${a.tenant} in tenants[]`);
  channels.forEach((c, i) => {
    if (c.tenant !== undefined && !tenantIds.has(c.tenant)) throw new ConfigError(`${path}: channels[${i}].tenant: no tenant ${c.tenant} in tenants[]`);
  });
  return { agents, defaultAgent, providers, agentsFrom: "file", channels, rateLimits: r.data.rateLimits, skillGrants: r.data.skillGrants, tenants };
}

/** `7d`, `12h`, `30m`, `90s`, `500ms` (a bare number: ms) in ms. */
function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text)!;
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "ms") as "ms" | "s" | "m" | "h" | "d"];
}

/** True for an address only this machine can reach (the default bind). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The gRPC server's settings: none with `CLAW_GRPC_PORT=off`; a certificate needs its key, and client certificates (`_CA`) need both. */
function grpcConfig(
  e: Pick<z.infer<typeof EnvSchema>, "CLAW_GRPC_PORT" | "CLAW_GRPC_TLS_CERT" | "CLAW_GRPC_TLS_KEY" | "CLAW_GRPC_TLS_CA">,
): GrpcConfig | undefined {
  if (e.CLAW_GRPC_PORT === "off") return undefined;
  const { CLAW_GRPC_TLS_CERT: cert, CLAW_GRPC_TLS_KEY: key, CLAW_GRPC_TLS_CA: ca } = e;
  if ((cert === undefined) !== (key === undefined))
    throw new ConfigError("CLAW_GRPC_TLS_CERT and CLAW_GRPC_TLS_KEY go together: set both (the server's certificate and its key) or neither");
  if (ca !== undefined && cert === undefined)
    throw new ConfigError("CLAW_GRPC_TLS_CA asks clients for certificates (mTLS), which needs TLS: set CLAW_GRPC_TLS_CERT and CLAW_GRPC_TLS_KEY too");
  return { port: e.CLAW_GRPC_PORT, ...(cert && key ? { tls: { cert, key, ...(ca ? { ca } : {}) } } : {}) };
}

/** Reads the configuration from `env`. Throws {@link ConfigError}. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ClawConfig {
  const r = EnvSchema.safeParse(env);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`${i.path.join(".")}: ${i.message}`);
  }
  const e = r.data;
  if (e.CLAW_JWT_ISSUER && !e.CLAW_JWT_AUDIENCE)
    throw new ConfigError(
      "CLAW_JWT_ISSUER is set without CLAW_JWT_AUDIENCE: tokens are only taken for an audience (the value your issuer puts in `aud` for Claw)",
    );
  if (e.CLAW_SANDBOX === "process" && e.CLAW_ALLOW_UNSANDBOXED !== "1") {
    throw new ConfigError("CLAW_SANDBOX=process runs skills without any isolation: set CLAW_ALLOW_UNSANDBOXED=1 as well if that is what you want");
  }
  // an occurrence published again (its first publisher died before recording it) is dropped only inside the duplicate window
  if (e.CLAW_SCHEDULE_GRACE_MS > e.CLAW_DUPLICATE_WINDOW_MS)
    throw new ConfigError(
      `CLAW_SCHEDULE_GRACE_MS (${e.CLAW_SCHEDULE_GRACE_MS}) is longer than CLAW_DUPLICATE_WINDOW_MS (${e.CLAW_DUPLICATE_WINDOW_MS}): ` +
        "an occurrence published twice across a crash would not be dropped as a duplicate",
    );
  return {
    natsUrl: e.NATS_URL,
    nodeId:
      e.CLAW_NODE_ID ??
      `${hostname()
        .replace(/[^A-Za-z0-9_-]/g, "-")
        .slice(0, 40)}-${nuid.next().slice(-6).toLowerCase()}`,
    httpHost: e.CLAW_HTTP_HOST,
    httpPort: e.CLAW_HTTP_PORT,
    grpc: grpcConfig(e),
    partitions: e.CLAW_PARTITIONS,
    dataDir: e.CLAW_DATA_DIR,
    embeddedNatsPort: e.CLAW_EMBEDDED_NATS_PORT,
    natsServerBin: e.CLAW_NATS_SERVER_BIN,
    maxPayload: e.CLAW_MAX_PAYLOAD,
    replicas: e.CLAW_REPLICAS,
    maxDeliver: e.CLAW_MAX_DELIVER,
    idleMs: e.CLAW_IDLE_MS,
    turnTimeoutMs: e.CLAW_TURN_TIMEOUT_MS,
    ackWaitMs: e.CLAW_ACK_WAIT_MS,
    maxAckPending: e.CLAW_MAX_ACK_PENDING,
    duplicateWindowMs: e.CLAW_DUPLICATE_WINDOW_MS,
    maxAgentDepth: e.CLAW_MAX_AGENT_DEPTH,
    scheduleGraceMs: e.CLAW_SCHEDULE_GRACE_MS,
    retryBaseMs: e.CLAW_RETRY_BASE_MS,
    retryMaxMs: Math.max(e.CLAW_RETRY_BASE_MS, e.CLAW_RETRY_MAX_MS),
    memberTtlMs: e.CLAW_MEMBER_TTL_MS,
    leaseTtlMs: e.CLAW_LEASE_TTL_MS,
    transcripts: e.CLAW_TRANSCRIPTS === "on",
    failpoints: e.CLAW_FAILPOINTS.split(",")
      .map((f) => f.trim())
      .filter(Boolean),
    sandbox: e.CLAW_SANDBOX,
    allowUnsandboxed: e.CLAW_ALLOW_UNSANDBOXED === "1",
    httpFetchAllow: commaList(e.CLAW_HTTP_FETCH_ALLOW),
    browserAllow: commaList(e.CLAW_BROWSER_ALLOW),
    browserExecutable: e.CLAW_BROWSER_EXECUTABLE,
    ...(e.CLAW_PUBLIC_URL ? { publicUrl: e.CLAW_PUBLIC_URL } : {}),
    mediaMaxAgeDays: e.CLAW_MEDIA_MAX_AGE_DAYS,
    dnsServers: commaList(e.CLAW_DNS_SERVERS),
    skillsDir: e.CLAW_SKILLS_DIR ?? SHIPPED_SKILLS_DIR,
    // under the data dir: a shared /tmp would let another local user make it first (src/skills/sandbox/sandbox-dir.ts)
    sandboxDir: e.CLAW_SANDBOX_DIR ?? join(e.CLAW_DATA_DIR, "sandbox"),
    workspaceQuotaBytes: e.CLAW_WORKSPACE_QUOTA_MB * 1024 * 1024,
    workspaceTtlMs: durationMs(e.CLAW_WORKSPACE_TTL),
    // DOCKER_HOST is not ours to refuse: a form the driver cannot use is said when it is checked
    dockerHost: e.CLAW_DOCKER_HOST ?? (env.DOCKER_HOST || "unix:///var/run/docker.sock"),
    slowTurnMs: e.CLAW_SLOW_TURN_MS,
    logLevel: e.CLAW_LOG_LEVEL,
    httpHeadersTimeoutMs: e.CLAW_HTTP_HEADERS_TIMEOUT_MS,
    httpRequestTimeoutMs: Math.max(e.CLAW_HTTP_HEADERS_TIMEOUT_MS, e.CLAW_HTTP_REQUEST_TIMEOUT_MS),
    wsConsumerIdleMs: e.CLAW_WS_CONSUMER_IDLE_MS,
    webhookMaxAttempts: e.CLAW_WEBHOOK_MAX_ATTEMPTS,
    webhookTimeoutMs: e.CLAW_WEBHOOK_TIMEOUT_MS,
    webhookAllowPrivate: e.CLAW_WEBHOOK_ALLOW_PRIVATE === "1",
    authRequired: e.CLAW_AUTH === "required" || !isLoopback(e.CLAW_HTTP_HOST),
    // the public URL's host is one the gateway answers for: a platform fetches media links by it
    httpHosts: [...commaList(e.CLAW_HTTP_HOSTS), ...(e.CLAW_PUBLIC_URL ? [new URL(e.CLAW_PUBLIC_URL).host] : [])],
    httpOrigins: commaList(e.CLAW_HTTP_ORIGINS).map((origin) => {
      const parsed = URL.canParse(origin) ? new URL(origin) : undefined;
      const bare = parsed && parsed.pathname === "/" && !parsed.search && !parsed.hash && !parsed.username && !parsed.password;
      if (!parsed || !bare || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
        throw new ConfigError(`CLAW_HTTP_ORIGINS: ${origin} is not an origin (write it as https://host[:port], no path)`);
      }
      return parsed.origin;
    }),
    httpMaxConnections: e.CLAW_HTTP_MAX_CONNECTIONS,
    metricsPublic: e.CLAW_METRICS_PUBLIC === "1",
    jwt: e.CLAW_JWT_ISSUER
      ? {
          issuer: e.CLAW_JWT_ISSUER,
          audience: e.CLAW_JWT_AUDIENCE!,
          jwksUrl: e.CLAW_JWT_JWKS_URL,
          scopesClaim: e.CLAW_JWT_SCOPES_CLAIM,
          tenantClaim: e.CLAW_JWT_TENANT_CLAIM,
          clockSkewS: e.CLAW_JWT_CLOCK_SKEW_S,
        }
      : undefined,
    auditMaxAgeDays: e.CLAW_AUDIT_MAX_AGE_DAYS,
    streamLimits: {
      maxBytes: e.CLAW_STREAM_MAX_BYTES ?? DEFAULT_STREAM_MAX_BYTES,
      maxBytesSet: e.CLAW_STREAM_MAX_BYTES !== undefined,
      workQueueMaxAgeDays: e.CLAW_STREAM_MAX_AGE_DAYS,
      dlqMaxAgeDays: e.CLAW_DLQ_MAX_AGE_DAYS,
      transcriptsMaxAgeDays: e.CLAW_TRANSCRIPTS_MAX_AGE_DAYS,
    },
    drainMs: e.CLAW_DRAIN_MS,
    ...loadConfigFile(e.CLAW_CONFIG, env),
  };
}
