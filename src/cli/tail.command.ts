/**
 * `claw tail`: print bus traffic, decoded (msgpack or JSON), one line a message.
 */
import { decode, wildcards } from "../bus/index.js";
import { cliConnect } from "./cli-connection.js";

const utf8 = new TextDecoder();

/** Decodes a payload for display: msgpack maps and JSON objects as values, anything else as a note. */
export function describePayload(data: Uint8Array): unknown {
  if (data.length === 0) return "<empty>";
  const b = data[0]!;
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) {
    try {
      return decode(data);
    } catch {
      /* fall through */
    }
  }
  const text = utf8.decode(data);
  try {
    return JSON.parse(text);
  } catch {
    return text.length > 200 ? `${text.slice(0, 200)}… (${data.length} bytes)` : text;
  }
}

function summary(v: unknown): string {
  if (v && typeof v === "object" && "kind" in v) {
    const e = v as { kind?: string; text?: string; sender?: { id?: string }; replyTo?: string };
    return `${e.kind} from=${e.sender?.id ?? "?"}${e.replyTo ? ` replyTo=${e.replyTo}` : ""} ${JSON.stringify(e.text ?? "")}`;
  }
  return JSON.stringify(v);
}

/** Subscribes (to every Claw subject unless `subject` names others) and prints until interrupted. */
export async function tailCommand(o: { subject?: string; raw: boolean }): Promise<number> {
  const nc = await cliConnect();
  const subject = o.subject ?? wildcards.all;
  const sub = nc.subscribe(subject);
  process.stderr.write(`tailing ${subject} (Ctrl-C to stop)\n`);
  process.once("SIGINT", () => void nc.close());
  for await (const m of sub) {
    const v = describePayload(m.data);
    const time = new Date().toISOString().slice(11, 23);
    process.stdout.write(`${time} ${m.subject} ${o.raw ? JSON.stringify(v) : summary(v)}\n`);
  }
  return 0;
}
