/**
 * Language models behind the session actor. Today: the built-in scripted model;
 * OpenAI-compatible providers attach here.
 */
export type { Model, ModelRequest, ModelResponse, ToolCall, ToolSpec, Turn, TurnStep, Usage } from "./types.js";
export { ModelError } from "./errors.js";
export { createScriptedModel, scriptedReply, SCRIPTED_COMMANDS } from "./scripted-model.js";
export { createModelRegistry, SCRIPTED, type ModelRegistry } from "./model-registry.js";
