/**
 * Credentials: API keys in KV `claw_auth`, JWTs from an OIDC issuer, and the
 * scopes they carry.
 */
export {
  apiKeyStore,
  keyPrincipal,
  parseApiKey,
  watchApiKeys,
  type ApiKeyRecord,
  type ApiKeyStore,
  type ApiKeyVerifier,
  type CreatedKey,
  type KeyRejection,
  type Principal,
} from "./api-keys.js";
export { createHashBudget, defaultHashBudgetOptions, type HashBudget, type HashBudgetOptions, type HashRefusal } from "./hash-budget.js";
export { jwtVerifier, type JwtOptions, type JwtVerifier } from "./jwt.js";
export { covers, parseScopes, ScopeError, SCOPES, type ScopeName } from "./scopes.js";
export { bucketKey, kvRateLimiter, RateLimitsSchema, RateSchema, type Rate, type RateLimiter, type RateLimits, type Taken } from "./rate-limits.js";
