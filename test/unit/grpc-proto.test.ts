/**
 * The contract of proto/claw/v1/claw.proto: the methods, field names,
 * numbers and types that stubs generated from it depend on. Evolution is
 * additive only — a new field or method passes, a renamed, renumbered,
 * retyped or removed one fails here.
 */
import { loadSync } from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import { CLAW_PROTO } from "../../src/grpc/index.js";

type Field = { name: string; number: number; type: string; label: string };
type Method = { requestType: { type: { name: string } }; responseType: { type: { name: string } }; requestStream: boolean; responseStream: boolean };

const pkg = loadSync(CLAW_PROTO, { keepCase: true });
const fieldsOf = (message: string): Field[] => (pkg[`claw.v1.${message}`] as unknown as { type: { field: Field[] } }).type.field;

/** What the first version promised: `name = number type` (`map<string, string>` is a repeated entry message). */
const MESSAGES: Record<string, string[]> = {
  PublishRequest: [
    "channel = 1 TYPE_STRING",
    "account = 2 TYPE_STRING",
    "chat = 3 TYPE_STRING",
    "text = 4 TYPE_STRING",
    "sender_id = 5 TYPE_STRING",
    "metadata = 6 TYPE_MESSAGE",
    "idempotency_key = 7 TYPE_STRING",
  ],
  PublishResponse: ["message_id = 1 TYPE_STRING", "duplicate = 2 TYPE_BOOL"],
  InvokeRequest: [
    "agent = 1 TYPE_STRING",
    "session = 2 TYPE_STRING",
    "text = 3 TYPE_STRING",
    "sender_id = 4 TYPE_STRING",
    "timeout_ms = 5 TYPE_UINT32",
    "idempotency_key = 6 TYPE_STRING",
  ],
  InvokeResponse: ["message_id = 1 TYPE_STRING", "session = 2 TYPE_STRING", "text = 3 TYPE_STRING"],
  ChatRequest: ["agent = 1 TYPE_STRING", "session = 2 TYPE_STRING", "text = 3 TYPE_STRING"],
  ChatEvent: ["delta = 1 TYPE_STRING", "done = 2 TYPE_BOOL", "text = 3 TYPE_STRING"],
  InvokeSkillRequest: ["skill = 1 TYPE_STRING", "input_json = 2 TYPE_STRING", "version = 3 TYPE_STRING", "timeout_ms = 4 TYPE_UINT32"],
  InvokeSkillResponse: ["output_json = 1 TYPE_STRING", "duration_ms = 2 TYPE_UINT32"],
  RepliesRequest: ["channel = 1 TYPE_STRING", "account = 2 TYPE_STRING", "chat = 3 TYPE_STRING", "consumer = 4 TYPE_STRING"],
  Reply: [
    "id = 1 TYPE_STRING",
    "reply_to = 2 TYPE_STRING",
    "channel = 3 TYPE_STRING",
    "account = 4 TYPE_STRING",
    "chat = 5 TYPE_STRING",
    "kind = 6 TYPE_STRING",
    "text = 7 TYPE_STRING",
    "ts = 8 TYPE_INT64",
  ],
};

const METHODS: Record<string, string> = {
  Publish: "PublishRequest -> PublishResponse",
  Invoke: "InvokeRequest -> InvokeResponse",
  Chat: "ChatRequest -> stream ChatEvent",
  InvokeSkill: "InvokeSkillRequest -> InvokeSkillResponse",
  Replies: "RepliesRequest -> stream Reply",
};

describe("proto/claw/v1/claw.proto", () => {
  it("keeps every field of claw.v1 with its name, number and type", () => {
    for (const [message, fields] of Object.entries(MESSAGES)) {
      const have = fieldsOf(message).map((f) => `${f.name} = ${f.number} ${f.type}`);
      expect(have, message).toEqual(expect.arrayContaining(fields));
    }
  });

  it("keeps every method of claw.v1.Claw with its request, answer and streaming", () => {
    const service = pkg["claw.v1.Claw"] as unknown as Record<string, Method>;
    for (const [name, shape] of Object.entries(METHODS)) {
      const m = service[name]!;
      expect(m, name).toBeDefined();
      const s = `${m.requestStream ? "stream " : ""}${m.requestType.type.name} -> ${m.responseStream ? "stream " : ""}${m.responseType.type.name}`;
      expect(s, name).toBe(shape);
    }
  });
});
