/**
 * The text views of a {@link ClusterStatus}, shared by `claw cluster` (brief)
 * and `claw status` (full): a header line, one row per member, and the
 * partitions that have a backlog.
 */
import { backlogByOwner, type ClusterStatus, type MemberInfo, type OwnerBacklog } from "../supervisors/index.js";
import { formatDuration, formatTable, type Column } from "./text-table.js";

/** A member with its share of the partitions. */
interface MemberRow {
  member: MemberInfo;
  leader: boolean;
  backlog: OwnerBacklog;
  now: number;
}

const COLUMNS = {
  node: { header: "NODE", cell: (r) => r.member.node + (r.leader ? " *" : "") },
  version: { header: "VERSION", cell: (r) => r.member.version },
  pid: { header: "PID", align: "right", cell: (r) => r.member.pid },
  partitions: { header: "PARTITIONS", align: "right", cell: (r) => r.member.partitions },
  sessions: { header: "SESSIONS", align: "right", cell: (r) => r.member.sessions },
  pending: { header: "PENDING", align: "right", cell: (r) => r.backlog.pending },
  inFlight: { header: "IN-FLIGHT", align: "right", cell: (r) => r.backlog.inFlight },
  up: { header: "UP", cell: (r) => formatDuration(r.now - r.member.startedAt) },
  http: { header: "HTTP", cell: (r) => r.member.http ?? "-" },
  // what the node's /readyz says (as of its last heartbeat)
  ready: { header: "READY", cell: (r) => (r.member.ready === undefined ? "?" : r.member.ready ? "yes" : `no: ${(r.member.notReady ?? []).join("; ")}`) },
} satisfies Record<string, Column<MemberRow>>;

type ColumnKey = keyof typeof COLUMNS;

/** Columns of `claw cluster`. */
const BRIEF: ColumnKey[] = ["node", "partitions", "sessions", "pending", "inFlight", "up"];
/** Columns of `claw status`. */
const FULL: ColumnKey[] = ["node", "version", "pid", "up", "partitions", "sessions", "pending", "inFlight", "http", "ready"];

/** `leader: … assignment epoch: … members: …`, and the dead letters in the full view. */
export function clusterHeader(s: ClusterStatus, view: "brief" | "full"): string {
  const head = `leader: ${s.leader ?? "(none)"}   assignment epoch: ${s.epoch}   members: ${s.members.length}`;
  if (view === "brief") return head;
  const stages = Object.entries(s.dlq.byStage)
    .filter(([, n]) => n > 0)
    .map(([stage, n]) => `${stage} ${n}`);
  return `${head}   dead letters: ${s.dlq.total}${stages.length ? ` (${stages.join(", ")})` : ""}`;
}

/** One row per member (leader marked `*`); PARTITIONS is what it runs, PENDING and IN-FLIGHT the backlog of what it is assigned. */
export function membersTable(s: ClusterStatus, view: "brief" | "full", now = Date.now()): string[] {
  const byOwner = backlogByOwner(s.partitions);
  const rows = s.members.map((member) => ({
    member,
    leader: member.node === s.leader,
    backlog: byOwner.get(member.node) ?? { owned: 0, pending: 0, inFlight: 0 },
    now,
  }));
  return formatTable(
    (view === "brief" ? BRIEF : FULL).map((k) => COLUMNS[k] as Column<MemberRow>),
    rows,
  );
}

/** The partitions with a backlog (`p(owner: pending+inFlight)`), at most `max` of them, and partitions whose owner is gone. */
export function backlogLines(s: ClusterStatus, max = 32): string[] {
  const lagging = s.partitions.filter((p) => p.pending + p.inFlight > 0);
  const shown = lagging.slice(0, max).map((p) => `${p.partition}(${p.owner ?? "-"}: ${p.pending}+${p.inFlight})`);
  const more = lagging.length > max ? ` … and ${lagging.length - max} more` : "";
  const out = [lagging.length === 0 ? "no backlog in any partition" : `partitions with backlog: ${shown.join(" ")}${more}`];
  const live = new Set(s.members.map((m) => m.node));
  const orphaned = s.partitions.filter((p) => p.owner === undefined || !live.has(p.owner));
  if (orphaned.length > 0) out.push(`partitions assigned to no live member: ${orphaned.map((p) => `${p.partition}(${p.owner ?? "-"})`).join(" ")}`);
  return out;
}

/** The whole text view. */
export function renderClusterStatus(s: ClusterStatus, view: "brief" | "full", now = Date.now()): string {
  return [clusterHeader(s, view), "", ...membersTable(s, view, now), "", ...backlogLines(s)].join("\n") + "\n";
}
