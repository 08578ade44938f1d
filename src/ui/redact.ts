/**
 * Redaction of values that look secret before the live view shows persisted
 * state: a key naming a token, secret, password, API key, authorization,
 * cookie, credential or private key has its value replaced, at any depth.
 */

/** What a redacted value is replaced with. */
export const REDACTED = "[redacted]";

const SECRET_KEY = /token|secret|passw(or)?d|passphrase|api[-_]?key|auth(orization)?$|bearer|cookie|credential|private[-_]?key|signature/i;

/** True when a key's value should not be shown. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/**
 * A copy of `value` with secret-looking keys redacted. Numbers and booleans
 * stay (`maxTokens: 512` is a setting, not a secret).
 */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const keep = v === null || v === undefined || typeof v === "number" || typeof v === "boolean";
    out[k] = isSecretKey(k) && !keep ? REDACTED : redactSecrets(v);
  }
  return out;
}
