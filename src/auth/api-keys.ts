/**
 * API keys, kept in KV `claw_auth` (`key.<id>`): only a scrypt hash of each
 * key's secret is stored, with its scopes, name and expiry. A key reads
 * `claw_<id>_<secret>`; the id finds the record, the secret is checked
 * against the hash. Every node keeps the records in memory from a watch of
 * the bucket, so a key created, revoked or rotated anywhere applies on every
 * node within a moment; a key a node verified once is remembered by a hash
 * of the whole key (scrypt is slow on purpose), and checked again against
 * the record (revoked, expired) on every request. A key that failed is
 * remembered the same way, and the checks callers without a proven key can
 * cause are bounded (hash-budget.ts).
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { mirrorBucket } from "../bus/index.js";
import { createHashBudget, type HashBudgetOptions, type HashRefusal } from "./hash-budget.js";
import { parseScopes } from "./scopes.js";
import { TENANT_ID } from "../tenants/index.js";

/** scrypt's cost (N = 2^14, r = 8: about 16 MiB and tens of ms per check) */
const SCRYPT: ScryptOptions = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LEN = 32;

function scrypt(secret: string, salt: Buffer, length = KEY_LEN, params: ScryptOptions = SCRYPT): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(secret, salt, length, params, (e, k) => (e ? reject(e) : resolve(k))));
}

/** An API key's record as stored (never the key itself). */
export interface ApiKeyRecord {
  id: string;
  name?: string;
  scopes: string[];
  /** ms since the epoch */
  created: number;
  /** ms since the epoch; absent: it does not expire */
  expires?: number;
  /** `scrypt$N$r$p$<salt b64>$<hash b64>` */
  hash: string;
  /** the key this one replaced (`claw keys rotate`) */
  rotatedFrom?: string;
  /** the first key of its rotation chain: whose sessions this key's are (a rotated key keeps them) */
  owner?: string;
  /** the tenant the key acts within; absent: the operator's key (it sees all) */
  tenant?: string;
}

/** What `create` hands out once. */
export interface CreatedKey {
  id: string;
  key: string;
  scopes: string[];
  expires?: number;
  tenant?: string;
}

const ID = /^[a-z0-9]{12}$/;
const recordKey = (id: string) => `key.${id}`;

/** Splits `claw_<id>_<secret>`; undefined when it is not shaped so. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const m = /^claw_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/.exec(key);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const h = await scrypt(secret, salt);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${h.toString("base64")}`;
}

async function secretMatches(secret: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const got = await scrypt(secret, Buffer.from(salt, "base64"), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Creating, listing, revoking and rotating keys (the CLI; any holder of NATS access). */
export interface ApiKeyStore {
  create(o: { scopes: readonly string[]; name?: string; expires?: number; rotatedFrom?: string; owner?: string; tenant?: string }): Promise<CreatedKey>;
  list(): Promise<ApiKeyRecord[]>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** removes the key; false when there was none */
  revoke(id: string): Promise<boolean>;
  /** a new key with the same scopes; the old one keeps working for `graceMs`, then expires */
  rotate(id: string, graceMs: number): Promise<CreatedKey>;
}

function decodeRecord(value: Uint8Array): ApiKeyRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(value)) as ApiKeyRecord;
    return typeof r.id === "string" && Array.isArray(r.scopes) && typeof r.hash === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The key store over the `claw_auth` bucket. */
