/**
 * An XState state value as one string, the way actor events and listings
 * name an actor's state.
 */

/**
 * Flattens an XState state value into dotted paths of its active leaves,
 * parallel regions joined by `|`: `{ b: { r1: "x", r2: "p" } }` → `b.r1.x|b.r2.p`.
 */
export function stateName(value: unknown): string {
  return leafPaths(value).join("|");
}

function leafPaths(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (!value || typeof value !== "object") return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const inner = leafPaths(v);
    return inner.length ? inner.map((p) => `${k}.${p}`) : [k];
  });
}
