/**
 * The approvals, kept in KV `claw_approvals`: `a.<id>` holds an approval,
 * `c.<hash of the call>` the id of a call's approval (so a turn run again
 * after a crash asks once, under the same id). A decision is a
 * compare-and-set on the approval's revision: of two deciding at once, one
 * wins and the other is told it was decided ({@link ApprovalDecidedError}).
 */
import { createHash, randomBytes } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { APPROVAL_ID, decodeApproval, type Approval } from "./approval.js";
import { ApprovalDecidedError, NoApprovalError } from "./errors.js";

/** The key of an approval. */
export const approvalKey = (id: string) => `a.${id}`;
/** The key of a call's approval id. */
const callKey = (replyTo: string, callId: string) => `c.${createHash("sha256").update(`${replyTo}\u0000${callId}`).digest("hex").slice(0, 40)}`;

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const newId = () => `ap${Array.from(randomBytes(24), (b) => ALPHABET[b % 36]).join("")}`;

function isConflict(e: unknown): boolean {
  // the key's last revision is not the one read: 10071 (10164 when the key has none yet)
  return (
    e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** A new approval's fields. */
export type NewApproval = Omit<Approval, "id" | "status" | "by" | "reason" | "decidedAt" | "delivered">;

/** A decision. */
export interface Decision {
  approved: boolean;
  by: string;
  reason?: string;
  /** a timeout's: only an approval past its time is decided */
  expired?: boolean;
}

/** The approvals in the bucket. */
export interface ApprovalStore {
  /** stores the approval of a call, once per call: the same call again gives the same approval */
  request(a: NewApproval): Promise<{ approval: Approval; created: boolean }>;
  get(id: string): Promise<Approval | undefined>;
  /** every approval still waiting, oldest first (of one agent, one session) */
  pending(filter?: { agent?: string; session?: string }): Promise<Approval[]>;
  /**
   * Records a decision, exactly once.
   * @throws {@link NoApprovalError} when there is none; {@link ApprovalDecidedError} when it was decided (or withdrawn)
   */
  decide(id: string, d: Decision): Promise<Approval>;
  /** withdraws a pending approval (its turn no longer waits); false when it was decided meanwhile */
  withdraw(id: string): Promise<boolean>;
  /** notes that the session was told of the decision */
  delivered(id: string): Promise<void>;
}

/** The approvals of `kv` (`claw_approvals`). */
export function approvalStore(kv: KV): ApprovalStore {
  const entry = async (id: string) => {
    if (!APPROVAL_ID.test(id)) return undefined;
    const e = await kv.get(approvalKey(id));
    const a = e && e.operation === "PUT" ? decodeApproval(e.value) : undefined;
    return a && e ? { approval: a, revision: e.revision } : undefined;
  };
  const get = async (id: string) => (await entry(id))?.approval;
  /** sets `change` on a pending approval, with a compare-and-set on its revision */
  const change = async (id: string, f: (a: Approval) => Approval | undefined): Promise<Approval> => {
    const e = await entry(id);
    if (!e) throw new NoApprovalError(id);
    const next = f(e.approval);
    if (!next) throw new ApprovalDecidedError(id, e.approval.status);
    try {
      await kv.update(approvalKey(id), JSON.stringify(next), e.revision);
    } catch (err) {
      // another decision came first: it is the one that counts
      if (isConflict(err)) throw new ApprovalDecidedError(id, (await get(id))?.status ?? "decided");
      throw err;
    }
    return next;
  };
  return {
    get,
    async request(a) {
      const key = callKey(a.replyTo, a.callId);
      let id = newId();
      try {
        await kv.create(key, id);
      } catch (e) {
        // the call asked before (its turn ran again): its approval is that one
        const known = await kv.get(key);
        if (!known || known.operation !== "PUT") throw e;
        id = known.string();
      }
      const approval: Approval = { ...a, id, status: "pending" };
      try {
        await kv.create(approvalKey(id), JSON.stringify(approval));
        return { approval, created: true };
      } catch (e) {
        const made = await get(id);
        if (made) return { approval: made, created: false };
        throw e;
      }
    },
    async pending(filter = {}) {
      const ids: string[] = [];
      for await (const k of await kv.keys("a.*")) ids.push(k.slice(2));
      const all = await Promise.all(ids.map(get));
      return all
        .filter((a): a is Approval => a !== undefined && a.status === "pending")
        .filter((a) => (filter.agent === undefined || a.agent === filter.agent) && (filter.session === undefined || a.session === filter.session))
        .sort((a, b) => a.requestedAt - b.requestedAt || a.id.localeCompare(b.id));
    },
    decide(id, d) {
      return change(id, (a) => {
        if (a.status !== "pending" || (d.expired && a.expiresAt > Date.now())) return undefined;
        const status = d.approved ? "approved" : "denied";
        return { ...a, status, by: d.by, ...(d.reason ? { reason: d.reason } : {}), decidedAt: Date.now(), delivered: false };
      });
    },
    async withdraw(id) {
      try {
        await change(id, (a) => (a.status === "pending" ? { ...a, status: "withdrawn", decidedAt: Date.now(), delivered: true } : undefined));
        return true;
      } catch (e) {
        if (e instanceof ApprovalDecidedError || e instanceof NoApprovalError) return false;
        throw e;
      }
    },
    async delivered(id) {
      await change(id, (a) => (a.delivered === false ? { ...a, delivered: true } : undefined)).catch((e: unknown) => {
        if (!(e instanceof ApprovalDecidedError)) throw e;
      });
    },
  };
}
