/**
 * `/v1/dlq`: the dead letters over HTTP, as `claw dlq` has them on NATS:
 * a page of them (oldest first, of one stage or all; the cursor is the next
 * sequence), one with every header, and a replay to its original subject
 * (or another one the replay check allows: see `checkReplayTarget`). A
 * tenant's credential sees and replays only the dead letters of its own
 * agents' messages (tenant-scope.ts); any other answers 404.
 */
import { DeadLetterNotFoundError, ReplayTargetError, getDeadLetter, listDeadLetters, replayDeadLetter, type Bus, type DeadLetterRecord } from "../bus/index.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { principalOf } from "./principal.js";
import { DeadLetterQuerySchema, parseBody, parseQuery, ReplaySchema } from "./schemas.js";
import { seesTenant } from "./tenant-scope.js";
import { tenantOfSubject } from "../actors/index.js";
import type { Principal } from "../auth/index.js";

function view(r: DeadLetterRecord, withHeaders: boolean) {
  const { data, headers, firstError: _f, lastError: _l, ...rest } = r;
  return { ...rest, data_base64: Buffer.from(data).toString("base64"), ...(withHeaders ? { headers } : {}) };
}

function seqOf(text: string): number {
  const seq = Number(text);
  if (!Number.isSafeInteger(seq) || seq < 1) throw new HttpError(400, "invalid_path", `not a sequence number: ${text}`, "seq");
  return seq;
}

/** The page a cursor of this list names: the sequence it starts from (a cursor is `s<seq>`, base64url). */
function fromCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const from = Number(Buffer.from(cursor, "base64url").toString("utf8").replace(/^s/, ""));
  if (!Number.isSafeInteger(from) || from < 1) throw new HttpError(400, "invalid_query", "cursor: not a cursor this list gave out", "cursor");
  return from;
}

/** True when `who` may see the dead letter: the operator all, a tenant those of its own agents' messages. */
const seesLetter = (who: Principal, r: DeadLetterRecord) => seesTenant(who, tenantOfSubject(r.originalSubject));

/** The `/v1/dlq` routes' handlers. */
export function dlqRoutes(bus: Bus, maxPayload: number): Pick<RouteHandlers, "GET /v1/dlq" | "GET /v1/dlq/{seq}" | "POST /v1/dlq/{seq}/replay"> {
  return {
    "GET /v1/dlq": async (req, res, { url }) => {
      const q = parseQuery(DeadLetterQuerySchema, url.searchParams);
      const who = principalOf(req);
      // one more than asked says whether there is a next page
      const found = await listDeadLetters(bus.jsm, {
        stage: q.stage,
        limit: q.limit + 1,
        fromSeq: fromCursor(q.cursor),
        where: (r) => seesLetter(who, r),
      });
      const items = found.slice(0, q.limit);
      const next = found.length > q.limit ? Buffer.from(`s${found[q.limit]!.seq}`).toString("base64url") : null;
      sendJson(res, 200, { dead_letters: items.map((r) => view(r, false)), next_cursor: next });
    },
    "POST /v1/dlq/{seq}/replay": async (req, res, { params }) => {
      const b = parseBody(ReplaySchema, await readJson(req, maxPayload));
      const who = principalOf(req);
      const seq = seqOf(params.seq!);
      if (who.tenant !== undefined) {
        const r = await getDeadLetter(bus.jsm, seq);
        if (!r || !seesLetter(who, r)) throw new HttpError(404, "no_dead_letter", `no dead letter with sequence ${params.seq}`);
        if (b.to !== undefined && tenantOfSubject(b.to) !== who.tenant)
          throw new HttpError(400, "replay_target_refused", "to: a tenant replays only into its own agents' mailboxes", "to");
      }
      try {
        sendJson(res, 200, await replayDeadLetter(bus.jsm, bus.js, seq, { to: b.to, keep: b.keep }));
      } catch (e) {
        if (e instanceof DeadLetterNotFoundError) throw new HttpError(404, "no_dead_letter", e.message);
        if (e instanceof ReplayTargetError) throw new HttpError(400, "replay_target_refused", e.message, "to");
        throw e;
      }
    },
    "GET /v1/dlq/{seq}": async (req, res, { params }) => {
      const r = await getDeadLetter(bus.jsm, seqOf(params.seq!));
      if (!r || !seesLetter(principalOf(req), r)) throw new HttpError(404, "no_dead_letter", `no dead letter with sequence ${params.seq}`);
      sendJson(res, 200, view(r, true));
    },
  };
}
