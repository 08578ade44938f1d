/**
 * The skill workers of a node: for every skill it hosts, a pull consumer on
 * `CLAW_SKILLS` shared with every other node that hosts it (a worker pool).
 * An invocation is validated, run with its deadline, and answered into the
 * calling session's mailbox with `Nats-Msg-Id` `<invocation id>:result`; the
 * invocation is acked only once that result is durable. A skill that fails,
 * times out or gets bad input still answers — with an error the model reads.
 */
import { Ajv, type ValidateFunction } from "ajv";
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import {
  backoffDelay,
  deadLetterOf,
  decode,
  encode,
  ensureConsumer,
  H,
  MAIL,
  parseSessionSubject,
  publishDeadLetter,
  publishDurable,
  SkillInvocationSchema,
  skillConsumerSpec,
  skillConsumerName,
  STREAMS,
  type BackoffPolicy,
  type Bus,
  type ConsumerOptions,
  type SkillInvocation,
  type ToolResultMail,
} from "../bus/index.js";
import type { SkillCatalog } from "./skill-catalog.js";
import { SkillFailure, type Skill } from "./skill.js";

/** Facts the workers report, for logs and metrics. */
export type SkillWorkerEvent =
  | { type: "skill.completed"; skill: string; ok: boolean; code?: string; durationMs: number; invocation: string }
  | { type: "skill.invalid"; reason: string; subject: string };

/** Options of {@link startSkillWorkers}. */
export interface SkillWorkerOptions {
  bus: Bus;
  catalog: SkillCatalog;
  nodeId: string;
  consumer: ConsumerOptions;
  backoff: BackoffPolicy;
  /** the longest a skill may run, whatever its deadline says (default 5 min) */
  maxRunMs?: number;
  onEvent?: (e: SkillWorkerEvent) => void;
}

/** The running workers. */
export interface SkillWorkers {
  stop(): Promise<void>;
}

const MAX_RUN_MS = 5 * 60_000;

/** What the model reads of a failure. */
function failure(code: string, message: string): Pick<ToolResultMail, "ok" | "error"> {
  return { ok: false, error: { code, message } };
}

/** Runs `skill` on `input` until `deadline`. */
async function runSkill(skill: Skill, input: unknown, deadline: number, maxRunMs: number): Promise<unknown> {
  const ms = Math.max(0, Math.min(deadline - Date.now(), maxRunMs));
  const signal = AbortSignal.timeout(ms);
  const timedOut = new Promise<never>((_, reject) =>
    signal.addEventListener("abort", () => reject(new SkillFailure("timeout", `${skill.id}@${skill.version} did not finish within ${ms} ms`)), { once: true }),
  );
  return Promise.race([skill.run(input, { signal, deadline }), timedOut]);
}

/** Starts a worker pool member for every skill id in the catalog. */
export async function startSkillWorkers(o: SkillWorkerOptions): Promise<SkillWorkers> {
  const emit = o.onEvent ?? (() => {});
  const ajv = new Ajv({ allErrors: false, strict: false });
  const validators = new Map<Skill, ValidateFunction>();
  const validate = (s: Skill) => validators.get(s) ?? validators.set(s, ajv.compile(s.input)).get(s)!;
  const inFlight = new Set<Promise<void>>();
  let stopped = false;

  /** Decides the result of an invocation (never throws). */
  async function answer(inv: SkillInvocation): Promise<Omit<ToolResultMail, "type" | "callId" | "durationMs">> {
    const skill = o.catalog.resolve(inv.skill, inv.version ?? "*");
    if (!skill) return { skill: inv.skill, ...failure("unknown_skill", `no skill ${inv.skill}${inv.version ? `@${inv.version}` : ""} on this node`) };
    const name = `${skill.id}@${skill.version}`;
    if (Date.now() >= inv.deadline) return { skill: name, ...failure("timeout", "the invocation's deadline passed before it could run") };
    const check = validate(skill);
    if (!check(inv.input ?? {})) {
      const e = check.errors?.[0];
      return { skill: name, ...failure("invalid_input", `input${e?.instancePath ? e.instancePath.replaceAll("/", ".") : ""} ${e?.message ?? "is invalid"}`) };
    }
    try {
      return { skill: name, ok: true, output: await runSkill(skill, inv.input ?? {}, inv.deadline, o.maxRunMs ?? MAX_RUN_MS) };
    } catch (e) {
      if (e instanceof SkillFailure) return { skill: name, ...failure(e.code, e.message) };
      return { skill: name, ...failure("exit", `${name} failed: ${(e as Error)?.message ?? String(e)}`) };
    }
  }

  async function handle(m: JsMsg): Promise<void> {
    let inv: SkillInvocation;
    try {
      inv = SkillInvocationSchema.parse(decode(m.data));
      if (!parseSessionSubject(inv.replyTo)) throw new Error(`replyTo is not a session mailbox: ${inv.replyTo}`);
    } catch (e) {
      // nobody can be answered: keep the bytes and the reason
      const reason = `invalid skill invocation: ${(e as Error).message}`;
      emit({ type: "skill.invalid", reason, subject: m.subject });
      await publishDeadLetter(o.bus.js, deadLetterOf(m, { stage: "skill", code: "invalid_invocation", reason, node: o.nodeId }));
      m.ack();
      return;
    }
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, Math.floor(o.consumer.ackWaitMs / 3)));
    const started = performance.now();
    try {
      const result = await answer(inv);
      const durationMs = Math.round(performance.now() - started);
      const mail: ToolResultMail = { type: "tool.result", callId: inv.id, durationMs, ...result };
      const headers: Record<string, string> = { [H.node]: o.nodeId, [H.mail]: MAIL.toolResult };
      if (inv.trace.traceparent) headers[H.traceparent] = inv.trace.traceparent;
      await publishDurable(o.bus.js, { subject: inv.replyTo, data: encode(mail), msgId: `${inv.id}:result`, headers });
      m.ack();
      emit({ type: "skill.completed", skill: result.skill, ok: result.ok, code: result.error?.code, durationMs, invocation: inv.id });
    } finally {
      clearInterval(keepAlive);
    }
  }

  const pools: ConsumerMessages[] = [];
  for (const id of new Set(o.catalog.list().map((s) => s.id))) {
    await ensureConsumer(o.bus.jsm, STREAMS.skills, skillConsumerSpec(id, o.consumer));
    const consumer = await o.bus.js.consumers.get(STREAMS.skills, skillConsumerName(id));
    pools.push(
      await consumer.consume({
        max_messages: 16,
        expires: 5_000,
        idle_heartbeat: 1_000,
        callback: (m) => {
          if (stopped) return;
          const t = handle(m).catch(() => {
            // the result could not be published (NATS unavailable): run it again later
            if (!stopped) m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
          });
          inFlight.add(t);
          void t.finally(() => inFlight.delete(t));
        },
      }),
    );
  }
  return {
    async stop() {
      stopped = true;
      await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
