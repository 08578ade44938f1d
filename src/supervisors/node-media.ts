/**
 * A node's media (src/media): the object store `claw_media`, the links its
 * media get — `CLAW_PUBLIC_URL` when set, else the gateway's own address
 * once it listens — and the step that moves a skill output's inline bytes
 * into the store before the result leaves the node.
 */
import { Objm } from "@nats-io/obj";
import { OBJECT_STORES, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import { externalizeMedia, mediaStore, type MediaStore } from "../media/index.js";

/** The node's media. */
export interface NodeMedia {
  readonly store: MediaStore;
  /** the link of a kept medium */
  url(id: string): string;
  /** a skill output with its media bytes kept and linked */
  externalize(output: unknown): Promise<unknown>;
  /** the gateway listens on `port`: links name it (unless `CLAW_PUBLIC_URL` names the way in) */
  listening(port: number): void;
}

/** The gateway's own address as a link's origin: a wildcard bind is reached on loopback. */
function ownOrigin(host: string, port: number): string {
  const h = host === "0.0.0.0" || host === "" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** Opens the node's media store (provisioned with the streams). */
export async function openNodeMedia(bus: Bus, config: Pick<ClawConfig, "publicUrl" | "httpHost" | "httpPort">): Promise<NodeMedia> {
  const store = mediaStore(await new Objm(bus.js).open(OBJECT_STORES.media));
  let origin = config.publicUrl ?? ownOrigin(config.httpHost, config.httpPort);
  const url = (id: string) => `${origin}/v1/media/${id}`;
  return {
    store,
    url,
    externalize: (output) => externalizeMedia(output, store, url),
    listening(port) {
      if (!config.publicUrl) origin = ownOrigin(config.httpHost, port);
    },
  };
}
