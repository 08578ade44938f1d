/**
 * `claw keys`: the gateway's API keys, kept in KV `claw_auth` (whoever can
 * reach NATS is an operator: that is how the first key is made).
 * `create` prints the key once (only its hash is stored); `ls` lists them;
 * `revoke` removes one (every node refuses it within a second); `rotate`
 * makes a new key with the same scopes and lets the old one run out after a
 * grace period. Each change is recorded in the audit trail.
 */
import { hostname, userInfo } from "node:os";
import { apiKeyStore, type ApiKeyStore } from "../auth/index.js";
import { tenantStore } from "../tenants/index.js";
import { BUCKETS, type Bus } from "../bus/index.js";
import { createAudit } from "../observability/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** Options of {@link keysCommand}. */
export type KeysOptions =
  | { action: "create"; scopes: string[]; name?: string; expires?: number; tenant?: string; json: boolean }
  | { action: "ls"; json: boolean }
  | { action: "revoke"; id: string }
  | { action: "rotate"; id: string; graceMs: number; json: boolean };

/** `30d`, `12h`, `90m`, `45s`, or a date (`2027-01-31`, ISO 8601): ms since the epoch. */
export function parseWhen(text: string, now = Date.now()): number {
  const m = /^(\d+)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (m) return now + Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2] as "s" | "m" | "h" | "d" | "w"];
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`not a time: ${JSON.stringify(text)} (say 30d, 12h, 90m, or a date like 2027-01-31)`);
  return t;
}

async function withKeys<T>(run: (keys: ApiKeyStore, bus: Bus) => Promise<T>): Promise<T> {
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.auth).catch((e: unknown) => {
      throw new Error(`no key store here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    return await run(apiKeyStore(kv), bus);
  } finally {
    await bus.close();
  }
}

const iso = (ms: number | undefined) => (ms === undefined ? "never" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"));

/** Runs a keys command. Returns the exit code. */
export async function keysCommand(o: KeysOptions): Promise<number> {
  return withKeys(async (keys, bus) => {
    const audit = createAudit(bus.publisher, { source: "cli" });
    const who = `cli:${userInfo().username}@${hostname()}`;
    const note = (what: string, detail: string) => audit.record({ who, what, from: hostname(), outcome: "ok", detail });
    try {
      switch (o.action) {
        case "create": {
          if (o.tenant !== undefined && !(await tenantStore(await bus.kvm.open(BUCKETS.registry)).get(o.tenant))) {
            process.stderr.write(`claw: no tenant ${o.tenant} (claw tenants ls lists them; claw tenants set ${o.tenant} makes it)\n`);
            return 1;
          }
          const k = await keys.create({ scopes: o.scopes, name: o.name, expires: o.expires, tenant: o.tenant });
          const within = k.tenant ? ` tenant ${k.tenant}` : "";
          note("keys create", `${k.id} scopes ${k.scopes.join(",")}${within}${k.expires ? ` expires ${iso(k.expires)}` : ""}`);
          if (o.json)
            process.stdout.write(
              JSON.stringify({
                id: k.id,
                key: k.key,
                scopes: k.scopes,
                ...(k.tenant ? { tenant: k.tenant } : {}),
                ...(k.expires ? { expires: iso(k.expires) } : {}),
              }) + "\n",
            );
          else
            process.stdout.write(
              `${k.key}\n\nkey ${k.id} with scopes ${k.scopes.join(", ")}${k.tenant ? ` in tenant ${k.tenant}` : ""}, expires ${iso(k.expires)}.\n` +
                `This is the only time it is shown: only its ` +
                `hash is kept. Send it as: Authorization: Bearer <key>\n`,
            );
          return 0;
        }
        case "ls": {
          const all = await keys.list();
          if (o.json) {
            process.stdout.write(
              JSON.stringify({ keys: all.map(({ hash: _h, ...r }) => ({ ...r, created: iso(r.created), expires: r.expires ? iso(r.expires) : null })) }) + "\n",
            );
            return 0;
          }
          if (all.length === 0) {
            process.stdout.write("no API keys: create one with `claw keys create --scopes <scopes>`\n");
            return 0;
          }
          const now = Date.now();
          const rows = formatTable(
            [
              { header: "id", cell: (r: (typeof all)[number]) => r.id },
              { header: "name", cell: (r) => r.name ?? "" },
              { header: "tenant", cell: (r) => r.tenant ?? "" },
              { header: "scopes", cell: (r) => r.scopes.join(",") },
              { header: "created", cell: (r) => iso(r.created) },
              { header: "expires", cell: (r) => (r.expires !== undefined && r.expires <= now ? `${iso(r.expires)} (expired)` : iso(r.expires)) },
            ],
            all,
          );
          process.stdout.write(rows.join("\n") + "\n");
          return 0;
        }
        case "revoke": {
          if (!(await keys.revoke(o.id))) {
            process.stderr.write(`claw: no key ${o.id} (claw keys ls lists them)\n`);
            return 1;
          }
          note("keys revoke", o.id);
          process.stdout.write(`revoked ${o.id}: every node refuses it from now on\n`);
          return 0;
        }
        case "rotate": {
          const k = await keys.rotate(o.id, o.graceMs).catch((e: Error) => {
            throw new Error(`${e.message} (claw keys ls lists them)`);
          });
          note("keys rotate", `${o.id} → ${k.id}, the old one expires in ${Math.round(o.graceMs / 1000)} s`);
          if (o.json) process.stdout.write(JSON.stringify({ id: k.id, key: k.key, scopes: k.scopes, replaces: o.id }) + "\n");
          else process.stdout.write(`${k.key}\n\nkey ${k.id} replaces ${o.id}, which keeps working until ${iso(Date.now() + o.graceMs)}.\n`);
          return 0;
        }
      }
    } finally {
      await audit.flush();
    }
  });
}
