/**
 * Language models behind the session actor: the built-in scripted model, and
 * OpenAI-compatible providers chained for failover with circuit breakers.
 */
export type { Model, ModelRequest, ModelResponse, ToolCall, ToolSpec, Turn, TurnStep, Usage } from "./types.js";
export { ModelError, ProviderRejectedError, ProviderUnavailableError } from "./errors.js";
export { createCircuitBreaker, type CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from "./circuit-breaker.js";
export { createOpenAIProvider, toFunctionName, fromFunctionName, type OpenAIProviderConfig, type Provider } from "./openai-provider.js";
export { createFailoverModel, type FailoverOptions, type GuardedProvider, type ProviderCallEvent } from "./failover-model.js";
export { createScriptedModel, scriptedReply, SCRIPTED_COMMANDS } from "./scripted-model.js";
export { createModelRegistry, SCRIPTED, type ModelRegistry } from "./model-registry.js";
export { createProviderModels, type ProviderModels, type ProviderSettings } from "./provider-models.js";
export {
  PROVIDER_NAME,
  ProviderConfigSchema,
  TenantProviderSchema,
  TenantProvidersSchema,
  type ProviderConfig,
  type TenantProvider,
} from "./provider-config.js";
export { tenantModels, type TenantModelsOptions } from "./tenant-models.js";
