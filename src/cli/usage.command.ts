/**
 * `claw usage`: model calls, tokens, turns, skill runs and messages per UTC day, tenant and agent, read
 * from KV `claw_usage` as `GET /v1/usage` reports them (whoever can reach
 * NATS is the operator: every tenant's).
 */
import { BUCKETS } from "../bus/index.js";
import { dayOf, usageMeter } from "../tenants/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** Options of {@link usageCommand}. */
export interface UsageOptions {
  tenant?: string;
  agent?: string;
  /** `YYYY-MM-DD`; default: 29 days before `to` */
  from?: string;
  /** `YYYY-MM-DD`; default: today (UTC) */
  to?: string;
  json: boolean;
}

/** Runs `claw usage`. Returns the exit code. */
export async function usageCommand(o: UsageOptions): Promise<number> {
  for (const [flag, day] of [
    ["--from", o.from],
    ["--to", o.to],
  ] as const) {
    if (day !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
      process.stderr.write(`claw: ${flag}: a day, YYYY-MM-DD (UTC): ${day}\n`);
      return 2;
    }
  }
  const to = o.to ?? dayOf(Date.now());
  const from = o.from ?? dayOf(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000);
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.usage).catch((e: unknown) => {
      throw new Error(`no usage here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const rows = await usageMeter(kv).report({ from, to, tenant: o.tenant, agent: o.agent });
    if (o.json) {
      process.stdout.write(JSON.stringify({ from, to, usage: rows }) + "\n");
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write(`no usage from ${from} to ${to}\n`);
      return 0;
    }
    const table = formatTable(
      [
        { header: "day", cell: (r: (typeof rows)[number]) => r.day },
        { header: "tenant", cell: (r) => r.tenant ?? "-" },
        { header: "agent", cell: (r) => r.agent },
        { header: "calls", cell: (r) => String(r.calls) },
        { header: "prompt", cell: (r) => String(r.promptTokens) },
        { header: "completion", cell: (r) => String(r.completionTokens) },
        { header: "turns", cell: (r) => String(r.turns) },
        { header: "skills", cell: (r) => String(r.skillInvocations) },
        { header: "skill s", cell: (r) => (r.skillMs / 1000).toFixed(1) },
        { header: "in", cell: (r) => String(r.messagesIn) },
        { header: "out", cell: (r) => String(r.messagesOut) },
      ],
      rows,
    );
    process.stdout.write(table.join("\n") + "\n");
    return 0;
  } finally {
    await bus.close();
  }
}
