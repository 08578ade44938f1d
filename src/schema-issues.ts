/**
 * A schema's complaint in words a person can act on: the field it concerns
 * (`agents.0.approvee`, never an empty path) and, for a field the schema does
 * not know, the known one it was probably meant to be ("did you mean
 * approve?"). Used wherever configuration or an API body is validated with
 * a strict zod schema.
 */
import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";

/** A field named in a complaint, and what is wrong with it. */
export interface DescribedIssue {
  /** dotted path (`agents.0.bindings.1.chanel`); undefined for the value as a whole */
  field: string | undefined;
  message: string;
}

/**
 * The schema a wrapper stands for: an optional, default, nullable, catch or
 * readonly schema's inner one (`innerType`), a pipe's input (`in`);
 * undefined when `s` wraps nothing.
 */
function wrapped(s: z.core.$ZodType): z.core.$ZodType | undefined {
  const def = s._zod.def;
  if ("innerType" in def && def.innerType instanceof z.core.$ZodType) return def.innerType;
  if ("in" in def && def.in instanceof z.core.$ZodType) return def.in;
  return undefined;
}

/** The keys an object schema knows at `path` of `schema` (through arrays, records, defaults and optionals). */
function knownKeys(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let s: z.core.$ZodType | undefined = schema;
  const rest = [...path];
  for (let guard = 0; s && guard < 64; guard++) {
    const inner = wrapped(s);
    if (inner) s = inner;
    else if (rest.length === 0) return s instanceof z.core.$ZodObject ? Object.keys(s._zod.def.shape) : [];
    else if (s instanceof z.core.$ZodObject) s = s._zod.def.shape[String(rest.shift())];
    else if (s instanceof z.core.$ZodArray) ((s = s._zod.def.element), rest.shift());
    else if (s instanceof z.core.$ZodRecord) ((s = s._zod.def.valueType), rest.shift());
    else return [];
  }
  return [];
}

/** The known key a mistyped one was probably meant to be (a couple of letters off), if any. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(key, known as string[]);
  return distance(key, best) <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Describes a zod issue of `schema`, naming the field (an unknown one with a suggestion). */
export function describeIssue(issue: z.core.$ZodIssue, schema: z.ZodType): DescribedIssue {
  const at = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0]!;
    const hint = didYouMean(key, knownKeys(schema, issue.path));
    const more =
      issue.keys.length > 1
        ? ` (and ${issue.keys
            .slice(1)
            .map((k) => JSON.stringify(k))
            .join(", ")})`
        : "";
    return { field: [...at, key].join("."), message: `unknown field${more}${hint ? `: did you mean ${hint}?` : ""}` };
  }
  return { field: at.length > 0 ? at.join(".") : undefined, message: issue.message };
}

/**
 * Describes a failed parse by its most telling issue: a field the schema does
 * not know before anything else (`"agent": […]` is better answered "did you
 * mean agents?" than "agents: required").
 */
export function describeError(error: z.ZodError, schema: z.ZodType): DescribedIssue {
  const issue = error.issues.find((i) => i.code === "unrecognized_keys") ?? error.issues[0]!;
  return describeIssue(issue, schema);
}

/** `field: message` (or the message alone for the value as a whole). */
export function issueText(d: DescribedIssue): string {
  return d.field ? `${d.field}: ${d.message}` : d.message;
}
