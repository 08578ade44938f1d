/**
 * Embeddings for memory ranking, from any OpenAI-compatible provider's
 * `POST <baseURL>/embeddings` (the provider an agent's `memory.embeddings`
 * names, with the key it is configured with). A provider that fails leaves
 * the search to full text — memory never fails a turn for want of a vector.
 */
import type OpenAI from "openai";

/** The `openai` package, loaded on the first embedding (a node whose agents embed nothing never loads it). */
let sdk: Promise<typeof OpenAI> | undefined;
const loadOpenAI = (): Promise<typeof OpenAI> => (sdk ??= import("openai").then((m) => m.default));

/** What a provider is configured with (`providers.<name>`, its key resolved). */
export interface EmbeddingsProvider {
  baseURL: string;
  apiKey?: string;
  timeoutMs: number;
  maxRetries: number;
}

/** Embeds a text with a named provider and model; undefined when it cannot. */
export type Embed = (provider: string, model: string, text: string, signal?: AbortSignal) => Promise<Float32Array | undefined>;

/** An {@link Embed} over the configured providers; `onError` hears why a vector is missing. */
export function providerEmbeddings(providers: Readonly<Record<string, EmbeddingsProvider>>, onError?: (provider: string, e: unknown) => void): Embed {
  const clients = new Map<string, OpenAI>();
  return async (provider, model, text, signal) => {
    const p = providers[provider];
    if (!p) {
      onError?.(provider, new Error(`no provider named ${provider} is configured on this node`));
      return undefined;
    }
    let client = clients.get(provider);
    if (!client) {
      const OpenAI = await loadOpenAI();
      // (another call may have made it while this one waited for the package)
      client = clients.get(provider) ?? new OpenAI({ baseURL: p.baseURL, apiKey: p.apiKey ?? "none", timeout: p.timeoutMs, maxRetries: p.maxRetries });
      clients.set(provider, client);
    }
    try {
      const r = await client.embeddings.create({ model, input: text.slice(0, 8000), encoding_format: "float" }, { signal });
      const v = r.data[0]?.embedding;
      return Array.isArray(v) && v.length > 0 ? Float32Array.from(v) : undefined;
    } catch (e) {
      onError?.(provider, e);
      return undefined;
    }
  };
}
