/**
 * Bearer JWTs from an OIDC issuer, checked with `jose` against the issuer's
 * JWKS (fetched, cached, and fetched again when a token names a key not seen
 * yet): signature, `iss`, `aud`, `exp`/`nbf` with a clock skew allowance.
 * Only asymmetric algorithms are taken (`alg: none` and HMAC are refused).
 * Scopes come from a configurable claim: a space-separated string (OAuth's
 * `scope`) or an array (`scp`, `roles`, …); the caller's tenant from another
 * (`tenant` by default: a token without it is the operator's).
 */
import type { Principal } from "./api-keys.js";
import { TENANT_ID } from "../tenants/index.js";

/** `CLAW_JWT_*`. */
export interface JwtOptions {
  issuer: string;
  audience: string;
  /** the JWKS; absent: the issuer's `/.well-known/openid-configuration` names it */
  jwksUrl?: string;
  /** the claim holding the scopes (default `scope`) */
  scopesClaim: string;
  /** the claim naming the caller's tenant (default `tenant`); a token without it is the operator's */
  tenantClaim?: string;
  clockSkewS: number;
}

const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** A JWT's principal, or why not. */
export type JwtVerifier = (token: string) => Promise<Principal | { error: string }>;

/** Finds the JWKS of an issuer through its discovery document. */
async function discoverJwks(issuer: string): Promise<string> {
  const res = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`the issuer's discovery document answered ${res.status}`);
  const doc = (await res.json()) as { jwks_uri?: unknown };
  if (typeof doc.jwks_uri !== "string") throw new Error("the issuer's discovery document has no jwks_uri");
  return doc.jwks_uri;
}

/** Creates the verifier; the JWKS is fetched on first use. */
export function jwtVerifier(o: JwtOptions): JwtVerifier {
  let keys: Promise<(typeof import("jose"))["createRemoteJWKSet"] extends (...a: never[]) => infer R ? R : never> | undefined;
  const keySet = () => {
    keys ??= (async () => {
      const { createRemoteJWKSet } = await import("jose");
      const url = o.jwksUrl ?? (await discoverJwks(o.issuer));
      return createRemoteJWKSet(new URL(url), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    })();
    keys.catch(() => (keys = undefined));
    return keys;
  };
  return async (token) => {
    const { jwtVerify, errors } = await import("jose");
    try {
      const { payload } = await jwtVerify(token, await keySet(), {
        issuer: o.issuer,
        audience: o.audience,
        clockTolerance: o.clockSkewS,
        algorithms: ALGORITHMS,
        requiredClaims: ["exp"],
      });
      const claim = payload[o.scopesClaim];
      const scopes =
        typeof claim === "string" ? claim.split(/\s+/).filter(Boolean) : Array.isArray(claim) ? claim.filter((s): s is string => typeof s === "string") : [];
      const tenant = payload[o.tenantClaim ?? "tenant"];
      if (tenant !== undefined && (typeof tenant !== "string" || !TENANT_ID.test(tenant)))
        return { error: `the token's ${o.tenantClaim ?? "tenant"} claim is not a tenant id` };
      return { id: `jwt:${payload.sub ?? "unknown"}`, scopes, ...(tenant ? { tenant } : {}) };
    } catch (e) {
      if (e instanceof errors.JWTExpired) return { error: "the token has expired" };
      if (e instanceof errors.JWTClaimValidationFailed) return { error: `the token's ${e.claim} claim is not accepted` };
      if (e instanceof errors.JOSEAlgNotAllowed) return { error: "the token's algorithm is not accepted" };
      if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey)
        return { error: "the token's signature does not verify" };
      if (e instanceof errors.JOSEError) return { error: `the token is not accepted (${e.code})` };
      return { error: `the token could not be checked: ${(e as Error).message}` };
    }
  };
}
