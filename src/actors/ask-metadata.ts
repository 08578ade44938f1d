/**
 * What a message one agent asks another (`agents.ask`) carries in its
 * metadata: who asked, from which session, and how deep the chain of asking
 * is. The depth travels with the turn: the callee's own tool calls carry it
 * (`SkillInvocation.depth`), so a loop (A asks A, A asks B asks A) ends at
 * `CLAW_MAX_AGENT_DEPTH` with `depth_exceeded`.
 *
 * Metadata can be written by anyone who sends a message, so it is read
 * strictly: what is not a depth of 1 or more counts as 0 (a user's own
 * message). A sender can only make its chain end sooner, never later.
 */
import { z } from "zod";
import type { Envelope } from "../bus/index.js";

/** The metadata key of an asked turn. */
export const ASK_METADATA = "ask";

/** An asked turn's metadata. */
export const AskMetadataSchema = z.object({
  /** the asking agent */
  by: z.string().min(1).max(64),
  /** the asking session */
  session: z.string().min(1).max(600),
  /** 1 for a turn a user's turn asked, 2 for one that turn asked, … */
  depth: z.number().int().min(1).max(1000),
});
export type AskMetadata = z.infer<typeof AskMetadataSchema>;

/** The asking depth of a turn: 0 for a user's message, else what its `ask` metadata says. */
export function askDepthOf(e: Pick<Envelope, "metadata">): number {
  const r = AskMetadataSchema.safeParse(e.metadata[ASK_METADATA]);
  return r.success ? r.data.depth : 0;
}
