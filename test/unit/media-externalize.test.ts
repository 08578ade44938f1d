/**
 * A skill output's inline media bytes leave the node as links
 * (src/media/media-store.ts): kept once, the entry's `data` replaced by a
 * `url`; what cannot be kept is left out and said so; an output without
 * inline bytes is passed on as it came.
 */
import { describe, expect, it } from "vitest";
import { externalizeMedia, MAX_MEDIA_BYTES, type MediaStore } from "../../src/media/index.js";

function memoryStore(): MediaStore & { kept: Array<{ data: Uint8Array; mime?: string; name?: string }> } {
  const kept: Array<{ data: Uint8Array; mime?: string; name?: string }> = [];
  return {
    kept,
    async keep(data, o) {
      kept.push({ data, ...o });
      return `md${String(kept.length).padStart(32, "0")}`;
    },
    async read() {
      return undefined;
    },
  };
}
const url = (id: string) => `https://claw.example.org/v1/media/${id}`;

describe("externalizeMedia", () => {
  it("keeps inline bytes and links them, leaving linked entries and the rest of the output alone", async () => {
    const store = memoryStore();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const output = {
      title: "t",
      media: [
        { type: "image", mime: "image/png", name: "shot.png", data: png.toString("base64") },
        { type: "file", url: "https://example.org/a.pdf" },
      ],
    };
    const out = (await externalizeMedia(output, store, url)) as { title: string; media: Array<Record<string, unknown>> };
    expect(out.title).toBe("t");
    expect(out.media).toEqual([
      { type: "image", mime: "image/png", name: "shot.png", size: 7, url: `https://claw.example.org/v1/media/md${"1".padStart(32, "0")}` },
      { type: "file", url: "https://example.org/a.pdf" },
    ]);
    expect(store.kept).toHaveLength(1);
    expect(Buffer.from(store.kept[0]!.data)).toEqual(png);
    expect(store.kept[0]).toMatchObject({ mime: "image/png", name: "shot.png" });
  });

  it("leaves out bytes that are no base64 or too many, and says so", async () => {
    const store = memoryStore();
    const big = Buffer.alloc(MAX_MEDIA_BYTES + 1).toString("base64");
    const out = (await externalizeMedia(
      {
        media: [
          { type: "image", name: "a", data: "not base64!" },
          { type: "image", name: "b", data: big },
          { type: "image", data: 42 },
        ],
      },
      store,
      url,
    )) as { media: unknown[]; mediaDropped: string[] };
    expect(out.media).toEqual([]);
    expect(out.mediaDropped).toEqual([
      "a: its data is not base64",
      `b: ${MAX_MEDIA_BYTES + 1} bytes, more than ${MAX_MEDIA_BYTES}`,
      "a medium: its data is not base64",
    ]);
    expect(store.kept).toEqual([]);
  });

  it("passes an output without inline bytes on as it came", async () => {
    const store = memoryStore();
    for (const output of [null, 42, "text", { media: "x" }, { media: [{ type: "image", url: "https://x/y.png" }] }, { text: "no media" }])
      expect(await externalizeMedia(output, store, url)).toBe(output);
    expect(store.kept).toEqual([]);
  });
});
