/**
 * The HTTP API's contract: `/openapi.json` is a valid OpenAPI 3.1 document
 * whose schemas compile as JSON Schema 2020-12 and describe what the node
 * really answers; lists page with `?limit&cursor`; one error shape for
 * 400/404/405/413/415; a route not in the table is not served; dead letters
 * listed, read and replayed over HTTP.
 */
import Ajv2020 from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { H } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { waitForDeadLetters } from "../support/dead-letters.js";

type Doc = {
  openapi: string;
  components: { schemas: Record<string, object> };
  paths: Record<
    string,
    Record<
      string,
      { requestBody?: { content: Record<string, { schema: object }> }; responses: Record<string, { content?: Record<string, { schema?: object }> }> }
    >
  >;
};

describe("the API contract", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let doc: Doc;
  const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: false, allErrors: true });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
  };
  /** the documented schema of a route's answer */
  const answerSchema = (path: string, method: string, status: number) =>
    doc.paths[path]![method]!.responses[String(status)]!.content!["application/json"]!.schema!;
  /** a schema with the document's own references resolved */
  const resolved = (schema: object): object => {
    const ref = (schema as { $ref?: string }).$ref;
    return ref ? doc.components.schemas[ref.replace("#/components/schemas/", "")]! : schema;
  };
  const conforms = (schema: object, value: unknown) => {
    const validate = ajv.compile(resolved(schema));
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
  };

  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_MAX_PAYLOAD: "4096" } });
    doc = (await call("GET", "/openapi.json")).json as Doc;
  }, 60_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it("is an OpenAPI 3.1 document whose schemas compile, and describes what the node answers", async () => {
    expect(doc.openapi).toBe("3.1.0");
    let compiled = 0;
    for (const ops of Object.values(doc.paths))
      for (const op of Object.values(ops)) {
        for (const c of Object.values(op.requestBody?.content ?? {})) (ajv.compile(c.schema), compiled++);
        for (const r of Object.values(op.responses))
          for (const c of Object.values(r.content ?? {})) if (c.schema && Object.keys(c.schema).length) (ajv.compile(resolved(c.schema)), compiled++);
      }
    expect(compiled).toBeGreaterThan(15);
    // a body that breaks the documented schema is one the node refuses, and the other way round
    const messageSchema = ajv.compile(doc.paths["/v1/messages"]!.post!.requestBody!.content["application/json"]!.schema);
    expect(messageSchema({ text: "no chat" })).toBe(false);
    expect((await call("POST", "/v1/messages", { text: "no chat" })).status).toBe(400);
    const good = { chat: "c1", text: "hello", sender: { id: "u" } };
    expect(messageSchema(good)).toBe(true);
    const accepted = await call("POST", "/v1/messages", good);
    expect(accepted.status).toBe(202);
    conforms(answerSchema("/v1/messages", "post", 202), accepted.json);
    const invoked = await call("POST", "/v1/agents/echo/invoke", { text: "hi" });
    conforms(answerSchema("/v1/agents/{id}/invoke", "post", 200), invoked.json);
    conforms(answerSchema("/v1/agents", "get", 200), (await call("GET", "/v1/agents")).json);
    conforms(answerSchema("/v1/skills", "get", 200), (await call("GET", "/v1/skills")).json);
    conforms(answerSchema("/v1/channels", "get", 200), (await call("GET", "/v1/channels")).json);
    const e = await call("POST", "/v1/agents/nope/invoke", { text: "hi" });
    expect(e.status).toBe(404);
    conforms(doc.paths["/v1/messages"]!.post!.responses["401"]!.content!["application/json"]!.schema!, e.json);
  }, 60_000);

  it("pages lists with ?limit&cursor", async () => {
    for (let i = 0; i < 5; i++) expect((await call("POST", "/v1/agents", { id: `paged-${i}` })).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await call("GET", `/v1/agents?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      expect(r.json.agents.length).toBeLessThanOrEqual(2);
      seen.push(...r.json.agents.map((a: { spec: { id: string } }) => a.spec.id));
      cursor = r.json.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(["echo", "paged-0", "paged-1", "paged-2", "paged-3", "paged-4"]));
    expect(pages).toBe(Math.ceil(seen.length / 2));
    expect(await call("GET", "/v1/agents?limit=0")).toMatchObject({ status: 400, json: { error: { code: "invalid_query", field: "limit" } } });
    expect(await call("GET", "/v1/agents?cursor=bogus")).toMatchObject({ status: 400, json: { error: { code: "invalid_query", field: "cursor" } } });
  }, 60_000);

  it("answers errors in one shape, and serves nothing the table does not have", async () => {
    const shape = { error: { code: expect.any(String), message: expect.any(String) } };
    expect(await call("GET", "/v1/nothing")).toMatchObject({ status: 404, json: shape });
    expect(await call("GET", "/v1/messages")).toMatchObject({ status: 405, json: { error: { code: "method_not_allowed", message: "use POST" } } });
    expect(await call("POST", "/v1/messages", { chat: "c", text: "x".repeat(5_000), sender: { id: "u" } })).toMatchObject({ status: 413, json: shape });
    expect(await call("POST", "/v1/messages", "<x/>", { "content-type": "application/xml" })).toMatchObject({ status: 415, json: shape });
    expect(await call("POST", "/v1/messages", { chat: "" })).toMatchObject({ status: 400, json: { error: { field: "chat" } } });
  }, 30_000);

  it("lists, reads and replays dead letters over HTTP", async () => {
    await using c = await client(nats.url);
    await c.js.publish("claw.in.t.a.dl", new TextEncoder().encode('{"text": 42}'), { msgID: "bad-http-dlq" });
    await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.msgId === "bad-http-dlq" || d.originalSubject.endsWith(".t.a.dl")));
    const list = await call("GET", "/v1/dlq?stage=ingress&limit=10");
    expect(list.status).toBe(200);
    conforms(answerSchema("/v1/dlq", "get", 200), list.json);
    const letter = list.json.dead_letters.find((d: { originalSubject: string }) => d.originalSubject.endsWith(".t.a.dl"));
    expect(letter).toMatchObject({ stage: "ingress", code: "invalid_envelope" });
    expect(Buffer.from(letter.data_base64, "base64").toString()).toBe('{"text": 42}');
    // one of them: the same letter, with every header the dead-letter stream holds for it
    const one = await call("GET", `/v1/dlq/${letter.seq}`);
    expect(one.status).toBe(200);
    conforms(answerSchema("/v1/dlq/{seq}", "get", 200), one.json);
    const { headers, ...fields } = one.json as { headers: Record<string, string> };
    expect(fields).toEqual(letter);
    expect(headers).toMatchObject({
      [H.dlq.code]: "invalid_envelope",
      [H.dlq.stage]: "ingress",
      [H.dlq.subject]: letter.originalSubject,
      [H.dlq.reason]: letter.reason,
      [H.dlq.field]: "sender",
      [H.dlq.deliveries]: String(letter.deliveries),
    });
    const replayed = await call("POST", `/v1/dlq/${letter.seq}/replay`, { to: "claw.in.t.a.replayed" });
    expect(replayed).toMatchObject({ status: 200, json: { subject: "claw.in.t.a.replayed", duplicate: false } });
    expect((await call("GET", `/v1/dlq/${letter.seq}`)).status).toBe(404);
    expect((await call("GET", "/v1/dlq/zero")).json.error.code).toBe("invalid_path");
  }, 30_000);
});
