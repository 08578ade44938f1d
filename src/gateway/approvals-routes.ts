/**
 * `/v1/approvals`: the tool calls waiting for a human's decision, and the
 * decision itself (docs/approvals.md). A decision counts once: a second one
 * is refused with 409 `approval_decided`; the turn resumes on whichever node
 * owns its session.
 */
import { ApprovalDecidedError, ApprovalsQuerySchema, approvalView, DecideApprovalSchema, NoApprovalError, type ApprovalService } from "../approvals/index.js";
import { describeError, issueText } from "../schema-issues.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { principalOf } from "./principal.js";
import { parseQuery } from "./schemas.js";

/** The `/v1/approvals` routes' handlers. */
export function approvalsRoutes(approvals: ApprovalService, maxPayload: number): Pick<RouteHandlers, "GET /v1/approvals" | "POST /v1/approvals/{id}"> {
  return {
    "GET /v1/approvals": async (_req, res, { url }) => {
      const q = parseQuery(ApprovalsQuerySchema, url.searchParams);
      sendJson(res, 200, { approvals: (await approvals.store.pending(q)).map(approvalView) });
    },
    "POST /v1/approvals/{id}": async (req, res, { params }) => {
      const id = params.id!;
      const body = await readJson(req, maxPayload);
      const r = DecideApprovalSchema.safeParse(body);
      if (!r.success) {
        const d = describeError(r.error, DecideApprovalSchema);
        throw new HttpError(422, "invalid_body", issueText(d), d.field);
      }
      const { decision, reason } = r.data;
      const by = r.data.by ?? principalOf(req).id;
      try {
        const a = await approvals.decide(id, { approved: decision === "approve", by, ...(reason ? { reason } : {}) });
        sendJson(res, 200, approvalView(a));
      } catch (e) {
        if (e instanceof NoApprovalError) throw new HttpError(404, e.code, e.message, undefined, { cause: e });
        if (e instanceof ApprovalDecidedError) throw new HttpError(409, e.code, e.message, undefined, { cause: e });
        throw e;
      }
    },
  };
}
