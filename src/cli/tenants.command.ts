/**
 * `claw tenants`: the tenants sharing the cluster, in KV `claw_registry`
 * (whoever can reach NATS is an operator). `ls` lists them with their
 * quotas; `set <id>` makes a tenant or changes its quotas — every node
 * applies it within a moment, without a restart. A tenant set here is the
 * CLI's: `CLAW_CONFIG` no longer overwrites it. `nats-config` prints, from
 * the `CLAW_CONFIG` file alone (no NATS needed), the NATS accounts that keep
 * each tenant's systems to its own channel accounts' subjects.
 */
import { readFileSync } from "node:fs";
import { ZodError } from "zod";
import { BUCKETS } from "../bus/index.js";
import { describeError } from "../schema-issues.js";
import { TENANT_ID, TenantSchema, tenantNatsConfig, tenantStore, type Quotas, type StoredTenant, type TenantChannelAccount } from "../tenants/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** Options of {@link tenantsCommand}. */
export type TenantsOptions =
  | { action: "ls"; json: boolean }
  /** `quotas`: a quota's new limit, or null to take it away */
  | { action: "set"; id: string; quotas: { [K in keyof Quotas]?: number | null }; json: boolean }
  | { action: "nats-config"; config: string | undefined; partitions: number };

const quotaText = (q: Quotas) =>
  Object.entries(q)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ") || "no limits";

/** Runs a tenants command. Returns the exit code. */
export async function tenantsCommand(o: TenantsOptions): Promise<number> {
  if (o.action === "nats-config") return natsConfig(o.config, o.partitions);
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.registry).catch((e: unknown) => {
      throw new Error(`no registry here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const store = tenantStore(kv);
    if (o.action === "ls") {
      const all = await store.list();
      if (o.json) process.stdout.write(JSON.stringify({ tenants: all.map(view) }) + "\n");
      else if (all.length === 0) process.stdout.write("no tenants: make one with `claw tenants set <id>` or CLAW_CONFIG tenants[]\n");
      else
        process.stdout.write(
          formatTable(
            [
              { header: "id", cell: (t: StoredTenant) => t.tenant.id },
              { header: "quotas", cell: (t) => quotaText(t.tenant.quotas) },
              { header: "source", cell: (t) => t.source },
            ],
            all,
          ).join("\n") + "\n",
        );
      return 0;
    }
    const had = await store.get(o.id);
    let stored: StoredTenant;
    try {
      // what is not a quota (the tenant's own providers) is kept as it was
      const quotas: Record<string, number | null | undefined> = { ...had?.tenant.quotas, ...o.quotas };
      for (const [k, v] of Object.entries(quotas)) if (v === null) delete quotas[k];
      stored = await store.put({ ...had?.tenant, id: o.id, quotas: quotas as Quotas }, "cli");
    } catch (e) {
      if (!(e instanceof ZodError)) throw e;
      const d = describeError(e, TenantSchema);
      process.stderr.write(`claw: tenant ${o.id}: ${d.field ? `${d.field}: ` : ""}${d.message}\n`);
      return 1;
    }
    if (o.json) process.stdout.write(JSON.stringify(view(stored)) + "\n");
    else process.stdout.write(`tenant ${o.id} ${had ? "changed" : "made"}: ${quotaText(stored.tenant.quotas)} (every node applies it now)\n`);
    return 0;
  } finally {
    await bus.close();
  }
}

const view = (t: StoredTenant) => ({ id: t.tenant.id, quotas: t.tenant.quotas, source: t.source, updated: new Date(t.updatedAt).toISOString() });

/** A field of the file that is not what it must be. */
const bad = (where: string, what: string) => new Error(`${where}: ${what}`);

/**
 * The tenants and their channel accounts in the `CLAW_CONFIG` file at `path`
 * (read as the node reads them: a tenant's account is `<tenant>/<account>`,
 * and a channel naming a tenant the file does not list is refused, named).
 */
export function tenantChannels(path: string): { tenants: string[]; accounts: TenantChannelAccount[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`cannot read CLAW_CONFIG ${path}: ${(e as Error).message}`, { cause: e });
  }
  const file = (typeof raw === "object" && raw !== null ? raw : {}) as { tenants?: unknown; channels?: unknown };
  const list = (v: unknown, name: string): Record<string, unknown>[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "object" || x === null)) throw bad(`${path}: ${name}`, "a list of objects");
    return v as Record<string, unknown>[];
  };
  const tenants = list(file.tenants, "tenants").map((t, i) => {
    if (typeof t.id !== "string" || !TENANT_ID.test(t.id)) throw bad(`${path}: tenants[${i}].id`, "a tenant id (lowercase letters, digits, _ and -)");
    return t.id;
  });
  const accounts: TenantChannelAccount[] = [];
  list(file.channels, "channels").forEach((c, i) => {
    if (c.tenant === undefined) return;
    const where = `${path}: channels[${i}]`;
    if (typeof c.tenant !== "string" || !tenants.includes(c.tenant)) throw bad(`${where}.tenant`, `no tenant ${String(c.tenant)} in tenants[]`);
    if (typeof c.type !== "string" || c.type === "") throw bad(`${where}.type`, "a channel type");
    if (typeof c.account !== "string" || c.account === "" || c.account.includes("/")) throw bad(`${where}.account`, "an account name (no /)");
    accounts.push({ type: c.type, account: `${c.tenant}/${c.account}`, tenant: c.tenant });
  });
  return { tenants, accounts };
}

/** Prints the NATS accounts of the tenants of `config` (default: `CLAW_CONFIG`). */
function natsConfig(config: string | undefined, partitions: number): number {
  const path = config ?? process.env.CLAW_CONFIG;
  if (!path) {
    process.stderr.write("claw: tenants nats-config reads the tenants and their channel accounts from CLAW_CONFIG: set it, or give --config <file>\n");
    return 1;
  }
  const { tenants, accounts } = tenantChannels(path);
  process.stdout.write(tenantNatsConfig(tenants, accounts, partitions));
  return 0;
}
