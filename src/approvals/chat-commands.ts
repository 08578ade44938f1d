/**
 * Deciding from the chat: `/approve <id>` and `/deny <id> [reason]`, sent in
 * the chat the request was announced in, by a sender the agent's `approvers`
 * lists. Such a message is taken before its session sees it (the session's
 * turn is suspended, and the message would otherwise wait behind it); it is
 * answered with a notice whatever happens, and only an approver's decides.
 */
import type { Envelope } from "../bus/index.js";
import { parseApprovalCommand } from "./approval.js";
import { ApprovalDecidedError, NoApprovalError } from "./errors.js";
import type { ApprovalService } from "./service.js";

/** The agent a command was sent to, as far as deciding goes. */
export interface CommandAgent {
  id: string;
  approve: readonly string[];
  approvers: readonly string[];
}

/** What a command is answered (its text, for tests and logs). */
export type CommandOutcome = { decided: boolean; text: string };

/**
 * Handles `envelope` when it is an approval command for an agent that holds
 * calls back; undefined when it is not one (the session takes it as any message).
 */
export async function handleApprovalCommand(
  service: ApprovalService,
  agent: CommandAgent,
  session: string,
  envelope: Envelope,
): Promise<CommandOutcome | undefined> {
  if (agent.approve.length === 0 || envelope.kind !== "message") return undefined;
  const cmd = parseApprovalCommand(envelope.text);
  if (!cmd) return undefined;
  const to = { channel: envelope.channel, account: envelope.account, chat: envelope.chat };
  const outcome = await decideFromChat(service, agent, session, envelope.sender.id, cmd);
  await service.notify(to, `${envelope.id}:approval`, outcome.text, { replyTo: envelope.id });
  return outcome;
}

async function decideFromChat(
  service: ApprovalService,
  agent: CommandAgent,
  session: string,
  sender: string,
  cmd: NonNullable<ReturnType<typeof parseApprovalCommand>>,
): Promise<CommandOutcome> {
  const verb = cmd.approved ? "approve" : "deny";
  if (!agent.approvers.includes(sender))
    return { decided: false, text: `Refused: ${sender} may not ${verb} calls of agent ${agent.id} (not in its approvers).` };
  if (cmd.id === "") return { decided: false, text: `Usage: /${verb} <id>${cmd.approved ? "" : " [reason]"}` };
  const a = await service.store.get(cmd.id);
  // another chat's approval is not this one's to decide (nor to learn about)
  if (!a || a.agent !== agent.id || a.session !== session) return { decided: false, text: `No approval ${cmd.id} waits in this chat.` };
  try {
    await service.decide(cmd.id, { approved: cmd.approved, by: sender, ...(cmd.reason ? { reason: cmd.reason } : {}) });
  } catch (e) {
    if (e instanceof ApprovalDecidedError) return { decided: false, text: `Approval ${cmd.id} was decided already (${e.status}).` };
    if (e instanceof NoApprovalError) return { decided: false, text: `No approval ${cmd.id} waits in this chat.` };
    throw e;
  }
  return { decided: true, text: cmd.approved ? `Approved ${cmd.id}: ${a.skill} runs now.` : `Denied ${cmd.id}.` };
}