export function apiKeyStore(kv: KV): ApiKeyStore {
  const store: ApiKeyStore = {
    async create(o) {
      const scopes = parseScopes(o.scopes);
      if (o.expires !== undefined && o.expires <= Date.now()) throw new Error("the expiry is in the past");
      if (o.tenant !== undefined && !TENANT_ID.test(o.tenant)) throw new Error(`not a tenant id: ${JSON.stringify(o.tenant)}`);
      const id = Array.from(randomBytes(12), (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");
      const secret = randomBytes(32).toString("base64url");
      const record: ApiKeyRecord = {
        id,
        scopes,
        created: Date.now(),
        hash: await hashSecret(secret),
        ...(o.name ? { name: o.name } : {}),
        ...(o.expires ? { expires: o.expires } : {}),
        ...(o.rotatedFrom ? { rotatedFrom: o.rotatedFrom } : {}),
        ...(o.owner ? { owner: o.owner } : {}),
        ...(o.tenant ? { tenant: o.tenant } : {}),
      };
      await kv.create(recordKey(id), JSON.stringify(record));
      return { id, key: `claw_${id}_${secret}`, scopes, ...(o.expires ? { expires: o.expires } : {}), ...(o.tenant ? { tenant: o.tenant } : {}) };
    },
    async list() {
      const out: ApiKeyRecord[] = [];
      const keys = await kv.keys("key.*");
      for await (const k of keys) {
        const e = await kv.get(k);
        const r = e && e.operation === "PUT" ? decodeRecord(e.value) : undefined;
        if (r) out.push(r);
      }
      return out.sort((a, b) => a.created - b.created);
    },
    async get(id) {
      if (!ID.test(id)) return undefined;
      const e = await kv.get(recordKey(id));
      return e && e.operation === "PUT" ? decodeRecord(e.value) : undefined;
    },
    async revoke(id) {
      if (!(await store.get(id))) return false;
      await kv.delete(recordKey(id));
      return true;
    },
    async rotate(id, graceMs) {
      const old = await store.get(id);
      if (!old) throw new Error(`no key ${id}`);
      const created = await store.create({
        scopes: old.scopes,
        name: old.name,
        expires: old.expires,
        rotatedFrom: id,
        owner: old.owner ?? old.id,
        tenant: old.tenant,
      });
      const until = Date.now() + graceMs;
      await kv.put(recordKey(id), JSON.stringify({ ...old, expires: Math.min(old.expires ?? Infinity, until) }));
      return created;
    },
  };
  return store;
}

/** Who a credential is. */
export interface Principal {
  /** `key:<id>` or `jwt:<sub>` */
  id: string;
  scopes: string[];
  /** whose sessions the credential's are, when not its own id (`key:<first key of its rotation chain>`) */
  owner?: string;
  /** the tenant it acts within (it sees and changes only that tenant's); absent: the operator (sees all) */
  tenant?: string;
}

/** Who a key's record makes its holder: `key:<id>`, with the sessions of its rotation chain's first key. */
export function keyPrincipal(r: ApiKeyRecord): Principal {
  return { id: `key:${r.id}`, scopes: r.scopes, ...(r.owner ? { owner: `key:${r.owner}` } : {}), ...(r.tenant ? { tenant: r.tenant } : {}) };
}

/** Why a key is not let in; `refused` when it was not even checked (too many checks from its address, or too many at once). */
export interface KeyRejection {
  error: string;
  refused?: HashRefusal;
}

/** A node's live view of the keys: verification against records kept current by a watch. */
export interface ApiKeyVerifier {
  /** the principal of a key, or why not; `from` is the caller's address (its checks are budgeted) */
  verify(key: string, o?: { from?: string }): Promise<Principal | KeyRejection>;
  /** keys known now (a node with none and no JWT issuer says how to create one) */
  count(): number;
  /** resolves once the bucket's current keys are loaded */
  readonly ready: Promise<void>;
  stop(): void;
}

/** Keys remembered as verified, and as failed (each map is cleared when it grows past this). */
const REMEMBERED = 10_000;

/** Watches `claw_auth` and verifies keys against it. */
export function watchApiKeys(kv: KV, o: { onError?: (e: unknown) => void; budget?: HashBudgetOptions } = {}): ApiKeyVerifier {
  // sha256 of a whole key that passed scrypt → its id (the record is read again on each use)
  const verified = new Map<string, string>();
  // sha256 of a whole key that failed scrypt → its id: sent again, it is refused without hashing
  const failed = new Map<string, string>();
  const budget = createHashBudget(o.budget);
  const records = mirrorBucket<ApiKeyRecord>(kv, {
    prefix: "key",
    decode: decodeRecord,
    // a changed or removed record: what was verified against it is verified again
    onChange: (id) => {
      for (const [h, vid] of verified) if (vid === id) verified.delete(h);
      for (const [h, fid] of failed) if (fid === id) failed.delete(h);
    },
    onError: o.onError,
  });
  const ready = records.ready;
  const usable = (r: ApiKeyRecord | undefined): r is ApiKeyRecord => !!r && (r.expires === undefined || r.expires > Date.now());
  return {
    ready,
    count: () => records.size,
    async verify(key, v = {}) {
      await Promise.race([ready, new Promise((r) => setTimeout(r, 5_000))]);
      const parsed = parseApiKey(key);
      if (!parsed) return { error: "not a Claw API key" };
      const record = records.get(parsed.id);
      if (!record) return { error: "unknown or revoked key" };
      if (!usable(record)) return { error: "the key has expired" };
      const digest = createHash("sha256").update(key).digest("base64");
      if (verified.get(digest) !== parsed.id) {
        if (failed.get(digest) === parsed.id) return { error: "unknown or revoked key" };
        const checked = await budget.run(v.from ?? "unknown", () => secretMatches(parsed.secret, record.hash));
        if (!checked.ok) {
          const { refused, retryAfterS } = checked;
          const error =
            refused === "throttled"
              ? `too many keys checked for this address; retry in ${retryAfterS} s`
              : `too many keys being checked now; retry in ${retryAfterS} s`;
          return { error, refused: { refused, retryAfterS } };
        }
        if (!checked.passed) {
          if (failed.size > REMEMBERED) failed.clear();
          failed.set(digest, parsed.id);
          return { error: "unknown or revoked key" };
        }
        if (verified.size > REMEMBERED) verified.clear();
        verified.set(digest, parsed.id);
      }
      // read again: revoked or changed while scrypt ran
      const now = records.get(parsed.id);
      if (!usable(now)) return { error: "unknown or revoked key" };
      return keyPrincipal(now);
    },
    stop: () => records.stop(),
  };
}
