/**
 * Media a skill made (a browser's screenshot, a chart): bytes kept in the
 * JetStream object store `claw_media`, each under a random id, served by the
 * gateway at `GET /v1/media/{id}`. A skill's output may carry a medium's
 * bytes inline (`media: [{type, mime, name, data: <base64>}]`); before the
 * result leaves the node that ran it, the bytes go to the store and the entry
 * gets a `url` instead — so neither the session's snapshot, nor the model's
 * context, nor the tool result mail carries them, and a reply takes the
 * medium to its channel by that URL.
 */
import { randomBytes } from "node:crypto";
import type { ObjectStore } from "@nats-io/obj";

/** A medium's id: 160 random bits, so its URL is the capability to read it. */
export const MEDIA_ID = /^md[a-z0-9]{32}$/;
/** The largest medium kept (decoded); a bigger one is dropped from the output, said so. */
export const MAX_MEDIA_BYTES = 16 * 1024 * 1024;
/** The most media of one output kept. */
const MAX_MEDIA = 32;

/** A kept medium, as the gateway serves it. */
export interface StoredMedium {
  mime: string;
  name?: string;
  size: number;
  data: Uint8Array;
}

/** The node's media. */
export interface MediaStore {
  /** keeps `data`, returns its id */
  keep(data: Uint8Array, o: { mime?: string; name?: string }): Promise<string>;
  /** a kept medium, or undefined (an unknown id, one past its age) */
  read(id: string): Promise<StoredMedium | undefined>;
}

const mediaId = () => `md${Array.from(randomBytes(32), (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("")}`;

/** Media in object store `os`. */
export function mediaStore(os: ObjectStore): MediaStore {
  return {
    async keep(data, o) {
      const id = mediaId();
      const metadata: Record<string, string> = { mime: o.mime ?? "application/octet-stream" };
      if (o.name) metadata.name = o.name;
      await os.putBlob({ name: id, metadata }, data);
      return id;
    },
    async read(id) {
      if (!MEDIA_ID.test(id)) return undefined;
      const info = await os.info(id);
      if (!info || info.deleted) return undefined;
      const data = await os.getBlob(id);
      if (!data) return undefined;
      return { mime: info.metadata?.mime ?? "application/octet-stream", name: info.metadata?.name, size: data.length, data };
    },
  };
}

/**
 * `output` with the bytes of its `media` entries (`data`, base64) kept in
 * `store` and replaced by `url: urlOf(id)`. An entry whose bytes cannot be
 * read or are too large is left out, and `mediaDropped` says why. Anything
 * else of the output is as it was; an output without such entries is
 * returned as it came.
 */
export async function externalizeMedia(output: unknown, store: MediaStore, urlOf: (id: string) => string): Promise<unknown> {
  const media = (output as { media?: unknown } | null)?.media;
  if (!Array.isArray(media) || !media.some((m) => m && typeof m === "object" && "data" in m)) return output;
  const kept: unknown[] = [];
  const dropped: string[] = [];
  for (const m of media.slice(0, MAX_MEDIA)) {
    if (!m || typeof m !== "object" || !("data" in m)) {
      kept.push(m);
      continue;
    }
    const { data, ...entry } = m as { data: unknown; mime?: unknown; name?: unknown };
    const name = typeof entry.name === "string" ? entry.name : undefined;
    if (typeof data !== "string" || !/^[A-Za-z0-9+/=_-]*$/.test(data)) {
      dropped.push(`${name ?? "a medium"}: its data is not base64`);
      continue;
    }
    const bytes = Buffer.from(data, "base64");
    if (bytes.length > MAX_MEDIA_BYTES) {
      dropped.push(`${name ?? "a medium"}: ${bytes.length} bytes, more than ${MAX_MEDIA_BYTES}`);
      continue;
    }
    const id = await store.keep(bytes, { mime: typeof entry.mime === "string" ? entry.mime : undefined, name });
    kept.push({ ...entry, size: bytes.length, url: urlOf(id) });
  }
  return { ...(output as object), media: kept, ...(dropped.length > 0 ? { mediaDropped: dropped } : {}) };
}
