/**
 * The relay's effect, `relay`: hands the message to the agent its
 * `options.to` names, as a turn published durably into that agent's own
 * session mailbox (`claw.session.<p>.<to>.<session>`, the session that agent
 * keeps for the chat or sender). Its msg id derives from the message's, so a
 * relay turn run again (redelivered after a crash) hands the message on only
 * once. The other agent answers the sender, under the message's own id: one
 * reply; the relay publishes none.
 */
import { z } from "zod";
import { encode, H, hopTraceparent, publishDurable, sessionSubject, type Envelope } from "../bus/index.js";
import type { AgentDeps } from "./agent-deps.js";
import type { EffectsOf } from "../effect-driver.js";
import { sessionPartition } from "./ingress.js";
import type { RelayContext, RelayEvent, relayMachine } from "./relay.machine.js";
import { sessionIdFor } from "./session-id.js";
import { toFailure, turnTraceparent } from "./turn.js";

/** What a relay agent's `options` hold. */
export const RelayOptionsSchema = z
  .object({
    /** the agent each message is handed to */
    to: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+$/, "an agent id: letters, digits, _ and - only"),
  })
  .strict();

/** A relay that cannot hand its message on, for good (its own or its target agent is gone, its options are not a relay's, or it names itself). */
export class RelayError extends Error {
  readonly transient = false;
  constructor(
    readonly code: "no_agent" | "relay_loop" | "invalid_options",
    message: string,
  ) {
    super(message);
    this.name = "RelayError";
  }
}

/** `relay`: publishes the message into the target agent's session mailbox. */
async function relay(deps: AgentDeps, c: RelayContext): Promise<RelayEvent> {
  const m = c.current!.envelope;
  try {
    const self = deps.agent(c.agent);
    if (!self) throw new RelayError("no_agent", `agent ${c.agent} is not registered`);
    const options = RelayOptionsSchema.safeParse(self.options ?? {});
    if (!options.success) throw new RelayError("invalid_options", `agent ${self.id}: its options are not a relay's: ${options.error.issues[0]?.message}`);
    const { to } = options.data;
    if (to === self.id) throw new RelayError("relay_loop", `agent ${self.id} relays to itself`);
    const target = deps.agent(to);
    if (!target) throw new RelayError("no_agent", `agent ${self.id} relays to ${to}, which is not registered`);
    const session = sessionIdFor(target, m);
    // the hand-off is a span of its own, a child of the relay's turn; the target's turn is its child
    const traceparent = m.trace.traceparent ? hopTraceparent(turnTraceparent(m), m.id, "relay") : undefined;
    const handed: Envelope = { ...m, trace: traceparent ? { traceparent } : {} };
    await publishDurable(deps.js, {
      subject: sessionSubject(sessionPartition(target, session, m, deps.partitions), target.id, session),
      data: encode(handed),
      msgId: `${m.id}:relay:${target.id}`,
      headers: { [H.node]: deps.nodeId, ...(traceparent ? { [H.traceparent]: traceparent } : {}) },
    });
    // handed on, the relay's snapshot not yet written: a crash here must not hand it on twice
    deps.failpoint?.("session.after-reply");
    return { type: "turn.relayed", to: target.id };
  } catch (e) {
    return { type: "relay.failed", failure: toFailure(m.id, e) };
  }
}

/** The relay's effects, by the names its states declare. */
export function relayEffects(deps: AgentDeps): EffectsOf<typeof relayMachine> {
  return { relay: (c) => relay(deps, c) };
}
