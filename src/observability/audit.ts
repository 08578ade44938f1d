/**
 * The audit trail: every control-plane call and every refused credential —
 * who, what, from where, and how it ended — appended to the `CLAW_AUDIT`
 * stream (no delete, no purge: records only age out, after
 * `CLAW_AUDIT_MAX_AGE_DAYS`). `claw audit tail` reads it. Recording never
 * holds up the request: a record that cannot be written is counted and
 * logged, not retried forever.
 */
import { auditSubject, type JsPublish } from "../bus/index.js";

/** One audit record. */
export interface AuditRecord {
  ts: number;
  node?: string;
  /** `key:<id>`, `jwt:<sub>`, `anonymous`, or `cli:<user>@<host>` */
  who: string;
  /** `POST /v1/agents`, `keys create`, … */
  what: string;
  /** the client's address, or the CLI's host */
  from: string;
  /** an HTTP status, or `ok` / `failed` */
  outcome: number | string;
  /** why it was refused, what was changed */
  detail?: string;
}

/** Appends records to the audit stream. */
export interface Audit {
  record(r: Omit<AuditRecord, "ts" | "node"> & { ts?: number }): void;
}

/** An audit trail publishing as `source` (the gateway: `http`; the CLI: `cli`). */
export function createAudit(
  publisher: JsPublish,
  o: { source: "http" | "cli" | "skills"; node?: string; onError?: (e: unknown) => void },
): Audit & { flush(): Promise<void> } {
  const pending = new Set<Promise<unknown>>();
  return {
    record(r) {
      const record: AuditRecord = {
        ts: r.ts ?? Date.now(),
        ...(o.node ? { node: o.node } : {}),
        who: r.who,
        what: r.what,
        from: r.from,
        outcome: r.outcome,
        ...(r.detail ? { detail: r.detail } : {}),
      };
      const p = publisher.publish(auditSubject(o.source), JSON.stringify(record)).catch((e: unknown) => o.onError?.(e));
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    async flush() {
      await Promise.all(pending);
    },
  };
}
