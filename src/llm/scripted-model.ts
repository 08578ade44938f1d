/**
 * The built-in scripted model: deterministic, no provider needed. It echoes the
 * text and understands a few commands for demos and tests.
 */
import { sleep } from "./sleep.js";
import { ModelError } from "./errors.js";
import type { Model, ModelRequest, ModelResponse } from "./types.js";

/** Commands the scripted model understands (shown by `/help`). */
export const SCRIPTED_COMMANDS: Record<string, string> = {
  "/help": "list these commands",
  "/history": "list this session's remembered turns",
  "/slow <ms>": "wait <ms> (at most 60000) before answering",
  "/flaky <n>": "fail transiently on the first <n> attempts, then answer",
  "/fail [reason]": "fail permanently: the message is dead-lettered",
  "/tool <skill> [json]": "call the skill with the JSON arguments, then answer with its result",
};

const MAX_SLOW_MS = 60_000;

/** Answers one request; exported for unit tests. */
export async function scriptedReply(req: ModelRequest): Promise<ModelResponse> {
  const text = req.message.text ?? "";
  const [cmd, ...rest] = text.trim().split(/\s+/);
  const arg = rest.join(" ");
  switch (cmd) {
    case "/help":
      return {
        text: Object.entries(SCRIPTED_COMMANDS)
          .map(([c, d]) => `${c} - ${d}`)
          .join("\n"),
      };
    case "/history": {
      const users = req.history.filter((t) => t.role === "user");
      return { text: `${users.length} earlier turns` + users.map((t, i) => `\n${i + 1}. ${t.text}`).join("") };
    }
    case "/slow": {
      const ms = Math.min(MAX_SLOW_MS, Math.max(0, Number.parseInt(arg, 10) || 0));
      await sleep(ms, req.signal);
      return { text: `slept ${ms} ms` };
    }
    case "/flaky": {
      const n = Math.max(0, Number.parseInt(arg, 10) || 0);
      if (req.attempt <= n) throw new ModelError("scripted_flaky", `scripted transient failure ${req.attempt} of ${n}`, true);
      return { text: `recovered after ${n} failures (attempt ${req.attempt})` };
    }
    case "/fail":
      throw new ModelError("scripted_fail", `scripted permanent failure${arg ? `: ${arg}` : ""}`, false);
    case "/tool": {
      // first the call; once its result is in the turn's steps, an answer that shows it
      const results = req.steps.filter((s) => s.kind === "result");
      if (results.length > 0) return { text: results.map((r) => `${r.name}${r.ok ? "" : " failed"}: ${r.content}`).join("\n") };
      const [name, ...args] = rest;
      if (!name) throw new ModelError("scripted_usage", "usage: /tool <skill> [json arguments]", false);
      return { text: "", toolCalls: [{ name, arguments: args.join(" ") || "{}" }] };
    }
    default:
      if (text === "" && req.message.media.length > 0) return { text: `received ${req.message.media.length} attachment(s)` };
      return { text };
  }
}

/** Creates the scripted model. */
export function createScriptedModel(): Model {
  return { id: "scripted", complete: scriptedReply };
}
