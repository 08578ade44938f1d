/**
 * `/openapi.json`: the OpenAPI 3.1 document of the gateway, generated from the
 * route table and the zod schemas the handlers validate with (JSON Schema
 * 2020-12, as OpenAPI 3.1 uses), so the two cannot drift apart.
 */
import { z } from "zod";
import { CLAW_VERSION } from "../version.js";
import { ROUTES, type RouteRule } from "./api-routes.js";
import { ErrorSchema } from "./schemas.js";

type Json = Record<string, unknown>;

/** `getV1AgentsById` from `GET /v1/agents/{id}`: the method, then the path in camel case with each parameter as `By_<name>`. */
function operationIdOf(r: RouteRule): string {
  const path = r.path.replace(/\{(\w+)\*?\}/g, "By_$1").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""));
  return `${r.method.toLowerCase()}${path}`;
}

/** A schema as JSON Schema (what a client sends: defaults are optional, transforms as their input). */
function jsonSchema(schema: z.ZodType): Json {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as Json;
  return rest;
}

/** `/v1/agents/{id}` as OpenAPI writes it (`{rest*}` is one parameter holding the rest). */
const openApiPath = (p: string) => p.replace("{rest*}", "{rest}");

function parameters(r: RouteRule): Json[] {
  const path = [...r.path.matchAll(/\{(\w+)\*?\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
  if (!r.query) return path;
  const q = jsonSchema(r.query) as { properties?: Record<string, Json>; required?: string[] };
  const query = Object.entries(q.properties ?? {}).map(([name, schema]) => ({
    name,
    in: "query",
    required: (q.required ?? []).includes(name) && !("default" in schema),
    schema,
  }));
  return [...path, ...query];
}

function operation(r: RouteRule): Json {
  const example = Object.fromEntries([...r.path.matchAll(/\{(\w+)\*?\}/g)].map((m) => [m[1]!, `<${m[1]}>`]));
  const scopes = r.scopes?.(example) ?? [];
  const errors: Record<string, Json> = r.public
    ? {}
    : {
        401: {
          description: "no credential, or not one (WWW-Authenticate says which)",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        403: {
          description: `the credential lacks the scope (${scopes.join(" or ")})`,
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        429: {
          description: "over a rate limit; Retry-After says when to try again",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      };
  const responses: Record<string, Json> = {};
  for (const [status, a] of Object.entries(r.responses)) {
    responses[status] = {
      description: a.description,
      ...(a.schema ? { content: { "application/json": { schema: jsonSchema(a.schema) } } } : a.contentType ? { content: { [a.contentType]: {} } } : {}),
    };
  }
  const params = parameters(r);
  if (r.body || r.query)
    responses["400"] ??= {
      description: "invalid body or query: the field is named",
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  return {
    operationId: operationIdOf(r),
    summary: r.summary,
    tags: [r.tag],
    ...(params.length ? { parameters: params } : {}),
    ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(r.body) } } } } : {}),
    responses: { ...responses, ...errors },
    security: r.public ? [] : [{ bearer: [] }, { cookie: [] }],
    ...(scopes.length ? { "x-claw-scopes": scopes } : {}),
    ...(r.audit ? { "x-claw-audited": true } : {}),
  };
}

/** The document. */
export function openApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of ROUTES) (paths[openApiPath(r.path)] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: "3.1.0",
    info: {
      title: "Claw gateway",
      version: CLAW_VERSION,
      description:
        "The HTTP gateway of a Claw node; every node answers every route. Off loopback every route but health and the platforms' webhooks needs a " +
        "credential (an API key from `claw keys create`, or a JWT from the configured issuer) with the scope the route names in x-claw-scopes. Lists " +
        "take ?limit&cursor and answer next_cursor.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorSchema) },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "an API key (claw_…) or a JWT" },
        cookie: { type: "apiKey", in: "cookie", name: "claw_token", description: "the same, set by opening a page with ?access_token= (GET requests only)" },
      },
    },
  };
}
