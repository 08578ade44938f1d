/**
 * A skill's descriptor (`skills/<id>/skill.json`): what it is, what it takes
 * and gives (JSON Schemas), how it runs, what it may touch and how much it
 * may use. Validated at registration: an invalid descriptor is refused with a
 * message that names the field.
 */
import { Ajv, type ValidateFunction } from "ajv";
// one function of semver, not its index (which loads every module of the package)
import valid from "semver/functions/valid.js";
import { z, ZodError } from "zod";

/** How a skill's code runs. */
export const RUNTIMES = ["node", "process", "container", "builtin"] as const;
export type Runtime = (typeof RUNTIMES)[number];

const JsonSchema = z.record(z.string(), z.unknown());
const hostPattern = z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/, "a host name (optionally *.domain, optionally :port)");

/** The descriptor as stored. */
export const SkillDescriptorSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, "lowercase letters, digits, . _ - (starting with a letter or digit)"),
    version: z.string().refine((v) => valid(v) !== null, "a semver version such as 1.2.0"),
    description: z.string().min(1).max(2_000),
    input: JsonSchema.default({ type: "object" }),
    output: JsonSchema.optional(),
    /** `node`: a JS module run by Node in the sandbox; `process`: an executable in the sandbox; `container`: an image; `builtin`: Claw's own, in process */
    runtime: z.enum(RUNTIMES),
    /**
     * for `node` and `process`: the file (relative to the skill's folder) and its arguments; for `container`: the command run in the image, as is (default: the
     * image's own)
     */
    entrypoint: z.array(z.string().min(1)).min(1).optional(),
    /** for `container`: the image, on the node's container engine; its input is the JSON in `CLAW_INPUT`, its output the JSON it prints */
    image: z.string().min(1).optional(),
    permissions: z
      .object({
        /** `none`, or the hosts it may reach */
        network: z.union([z.literal("none"), z.object({ allow: z.array(hostPattern).min(1) })]).default("none"),
        filesystem: z
          .object({
            /** a fresh workspace per invocation, or one per calling session that persists */
            workspace: z.enum(["invocation", "session"]).default("invocation"),
            /** host paths it may read (absolute) */
            readOnly: z.array(z.string().regex(/^\/[^\0]*$/, "an absolute path")).default([]),
          })
          .default({ workspace: "invocation", readOnly: [] }),
        /** environment variables of the node it is given (their names) */
        env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default([]),
        /** secrets it is given, by name (from the node's environment `CLAW_SECRET_<NAME>`) */
        secrets: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default([]),
      })
      .default({ network: "none", filesystem: { workspace: "invocation", readOnly: [] }, env: [], secrets: [] }),
    limits: z
      .object({
        timeoutMs: z.number().int().min(10).max(3_600_000).default(30_000),
        memoryMb: z.number().int().min(16).max(65_536).default(256),
        /** CPU seconds */
        cpuSeconds: z.number().int().min(1).max(3_600).default(30),
        processes: z.number().int().min(1).max(4_096).default(64),
        /** bytes of stdout (and of stderr) kept; more stops the skill */
        outputBytes: z
          .number()
          .int()
          .min(1_024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
      })
      .default({ timeoutMs: 30_000, memoryMb: 256, cpuSeconds: 30, processes: 64, outputBytes: 1024 * 1024 }),
    /** retries of a run that failed for a reason worth retrying (the sandbox was unavailable) */
    retry: z
      .object({ attempts: z.number().int().min(1).max(10).default(1), backoffMs: z.number().int().min(0).max(60_000).default(500) })
      .default({ attempts: 1, backoffMs: 500 }),
    /** may it run again after its node died mid-run? (otherwise its caller gets `crashed`) */
    idempotent: z.boolean().default(false),
  })
  .strict()
  .superRefine((d, ctx) => {
    if ((d.runtime === "node" || d.runtime === "process") && !d.entrypoint)
      ctx.addIssue({ code: "custom", path: ["entrypoint"], message: `required for runtime ${d.runtime}` });
    if (d.runtime === "container" && !d.image) ctx.addIssue({ code: "custom", path: ["image"], message: "required for runtime container" });
    for (const f of d.entrypoint?.slice(0, 1) ?? []) {
      if (d.runtime === "node" && (f.startsWith("/") || f.split("/").includes("..")))
        ctx.addIssue({ code: "custom", path: ["entrypoint", 0], message: "a path inside the skill's folder" });
    }
  });

/** A validated descriptor. */
export type SkillDescriptor = z.infer<typeof SkillDescriptorSchema>;

/** A descriptor that cannot be registered; `field` names what is wrong. */
export class SkillDescriptorError extends Error {
  override readonly name = "SkillDescriptorError";
  readonly code = "invalid_skill";
  constructor(
    message: string,
    readonly field: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const ajv = new Ajv({ strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * The validator of one of a descriptor's schemas, compiled once per schema
 * object (a registered version's, checked at registration, is reused by every
 * invocation; a version registered again with other schemas gets new ones).
 */
export function schemaValidator(schema: Record<string, unknown>): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) compiled.set(schema, (v = ajv.compile(schema)));
  return v;
}

/**
 * Validates a descriptor: its shape, and that its `input` and `output` are
 * JSON Schemas — compiled (what an invocation will do with them: a `$ref` or
 * a `pattern` that cannot be compiled is refused here), or, with `compile:
 * false`, checked against the JSON Schema meta-schema only and compiled on
 * first use: for descriptors checked in full before (Claw's own, and entries
 * another node registered), so that a node's start does not compile every
 * skill's schemas.
 */
export function parseSkillDescriptor(value: unknown, o: { compile?: boolean } = {}): SkillDescriptor {
  let d: SkillDescriptor;
  try {
    d = SkillDescriptorSchema.parse(value);
  } catch (e) {
    if (e instanceof ZodError) {
      const i = e.issues[0]!;
      const field = i.path.join(".") || undefined;
      throw new SkillDescriptorError(`${field ?? "descriptor"}: ${i.message}`, field, { cause: e });
    }
    throw e;
  }
  for (const field of ["input", "output"] as const) {
    const schema = d[field];
    if (!schema) continue;
    if (o.compile === false) {
      if (!ajv.validateSchema(schema)) throw new SkillDescriptorError(`${field}: not a valid JSON Schema: ${ajv.errorsText(ajv.errors)}`, field);
      continue;
    }
    try {
      schemaValidator(schema);
    } catch (e) {
      throw new SkillDescriptorError(`${field}: not a valid JSON Schema: ${(e as Error).message}`, field, { cause: e });
    }
  }
  return d;
}

/** `id@version`. */
export const skillRef = (d: Pick<SkillDescriptor, "id" | "version">) => `${d.id}@${d.version}`;
