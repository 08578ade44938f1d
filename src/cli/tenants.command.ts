/**
 * `claw tenants`: the tenants sharing the cluster, in KV `claw_registry`
 * (whoever can reach NATS is an operator). `ls` lists them with their
 * quotas; `set <id>` makes a tenant or changes its quotas — every node
 * applies it within a moment, without a restart. A tenant set here is the
 * CLI's: `CLAW_CONFIG` no longer overwrites it.
 */
import { ZodError } from "zod";
import { BUCKETS } from "../bus/index.js";
import { describeError } from "../schema-issues.js";
import { TenantSchema, tenantStore, type Quotas, type StoredTenant } from "../tenants/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** Options of {@link tenantsCommand}. */
export type TenantsOptions = { action: "ls"; json: boolean } | { action: "set"; id: string; quotas: Quotas; json: boolean };

const quotaText = (q: Quotas) =>
  Object.entries(q)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ") || "no limits";

/** Runs a tenants command. Returns the exit code. */
export async function tenantsCommand(o: TenantsOptions): Promise<number> {
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
      stored = await store.put({ id: o.id, quotas: { ...had?.tenant.quotas, ...o.quotas } }, "cli");
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
