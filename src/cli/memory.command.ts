/**
 * `claw memory ls <agent> [--channel C --sender S | --channel C --account A --chat T] [-q words] [--json]`
 * and `claw memory rm <agent> <id>`: what an agent remembers, read from and
 * removed in KV `claw_memory` as the gateway's `/v1/agents/{id}/memory` does;
 * a removal is recorded in the audit trail.
 */
import { hostname, userInfo } from "node:os";
import { BUCKETS } from "../bus/index.js";
import { memoryStore, type MemoryScope } from "../memory/index.js";
import { createAudit } from "../observability/index.js";
import { cliBus } from "./cli-connection.js";
import { UsageError } from "./errors.js";
import { formatTable } from "./text-table.js";

/** What `claw memory` was asked. */
export type MemoryOptions =
  | { action: "ls"; agent: string; channel?: string; account?: string; chat?: string; sender?: string; q?: string; json: boolean }
  | { action: "rm"; agent: string; id: string };

/** The scope the options name, if any. */
function scopeOf(o: Extract<MemoryOptions, { action: "ls" }>): MemoryScope | undefined {
  if (o.sender !== undefined) {
    if (!o.channel) throw new UsageError("--sender needs --channel: a sender is known by its channel too");
    return { kind: "sender", channel: o.channel, sender: o.sender };
  }
  if (o.chat !== undefined) {
    if (!o.channel || !o.account) throw new UsageError("--chat needs --channel and --account");
    return { kind: "chat", channel: o.channel, account: o.account, chat: o.chat };
  }
  return undefined;
}

const whose = (s: MemoryScope) =>
  s.kind === "agent" ? "(the agent)" : s.kind === "sender" ? `sender ${s.channel}:${s.sender}` : `chat ${s.channel}/${s.account}/${s.chat}`;

/** Runs a memory command. Returns the exit code. */
export async function memoryCommand(o: MemoryOptions): Promise<number> {
  const scope = o.action === "ls" ? scopeOf(o) : undefined;
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.memory).catch((e: unknown) => {
      throw new Error(`no memory here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const store = memoryStore(kv);
    if (o.action === "rm") {
      if (!(await store.forget(o.agent, o.id))) {
        process.stderr.write(`claw: agent ${o.agent} has no memory ${o.id} (claw memory ls ${o.agent} lists them)\n`);
        return 1;
      }
      const audit = createAudit(bus.publisher, { source: "cli" });
      audit.record({ who: `cli:${userInfo().username}@${hostname()}`, what: "memory rm", from: hostname(), outcome: "ok", detail: `${o.agent} ${o.id}` });
      await audit.flush();
      process.stdout.write(`forgotten: ${o.id}\n`);
      return 0;
    }
    const listed = await store.list(o.agent, scope);
    const scopes = await Promise.all(
      listed.map(async (s) => ({ scope: s.scope, memories: o.q ? await store.search(o.agent, s.scope, o.q, { limit: 50 }) : s.memories })),
    );
    const shown = scopes.filter((s) => s.memories.length > 0);
    if (o.json) {
      process.stdout.write(JSON.stringify({ agent: o.agent, scopes: shown }) + "\n");
      return 0;
    }
    if (shown.length === 0) {
      process.stdout.write(`agent ${o.agent} remembers nothing${scope || o.q ? " that matches" : ""} (its memory.write skill adds memories)\n`);
      return 0;
    }
    const rows = shown.flatMap((s) => s.memories.map((m) => ({ whose: whose(s.scope), ...m })));
    const table = formatTable(
      [
        { header: "id", cell: (r: (typeof rows)[number]) => r.id },
        { header: "whose", cell: (r) => r.whose },
        { header: "when", cell: (r) => new Date(r.ts).toISOString() },
        { header: "text", cell: (r) => (r.text.length > 60 ? `${r.text.slice(0, 59)}…` : r.text).replace(/\s+/g, " ") },
      ],
      rows,
    );
    process.stdout.write(table.join("\n") + "\n");
    return 0;
  } finally {
    await bus.close();
  }
}
