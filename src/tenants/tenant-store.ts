/**
 * The tenants in KV `claw_registry` (`tenant.<id>`): the store the CLI and
 * the seeding write, and the live copy every node reads its quotas from.
 * `CLAW_CONFIG` seeds it as it seeds agents: a tenant of the file is written
 * when missing or when the file changed it; one set with `claw tenants set`
 * is left to the CLI.
 */
import type { KV } from "@nats-io/kv";
import { mirrorBucket, withRetry, type KvMirror } from "../bus/index.js";
import { TenantSchema, type Tenant } from "./tenant.js";

/** A tenant as stored. */
export interface StoredTenant {
  tenant: Tenant;
  /** `config` (seeded from CLAW_CONFIG) or `cli` (`claw tenants set`) */
  source: "config" | "cli";
  updatedAt: number;
}

const PREFIX = "tenant";
const keyOf = (id: string) => `${PREFIX}.${id}`;

function decodeTenant(value: Uint8Array): StoredTenant | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(value)) as StoredTenant;
    const tenant = TenantSchema.parse(r.tenant);
    return { tenant, source: r.source === "cli" ? "cli" : "config", updatedAt: Number(r.updatedAt) || 0 };
  } catch {
    return undefined;
  }
}

/** Reading and writing tenants (the CLI, the seeding). */
export interface TenantStore {
  list(): Promise<StoredTenant[]>;
  get(id: string): Promise<StoredTenant | undefined>;
  /** stores a tenant (validated: throws the zod error naming the field) */
  put(tenant: unknown, source: StoredTenant["source"]): Promise<StoredTenant>;
}

/** The tenant store over `kv` (the `claw_registry` bucket). */
export function tenantStore(kv: KV): TenantStore {
  const store: TenantStore = {
    async list() {
      const out: StoredTenant[] = [];
      for await (const k of await withRetry(() => kv.keys(`${PREFIX}.*`))) {
        const t = await store.get(k.slice(PREFIX.length + 1));
        if (t) out.push(t);
      }
      return out.sort((a, b) => a.tenant.id.localeCompare(b.tenant.id));
    },
    async get(id) {
      const e = await withRetry(() => kv.get(keyOf(id)));
      return e && e.operation === "PUT" ? decodeTenant(e.value) : undefined;
    },
    async put(input, source) {
      const tenant = TenantSchema.parse(input);
      const stored: StoredTenant = { tenant, source, updatedAt: Date.now() };
      await withRetry(() => kv.put(keyOf(tenant.id), JSON.stringify(stored)));
      return stored;
    },
  };
  return store;
}

/** Writes the file's tenants that are missing or that the file changed; those set with the CLI are left alone. Returns the ids written. */
export async function seedTenants(store: TenantStore, tenants: readonly Tenant[]): Promise<string[]> {
  const written: string[] = [];
  for (const t of tenants) {
    const had = await store.get(t.id);
    if (had && (had.source === "cli" || JSON.stringify(had.tenant) === JSON.stringify(t))) continue;
    await store.put(t, "config");
    written.push(t.id);
  }
  return written;
}

/** A node's live view of the tenants. */
export type TenantDirectory = KvMirror<StoredTenant>;

/** Follows the tenants in `kv`: a change anywhere applies here within a moment. */
export function watchTenants(kv: KV, o: { onError?: (e: unknown) => void } = {}): TenantDirectory {
  return mirrorBucket<StoredTenant>(kv, { prefix: PREFIX, decode: decodeTenant, onError: o.onError });
}
